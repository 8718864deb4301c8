//! The part of a message over the scan limit that is scanned.
//!
//! A message larger than `Limits::max_scan_bytes` was scanned as its first `max_scan_bytes`
//! bytes. Mail that size is almost all attachments, and where a text part came after them (a
//! reply above a forwarded file, a generator that writes attachments first) the view had no
//! text at all: rules that look for text found none (`EMPTY_MESSAGE`, `MIME_NO_TEXT` hit where
//! SpamAssassin, which reads the whole message, saw the text). Now the scanned bytes are the
//! message with the bodies of its non-text leaves cut to their first few KB: every header, every
//! text part and the MIME structure are kept, in order, up to the limit. The message itself
//! passes through unchanged whatever is scanned.

/// Bytes kept of a non-text leaf's body (whole lines): enough for the start of an image or
/// archive (the evals that read image sizes look at the first bytes) and for a base64 body's
/// line layout.
const ATTACHMENT_HEAD: usize = 4096;

/// `raw` (longer than `limit`) as it is scanned: at most `limit` bytes.
pub(crate) fn skim(raw: &[u8], limit: usize, max_depth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit.min(raw.len()));
    entity(raw, &mut out, limit, max_depth);
    out.truncate(limit);
    out
}

/// Appends the scanned form of one entity (a header block and its body) to `out`.
fn entity(ent: &[u8], out: &mut Vec<u8>, limit: usize, depth: usize) {
    let Some((head_end, body_start)) = header_end(ent) else {
        // No body: all header (or no structure at all).
        push(out, ent, limit);
        return;
    };
    let header = &ent[..head_end];
    push(out, &ent[..body_start], limit);
    let body = &ent[body_start..];
    let ct = header_value(header, b"content-type");
    let media = ct.as_deref().map(media_type).unwrap_or_default();
    if depth > 0 && media.starts_with("multipart/") {
        if let Some(b) = ct.as_deref().and_then(boundary) {
            multipart(body, &b, out, limit, depth - 1);
            return;
        }
    }
    if depth > 0 && media == "message/rfc822" {
        entity(body, out, limit, depth - 1);
        return;
    }
    if keeps_body(&media, header) {
        push(out, body, limit);
    } else {
        let mut cut = body.len().min(ATTACHMENT_HEAD);
        if cut < body.len() {
            // Whole lines; the last line break is the delimiter's, or none.
            cut = body[..cut].iter().rposition(|&c| c == b'\n').unwrap_or(0);
        }
        push(out, &body[..cut], limit);
    }
}

/// A multipart body: the preamble, each part between delimiter lines skimmed, the delimiters
/// and the epilogue kept.
fn multipart(body: &[u8], boundary: &[u8], out: &mut Vec<u8>, limit: usize, depth: usize) {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    // Delimiter lines, each (start of the line, end of the line with its line break).
    let mut lines = Vec::new();
    let finder = memchr::memmem::Finder::new(&delim);
    for at in finder.find_iter(body) {
        if at == 0 || body[at - 1] == b'\n' {
            let end = memchr::memchr(b'\n', &body[at..]).map_or(body.len(), |i| at + i + 1);
            // `--boundary`, `--boundary--`, then only white space (`/^--\Q$b\E(?:--)?\s*$/`):
            // not a longer boundary that starts with this one.
            let rest = &body[at + delim.len()..end];
            let rest = rest.strip_prefix(b"--").unwrap_or(rest);
            if rest.iter().all(u8::is_ascii_whitespace) {
                lines.push((at, end));
            }
        }
    }
    let mut from = 0;
    for (k, &(start, end)) in lines.iter().enumerate() {
        if out.len() >= limit {
            return;
        }
        if k == 0 {
            push(out, &body[..start], limit);
        } else {
            // The line break before a delimiter belongs to the delimiter (RFC 2046).
            let part = &body[from..start];
            let (part, brk) = match part.strip_suffix(b"\r\n") {
                Some(p) => (p, &b"\r\n"[..]),
                None => match part.strip_suffix(b"\n") {
                    Some(p) => (p, &b"\n"[..]),
                    None => (part, &b""[..]),
                },
            };
            entity(part, out, limit, depth);
            push(out, brk, limit);
        }
        push(out, &body[start..end], limit);
        from = end;
    }
    push(out, &body[from..], limit);
}

