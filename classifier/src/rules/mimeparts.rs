//! The MIME tree as SpamAssassin's plugins walk it: every part in parse order (the message's
//! own header first, then each part of a multipart, depth first, and the parts of attached
//! `message/rfc822` messages), each with its header fields and its body still encoded.
//!
//! A light walker over the raw text, separate from the parser that builds
//! [`MessageView`]: the MIMEHeader rules and the MIMEEval measurements need what that view
//! does not keep (every part's header as written, the encoded lines). Best effort and bounded:
//! malformed structure ends a part, never the walk.

use std::borrow::Cow;

use crate::message::MessageView;

/// Parts walked per message, at most.
pub(crate) const MAX_PARTS: usize = 1000;
/// Nesting depth, at most.
const MAX_DEPTH: usize = 30;

/// One MIME part.
#[derive(Debug, Clone, Default)]
pub(crate) struct MimePart {
    /// Header fields: (name as written, value as written: folding kept, leading blanks of the
    /// first line removed, no final line break).
    pub headers: Vec<(String, String)>,
    /// `type/subtype`, lower case (`text/plain` when absent).
    pub ctype: String,
    /// The Content-Transfer-Encoding, lower case and trimmed (empty when absent).
    pub cte: String,
    /// Whether this part holds other parts (multipart/*, message/rfc822).
    pub container: bool,
    /// The body as written (still transfer-encoded), for leaves; empty for containers.
    pub body: String,
    /// Nesting depth: 0 for the message itself; a part's descendants follow it with greater
    /// depths.
    pub depth: usize,
    /// For a multipart, what SpamAssassin's parser notes about its structure.
    pub flags: MultipartFlags,
}

/// What SpamAssassin's multipart parser (`Message::_parse_multipart`) notes about one
/// multipart, for `check_msg_parse_flags`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MultipartFlags {
    /// Text after the closing delimiter: a line with a character other than white space
    /// and `.` (`mime_epilogue_exists`).
    pub epilogue: bool,
    /// A delimiter followed by a line that is not a header field (`missing_mime_headers`).
    pub missing_headers: bool,
    /// A part whose header is followed by a body line with no empty line between
    /// (`missing_mime_head_body_separator`).
    pub missing_separator: bool,
}

impl MimePart {
    /// Whether the body decodes to nothing, as SpamAssassin's `Node::decode` decodes it.
    /// SpamAssassin renders no such part (`Node::rendered` skips an empty text).
    pub(crate) fn decodes_empty(&self) -> bool {
        decode(&self.body, &self.cte).is_empty()
    }

    /// The values of a header field (case-insensitive name), as written.
    pub(crate) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Walks the raw message.
pub(crate) fn walk(view: &MessageView) -> Vec<MimePart> {
    let mut out = Vec::new();
    // (text of a part: header and body, depth); processed depth first in order. An attached
    // message that was transfer-encoded is walked from its decoded text (owned).
    let mut stack: Vec<(Cow<'_, str>, usize)> = vec![(Cow::Borrowed(view.raw.as_str()), 0)];
    while let Some((text, depth)) = stack.pop() {
        if out.len() >= MAX_PARTS {
            break;
        }
        let children = match &text {
            Cow::Borrowed(t) => visit(t, depth, &mut out),
            Cow::Owned(t) => visit(t, depth, &mut out)
                .into_iter()
                .map(|c| Cow::Owned(c.into_owned()))
                .collect(),
        };
        for c in children.into_iter().rev() {
            stack.push((c, depth + 1));
        }
    }
    out
}

/// Adds the part `text` to `out`; its children's texts.
fn visit<'t>(text: &'t str, depth: usize, out: &mut Vec<MimePart>) -> Vec<Cow<'t, str>> {
    let (head, body) = split_head(text);
    let headers = parse_headers(head);
    // SpamAssassin reads the last of repeated fields (`Node::header` in scalar context).
    let ct = headers
        .iter()
        .rfind(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let ctype = media_type(ct);
    let cte = headers
        .iter()
        .rfind(|(n, _)| n.eq_ignore_ascii_case("Content-Transfer-Encoding"))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let mut children: Vec<Cow<'t, str>> = Vec::new();
    let mut flags = MultipartFlags::default();
    let container = if depth < MAX_DEPTH && ctype.starts_with("multipart/") {
        if let Some(b) = param(ct, "boundary") {
            let parts;
            (parts, flags) = split_multipart(body, &b);
            children.extend(parts.into_iter().map(Cow::Borrowed));
        }
        true
    } else if depth < MAX_DEPTH && matches!(ctype.as_str(), "message/rfc822" | "message/global") {
        // SpamAssassin decodes the part (base64, quoted-printable) and parses what it gives
        // as a message, unless that is empty (`Message::parse_body`).
        let decoded = decode(body, &cte);
        if decoded.is_empty() {
            false
        } else {
            children.push(decoded);
            true
        }
    } else {
        false
    };
    out.push(MimePart {
        headers,
        ctype,
        cte,
        container,
        body: if container {
            String::new()
        } else {
            body.to_owned()
        },
        depth,
        flags,
    });
    children
}

/// A body transfer-decoded as SpamAssassin's `Node::decode` decodes it (bytes that are not
/// UTF-8 replaced).
fn decode<'t>(body: &'t str, cte: &str) -> Cow<'t, str> {
    let bytes = if cte.contains("quoted-printable") {
        crate::message::charsets::qp_decode(body.as_bytes())
    } else if cte.contains("base64") {
        base64_lenient(body)
    } else {
        return Cow::Borrowed(body);
    };
    Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
}

