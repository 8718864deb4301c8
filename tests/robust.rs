//! Robustness: classify is fail-open for every malformed input and every database fault, and
//! limits hold. Isolation, trust and backups are in tests/trust.rs.

mod common;

use std::process::Output;

use common::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/malformed");

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(FIXTURES)
        .expect("fixture dir")
        .map(|e| {
            let p = e.expect("entry").path();
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                std::fs::read(&p).expect("read fixture"),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 25, "malformed fixture corpus is missing");
    out
}

fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Fail-open per malformed input
// ---------------------------------------------------------------------------------------------

#[test]
fn every_malformed_fixture_passes_through_with_lf_and_crlf() {
    let s = Scratch::new("fixtures");
    let db = s.path("missing.db");
    for (name, raw) in fixtures() {
        for (variant, input) in [("as is", raw.clone()), ("crlf", to_crlf(&raw))] {
            let label = format!("{name} ({variant})");
            let o = classify(&db, &[], &input);
            assert_exit(&label, &o, 0);
            assert_annotated(&label, &input, &o.stdout);
        }
    }
}

#[test]
fn every_malformed_fixture_passes_through_a_trained_store() {
    let s = Scratch::new("fixtures-trained");
    let db = trained_store(&s);
    for (name, raw) in fixtures() {
        let o = classify(&db, &[], &raw);
        assert_exit(&name, &o, 0);
        assert!(o.stderr.is_empty(), "{name}: {}", stderr(&o));
        assert_annotated(&name, &raw, &o.stdout);
    }
}

