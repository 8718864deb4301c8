//! The milter wire format (Sendmail's mail filter protocol, version 6, as Postfix and Sendmail
//! speak it): packets, the commands the MTA sends and the replies the filter sends back.
//!
//! A packet is a 32-bit big-endian length (of what follows), a one-byte code and `length - 1`
//! bytes of data. Strings in the data are NUL-terminated. Decoding never panics and never
//! allocates more than [`MAX_PACKET`] for one packet, whatever the peer sends: a bad packet is
//! an error, and the session treats any error as "stop filtering this connection" (the MTA then
//! applies its `milter_default_action`).
//!
//! Both directions are here (commands decode and encode, replies encode and decode), so the
//! tests and `bench_milter` drive the filter exactly as an MTA does.

use std::io::{self, Read};

/// The protocol version spoken (Sendmail 8.14+, Postfix 2.6+).
pub const VERSION: u32 = 6;

/// The largest packet accepted. Body chunks are at most 64 KiB (libmilter's
/// `MILTER_CHUNK_SIZE`, also what Postfix sends); macros and headers are smaller still.
pub const MAX_PACKET: u32 = 1 << 20;

/// Actions the filter may ask for (`SMFIF_*`), as offered by the MTA in option negotiation.
pub mod action {
    /// Add headers (`SMFIR_ADDHEADER`, `SMFIR_INSHEADER`).
    pub const ADD_HEADERS: u32 = 0x01;
    /// Change or delete headers (`SMFIR_CHGHEADER`).
    pub const CHANGE_HEADERS: u32 = 0x10;
    /// Quarantine the message (`SMFIR_QUARANTINE`).
    pub const QUARANTINE: u32 = 0x20;
}

/// Protocol flags (`SMFIP_*`): steps the filter does not need, replies it will not send.
pub mod protocol {
    /// The MTA should not send unknown SMTP commands.
    pub const NO_UNKNOWN: u32 = 0x100;
    /// No reply to each header (`SMFIP_NR_HDR`).
    pub const NR_HEADER: u32 = 0x80;
    /// No reply to CONNECT.
    pub const NR_CONNECT: u32 = 0x1000;
    /// No reply to HELO.
    pub const NR_HELO: u32 = 0x2000;
    /// No reply to MAIL.
    pub const NR_MAIL: u32 = 0x4000;
    /// No reply to RCPT.
    pub const NR_RCPT: u32 = 0x8000;
    /// No reply to DATA.
    pub const NR_DATA: u32 = 0x1_0000;
    /// No reply to end of headers.
    pub const NR_EOH: u32 = 0x4_0000;
    /// No reply to each body chunk.
    pub const NR_BODY: u32 = 0x8_0000;
    /// Header values keep their leading space (so the message can be rebuilt byte for byte).
    pub const HEADER_LEADING_SPACE: u32 = 0x10_0000;
}

/// A command from the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `O`: option negotiation (first packet of every connection).
    OptNeg {
        /// Protocol version the MTA speaks.
        version: u32,
        /// Actions the MTA allows (`SMFIF_*`).
        actions: u32,
        /// Protocol steps the MTA can skip (`SMFIP_*`).
        protocol: u32,
    },
    /// `D`: macros for the command that follows (`stage` is that command's code).
    Macro {
        /// The command these macros belong to.
        stage: u8,
        /// Name and value pairs, e.g. `{auth_authen}` → `alice`.
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// `C`: the SMTP client connected.
    Connect {
        /// Its host name as the MTA resolved it (`[1.2.3.4]` when unresolved).
        hostname: Vec<u8>,
        /// `4`, `6`, `L` (Unix socket) or `U` (unknown).
        family: u8,
        /// Its port (0 when the family has none).
        port: u16,
        /// Its address, as text.
        address: Vec<u8>,
    },
    /// `H`: HELO/EHLO argument.
    Helo(Vec<u8>),
    /// `M`: MAIL FROM, the sender then ESMTP arguments.
    Mail(Vec<Vec<u8>>),
    /// `R`: RCPT TO, the recipient then ESMTP arguments.
    Rcpt(Vec<Vec<u8>>),
    /// `T`: DATA.
    Data,
    /// `L`: one header field.
    Header {
        /// Field name.
        name: Vec<u8>,
        /// Field value (folded lines joined by the MTA's line ending).
        value: Vec<u8>,
    },
    /// `N`: end of headers.
    EndOfHeaders,
    /// `B`: a chunk of the body.
    Body(Vec<u8>),
    /// `E`: end of body (may carry a last chunk); the filter's final answer is due.
    EndOfBody(Vec<u8>),
    /// `A`: the current message is abandoned; the connection goes on.
    Abort,
    /// `Q`: the connection is closing.
    Quit,
    /// `K`: the connection is to be reused for a new SMTP session.
    QuitNewConnection,
    /// `U`: an SMTP command the MTA did not recognise.
    Unknown(Vec<u8>),
}

