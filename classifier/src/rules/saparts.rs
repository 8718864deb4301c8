//! The text parts the rules of loaded SpamAssassin files read: their body, rawbody and HTML
//! rules and evals.
//!
//! [`MessageView`]'s text parts come from mail-parser's MIME tree, and Bayes and the built-in
//! rules read them. SpamAssassin's own tree ([`super::mimeparts`]) differs from mail-parser's
//! only on broken structure (a boundary never closed, a part without a header, a nested
//! message inside such a multipart). Where the two trees give the same text leaves, those
//! rules read mail-parser's parts, which carry the charset readings of `message/charsets.rs`
//! and `message/recover.rs`. Where they do not, they read the leaves of SpamAssassin's tree,
//! decoded here, so that a message whose structure only SpamAssassin's parser reads one way
//! is rendered as SpamAssassin renders it.

use std::borrow::Cow;

use super::mimeparts::MimePart;
use crate::message::{MessageView, TransferEncoding, charsets, lf_line_ends};

/// One text part as SpamAssassin's rules read it.
pub(crate) struct SaPart<'a> {
    /// Read as HTML ([`MimePart::effective_html`]).
    pub html: bool,
    /// The content as SpamAssassin decodes it, before rendering, line ends LF.
    pub text: Cow<'a, str>,
    /// The text its `rawbody` rules read.
    pub rawbody: Cow<'a, str>,
    /// Rendered into the body text (`Node::rendered`: text/plain and text/html only).
    pub rendered: bool,
    /// Read by `rawbody` rules (`get_decoded_body_text_array` leaves out text/calendar parts,
    /// "usually an attachment and not displayed").
    pub in_rawbody: bool,
    /// Each character of `rawbody` stands for one byte of SpamAssassin's, which reads the
    /// part's bytes undecoded: the text was decoded from a single-byte charset.
    pub byte_chars: bool,
    /// `Node::_normalize` decoded the part, so its rendered text is a Perl character string
    /// ([`normalize_decodes`]); else a byte string (see `Env::latin1_body`).
    pub decoded: bool,
}

/// The text parts of a message as SpamAssassin's rules read them.
pub(crate) struct SaParts<'a> {
    pub parts: Vec<SaPart<'a>>,
    /// True when SpamAssassin's raw body is the view's: the parts are the view's (both trees
    /// agree) and each is read by `rawbody` rules.
    pub rawbody_from_view: bool,
}

impl<'a> SaParts<'a> {
    /// The parts `rawbody` rules read, in order.
    pub(crate) fn rawbody_parts(&self) -> impl Iterator<Item = &SaPart<'a>> {
        self.parts.iter().filter(|p| p.in_rawbody)
    }
}

/// The text parts: the view's when both trees give the same text leaves, else the leaves of
/// SpamAssassin's tree, `tree`.
pub(crate) fn sa_parts<'a>(view: &'a MessageView, tree: &[MimePart]) -> SaParts<'a> {
    let decoded: Vec<Leaf> = tree
        .iter()
        .filter(|p| text_leaf(p))
        .map(|p| Leaf::of(p, p.effective_html()))
        .collect();
    // The view's parts as they read after `Message::new`'s cut of long blank-line runs, where
    // that can be told from the part alone; `None` where it cannot.
    let whole_body = tree.len() == 1;
    let cut: Vec<Option<(Cow<'a, str>, Cow<'a, str>)>> = view
        .text_parts
        .iter()
        .map(|p| {
            Some((
                cut_as_read(p.sa_text(), p.encoding, whole_body)?,
                cut_as_read(p.rawbody(), p.encoding, whole_body)?,
            ))
        })
        .collect();
    let agree = !view.unparsed
        && decoded.len() == view.text_parts.len()
        && decoded
            .iter()
            .zip(&view.text_parts)
            .zip(&cut)
            .all(|((l, p), c)| {
                c.as_ref().is_some_and(|(text, raw)| {
                    l.html == p.sa_html() && (same_ascii(&l.text, text) || same_ascii(&l.text, raw))
                })
            });
    if agree {
        // Which parts are rendered and read raw is SpamAssassin's reading of the part's type.
        let parts: Vec<SaPart<'a>> = view
            .text_parts
            .iter()
            .zip(&decoded)
            .zip(cut)
            .map(|((p, l), c)| {
                let (text, rawbody) = c.unwrap_or_default();
                SaPart {
                    decoded: normalize_decodes(&text, p.charset.as_deref()),
                    html: p.sa_html(),
                    text,
                    rawbody,
                    rendered: l.rendered,
                    in_rawbody: l.in_rawbody,
                    // mail-parser decodes every byte of a single-byte charset to a character;
                    // `sa_rawbody`, where it is set, is one character per byte.
                    byte_chars: charsets::single_byte(p.charset.as_deref())
                        || p.sa_rawbody.is_some(),
                }
            })
            .collect();
        // The view's raw body serves only where every part is in it and reads uncut.
        return SaParts {
            rawbody_from_view: parts
                .iter()
                .all(|p| p.in_rawbody && matches!(p.rawbody, Cow::Borrowed(_))),
            parts,
        };
    }
    let parts = decoded
        .into_iter()
        .map(|l| SaPart {
            decoded: normalize_decodes(&l.text, l.charset.as_deref()),
            html: l.html,
            rendered: l.rendered,
            in_rawbody: l.in_rawbody,
            byte_chars: l.byte_chars,
            rawbody: Cow::Owned(l.rawbody.unwrap_or_else(|| l.text.clone())),
            text: Cow::Owned(l.text),
        })
        .collect();
    SaParts {
        parts,
        rawbody_from_view: false,
    }
}

