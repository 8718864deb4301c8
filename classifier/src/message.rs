//! The message view: everything the tokenizer and the rules look at, extracted once.
//!
//! [`MessageView::parse`] never fails and never panics: malformed input gives a best-effort view
//! (mail-parser is itself best effort), and every count and size is capped by [`Limits`].

use std::borrow::Cow;

use mail_parser::{Address, HeaderName, HeaderValue, MessageParser, MessagePart, PartType};

use crate::html::{self, HtmlSignals};
use crate::limits::Limits;
use crate::url::{self, Url};

pub(crate) mod charsets;
pub(crate) mod recover;
mod skim;
use recover::{Recovered, named_html, recover_base64};

/// One header field of the top-level message, in the order it appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// Field name as written (original case).
    pub name: String,
    /// The raw value, unfolded (line breaks of folding removed), lossily decoded as UTF-8.
    pub raw: String,
    /// True when the raw value's bytes were valid UTF-8, so `raw` holds exactly them (a
    /// U+FFFD in it is then the sender's, not a stand-in for an undecodable byte).
    pub raw_utf8: bool,
    /// The white space written between the colon and the value (usually one space), which
    /// `raw` leaves out: SpamAssassin's `Name:raw` and `ALL:raw` keep it.
    pub lead: Cow<'static, str>,
    /// The value with RFC 2047 encoded words decoded, as mail-parser understood it.
    pub decoded: String,
}

/// A mailbox from an address header (`From`, `To`, `Cc`, `Reply-To`, `Sender`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox {
    /// The display name, decoded, if any.
    pub name: Option<String>,
    /// The address (`local@domain`), if any; lower-cased.
    pub address: Option<String>,
}

impl Mailbox {
    /// The domain part of the address, if any.
    pub fn domain(&self) -> Option<&str> {
        self.address
            .as_deref()
            .and_then(|a| a.rsplit_once('@'))
            .map(|(_, d)| d)
    }
}

/// One `Received:` hop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivedHop {
    /// The host name the sending side claimed or was resolved to.
    pub from_host: Option<String>,
    /// The sending IP address.
    pub from_ip: Option<String>,
    /// The host that received the message.
    pub by_host: Option<String>,
}

/// How a part's content was transfer-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferEncoding {
    /// 7bit, 8bit, binary or none given.
    Plain,
    /// `quoted-printable`.
    QuotedPrintable,
    /// `base64`.
    Base64,
}

/// What kind of text a [`TextPart`] held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// `text/plain` (or any text other than HTML).
    Plain,
    /// `text/html`, reduced to its visible text.
    Html,
}

/// A decoded text part.
#[derive(Debug, Clone, PartialEq)]
pub struct TextPart {
    /// Plain or HTML.
    pub kind: TextKind,
    /// The visible text (for HTML: tags removed, entities decoded, invisible text dropped).
    pub text: String,
    /// The decoded content before HTML reduction (for `rawbody` rules).
    pub raw: String,
    /// The content as SpamAssassin decodes it where that differs from `raw` (an East Asian
    /// charset, `message/charsets.rs`; a base64 body with a footer, `message/recover.rs`);
    /// read through [`TextPart::sa_text`].
    pub sa_raw: Option<String>,
    /// Plain or HTML as SpamAssassin reads the part (differs from `kind` only with `sa_raw`).
    pub sa_kind: TextKind,
    /// The content as SpamAssassin's `rawbody` rules read it where that differs from `raw`
    /// (UTF-7: the text as written, `message/charsets.rs`); read through
    /// [`TextPart::rawbody`].
    pub sa_rawbody: Option<String>,
    /// The declared transfer encoding.
    pub encoding: TransferEncoding,
    /// The declared charset, lower-cased, if any.
    pub charset: Option<String>,
    /// HTML signals (all zero for plain text).
    pub html: HtmlSignals,
}

/// A non-text part: an attachment or inline binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name from Content-Disposition or Content-Type, if any.
    pub name: Option<String>,
    /// `type/subtype`, lower-cased.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
}

