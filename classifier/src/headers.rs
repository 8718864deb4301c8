//! Byte-exact header surgery on the raw message: find the header block, strip incoming
//! `X-Spam-*` fields, add ours, optionally tag the Subject. Everything else — every body byte
//! and the line endings — is written back exactly as it came.

use sha2::{Digest as _, Sha256};

use crate::ledger::Digest;

/// Where the header block is and how its lines end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderBlock {
    /// Byte offset where the header fields start (after an mbox `From ` line, if any).
    pub start: usize,
    /// Byte offset just past the last header field (where new fields are inserted).
    pub end: usize,
    /// True when the header lines end in CRLF.
    pub crlf: bool,
}

/// One header line (with its continuation lines) inside the block.
struct Field {
    start: usize,
    end: usize,
    name_end: usize,
}

fn line_end(raw: &[u8], from: usize) -> usize {
    raw[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(raw.len(), |p| from + p + 1)
}

/// Where the colon of a header field line is: a name of printable ASCII, then (RFC 5322's
/// obsolete syntax, which mail readers still accept) optional spaces or tabs before the colon.
fn field_name_len(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let len = name
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    (len > 0 && name[..len].iter().all(|&b| (33..=126).contains(&b))).then_some(colon)
}

/// Incoming `X-Spam-*` fields (with their continuation lines) after the header block, up to
/// the first empty line: a line that is not a field ends the block for mailsift, but mail
/// readers that read the header up to the empty line would still find these there.
fn spam_fields_after_block(raw: &[u8], block: &HeaderBlock) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut pos = block.end;
    let mut in_spam_field = false;
    while pos < raw.len() {
        let end = line_end(raw, pos);
        let line = &raw[pos..end];
        if line == b"\n" || line == b"\r\n" {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if in_spam_field {
                if let Some(last) = out.last_mut() {
                    last.1 = end;
                }
            }
        } else {
            in_spam_field = field_name_len(line).is_some_and(|n| is_spam_header(&line[..n]));
            if in_spam_field {
                out.push((pos, end));
            }
        }
        pos = end;
    }
    out
}

/// Copies `raw[from..]` to `out` without the `cut` ranges (sorted, inside `raw[from..]`).
fn copy_without(out: &mut Vec<u8>, raw: &[u8], from: usize, cut: &[(usize, usize)]) {
    let mut pos = from;
    for &(start, end) in cut {
        out.extend_from_slice(&raw[pos..start]);
        pos = end;
    }
    out.extend_from_slice(&raw[pos..]);
}

/// The length of the mbox `From ` line `raw` starts with (its line break included), 0 without
/// one: SpamAssassin's test, `/^From\s+(?!:)/` (not the obsolete `From :` field syntax).
pub(crate) fn mbox_separator_len(raw: &[u8]) -> usize {
    let Some(rest) = raw.strip_prefix(b"From") else {
        return 0;
    };
    let blanks = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
    // `\s+` then not a colon: backtracking gives up one blank before a colon.
    let separator = blanks > 0 && (rest.get(blanks) != Some(&b':') || blanks > 1);
    if !separator {
        return 0;
    }
    raw.iter()
        .position(|&b| b == b'\n')
        .map_or(raw.len(), |i| i + 1)
}

/// Where SpamAssassin's `Message::new` ends a header section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderEnd {
    /// At an empty line: the header is the text before `at`, the body starts at `body`, after
    /// that line.
    Blank { at: usize, body: usize },
    /// At a line that starts with `--` (a MIME boundary) or the fourth line that is not a
    /// header field (the three before it are skipped): that line, at this offset, starts the
    /// body.
    Cut(usize),
    /// The input ended first.
    End,
}

impl HeaderEnd {
    /// Where the body starts in a text of `len` bytes.
    pub(crate) fn body_start(self, len: usize) -> usize {
        match self {
            HeaderEnd::Blank { body, .. } => body,
            HeaderEnd::Cut(at) => at,
            HeaderEnd::End => len,
        }
    }
}