/// Whether a part of SpamAssassin's tree is one of [`SaParts::parts`]: a leaf of a `text/*`
/// type, or one SpamAssassin reads as HTML.
pub(crate) fn text_leaf(p: &MimePart) -> bool {
    !p.container && (p.effective_html() || p.ctype.starts_with("text/"))
}

/// A view part's text (decoded, or its raw body) with the long runs of blank lines cut as
/// `Message::new` cuts them in the message's body before any MIME parsing
/// (`mimeparts::cut_blank_runs`), where the part alone tells how: a base64 part's decoded text
/// is not cut (its encoded lines were); a quoted-printable or unencoded part's lines are its
/// body's, so they are cut, as a run at the body's start when the part is the whole body;
/// `None` for a part inside a multipart that starts with 20 or more blank lines (that run
/// began at the part's header, and is cut otherwise). This is what lets an 8-bit part in a single-byte charset with a
/// long blank run be read in its charset: SpamAssassin's own tree here holds the message as
/// read into text, its non-UTF-8 bytes already replaced.
fn cut_as_read(text: &str, enc: TransferEncoding, whole_body: bool) -> Option<Cow<'_, str>> {
    if enc == TransferEncoding::Base64 {
        return Some(Cow::Borrowed(text));
    }
    if !whole_body {
        // A leading run of t blank lines is a run of t + 1 in the multipart's body: cut there
        // from 20 lines, and here (as a body's start) from 22.
        let lead = text
            .split_inclusive('\n')
            .take_while(|l| l.chars().all(char::is_whitespace))
            .count();
        if lead >= super::mimeparts::MAX_BLANK_RUN {
            return None;
        }
    }
    Some(super::mimeparts::cut_blank_runs(text))
}

/// Whether `Node::_normalize` decodes a part whose text (decoded here) is `text`, declared
/// `charset`, to a character string: a text with 8-bit characters always is; an all-ASCII one
/// is returned as its bytes where the charset is undeclared, US-ASCII or one of its
/// ASCII-compatible list (ISO-8859-*, Windows-*, UTF-8, KOI8-*, EUC-*, Big5, GBK, GB18030) or
/// one Perl has no decoder for, and decoded otherwise (ISO-2022-JP, UTF-7, UTF-16, Shift_JIS).
fn normalize_decodes(text: &str, charset: Option<&str>) -> bool {
    if !text.is_ascii() {
        return true;
    }
    let Some(label) = charset.map(|c| c.trim().to_ascii_lowercase()) else {
        return false;
    };
    let l = label.as_str();
    let listed = matches!(l, "us-ascii" | "ascii" | "iso646-us" | "big5" | "gbk")
        || ["ansi_x3.4-19", "ansi x3.4-19", "ansix3.4-19"]
            .iter()
            .any(|p| l.starts_with(p))
        || [
            "iso-8859", "iso8859", "iso 8859", "windows-", "koi8-", "euc-", "gb18030", "gb-18030",
            "gb 18030",
        ]
        .iter()
        .any(|p| l.starts_with(p))
        || charsets::is_utf8_label(l);
    !listed
        && (charsets::is_utf7(l)
            || encoding_rs::Encoding::for_label_no_replacement(l.as_bytes()).is_some())
}

