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
        decoded_bytes(&self.body, &self.cte).is_empty()
    }

    /// The values of a header field (case-insensitive name), as written.
    pub(crate) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A text to walk: a whole message (the message itself, or an attached one), whose header ends
/// as SpamAssassin's `Message::new` ends it, or a multipart's part, already split into its
/// header and body as `_parse_multipart` splits them.
enum Item<'t> {
    Message(Cow<'t, str>),
    /// Header, body, and whether the parent is a multipart/digest.
    Part(Cow<'t, str>, Cow<'t, str>, bool),
}

impl Item<'_> {
    fn into_owned(self) -> Item<'static> {
        match self {
            Item::Message(t) => Item::Message(Cow::Owned(t.into_owned())),
            Item::Part(h, b, d) => {
                Item::Part(Cow::Owned(h.into_owned()), Cow::Owned(b.into_owned()), d)
            }
        }
    }
}

/// Walks the raw message.
pub(crate) fn walk(view: &MessageView) -> Vec<MimePart> {
    let mut out = Vec::new();
    // Processed depth first in order. An attached message that was transfer-encoded is walked
    // from its decoded text (owned, and so are its descendants').
    let mut stack: Vec<(Item<'_>, usize)> = vec![(Item::Message(Cow::Borrowed(&view.raw)), 0)];
    while let Some((item, depth)) = stack.pop() {
        if out.len() >= MAX_PARTS {
            break;
        }
        let children: Vec<Item<'_>> = match &item {
            Item::Message(Cow::Borrowed(t)) => {
                let (head, body) = split_message_head(t);
                visit(head, body, Kind::Message, depth, &mut out)
            }
            Item::Part(Cow::Borrowed(h), Cow::Borrowed(b), d) => {
                visit(h, b, Kind::Part { digest: *d }, depth, &mut out)
            }
            Item::Message(t) => {
                let (head, body) = split_message_head(t);
                owned(visit(head, body, Kind::Message, depth, &mut out))
            }
            Item::Part(h, b, d) => owned(visit(h, b, Kind::Part { digest: *d }, depth, &mut out)),
        };
        for c in children.into_iter().rev() {
            stack.push((c, depth + 1));
        }
    }
    out
}