/// Where SpamAssassin's `Message::new` ends the header section that starts at `from` in `raw`
/// (continuation lines, which start with a blank, belong to their field).
pub(crate) fn header_end(raw: &[u8], from: usize) -> HeaderEnd {
    let mut pos = from;
    let mut invalid = 0;
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..end];
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            if line.iter().all(|&b| b == b'\r' || b == b'\n') {
                return HeaderEnd::Blank { at: pos, body: end };
            }
            if line.starts_with(b"--") {
                return HeaderEnd::Cut(pos);
            }
            if !is_field_line(line) {
                invalid += 1;
                if invalid > 3 {
                    return HeaderEnd::Cut(pos);
                }
            }
        }
        pos = end;
    }
    HeaderEnd::End
}

/// Whether a line starts a header field as SpamAssassin's parser tells one:
/// `/^[\041-\071\073-\176]+[ \t]*:/`.
pub(crate) fn is_field_line(line: &[u8]) -> bool {
    let name = line
        .iter()
        .take_while(|&&b| (0x21..=0x7e).contains(&b) && b != b':')
        .count();
    let blanks = line[name..]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    name > 0 && line.get(name + blanks) == Some(&b':')
}

/// Where SpamAssassin's parser ends a message's header without an empty line before the
/// body (the mbox `From ` line aside): the offset of the line that starts the body
/// ([`HeaderEnd::Cut`]); `None` when the header ends at an empty line or with the input.
pub(crate) fn sa_header_cut(raw: &[u8]) -> Option<usize> {
    match header_end(raw, mbox_separator_len(raw)) {
        HeaderEnd::Cut(at) => Some(at),
        HeaderEnd::Blank { .. } | HeaderEnd::End => None,
    }
}

/// Finds the header block. `None` when the input does not start with a header field (or an
/// mbox `From ` line followed by one): such input gets no headers added.
pub fn header_block(raw: &[u8]) -> Option<HeaderBlock> {
    let mut start = 0;
    if raw.starts_with(b"From ") {
        start = line_end(raw, 0);
    }
    let first_end = line_end(raw, start);
    let first = &raw[start..first_end];
    field_name_len(first)?;
    let crlf = first.ends_with(b"\r\n");
    let mut pos = start;
    while pos < raw.len() {
        let end = line_end(raw, pos);
        let line = &raw[pos..end];
        let is_cont = matches!(line.first(), Some(b' ' | b'\t')) && pos > start;
        if !is_cont && field_name_len(line).is_none() {
            break;
        }
        pos = end;
    }
    Some(HeaderBlock {
        start,
        end: pos,
        crlf,
    })
}

fn fields(raw: &[u8], block: &HeaderBlock) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    let mut pos = block.start;
    while pos < block.end {
        let end = line_end(raw, pos).min(block.end);
        let line = &raw[pos..end];
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(last) = out.last_mut() {
                last.end = end;
            }
        } else {
            out.push(Field {
                start: pos,
                end,
                name_end: pos + field_name_len(line).unwrap_or(0),
            });
        }
        pos = end;
    }
    out
}

fn is_spam_header(name: &[u8]) -> bool {
    name.len() >= 7 && name[..7].eq_ignore_ascii_case(b"x-spam-")
}

/// The message with every `X-Spam-*` header field removed; all other bytes unchanged.
pub fn strip_spam_headers(raw: &[u8]) -> Vec<u8> {
    let Some(block) = header_block(raw) else {
        return raw.to_vec();
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..block.start]);
    for f in fields(raw, &block) {
        if !is_spam_header(&raw[f.start..f.name_end]) {
            out.extend_from_slice(&raw[f.start..f.end]);
        }
    }
    copy_without(
        &mut out,
        raw,
        block.end,
        &spam_fields_after_block(raw, &block),
    );
    out
}

