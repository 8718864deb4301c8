//! The MTA's side of the milter protocol, for the tests that drive `mailsift milter` as Postfix
//! does (tests/milter.rs, tests/front_ends.rs): a message is cut into header and body commands
//! the way Postfix's cleanup hands them over, and the milter's header changes are applied the
//! way Postfix applies them. Included with `#[path]` next to `mod codec` (the milter's own wire
//! format) and `mod postfix` (for `crlf`).

#![allow(dead_code)]

use crate::codec;
use crate::postfix::crlf;

/// Header block (each line with its CRLF, without the empty line) and body of a CRLF message.
pub fn split(msg: &[u8]) -> (&[u8], &[u8]) {
    let at = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header block");
    (&msg[..at + 2], &msg[at + 4..])
}

/// A message as Postfix hands it to a milter: its header fields as (name, value) pairs (the
/// value keeps the space after the colon; folded lines are joined with a bare LF, as Postfix
/// does) and the body, all in CRLF form. Input without a header block (its first line is not a
/// header field) is all body, with no fields, as Postfix's cleanup treats it; a leading mbox
/// `From ` line is dropped.
pub fn wire_form(msg: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
    let msg = crlf(msg);
    let Some(block) = mailsift::headers::header_block(&msg) else {
        return (Vec::new(), msg);
    };
    // An mbox `From ` line is the mailbox's envelope, never part of what an MTA receives.
    let msg = &msg[block.start..];
    // Headers only, without the empty line: no body.
    let (head, body) = match msg.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&msg[..at + 2], &msg[at + 4..]),
        None => (msg, &b""[..]),
    };
    let head = String::from_utf8_lossy(head)
        .replace("\r\n\t", "\n\t")
        .replace("\r\n ", "\n ");
    let fields = head
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (n, v) = line.split_once(':').expect("field");
            (n.to_owned(), v.to_owned())
        })
        .collect();
    (fields, body.to_vec())
}

/// The message Postfix delivers after applying the milter's header changes to `msg` (in CRLF
/// form): deletions and changes by name and index among the fields of that name, additions at
/// the end of the header block. Panics on a change to a field that does not exist.
pub fn apply(msg: &[u8], replies: &[codec::Reply]) -> Vec<u8> {
    let (mut fields, body) = wire_form(msg);
    for r in replies {
        match r {
            codec::Reply::ChangeHeader { index, name, value } => {
                let pos = fields
                    .iter()
                    .enumerate()
                    .filter(|(_, (n, _))| n.eq_ignore_ascii_case(name))
                    .nth((*index as usize).saturating_sub(1))
                    .map(|(i, _)| i)
                    .unwrap_or_else(|| {
                        panic!("the milter changed a missing field {name}[{index}]")
                    });
                if value.is_empty() {
                    fields.remove(pos);
                } else {
                    fields[pos].1 = value.clone();
                }
            }
            codec::Reply::AddHeader { name, value } => fields.push((name.clone(), value.clone())),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (n, v) in fields {
        out.extend_from_slice(format!("{n}:{}\r\n", v.replace('\n', "\r\n")).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

/// An MTA's side of one connection, over any stream.
pub struct Mta<S: std::io::Read + std::io::Write> {
    pub s: S,
}

impl<S: std::io::Read + std::io::Write> Mta<S> {
    pub fn send(&mut self, c: &codec::Command) {
        self.s.write_all(&c.encode()).expect("send");
    }

    pub fn reply(&mut self) -> codec::Reply {
        let (code, data) = codec::read_packet(&mut self.s)
            .expect("read")
            .expect("a reply");
        codec::Reply::decode(code, &data).expect("decode")
    }

    /// Replies up to and including the final one of the message.
    pub fn final_replies(&mut self) -> Vec<codec::Reply> {
        let mut out = Vec::new();
        for _ in 0..100 {
            let r = self.reply();
            let last = !matches!(
                r,
                codec::Reply::AddHeader { .. }
                    | codec::Reply::ChangeHeader { .. }
                    | codec::Reply::Quarantine(_)
            );
            out.push(r);
            if last {
                break;
            }
        }
        out
    }

    /// One message as Postfix sends it (no replies expected before the end of the body).
    pub fn message(&mut self, msg: &[u8], rcpt: &str) {
        self.message_to(msg, &[rcpt]);
    }

    pub fn message_to(&mut self, msg: &[u8], rcpts: &[&str]) {
        use codec::Command as C;
        self.send(&C::Mail(vec![b"<a@example.org>".to_vec()]));
        for rcpt in rcpts {
            self.send(&C::Rcpt(vec![format!("<{rcpt}>").into_bytes()]));
        }
        self.send(&C::Data);
        let (fields, body) = wire_form(msg);
        for (n, v) in fields {
            self.send(&C::Header {
                name: n.into_bytes(),
                value: v.into_bytes(),
            });
        }
        self.send(&C::EndOfHeaders);
        // In chunks of at most MILTER_CHUNK_SIZE (65,535 bytes), as Postfix sends a body.
        for chunk in body.chunks(65_535) {
            self.send(&C::Body(chunk.to_vec()));
        }
        self.send(&C::EndOfBody(Vec::new()));
    }
}