/// A reply to the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))] // accept, reject, tempfail: decoded by the MTA's side
pub enum Reply {
    /// `O`: the filter's side of option negotiation.
    OptNeg {
        /// Protocol version.
        version: u32,
        /// Actions the filter will use.
        actions: u32,
        /// Protocol steps to skip / replies not sent.
        protocol: u32,
    },
    /// `c`: go on.
    Continue,
    /// `a`: accept the message, send nothing more about it.
    Accept,
    /// `r`: reject with the MTA's default 5xx.
    Reject,
    /// `t`: temporary failure with the MTA's default 4xx.
    Tempfail,
    /// `y`: reject or tempfail with this SMTP reply (`550 5.7.1 text`).
    Smtp(String),
    /// `h`: append a header field.
    AddHeader {
        /// Field name.
        name: String,
        /// Field value (a leading space included when negotiated).
        value: String,
    },
    /// `m`: change the `index`-th (from 1) field of that name; an empty value deletes it.
    ChangeHeader {
        /// Which occurrence of the name, from 1.
        index: u32,
        /// Field name.
        name: String,
        /// New value; empty deletes the field.
        value: String,
    },
    /// `q`: put the message on hold with this reason.
    Quarantine(String),
}

/// Why a packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError(what.into())
}

/// Reads one packet: `Ok(None)` on a clean end of stream before a packet starts.
pub fn read_packet(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(len);
    if len == 0 || len > MAX_PACKET {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("milter packet of {len} bytes (allowed: 1 to {MAX_PACKET})"),
        ));
    }
    let mut buf = Vec::new();
    r.take(u64::from(len)).read_to_end(&mut buf)?;
    if buf.len() != len as usize {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let code = buf.remove(0);
    Ok(Some((code, buf)))
}

/// Appends one framed packet to `out`.
pub fn frame(out: &mut Vec<u8>, code: u8, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32 + 1).to_be_bytes());
    out.push(code);
    out.extend_from_slice(data);
}

/// Splits NUL-terminated strings; a last string without its NUL is kept (lenient, as MTAs
/// differ). Empty data gives no strings.
fn strings(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = data.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
    if data.last() == Some(&0) || data.is_empty() {
        out.pop();
    }
    out
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, DecodeError> {
    data.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| bad("packet too short for a 32-bit field"))
}

