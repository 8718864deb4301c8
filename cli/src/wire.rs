//! The classify server's protocol: one request and one response per connection, over a Unix
//! stream socket.
//!
//! Request:  `MSIFT2 q` magic (8 bytes), then the fields `db` (the database path the client
//! would open), `user` (empty: none), `fingerprint` (u64: [`mailsift::Config::fingerprint`] of
//! the client's configuration), `recipients` (a u64 count, at most [`MAX_RECIPIENTS`], then
//! each as a byte string: `classify --recipient`) and `message` (the raw bytes). Version 2
//! added `recipients`: a server of version 1 answers a version-2 client "bad magic", and the
//! client classifies in-process.
//! Response: `MSIFT1 r` magic, a status byte, then for [`Status::Done`] a spam byte, the
//! `warning` field (empty: none) and the annotated message; for the other statuses one text
//! field saying why.
//!
//! Byte strings are a u64 little-endian length followed by the bytes. Every length is checked
//! against [`MAX_FIELD`] before anything is allocated, so a bad peer cannot make either side
//! allocate more than that.

use std::borrow::Cow;
use std::io::{self, Read, Write};

const REQUEST_MAGIC: &[u8; 8] = b"MSIFT2 q";
const RESPONSE_MAGIC: &[u8; 8] = b"MSIFT1 r";

/// The largest field either side accepts (a message over this is classified in-process).
pub const MAX_FIELD: u64 = 1 << 31;

/// The most envelope recipients a request carries.
pub const MAX_RECIPIENTS: u64 = 1024;

/// What the client asks. The message is borrowed when writing (the client's input is not
/// copied to build a request) and owned when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The database path, as the client resolved it.
    pub db: Vec<u8>,
    /// The user, if any.
    pub user: Option<String>,
    /// The client's configuration fingerprint.
    pub fingerprint: u64,
    /// The envelope recipients given to `classify --recipient`.
    pub recipients: Vec<String>,
    /// The raw message.
    pub message: Cow<'a, [u8]>,
}

/// Response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Classified: the annotated message follows.
    Done = 0,
    /// The server does not serve this client as it would serve itself (another database or
    /// configuration): classify in-process.
    Mismatch = 1,
    /// The server could not classify (an internal error): classify in-process.
    Failed = 2,
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Classified.
    Done {
        /// Whether the message is spam.
        spam: bool,
        /// A degradation to report (e.g. database fault, rules alone).
        warning: Option<String>,
        /// The message with its X-Spam-* headers.
        output: Vec<u8>,
    },
    /// Not served: why.
    Mismatch(String),
    /// Failed: why.
    Failed(String),
}

fn put(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    w.write_all(&(bytes.len() as u64).to_le_bytes())?;
    w.write_all(bytes)
}

fn get(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_FIELD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("field of {len} bytes is over the limit"),
        ));
    }
    let mut buf = Vec::new();
    r.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf)
}

fn get_text(r: &mut impl Read) -> io::Result<String> {
    Ok(String::from_utf8_lossy(&get(r)?).into_owned())
}

fn magic(r: &mut impl Read, want: &[u8; 8]) -> io::Result<()> {
    let mut m = [0u8; 8];
    r.read_exact(&mut m)?;
    if &m != want {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a mailsift classify peer (bad magic)",
        ));
    }
    Ok(())
}

