//! Property tests: the pipeline (parse → tokenize → classify → annotate) never panics and
//! always writes the input back unchanged after its added headers, for arbitrary bytes,
//! message-shaped garbage and mutated real messages (the malformed fixture corpus plus
//! well-formed synthetic mail). Case counts are moderate for CI; set PROPTEST_CASES to run more,
//! and see `examples/fuzz.rs` for the long-running fuzzer.

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/malformed");

/// Seeds for mutation: every malformed fixture and some well-formed messages.
fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(FIXTURES)
            .expect("fixtures")
            .map(|e| {
                let p = e.expect("entry").path();
                let b = std::fs::read(&p).expect("read");
                (p, b)
            })
            .collect();
        out.sort();
        let mut seeds: Vec<Vec<u8>> = out.into_iter().map(|(_, b)| b).collect();
        seeds.push(common::synthetic(true, 1));
        seeds.push(common::synthetic(false, 2));
        seeds.push(
            b"From: a@example.com\nSubject: mime\nMIME-Version: 1.0\n\
              Content-Type: multipart/alternative; boundary=\"b\"\n\n--b\n\
              Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n\
              SGVsbG8gcGxhaW4=\n--b\nContent-Type: text/html; charset=iso-8859-1\n\
              Content-Transfer-Encoding: quoted-printable\n\n<p>Visit <a href=3D\"http://x.example.biz/\">\
              us</a> =E4</p>\n--b\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n--b--\n"
                .to_vec(),
        );
        seeds
    })
}

/// Runs the whole pipeline on `input` and checks the fail-open output contract.
fn check_pipeline(input: &[u8]) {
    let (engine, model) = common::trained_engine();
    let analysis = engine.analyze(input);
    let verdict = engine
        .verdict(&analysis, model)
        .expect("an in-memory model cannot fail");
    assert!(verdict.score.is_finite(), "score {}", verdict.score);
    let out = engine.annotate(input, &verdict, None);
    common::assert_annotated("property", input, &out);
    let tagged = engine.annotate(input, &verdict, Some("[SPAM]"));
    assert!(mailsift::headers::header_block(input).is_some() || tagged == input);
    // The digest that keys the ledger ignores our own headers: learning the annotated message
    // is learning the original one. (Except headers-only input without a final newline, which
    // gains one: a different byte string, so a different message to the ledger.)
    let unterminated = mailsift::headers::header_block(input)
        .is_some_and(|b| b.end == input.len() && !input.ends_with(b"\n"));
    if !unterminated {
        assert_eq!(
            mailsift::headers::digest(&out),
            mailsift::headers::digest(input)
        );
    }
}

/// One mutation of a seed.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    Truncate(usize),
    Duplicate(usize, usize, usize),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Crlf,
}

fn apply(seed: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut m = seed.to_vec();
    for mu in muts {
        let len = m.len().max(1);
        match mu {
            Mutation::FlipBit(at, bit) => {
                if !m.is_empty() {
                    let i = at % m.len();
                    m[i] ^= 1 << (bit % 8);
                }
            }
            Mutation::Truncate(at) => m.truncate(at % len),
            Mutation::Duplicate(at, n, to) => {
                let a = at % len;
                let b = (a + n % 256).min(m.len());
                let chunk = m.get(a..b).map(<[u8]>::to_vec).unwrap_or_default();
                let to = (to % len).min(m.len());
                m.splice(to..to, chunk);
            }
            Mutation::Delete(at, n) => {
                let a = (at % len).min(m.len());
                let b = (a + n % 64).min(m.len());
                m.drain(a..b);
            }
            Mutation::Insert(at, bytes) => {
                let at = (at % len).min(m.len());
                m.splice(at..at, bytes.iter().copied());
            }
            Mutation::Crlf => {
                m = m
                    .split(|&b| b == b'\n')
                    .collect::<Vec<_>>()
                    .join(&b"\r\n"[..]);
            }
        }
    }
    m
}

/// Byte strings that matter to MIME and header parsing.
fn interesting() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"\n--b\n".to_vec()),
        Just(b"\n--b--\n".to_vec()),
        Just(b"\n--x\nContent-Type: multipart/mixed; boundary=\"x\"\n\n".to_vec()),
        Just(b"Content-Type: message/rfc822\n\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\n\n".to_vec()),
        Just(b"=?utf-8?B?".to_vec()),
        Just(b"=\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"X-Spam-Status: No\n".to_vec()),
        Just(b"<a href=\"http://".to_vec()),
        Just(b"&#x10FFFF;&#0;&".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..16),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::FlipBit(a, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(a, n, t)| Mutation::Duplicate(a, n, t)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, n)| Mutation::Delete(a, n)),
        3 => (any::<usize>(), interesting()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        1 => Just(Mutation::Crlf),
    ]
}

/// Message-shaped input: header-ish lines, a separator (or not), and a body of mixed pieces.
fn message_shaped() -> impl Strategy<Value = Vec<u8>> {
    let header = prop_oneof![
        Just(b"From: a@example.com".to_vec()),
        Just(b"Subject: =?iso-8859-1?Q?caf=E9?=".to_vec()),
        Just(b"Content-Type: multipart/mixed; boundary=b".to_vec()),
        Just(b"Content-Type: text/html; charset=x-unknown".to_vec()),
        Just(b"Content-Transfer-Encoding: quoted-printable".to_vec()),
        Just(b"X-Spam-Flag: YES".to_vec()),
        Just(b"\tcontinued".to_vec()),
        "[A-Za-z-]{1,12}: [ -~]{0,40}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    let eol = prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..])];
    (
        proptest::collection::vec(header, 0..12),
        eol,
        any::<bool>(),
        proptest::collection::vec(interesting(), 0..12),
    )
        .prop_map(|(headers, eol, separator, body)| {
            let mut m = Vec::new();
            for h in headers {
                m.extend_from_slice(&h);
                m.extend_from_slice(eol);
            }
            if separator {
                m.extend_from_slice(eol);
            }
            for b in body {
                m.extend_from_slice(&b);
            }
            m
        })
}

proptest! {
    #![proptest_config(common::proptest_cases(512))]

    #[test]
    fn arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check_pipeline(&input);
    }

    #[test]
    fn message_shaped_input(input in message_shaped()) {
        check_pipeline(&input);
    }

    #[test]
    fn mutated_messages(
        seed in any::<prop::sample::Index>(),
        muts in proptest::collection::vec(mutation(), 1..8),
    ) {
        let seeds = seeds();
        let input = apply(seeds[seed.index(seeds.len())].as_slice(), &muts);
        check_pipeline(&input);
    }
}

proptest! {
    // Each case runs the real binary: fewer cases, same contract, through the panic guard.
    #![proptest_config(common::proptest_cases(24))]

    #[test]
    fn cli_classify_on_mutated_messages(
        seed in any::<prop::sample::Index>(),
        muts in proptest::collection::vec(mutation(), 1..8),
    ) {
        let seeds = seeds();
        let input = apply(seeds[seed.index(seeds.len())].as_slice(), &muts);
        let db = std::env::temp_dir().join("mailsift-properties-no-such.db");
        let o = common::classify(&db, &[], &input);
        prop_assert_eq!(o.status.code(), Some(0), "stderr: {}", common::stderr(&o));
        common::assert_annotated("cli", &input, &o.stdout);
    }
}