/// The parsed, decoded and capped view of one message.
#[derive(Debug, Clone, Default)]
pub struct MessageView {
    /// Top-level header fields, in order (at most `Limits::max_headers`).
    pub headers: Vec<HeaderField>,
    /// Decoded Subject, if present.
    pub subject: Option<String>,
    /// From mailboxes.
    pub from: Vec<Mailbox>,
    /// To mailboxes.
    pub to: Vec<Mailbox>,
    /// Cc mailboxes.
    pub cc: Vec<Mailbox>,
    /// Reply-To mailboxes.
    pub reply_to: Vec<Mailbox>,
    /// The Message-ID, without angle brackets, if present and parseable.
    pub message_id: Option<String>,
    /// The Date header as seconds since the Unix epoch (UTC), if present and parseable.
    pub date: Option<i64>,
    /// Received hops, newest first.
    pub received: Vec<ReceivedHop>,
    /// Decoded text parts, in order.
    pub text_parts: Vec<TextPart>,
    /// Non-text parts.
    pub attachments: Vec<Attachment>,
    /// URLs found in text (plain) and in HTML links and images.
    pub urls: Vec<Url>,
    /// Number of MIME parts seen (including containers).
    pub part_count: usize,
    /// Deepest MIME nesting seen.
    pub mime_depth: usize,
    /// The raw message (at most `Limits::max_scan_bytes`: over it, with the bodies of non-text
    /// parts cut, see `message/skim.rs`), lossily decoded, for `full` rules.
    pub raw: String,
    /// `raw` with every byte that is not UTF-8 read as one DEL (0x7f), when there is such a
    /// byte: SpamAssassin's `full` rules read the message's bytes, and the linear engine counts
    /// a text's bytes, so this text has one byte for each of the message's (lossy decoding
    /// makes three of each byte, or of a run that starts like a UTF-8 sequence, as Latin-1 `é`
    /// then `\x92` does; a U+FFFD written in the message as UTF-8 is three bytes to both).
    pub raw_bytewise: Option<String>,
    /// True when the message was larger than the scan limit and only part of it was looked at
    /// (every header and text part up to the limit, the start of each other part).
    pub truncated: bool,
    /// True when mail-parser could not find any structure (no header/body separation etc.).
    pub unparsed: bool,
    /// True when some part had a decoding problem (bad base64/QP, unknown charset).
    pub encoding_problem: bool,
    /// The mbox `From ` line the input began with, as mail-parser reads it (a field named up
    /// to its first colon): no header field, so not in `headers` (SpamAssassin's parser takes
    /// it off); the tokenizer reads it first, as before (corpora/EXPERIMENTS.md, E42).
    pub mbox_line: Option<HeaderField>,
    /// Fields mail-parser reads after where SpamAssassin's parser ends the header (at a MIME
    /// boundary line, `headers::sa_header_cut`): not in `headers`; tokenized after them.
    pub after_header: Vec<HeaderField>,
    /// The envelope recipients the MTA gave with the message (`classify --recipient`, a
    /// milter's RCPT TO), lower-cased; never read from the message itself (see
    /// [`crate::Engine::analyze_for`]). Empty after [`MessageView::parse`].
    pub envelope_to: Vec<String>,
}