/// A text leaf of SpamAssassin's tree, decoded.
struct Leaf {
    byte_chars: bool,
    charset: Option<String>,
    html: bool,
    text: String,
    /// The rawbody where it differs from `text` (UTF-7: the text as written; an East Asian
    /// charset: the bytes, one character each).
    rawbody: Option<String>,
    rendered: bool,
    in_rawbody: bool,
}

impl Leaf {
    fn of(p: &MimePart, html: bool) -> Leaf {
        let bytes = p.decoded();
        let charset = p.charset().map(|c| c.trim().to_owned());
        // The bytes of a part sent without a transfer encoding are the message's as read
        // into text (bytes that were not UTF-8 already replaced): their non-ASCII characters
        // stay as they are. Other bytes that are valid UTF-8 are read so whatever the charset
        // (SpamAssassin's `_normalize` tries UTF-8 first); any others are decoded in their
        // charset, as the view's parts are (`message/charsets.rs`).
        let mut byte_chars = false;
        let mut rawbody = None;
        let text = match (charset.as_deref(), std::str::from_utf8(&bytes)) {
            (_, Ok(t)) if !bytes.is_ascii() => t.to_owned(),
            (Some(c), _) if let Some(enc) = charsets::east_asian(c) => {
                // Not UTF-8 (above): the rawbody is the bytes, one character each.
                byte_chars = true;
                rawbody = Some(charsets::bytewise(None, &bytes));
                charsets::decode(c, enc, &bytes)
            }
            (None | Some("us-ascii" | "utf-8" | ""), Ok(t)) => t.to_owned(),
            _ => {
                byte_chars = charsets::single_byte(charset.as_deref());
                let parsed = charsets::decode_charset(charset.as_deref(), &bytes);
                charsets::undecodable(charset.as_deref(), &bytes, &parsed).unwrap_or(parsed)
            }
        };
        let text = lf_line_ends(text);
        if charset.as_deref().is_some_and(charsets::is_utf7) {
            rawbody = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
        let rawbody = rawbody.map(lf_line_ends);
        Leaf {
            byte_chars,
            charset,
            html,
            rendered: html || p.ctype == "text/plain",
            in_rawbody: p.ctype != "text/calendar",
            text,
            rawbody,
        }
    }
}

/// Whether two readings of one part hold the same ASCII text, carriage returns and trailing
/// white space aside: readings that differ only in how a charset's bytes were decoded agree,
/// a part that one tree ends elsewhere does not.
fn same_ascii(a: &str, b: &str) -> bool {
    let key = |s: &str| {
        s.bytes()
            .filter(|&c| c.is_ascii() && c != b'\r')
            .collect::<Vec<u8>>()
    };
    let (a, b) = (key(a), key(b));
    a.trim_ascii_end() == b.trim_ascii_end()
}

#[cfg(test)]
mod tests {
    use super::{TransferEncoding, cut_as_read, sa_parts};
    use crate::limits::Limits;
    use crate::message::MessageView;
    use std::borrow::Cow;

    fn view(raw: &[u8]) -> MessageView {
        MessageView::parse(raw, &Limits::default())
    }

    #[test]
    fn the_views_parts_where_both_trees_agree_whatever_the_charset() {
        // Latin-1 in 8 bits: mail-parser decodes it, SpamAssassin's tree here holds the bytes
        // as read; the ASCII text is the same, so the view's reading is kept.
        let raw = b"Content-Type: multipart/alternative; boundary=B\n\n--B\n\
                    Content-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9 au lait\n--B\n\
                    Content-Type: text/html\n\n<p>caf&eacute;</p>\n--B--\n";
        let v = view(raw);
        let parts = sa_parts(&v, &super::super::mimeparts::walk(&v));
        assert!(parts.rawbody_from_view);
        assert_eq!(parts.parts.len(), 2);
        assert_eq!(parts.parts[0].text, "café au lait");
        assert!(!parts.parts[0].html && parts.parts[1].html);
    }

