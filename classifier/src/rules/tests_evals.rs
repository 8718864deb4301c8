//! Tests of the built-in evals and of the emulated plugins' evals, score sets and `nice`
//! defaults.

use super::*;

#[path = "tests_evals_local.rs"]
mod local_cases;
#[path = "tests_evals_parse.rs"]
mod parse_cases;
#[path = "tests_evals_uri.rs"]
mod uri_cases;

/// A multipart/alternative with a titled HTML part and a text/calendar part.
const ALT_RENDERED: &str = "Subject: x\nMIME-Version: 1.0\n\
    Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\n\
    one two three four five six seven\n--b\nContent-Type: text/html\n\n<html><head><title>one \
    two three</title></head><body><img src=x alt=\"four five\">six</body></html>\n--b\n\
    Content-Type: text/calendar\n\nalpha beta gamma delta epsilon zeta eta theta iota kappa\n\
    --b--\n";

#[test]
fn every_eval_is_documented_and_exercised() {
    // (eval call, kind, message, expected)
    let html_img = "Subject: x\nContent-Type: text/html\n\n<html><body><img src=\"http://x.example/a.gif\">\
                    Hi</body></html>\n";
    let alt = |plain: &str, html: &str| {
        format!(
            "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b\"\n\n\
             --b\nContent-Type: text/plain\n\n{plain}\n--b\nContent-Type: text/html\n\n\
             <html><body>{html}</body></html>\n--b--\n"
        )
    };
    let html_open =
        |body: &str| format!("Subject: x\nContent-Type: text/html\n\n<html>{body}</html>\n");
    let html = |body: &str| html_open(&format!("<body>{body}</body>"));
    let mut cases: Vec<(&str, &str, String, bool)> = vec![
        ("check_bayes('0.9', '1.00')", "body", MSG.into(), false),
        ("check_for_mime('mime_html')", "body", html_img.into(), true),
        ("html_tag_exists('html')", "body", html_img.into(), true),
        ("html_tag_exists('html')", "body", MSG.into(), false),
        ("check_for_matching_env_and_hdr_from()", "header", format!("Return-Path: <alice@example.org>\n{MSG}"), true),
        ("check_for_matching_env_and_hdr_from()", "header", MSG.into(), false),
        // `From:addr` is the parser's address, not the text after the first `<`, which here
        // is inside the quoted name (checked with `spamassassin -L -t`: __ENV_AND_HDR_FROM_MATCH).
        ("check_for_matching_env_and_hdr_from()", "header", "Return-Path: <k_d@example.com>\nFrom: \"<K D\" <k_d@example.com>\n\nHi\n".into(), true),
        ("check_for_matching_env_and_hdr_from()", "header", "Return-Path: <other@example.com>\nFrom: \"<other@example.com\" <k_d@example.com>\n\nHi\n".into(), false),
        ("check_for_mime('mime_html')", "body", MSG.into(), false),
        ("check_for_mime('mime_attachment')", "body", MSG.into(), false),
        ("check_for_mime_html()", "body", html_img.into(), true),
        ("check_for_mime_html_only()", "body", html_img.into(), true),
        ("check_for_mime_html_only()", "body", alt("same words", "same words"), false),
        // SpamAssassin counts an empty text part; mailsift's own measure does not.
        ("check_for_mime_html_only()", "body", alt("", "only html words"), false),
        ("mailsift_html_only()", "body", alt("", "only html words"), true),
        ("mailsift_html_only()", "body", alt("same words", "same words"), false),
        ("mailsift_mime('mime_html')", "body", html_img.into(), true),
        (
            "mailsift_alternative_difference('90', '100')",
            "body",
            alt("see the HTML part", "totally different offer content"),
            true,
        ),
        (
            "multipart_alternative_difference_count('1.5', '1')",
            "body",
            alt("many more words in the text part", "few words"),
            true,
        ),
        (
            "multipart_alternative_difference_count('1.5', '1')",
            "body",
            alt("same words", "same words"),
            false,
        ),
        // The HTML words as SpamAssassin's renderer gives them, white-on-white ones included:
        // 9 HTML words against 10 text words (mailsift's own reduction keeps 2).
        (
            "multipart_alternative_difference_count('1.5', '1')",
            "body",
            alt(
                "a b c d e f g h i j",
                "<font color=\"#ffffff\">w1 w2 w3 w4 w5 w6 w7</font> hello there",
            ),
            false,
        ),
        // As SpamAssassin counts them (checked with `spamassassin -L -t -D eval`: 7 text words,
        // 4 HTML words): its renderer's HTML text, title included, and no text/calendar part.
        ("multipart_alternative_difference_count('1.5', '3')", "body", ALT_RENDERED.into(), true),
        ("multipart_alternative_difference_count('2', '3')", "body", ALT_RENDERED.into(), false),
        // text/enriched is text/plain to SpamAssassin: its 10 words make the ratio 17/4.
        ("multipart_alternative_difference_count('2', '3')", "body", ALT_RENDERED.replace("text/calendar", "text/enriched"), true),
        // An attachment is what Content-Disposition says, not any non-text part.
        (
            "check_for_mime('mime_attachment')",
            "body",
            "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
             Content-Type: image/gif\nContent-Disposition: inline\n\nR0lG\n--b--\n"
                .into(),
            false,
        ),
        (
            "check_for_mime('mime_attachment')",
            "body",
            "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
             Content-Type: text/plain\nContent-Disposition: attachment\n\nhi\n--b--\n"
                .into(),
            true,
        ),
        // MIMEEval counts bytes encoded without need (`=48` is `H`), not QP parts: `=3D`
        // (an `=`) must be encoded, so a part with only that does not count.
        (
            "check_for_mime('mime_qp_count')",
            "body",
            "Subject: x\nContent-Transfer-Encoding: quoted-printable\n\n=48i=3D\n".into(),
            true,
        ),
        (
            "check_for_mime('mime_qp_count')",
            "body",
            "Subject: x\nContent-Transfer-Encoding: quoted-printable\n\nhi=3D\n".into(),
            false,
        ),
        ("check_for_mime('mime_base64_count')", "body", MSG.into(), false),
        ("html_test('html')", "body", html_img.into(), true),
        ("html_test('html')", "body", MSG.into(), false),
        // An HTML part that decodes to nothing is not rendered (SpamAssassin 4.0.1: no
        // HTML_MESSAGE on Python's test_email msg_08.txt).
        (
            "html_test('html')",
            "body",
            "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\n\
             hi\n--B\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n=\n\n--B--\n"
                .into(),
            false,
        ),
        ("html_image_visible_text('0', '400')", "body", html_img.into(), true),
        ("html_image_visible_text('0', '1')", "body", html_img.into(), false),
        ("html_image_only('0', '400')", "body", html_img.into(), true),
        ("html_image_only('0', '40')", "body", html_img.into(), false),
        (
            "multipart_alternative_difference('90', '100')",
            "body",
            alt("see the HTML part", "totally different offer content"),
            true,
        ),
        (
            "multipart_alternative_difference('90', '100')",
            "body",
            alt("same words here", "same words here"),
            false,
        ),
        ("check_for_shifted_date('12', 'undef')", "header", MSG.into(), false),
        ("mailsift_shifted_date('12', 'undef')", "header", MSG.into(), false),
        (
            "mailsift_shifted_date('12', 'undef')",
            "header",
            format!(
                "Received: from a by b; Mon, 30 Sep 2002 10:00:00 +0000\n{}",
                MSG
            ),
            true,
        ),
        (
            "check_for_shifted_date('undef', '-96')",
            "header",
            format!(
                "Received: from a by b; Tue, 1 Oct 2002 10:00:00 +0000\n{}",
                MSG.replace("1 Oct 2002", "1 Sep 2002")
            ),
            true,
        ),
        ("date_unparseable()", "header", MSG.replace("Tue, 1 Oct 2002", "soon"), true),
        ("date_unparseable()", "header", MSG.into(), false),
        (
            "check_fromname_spoof()",
            "header",
            MSG.replace("\"Alice Example\"", "\"billing@bank.example\""),
            true,
        ),
        ("check_fromname_spoof()", "header", MSG.into(), false),
        ("subject_is_all_caps()", "header", MSG.replace("Cheap pills here", "CHEAP PILLS HERE"), true),
        ("subject_is_all_caps()", "header", MSG.into(), false),
        // SpamAssassin drops Re:/Fw: prefixes and reads ASCII letters only.
        ("subject_is_all_caps()", "header", MSG.replace("Cheap pills here", "Fw: NORTON SALE! 11058"), true),
        ("subject_is_all_caps()", "header", MSG.replace("Cheap pills here", "=?koi8-r?B?88XL0sXU?= NORTON SALE"), false),
        ("mailsift_subject_all_caps()", "header", MSG.replace("Cheap pills here", "CHEAP PILLS HERE"), true),
        ("mailsift_subject_all_caps()", "header", MSG.replace("Cheap pills here", "Fw: NORTON SALE! 11058"), false),
        (
            "check_for_uppercase('50', '100')",
            "body",
            format!("Subject: x\n\n{}\n", "BUY NOW ".repeat(40)),
            true,
        ),
        ("check_for_uppercase('50', '100')", "body", MSG.into(), false),
        // As SpamAssassin (each checked with `spamassassin -L -t`): digits count as lower case,
        // a charset that fakes capitals gives 0, base64 left in the text is not read.
        ("check_for_uppercase('40', '50')", "body", format!("Subject: x\n\n{}\n", "AB 12 ".repeat(40)), true),
        ("check_for_uppercase('50', '100')", "body", format!("Subject: x\n\n{}\n", "AB 12 ".repeat(40)), false),
        ("check_for_uppercase('-1', '0')", "body", format!("Subject: x\nContent-Type: text/plain; charset=koi8-r\n\n{}\n", "BUY NOW ".repeat(40)), true),
        ("check_for_uppercase('-1', '0')", "body", format!("Subject: x\n\n{}\n\nok fine\n", format!("{0} {0} ", "QUJD".repeat(16)).repeat(3)), true),
        ("mailsift_uppercase('50', '100')", "body", format!("Subject: x\n\n{}\n", "ABCDE 12345 ".repeat(50)), true),
        ("mailsift_uppercase('50', '100')", "body", MSG.into(), false),
        ("recipient_count('2', '3')", "header", MSG.into(), true),
        ("recipient_count('3')", "header", MSG.into(), false),
        ("check_header_count_range('Cc', '1', '1')", "header", MSG.into(), true),
        ("check_header_count_range('Received', '1', '5')", "header", MSG.into(), false),
        (
            "mailsift_illegal_chars('Subject', '0.1', '2')",
            "header",
            MSG.replace("Cheap pills", "\u{e9}\u{e8}\u{ea} pills"),
            true,
        ),
        // SpamAssassin exempts a raw header that is valid UTF-8 without control characters.
        (
            "check_illegal_chars('Subject', '0.1', '2')",
            "header",
            MSG.replace("Cheap pills", "\u{e9}\u{e8}\u{ea} pills"),
            false,
        ),
        (
            "check_illegal_chars('Subject', '0.1', '2')",
            "header",
            MSG.replace("Cheap pills", "\u{1}\u{2}\u{e9} pills"),
            true,
        ),
        ("check_illegal_chars('ALL', '0.01', '2')", "header", MSG.into(), false),
        ("gated_through_received_hdr_remover()", "header", MSG.into(), true),
        (
            "gated_through_received_hdr_remover()",
            "header",
            format!("Received: from a.example by b.example; Tue, 1 Oct 2002 10:00:00 +0000\n{MSG}"),
            false,
        ),
        (
            "check_ratware_name_id()",
            "header",
            MSG.replace("<abc@example.org>", "<ABCDEFGHIJKLMNOPQRSTUVWXYZAB.alice@example.org>"),
            true,
        ),
        ("check_ratware_name_id()", "header", MSG.into(), false),
        ("obfuscated_words('1')", "body", "Subject: x\n\nbuy v-i-a-g-r-a\n".into(), true),
        ("obfuscated_words('1')", "body", MSG.into(), false),
        ("uri_ip_host()", "body", "Subject: x\n\nsee http://3232235777/x\n".into(), true),
        ("uri_ip_host()", "body", MSG.into(), false),
        (
            "uri_text_mismatch()",
            "body",
            "Subject: x\nContent-Type: text/html\n\n<a href=\"http://evil.example/\">www.bank.example</a>\n".into(),
            true,
        ),
        (
            "uri_text_mismatch()",
            "body",
            "Subject: x\nContent-Type: text/html\n\n<a href=\"http://www.bank.example/x\">www.bank.example</a>\n".into(),
            false,
        ),
        (
            "html_invisible_text('5')",
            "body",
            "Subject: x\nContent-Type: text/html\n\n<div style=\"display:none\">hidden words</div>shown\n".into(),
            true,
        ),
        ("html_invisible_text('5')", "body", html_img.into(), false),
        ("html_signal('images', '1', '2')", "body", html_img.into(), true),
        ("html_signal('links', '1')", "body", html_img.into(), false),
        (
            "risky_attachment()",
            "body",
            "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\
             Content-Type: text/plain\n\nhi\n--b\nContent-Type: application/octet-stream\n\
             Content-Disposition: attachment; filename=\"a.scr\"\n\nMZ\n--b--\n"
                .into(),
            true,
        ),
        ("risky_attachment()", "body", MSG.into(), false),
        ("check_for_missing_to_header()", "header", "Subject: x\n\nhi\n".into(), true),
        ("check_for_missing_to_header()", "header", MSG.into(), false),
        ("check_no_relays()", "header", MSG.into(), true),
        ("check_no_relays()", "header", format!("{RCVD_PUBLIC}{MSG}"), false),
        ("check_all_trusted()", "header", format!("{RCVD_PRIVATE}{MSG}"), true),
        ("check_all_trusted()", "header", format!("{RCVD_PRIVATE}{RCVD_PUBLIC}{MSG}"), false),
        ("check_relays_unparseable()", "header", format!("Received: from somewhere odd\n{MSG}"), true),
        ("check_relays_unparseable()", "header", format!("{RCVD_PUBLIC}{MSG}"), false),
        (
            "helo_ip_mismatch()",
            "header",
            format!("{}{MSG}", RCVD_PUBLIC.replace("from out.example.com", "from 203.0.113.99")),
            true,
        ),
        ("helo_ip_mismatch()", "header", format!("{RCVD_PUBLIC}{MSG}"), false),
        (
            "check_for_forged_received_trail()",
            "header",
            format!(
                "{RCVD_PUBLIC}{}{}{MSG}",
                RCVD_PUBLIC.replace("by mx.example.net", "by relay.aol.com"),
                RCVD_PUBLIC.replace("by mx.example.net", "by mx.yahoo.com")
            ),
            true,
        ),
        ("check_for_forged_received_trail()", "header", format!("{RCVD_PUBLIC}{MSG}"), false),
        (
            "check_for_no_rdns_dotcom_helo()",
            "header",
            format!("{}{MSG}", RCVD_PUBLIC.replace("out.example.com (out.example.com", "mx.hotmail.com (unknown")),
            true,
        ),
        ("check_for_no_rdns_dotcom_helo()", "header", format!("{RCVD_PUBLIC}{MSG}"), false),
        (
            "check_for_fake_aol_relay_in_rcvd()",
            "header",
            format!("{}{MSG}", RCVD_PUBLIC.replace("by mx.example.net", "by rly-xa01.mx.aol.com")),
            true,
        ),
        ("check_for_fake_aol_relay_in_rcvd()", "header", format!("{RCVD_PUBLIC}{MSG}"), false),
        (
            "check_for_forged_hotmail_received_headers()",
            "header",
            format!("{}{MSG}", RCVD_PUBLIC.replace("from out.example.com", "from mx.hotmail.com")),
            true,
        ),
        ("check_for_forged_hotmail_received_headers()", "header", format!("{RCVD_PUBLIC}{MSG}"), false),
        (
            "check_for_no_hotmail_received_headers()",
            "header",
            format!("{RCVD_PUBLIC}{}", MSG.replace("alice@example.org", "alice@hotmail.com")),
            true,
        ),
        ("check_for_no_hotmail_received_headers()", "header", format!("{RCVD_PUBLIC}{MSG}"), false),
        (
            "check_for_forged_eudoramail_received_headers()",
            "header",
            format!("{RCVD_PUBLIC}{}", MSG.replace("alice@example.org", "alice@eudoramail.com")),
            true,
        ),
        ("check_for_forged_eudoramail_received_headers()", "header", format!("{RCVD_PUBLIC}{MSG}"), false),
        (
            "check_for_forged_yahoo_received_headers()",
            "header",
            format!("{RCVD_PUBLIC}{}", MSG.replace("alice@example.org", "alice@yahoo.com")),
            true,
        ),
        (
            "check_for_forged_yahoo_received_headers()",
            "header",
            format!(
                "{}{}",
                RCVD_PUBLIC.replace("out.example.com (out.example.com", "web1.yahoo.com (web1.mail.yahoo.com"),
                MSG.replace("alice@example.org", "alice@yahoo.com")
            ),
            false,
        ),
        (
            "check_for_forged_juno_received_headers()",
            "header",
            format!("{RCVD_PUBLIC}{}", MSG.replace("alice@example.org", "alice@juno.com")),
            true,
        ),
        ("check_for_forged_juno_received_headers()", "header", format!("{RCVD_PUBLIC}{MSG}"), false),
        (
            "check_for_forged_gmail_received_headers()",
            "header",
            format!("{RCVD_PUBLIC}{}", MSG.replace("alice@example.org", "alice@gmail.com")),
            true,
        ),
        (
            "check_for_forged_gmail_received_headers()",
            "header",
            format!(
                "X-Received: by 10.1.2.3 with SMTP id abc123\n{RCVD_PUBLIC}{}",
                MSG.replace("alice@example.org", "alice@gmail.com")
            ),
            false,
        ),
        ("check_body_length('10')", "body", "Subject: x\n\nhi\n".into(), true),
        ("check_body_length('10')", "body", MSG.into(), false),
        (
            "check_for_mime('mime_base64_encoded_text')",
            "body",
            "Subject: x\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n".into(),
            true,
        ),
        (
            "check_for_mime('mime_qp_long_line')",
            "body",
            format!(
                "Subject: x\nContent-Transfer-Encoding: quoted-printable\n\n{}=3D\n",
                "a".repeat(80)
            ),
            true,
        ),
        (
            "msgid_from_relay()",
            "header",
            "Received: from a.example (a.example [192.0.2.1]) by mx.example with ESMTP id \
             g7UJK2a12345; Fri, 30 Aug 2002 19:20:00 +0000\n\
             Message-Id: <200208301920.g7UJK2a12345@mx.example>\nSubject: x\n\nhi\n"
                .into(),
            true,
        ),
        ("msgid_from_relay()", "header", MSG.into(), false),
        // Outlook Express's Message-Id time token (01c26931 is 1 Oct 2002 10:00 UTC).
        (
            "check_outlook_message_id()",
            "header",
            "Message-Id: <000801c26931$1f2b3c40$0100a8c0@pc>\nDate: Tue, 1 Oct 2002 10:00:00 +0000\n\nx\n".into(),
            false,
        ),
        (
            "check_outlook_message_id()",
            "header",
            "Message-Id: <000801c16931$1f2b3c40$0100a8c0@pc>\nDate: Tue, 1 Oct 2002 10:00:00 +0000\n\nx\n".into(),
            true,
        ),
        (
            "check_outlook_message_id()",
            "header",
            "Received: from a by b; Tue, 1 Oct 2002 10:00:00 +0000\n\
             Message-Id: <000801c26931$1f2b3c40$0100a8c0@pc>\nDate: Mon, 1 Jan 2001 00:00:00 +0000\n\nx\n"
                .into(),
            false,
        ),
        (
            "check_unresolved_template()",
            "header",
            "X-Mailer: %CUSTOM_MAILER\nSubject: x\n\nbody\n".into(),
            true,
        ),
        (
            "check_unresolved_template()",
            "header",
            "Subject: 50%OFF %NAME\nX-Rate: 5%\n\nbody\n".into(),
            false,
        ),
        (
            "sorted_recipients()",
            "header",
            "To: aa@x.example, ab@x.example, ac@x.example, ad@x.example\n\
             Cc: ae@x.example, af@x.example, ag@x.example\nSubject: s\n\nb\n"
                .into(),
            true,
        ),
        ("sorted_recipients()", "header", MSG.into(), false),
        (
            "similar_recipients('0.65', 'undef')",
            "header",
            "To: jo@a.example, jo@b.example, jo@c.example, jo@d.example, jo@e.example\n\
             Subject: s\n\nb\n"
                .into(),
            true,
        ),
        (
            "similar_recipients('0.65', 'undef')",
            "header",
            "To: ann@a.example, bob@a.example, cy@a.example, dee@a.example, eve@a.example\n\
             Subject: s\n\nb\n"
                .into(),
            false,
        ),
        // HTMLEval over SpamAssassin's HTML parse (sahtml.rs).
        ("html_range('max_size', '5', '6')", "body", html(r#"<font size="6">Big</font>"#), true),
        ("html_range('max_size', '5', '6')", "body", html(r#"<font size="+1">x</font>"#), false),
        ("html_range('obfuscation_ratio', '.1', 'inf')", "body", html("fr<b>ee</b> st<i>uff</i>"), true),
        ("html_range('obfuscation_ratio', '.1', 'inf')", "body", html("free <b>stuff</b>"), false),
        ("html_eval('length', '< 384')", "body", html("short"), true),
        ("html_eval('length', '< 384')", "body", html(&"long ".repeat(100)), false),
        ("html_tag_balance('body', '!= 0')", "body", html_open("<body>no end"), true),
        ("html_tag_balance('body', '!= 0')", "body", html("closed"), false),
        ("html_text_match('comment', '<!(?!-).{0,6}>')", "body", html("a<!1>b"), true),
        ("html_text_match('comment', '<!(?!-).{0,6}>')", "body", html("a<!-- long comment -->b"), false),
        ("html_image_ratio('0.000', '0.002')", "body", html(r#"<img src="a.gif" width="400" height="300">Hi"#), true),
        ("html_image_ratio('0.000', '0.002')", "body", html("Hi there, no image"), false),
        ("html_test('font_low_contrast')", "body", html(r##"<font color="#fefefe">hidden</font>"##), true),
        ("html_test('font_low_contrast')", "body", html(r#"<font color="red">seen</font>"#), false),
        (
            "html_title_subject_ratio('3.5')",
            "body",
            html("<title>A much longer title than the subject line</title>x"),
            true,
        ),
        (
            "html_title_subject_ratio('3.5')",
            "body",
            html("<title>Short</title>x"),
            false,
        ),
        ("html_charset_faraway()", "body", html(r#"<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">x"#), false),
    ];
    cases.extend(parse_cases::cases(&alt));
    cases.extend(uri_cases::cases());
    let mut exercised: HashSet<&str> = HashSet::new();
    for (call, kind, msg, expect) in &cases {
        let rule = format!("{kind} T eval:{call}");
        assert_eq!(hit(&rule, msg, "T"), *expect, "{call} on {msg:?}");
        exercised.insert(call.split('(').next().unwrap_or(""));
    }
    // The plugin evals read settings of the rule files (issue #12).
    for (settings, call, msg, expect) in plugin_eval_cases()
        .into_iter()
        .chain(uri_cases::subject_cases())
    {
        let rule = format!("{settings}\nheader T eval:{call}");
        assert_eq!(hit(&rule, &msg, "T"), expect, "{call} on {msg:?}");
        exercised.insert(call.split('(').next().unwrap_or(""));
    }
    exercised.extend(local_cases::exercised());
    for e in eval_tests() {
        assert!(exercised.contains(e.name), "eval {} has no test", e.name);
        assert!(e.doc.len() > 20 && e.signature.starts_with('('));
    }
}

#[test]
fn check_bayes_rules_never_hit_so_bayes_is_not_counted_twice() {
    let (set, issues) = load(
        "body BAYES_99 eval:check_bayes('0.99', '1.00')\nscore BAYES_99 3.5\n\
         meta NOT_BAYES !BAYES_99\n",
    );
    let v = view(MSG);
    let mut c = ctx();
    c.bayes_probability = Some(0.995);
    let names: Vec<String> = set.evaluate(&v, &c).into_iter().map(|h| h.name).collect();
    // The rule stays defined (the meta over it is kept) but does not hit.
    assert_eq!(names, ["NOT_BAYES"]);
    assert!(!set.uses_bayes());
    assert!(
        issues
            .iter()
            .any(|i| i.rule.as_deref() == Some("BAYES_99") && i.message.contains("own Bayes"))
    );
}

#[test]
fn score_sets_and_nice_defaults() {
    let rules = "body A /pills/\nscore A 1 2 3 4\nbody N /pills/\ntflags N nice\n\
                 body P /pills/\nbody O /pills/\nscore O 0 0 2.5 0\n";
    let (mut set, _) = load(rules);
    let score = |set: &RuleSet, n: &str| set.get(n).map(|r| r.score);
    // Set 2 (Bayes on, network off) by default.
    assert_eq!(score(&set, "A"), Some(3.0));
    assert_eq!(score(&set, "N"), Some(-1.0));
    assert_eq!(score(&set, "P"), Some(1.0));
    set.set_score_set(0);
    assert_eq!(score(&set, "A"), Some(1.0));
    assert_eq!(score(&set, "N"), Some(-1.0));
    // Zero in set 0: not reported.
    let names: Vec<String> = set
        .evaluate(&view(MSG), &ctx())
        .into_iter()
        .map(|h| h.name)
        .collect();
    assert!(!names.contains(&"O".to_owned()));
    // A user override sticks across score sets.
    set.set_scores(&BTreeMap::from([("A".to_owned(), 7.0)]))
        .expect("A exists");
    set.set_score_set(2);
    assert_eq!(score(&set, "A"), Some(7.0));
}

/// (settings, eval call, message, expected) for the evals of the emulated plugins.
fn plugin_eval_cases() -> Vec<(&'static str, &'static str, String, bool)> {
    let from = |f: &str, extra: &str| format!("From: {f}\n{extra}Subject: s\n\nhello\n");
    let wl = "welcomelist_from *@good.example\nblocklist_from *@bad.example\n\
              def_welcomelist_from *@def.example\nwelcomelist_to me@*\nblocklist_to no@*\n\
              more_spam_to more@*\nall_spam_to all@*\nenlist_addrlist (L) *@l.example\n\
              welcomelist_uri_host good.example\nblocklist_uri_host bad.example\n\
              enlist_uri_host (H) example\nutil_rb_tld example";
    let fm = "freemail_domains gmail.com\nutil_rb_tld com";
    let relays = "welcomelist_bounce_relays mx.me.example";
    let bounce = "From: daemon@x.example\nSubject: s\n\nReceived: from a by mx.me.example\n";
    let link = |h: &str| format!("From: a@x.example\nSubject: s\n\nhttp://www.{h}/x\n");
    let rcvd = |rp: &str| {
        format!(
            "Return-Path: <{rp}>\nReceived: from out.shop.example (out.shop.example \
             [81.2.69.160]) by mx.me.example; Tue, 1 Dec 2026 10:00:00 +0000\n\
             From: a@shop.example\nSubject: s\n\nhello\n"
        )
    };
    let mut v = vec![
        (
            "",
            "check_mailfrom_matches_rcvd()",
            rcvd("b@mail.shop.example"),
            true,
        ),
        (
            "",
            "check_mailfrom_matches_rcvd()",
            rcvd("b@other.example"),
            false,
        ),
        (wl, "check_from_in_list('L')", from("a@l.example", ""), true),
        (
            wl,
            "check_from_in_list('L')",
            from("a@m.example", ""),
            false,
        ),
        (
            wl,
            "check_to_in_list('L')",
            from("a@x.example", "To: b@l.example\n"),
            true,
        ),
        (
            wl,
            "check_replyto_in_list('L')",
            from("a@x", "Reply-To: r@l.example\n"),
            true,
        ),
        (wl, "check_uri_host_listed('H')", link("x.example"), true),
        (wl, "check_uri_host_listed('H')", link("x.test"), false),
        (
            wl,
            "have_any_bounce_relays()",
            from("a@x.example", ""),
            false,
        ),
        (
            relays,
            "have_any_bounce_relays()",
            from("a@x.example", ""),
            true,
        ),
        (
            relays,
            "check_welcomelist_bounce_relays()",
            bounce.into(),
            true,
        ),
        (
            relays,
            "check_whitelist_bounce_relays()",
            bounce.into(),
            true,
        ),
        (
            relays,
            "check_welcomelist_bounce_relays()",
            from("a@x", ""),
            false,
        ),
        (fm, "check_freemail_from()", from("a@gmail.com", ""), true),
        (
            fm,
            "check_freemail_from()",
            from("a@corp.example", ""),
            false,
        ),
        (
            fm,
            "check_freemail_header('Reply-To')",
            from("a@x", "Reply-To: b@gmail.com\n"),
            true,
        ),
        (
            fm,
            "check_freemail_body()",
            from("a@x", "") + "mail me: z@gmail.com\n",
            true,
        ),
        (
            fm,
            "check_freemail_replyto()",
            from("a@gmail.com", "Reply-To: b@gmail.com\n"),
            true,
        ),
        (
            fm,
            "check_equal_from_domains()",
            from("a@x.example", "Return-Path: <b@y.example>\n"),
            true,
        ),
    ];
    for (call, good, bad) in [
        (
            "check_uri_host_in_welcomelist()",
            link("good.example"),
            link("bad.example"),
        ),
        (
            "check_uri_host_in_whitelist()",
            link("good.example"),
            link("bad.example"),
        ),
        (
            "check_uri_host_in_blocklist()",
            link("bad.example"),
            link("good.example"),
        ),
        (
            "check_uri_host_in_blacklist()",
            link("bad.example"),
            link("good.example"),
        ),
        (
            "check_from_in_welcomelist()",
            from("a@good.example", ""),
            from("a@bad.example", ""),
        ),
        (
            "check_from_in_whitelist()",
            from("a@good.example", ""),
            from("a@bad.example", ""),
        ),
        (
            "check_from_in_blocklist()",
            from("a@bad.example", ""),
            from("a@good.example", ""),
        ),
        (
            "check_from_in_blacklist()",
            from("a@bad.example", ""),
            from("a@good.example", ""),
        ),
        (
            "check_from_in_default_welcomelist()",
            from("a@def.example", ""),
            from("a@x", ""),
        ),
        (
            "check_from_in_default_whitelist()",
            from("a@def.example", ""),
            from("a@x", ""),
        ),
        (
            "check_to_in_welcomelist()",
            from("a@x", "To: me@x.example\n"),
            from("a@x", "To: no@x.example\n"),
        ),
        (
            "check_to_in_whitelist()",
            from("a@x", "To: me@x.example\n"),
            from("a@x", "To: no@x.example\n"),
        ),
        (
            "check_to_in_blocklist()",
            from("a@x", "To: no@x.example\n"),
            from("a@x", "To: me@x.example\n"),
        ),
        (
            "check_to_in_blacklist()",
            from("a@x", "To: no@x.example\n"),
            from("a@x", "To: me@x.example\n"),
        ),
        (
            "check_to_in_more_spam()",
            from("a@x", "To: more@x.example\n"),
            from("a@x", "To: me@x.example\n"),
        ),
        (
            "check_to_in_all_spam()",
            from("a@x", "To: all@x.example\n"),
            from("a@x", "To: me@x.example\n"),
        ),
    ] {
        v.push((wl, call, good, true));
        v.push((wl, call, bad, false));
    }
    v
}

#[test]
fn illegal_chars_as_spamassassin_reads_raw_bytes() {
    use super::evals::illegal_chars_hits;
    let msg = |subject: &[u8]| {
        let mut raw = b"From: a@example.org\nSubject: ".to_vec();
        raw.extend_from_slice(subject);
        raw.extend_from_slice(b"\n\nbody\n");
        crate::message::MessageView::parse(&raw, &crate::limits::Limits::default())
    };
    // Latin-1 bytes are not UTF-8: SpamAssassin counts them (2 of 12 bytes).
    let latin1 = msg(b"caf\xe9 cr\xe8me");
    assert!(illegal_chars_hits(&latin1, "Subject", 0.0, 2.0));
    assert!(!illegal_chars_hits(&latin1, "Subject", 0.0, 3.0));
    // The same words in UTF-8 are exempt, as is a literal U+FFFD the sender wrote.
    assert!(!illegal_chars_hits(
        &msg("café crème".as_bytes()),
        "Subject",
        0.0,
        2.0
    ));
    assert!(!illegal_chars_hits(
        &msg("a \u{fffd}\u{fffd} b".as_bytes()),
        "Subject",
        0.0,
        2.0
    ));
    // One pound sign is forgiven in a Subject, two are not.
    assert!(!illegal_chars_hits(
        &msg(b"\x01\xc2\xa3 5"),
        "Subject",
        0.0,
        3.0
    ));
    assert!(illegal_chars_hits(
        &msg(b"\x01\xc2\xa3\xc2\xa3 5"),
        "Subject",
        0.0,
        3.0
    ));
}