impl MessageView {
    /// Parses raw message bytes into a view. Never fails, never panics on any input.
    pub fn parse(raw: &[u8], limits: &Limits) -> MessageView {
        // Over the limit: every header, text part and the structure, non-text bodies cut
        // (see `skim`).
        let skimmed;
        let scanned = if raw.len() > limits.max_scan_bytes {
            skimmed = skim::skim(raw, limits.max_scan_bytes, limits.max_mime_depth);
            &skimmed[..]
        } else {
            raw
        };
        let mut view = MessageView {
            truncated: scanned.len() < raw.len(),
            raw: String::from_utf8_lossy(scanned).into_owned(),
            raw_bytewise: bytewise(scanned),
            ..MessageView::default()
        };
        let parser = parser();
        // mail-parser is best effort and should not panic, but it is third-party code handed
        // hostile bytes (its debug assertions do fire on some malformed nesting, see the
        // tests): a panic inside it counts as "no structure found", not as a crash.
        let parsed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse(scanned)));
        let Some(message) = parsed.ok().flatten() else {
            view.unparsed = true;
            // Best effort: treat the whole input as a plain body.
            view.text_parts.push(TextPart {
                kind: TextKind::Plain,
                text: view.raw.clone(),
                raw: view.raw.clone(),
                sa_raw: None,
                sa_kind: TextKind::Plain,
                sa_rawbody: None,
                encoding: TransferEncoding::Plain,
                charset: None,
                html: HtmlSignals::default(),
            });
            view.urls = url::find_in_text(&view.raw, limits.max_urls);
            return view;
        };
        let root = message.root_part();
        let mut headers = collect_headers(scanned, root, limits);
        // An mbox `From ` line: mail-parser reads it as the first field, at offset 0.
        if crate::headers::mbox_separator_len(scanned) > 0
            && headers.first().is_some_and(|(at, _)| *at == 0)
        {
            view.mbox_line = Some(headers.remove(0).1);
        }
        // Fields mail-parser reads after where SpamAssassin ends the header (a boundary line
        // before any empty line): the first part's, not the message's.
        if let Some(cut) = crate::headers::sa_header_cut(scanned) {
            let at = headers.iter().take_while(|(start, _)| *start < cut).count();
            view.after_header = headers.split_off(at).into_iter().map(|(_, h)| h).collect();
        }
        view.headers = headers.into_iter().map(|(_, h)| h).collect();
        view.subject = message.subject().map(str::to_owned);
        view.from = mailboxes(message.from());
        view.to = mailboxes(message.to());
        view.cc = mailboxes(message.cc());
        view.reply_to = mailboxes(message.reply_to());
        view.message_id = message.message_id().map(str::to_owned);
        view.date = date_of(scanned, root);
        view.received = message
            .received_all()
            .take(limits.max_headers)
            .map(|r| ReceivedHop {
                from_host: r.from.as_ref().map(|h| h.to_string().to_ascii_lowercase()),
                from_ip: r.from_ip.map(|ip| ip.to_string()),
                by_host: r.by.as_ref().map(|h| h.to_string().to_ascii_lowercase()),
            })
            .collect();
        walk_parts(&message, &mut view, limits);
        drop_flat(message);
        view
    }

    /// All values of a header field (case-insensitive name), decoded, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.decoded.as_str())
    }

    /// The first value of a header field, decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.decoded.as_str())
    }

    /// True if the header field is present (even if empty).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// The visible body text in SpamAssassin's `body` form: the Subject, then every text part's
    /// visible text, parts separated by a blank line.
    pub fn body_text(&self) -> String {
        let mut out = String::new();
        if let Some(s) = &self.subject {
            out.push_str(s);
            out.push('\n');
        }
        for part in &self.text_parts {
            out.push_str(&part.text);
            out.push_str("\n\n");
        }
        out
    }

    /// The decoded bodies before HTML reduction (SpamAssassin's `rawbody`).
    pub fn raw_body(&self) -> String {
        let mut out = String::new();
        for part in &self.text_parts {
            out.push_str(part.rawbody());
            out.push('\n');
        }
        out
    }

    /// Sum of HTML signals over all HTML parts.
    pub fn html_signals(&self) -> HtmlSignals {
        let mut total = HtmlSignals::default();
        for part in self.text_parts.iter().filter(|p| p.kind == TextKind::Html) {
            total.add(&part.html);
        }
        total
    }
}

