//! Parts mail-parser leaves undecoded, decoded here (see [`recover_base64`]).

use mail_parser::{MessagePart, PartType};

use super::{TransferEncoding, content_type_of, transfer_encoding};

/// A base64 part mail-parser left undecoded, decoded here.
pub(super) enum Recovered {
    /// A text part: its text (in its declared charset), and whether it is HTML.
    Text { html: bool, text: String },
    /// Anything else: its decoded size.
    Binary(usize),
}

/// mail-parser 0.11 decodes a base64 part only up to its closing boundary: when the multipart
/// never closes (the message ends inside the part, as some bulk mailers write it), it gives up,
/// flags an encoding problem and hands back the part's raw base64 text as plain text, so Bayes
/// and the rules saw base64 letters instead of the words (43 SpamAssassin-corpus messages,
/// all spam; E26). Such a part is decoded here when its content is base64 and nothing else.
pub(super) fn recover_base64(part: &MessagePart<'_>) -> Option<Recovered> {
    let text = undecoded_base64(part)?;
    let decoded = mail_parser::decoders::base64::base64_decode(text.as_bytes())?;
    if decoded.is_empty() {
        return None;
    }
    let (ctype, charset) = content_type_of(part);
    let Some(html) = text_html(part, &ctype) else {
        return Some(Recovered::Binary(decoded.len()));
    };
    Some(Recovered::Text {
        html,
        text: super::charsets::decode_charset(charset.as_deref(), &decoded),
    })
}

/// The text of a base64 part mail-parser could not decode (it flags an encoding problem and
/// hands the part back as written, as plain text), trimmed.
fn undecoded_base64<'a>(part: &'a MessagePart<'_>) -> Option<&'a str> {
    if !part.is_encoding_problem || transfer_encoding(part) != TransferEncoding::Base64 {
        return None;
    }
    match &part.body {
        PartType::Text(text) => Some(text.trim()),
        _ => None,
    }
}

/// Whether a part of type `ctype` is read as HTML text (`Some(true)`), plain text
/// (`Some(false)`), or is no text part (`None`): `text/*`, or named `*.html` ([`named_html`]).
fn text_html(part: &MessagePart<'_>, ctype: &str) -> Option<bool> {
    let html = ctype == "text/html" || named_html(part);
    (html || ctype.starts_with("text/")).then_some(html)
}

/// SpamAssassin's reading of a base64 text part that mail-parser could not decode because a
/// list server appended text to it as written (a footer): SpamAssassin drops every character
/// outside the base64 alphabet and decodes the rest, so its rules see the decoded part (the
/// footer's letters decode to noise at the end). Here the base64 lines are decoded and the
/// footer kept as written after them; the text and whether it is HTML. Only the rules of
/// loaded SpamAssassin files read it: for Bayes and the built-in rules, decoding it too lost
/// two cells by 0.0001 (E39 in corpora/EXPERIMENTS.md), so they read the part as before.
pub(super) fn sa_base64_footer(part: &MessagePart<'_>) -> Option<(String, bool)> {
    let text = undecoded_base64(part)?;
    let (ctype, charset) = content_type_of(part);
    let html = text_html(part, &ctype)?;
    let (decoded, footer) = base64_then_footer(text)?;
    let charset = charset.as_deref();
    let text = match charset.and_then(|c| Some((c, super::charsets::east_asian(c)?))) {
        Some((label, enc)) => super::charsets::decode(label, enc, &decoded),
        None => super::charsets::decode_charset(charset, &decoded),
    };
    let text = format!("{}\n{footer}\n", text.trim_end_matches(['\r', '\n']));
    Some((text.replace("\r\n", "\n"), html))
}