/// Base64 as SpamAssassin's `base64_decode` reads it: characters outside the alphabet
/// ignored, nothing after padding, padding optional.
fn base64_lenient(body: &str) -> Vec<u8> {
    let value = |b: u8| match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(body.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    // MIME::Base64 decodes nothing after padding.
    let end = body.find('=').unwrap_or(body.len());
    for v in body[..end].bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Splits a part's text at the first empty line.
fn split_head(text: &str) -> (&str, &str) {
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end_matches(['\r', '\n']).is_empty() {
            return (&text[..pos], &text[pos + line.len()..]);
        }
        pos += line.len();
    }
    (text, "")
}

/// Header fields: name and value (folded lines joined by their line breaks).
fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push('\n');
                v.push_str(line);
            }
            continue;
        }
        if let Some((n, v)) = line.split_once(':') {
            let n = n.trim_end();
            if !n.is_empty() && !n.contains(' ') && out.len() < 1000 {
                out.push((n.to_owned(), v.trim_start().to_owned()));
            }
        }
    }
    out
}

/// `type/subtype` of a Content-Type value, lower case; `text/plain` when absent or malformed.
fn media_type(ct: &str) -> String {
    let t = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if t.contains('/') && !t.contains(char::is_whitespace) {
        t
    } else {
        "text/plain".to_owned()
    }
}

/// A parameter of a structured header value (`boundary="x"`), unquoted.
pub(crate) fn param(v: &str, name: &str) -> Option<String> {
    let lower = v.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0
            || matches!(
                lower.as_bytes()[at - 1],
                b';' | b' ' | b'\t' | b'\n' | b'\r'
            );
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let off = v.len() - rest.len() + 1;
        let val = v[off..].trim_start();
        return Some(match val.strip_prefix('"') {
            Some(q) => q.split('"').next().unwrap_or("").to_owned(),
            None => val
                .split([';', ' ', '\t', '\r', '\n'])
                .next()
                .unwrap_or("")
                .to_owned(),
        });
    }
    None
}

/// The parts of a multipart body: the texts between `--boundary` lines, up to `--boundary--`,
/// and what SpamAssassin notes about the structure.
fn split_multipart<'a>(body: &'a str, boundary: &str) -> (Vec<&'a str>, MultipartFlags) {
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut flags = MultipartFlags::default();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    for line in body.split_inclusive('\n') {
        let l = line.trim_end_matches(['\r', '\n']).trim_end();
        if let Some(rest) = l.strip_prefix(delim.as_str()) {
            if rest.is_empty() || rest == "--" {
                if let Some(s) = start {
                    // The line break before the delimiter belongs to the delimiter.
                    let end = body[..pos]
                        .strip_suffix('\n')
                        .map_or(pos, |t| t.strip_suffix('\r').unwrap_or(t).len());
                    let part = &body[s..end.max(s)];
                    flags.missing_separator |= header_runs_into_body(part);
                    parts.push(part);
                }
                let after = &body[pos + line.len()..];
                if rest == "--" {
                    // SpamAssassin's "epilogue": text other than white space and dots.
                    flags.epilogue = after
                        .split('\n')
                        .any(|l| l.contains(|c: char| !c.is_whitespace() && c != '.'));
                    return (parts, flags);
                }
                if after
                    .split_inclusive('\n')
                    .next()
                    .is_some_and(|n| !is_field(n))
                {
                    flags.missing_headers = true;
                }
                if parts.len() >= MAX_PARTS {
                    return (parts, flags);
                }
                start = Some(pos + line.len());
            }
        }
        pos += line.len();
    }
    // No closing delimiter: the last part runs to the end.
    if let Some(s) = start {
        flags.missing_separator |= header_runs_into_body(&body[s..]);
        parts.push(&body[s..]);
    }
    (parts, flags)
}

/// Whether a line starts a header field as SpamAssassin's parsers recognise one: printable
/// ASCII other than `:`, then optional blanks, then `:`.
pub(crate) fn is_field(line: &str) -> bool {
    let name_len = line
        .bytes()
        .take_while(|b| (0x21..=0x7e).contains(b) && *b != b':')
        .count();
    name_len > 0
        && line[name_len..]
            .trim_start_matches([' ', '\t'])
            .starts_with(':')
}