/// The parser configuration, built once.
///
/// It is mail-parser's built-in choice of parser per field, with one change: `Date` and
/// `Resent-Date` are read raw and parsed by [`date_of`]. mail-parser 0.11's date parser reads two
/// bytes past a one- or two-letter zone (`4:12:06 PM`, `10:00:00 Z`, `UT`) without looking at
/// them; with LF line ends those bytes are the line end and the next field's first byte, so the
/// next field (a Message-Id, or the blank line that ends the header) became part of the date,
/// and the same message scored differently with LF and CRLF. The raw reader finds the field's
/// end right; parsing the unfolded value afterwards leaves nothing to read past.
///
/// mail-parser uses its built-in table only while the map is empty, so the map lists every
/// field that table names, with the same parser; any other field is read raw, as there.
fn parser() -> &'static MessageParser {
    static PARSER: std::sync::OnceLock<MessageParser> = std::sync::OnceLock::new();
    PARSER.get_or_init(|| {
        use HeaderName as H;
        let mut p = MessageParser::new().default_header_raw();
        for name in [
            H::Subject,
            H::Comments,
            H::ContentDescription,
            H::ContentLocation,
            H::ContentTransferEncoding,
        ] {
            p = p.header_text(name);
        }
        for name in [
            H::From,
            H::To,
            H::Cc,
            H::Bcc,
            H::ReplyTo,
            H::Sender,
            H::ResentTo,
            H::ResentFrom,
            H::ResentBcc,
            H::ResentCc,
            H::ResentSender,
            H::ListArchive,
            H::ListHelp,
            H::ListId,
            H::ListOwner,
            H::ListPost,
            H::ListSubscribe,
            H::ListUnsubscribe,
        ] {
            p = p.header_address(name);
        }
        for name in [
            H::MessageId,
            H::References,
            H::InReplyTo,
            H::ReturnPath,
            H::ContentId,
            H::ResentMessageId,
        ] {
            p = p.header_id(name);
        }
        p.header_comma_separated(H::Keywords)
            .header_comma_separated(H::ContentLanguage)
            .header_received(H::Received)
            .header_content_type(H::ContentType)
            .header_content_type(H::ContentDisposition)
            .header_raw(H::MimeVersion)
            .header_raw(H::Date)
            .header_raw(H::ResentDate)
    })
}

/// The last `Date` field's time (mail-parser's choice of field), parsed from its unfolded
/// value, as seconds since the Unix epoch.
fn date_of(raw: &[u8], root: &MessagePart<'_>) -> Option<i64> {
    let h = root
        .headers
        .iter()
        .rev()
        .find(|h| h.name == HeaderName::Date)?;
    let start = (h.offset_start as usize).min(raw.len());
    let end = (h.offset_end as usize).clamp(start, raw.len());
    let value = unfold(&String::from_utf8_lossy(&raw[start..end]));
    mail_parser::DateTime::parse_rfc822(&value).map(|d| d.to_timestamp())
}

/// The root's header fields, each with the offset its name starts at.
fn collect_headers(
    raw: &[u8],
    root: &MessagePart<'_>,
    limits: &Limits,
) -> Vec<(usize, HeaderField)> {
    // The white space the message begins with, measured once (see `name` below).
    let indent = raw.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    root.headers
        .iter()
        // Incoming X-Spam-* fields are untrusted (a sender can set them): never evidence.
        .filter(|h| {
            !h.name
                .as_str()
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("x-spam-"))
        })
        .take(limits.max_headers)
        .map(|h| {
            let start = (h.offset_start as usize).min(raw.len());
            let end = (h.offset_end as usize).clamp(start, raw.len());
            let end = end.min(start.saturating_add(limits.max_header_bytes));
            let raw_utf8 = std::str::from_utf8(&raw[start..end]).is_ok();
            let lead = written_lead(&raw[start..end]);
            let raw_value = unfold(&String::from_utf8_lossy(&raw[start..end]));
            let decoded = match &h.value {
                // Read raw (see `parser`): the unfolded value, as when they were parsed as dates.
                _ if matches!(h.name, HeaderName::Date | HeaderName::ResentDate) => {
                    raw_value.clone()
                }
                // A field read raw keeps its folding: as LF, whatever the message's line ends.
                HeaderValue::Text(t) => cap(t, limits.max_header_bytes).replace("\r\n", "\n"),
                HeaderValue::TextList(list) => list.join(", "),
                HeaderValue::Address(addr) => format_address(addr),
                _ => raw_value.clone(),
            };
            // The name as written (mail-parser spells known fields its own way).
            let fstart = (h.offset_field as usize).min(start);
            let written = std::str::from_utf8(&raw[fstart..start])
                .ok()
                .and_then(|s| s.split(':').next())
                .map(str::trim)
                .filter(|n| n.eq_ignore_ascii_case(h.name.as_str()));
            let name = cap(written.unwrap_or(h.name.as_str()), 256);
            // A message whose first line begins with white space: to SpamAssassin's parser a
            // continuation with no field before it, so the field's name keeps that white
            // space (` From`) and no rule that names the field finds it (enmime's
            // bad-header-start test message). mail-parser skips it.
            let name = match fstart > 0 && fstart <= indent {
                true => format!("{}{name}", String::from_utf8_lossy(&raw[..fstart])),
                false => name.into_owned(),
            };
            let field = HeaderField {
                name,
                raw: raw_value,
                raw_utf8,
                lead,
                decoded,
            };
            (fstart, field)
        })
        .collect()
}

