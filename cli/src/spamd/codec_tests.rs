use std::io::Write;

use super::*;

fn request(bytes: &[u8], max: usize) -> Result<Option<Request>, ReadError> {
    read_request(&mut io::BufReader::new(bytes), max)
}

fn wire_err(bytes: &[u8], max: usize) -> WireError {
    match request(bytes, max) {
        Err(ReadError::Wire(e)) => e,
        other => panic!("expected a wire error, got {other:?}"),
    }
}

fn head(verb: Verb, version: f64) -> Head {
    let mut h = read_head(&mut &b"CHECK SPAMC/1.5\r\n\r\n"[..])
        .expect("head")
        .expect("some");
    h.verb = verb;
    h.version = version;
    h
}

const HAM: Scores = Scores {
    spam: false,
    score: 1.04,
    required: 5.0,
};
const SPAM: Scores = Scores {
    spam: true,
    score: 12.345,
    required: 5.0,
};

#[test]
fn parses_what_spamc_and_exim_send() {
    let r = request(
        b"PROCESS SPAMC/1.5\r\nUser: alice\r\nContent-length: 18\r\n\r\nSubject: hi\n\nbody\n",
        1 << 20,
    )
    .expect("ok")
    .expect("some");
    assert_eq!(r.head.verb, Verb::Process);
    assert_eq!(r.head.version, 1.5);
    assert_eq!(r.head.user.as_deref(), Some("alice"));
    assert_eq!(r.message, b"Subject: hi\n\nbody\n");
    // Exim: REPORT SPAMC/1.2, then the message and a half-close.
    let r = request(
        b"REPORT SPAMC/1.2\r\nUser: nobody\r\nContent-length: 5\r\n\r\nab\ncd",
        1 << 20,
    )
    .expect("ok")
    .expect("some");
    assert_eq!((r.head.verb, r.head.version), (Verb::Report, 1.2));
    // Exim's rspamd variant: no half-close, unknown headers ignored.
    let r = request(
        b"CHECK RSPAMC/1.3\r\nContent-length: 3\r\nQueue-Id: 1abc\r\nFrom: <a@b>\r\nRecipient-Number: 1\r\nRcpt: <c@d>\r\nIP: 192.0.2.1\r\n\r\nxyz",
        1 << 20,
    )
    .expect("ok")
    .expect("some");
    assert_eq!(r.head.dialect, Dialect::Rspamc);
    assert_eq!(r.message, b"xyz");
    // TELL headers.
    let r = request(
        b"TELL SPAMC/1.5\r\nMessage-class: spam\r\nSet: local\r\nUser: bob\r\nContent-length: 1\r\n\r\nx",
        10,
    )
    .expect("ok")
    .expect("some");
    assert_eq!(r.head.message_class, Some(Class::Spam));
    assert!(r.head.set_local && !r.head.set_remote && !r.head.remove_local);
    // PING 1.5 has an empty header block; PING 1.2 has none.
    let r = request(b"PING SPAMC/1.5\r\n\r\n", 10)
        .expect("ok")
        .expect("some");
    assert_eq!(r.head.verb, Verb::Ping);
    let r = request(b"PING SPAMC/1.2\r\n", 10)
        .expect("ok")
        .expect("some");
    assert_eq!(r.head.verb, Verb::Ping);
    // Protocol 1.0: no headers, the message runs to the end of input.
    let r = request(b"PROCESS SPAMC/1.0\r\nSubject: x\n\nbody", 100)
        .expect("ok")
        .expect("some");
    assert_eq!(r.message, b"Subject: x\n\nbody");
    // Nothing at all: a connection probe.
    assert!(request(b"", 10).expect("ok").is_none());
}

