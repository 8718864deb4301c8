//! Line endings do not change a verdict: a message and its CRLF twin (every LF turned into CRLF)
//! parse to the same header fields and tokens, hit the same rules, get the same score, are
//! annotated alike and have one ledger digest. The messages are generated with the shapes that
//! trip parsers: dates with AM/PM and one- or two-letter zones, folded fields, odd spacing,
//! nested messages.

mod common;

use proptest::prelude::*;

fn to_crlf(lf: &[u8]) -> Vec<u8> {
    lf.split(|&b| b == b'\n')
        .collect::<Vec<_>>()
        .join(&b"\r\n"[..])
}

/// What must not depend on line endings, in a comparable form.
#[derive(Debug, PartialEq)]
struct Seen {
    headers: Vec<(String, String, String)>,
    message_id: Option<String>,
    date: Option<i64>,
    subject: Option<String>,
    tokens: Vec<u64>,
    hits: Vec<String>,
    score_bits: u64,
    is_spam: bool,
    digest: [u8; 16],
    /// The annotated message with CRLF turned into LF (annotation keeps the line ends).
    annotated_lf: Vec<u8>,
}

fn seen(raw: &[u8]) -> Seen {
    let (engine, model) = common::trained_engine();
    let analysis = engine.analyze(raw);
    let verdict = engine.verdict(&analysis, model).expect("in-memory model");
    let view = &analysis.view;
    Seen {
        headers: view
            .headers
            .iter()
            .map(|h| (h.name.clone(), h.raw.clone(), h.decoded.clone()))
            .collect(),
        message_id: view.message_id.clone(),
        date: view.date,
        subject: view.subject.clone(),
        tokens: analysis.tokens.hashes.clone(),
        hits: verdict.hits.iter().map(|h| h.name.clone()).collect(),
        score_bits: verdict.score.to_bits(),
        is_spam: verdict.is_spam,
        digest: analysis.digest,
        annotated_lf: engine
            .annotate(raw, &verdict, Some("[SPAM]"))
            .split(|&b| b == b'\r')
            .collect::<Vec<_>>()
            .concat(),
    }
}

fn assert_twins(lf: &[u8]) {
    let crlf = to_crlf(lf);
    let (a, b) = (seen(lf), seen(&crlf));
    assert_eq!(
        a,
        b,
        "LF and CRLF twins differ for:\n{}",
        String::from_utf8_lossy(lf)
    );
}

/// Date values, good and bad, in the shapes real mail has.
fn date_value() -> impl Strategy<Value = String> {
    let zone = prop_oneof![
        Just("+0000"),
        Just("-0700"),
        Just("PM"),
        Just("AM"),
        Just("pm"),
        Just("Z"),
        Just("UT"),
        Just("GMT"),
        Just("EST"),
        Just("PDT"),
        Just("-0700 (PDT)"),
        Just("+0200 (CEST)"),
        Just("PM -0500"),
        Just(""),
    ];
    let day = prop_oneof![Just(""), Just("Tue, "), Just("Mon,"), Just("Wednesday, ")];
    let sep = prop_oneof![Just(" "), Just("  "), Just("\t"), Just("\n "), Just("\n\t")];
    (
        day,
        1u32..32,
        prop::sample::select(vec!["Jan", "Jul", "Oct", "jul", "7"]),
        prop::sample::select(vec!["01", "2002", "99", "2026"]),
        0u32..24,
        0u32..60,
        sep,
        zone,
    )
        .prop_map(|(day, d, mon, year, h, m, sep, zone)| {
            format!("{day}{d:02} {mon} {year}{sep}{h}:{m:02}:06 {zone}")
        })
}