/// The spaces and tabs before a header value, as written: borrowed for the usual one space
/// or none, so most fields allocate nothing for it.
fn written_lead(value: &[u8]) -> Cow<'static, str> {
    let n = value
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    match &value[..n] {
        b"" => Cow::Borrowed(""),
        b" " => Cow::Borrowed(" "),
        b"\t" => Cow::Borrowed("\t"),
        lead => Cow::Owned(String::from_utf8_lossy(lead).into_owned()),
    }
}

/// Removes the line breaks of header folding and trims the value.
fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, line) in value.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if i > 0 && !line.is_empty() {
            out.push(' ');
        }
        out.push_str(line.trim_start_matches([' ', '\t']));
    }
    out.trim().to_owned()
}

fn cap(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Borrowed(&s[..end])
}

fn format_address(addr: &Address<'_>) -> String {
    let mut out = String::new();
    for a in addr.iter() {
        if !out.is_empty() {
            out.push_str(", ");
        }
        match (&a.name, &a.address) {
            (Some(n), Some(ad)) => {
                out.push('"');
                out.push_str(n);
                out.push_str("\" <");
                out.push_str(ad);
                out.push('>');
            }
            (None, Some(ad)) => out.push_str(ad),
            (Some(n), None) => out.push_str(n),
            (None, None) => {}
        }
    }
    out
}

fn mailboxes(addr: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(addr) = addr else {
        return Vec::new();
    };
    addr.iter()
        .take(1000)
        .map(|a| Mailbox {
            name: a
                .name
                .as_ref()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            address: a
                .address
                .as_ref()
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty()),
        })
        .collect()
}

fn transfer_encoding(part: &MessagePart<'_>) -> TransferEncoding {
    let value = part
        .headers
        .iter()
        .find(|h| h.name == HeaderName::ContentTransferEncoding)
        .and_then(|h| h.value.as_text());
    match value.map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "base64" => TransferEncoding::Base64,
        Some(v) if v == "quoted-printable" => TransferEncoding::QuotedPrintable,
        _ => TransferEncoding::Plain,
    }
}

fn content_type_of(part: &MessagePart<'_>) -> (String, Option<String>) {
    use mail_parser::MimeHeaders;
    match part.content_type() {
        Some(ct) => {
            let mut t = ct.ctype().to_ascii_lowercase();
            if let Some(sub) = ct.subtype() {
                t.push('/');
                t.push_str(&sub.to_ascii_lowercase());
            }
            (t, ct.attribute("charset").map(|c| c.to_ascii_lowercase()))
        }
        None => ("text/plain".to_owned(), None),
    }
}

