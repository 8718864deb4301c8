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
/// `Message::new` keeps at most this many lines of a run of blank lines in a message's body.
pub(crate) const MAX_BLANK_RUN: usize = 20;

/// One MIME part.
#[derive(Debug, Clone, Default)]
pub(crate) struct MimePart {
    /// Header fields: (name as written, value as written: folding kept, leading blanks of the
    /// first line removed, no final line break).
    pub headers: Vec<(String, String)>,
    /// For the message itself (depth 0 or an attached message), the blanks each header value
    /// had before its text, by field: `Message::new` keeps all that follows the colon, so a
    /// `:raw` value starts with them (`__CTYPE_ONETAB_GIF`'s `/^image\/gif;/` never matches
    /// a single-part message's own header). Empty for a multipart's part, whose fields
    /// `_parse_multipart` splits at `:\s*`.
    pub leads: Vec<String>,
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
        self.decoded().is_empty()
    }

    /// The body transfer-decoded as `Node::decode` decodes it (a leaf's; empty for a
    /// container).
    pub(crate) fn decoded(&self) -> Cow<'_, [u8]> {
        decoded_bytes(&self.body, &self.cte)
    }

    /// The charset as `Util::parse_content_type` reads it from the last Content-Type field
    /// (`/\bcharset\s*=\s*["']?(.*?)["']?(?:;|$)/i`), lower case: up to the first `;`, an
    /// opening and a closing quote dropped, inner white space kept.
    pub(crate) fn charset(&self) -> Option<String> {
        let ct = unfold(self.values("Content-Type").last()?).into_owned();
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        ct_param(&ct, |b, at| {
            (b[at..].starts_with(b"charset") && (at == 0 || !word(b[at - 1]))).then_some(at + 7)
        })
        .map(|c| c.to_ascii_lowercase())
    }

    /// The part's file name as `Message::_parse_normal` reads it: Content-Disposition's
    /// `/name=\s*"?([^";]+)"?/i` (so `filename=` too), else Content-Type's
    /// `/\b(?:file)?name\s*=\s*["']?(.*?)["']?(?:;|$)/i`.
    pub(crate) fn name(&self) -> Option<String> {
        if let Some(cd) = self.values("Content-Disposition").last() {
            let cd = unfold(cd);
            let lower = cd.to_ascii_lowercase();
            if let Some(i) = lower.find("name=") {
                let rest = cd[i + 5..].trim_start();
                let rest = rest.strip_prefix('"').unwrap_or(rest);
                let end = rest.find(['"', ';']).unwrap_or(rest.len());
                if end > 0 {
                    return Some(rest[..end].to_owned());
                }
            }
        }
        let ct = unfold(self.values("Content-Type").last()?).into_owned();
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        ct_param(&ct, |b, at| {
            if at > 0 && word(b[at - 1]) {
                None
            } else if b[at..].starts_with(b"filename") {
                Some(at + 8)
            } else if b[at..].starts_with(b"name") {
                Some(at + 4)
            } else {
                None
            }
        })
    }

    /// Whether SpamAssassin reads the part as HTML (`Node::effective_type`): text/html, or a
    /// name ending in `.html`, `.htm`, `.shtml` or `.shtm`.
    pub(crate) fn effective_html(&self) -> bool {
        self.ctype == "text/html"
            || self
                .name()
                .is_some_and(|n| crate::message::recover::html_name(&n))
    }

    /// The values of a header field as `raw_header` gives them: with the blanks before
    /// them where SpamAssassin keeps those (see `leads`).
    pub(crate) fn raw_values<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = Cow<'a, str>> + 'a {
        self.headers
            .iter()
            .enumerate()
            .filter(move |(_, (n, _))| n.eq_ignore_ascii_case(name))
            .map(
                |(k, (_, v))| match self.leads.get(k).filter(|l| !l.is_empty()) {
                    Some(lead) => Cow::Owned(format!("{lead}{v}")),
                    None => Cow::Borrowed(v.as_str()),
                },
            )
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
                match cut_blank_runs(body) {
                    Cow::Borrowed(body) => visit(head, body, Kind::Message, depth, &mut out),
                    Cow::Owned(body) => owned(visit(head, &body, Kind::Message, depth, &mut out)),
                }
            }
            Item::Part(Cow::Borrowed(h), Cow::Borrowed(b), d) => {
                visit(h, b, Kind::Part { digest: *d }, depth, &mut out)
            }
            Item::Message(t) => {
                let (head, body) = split_message_head(t);
                let body = cut_blank_runs(body);
                owned(visit(head, &body, Kind::Message, depth, &mut out))
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
    let (headers, leads) = parse_headers(head);
    let leads = if matches!(kind, Kind::Message) {
        leads
    } else {
        Vec::new()
    };
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
        leads,
        ctype,
        cte,
        container,
        body: match (container, kind) {
            (true, _) => String::new(),
            (false, Kind::Part { .. }) => split_long_lines(body),
            (false, Kind::Message) => body.to_owned(),
        },
        depth,
        flags,
    });
    children
}