/// Whether a MIME part's header section ends in a body line instead of an empty line
/// (SpamAssassin's `missing_mime_head_body_separator`): the first line that is neither a
/// field, nor a continuation of one, nor empty. A part that ends inside its header does not.
fn header_runs_into_body(part: &str) -> bool {
    let mut in_field = false;
    for line in part.split_inclusive('\n') {
        if is_field(line) {
            in_field = true;
            continue;
        }
        if in_field && line.starts_with([' ', '\t']) {
            continue;
        }
        return !line.trim_end_matches(['\r', '\n']).is_empty();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(raw: &str) -> MessageView {
        MessageView::parse(raw.as_bytes(), &crate::limits::Limits::default())
    }

    #[test]
    fn walks_nested_parts_in_order() {
        let raw = "From: a@b.example\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n\
                   preamble\n--XX\nContent-Type: multipart/alternative;\n\tboundary=YY\n\n\
                   --YY\nContent-Type: text/plain\n\nhello\n--YY\nContent-Type: text/html\n\
                   Content-Transfer-Encoding: quoted-printable\n\n<p>hi=20there</p>\n--YY--\n\
                   --XX\nContent-Type: application/pdf; name=\"x.pdf\"\n\
                   Content-Disposition: attachment\n\nJVBER\n--XX--\n";
        let parts = walk(&view(raw));
        let types: Vec<&str> = parts.iter().map(|p| p.ctype.as_str()).collect();
        assert_eq!(
            types,
            [
                "multipart/mixed",
                "multipart/alternative",
                "text/plain",
                "text/html",
                "application/pdf"
            ]
        );
        assert_eq!(parts[2].body, "hello");
        assert_eq!(parts[3].cte, "quoted-printable");
        assert_eq!(
            parts.iter().map(|p| p.depth).collect::<Vec<_>>(),
            [0, 1, 2, 2, 1]
        );
        assert_eq!(
            parts[1].values("content-type").next(),
            Some("multipart/alternative;\n\tboundary=YY")
        );
    }

    #[test]
    fn encoded_attached_messages_are_walked_decoded() {
        // SpamAssassin decodes a message/rfc822 part before parsing it; an empty one stays a
        // leaf.
        let inner = "Subject: in\nContent-Type: text/html\n\n<p>x</p>\n";
        let b64 = "U3ViamVjdDogaW4KQ29udGVudC1UeXBlOiB0ZXh0L2h0bWwKCjxwPng8L3A+Cg==";
        assert_eq!(String::from_utf8_lossy(&base64_lenient(b64)), inner);
        let raw = format!(
            "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: message/rfc822\n\
             Content-Transfer-Encoding: base64\n\n{}\n{}\n--B\n\
             Content-Type: message/rfc822\n\n--B--\n",
            &b64[..40],
            &b64[40..]
        );
        let parts = walk(&view(&raw));
        let types: Vec<(&str, usize, bool)> = parts
            .iter()
            .map(|p| (p.ctype.as_str(), p.depth, p.container))
            .collect();
        assert_eq!(
            types,
            [
                ("multipart/mixed", 0, true),
                ("message/rfc822", 1, true),
                ("text/html", 2, false),
                ("message/rfc822", 1, false),
            ]
        );
        assert_eq!(parts[2].body, "<p>x</p>\n");
    }

    #[test]
    fn the_last_content_type_counts() {
        // A part header that runs into the next one's: SpamAssassin reads the last field.
        let raw = "Content-Type: multipart/alternative; boundary=A\n\
                   Content-Type: text/plain\n\nplain\n";
        assert_eq!(walk(&view(raw))[0].ctype, "text/plain");
    }

    #[test]
    fn empty_after_decoding() {
        let part = |cte: &str, body: &str| MimePart {
            cte: cte.into(),
            body: body.into(),
            ..MimePart::default()
        };
        assert!(part("", "").decodes_empty());
        assert!(!part("", "\n").decodes_empty());
        assert!(!part("quoted-printable", "  =\n\t\n").decodes_empty());
        assert!(part("quoted-printable", "=\n=\r\n").decodes_empty());
        assert!(!part("quoted-printable", " \t=\n").decodes_empty());
        assert!(part("base64", " \n==\n").decodes_empty());
        assert!(part("base64", "Q").decodes_empty());
        assert!(!part("base64", "QQ").decodes_empty());
    }

    #[test]
    fn params() {
        assert_eq!(
            param("multipart/mixed; boundary=\"a b\"", "boundary").as_deref(),
            Some("a b")
        );
        assert_eq!(
            param("text/plain; charset=utf-8", "charset").as_deref(),
            Some("utf-8")
        );
        assert_eq!(param("text/plain; xname=a", "name"), None);
    }
}