/// Drops a parsed message without recursion.
///
/// mail-parser nests each `message/rfc822` part as a whole `Message` inside its parent, and the
/// compiler-generated drop recurses once per level: 8,000 nested messages (240 KB of input) are
/// enough to overflow a 2 MB thread stack and abort the process, which no panic guard can catch.
/// Taking the nested messages out and dropping them one by one from a heap stack makes the
/// depth irrelevant.
fn drop_flat(message: mail_parser::Message<'_>) {
    let mut pending = vec![message];
    while let Some(mut msg) = pending.pop() {
        for part in &mut msg.parts {
            if matches!(part.body, PartType::Message(_)) {
                let body = std::mem::replace(&mut part.body, PartType::Text(Cow::Borrowed("")));
                if let PartType::Message(inner) = body {
                    pending.push(inner);
                }
            }
        }
        // `msg` now holds no nested message: dropping it does not recurse.
    }
}

/// `bytes` read with each byte that is not UTF-8 as one DEL, when there is such a byte (see
/// [`MessageView::raw_bytewise`]); `None` for UTF-8.
fn bytewise(bytes: &[u8]) -> Option<String> {
    if std::str::from_utf8(bytes).is_ok() {
        return None;
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('\x7f');
        }
    }
    Some(out)
}

/// Adds a decoded text part (HTML reduced to its visible text) and its URLs to the view.
fn push_text(
    view: &mut MessageView,
    part: &MessagePart<'_>,
    raw: String,
    sa: Option<(String, bool)>,
    is_html: bool,
    limits: &Limits,
) {
    let (sa_raw, sa_kind) = match sa {
        Some((t, html)) => (
            Some(t),
            if html {
                TextKind::Html
            } else {
                TextKind::Plain
            },
        ),
        None if is_html => (None, TextKind::Html),
        None => (None, TextKind::Plain),
    };
    // Line ends as SpamAssassin's decoded parts have them: LF (it turns CRLF into LF in
    // base64 and quoted-printable text, and in the whole message when its lines end in CRLF).
    // HTML lengths (html_range 'length', html_image_only) count the characters of this text.
    let raw = lf_line_ends(raw);
    let encoding = transfer_encoding(part);
    let (_, charset) = content_type_of(part);
    if is_html {
        let reduced = html::reduce(&raw, limits.max_urls);
        for u in reduced.urls.iter().cloned() {
            if view.urls.len() < limits.max_urls {
                view.urls.push(u);
            }
        }
        view.text_parts.push(TextPart {
            kind: TextKind::Html,
            text: reduced.text,
            raw,
            sa_raw,
            sa_kind,
            sa_rawbody: None,
            encoding,
            charset,
            html: reduced.signals,
        });
    } else {
        let room = limits.max_urls.saturating_sub(view.urls.len());
        view.urls.extend(url::find_in_text(&raw, room));
        view.text_parts.push(TextPart {
            kind: TextKind::Plain,
            text: raw.clone(),
            raw,
            sa_raw,
            sa_kind,
            sa_rawbody: None,
            encoding,
            charset,
            html: HtmlSignals::default(),
        });
    }
}

/// A text with its CRLF line ends turned into LF, as SpamAssassin's decoded parts have them.
pub(crate) fn lf_line_ends(s: String) -> String {
    if s.contains("\r\n") {
        s.replace("\r\n", "\n")
    } else {
        s
    }
}