/// A base64 body with text appended as written, as a mailing list's footer is appended to a
/// single-part message (spam-2/01309 of the SpamAssassin corpus: base64 HTML, then
/// "Sitescooper-talk mailing list ..."): the leading base64 lines (up to the first line that is
/// empty or not base64) decoded, and the text after them. `None` when they do not decode.
fn base64_then_footer(body: &str) -> Option<(Vec<u8>, &str)> {
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    let mut end = 0;
    for line in body.split_inclusive('\n') {
        let l = line.trim();
        if l.is_empty() || !l.bytes().all(is_b64) {
            break;
        }
        end += line.len();
    }
    let (b64, rest) = body.split_at(end);
    if b64.is_empty() || rest.is_empty() {
        return None;
    }
    let decoded = mail_parser::decoders::base64::base64_decode(b64.trim().as_bytes())?;
    Some((decoded, rest.trim()))
}

/// A part whose file name ends in `.html`, `.htm` or `.shtml` (Content-Disposition's, else
/// Content-Type's): whatever its type, it is read as an HTML text part too (it also stays an
/// attachment), as SpamAssassin's `effective_type` reads it (its bug 6260): its rendered text
/// is body text, and the HTML evals see its tags.
pub(super) fn named_html(part: &MessagePart<'_>) -> bool {
    use mail_parser::MimeHeaders;
    part.attachment_name()
        .is_some_and(|n| html_name(n.trim_end()))
}

/// Whether a file name ends in `.html`, `.htm`, `.shtml` or `.shtm`, any case (`effective_type`'s
/// `/\.s?html?$/i`).
pub(crate) fn html_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [".html", ".htm", ".shtml", ".shtm"]
        .iter()
        .any(|e| n.ends_with(e))
}

#[cfg(test)]
mod tests {
    use crate::limits::Limits;
    use crate::message::{MessageView, TextKind, TransferEncoding};