/// The pathological inputs of the issue, generated at run time (never committed).
fn pathological() -> Vec<(&'static str, Vec<u8>)> {
    let mut cases = Vec::new();
    // 1,000-deep nested multiparts.
    let mut m =
        b"From: a@example.com\nSubject: deep\nContent-Type: multipart/mixed; boundary=\"b0\"\n\n"
            .to_vec();
    for i in 1..=1000 {
        m.extend_from_slice(
            format!(
                "--b{}\nContent-Type: multipart/mixed; boundary=\"b{i}\"\n\n",
                i - 1
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(b"--b1000\nContent-Type: text/plain\n\ndeep text\n");
    for i in (0..=1000).rev() {
        m.extend_from_slice(format!("--b{i}--\n").as_bytes());
    }
    cases.push(("1,000-deep multipart", m));
    // 1,000 and 30,000 nested message/rfc822 parts (the second overflowed the stack once).
    for levels in [1000, 30_000] {
        let mut m = b"Content-Type: message/rfc822\n\n".repeat(levels);
        m.extend_from_slice(b"Subject: innermost\n\nbody\n");
        cases.push((
            if levels == 1000 {
                "1,000-deep message/rfc822"
            } else {
                "30,000-deep message/rfc822"
            },
            m,
        ));
    }
    // 100,000 parts.
    let mut m = b"From: a@example.com\nSubject: many parts\nContent-Type: multipart/mixed; boundary=\"x\"\n\n"
        .to_vec();
    for i in 0..100_000 {
        m.extend_from_slice(format!("--x\nContent-Type: text/plain\n\npart {i}\n").as_bytes());
    }
    m.extend_from_slice(b"--x--\n");
    cases.push(("100,000 parts", m));
    // A 1 MB header line, and 1 MB of words in one header.
    let mut m = b"From: a@example.com\nSubject: ".to_vec();
    m.extend(std::iter::repeat_n(b'A', 1 << 20));
    m.extend_from_slice(b"\n\nbody\n");
    cases.push(("1 MB header line", m));
    let mut m = b"From: a@example.com\nX-Words: ".to_vec();
    m.extend(b"word ".repeat(1 << 18));
    m.extend_from_slice(b"\n\nbody\n");
    cases.push(("1 MB header of words", m));
    // 200,000 header fields.
    let mut m = Vec::new();
    for i in 0..200_000 {
        m.extend_from_slice(format!("X-H{i}: v\n").as_bytes());
    }
    m.extend_from_slice(b"\nbody\n");
    cases.push(("200,000 header fields", m));
    // A 50 MB message: text, URLs and HTML, with a big base64 attachment.
    let mut m = b"From: a@example.com\nSubject: big\nContent-Type: multipart/mixed; boundary=\"z\"\n\n--z\nContent-Type: text/html\n\n"
        .to_vec();
    let chunk = b"hello <b>world</b> http://x.example.com/a?b=c buy now &amp; save\n";
    while m.len() < 25 << 20 {
        m.extend_from_slice(chunk);
    }
    m.extend_from_slice(
        b"--z\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n",
    );
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\n";
    while m.len() < 50 << 20 {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b"--z--\n");
    cases.push(("50 MB message", m));
    cases
}

/// A multipart message that ends inside its base64 text part (no closing boundary; an empty
/// line before the base64 lines, as some bulk mailers write): mail-parser 0.11 leaves such a
/// part undecoded, and before E26 the rules and Bayes saw base64 letters instead of its words.
#[test]
fn an_unterminated_base64_part_is_decoded_for_the_rules() {
    let s = Scratch::new("unterminated");
    let lf = "From: a@b.example\nTo: c@d.example\nSubject: news\nMIME-Version: 1.0\n\
              Content-Type: multipart/mixed; boundary=\"xx\"\n\n--xx\n\
              Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: base64\n\n\n\
              SGVsbG8gZnJpZW5kLA0KVG8gYmUgcmVtb3ZlZCBmcm9tIG91ciBtYWlsaW5n\n\
              IGxpc3QsIGNsaWNrIGhlcmUgYW5kIHJlcGx5IHdpdGggUkVNT1ZFIGluIHRo\n\
              ZSBzdWJqZWN0Lg0K\n\n";
    for (label, raw) in [
        ("lf", lf.as_bytes().to_vec()),
        ("crlf", to_crlf(lf.as_bytes())),
    ] {
        let path = s.path(&format!("{label}.eml"));
        std::fs::write(&path, &raw).expect("write");
        let db = s.path("empty.db");
        let o = run(&db, &["explain", path.to_str().expect("utf-8")]);
        assert_exit(label, &o, 0);
        let out = stdout(&o);
        // "To be removed from our mailing list", "Hello friend": only in the decoded text.
        assert!(out.contains("REMOVE_INSTRUCT"), "{label}: {out}");
        assert!(out.contains("DEAR_SOMEONE"), "{label}: {out}");
        let o = classify(&db, &[], &raw);
        assert_exit(label, &o, 0);
        assert!(contains(&o.stdout, b"REMOVE_INSTRUCT"), "{label}");
        assert!(
            o.stdout.ends_with(&raw[raw.len() - 20..]),
            "{label}: body unchanged"
        );
    }
}

#[test]
fn pathological_inputs_pass_through() {
    let s = Scratch::new("pathological");
    let db = trained_store(&s);
    for (label, input) in pathological() {
        let start = std::time::Instant::now();
        // A hang would end in the timeout's unchanged pass-through (exit 3) and fail here.
        let o = classify(&db, &["--timeout", "120"], &input);
        eprintln!("{label}: {} bytes in {:.2?}", input.len(), start.elapsed());
        assert_exit(label, &o, 0);
        assert!(o.stderr.is_empty(), "{label}: {}", stderr(&o));
        assert_annotated(label, &input, &o.stdout);
    }
}

#[test]
fn training_on_malformed_mail_works_and_forgetting_it_restores_the_store() {
    let s = Scratch::new("train-malformed");
    let db = trained_store(&s);
    let before = stats_rows(&stdout(&run(&db, &["stats"])));
    // The fixture files one by one, and all of them again as one mbox (with a stray From_ line
    // and a final message without a newline).
    let mut mbox = Vec::new();
    for (i, (_, raw)) in fixtures().iter().enumerate() {
        mbox.extend_from_slice(
            format!("From fuzz{i}@example.com Mon Jan  1 00:00:00 2024\n").as_bytes(),
        );
        mbox.extend_from_slice(raw);
        mbox.extend_from_slice(b"\n");
    }
    mbox.extend_from_slice(b"From \nFrom: x\n\nlast message, no newline");
    let mbox_path = s.path("malformed.mbox");
    std::fs::write(&mbox_path, &mbox).expect("write mbox");
    let m = mbox_path.to_str().expect("utf-8");
    for args in [["-q", "train", "spam", FIXTURES], ["-q", "train", "ham", m]] {
        let o = run(&db, &args);
        assert_exit("train on malformed mail", &o, 0);
    }
    assert_exit("check", &run(&db, &["db", "check"]), 0);
    // Learn then forget is the identity, whatever the input.
    assert_exit("forget", &run(&db, &["-q", "forget", FIXTURES]), 0);
    assert_exit("forget", &run(&db, &["-q", "forget", m]), 0);
    assert_eq!(stats_rows(&stdout(&run(&db, &["stats"]))), before);
    assert_exit("check", &run(&db, &["db", "check"]), 0);
}

// ---------------------------------------------------------------------------------------------
// 1. Fail-open per database fault, configuration error, panic and timeout
// ---------------------------------------------------------------------------------------------

const MSG: &[u8] = b"From: a@example.com\r\nSubject: hello\r\n\r\nbody \xff\r\n";

#[test]
fn missing_database_is_a_new_install_not_a_fault() {
    let s = Scratch::new("missing");
    let o = classify(&s.path("nope/none.db"), &[], MSG);
    assert_exit("missing", &o, 0);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    assert_annotated("missing", MSG, &o.stdout);
    assert!(
        !s.path("nope").exists(),
        "classify must not create anything"
    );
}

#[test]
fn empty_database_file_reads_as_untrained() {
    let s = Scratch::new("empty");
    let db = s.path("empty.db");
    std::fs::write(&db, b"").expect("write");
    let o = classify(&db, &[], MSG);
    assert_exit("empty file", &o, 0);
    assert_annotated("empty file", MSG, &o.stdout);
}

fn assert_degraded(label: &str, o: &Output, expect_in_stderr: &str) {
    assert_exit(label, o, 3);
    let err = stderr(o);
    assert!(
        err.contains(expect_in_stderr) && err.contains("rules alone"),
        "{label}: stderr should explain the fault ({expect_in_stderr}): {err}"
    );
    assert_annotated(label, MSG, &o.stdout);
}

#[test]
fn corrupt_database_degrades_to_rules() {
    let s = Scratch::new("corrupt");
    let garbage = s.path("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 8192]).expect("write");
    assert_degraded("garbage", &classify(&garbage, &[], MSG), "not a usable");

    // A real store cut in half: the header is fine, pages are missing.
    let db = trained_store(&s);
    let bytes = std::fs::read(&db).expect("read db");
    std::fs::write(&db, &bytes[..bytes.len() / 2]).expect("truncate");
    let o = classify(&db, &[], MSG);
    assert_exit("truncated", &o, 3);
    assert_annotated("truncated", MSG, &o.stdout);
    // The exit code is configurable for delivery agents that treat 3 as failure.
    let o = classify(&garbage, &["--fail-open-exit", "0"], MSG);
    assert_exit("garbage, --fail-open-exit 0", &o, 0);
    assert_annotated("garbage, --fail-open-exit 0", MSG, &o.stdout);
}

#[test]
fn database_path_that_is_a_directory_degrades_to_rules() {
    let s = Scratch::new("dir-as-db");
    let o = classify(&s.0, &[], MSG);
    assert_exit("directory as --db", &o, 3);
    assert_annotated("directory as --db", MSG, &o.stdout);
    assert!(!o.stderr.is_empty());
}

#[test]
fn extreme_limits_in_configuration_still_pass_mail_through() {
    let s = Scratch::new("zero-limits");
    let db = trained_store(&s);
    let cfg = s.path("zero.toml");
    std::fs::write(
        &cfg,
        "[limits]\nmax_scan_bytes = 0\nmax_text_bytes = 0\nmax_parts = 0\nmax_mime_depth = 0\n\
         max_headers = 0\nmax_header_bytes = 0\nmax_urls = 0\nmax_tokens = 0\n",
    )
    .expect("write config");
    let cfg = cfg.to_str().expect("utf-8");
    for (name, raw) in fixtures() {
        let o = classify(&db, &["--config", cfg], &raw);
        assert_exit(&name, &o, 0);
        assert_annotated(&name, &raw, &o.stdout);
    }
}

#[test]
fn closed_standard_output_exits_74() {
    let s = Scratch::new("epipe");
    let mut c = cmd(&s.path("none.db"));
    c.arg("classify")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    drop(child.stdout.take());
    let big = synthetic(false, 1).repeat(20_000);
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = std::io::Write::write_all(&mut stdin, &big);
    drop(stdin);
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(74), "stderr: {}", stderr(&o));
}

#[test]
fn newer_schema_and_other_tokenizer_degrade_to_rules() {
    let s = Scratch::new("schema");
    let db = trained_store(&s);
    let copy = s.path("copy.db");
    std::fs::copy(&db, &copy).expect("copy");
    {
        let c = rusqlite::Connection::open(&db).expect("open");
        c.pragma_update(None, "user_version", 99)
            .expect("set version");
    }
    assert_degraded("newer schema", &classify(&db, &[], MSG), "upgrade mailsift");
    {
        let c = rusqlite::Connection::open(&copy).expect("open");
        c.execute(
            "UPDATE meta SET value = '999' WHERE key = 'tokenizer_version'",
            [],
        )
        .expect("set tokenizer");
    }
    assert_degraded(
        "other tokenizer",
        &classify(&copy, &[], MSG),
        "tokenizer v999",
    );
    // Training refuses both with a clear error instead of damaging them.
    let o = run(
        &db,
        &["train", "spam", s.path("spam").to_str().expect("utf-8")],
    );
    assert_exit("train on newer schema", &o, 2);
}

#[test]
fn locked_database_degrades_after_the_busy_timeout() {
    let s = Scratch::new("locked");
    let db = trained_store(&s);
    let config = s.config(300);
    let holder = rusqlite::Connection::open(&db).expect("open");
    // Exclusive locking mode keeps every other connection out, readers included.
    holder
        .execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; DELETE FROM ledger WHERE 0;",
        )
        .expect("lock");
    let config_arg = config.to_str().expect("utf-8");
    let start = std::time::Instant::now();
    let o = classify(&db, &["--config", config_arg], MSG);
    let waited = start.elapsed();
    assert_degraded("locked", &o, "locked");
    // The lock error comes from the configured busy timeout, not from an immediate failure.
    assert!(
        waited.as_millis() >= 300,
        "gave up after {waited:?}, before the busy timeout"
    );
    let o = run(
        &db,
        &[
            "--config",
            config_arg,
            "train",
            "ham",
            s.path("ham").to_str().expect("utf-8"),
        ],
    );
    assert_exit("train while locked", &o, 2);
    assert!(stderr(&o).contains("locked"), "{}", stderr(&o));
    holder.execute_batch("ROLLBACK").expect("unlock");
}

#[test]
fn read_only_database_still_classifies() {
    use std::os::unix::fs::PermissionsExt;
    // File 0444 in a writable directory (SQLite can create the -shm it needs), and in a
    // directory 0555 (it cannot: no -shm, no -wal), as an unprivileged user.
    for dir_writable in [true, false] {
        let label = if dir_writable {
            "read-only file"
        } else {
            "read-only file and directory"
        };
        let s = Scratch::new("readonly");
        let db = trained_store(&s);
        let spam = synthetic(true, 3);
        let trained = classify(&db, &[], &spam);
        assert_exit("writable", &trained, 0);
        let dir = db.parent().expect("dir").to_owned();
        let mut c = if is_root() {
            let uid = 65534;
            std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).expect("chown dir");
            std::os::unix::fs::chown(&db, Some(uid), Some(uid)).expect("chown db");
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()]);
            c
        } else {
            std::process::Command::new(bin())
        };
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod db");
        let dir_mode = if dir_writable { 0o755 } else { 0o555 };
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(dir_mode))
            .expect("chmod dir");
        c.env_remove("MAILSIFT_DB")
            .env_remove("MAILSIFT_SOCKET")
            .env("XDG_CONFIG_HOME", "/nonexistent-mailsift-test")
            .arg("--db")
            .arg(&db)
            .arg("classify");
        // As root, file modes stop nothing: the check runs as `nobody` through setpriv
        // (util-linux), and fails loudly rather than silently passing if that is impossible.
        let o = run_with_input(c, &spam);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
        assert_exit(label, &o, 0);
        assert!(o.stderr.is_empty(), "{label}: {}", stderr(&o));
        assert_annotated(label, &spam, &o.stdout);
        // The trained model was really used: same verdict line as with a writable store.
        // The whole X-Spam-Status field, unfolded (long test lists continue on the next line).
        let status = |out: &[u8]| {
            let text = String::from_utf8_lossy(out).into_owned();
            let mut lines = text
                .lines()
                .skip_while(|l| !l.starts_with("X-Spam-Status:"));
            let first = lines.next()?.to_owned();
            let rest: Vec<&str> = lines
                .take_while(|l| l.starts_with([' ', '\t']))
                .map(str::trim)
                .collect();
            Some(
                std::iter::once(first.as_str())
                    .chain(rest)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        };
        assert!(
            status(&trained.stdout).is_some_and(|l| l.contains("BAYES_")),
            "the trained store should give a Bayes verdict: {:?}",
            status(&trained.stdout)
        );
        assert_eq!(status(&o.stdout), status(&trained.stdout), "{label}");
    }
}

