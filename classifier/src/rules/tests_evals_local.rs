//! Cases for the local MIME, body and header evals (`evals_local.rs`), run by
//! `every_eval_is_documented_and_exercised`. Every expected value was checked with
//! SpamAssassin 4.0.1 (`spamassassin -L -t`, the stock rules or a `--cf` rule calling the
//! same eval with the same arguments).

use super::super::hit;

const HEAD: &str = "From: a@example.com\nTo: b@example.org\nSubject: test\n\
    Date: Thu, 3 Dec 2026 10:00:00 +0000\nMessage-Id: <1@example.com>\nMIME-Version: 1.0\n";

/// Runs the cases; returns the evals they exercise.
pub(super) fn exercised() -> Vec<&'static str> {
    let b64 = "QUJD".repeat(30);
    // A base64 text part whose first line has `n` characters (and its LF).
    let single = |n: usize| {
        format!(
            "{HEAD}Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{}\nQUJD\n",
            &b64[..n]
        )
    };
    // An attachment whose long line is the last before the closing delimiter: no LF counted.
    let last = |n: usize| {
        format!(
            "{HEAD}Content-Type: multipart/mixed; boundary=\"XX\"\n\n--XX\n\
             Content-Type: text/plain\n\nhello\n--XX\nContent-Type: application/octet-stream\n\
             Content-Transfer-Encoding: base64\n\nQUJD\n{}\n--XX--\n",
            &b64[..n]
        )
    };
    let alt = |inner: &str| {
        format!(
            "{HEAD}Content-Type: multipart/alternative; boundary=\"b\"\n\n--b\n\
             Content-Type: text/plain\n\nhello\n--b\n{inner}\n--b--\n"
        )
    };
    let plain = |body: &str| format!("{HEAD}Content-Type: text/plain\n\n{body}");
    let ratware = |env: &str, to: &str| {
        format!(
            "Return-Path: <{env}>\n{}\nhi\n",
            HEAD.replace("b@example.org", to)
        )
    };
    let koi8 = |subject: &str, ct: &str, body: &str| {
        format!("{HEAD}Content-Type: {ct}\n\n{body}").replace("Subject: test", subject)
    };
    // Cyrillic words (UTF-8 bytes, under a KOI8-R label): most characters 8-bit.
    let ru = "Привет мир, это тест сообщения\n";
    let cases: Vec<(&str, &str, String, bool)> = vec![
        // 77 base64 characters and the LF: 78.
        (
            "",
            "body T eval:check_base64_length('78', '79')",
            single(76),
            false,
        ),
        (
            "",
            "body T eval:check_base64_length('78', '79')",
            single(77),
            true,
        ),
        (
            "",
            "body T eval:check_base64_length('78', '79')",
            single(78),
            true,
        ),
        (
            "",
            "body T eval:check_base64_length('78', '79')",
            single(79),
            false,
        ),
        (
            "",
            "body T eval:check_base64_length('79')",
            single(78),
            true,
        ),
        (
            "",
            "body T eval:check_base64_length('79')",
            single(77),
            false,
        ),
        (
            "",
            "body T eval:check_base64_length('78', '79')",
            last(77),
            false,
        ),
        (
            "",
            "body T eval:check_base64_length('78', '79')",
            last(78),
            true,
        ),
        (
            "",
            "body T eval:check_ma_non_text()",
            alt(
                "Content-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlhAgADAAAAAA==",
            ),
            true,
        ),
        (
            "",
            "body T eval:check_ma_non_text()",
            alt("Content-Type: application/rtf\n\n{\\rtf1 hi}"),
            false,
        ),
        (
            "",
            "body T eval:check_ma_non_text()",
            alt(
                "Content-Type: multipart/related; boundary=\"c\"\n\n--c\nContent-Type: text/html\n\n<p>hi</p>\n--c\nContent-Type: image/gif\n\nxx\n--c--",
            ),
            false,
        ),
        (
            "",
            "body T eval:check_ma_non_text()",
            alt("Content-Type: text/html\n\n<p>hello</p>"),
            false,
        ),
        // 11 lines, 9 blank (81.8%); 6 lines, 5 blank (white space only; 83.3%).
        (
            "",
            "body T eval:check_blank_line_ratio('80', '90', '4')",
            plain(&format!("a\n{}b\n\n", "\n".repeat(8))),
            true,
        ),
        (
            "",
            "body T eval:check_blank_line_ratio('80', '90', '4')",
            plain("a\n \n\t\n\n\n\n"),
            true,
        ),
        // 30 blank lines between text: SpamAssassin keeps 20 of them, so 20 of 23 (87%), not
        // 30 of 33 (91%).
        (
            "",
            "body T eval:check_blank_line_ratio('80', '90', '4')",
            plain(&format!("a\nb\n{}c\n", "\n".repeat(30))),
            true,
        ),
        // 5 lines, 4 blank: 80% is not above 80. 3 lines: under min_lines, -1.
        (
            "",
            "body T eval:check_blank_line_ratio('80', '90', '4')",
            plain("a\n\n\n\n\n"),
            false,
        ),
        (
            "",
            "body T eval:check_blank_line_ratio('0', '70', '4')",
            plain("a\n\n\n"),
            true,
        ),
        (
            "",
            "body T eval:check_blank_line_ratio('0', '70', '4')",
            plain(&format!("a\n{}b\n", "\n".repeat(6))),
            false,
        ),
        (
            "",
            "body T eval:check_stock_info('2')",
            plain("Hot pick!\nSymbol: ABCD\nCurrent Price: $0.12\nNothing: here\n"),
            true,
        ),
        // "My Symbol" is "symbol" again: one distinct field.
        (
            "",
            "body T eval:check_stock_info('2')",
            plain("Hot pick!\nSymbol: ABCD\nMy Symbol: x\nNothing: here\n"),
            false,
        ),
        (
            "",
            "body T eval:check_stock_info('3')",
            plain("S.t.o.c.k: ABCD\nTrading Date: 1\nTarget: 5\n"),
            true,
        ),
        (
            "",
            "body T eval:check_stock_info('3')",
            plain("Hot pick!\nSymbol: ABCD\nCurrent Price: $0.12\n"),
            false,
        ),
        (
            "util_rb_tld org net",
            "header T eval:check_ratware_envelope_from()",
            ratware("example.org-jo@bulk.example.net", "jo@mail.example.org"),
            true,
        ),
        (
            "util_rb_tld org net",
            "header T eval:check_ratware_envelope_from()",
            ratware("bounce-jo@bulk.example.net", "jo@mail.example.org"),
            false,
        ),
        (
            "util_rb_tld org net",
            "header T eval:check_ratware_envelope_from()",
            ratware(
                "SRS0=example.org-jo@bulk.example.net",
                "jo@mail.example.org",
            ),
            false,
        ),
        // The To domain's top-level domain is not on the util_rb_tld list.
        (
            "util_rb_tld org net",
            "header T eval:check_ratware_envelope_from()",
            ratware(
                "example.invalidtld-jo@bulk.example.net",
                "jo@example.invalidtld",
            ),
            false,
        ),
        (
            "ok_locales en",
            "body T eval:check_for_faraway_charset()",
            koi8("Subject: test", "text/plain; charset=koi8-r", ru),
            true,
        ),
        (
            "ok_locales ru",
            "body T eval:check_for_faraway_charset()",
            koi8("Subject: test", "text/plain; charset=koi8-r", ru),
            false,
        ),
        (
            "",
            "body T eval:check_for_faraway_charset()",
            koi8("Subject: test", "text/plain; charset=koi8-r", ru),
            false,
        ),
        (
            "ok_locales en",
            "body T eval:check_for_faraway_charset()",
            koi8(
                "Subject: test",
                "text/plain; charset=koi8-r",
                "plain ascii words only here\n",
            ),
            false,
        ),
        // MIMEEval's mime_faraway_charset: a part's charset, not the header's encoded words.
        (
            "ok_locales en",
            "rawbody T eval:check_for_mime('mime_faraway_charset')",
            koi8("Subject: test", "text/plain; charset=koi8-r", ru),
            true,
        ),
        (
            "ok_locales en",
            "rawbody T eval:check_for_mime('mime_faraway_charset')",
            koi8("Subject: =?koi8-r?B?8NLJ18XU?=", "text/plain", "hello\n"),
            false,
        ),
        (
            "",
            "rawbody T eval:check_for_mime('mime_faraway_charset')",
            koi8("Subject: test", "text/plain; charset=koi8-r", ru),
            false,
        ),
        (
            "ok_locales en",
            "header T eval:check_for_faraway_charset_in_headers()",
            koi8("Subject: =?koi8-r?B?8NLJ18XU?=", "text/plain", "hello\n"),
            true,
        ),
        (
            "ok_locales en",
            "header T eval:check_for_faraway_charset_in_headers()",
            koi8("Subject: =?iso-8859-1?Q?caf=E9?=", "text/plain", "hello\n"),
            false,
        ),
        (
            "ok_locales all",
            "header T eval:check_for_faraway_charset_in_headers()",
            koi8("Subject: =?koi8-r?B?8NLJ18XU?=", "text/plain", "hello\n"),
            false,
        ),
    ];
    let mut names = Vec::new();
    for (settings, rule, msg, expect) in &cases {
        let rules = format!("{settings}\n{rule}\n");
        assert_eq!(
            hit(&rules, msg, "T"),
            *expect,
            "{rule} ({settings}) on {msg:?}"
        );
        let call = rule.split("eval:").nth(1).unwrap_or("");
        names.push(call.split('(').next().unwrap_or(""));
    }
    names
}

#[test]
fn faraway_charsets_as_locales_reads_them() {
    use super::super::super::evals_local::charset_ok;
    let en = ["en".to_owned()];
    assert!(charset_ok("utf-8", &en) && charset_ok("ISO-8859-5", &en));
    assert!(charset_ok("windows-1251", &en) && charset_ok("3Dus-ascii", &en));
    assert!(!charset_ok("koi8-r", &en) && !charset_ok("gb2312", &en));
    assert!(charset_ok("koi8-r", &["ru_RU.UTF-8".to_owned()]));
    assert!(charset_ok("big5", &["zh_TW".to_owned()]));
    assert!(!charset_ok("koi8-r", &["C".to_owned()]));
}