#[test]
fn malformed_requests_get_spamd_errors() {
    for (bytes, want) in [
        (&b"GET / HTTP/1.0\r\n\r\n"[..], "not a spamd request"),
        (b"PROCESS\r\n\r\n", "not a spamd request"),
        (b"PROCESS SPAMC/x.y\r\n\r\n", "not a spamd request"),
        (b"PROCESS SPAMC/1.5\r\nUser alice\r\n\r\n", "'Name: value'"),
        (
            b"PROCESS SPAMC/1.5\r\nContent-length: 12a\r\n\r\n",
            "non-numeric",
        ),
        (
            b"PROCESS SPAMC/1.5\r\nContent-length: 10\r\n\r\nshort",
            "Expected 10 bytes, got 5 bytes",
        ),
        (b"PROCESS SPAMC/1.5\r\nUser: a", "EOF during headers"),
        (b"PROCESS SPAMC/1.5\r\n", "EOF during headers"),
        (
            b"PROCESS SPAMC/1.5\r\nCompress: gzip\r\n\r\n",
            "compression type not supported",
        ),
        (
            b"TELL SPAMC/1.5\r\nMessage-class: eggs\r\n\r\n",
            "invalid class",
        ),
        (
            b"PROCESS RSPAMC/1.3\r\n\r\n",
            "CHECK, SYMBOLS and PING only",
        ),
    ] {
        let e = wire_err(bytes, 100);
        assert_eq!(e.code, ExCode::Protocol, "{e:?}");
        assert!(
            e.text.contains(want),
            "{:?} -> {e:?}",
            String::from_utf8_lossy(bytes)
        );
        let line = e.reply();
        assert!(
            line.starts_with(b"SPAMD/1.0 76 Bad header line: ("),
            "{line:?}"
        );
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    }
    let mut many = b"CHECK SPAMC/1.5\r\n".to_vec();
    for _ in 0..300 {
        many.extend_from_slice(b"X-Foo: bar\r\n");
    }
    assert!(wire_err(&many, 10).text.contains("too many headers"));
    let mut long = b"CHECK SPAMC/1.5\r\nUser: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', MAX_LINE * 4));
    assert!(wire_err(&long, 10).text.contains("line over"));
    let e = wire_err(b"CHECK SPAMC/1.5\r\nUser: a\x01b\r\n\r\n", 10);
    assert!(e.text.contains("control chars"));
}

#[test]
fn size_limit_is_checked_before_reading() {
    // A Content-length over the limit is refused from the head alone.
    let e = wire_err(
        b"PROCESS SPAMC/1.5\r\nContent-length: 1000001\r\n\r\n",
        1_000_000,
    );
    assert_eq!(e.code, ExCode::DataErr);
    assert!(e.reply().starts_with(b"SPAMD/1.0 65 Message too big"));
    // Without a Content-length, reading stops one byte over the limit.
    let mut body = b"PROCESS SPAMC/1.5\r\n\r\n".to_vec();
    body.extend(std::iter::repeat_n(b'x', 101));
    assert_eq!(wire_err(&body, 100).code, ExCode::DataErr);
    body.pop();
    assert_eq!(
        request(&body, 100)
            .expect("ok")
            .expect("some")
            .message
            .len(),
        100
    );
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(3));
    e.write_all(data).expect("compress");
    e.finish().expect("finish")
}

#[test]
fn zlib_bodies_are_inflated_within_the_limit() {
    let msg = b"Subject: compressed\r\n\r\nhello hello hello hello\r\n";
    let z = zlib(msg);
    let mut req = format!(
        "PROCESS SPAMC/1.5\r\nCompress: zlib\r\nContent-length: {}\r\n\r\n",
        z.len()
    )
    .into_bytes();
    req.extend_from_slice(&z);
    let r = request(&req, 1000).expect("ok").expect("some");
    assert!(r.head.zlib);
    assert_eq!(r.message, msg);
    // A small stream that inflates past the limit (a zip bomb) stops at the limit.
    let bomb = zlib(&vec![b'a'; 10 << 20]);
    let mut req = format!(
        "CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: {}\r\n\r\n",
        bomb.len()
    )
    .into_bytes();
    req.extend_from_slice(&bomb);
    assert_eq!(wire_err(&req, 1 << 20).code, ExCode::DataErr);
    // Compress without Content-length, and a corrupt stream.
    let e = wire_err(b"CHECK SPAMC/1.5\r\nCompress: zlib\r\n\r\nxx", 100);
    assert_eq!(e.code, ExCode::Unavailable);
    let e = wire_err(
        b"CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: 4\r\n\r\nnope",
        100,
    );
    assert!(e.text.contains("zlib"), "{e:?}");
}