impl Request<'_> {
    /// Writes the request (in one buffered write).
    pub fn write(&self, w: &mut impl Write) -> io::Result<()> {
        let mut buf = Vec::with_capacity(self.message.len() + self.db.len() + 64);
        buf.extend_from_slice(REQUEST_MAGIC);
        put(&mut buf, &self.db)?;
        put(&mut buf, self.user.as_deref().unwrap_or("").as_bytes())?;
        buf.extend_from_slice(&self.fingerprint.to_le_bytes());
        let n = self.recipients.len().min(MAX_RECIPIENTS as usize);
        buf.extend_from_slice(&(n as u64).to_le_bytes());
        for r in &self.recipients[..n] {
            put(&mut buf, r.as_bytes())?;
        }
        put(&mut buf, &self.message)?;
        w.write_all(&buf)?;
        w.flush()
    }

    /// Reads a request; `Ok(None)` when the peer closed without sending anything (a
    /// connection test such as a monitoring probe).
    pub fn read(r: &mut impl Read) -> io::Result<Option<Request<'static>>> {
        let mut first = [0u8; 1];
        loop {
            match r.read(&mut first) {
                Ok(0) => return Ok(None),
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        magic(&mut (&first[..]).chain(&mut *r), REQUEST_MAGIC)?;
        let db = get(r)?;
        let user = get_text(r)?;
        let mut fp = [0u8; 8];
        r.read_exact(&mut fp)?;
        let mut n = [0u8; 8];
        r.read_exact(&mut n)?;
        let n = u64::from_le_bytes(n);
        if n > MAX_RECIPIENTS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{n} recipients is over the limit"),
            ));
        }
        let mut recipients = Vec::with_capacity(n as usize);
        for _ in 0..n {
            recipients.push(get_text(r)?);
        }
        let message = get(r)?;
        Ok(Some(Request {
            db,
            user: (!user.is_empty()).then_some(user),
            fingerprint: u64::from_le_bytes(fp),
            recipients,
            message: Cow::Owned(message),
        }))
    }
}

impl Response {
    /// Writes the response (in one buffered write).
    pub fn write(&self, w: &mut impl Write) -> io::Result<()> {
        self.write_with(w, true)
    }

    /// Writes what comes first in every response, before the answer is known: a server that
    /// will take a while says so at once, and the client stops polling for the answer and
    /// sleeps until it comes (see `classify`'s spin-then-block). The rest follows with
    /// [`Response::write_rest`].
    pub fn write_start(w: &mut impl Write) -> io::Result<()> {
        w.write_all(RESPONSE_MAGIC)?;
        w.flush()
    }

    /// Writes the response after [`Response::write_start`].
    pub fn write_rest(&self, w: &mut impl Write) -> io::Result<()> {
        self.write_with(w, false)
    }

    fn write_with(&self, w: &mut impl Write, start: bool) -> io::Result<()> {
        let mut buf = Vec::with_capacity(64);
        if start {
            buf.extend_from_slice(RESPONSE_MAGIC);
        }
        match self {
            Response::Done {
                spam,
                warning,
                output,
            } => {
                buf.reserve(output.len());
                buf.push(Status::Done as u8);
                buf.push(u8::from(*spam));
                put(&mut buf, warning.as_deref().unwrap_or("").as_bytes())?;
                put(&mut buf, output)?;
            }
            Response::Mismatch(why) => {
                buf.push(Status::Mismatch as u8);
                put(&mut buf, why.as_bytes())?;
            }
            Response::Failed(why) => {
                buf.push(Status::Failed as u8);
                put(&mut buf, why.as_bytes())?;
            }
        }
        w.write_all(&buf)?;
        w.flush()
    }