    #[test]
    fn an_8_bit_part_with_a_long_blank_run_is_read_in_its_charset() {
        // koi8-r, unencoded, 30 blank lines (spam pads so): SpamAssassin's tree cuts the run
        // to 20 and holds the text as read (its koi8-r bytes replaced); the view's part, cut
        // the same way, holds the Cyrillic (the rspamd-style FUZZY_XPILL text `х на каж`).
        let mut raw = b"Subject: s\nContent-Type: text/plain; charset=koi8-r\n\
                        Content-Transfer-Encoding: 8bit\n\nhello\n"
            .to_vec();
        raw.extend_from_slice(&b"\n".repeat(30));
        raw.extend_from_slice(b"\xc8 \xce\xc1 \xcb\xc1\xd6\n");
        let v = view(&raw);
        let parts = sa_parts(&v, &super::super::mimeparts::walk(&v));
        // The view's raw body is not cut, so SpamAssassin's is joined from the parts.
        assert!(!parts.rawbody_from_view);
        assert_eq!(parts.parts[0].rawbody.matches('\n').count(), 1 + 20 + 1);
        let text = &parts.parts[0].text;
        assert!(text.ends_with("х на каж\n"), "{text:?}");
        assert_eq!(
            text.matches('\n').count(),
            1 + 20 + 1,
            "the run cut to 20 lines"
        );
        // Inside a multipart, a part that starts with such a run is left to SpamAssassin's tree.
        assert!(cut_as_read(&"\n".repeat(25), TransferEncoding::Plain, false).is_none());
        assert!(matches!(
            cut_as_read("\n\nx\n", TransferEncoding::Plain, false),
            Some(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn spamassassins_leaves_where_a_delimiter_line_goes_on() {
        // `--B--</body></html>` is no delimiter to SpamAssassin (`/^--B(--)?\s*$/`): the HTML
        // part runs on to the end and holds that line (spam-1/00038 of the SpamAssassin
        // corpus, HTML_TAG_BALANCE_BODY).
        let raw = b"Content-Type: multipart/alternative; boundary=B\n\n--B\n\
                    Content-Type: text/plain\n\nhello\n--B\n\
                    Content-Type: text/html\n\n<html><body><p>hi</p>\n--B--</body></html>\n";
        let v = view(raw);
        let parts = sa_parts(&v, &super::super::mimeparts::walk(&v));
        assert!(!parts.rawbody_from_view);
        assert_eq!(parts.parts.len(), 2);
        assert_eq!(parts.parts[0].text, "hello");
        assert!(parts.parts[1].html && parts.parts[1].rendered);
        assert_eq!(
            parts.parts[1].text,
            "<html><body><p>hi</p>\n--B--</body></html>\n"
        );
        assert_eq!(parts.parts[1].rawbody, parts.parts[1].text);
    }

    #[test]
    fn leaves_are_transfer_and_charset_decoded_and_only_plain_and_html_rendered() {
        // The closing line is no delimiter to SpamAssassin, so the trees differ (as above).
        let raw = b"Content-Type: multipart/mixed\n\tboundary=\"B\"\n\n--B\n\
                    Content-Type: text/html; charset=utf-8\n\
                    Content-Transfer-Encoding: base64\n\nPHA+Y2Fmw6k8L3A+\n--B\n\
                    Content-Type: text/calendar\n\nBEGIN:VCALENDAR\n--B\n\
                    Content-Type: text/plain; charset=utf-7\n\na+AOk-b\n--B-- end\n";
        let v = view(raw);
        let parts = sa_parts(&v, &super::super::mimeparts::walk(&v));
        assert!(!parts.rawbody_from_view);
        let got: Vec<(bool, bool, &str, &str)> = parts
            .parts
            .iter()
            .map(|p| (p.html, p.rendered, p.text.as_ref(), p.rawbody.as_ref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (true, true, "<p>café</p>", "<p>café</p>"),
                (false, false, "BEGIN:VCALENDAR", "BEGIN:VCALENDAR"),
                (false, true, "aéb\n--B-- end\n", "a+AOk-b\n--B-- end\n"),
            ]
        );
    }
}