/// Whether a leaf's body is kept whole: text (as SpamAssassin reads a type: none given is
/// text/plain; a part named `*.htm`, `*.html` or `*.shtml` is HTML), a message, or a
/// multipart without a usable boundary.
fn keeps_body(media: &str, header: &[u8]) -> bool {
    if media.is_empty()
        || media.starts_with("text/")
        || media.starts_with("message/")
        || media.starts_with("multipart/")
    {
        return true;
    }
    let named_html = |field: &[u8], param: &str| {
        header_value(header, field)
            .and_then(|v| parameter(&v, param))
            .is_some_and(|n| {
                let n = n.to_ascii_lowercase();
                n.ends_with(".htm") || n.ends_with(".html") || n.ends_with(".shtml")
            })
    };
    named_html(b"content-type", "name") || named_html(b"content-disposition", "filename")
}

fn push(out: &mut Vec<u8>, bytes: &[u8], limit: usize) {
    let room = limit.saturating_sub(out.len());
    out.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// Where the header block ends (before its blank line) and the body starts.
fn header_end(ent: &[u8]) -> Option<(usize, usize)> {
    if ent.starts_with(b"\n") {
        return Some((0, 1));
    }
    if ent.starts_with(b"\r\n") {
        return Some((0, 2));
    }
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'\n', &ent[at..]) {
        let nl = at + i;
        let rest = &ent[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some((nl + 1, nl + 2));
        }
        if rest.starts_with(b"\r\n") {
            return Some((nl + 1, nl + 3));
        }
        at = nl + 1;
    }
    None
}

/// The first value of header field `name` (lower case) in a header block, unfolded.
fn header_value(header: &[u8], name: &[u8]) -> Option<String> {
    let mut lines = header.split(|&c| c == b'\n').peekable();
    while let Some(line) = lines.next() {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        if !line[..colon].trim_ascii().eq_ignore_ascii_case(name) {
            continue;
        }
        let mut v = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
        while let Some(next) =
            lines.next_if(|l| l.first().is_some_and(|c| *c == b' ' || *c == b'\t'))
        {
            v.push(' ');
            v.push_str(&String::from_utf8_lossy(next));
        }
        return Some(v);
    }
    None
}

/// The media type of a Content-Type value, lower case (`text/plain` of
/// `Text/Plain; charset=x`).
fn media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A multipart's boundary parameter, as bytes.
fn boundary(ct: &str) -> Option<Vec<u8>> {
    parameter(ct, "boundary")
        .filter(|b| !b.is_empty())
        .map(String::into_bytes)
}