    /// Reads a response.
    pub fn read(r: &mut impl Read) -> io::Result<Response> {
        magic(r, RESPONSE_MAGIC)?;
        let mut status = [0u8; 1];
        r.read_exact(&mut status)?;
        match status[0] {
            0 => {
                let mut spam = [0u8; 1];
                r.read_exact(&mut spam)?;
                let warning = get_text(r)?;
                let output = get(r)?;
                Ok(Response::Done {
                    spam: spam[0] != 0,
                    warning: (!warning.is_empty()).then_some(warning),
                    output,
                })
            }
            1 => Ok(Response::Mismatch(get_text(r)?)),
            2 => Ok(Response::Failed(get_text(r)?)),
            s => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown response status {s}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips() {
        let q = Request {
            db: b"/var/lib/mailsift/mailsift.db".to_vec(),
            user: Some("alice".into()),
            fingerprint: 0x0123_4567_89ab_cdef,
            recipients: vec!["alice@example.org".into(), "b@example.net".into()],
            message: Cow::Borrowed(b"Subject: hi\r\n\r\nbody\xff\x00"),
        };
        let mut buf = Vec::new();
        q.write(&mut buf).expect("write");
        assert_eq!(
            Request::read(&mut buf.as_slice()).expect("read"),
            Some(q.clone())
        );
        let none = Request {
            user: None,
            recipients: Vec::new(),
            ..q
        };
        let mut buf = Vec::new();
        none.write(&mut buf).expect("write");
        assert_eq!(
            Request::read(&mut buf.as_slice()).expect("read"),
            Some(none)
        );
    }

    #[test]
    fn responses_round_trip() {
        for r in [
            Response::Done {
                spam: true,
                warning: Some("database is locked; classified by rules alone".into()),
                output: b"X-Spam-Flag: YES\n\nbody".to_vec(),
            },
            Response::Done {
                spam: false,
                warning: None,
                output: Vec::new(),
            },
            Response::Mismatch("another database".into()),
            Response::Failed("panic".into()),
        ] {
            let mut buf = Vec::new();
            r.write(&mut buf).expect("write");
            assert_eq!(Response::read(&mut buf.as_slice()).expect("read"), r);
            // Started early (a slow server), then finished: the same bytes.
            let mut split = Vec::new();
            Response::write_start(&mut split).expect("write");
            assert!(!split.is_empty() && buf.starts_with(&split));
            r.write_rest(&mut split).expect("write");
            assert_eq!(split, buf);
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = Request::read(&mut bytes.as_slice());
            let _ = Response::read(&mut bytes.as_slice());
            let mut framed = REQUEST_MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = Request::read(&mut framed.as_slice());
        }

        #[test]
        fn any_request_round_trips(
            db in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            user in proptest::option::of("[a-z]{1,8}"),
            fingerprint in proptest::prelude::any::<u64>(),
            recipients in proptest::collection::vec("[a-z@.\n]{0,12}", 0..4),
            message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let q = Request { db, user, fingerprint, recipients, message: Cow::Owned(message) };
            let mut buf = Vec::new();
            q.write(&mut buf).expect("write");
            proptest::prop_assert_eq!(Request::read(&mut buf.as_slice()).expect("read"), Some(q));
        }
    }

    #[test]
    fn rejects_bad_input_without_allocating_it() {
        assert!(Request::read(&mut &b"HTTP/1.1 200 OK\r\n"[..]).is_err());
        // A length far over the limit fails before any allocation.
        let mut buf = REQUEST_MAGIC.to_vec();
        buf.extend_from_slice(&u64::MAX.to_le_bytes());
        let err = Request::read(&mut buf.as_slice()).expect_err("over limit");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // So does a recipient count over its limit.
        let mut buf = REQUEST_MAGIC.to_vec();
        buf.extend_from_slice(&[0u8; 16]); // empty db and user
        buf.extend_from_slice(&7u64.to_le_bytes()); // fingerprint
        buf.extend_from_slice(&u64::MAX.to_le_bytes());
        let err = Request::read(&mut buf.as_slice()).expect_err("too many recipients");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // Truncated: every prefix of a valid request is an error, never a short request.
        let q = Request {
            db: b"db".to_vec(),
            user: None,
            fingerprint: 7,
            recipients: vec!["r@x".into()],
            message: Cow::Borrowed(b"m"),
        };
        let mut full = Vec::new();
        q.write(&mut full).expect("write");
        assert_eq!(Request::read(&mut &full[..0]).expect("empty"), None);
        for n in 1..full.len() {
            assert!(Request::read(&mut &full[..n]).is_err(), "prefix {n}");
        }
        let mut resp = Vec::new();
        Response::Done {
            spam: false,
            warning: None,
            output: b"abc".to_vec(),
        }
        .write(&mut resp)
        .expect("write");
        for n in 0..resp.len() {
            assert!(Response::read(&mut &resp[..n]).is_err(), "prefix {n}");
        }
    }
}