    fn view(s: &str) -> MessageView {
        MessageView::parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn an_attachment_named_html_is_read_as_html_text_too() {
        // application/octet-stream, base64 of "<html><body>Hello <b>there</b></body></html>".
        let v = view(
            "From: a@example.com\nSubject: x\nMIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\
             Content-Type: text/plain\n\nSee the file.\n--b\n\
             Content-Type: application/octet-stream; name=\"offer.html\"\n\
             Content-Transfer-Encoding: base64\n\
             Content-Disposition: attachment; filename=\"offer.html\"\n\n\
             PGh0bWw+PGJvZHk+SGVsbG8gPGI+dGhlcmU8L2I+PC9ib2R5PjwvaHRtbD4=\n--b--\n",
        );
        assert_eq!(v.text_parts.len(), 2);
        assert_eq!(v.text_parts[1].kind, TextKind::Html);
        assert_eq!(v.text_parts[1].text.trim(), "Hello there");
        assert_eq!(v.attachments.len(), 1);
        assert_eq!(v.attachments[0].content_type, "application/octet-stream");
        // Another name stays an attachment only.
        let w = view(
            "From: a@example.com\nSubject: x\nMIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\
             Content-Type: text/plain\n\nSee the file.\n--b\n\
             Content-Type: application/octet-stream; name=\"offer.bin\"\n\
             Content-Transfer-Encoding: base64\n\n\
             PGh0bWw+PGJvZHk+SGVsbG8gPGI+dGhlcmU8L2I+PC9ib2R5PjwvaHRtbD4=\n--b--\n",
        );
        assert_eq!((w.text_parts.len(), w.attachments.len()), (1, 1));
    }

    #[test]
    fn an_attachment_named_html_in_a_multipart_that_never_closes_is_html_text_too() {
        // As spam-1/00219 of the SpamAssassin corpus ends: the base64 of "</script></body>",
        // no closing boundary.
        let v = view(
            "From: a@example.com\nSubject: x\nMIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\
             Content-Type: text/plain\n\nSee the file.\n--b\n\
             Content-Type: application/octet-stream; name=\"w.html\"\n\
             Content-Transfer-Encoding: base64\n\
             Content-Disposition: attachment; filename=\"w.html\"\n\n\
             PC9zY3JpcHQ+PC9ib2R5Pg==\n",
        );
        assert_eq!(v.text_parts.len(), 2);
        assert_eq!(v.text_parts[1].kind, TextKind::Html);
        assert_eq!(v.text_parts[1].raw, "</script></body>");
        assert_eq!(v.attachments.len(), 1);
    }

    #[test]
    fn a_base64_body_with_a_list_footer_appended() {
        // As spam-2/01309 of the SpamAssassin corpus: a single-part base64 HTML message, then
        // a mailing list's footer as written. base64 of "<html><body>Buy <b>now</b></body></html>".
        let b64 = "PGh0bWw+PGJvZHk+QnV5IDxiPm5vdzwvYj48L2JvZHk+\nPC9odG1sPg==";
        let v = view(&format!(
            "From: a@example.com\nSubject: x\nMIME-Version: 1.0\nContent-Type: text/html\n\
             Content-Transfer-Encoding: base64\n\n{b64}\n\n\n\
             -------------------------------------------------------\n\
             _______________________________________________\n\
             Some-talk mailing list\nhttps://lists.example.net/lists/listinfo/some-talk\n"
        ));
        assert_eq!(v.text_parts.len(), 1);
        let p = &v.text_parts[0];
        // SpamAssassin's rules read the decoded HTML (and the footer after it) ...
        assert!(p.sa_html());
        assert!(
            p.sa_text()
                .starts_with("<html><body>Buy <b>now</b></body></html>\n---"),
            "{:?}",
            p.sa_text()
        );
        assert!(p.sa_text().contains("Some-talk mailing list\n"));
        // ... Bayes and the built-in rules the part as mail-parser left it (E39).
        assert_eq!(p.kind, TextKind::Plain);
        assert!(p.raw.starts_with(b64), "{:?}", p.raw);
        assert!(v.encoding_problem);
        // Text first, base64 later: not this case.
        let w = view(
            "Subject: x\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n\
             Hello there, friend\nSGVsbG8=\n",
        );
        assert!(w.encoding_problem);
        assert_eq!(w.text_parts[0].sa_raw, None);
        assert!(w.body_text().contains("Hello there, friend"));
    }

    #[test]
    fn decodes_base64_parts_of_a_multipart_that_never_closes() {
        // mail-parser 0.11 leaves these undecoded (E26): the message ends inside the part, with
        // or without the empty line some bulk mailers put before the base64 lines, LF or CRLF.
        for gap in ["", "\n"] {
            for crlf in [false, true] {
                let raw = format!(
                    "Subject: t\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
                     --b\nContent-Type: text/plain; charset=iso-8859-1\n\
                     Content-Transfer-Encoding: base64\n\n{gap}SGVsbG8gd29ybGQsIGNhZuk=\n\n"
                );
                let raw = if crlf { raw.replace('\n', "\r\n") } else { raw };
                let v = view(&raw);
                assert_eq!(v.text_parts.len(), 1, "{raw:?}");
                assert_eq!(v.text_parts[0].text, "Hello world, café", "{raw:?}");
                assert_eq!(v.text_parts[0].encoding, TransferEncoding::Base64);
                assert!(!v.encoding_problem, "{raw:?}");
            }
        }
        // An HTML part stays HTML; a binary part becomes an attachment, not text.
        let v = view(
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\
             Content-Transfer-Encoding: base64\n\nPGI+SGk8L2I+IDxhIGhyZWY9Imh0dHA6Ly94LmV4YW1wbGUvIj55PC9hPg==\n\n\
             --b\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n",
        );
        assert_eq!(v.text_parts.len(), 1);
        assert_eq!(v.text_parts[0].kind, TextKind::Html);
        assert_eq!(v.text_parts[0].text.trim(), "Hi y");
        assert!(v.urls.iter().any(|u| u.host == "x.example"));
        assert_eq!(v.attachments.len(), 1);
        assert_eq!(v.attachments[0].content_type, "image/gif");
        // Not base64 after all: left as it was, flagged.
        let v = view(
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\
             Content-Transfer-Encoding: base64\n\nthis is not base64 at all!\n",
        );
        assert!(v.encoding_problem);
        assert!(v.body_text().contains("not base64"));
    }
}