#[test]
fn scores_are_formatted_like_spamassassin() {
    let s = |spam, score, required| Scores {
        spam,
        score,
        required,
    };
    assert_eq!(shown_score(s(true, 12.345, 5.0), 1), "12.3");
    assert_eq!(shown_score(s(false, 1.04, 5.0), 1), "1.0");
    assert_eq!(shown_score(s(false, -0.5, 5.0), 1), "-0.5");
    // Not spam, but rounds up to the threshold: shown just under it.
    assert_eq!(shown_score(s(false, 4.96, 5.0), 1), "4.9");
    assert_eq!(shown_score(s(false, 1.06, 1.1), 1), "1");
    assert_eq!(shown_score(s(false, 4.996, 5.0), 2), "4.99");
    assert_eq!(spam_line(Verb::Check, SPAM), "Spam: True ; 12.3 / 5.0");
    assert_eq!(spam_line(Verb::Process, HAM), "Spam: False ; 1.0 / 5.0");
    assert_eq!(
        spam_line(Verb::ReportIfSpam, SPAM),
        "Spam: Yes ; 12.3 / 5.0"
    );
    assert_eq!(spam_line(Verb::ReportIfSpam, HAM), "Spam: No ; 1.0 / 5.0");
}

#[test]
fn reply_layout_follows_the_protocol_version() {
    let msg = b"Subject: x\r\nX-Spam-Flag: YES\r\n\r\nbody\r\n";
    // PROCESS: 1.3+ Content-length then Spam; 1.2 Content-length only; 1.1 bare.
    assert_eq!(
        scan_reply(&head(Verb::Process, 1.5), SPAM, msg),
        [
            &b"SPAMD/1.1 0 EX_OK\r\nContent-length: 38\r\nSpam: True ; 12.3 / 5.0\r\n\r\n"[..],
            msg
        ]
        .concat()
    );
    assert_eq!(
        scan_reply(&head(Verb::Process, 1.2), SPAM, msg),
        [&b"SPAMD/1.1 0 EX_OK\r\nContent-length: 38\r\n\r\n"[..], msg].concat()
    );
    assert_eq!(
        scan_reply(&head(Verb::Process, 1.1), SPAM, msg),
        [&b"SPAMD/1.0 0 EX_OK\r\n"[..], msg].concat()
    );
    // CHECK: the Spam line only, whatever the version.
    for v in [1.2, 1.5] {
        assert_eq!(
            scan_reply(&head(Verb::Check, v), HAM, b"ignored"),
            b"SPAMD/1.1 0 EX_OK\r\nSpam: False ; 1.0 / 5.0\r\n\r\n"
        );
    }
    // REPORT: 1.2 gets the Spam line right after the status line (Exim's parser needs it).
    assert_eq!(
        scan_reply(&head(Verb::Report, 1.2), SPAM, b"report\r\n"),
        b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 12.3 / 5.0\r\n\r\nreport\r\n"
    );
    assert_eq!(
        scan_reply(&head(Verb::Report, 1.5), SPAM, b"report\r\n"),
        b"SPAMD/1.1 0 EX_OK\r\nContent-length: 8\r\nSpam: True ; 12.3 / 5.0\r\n\r\nreport\r\n"
    );
    // REPORT_IFSPAM: no report for ham.
    assert_eq!(
        scan_reply(&head(Verb::ReportIfSpam, 1.5), HAM, b"report"),
        b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: No ; 1.0 / 5.0\r\n\r\n"
    );
    // SYMBOLS: CRLF after the list before 1.3 only.
    assert_eq!(
        scan_reply(&head(Verb::Symbols, 1.2), SPAM, b"A,B"),
        b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 12.3 / 5.0\r\n\r\nA,B\r\n"
    );
    assert_eq!(
        scan_reply(&head(Verb::Symbols, 1.5), SPAM, b"A,B"),
        b"SPAMD/1.1 0 EX_OK\r\nContent-length: 3\r\nSpam: True ; 12.3 / 5.0\r\n\r\nA,B"
    );
    let mut rh = head(Verb::Symbols, 1.3);
    rh.dialect = Dialect::Rspamc;
    assert_eq!(
        rspamc_reply(&rh, SPAM, &[("BAYES_99", 3.5), ("X", 1.0)]),
        b"RSPAMD/1.3 0 EX_OK\r\nMetric: default; True; 12.35 / 5.00 / 5.00\r\nAction: reject\r\nSymbol: BAYES_99(3.50)\r\nSymbol: X(1.00)\r\n\r\n"
    );
    assert_eq!(
        tell_reply(true, false),
        b"SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n\r\n"
    );
    assert_eq!(pong(Dialect::Spamc), b"SPAMD/1.5 0 PONG\r\n");
}