/// Rewrites the message: strips incoming `X-Spam-*` fields, prefixes the Subject with
/// `subject_tag` if given, and appends `added` fields at the end of the header block.
/// Input that has no header block is returned unchanged.
pub fn rewrite(raw: &[u8], added: &[(String, String)], subject_tag: Option<&str>) -> Vec<u8> {
    let Some(block) = header_block(raw) else {
        return raw.to_vec();
    };
    let eol: &[u8] = if block.crlf { b"\r\n" } else { b"\n" };
    let mut out = Vec::with_capacity(raw.len() + 512);
    out.extend_from_slice(&raw[..block.start]);
    let mut tagged = false;
    for f in fields(raw, &block) {
        let name = &raw[f.start..f.name_end];
        if is_spam_header(name) {
            continue;
        }
        if let (Some(tag), false) = (subject_tag, tagged) {
            if name.eq_ignore_ascii_case(b"subject") {
                tagged = true;
                out.extend_from_slice(&raw[f.start..=f.name_end]);
                let value = &raw[f.name_end + 1..f.end];
                let trimmed = value
                    .iter()
                    .position(|&b| b != b' ' && b != b'\t')
                    .unwrap_or(value.len());
                out.push(b' ');
                out.extend_from_slice(tag.as_bytes());
                out.push(b' ');
                out.extend_from_slice(&value[trimmed..]);
                continue;
            }
        }
        out.extend_from_slice(&raw[f.start..f.end]);
    }
    // A last kept header line without a newline (headers-only input) needs one before ours.
    // Look at what was written, not at the input: when the unterminated last field was an
    // X-Spam-* field we dropped, a newline here would end the header block early and put our
    // fields in the body.
    if out.len() > block.start && !out.ends_with(b"\n") {
        out.extend_from_slice(eol);
    }
    for (name, value) in added {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        // Values may be folded with '\n' + tab: re-emit with this message's line ending.
        for (i, part) in value.split('\n').enumerate() {
            if i > 0 {
                out.extend_from_slice(eol);
            }
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(eol);
    }
    copy_without(
        &mut out,
        raw,
        block.end,
        &spam_fields_after_block(raw, &block),
    );
    out
}

/// The message digest that keys the ledger: SHA-256 of the message with `X-Spam-*` headers
/// removed and CRLF turned into LF, truncated to 16 bytes. So a message learned from a Maildir
/// and the same message piped in with CRLF endings, or after mailsift added its headers, are
/// the same message.
///
/// How the message reached mailsift does not change it either: a leading mbox `From ` line
/// (a message saved by an MDA, piped in as it is) is not part of the message, and trailing
/// empty lines (the blank line that separates messages in an mbox) are not counted: the
/// digest is taken over the message ending in exactly one newline. A message as a Maildir
/// holds it (no `From ` line, one final newline) keeps the digest earlier versions gave it,
/// so existing ledgers stay valid.
pub fn digest(raw: &[u8]) -> Digest {
    let envelope = if raw.starts_with(b"From ") {
        line_end(raw, 0)
    } else {
        0
    };
    let stripped = strip_spam_headers(&raw[envelope..]);
    let body_end = stripped
        .iter()
        .rposition(|&b| b != b'\n' && b != b'\r')
        .map_or(0, |p| p + 1);
    let mut hasher = Sha256::new();
    let mut rest: &[u8] = &stripped[..body_end];
    while let Some(p) = rest.windows(2).position(|w| w == b"\r\n") {
        hasher.update(&rest[..p]);
        hasher.update(b"\n");
        rest = &rest[p + 2..];
    }
    hasher.update(rest);
    if body_end > 0 {
        hasher.update(b"\n");
    }
    let full = hasher.finalize();
    let mut d = [0u8; 16];
    d.copy_from_slice(&full[..16]);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_and_adds_preserving_body_and_line_endings() {
        for eol in ["\n", "\r\n"] {
            let msg = format!(
                "From: a@b{eol}X-Spam-Status: No, forged{eol}\tcontinued{eol}Subject: hi{eol}X-SPAM-Flag: NO{eol}{eol}body{eol}line  \r\n\0"
            )
            .into_bytes();
            let mut msg = msg;
            msg.push(0xff);
            let out = rewrite(
                &msg,
                &[
                    ("X-Spam-Flag".into(), "YES".into()),
                    ("X-Spam-Status".into(), "Yes, score=9\n\ttests=A".into()),
                ],
                Some("[SPAM]"),
            );
            let expected = format!(
                "From: a@b{eol}Subject: [SPAM] hi{eol}X-Spam-Flag: YES{eol}X-Spam-Status: Yes, score=9{eol}\ttests=A{eol}{eol}body{eol}line  \r\n\0"
            );
            let mut expected = expected.into_bytes();
            expected.push(0xff);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expected)
            );
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn no_header_block_means_unchanged() {
        for raw in [
            &b""[..],
            b"\n\nbody",
            b"not a header line\nFrom: x\n\n",
            b" leading space: x\n",
        ] {
            assert_eq!(
                rewrite(raw, &[("X-Spam-Flag".into(), "NO".into())], None),
                raw
            );
        }
    }

    #[test]
    fn headers_only_and_mbox_from_line() {
        let out = rewrite(b"Subject: x", &[("X-A".into(), "1".into())], None);
        assert_eq!(out, b"Subject: x\nX-A: 1\n");
        let out = rewrite(
            b"From foo@bar Mon Jan 1\nSubject: x\n\nb",
            &[("X-A".into(), "1".into())],
            None,
        );
        assert_eq!(out, b"From foo@bar Mon Jan 1\nSubject: x\nX-A: 1\n\nb");
    }

    #[test]
    fn dropped_unterminated_last_field_does_not_end_the_header_block() {
        let added = [("X-A".to_owned(), "1".to_owned())];
        assert_eq!(rewrite(b"X-Spam-Flag: YES", &added, None), b"X-A: 1\n");
        assert_eq!(
            rewrite(b"Subject: x\nX-Spam-Flag: YES", &added, None),
            b"Subject: x\nX-A: 1\n"
        );
        assert_eq!(
            rewrite(b"Subject: x\r", &added, None),
            b"Subject: x\r\nX-A: 1\n"
        );
    }

    #[test]
    fn digest_ignores_how_the_message_was_delivered() {
        let plain = digest(b"Subject: x\n\nbody\n");
        for delivered in [
            &b"From a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\nbody\n"[..],
            b"Subject: x\n\nbody\n\n",
            b"From a@b Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nbody\r\n\r\n",
            b"Subject: x\n\nbody",
        ] {
            assert_eq!(
                digest(delivered),
                plain,
                "{:?}",
                String::from_utf8_lossy(delivered)
            );
        }
        assert_ne!(digest(b"Subject: x\n\nbody2\n"), plain);
        // The Maildir form keeps the digest of earlier versions (the ledger stays valid):
        // SHA-256 of the bytes themselves, truncated.
        let full = Sha256::digest(b"Subject: x\n\nbody\n");
        assert_eq!(plain[..], full[..16]);
    }

    #[test]
    fn spam_fields_are_stripped_in_every_form_a_reader_accepts() {
        let added = [("X-Spam-Flag".to_owned(), "YES".to_owned())];
        // Space before the colon (RFC 5322 obsolete syntax).
        let out = rewrite(
            b"Subject: x\nX-Spam-Flag : NO\nX-Spam-Score\t: -5\n\nb\n",
            &added,
            None,
        );
        assert_eq!(out, b"Subject: x\nX-Spam-Flag: YES\n\nb\n");
        // After a line that is not a field, up to the empty line.
        let out = rewrite(
            b"Subject: x\nnot a field\nX-Spam-Flag: NO\n\tmore\nX-Other: 1\n\nX-Spam-Flag: body\n",
            &added,
            None,
        );
        assert_eq!(
            out,
            b"Subject: x\nX-Spam-Flag: YES\nnot a field\nX-Other: 1\n\nX-Spam-Flag: body\n"
        );
        assert_eq!(
            strip_spam_headers(b"Subject: x\nnot a field\nX-Spam-Flag: NO\n\nb"),
            b"Subject: x\nnot a field\n\nb"
        );
    }

    #[test]
    fn digest_ignores_spam_headers_and_line_endings() {
        let a = digest(b"Subject: x\n\nbody\n");
        assert_eq!(a, digest(b"Subject: x\r\n\r\nbody\r\n"));
        assert_eq!(a, digest(b"Subject: x\nX-Spam-Flag: YES\n\nbody\n"));
        assert_ne!(a, digest(b"Subject: y\n\nbody\n"));
    }
}