/// Header lines (without the line end); some are folded over several lines.
fn header_line() -> impl Strategy<Value = String> {
    let space = prop_oneof![Just(""), Just(" "), Just("  "), Just("\t"), Just(" \t ")];
    prop_oneof![
        3 => (space.clone(), date_value()).prop_map(|(s, d)| format!("Date:{s}{d}")),
        1 => date_value().prop_map(|d| format!("Resent-Date: {d}")),
        2 => (space.clone(), "[a-z0-9.]{1,12}").prop_map(|(s, id)| format!("Message-Id:{s}<{id}@mx.example.com>")),
        1 => Just("Message-ID: <abc>".to_owned()),
        2 => (space.clone(), "[A-Za-z ]{0,30}").prop_map(|(s, t)| format!("Subject:{s}{t}")),
        1 => Just("Subject: =?iso-8859-1?Q?caf=E9?= and\n =?utf-8?B?SGVsbG8=?=".to_owned()),
        1 => Just("Subject: folded over\n\tthree\n  lines".to_owned()),
        2 => prop::sample::select(vec![
            "From: \"Alice\" <alice@example.com>",
            "From: bob@example.org (Bob)",
            "From:carol@example.net",
            "From: \"Dealz\" <deals@cheap.example.biz>",
            "To: user@example.org,\n\tother@example.org",
            "To: undisclosed-recipients:;",
            "Cc: x@example.com",
            "Reply-To: <reply@example.biz>",
        ]).prop_map(str::to_owned),
        2 => (date_value(), 1u8..255).prop_map(|(d, ip)| format!(
            "Received: from mx.example.com (mx.example.com [192.0.2.{ip}])\n\tby mail.example.org with ESMTP id 12345;\n\t{d}"
        )),
        1 => date_value().prop_map(|d| format!("Received: by local; {d}")),
        1 => prop::sample::select(vec![
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Type: text/html; charset=\"iso-8859-1\"",
            "Content-Transfer-Encoding: quoted-printable",
            "X-Mailer: Microsoft Outlook Express 6.00",
            "X-Priority: 1",
            "List-Unsubscribe: <mailto:leave@example.biz>",
            "Return-Path: <bounce@example.biz>",
        ]).prop_map(str::to_owned),
        2 => ("[A-Za-z][A-Za-z-]{0,11}", space, "[ -~]{0,40}").prop_map(|(n, s, v)| format!("{n}:{s}{v}")),
        1 => ("[A-Za-z][A-Za-z-]{0,11}", "[ -~]{0,20}", "[ -~]{1,20}")
            .prop_map(|(n, v, w)| format!("{n}: {v}\n {w}")),
    ]
}

fn body() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "[A-Za-z ,.!]{0,60}",
        Just("Visit http://cheap.example.biz/buy?now=1 today".to_owned()),
        Just("<p>Click <a href=\"http://x.example.biz/\">here</a></p>".to_owned()),
        Just("FREE MONEY!!! Act now".to_owned()),
        Just("".to_owned()),
        Just("-- ".to_owned()),
    ];
    proptest::collection::vec(line, 0..10).prop_map(|lines| lines.join("\n"))
}

/// A whole LF message: headers, a blank line, then either a plain body or a multipart body
/// whose second part is a nested message with headers of its own.
fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(header_line(), 0..12),
        any::<bool>(),
        proptest::collection::vec(header_line(), 0..6),
        body(),
        body(),
    )
        .prop_map(|(headers, multipart, inner_headers, body, inner_body)| {
            let mut m = headers.join("\n");
            if multipart {
                m.push_str("\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n");
                m.push_str("Content-Type: text/plain\n\n");
                m.push_str(&body);
                m.push_str("\n--b\nContent-Type: message/rfc822\n\n");
                m.push_str(&inner_headers.join("\n"));
                m.push_str("\n\n");
                m.push_str(&inner_body);
                m.push_str("\n--b--\n");
            } else {
                m.push_str("\n\n");
                m.push_str(&body);
                m.push('\n');
            }
            m.into_bytes()
        })
}

proptest! {
    #![proptest_config(common::proptest_cases(384))]

    #[test]
    fn lf_and_crlf_twins_get_the_same_verdict(lf in message()) {
        assert_twins(&lf);
    }
}

/// The case that found it: mail-parser 0.11's date parser reads two bytes past a one- or
/// two-letter zone (`PM`), which with LF line ends swallows the line end and the next field.
#[test]
fn message_id_after_a_pm_date_is_seen_with_lf() {
    let lf = b"Date: 03 Jul 01 4:12:06 PM\nMessage-Id: <abc>\nSubject: x\n\nhello\n";
    assert_twins(lf);
    let (engine, _) = common::trained_engine();
    let view = engine.analyze(lf).view;
    assert_eq!(view.message_id.as_deref(), Some("abc"));
    let names: Vec<&str> = view.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["Date", "Message-Id", "Subject"]);
    assert_eq!(view.headers[0].raw, "03 Jul 01 4:12:06 PM");
}

/// A nested message's Content-Type after such a date decides how its body is read.
#[test]
fn nested_content_type_after_a_one_letter_zone_is_seen() {
    let lf = b"Subject: outer\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\
               Content-Type: message/rfc822\n\nDate: Tue, 1 Oct 2002 10:00:00 Z\n\
               Content-Type: text/html\n\n<p>Click <a href=\"http://x.example.biz/\">here</a></p>\n--b--\n";
    assert_twins(lf);
    let (engine, _) = common::trained_engine();
    let view = engine.analyze(lf).view;
    assert!(
        view.text_parts
            .iter()
            .any(|p| p.kind == mailsift::message::TextKind::Html),
        "{:?}",
        view.text_parts
    );
}