/// A multipart's part body as `Message::_parse_multipart` stores it: every line longer than
/// 2,048 bytes (its line break counted) cut into lines of 2,048 bytes, each given a line break,
/// "to avoid a perl bug" with astronomically long lines. A one-line HTML part of 8 KB is so
/// four lines to SpamAssassin, a word at a cut two words (CSDMC2010 TRAIN_00947 with a file
/// attached: its rawbody pieces, and `__COMMENT_GIBBERISH`, moved). Cut at a character
/// boundary at or before 2,048 bytes where the text is not ASCII. A message's own body, not
/// in a multipart, is not cut.
fn split_long_lines(body: &str) -> String {
    const MAX: usize = super::sauri::MAX_LINE;
    if body.len() <= MAX {
        return body.to_owned();
    }
    let mut out = String::with_capacity(body.len() + body.len() / MAX + 1);
    for line in body.split_inclusive('\n') {
        let mut rest = line;
        while rest.len() > MAX {
            let mut cut = MAX;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push_str(&rest[..cut]);
            out.push('\n');
            rest = &rest[cut..];
        }
        out.push_str(rest);
    }
    out
}

/// Runs of blank lines (white space only) in a message's body as `Message::new` leaves them:
/// a run of more than [`MAX_BLANK_RUN`] lines keeps its first line and its last 19 (a run at
/// the very start of the body keeps its first two and its last 19).
pub(super) fn cut_blank_runs(body: &str) -> Cow<'_, str> {
    let lines: Vec<&str> = body.split_inclusive('\n').collect();
    let blank = |l: &str| l.chars().all(char::is_whitespace);
    let mut keep = vec![true; lines.len()];
    let mut any = false;
    let mut i = 0;
    while i < lines.len() {
        if !blank(lines[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && blank(lines[i]) {
            i += 1;
        }
        // The lines dropped follow the run's first (its first two at the body's start).
        let (kept_first, n) = if start == 0 {
            (2, i - 1)
        } else {
            (1, i - start)
        };
        if n > MAX_BLANK_RUN {
            let (first, drop) = (start + kept_first, n - MAX_BLANK_RUN);
            for k in keep.iter_mut().skip(first).take(drop) {
                *k = false;
            }
            any = true;
        }
    }
    if !any {
        return Cow::Borrowed(body);
    }
    Cow::Owned(
        lines
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(l, _)| *l)
            .collect(),
    )
}