#[test]
fn configuration_error_panic_and_timeout_pass_the_message_unchanged() {
    let s = Scratch::new("failopen");
    let db = s.path("none.db");
    let bad = s.path("bad.toml");
    std::fs::write(&bad, "required_score = [not toml").expect("write");
    let o = classify(&db, &["--config", bad.to_str().expect("utf-8")], MSG);
    assert_exit("config error", &o, 3);
    assert_eq!(
        o.stdout, MSG,
        "config error: output must be the input unchanged"
    );

    let o = classify(&db, &["--user", "../../etc/passwd"], MSG);
    assert_exit("invalid user", &o, 3);
    assert_eq!(
        o.stdout, MSG,
        "invalid user: output must be the input unchanged"
    );

    // Fault injection is compiled into debug builds only (see classify.rs).
    if !cfg!(debug_assertions) {
        eprintln!("skipped the panic and hang cases: fault injection exists in debug builds only");
        return;
    }
    let mut c = cmd(&db);
    c.env("MAILSIFT_DEBUG_FAULT", "panic").arg("classify");
    let o = run_with_input(c, MSG);
    assert_exit("panic", &o, 3);
    assert_eq!(o.stdout, MSG, "panic: output must be the input unchanged");
    assert!(stderr(&o).contains("panic"), "{}", stderr(&o));

    let mut c = cmd(&db);
    c.env("MAILSIFT_DEBUG_FAULT", "hang")
        .args(["classify", "--timeout", "1"]);
    let o = run_with_input(c, MSG);
    assert_exit("timeout", &o, 3);
    assert_eq!(o.stdout, MSG, "timeout: output must be the input unchanged");
    assert!(stderr(&o).contains("longer than 1 s"), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// 2. Limits
// ---------------------------------------------------------------------------------------------

#[test]
fn limits_cap_every_size_and_count() {
    use mailsift::{Limits, MessageView};
    let limits = Limits {
        max_scan_bytes: 64 << 10,
        max_text_bytes: 4 << 10,
        max_parts: 10,
        max_mime_depth: 3,
        max_headers: 5,
        max_header_bytes: 100,
        max_urls: 7,
        max_tokens: 50,
    };
    let mut m = String::new();
    for i in 0..50 {
        m.push_str(&format!("X-H{i}: {}\n", "v".repeat(1000)));
    }
    m.push_str("Content-Type: multipart/mixed; boundary=\"b0\"\n\n");
    for d in 1..=8 {
        m.push_str(&format!(
            "--b{}\nContent-Type: multipart/mixed; boundary=\"b{d}\"\n\n",
            d - 1
        ));
    }
    for i in 0..40 {
        m.push_str(&format!(
            "--b8\nContent-Type: text/plain\n\nword{i} http://h{i}.example.com/ {}\n",
            (0..200).map(|k| format!("t{i}x{k} ")).collect::<String>()
        ));
    }
    m.push_str("--b8--\n");
    m.push_str(&"padding ".repeat(20_000));
    let raw = m.as_bytes();
    assert!(raw.len() > limits.max_scan_bytes);
    let v = MessageView::parse(raw, &limits);
    assert!(v.truncated, "scan limit");
    assert!(v.raw.len() <= limits.max_scan_bytes, "scan limit");
    assert!(v.headers.len() <= limits.max_headers, "header count");
    assert!(
        v.headers
            .iter()
            .all(|h| h.raw.len() <= limits.max_header_bytes),
        "header size"
    );
    assert!(v.part_count <= limits.max_parts, "part count");
    assert!(v.mime_depth <= limits.max_mime_depth, "MIME depth");
    assert!(v.urls.len() <= limits.max_urls, "URLs");
    let text: usize = v.text_parts.iter().map(|p| p.raw.len()).sum();
    assert!(text <= limits.max_text_bytes, "text bytes");
    let mut engine = mailsift::Engine::new();
    engine.limits = limits.clone();
    let a = engine.analyze(raw);
    assert!(
        a.tokens.len() <= limits.max_tokens,
        "tokens: {}",
        a.tokens.len()
    );
    // And with defaults the same message is looked at more deeply: the caps above did the work.
    let full = MessageView::parse(raw, &Limits::default());
    assert!(full.headers.len() > limits.max_headers && full.mime_depth > limits.max_mime_depth);
}

#[test]
fn limits_are_configurable() {
    let c = mailsift::Config::from_toml(
        "[limits]\nmax_scan_bytes = 1000\nmax_parts = 5\nmax_mime_depth = 2\nmax_tokens = 10\nmax_headers = 3\nmax_header_bytes = 64\n",
        "test",
    )
    .expect("valid limits");
    assert_eq!(
        (
            c.limits.max_scan_bytes,
            c.limits.max_parts,
            c.limits.max_mime_depth
        ),
        (1000, 5, 2)
    );
    assert_eq!(
        (
            c.limits.max_tokens,
            c.limits.max_headers,
            c.limits.max_header_bytes
        ),
        (10, 3, 64)
    );
    assert!(
        mailsift::Config::from_toml("[limits]\nmax_partz = 5\n", "test").is_err(),
        "a misspelt limit must be an error, not a silent default"
    );
}

#[test]
fn no_regex_can_backtrack_without_bound() {
    // Rules are matched with the `regex` crate (linear time). Perl-only constructs
    // (look-around, back-references) fall back to `fancy-regex`, which backtracks: every
    // builder of it must set a backtracking limit, and no unbounded engine may be linked.
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .expect("Cargo.lock");
    for engine in ["pcre2", "onig", "pcre"] {
        assert!(
            !lock.contains(&format!("name = \"{engine}\"")),
            "unbounded backtracking regex engine {engine} is a dependency"
        );
    }
    assert!(lock.contains("name = \"regex\""));
    // Every source file of the rules engine: a builder and its limit live in the same file.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../classifier/src/rules");
    let mut builders = 0;
    for entry in std::fs::read_dir(dir).expect("rules dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("source");
        let here = src.matches("fancy_regex::RegexBuilder::new").count();
        assert!(
            src.matches(".backtrack_limit(").count() >= here,
            "every fancy-regex builder needs a backtrack limit ({})",
            path.display()
        );
        builders += here;
    }
    assert!(builders > 0, "no fancy-regex builder found under {dir}");
    // Behaviour: a catastrophic pattern with look-ahead and a back-reference, against a long
    // run of 'a's, returns (no match) instead of running for hours.
    let (rules, issues) = mailsift::rules::RuleSet::load(&[(
        "evil.cf".to_owned(),
        "body EVIL_BACKTRACK /^(a|aa)+(?=b)\\1/\nscore EVIL_BACKTRACK 1.0\ndescribe EVIL_BACKTRACK catastrophic\n".to_owned(),
    )]);
    assert!(
        rules.get("EVIL_BACKTRACK").is_some(),
        "rule must load: {issues:?}"
    );
    let msg = format!("Subject: x\n\n{}c\n", "a".repeat(5000));
    let view = mailsift::MessageView::parse(msg.as_bytes(), &mailsift::Limits::default());
    let hits = rules.evaluate(
        &view,
        &mailsift::rules::EvalContext {
            bayes_probability: None,
            now: 0,
        },
    );
    assert!(hits.iter().all(|h| h.name != "EVIL_BACKTRACK"));
}
