//! The MIME tree as SpamAssassin's plugins walk it: every part in parse order (the message's
//! own header first, then each part of a multipart, depth first, and the parts of attached
//! `message/rfc822` messages), each with its header fields and its body still encoded.
//!
//! A light walker over the raw text, separate from the parser that builds
//! [`MessageView`]: the MIMEHeader rules and the MIMEEval measurements need what that view
//! does not keep (every part's header as written, the encoded lines). Best effort and bounded:
//! malformed structure ends a part, never the walk.

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
}

impl MimePart {
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
    // (text of a part: header and body, depth); processed depth first in order.
    let mut stack: Vec<(&str, usize)> = vec![(view.raw.as_str(), 0)];
    while let Some((text, depth)) = stack.pop() {
        if out.len() >= MAX_PARTS {
            break;
        }
        let (head, body) = split_head(text);
        let headers = parse_headers(head);
        let ct = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let ctype = media_type(ct);
        let cte = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Transfer-Encoding"))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let mut children: Vec<&str> = Vec::new();
        let container = if depth < MAX_DEPTH && ctype.starts_with("multipart/") {
            if let Some(b) = param(ct, "boundary") {
                children = split_multipart(body, &b);
            }
            true
        } else if depth < MAX_DEPTH && ctype == "message/rfc822" && cte_is_identity(&cte) {
            children.push(body);
            true
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
        });
        for c in children.into_iter().rev() {
            stack.push((c, depth + 1));
        }
    }
    out
}

fn cte_is_identity(cte: &str) -> bool {
    matches!(cte, "" | "7bit" | "8bit" | "binary")
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

/// The parts of a multipart body: the texts between `--boundary` lines, up to `--boundary--`.
fn split_multipart<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
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
                    parts.push(&body[s..end.max(s)]);
                }
                if rest == "--" || parts.len() >= MAX_PARTS {
                    return parts;
                }
                start = Some(pos + line.len());
            }
        }
        pos += line.len();
    }
    // No closing delimiter: the last part runs to the end.
    if let Some(s) = start {
        parts.push(&body[s..]);
    }
    parts
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