impl Command {
    /// Decodes a command from its code and data.
    pub fn decode(code: u8, data: &[u8]) -> Result<Command, DecodeError> {
        Ok(match code {
            b'O' => Command::OptNeg {
                version: u32_at(data, 0)?,
                actions: u32_at(data, 4)?,
                protocol: u32_at(data, 8)?,
            },
            b'D' => {
                let (&stage, rest) = data
                    .split_first()
                    .ok_or_else(|| bad("macro packet without its command code"))?;
                let mut parts = strings(rest).into_iter();
                let mut pairs = Vec::new();
                while let Some(name) = parts.next() {
                    pairs.push((name, parts.next().unwrap_or_default()));
                }
                Command::Macro { stage, pairs }
            }
            b'C' => {
                let nul = data
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or_else(|| bad("connect packet without a host name"))?;
                let hostname = data[..nul].to_vec();
                let rest = &data[nul + 1..];
                let (&family, rest) = rest
                    .split_first()
                    .ok_or_else(|| bad("connect packet without an address family"))?;
                let (port, address) = if family == b'U' || rest.len() < 2 {
                    (0, Vec::new())
                } else {
                    let port = u16::from_be_bytes([rest[0], rest[1]]);
                    (
                        port,
                        strings(&rest[2..]).into_iter().next().unwrap_or_default(),
                    )
                };
                Command::Connect {
                    hostname,
                    family,
                    port,
                    address,
                }
            }
            b'H' => Command::Helo(strings(data).into_iter().next().unwrap_or_default()),
            b'M' => Command::Mail(strings(data)),
            b'R' => Command::Rcpt(strings(data)),
            b'T' => Command::Data,
            b'L' => {
                let mut s = strings(data).into_iter();
                let name = s
                    .next()
                    .ok_or_else(|| bad("header packet without a name"))?;
                Command::Header {
                    name,
                    value: s.next().unwrap_or_default(),
                }
            }
            b'N' => Command::EndOfHeaders,
            b'B' => Command::Body(data.to_vec()),
            b'E' => Command::EndOfBody(data.to_vec()),
            b'A' => Command::Abort,
            b'Q' => Command::Quit,
            b'K' => Command::QuitNewConnection,
            b'U' => Command::Unknown(strings(data).into_iter().next().unwrap_or_default()),
            other => return Err(bad(format!("unknown milter command 0x{other:02x}"))),
        })
    }

    /// Encodes the command as one packet (what an MTA sends).
    #[cfg_attr(not(test), allow(dead_code))] // the MTA's side, for tests and bench_milter
    pub fn encode(&self) -> Vec<u8> {
        let mut d = Vec::new();
        let nul = |d: &mut Vec<u8>, s: &[u8]| {
            d.extend_from_slice(s);
            d.push(0);
        };
        let code = match self {
            Command::OptNeg {
                version,
                actions,
                protocol,
            } => {
                for v in [version, actions, protocol] {
                    d.extend_from_slice(&v.to_be_bytes());
                }
                b'O'
            }
            Command::Macro { stage, pairs } => {
                d.push(*stage);
                for (n, v) in pairs {
                    nul(&mut d, n);
                    nul(&mut d, v);
                }
                b'D'
            }
            Command::Connect {
                hostname,
                family,
                port,
                address,
            } => {
                nul(&mut d, hostname);
                d.push(*family);
                if *family != b'U' {
                    d.extend_from_slice(&port.to_be_bytes());
                    nul(&mut d, address);
                }
                b'C'
            }
            Command::Helo(h) => {
                nul(&mut d, h);
                b'H'
            }
            Command::Mail(args) | Command::Rcpt(args) => {
                for a in args {
                    nul(&mut d, a);
                }
                if matches!(self, Command::Mail(_)) {
                    b'M'
                } else {
                    b'R'
                }
            }
            Command::Data => b'T',
            Command::Header { name, value } => {
                nul(&mut d, name);
                nul(&mut d, value);
                b'L'
            }
            Command::EndOfHeaders => b'N',
            Command::Body(b) => {
                d.extend_from_slice(b);
                b'B'
            }
            Command::EndOfBody(b) => {
                d.extend_from_slice(b);
                b'E'
            }
            Command::Abort => b'A',
            Command::Quit => b'Q',
            Command::QuitNewConnection => b'K',
            Command::Unknown(c) => {
                nul(&mut d, c);
                b'U'
            }
        };
        let mut out = Vec::with_capacity(d.len() + 5);
        frame(&mut out, code, &d);
        out
    }
}