fn owned(items: Vec<Item<'_>>) -> Vec<Item<'static>> {
    items.into_iter().map(Item::into_owned).collect()
}

/// What a walked text is.
#[derive(Clone, Copy)]
enum Kind {
    /// A whole message.
    Message,
    /// A multipart's part (`digest`: of a multipart/digest).
    Part { digest: bool },
}

/// Adds the part with header `head` and body `body` to `out`; its children.
fn visit<'t>(
    head: &str,
    body: &'t str,
    kind: Kind,
    depth: usize,
    out: &mut Vec<MimePart>,
) -> Vec<Item<'t>> {
    let headers = parse_headers(head);
    // SpamAssassin reads the last of repeated fields (`Node::header` in scalar context),
    // unfolded.
    let ct = headers
        .iter()
        .rfind(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
        .map(|(_, v)| unfold(v))
        .unwrap_or_default();
    let ct = ct.as_ref();
    let mut ctype = media_type(ct);
    let untyped = ct.split(';').next().unwrap_or("").trim().is_empty();
    if matches!(kind, Kind::Part { digest: true }) && untyped {
        // A digest's part without a type is a message (SpamAssassin's bug 5741).
        ctype = "message/rfc822".to_owned();
    }
    let cte = headers
        .iter()
        .rfind(|(n, _)| n.eq_ignore_ascii_case("Content-Transfer-Encoding"))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let mut children: Vec<Item<'t>> = Vec::new();
    let mut flags = MultipartFlags::default();
    let boundary = param(ct, "boundary");
    if ctype.starts_with("multipart/") && boundary.is_none() {
        // A multipart without a boundary is read as text (`_parse_normal`).
        ctype = "text/plain".to_owned();
    }
    let container = if depth < MAX_DEPTH && ctype.starts_with("multipart/") {
        if let Some(b) = boundary {
            let digest = ctype == "multipart/digest";
            // A message's multipart body that starts with neither an empty line nor its
            // delimiter gets an empty line first (SpamAssassin's bug 6845), so that its first
            // lines are not read as a part's header.
            let mut first = body.split_inclusive('\n');
            let blank_first = matches!(kind, Kind::Message)
                && first.next().is_some_and(|l| {
                    l.contains(|c: char| !c.is_whitespace()) && !l.starts_with(&format!("--{b}"))
                })
                && first.next().is_some();
            let parts;
            (parts, flags) = split_multipart(body, &b, blank_first);
            children.extend(
                parts
                    .into_iter()
                    .map(|(h, b)| Item::Part(Cow::Borrowed(h), Cow::Borrowed(b), digest)),
            );
        }
        true
    } else if depth < MAX_DEPTH && matches!(ctype.as_str(), "message/rfc822" | "message/global") {
        // SpamAssassin decodes the part (base64, quoted-printable) and parses what it gives
        // as a message, unless that is empty (`Message::parse_body`).
        let decoded = decode(body, &cte);
        if decoded.is_empty() {
            false
        } else {
            children.push(Item::Message(decoded));
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

/// A field's value as `Node::header` keeps it for reading: each line break and the blanks
/// after it one space (`boundary="foo\n bar"` names `foo bar`).
fn unfold(v: &str) -> Cow<'_, str> {
    if !v.contains('\n') {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('\n') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let blanks = after.len() - after.trim_start_matches([' ', '\t']).len();
        if blanks > 0 {
            out.push(' ');
        } else {
            out.push('\n');
        }
        rest = &after[blanks..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A body transfer-decoded as SpamAssassin's `Node::decode` decodes it.
fn decoded_bytes<'t>(body: &'t str, cte: &str) -> Cow<'t, [u8]> {
    if cte.contains("quoted-printable") {
        Cow::Owned(crate::message::charsets::qp_decode(body.as_bytes()))
    } else if cte.contains("base64") {
        Cow::Owned(base64_lenient(body))
    } else {
        Cow::Borrowed(body.as_bytes())
    }
}

/// [`decoded_bytes`] as text (bytes that are not UTF-8 replaced).
fn decode<'t>(body: &'t str, cte: &str) -> Cow<'t, str> {
    match decoded_bytes(body, cte) {
        Cow::Borrowed(_) => Cow::Borrowed(body),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
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

/// Splits a message into its header and body where SpamAssassin's `Message::new` ends the
/// header: at an empty line (consumed), at a line that starts with `--` (a MIME boundary), or
/// at the fourth line that is not a header field (the three before it are skipped).
fn split_message_head(text: &str) -> (&str, &str) {
    let mut pos = 0;
    let mut invalid = 0;
    for line in text.split_inclusive('\n') {
        if !line.starts_with([' ', '\t']) {
            if line.trim_end_matches(['\r', '\n']).is_empty() {
                return (&text[..pos], &text[pos + line.len()..]);
            }
            if line.starts_with("--") {
                return (&text[..pos], &text[pos..]);
            }
            if !is_field(line) {
                invalid += 1;
                if invalid > 3 {
                    return (&text[..pos], &text[pos..]);
                }
            }
        }
        pos += line.len();
    }
    (text, "")
}

/// Header fields: name and value (folded lines joined by their line breaks).
fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    // Whether the line being continued was kept (a continuation of a skipped line is too).
    let mut kept = false;
    for line in head.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let (true, Some((_, v))) = (kept, out.last_mut()) {
                v.push('\n');
                v.push_str(line);
            }
            continue;
        }
        kept = false;
        if let Some((n, v)) = line.split_once(':') {
            let n = n.trim_end();
            if !n.is_empty() && !n.contains(' ') && out.len() < 1000 {
                out.push((n.to_owned(), v.trim_start().to_owned()));
                kept = true;
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

/// The parts of a multipart body, each as its header (the fields SpamAssassin keeps) and its
/// body, and what SpamAssassin notes about the structure, line by line as its
/// `_parse_multipart` reads them: the preamble skipped when an opening delimiter is found (else
/// the first part starts at the top); a part's header ends at its first line that is neither a
/// field nor a continuation (an empty one is consumed, any other is the first body line); a
/// field still open when the part ends is dropped; the last line of the body belongs to the
/// last part's body whatever its state; the line break before a delimiter belongs to the
/// delimiter; and a part whose own Content-Type (the last field of its header) names the same
/// boundary takes the delimiters up to the next closing one as its body (bug 7358).
fn split_multipart<'a>(
    body: &'a str,
    boundary: &str,
    blank_first: bool,
) -> (Vec<(&'a str, &'a str)>, MultipartFlags) {
    let delim = format!("--{boundary}");
    // `/^--B(--)?\s*$/`: Some(closing).
    let delimiter = |line: &str| -> Option<bool> {
        let rest = line.strip_prefix(delim.as_str())?;
        if rest.trim_end().is_empty() {
            return Some(false);
        }
        rest.strip_prefix("--")
            .is_some_and(|r| r.trim_end().is_empty())
            .then_some(true)
    };
    let mut lines: Vec<(usize, &str)> = Vec::new();
    if blank_first {
        // Read before the first line; never a delimiter, a body line or the last line.
        lines.push((0, "\n"));
    }
    let mut at = 0;
    for line in body.split_inclusive('\n') {
        lines.push((at, line));
        at += line.len();
    }
    let mut flags = MultipartFlags::default();
    let mut parts = Vec::new();
    let first = match lines.iter().position(|(_, l)| delimiter(l) == Some(false)) {
        Some(k) => {
            flags.missing_headers |= lines.get(k + 1).is_some_and(|(_, n)| !is_field(n));
            k + 1
        }
        None => 0,
    };
    let Some(&(start, _)) = lines.get(first) else {
        return (parts, flags);
    };
    let (mut part_start, mut head_end) = (start, start);
    let mut pending: Option<usize> = None;
    let mut body_start: Option<usize> = None;
    let (mut in_body, mut nested) = (false, false);
    for (k, &(off, line)) in lines.iter().enumerate().skip(first) {
        let last = k + 1 == lines.len();
        let mut found = delimiter(line);
        if found.is_some() && nested {
            nested = found != Some(true);
            found = None;
        }
        if last || found.is_some() {
            let end = match found {
                // The last line, not a delimiter: the body's, whatever the state.
                None => {
                    body_start.get_or_insert(off);
                    off + line.len()
                }
                Some(_) => body[..off]
                    .strip_suffix('\n')
                    .map_or(off, |t| t.strip_suffix('\r').unwrap_or(t).len()),
            };
            let text = body_start.map_or("", |b| &body[b..end.max(b)]);
            parts.push((&body[part_start..head_end], text));
            let after = &body[off + line.len()..];
            if found == Some(true) {
                // SpamAssassin's "epilogue": text other than white space and dots.
                flags.epilogue = after
                    .split('\n')
                    .any(|l| l.contains(|c: char| !c.is_whitespace() && c != '.'));
                return (parts, flags);
            }
            if found.is_some() && lines.get(k + 1).is_some_and(|(_, n)| !is_field(n)) {
                flags.missing_headers = true;
            }
            if parts.len() >= MAX_PARTS {
                return (parts, flags);
            }
            (part_start, head_end) = (off + line.len(), off + line.len());
            (pending, body_start, in_body) = (None, None, false);
            continue;
        }
        if !in_body {
            if is_field(line) {
                head_end = off;
                pending = Some(off);
                continue;
            }
            if pending.is_some() && line.starts_with([' ', '\t']) {
                continue;
            }
            head_end = off;
            if let Some(p) = pending {
                nested |= names_boundary(&body[p..off], boundary);
            }
            in_body = true;
            if line.trim_end_matches(['\r', '\n']).is_empty() && line.len() <= 2 {
                continue;
            }
            flags.missing_separator = true;
        }
        body_start.get_or_insert(off);
    }
    (parts, flags)
}

/// Whether a header field is a Content-Type whose boundary is `boundary`.
fn names_boundary(field: &str, boundary: &str) -> bool {
    field.split_once(':').is_some_and(|(name, value)| {
        name.trim_end().eq_ignore_ascii_case("content-type")
            && param(value, "boundary").as_deref() == Some(boundary)
    })
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
    fn a_folded_boundary_is_read_unfolded() {
        // mail-parser's resources thirdparty_012.eml: `boundary="foo\n bar"` names `foo bar`.
        let raw = "Content-Type: multipart/mixed; boundary=\"foo\n bar\"\n\nprologue\n\
                   --foo bar\nContent-Type: text/plain\n\nhello\n--foo bar--\n";
        let parts = walk(&view(raw));
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[1].ctype.as_str(), parts[1].body.as_str()),
            ("text/plain", "hello")
        );
        assert_eq!(unfold("a\n \t b\nc"), "a b\nc");
    }

    #[test]
    fn the_last_content_type_counts() {
        // A part header that runs into the next one's: SpamAssassin reads the last field.
        let raw = "Content-Type: multipart/alternative; boundary=A\n\
                   Content-Type: text/plain\n\nplain\n";
        assert_eq!(walk(&view(raw))[0].ctype, "text/plain");
    }

    #[test]
    fn multipart_lines_as_spamassassin_reads_them() {
        let types = |raw: &str| -> Vec<(String, String)> {
            walk(&view(raw))
                .into_iter()
                .map(|p| (p.ctype, p.body))
                .collect()
        };
        let pair = |t: &str, b: &str| (t.to_owned(), b.to_owned());
        // Bug 7358: a part that names its parent's boundary takes the delimiters up to the
        // next closing one (Python's test_email msg_15.txt).
        let same = "Content-Type: multipart/mixed; boundary=B\n\n--B\n\
                    Content-Type: multipart/alternative; boundary=B\n\n\n--B\n\
                    Content-Type: text/plain\n\nplain\n--B\nContent-Type: text/html\n\n\
                    <p>h</p>\n--B--\n\n--B\nContent-Type: image/gif\n\nR0lG\n--B--\n";
        assert_eq!(
            types(same),
            [
                pair("multipart/mixed", ""),
                pair("multipart/alternative", ""),
                pair("text/plain", "plain"),
                pair("text/html", "<p>h</p>"),
                pair("image/gif", "R0lG"),
            ]
        );
        // A field still open when the part ends is dropped; a header that runs into the body
        // ends at the first line that is not a field; a multipart without a boundary is text.
        let open = "Content-Type: multipart/mixed; boundary=B\n\n--B\n\
                    Content-Type: text/html\n--B\nContent-Type: text/html\nhello\n--B\n\
                    Content-Type: multipart/related\n\nx\n--B--\n";
        let parts = walk(&view(open));
        assert_eq!(
            types(open),
            [
                pair("multipart/mixed", ""),
                pair("text/plain", ""),
                pair("text/html", "hello"),
                pair("text/plain", "x"),
            ]
        );
        assert!(parts[0].flags.missing_separator);
        // A message body that starts with neither an empty line nor the delimiter gets one
        // first (bug 6845): with no delimiter at all, the whole body is one headerless part.
        let none = "Content-Type: multipart/mixed; boundary=B\n\nHi there,\n\nbye\n";
        let parts = walk(&view(none));
        assert_eq!(
            types(none),
            [
                pair("multipart/mixed", ""),
                pair("text/plain", "Hi there,\n\nbye\n")
            ]
        );
        assert!(!parts[0].flags.missing_separator);
        // A digest's part without a type is a message (bug 5741; Python's msg_30.txt).
        let digest = "Content-Type: multipart/digest; boundary=B\n\n--B\n\n\
                      Content-Type: text/plain\nSubject: one\n\nmessage 1\n--B--\n";
        assert_eq!(
            types(digest),
            [
                pair("multipart/digest", ""),
                pair("message/rfc822", ""),
                pair("text/plain", "message 1"),
            ]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any arrangement of delimiters, part headers, blank and text lines (nested and
        /// repeated boundaries, encoded attached messages): the walk ends within its bounds,
        /// in depth-first order under the message's own multipart, and the body of every part
        /// directly under it is text of the message.
        #[test]
        fn walks_any_multipart_arrangement(lines in proptest::collection::vec(0usize..14, 0..60)) {
            const LINES: [&str; 14] = [
                "--B\n", "--B--\n", "--C\n", "--C--\n", "\n", "hello world\n",
                "Content-Type: multipart/mixed; boundary=C\n",
                "Content-Type: multipart/alternative; boundary=B\n",
                "Content-Type: message/rfc822\n", "Content-Transfer-Encoding: base64\n",
                "Q29udGVudC1UeXBlOiB0ZXh0L2h0bWwKCjxwPng8L3A+Cg==\n", "\tcontinued\n",
                "Content-Type: multipart/digest; boundary=B\n", "Content-Type: text/html\r\n",
            ];
            let mut raw = String::from("Content-Type: multipart/mixed; boundary=B\n\n");
            for &l in &lines {
                raw.push_str(LINES[l]);
            }
            let parts = walk(&view(&raw));
            proptest::prop_assert!(parts.len() <= MAX_PARTS);
            proptest::prop_assert_eq!(parts[0].ctype.as_str(), "multipart/mixed");
            proptest::prop_assert_eq!(parts[0].depth, 0);
            for w in parts.windows(2) {
                proptest::prop_assert!(w[1].depth >= 1 && w[1].depth <= w[0].depth + 1);
            }
            for p in parts.iter().filter(|p| p.depth == 1 && !p.container) {
                proptest::prop_assert!(raw.contains(p.body.as_str()), "{:?} in {:?}", p.body, raw);
            }
        }
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