#[test]
fn header_part_stops_after_the_empty_line() {
    assert_eq!(
        header_part(b"A: b\r\nC: d\r\n\r\nbody\r\n\r\n"),
        b"A: b\r\nC: d\r\n\r\n"
    );
    assert_eq!(header_part(b"A: b\n\nbody\n\n"), b"A: b\n\n");
    assert_eq!(header_part(b"A: b\n"), b"A: b\n");
    assert_eq!(header_part(b""), b"");
}

proptest::proptest! {
    #[test]
    fn requests_as_clients_write_them_parse_back(
        verb in proptest::sample::select(vec!["CHECK", "SYMBOLS", "REPORT", "REPORT_IFSPAM", "PROCESS", "HEADERS", "TELL"]),
        version in proptest::sample::select(vec!["1.2", "1.3", "1.5"]),
        user in proptest::option::of("[A-Za-z0-9._@+-]{1,16}"),
        compress in proptest::prelude::any::<bool>(),
        message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
    ) {
        let body = if compress { zlib(&message) } else { message.clone() };
        let mut req = format!("{verb} SPAMC/{version}\r\n");
        if let Some(u) = &user {
            req.push_str(&format!("User: {u}\r\n"));
        }
        if compress {
            req.push_str("Compress: zlib\r\n");
        }
        req.push_str(&format!("Content-length: {}\r\n\r\n", body.len()));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(&body);
        let r = request(&bytes, 4096).expect("valid").expect("some");
        proptest::prop_assert_eq!(r.head.user, user);
        proptest::prop_assert_eq!(r.head.zlib, compress);
        proptest::prop_assert_eq!(r.head.version, version.parse::<f64>().expect("number"));
        proptest::prop_assert_eq!(r.message, message);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = request(&bytes, 256);
        for prefix in [
            &b"PROCESS SPAMC/1.5\r\n"[..],
            b"TELL SPAMC/1.5\r\nContent-length: 20\r\n",
            b"CHECK SPAMC/1.5\r\nCompress: zlib\r\nContent-length: 40\r\n\r\n",
            b"CHECK RSPAMC/1.3\r\n",
            b"PROCESS SPAMC/1.0\r\n",
        ] {
            let framed = [prefix, &bytes[..]].concat();
            if let Ok(Some(r)) = request(&framed, 256) {
                proptest::prop_assert!(r.message.len() <= 256);
            }
        }
        let line = parse_request_line(&bytes);
        if let Ok((verb, _, v)) = line {
            let h = head(verb, v);
            let s = Scores { spam: bytes.len() % 2 == 0, score: bytes.len() as f64 / 7.0, required: 5.0 };
            let _ = scan_reply(&h, s, &bytes);
        }
        let _ = header_part(&bytes);
    }
}