/// Text for the wire: NUL would end the string early, so it is dropped.
fn text(d: &mut Vec<u8>, s: &str) {
    d.extend(s.bytes().filter(|&b| b != 0));
    d.push(0);
}

impl Reply {
    /// Encodes the reply as one packet.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = Vec::new();
        let code = match self {
            Reply::OptNeg {
                version,
                actions,
                protocol,
            } => {
                for v in [version, actions, protocol] {
                    d.extend_from_slice(&v.to_be_bytes());
                }
                b'O'
            }
            Reply::Continue => b'c',
            Reply::Accept => b'a',
            Reply::Reject => b'r',
            Reply::Tempfail => b't',
            Reply::Smtp(t) => {
                text(&mut d, t);
                b'y'
            }
            Reply::AddHeader { name, value } => {
                text(&mut d, name);
                text(&mut d, value);
                b'h'
            }
            Reply::ChangeHeader { index, name, value } => {
                d.extend_from_slice(&index.to_be_bytes());
                text(&mut d, name);
                text(&mut d, value);
                b'm'
            }
            Reply::Quarantine(reason) => {
                text(&mut d, reason);
                b'q'
            }
        };
        let mut out = Vec::with_capacity(d.len() + 5);
        frame(&mut out, code, &d);
        out
    }

    /// Decodes a reply (what an MTA reads).
    #[cfg_attr(not(test), allow(dead_code))] // the MTA's side, for tests and bench_milter
    pub fn decode(code: u8, data: &[u8]) -> Result<Reply, DecodeError> {
        let s = |v: Option<Vec<u8>>| String::from_utf8_lossy(&v.unwrap_or_default()).into_owned();
        Ok(match code {
            b'O' => Reply::OptNeg {
                version: u32_at(data, 0)?,
                actions: u32_at(data, 4)?,
                protocol: u32_at(data, 8)?,
            },
            b'c' => Reply::Continue,
            b'a' => Reply::Accept,
            b'r' => Reply::Reject,
            b't' => Reply::Tempfail,
            b'y' => Reply::Smtp(s(strings(data).into_iter().next())),
            b'h' => {
                let mut p = strings(data).into_iter();
                Reply::AddHeader {
                    name: s(p.next()),
                    value: s(p.next()),
                }
            }
            b'm' => {
                let index = u32_at(data, 0)?;
                let mut p = strings(&data[4..]).into_iter();
                Reply::ChangeHeader {
                    index,
                    name: s(p.next()),
                    value: s(p.next()),
                }
            }
            b'q' => Reply::Quarantine(s(strings(data).into_iter().next())),
            other => return Err(bad(format!("unknown milter reply 0x{other:02x}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: Command) {
        let bytes = c.encode();
        let (code, data) = read_packet(&mut bytes.as_slice())
            .expect("read")
            .expect("packet");
        assert_eq!(Command::decode(code, &data).expect("decode"), c);
    }

    #[test]
    fn commands_round_trip() {
        for c in [
            Command::OptNeg {
                version: 6,
                actions: 0x1ff,
                protocol: 0x1f_ffff,
            },
            Command::Macro {
                stage: b'M',
                pairs: vec![
                    (b"{auth_authen}".to_vec(), b"alice".to_vec()),
                    (b"i".to_vec(), b"4XyZ".to_vec()),
                ],
            },
            Command::Connect {
                hostname: b"mx.example.org".to_vec(),
                family: b'4',
                port: 25025,
                address: b"192.0.2.7".to_vec(),
            },
            Command::Connect {
                hostname: b"localhost".to_vec(),
                family: b'U',
                port: 0,
                address: Vec::new(),
            },
            Command::Helo(b"mx.example.org".to_vec()),
            Command::Mail(vec![b"<a@example.org>".to_vec(), b"SIZE=10".to_vec()]),
            Command::Rcpt(vec![b"<b@example.net>".to_vec()]),
            Command::Data,
            Command::Header {
                name: b"Subject".to_vec(),
                value: b" hi\n\tthere".to_vec(),
            },
            Command::EndOfHeaders,
            Command::Body(b"line\r\n\x00\xff".to_vec()),
            Command::EndOfBody(Vec::new()),
            Command::Abort,
            Command::Quit,
            Command::QuitNewConnection,
            Command::Unknown(b"XFOO".to_vec()),
        ] {
            round_trip(c);
        }
    }

    #[test]
    fn replies_round_trip() {
        for r in [
            Reply::OptNeg {
                version: 6,
                actions: 0x31,
                protocol: 0x10_0000,
            },
            Reply::Continue,
            Reply::Accept,
            Reply::Reject,
            Reply::Tempfail,
            Reply::Smtp("550 5.7.1 spam".into()),
            Reply::AddHeader {
                name: "X-Spam-Flag".into(),
                value: " YES".into(),
            },
            Reply::ChangeHeader {
                index: 2,
                name: "X-Spam-Status".into(),
                value: String::new(),
            },
            Reply::Quarantine("spam".into()),
        ] {
            let bytes = r.encode();
            let (code, data) = read_packet(&mut bytes.as_slice())
                .expect("read")
                .expect("packet");
            assert_eq!(Reply::decode(code, &data).expect("decode"), r);
        }
    }

    #[test]
    fn wire_layout_is_the_protocols() {
        // SMFIR_CONTINUE: length 1, code 'c'.
        assert_eq!(Reply::Continue.encode(), [0, 0, 0, 1, b'c']);
        // SMFIC_HEADER: name and value NUL-terminated.
        assert_eq!(
            Command::Header {
                name: b"A".to_vec(),
                value: b"b".to_vec()
            }
            .encode(),
            [0, 0, 0, 5, b'L', b'A', 0, b'b', 0]
        );
        // SMFIR_CHGHEADER: 32-bit index first.
        assert_eq!(
            Reply::ChangeHeader {
                index: 1,
                name: "X".into(),
                value: String::new()
            }
            .encode(),
            [0, 0, 0, 8, b'm', 0, 0, 0, 1, b'X', 0, 0]
        );
    }

    #[test]
    fn bad_packets_are_errors_not_allocations() {
        // A length over the limit fails before anything is allocated.
        let err = read_packet(&mut &[0xff, 0xff, 0xff, 0xff, b'B'][..]).expect_err("too long");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(read_packet(&mut &[0, 0, 0, 0][..]).is_err(), "zero length");
        assert!(read_packet(&mut &[0, 0][..]).is_err(), "cut length");
        assert!(
            read_packet(&mut &[0, 0, 0, 3, b'B'][..]).is_err(),
            "cut data"
        );
        assert_eq!(read_packet(&mut &[][..]).expect("eof"), None);
        assert!(Command::decode(b'O', &[0, 0, 0, 6]).is_err());
        assert!(Command::decode(b'C', b"host").is_err());
        assert!(Command::decode(b'D', b"").is_err());
        assert!(Command::decode(b'Z', b"").is_err());
        assert!(Reply::decode(b'm', &[0, 1]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            // As a packet stream.
            let mut r = bytes.as_slice();
            for _ in 0..64 {
                match read_packet(&mut r) {
                    Ok(Some((code, data))) => {
                        let _ = Command::decode(code, &data);
                        let _ = Reply::decode(code, &data);
                    }
                    _ => break,
                }
            }
            // As the data of every code.
            for code in 0..=255u8 {
                let _ = Command::decode(code, &bytes);
                let _ = Reply::decode(code, &bytes);
            }
        }

        #[test]
        fn any_header_round_trips(
            name in "[A-Za-z-]{1,20}",
            value in proptest::collection::vec(1u8..=255, 0..200),
        ) {
            let c = Command::Header { name: name.into_bytes(), value };
            let bytes = c.encode();
            let (code, data) = read_packet(&mut bytes.as_slice()).expect("read").expect("packet");
            proptest::prop_assert_eq!(Command::decode(code, &data).expect("decode"), c);
        }
    }
}
