//! Tests of the message view.

use super::*;

fn view(s: &str) -> MessageView {
    MessageView::parse(s.as_bytes(), &Limits::default())
}

#[test]
fn decoded_text_parts_end_lines_in_lf_as_spamassassin_decodes_them() {
    // base64 of "<p>a</p>\r\n<p>b</p>\r\n": 16 characters once CRLF is LF.
    let v = view(
        "Subject: x\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n\
                  PHA+YTwvcD4NCjxwPmI8L3A+DQo=\n",
    );
    assert_eq!(v.text_parts[0].raw, "<p>a</p>\n<p>b</p>\n");
}

#[test]
fn parses_headers_and_addresses() {
    let v = view(
        "From: \"Alice Example\" <Alice@Example.COM>\nTo: bob@example.org, carol@example.net\n\
         Subject: =?UTF-8?B?SGVsbG8gd29ybGQ=?=\nMessage-ID: <abc@mx.example.com>\n\
         Date: Tue, 1 Oct 2002 10:00:00 +0000\nX-Mailer: Foo 1.0\n\nHello body\n",
    );
    assert_eq!(v.subject.as_deref(), Some("Hello world"));
    assert_eq!(v.from[0].address.as_deref(), Some("alice@example.com"));
    assert_eq!(v.from[0].name.as_deref(), Some("Alice Example"));
    assert_eq!(v.from[0].domain(), Some("example.com"));
    assert_eq!(v.to.len(), 2);
    assert_eq!(v.message_id.as_deref(), Some("abc@mx.example.com"));
    assert_eq!(v.date, Some(1_033_466_400));
    assert_eq!(v.header("x-mailer"), Some("Foo 1.0"));
    assert!(v.body_text().contains("Hello body"));
}

#[test]
fn decodes_base64_and_html_parts() {
    let v = view(
        "Subject: t\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n\
         SGVsbG8gcGxhaW4=\n--b\nContent-Type: text/html\n\n\
         <html><body><p>Visit <a href=\"http://spam.example.biz/buy\">our shop</a></p>\
         <script>var x=1;</script></body></html>\n--b--\n",
    );
    assert_eq!(v.text_parts.len(), 2);
    assert_eq!(v.text_parts[0].text.trim(), "Hello plain");
    assert_eq!(v.text_parts[0].encoding, TransferEncoding::Base64);
    assert!(v.text_parts[1].text.contains("Visit"));
    assert!(!v.text_parts[1].text.contains("var x"));
    assert!(v.urls.iter().any(|u| u.host == "spam.example.biz"));
}

#[test]
fn garbage_gives_best_effort_view() {
    for input in [
        &b""[..],
        b"\0\0\xff\xfe",
        b"no header separator at all",
        b"\n\n\n",
    ] {
        let v = MessageView::parse(input, &Limits::default());
        assert!(v.headers.len() <= 1);
    }
}

#[test]
fn scan_limit_truncates() {
    let limits = Limits {
        max_scan_bytes: 100,
        ..Limits::default()
    };
    let big = format!("Subject: x\n\n{}", "word ".repeat(1000));
    let v = MessageView::parse(big.as_bytes(), &limits);
    assert!(v.truncated);
    assert!(v.raw.len() <= 100);
}

#[test]
fn deeply_nested_messages_do_not_overflow_the_stack() {
    // 30,000 nested message/rfc822 parts (900 KB, inside the default scan limit): the
    // recursive drop of mail-parser's tree overflowed a 2 MB stack from about 8,000 levels.
    let levels = 30_000;
    let mut raw = b"Content-Type: message/rfc822\n\n".repeat(levels);
    raw.extend_from_slice(b"Subject: inner\n\nbody\n");
    let limits = Limits::default();
    let v = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || MessageView::parse(&raw, &limits))
        .expect("spawn")
        .join()
        .expect("parse must not panic");
    assert!(v.mime_depth <= Limits::default().max_mime_depth);
    assert!(v.part_count >= Limits::default().max_mime_depth);
}

#[test]
fn parser_panics_are_contained() {
    // Found by the property tests: trips a debug assertion inside mail-parser 0.11.9
    // ("Invalid part ID, could not find multipart") in debug builds.
    let raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nContent-Type: message/rfc822\n\n\n--b--\n";
    let v = MessageView::parse(raw, &Limits::default());
    assert!(v.raw.starts_with("Content-Type"));
}

#[test]
fn unfolds_headers() {
    assert_eq!(unfold(" a\r\n\tb\n  c"), "a b c");
}

#[test]
fn a_multipart_without_a_boundary_is_text() {
    // Python's test_email msg_25.txt: the boundary parameter was cut off. SpamAssassin reads
    // the body as text/plain; mail-parser leaves it as bytes.
    let v = view(
        "Subject: bounce\nContent-Type: multipart/report; report-type=delivery-status;\n\tbo\n\n\
         The original message was received\n--X\nmore\n",
    );
    assert_eq!(v.text_parts.len(), 1);
    assert!(
        v.text_parts[0]
            .text
            .contains("The original message was received")
    );
    assert!(v.attachments.is_empty());
}

/// An mbox `From ` line (procmail and maildrop pipe it in) is no header field: SpamAssassin's
/// rules never see it (the edge set's msg_25.txt: `__SUBJ_HAS_TO_2`'s `\nReceived:` found the
/// first Received field after it; rules in rules/htext_tests.rs). The tokenizer still reads it
/// (`mbox_line`).
#[test]
fn an_mbox_from_line_is_not_a_header_field() {
    let v = view("From MAILER-DAEMON Fri Apr 06 16:46:09 2001\nSubject: hi\n\nbody\n");
    assert_eq!(v.headers.len(), 1, "{:?}", v.headers);
    assert_eq!(v.headers[0].name, "Subject");
    assert!(
        v.mbox_line
            .as_ref()
            .is_some_and(|h| h.name.starts_with("From MAILER"))
    );
    // The obsolete `From :` field syntax is a field, as SpamAssassin reads it.
    let v = view("From : a@b.example\nSubject: hi\n\nbody\n");
    assert!(v.mbox_line.is_none());
    assert_eq!(v.headers.len(), 2);
    assert_eq!(crate::headers::mbox_separator_len(b"From  : x\n"), 10);
    assert_eq!(crate::headers::mbox_separator_len(b"From : x\n"), 0);
    assert_eq!(crate::headers::mbox_separator_len(b"Fromage: x\n"), 0);
}

/// A header section that runs into a MIME boundary line ends there for SpamAssassin's parser
/// (`Message::new`), and after a fourth line that is not a field; mail-parser reads on to the
/// first empty line, so the first part's fields would be the message's (the edge set's
/// fws_fn.eml: `exists:Content-Transfer-Encoding`). They go to `after_header`.
#[test]
fn fields_after_where_spamassassin_ends_the_header() {
    let v = view(
        "Subject: x\nContent-Type: multipart/mixed; boundary=\"b\"\n--b\n\
         Content-Type: text/plain\nX-In-Part: 1\n\nhello\n--b--\n",
    );
    let names: Vec<&str> = v.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["Subject", "Content-Type"]);
    assert!(v.after_header.iter().any(|h| h.name == "X-In-Part"));
    let v = view("Subject: x\nbad one\nX-After: 1\n\nbody\n");
    assert!(v.headers.iter().any(|h| h.name == "X-After"));
    assert!(v.after_header.is_empty());
    let v = view("Subject: x\nbad one\nbad two\nbad three\nbad four\nX-After: 1\n\nbody\n");
    assert!(!v.headers.iter().any(|h| h.name == "X-After"));
}