/// A parameter as `parse_content_type`'s `KEY\s*=\s*["']?(.*?)["']?(?:;|$)/i` reads it:
/// `key_end` gives, for a byte position of the lower-cased value, where a key starting there
/// ends (`None` if none does); the leftmost key followed by `=` counts.
fn ct_param(value: &str, key_end: impl Fn(&[u8], usize) -> Option<usize>) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let b = lower.as_bytes();
    for at in 0..b.len() {
        let Some(end) = key_end(b, at) else {
            continue;
        };
        let rest = value[end..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let rest = rest.strip_prefix(['"', '\'']).unwrap_or(rest);
        let line = rest.split('\n').next().unwrap_or("");
        let val = line.split(';').next().unwrap_or("");
        let val = val.strip_suffix(['"', '\'']).unwrap_or(val);
        return Some(val.to_owned());
    }
    None
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

/// Base64 as SpamAssassin's `base64_decode` reads it. White space removed, a text of the
/// alphabet and `=` only, a multiple of 4 long, is decoded with a run of `=` before its end
/// read as `A`s (zero bits); any other text keeps only those characters, loses its final `=`
/// run and reads every other `=` as `/` (its translation to uuencode maps `=` on the last
/// value), and a lone character left at the end is dropped. Bits that do not fill a byte are
/// dropped in both.
fn base64_lenient(body: &str) -> Vec<u8> {
    let value = |b: u8| match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let text: Vec<u8> = body
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != 0x0b)
        .collect();
    let clean = text.len().is_multiple_of(4)
        && text.len() >= 2
        && text.iter().all(|&b| b == b'=' || value(b).is_some());
    let kept: Vec<u8> = if clean {
        text
    } else {
        text.into_iter()
            .filter(|&b| b == b'=' || value(b).is_some())
            .collect()
    };
    let body_len = kept.len() - kept.iter().rev().take_while(|&&b| b == b'=').count();
    let mut digits: Vec<u8> = kept[..body_len]
        .iter()
        .map(|&b| match value(b) {
            Some(v) => v,
            None if clean => 0,
            None => 63,
        })
        .collect();
    if !clean && digits.len() % 4 == 1 {
        digits.pop();
    }
    let mut out = Vec::with_capacity(digits.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in digits {
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
/// header ([`crate::headers::header_end`]): an empty line is in neither, a line that ends the
/// header otherwise starts the body.
fn split_message_head(text: &str) -> (&str, &str) {
    use crate::headers::HeaderEnd;
    match crate::headers::header_end(text.as_bytes(), 0) {
        HeaderEnd::Blank { at, body } => (&text[..at], &text[body..]),
        HeaderEnd::Cut(at) => (&text[..at], &text[at..]),
        HeaderEnd::End => (text, ""),
    }
}

/// Header fields: name and value (folded lines joined by their line breaks), and the blanks
/// each value's first line started with.
fn parse_headers(head: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut leads: Vec<String> = Vec::new();
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
                let text = v.trim_start();
                leads.push(v[..v.len() - text.len()].to_owned());
                out.push((n.to_owned(), text.to_owned()));
                kept = true;
            }
        }
    }
    (out, leads)
}

/// The media type of a Content-Type value as `Util::parse_content_type` reads it: leading
/// white space and everything from the first `;` dropped, then the text before the first `/`
/// and the run after it up to white space or another `/`, lower case; `text/plain` when that
/// is empty or a `text` type other than `text/html`, `text/calendar` and `text/x-vcard`.
fn media_type(ct: &str) -> String {
    let t = ct.trim_start().split(';').next().unwrap_or("");
    let t = match t.find('/') {
        Some(i) if i > 0 => {
            let sub = &t[i + 1..];
            let end = sub
                .find(|c: char| c == '/' || c.is_whitespace())
                .unwrap_or(sub.len());
            &t[..i + 1 + end]
        }
        _ => t,
    };
    let t = t.to_ascii_lowercase();
    let text = t
        .strip_prefix("text")
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'));
    if t.is_empty()
        || (text && !matches!(t.as_str(), "text/html" | "text/calendar" | "text/x-vcard"))
    {
        "text/plain".to_owned()
    } else {
        t
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
    crate::headers::is_field_line(line.as_bytes())
}

#[cfg(test)]
#[path = "mimeparts_tests.rs"]
mod tests;