/// Walks the MIME tree iteratively (no recursion, so deep nesting cannot overflow the stack).
fn walk_parts(message: &mail_parser::Message<'_>, view: &mut MessageView, limits: &Limits) {
    use mail_parser::MimeHeaders;
    // (message, part index, depth)
    let mut stack: Vec<(&mail_parser::Message<'_>, usize, usize)> = vec![(message, 0, 0)];
    let mut text_bytes = 0usize;
    while let Some((msg, idx, depth)) = stack.pop() {
        if view.part_count >= limits.max_parts {
            break;
        }
        let Some(part) = msg.parts.get(idx) else {
            continue;
        };
        view.part_count += 1;
        view.mime_depth = view.mime_depth.max(depth);
        let recovered = recover_base64(part);
        view.encoding_problem |= part.is_encoding_problem && recovered.is_none();
        if let Some(r) = recovered {
            match r {
                Recovered::Text { .. } if text_bytes >= limits.max_text_bytes => {}
                Recovered::Text { html, text } => {
                    let (ctype, _) = content_type_of(part);
                    if !ctype.starts_with("text/") {
                        // Named *.html (recover.rs): an attachment as well.
                        view.attachments.push(Attachment {
                            name: part.attachment_name().map(str::to_owned),
                            content_type: ctype,
                            size: text.len(),
                        });
                    }
                    let budget = limits.max_text_bytes - text_bytes;
                    let raw = cap(&text, budget).into_owned();
                    text_bytes += raw.len();
                    push_text(view, part, raw, None, html, limits);
                }
                Recovered::Binary(size) => view.attachments.push(Attachment {
                    name: part.attachment_name().map(str::to_owned),
                    content_type: content_type_of(part).0,
                    size,
                }),
            }
            continue;
        }
        match &part.body {
            PartType::Multipart(children) => {
                if depth < limits.max_mime_depth {
                    // Push in reverse so parts are visited in document order.
                    for &child in children.iter().rev() {
                        stack.push((msg, child as usize, depth + 1));
                    }
                }
            }
            PartType::Message(inner) => {
                if depth < limits.max_mime_depth {
                    stack.push((inner, 0, depth + 1));
                }
            }
            PartType::Text(text) | PartType::Html(text) => {
                let is_html = matches!(part.body, PartType::Html(_)) || named_html(part);
                let (ctype, charset) = content_type_of(part);
                // mail-parser gives a part it could not decode as plain text, whatever its type.
                let sa_html = is_html || ctype == "text/html";
                let is_attachment = part
                    .content_disposition()
                    .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
                if is_attachment && !ctype.starts_with("text/") {
                    view.attachments.push(Attachment {
                        name: part.attachment_name().map(str::to_owned),
                        content_type: ctype,
                        size: text.len(),
                    });
                    if !named_html(part) {
                        continue;
                    }
                }
                if text_bytes >= limits.max_text_bytes {
                    continue;
                }
                let budget = limits.max_text_bytes - text_bytes;
                let raw = cap(text, budget).into_owned();
                text_bytes += raw.len();
                let sa = charsets::sa_part_text(&msg.raw_message, part, charset.as_deref(), text)
                    .map(|t| (t, sa_html))
                    .or_else(|| recover::sa_base64_footer(part))
                    .map(|(t, html)| (cap(&t, budget).into_owned(), html));
                push_text(view, part, raw, sa, is_html, limits);
                let rawbody = charsets::sa_rawbody(&msg.raw_message, part, charset.as_deref());
                if let (Some(t), Some(p)) = (rawbody, view.text_parts.last_mut()) {
                    p.sa_rawbody = Some(cap(&t, budget).into_owned());
                }
            }
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                let (ctype, charset) = content_type_of(part);
                // A multipart without a boundary, which mail-parser leaves as bytes:
                // SpamAssassin reads it as text/plain (`Message::_parse_normal`), not as an
                // attachment. A part named *.html is an attachment read as HTML text too.
                let plain = ctype.starts_with("multipart/");
                if !plain {
                    view.attachments.push(Attachment {
                        name: part.attachment_name().map(str::to_owned),
                        content_type: ctype,
                        size: bytes.len(),
                    });
                }
                if (plain || named_html(part)) && text_bytes < limits.max_text_bytes {
                    let text = charsets::decode_charset(charset.as_deref(), bytes);
                    let budget = limits.max_text_bytes - text_bytes;
                    let raw = cap(&text, budget).into_owned();
                    text_bytes += raw.len();
                    let sa =
                        charsets::sa_part_text(&msg.raw_message, part, charset.as_deref(), &text)
                            .map(|t| (cap(&t, budget).into_owned(), !plain));
                    push_text(view, part, raw, sa, !plain, limits);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