/// A parameter of a structured header value (`name="x"` or `name=x`), unquoted.
fn parameter(value: &str, name: &str) -> Option<String> {
    for piece in value.split(';').skip(1) {
        let Some((k, v)) = piece.split_once('=') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case(name) {
            continue;
        }
        let v = v.trim();
        let v = match v.strip_prefix('"') {
            Some(q) => q.split('"').next().unwrap_or(""),
            None => v.split_whitespace().next().unwrap_or(""),
        };
        return Some(v.trim_end_matches('\r').to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64_part(name: &str, bytes: usize) -> String {
        let line = "QUJDRA".repeat(12) + "QUJD\n";
        format!(
            "--X\nContent-Type: application/octet-stream; name=\"{name}\"\n\
             Content-Transfer-Encoding: base64\n\n{}",
            line.repeat(bytes / line.len() + 1)
        )
    }

    fn message(parts: &[String]) -> String {
        let mut m = String::from(
            "From: a@example.org\nSubject: s\nContent-Type: multipart/mixed; boundary=\"X\"\n\npreamble\n",
        );
        for p in parts {
            m.push_str(p);
        }
        m.push_str("--X--\nepilogue\n");
        m
    }

    #[test]
    fn a_text_part_after_the_attachments_is_kept() {
        let text = "--X\nContent-Type: text/plain\n\nthe words after the files\n".to_owned();
        let m = message(&[b64_part("a.zip", 300_000), b64_part("b.exe", 300_000), text]);
        let s = String::from_utf8(skim(m.as_bytes(), 100_000, 20)).expect("ASCII");
        assert!(s.len() < 20_000, "attachments cut: {}", s.len());
        assert!(s.starts_with("From: a@example.org\n"));
        assert!(s.contains("the words after the files\n--X--\nepilogue\n"));
        assert_eq!(s.matches("Content-Transfer-Encoding: base64").count(), 2);
        // Whole base64 lines only.
        for body in s.split("base64\n\n").skip(1) {
            let body = body.split("--X").next().unwrap_or_default();
            assert!(body.trim_end().lines().all(|l| l.len() == 76), "{body:?}");
        }
    }

    #[test]
    fn the_limit_holds_and_text_is_kept_whole_up_to_it() {
        let long = format!(
            "--X\nContent-Type: text/html\n\n{}\n",
            "<p>word</p>".repeat(50_000)
        );
        let m = message(&[long.clone(), b64_part("c.bin", 100_000)]);
        let s = skim(m.as_bytes(), 200_000, 20);
        assert_eq!(s.len(), 200_000);
        assert!(m.as_bytes().starts_with(&s), "text first: the prefix");
        // A part named *.html is text to SpamAssassin, whatever its type says.
        let m = message(&[b64_part("page.html", 50_000)]);
        assert_eq!(skim(m.as_bytes(), 1 << 20, 20), m.as_bytes());
    }

    #[test]
    fn nested_messages_and_multiparts_are_skimmed_and_odd_input_is_cut() {
        let inner = format!(
            "--X\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: multipart/mixed; \
             boundary=Y\n\n--Y\n{}--Y\nContent-Type: text/plain\n\ninner text\n--Y--\n",
            b64_part("d.bin", 50_000).trim_start_matches("--X\n")
        );
        let m = message(&[inner]);
        let s = String::from_utf8(skim(m.as_bytes(), 30_000, 20)).expect("ASCII");
        assert!(s.len() < 10_000);
        assert!(s.contains("inner text\n--Y--\n--X--\n"));
        // No header end, no boundary: the prefix.
        let flat = "x".repeat(5_000);
        assert_eq!(skim(flat.as_bytes(), 100, 20), &flat.as_bytes()[..100]);
        let no_boundary = format!("Content-Type: multipart/mixed\n\n{}", "y".repeat(5_000));
        assert_eq!(skim(no_boundary.as_bytes(), 100, 20).len(), 100);
        // A boundary that starts another is not that one's delimiter.
        let m = format!(
            "Content-Type: multipart/mixed; boundary=A\n\n--A\nContent-Type: multipart/mixed; \
             boundary=AB\n\n--AB\n{}--AB\nContent-Type: text/plain\n\nkept\n--AB--\n--A--\n",
            b64_part("f.bin", 50_000).trim_start_matches("--X\n")
        );
        let s = String::from_utf8(skim(m.as_bytes(), 30_000, 20)).expect("ASCII");
        assert!(
            s.len() < 10_000 && s.ends_with("kept\n--AB--\n--A--\n"),
            "{}",
            s.len()
        );
        // Depth 0: structure is not followed, the body is kept as it is.
        let m = message(&[b64_part("e.bin", 50_000)]);
        assert_eq!(skim(m.as_bytes(), 10_000, 0), &m.as_bytes()[..10_000]);
    }
}
