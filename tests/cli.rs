//! CLI integration tests: each checks stdout, stderr and the exit code together.

mod common;

use std::path::{Path, PathBuf};

use common::{Scratch, bare, run_piped as run};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/fixtures")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).expect("fixture")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Splits an annotated message into (our X-Spam-* lines, the rest) and checks the rest is the
/// input byte for byte.
fn assert_annotated(input: &[u8], output: &[u8]) -> String {
    let block = mailsift::headers::header_block(input).expect("input has headers");
    assert!(
        output.starts_with(&input[..block.end]),
        "header fields must come first, unchanged"
    );
    assert!(
        output.ends_with(&input[block.end..]),
        "body must be unchanged"
    );
    text(&output[block.end..output.len() - (input.len() - block.end)])
}

#[test]
fn classify_adds_headers_and_keeps_every_body_byte() {
    let dir = Scratch::new("classify");
    for name in ["ham-meeting.eml", "ham-crlf.eml", "spam-pills.eml"] {
        let input = fixture(name);
        let out = run(bare().args(["--db", &dir.db(), "classify"]), &input);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: stderr {}",
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stderr),
            "",
            "{name}: a missing database is not an error"
        );
        let added = assert_annotated(&input, &out.stdout);
        let eol = if name.contains("crlf") { "\r\n" } else { "\n" };
        for field in [
            "X-Spam-Flag: ",
            "X-Spam-Score: ",
            "X-Spam-Bayes: ",
            "X-Spam-Status: ",
        ] {
            assert!(
                added.contains(field),
                "{name}: missing {field} in {added:?}"
            );
        }
        assert!(
            added.ends_with(eol),
            "{name}: our headers use the message's line ending"
        );
        assert!(!added.contains("\r\n") || eol == "\r\n");
    }
}

#[test]
fn classify_strips_forged_spam_headers() {
    let dir = Scratch::new("forged");
    let input =
        b"From: a@b.example\nX-Spam-Flag: NO\nX-Spam-Status: No, score=-100\nSubject: hi\n\nbody\n";
    let out = run(bare().args(["--db", &dir.db(), "classify"]), input);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(!s.contains("score=-100"), "{s}");
    assert_eq!(s.matches("X-Spam-Flag:").count(), 1, "{s}");
    assert!(s.ends_with("\n\nbody\n"));
}

#[test]
fn exit_code_option_and_gtube() {
    let dir = Scratch::new("exitcode");
    let gtube = fixture("gtube.eml");
    let out = run(
        bare().args(["--db", &dir.db(), "classify", "--exit-code"]),
        &gtube,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "GTUBE is spam: exit 1 with --exit-code"
    );
    assert!(text(&out.stdout).contains("X-Spam-Flag: YES"));
    assert!(text(&out.stdout).contains("GTUBE"));
    let out = run(bare().args(["--db", &dir.db(), "classify"]), &gtube);
    assert_eq!(
        out.status.code(),
        Some(0),
        "without --exit-code, 0 whatever the verdict"
    );
    let out = run(
        bare().args(["--db", &dir.db(), "classify", "--exit-code"]),
        &fixture("ham-meeting.eml"),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("X-Spam-Flag: NO"));
}

#[test]
fn bad_config_fails_open_with_the_original_message() {
    let dir = Scratch::new("badconfig");
    let cfg = dir.0.join("bad.toml");
    std::fs::write(&cfg, "requried_score = 3\n").expect("write");
    let input = fixture("ham-meeting.eml");
    let out = run(
        bare().args([
            "--db",
            &dir.db(),
            "--config",
            cfg.to_str().expect("utf8"),
            "classify",
        ]),
        &input,
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, input, "unchanged on a config error");
    let err = text(&out.stderr);
    assert!(
        err.starts_with("mailsift: ")
            && err.contains("requried_score")
            && err.contains("passed through unchanged"),
        "{err}"
    );
    let out = run(
        bare().args([
            "--db",
            &dir.db(),
            "--config",
            cfg.to_str().expect("utf8"),
            "classify",
            "--fail-open-exit",
            "0",
        ]),
        &input,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, input);
}

#[test]
fn train_correct_forget_stats_score_explain() {
    let dir = Scratch::new("train");
    let db = dir.db();
    let f = |n: &str| fixtures().join(n).display().to_string();
    let out = run(
        bare().args([
            "--db",
            &db,
            "train",
            "spam",
            &f("spam-pills.eml"),
            &f("spam-lottery.eml"),
        ]),
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "mailsift: learned 2, already known 0, flipped 0, not mail 0, unreadable 0\n"
    );
    assert_eq!(text(&out.stdout), "");
    let out = run(
        bare().args([
            "--db",
            &db,
            "train",
            "ham",
            &f("ham-meeting.eml"),
            &f("ham-crlf.eml"),
        ]),
        b"",
    );
    assert_eq!(
        text(&out.stderr),
        "mailsift: learned 2, already known 0, flipped 0, not mail 0, unreadable 0\n"
    );
    // Learning again is a no-op; through stdin too.
    let out = run(
        bare().args(["--db", &db, "train", "ham", "-"]),
        &fixture("ham-meeting.eml"),
    );
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(0),
            "mailsift: learned 0, already known 1, flipped 0, not mail 0, unreadable 0\n".into()
        )
    );
    // The per-user correction flow.
    let out = run(
        bare().args([
            "--db",
            &db,
            "--user",
            "alice",
            "correct",
            "spam",
            &f("ham-crlf.eml"),
        ]),
        b"",
    );
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(0),
            "mailsift: learned 1, already known 0, flipped 0, not mail 0, unreadable 0\n".into()
        )
    );
    let out = run(
        bare().args(["--db", &db, "correct", "spam", &f("ham-crlf.eml")]),
        b"",
    );
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(0),
            "mailsift: learned 0, already known 0, flipped 1, not mail 0, unreadable 0\n".into()
        )
    );
    let out = run(
        bare().args(["--db", &db, "forget", &f("ham-crlf.eml"), &f("gtube.eml")]),
        b"",
    );
    assert_eq!(
        text(&out.stderr),
        "mailsift: forgotten 1, not learned before 1, not mail 0, unreadable 0\n"
    );
    // Stats: site-wide now 2 spam + 1 ham; alice 1 spam.
    let out = run(bare().args(["--db", &db, "stats"]), b"");
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(
        s.lines()
            .any(|l| l.split_whitespace().take(3).collect::<Vec<_>>() == ["(site-wide)", "2", "1"]),
        "{s}"
    );
    assert!(
        s.lines()
            .any(|l| l.split_whitespace().take(3).collect::<Vec<_>>() == ["alice", "1", "0"]),
        "{s}"
    );
    assert!(s.contains("tokenizer version"));
    // Another user sees the site-wide model and their own figures, not alice's.
    let out = run(bare().args(["--db", &db, "--user", "bob", "stats"]), b"");
    assert!(!text(&out.stdout).contains("alice"));
    // Score: PATH<TAB>spam|ham<TAB>SCORE.
    let out = run(
        bare().args(["--db", &db, "score", &f("gtube.eml"), &f("ham-meeting.eml")]),
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Vec<String>> = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0][0], f("gtube.eml"));
    assert_eq!(lines[0][1], "spam");
    assert!(
        lines[0][2].parse::<f64>().expect("score") > lines[1][2].parse::<f64>().expect("score")
    );
    // Explain shows rule hits and token evidence.
    let out = run(
        bare().args(["--db", &db, "explain", &f("spam-pills.eml")]),
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(
        s.contains("Rules (")
            && s.contains("Bayes:")
            && s.contains("towards spam")
            && s.contains("towards ham"),
        "{s}"
    );
    // db check agrees with everything above.
    let out = run(bare().args(["--db", &db, "db", "check"]), b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).starts_with("ok: "));
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let out = run(bare().args(["train", "spamm", "x"]), b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("spam"), "{}", text(&out.stderr));
    let out = run(
        bare().args(["--user", "../../etc", "--db", "/tmp/x.db", "stats"]),
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid user name"));
    let out = run(bare().args(["--db", "/nonexistent/dir/m.db", "stats"]), b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("does not exist: train first"),
        "{}",
        text(&out.stderr)
    );
    let out = run(bare().arg("--help"), b"");
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Examples:") && text(&out.stdout).contains("Exit codes:"));
}

/// The corpus lives outside the repository; CI fetches it (corpora/fetch-spamassassin).
fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/spamassassin");
    if dir.join("index").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must fetch the corpus first: corpora/fetch-spamassassin"
    );
    eprintln!("corpus not fetched: skipping (run corpora/fetch-spamassassin)");
    None
}

#[test]
fn trained_on_the_corpus_it_classifies_held_out_mail() {
    let Some(dir) = corpus() else { return };
    let tmp = Scratch::new("corpus");
    let db = tmp.db();
    let index = std::fs::read_to_string(dir.join("index-tune")).expect("index");
    let entries: Vec<(String, PathBuf)> = index
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(c, p)| (c.to_owned(), dir.join(p))))
        .collect();
    for class in ["spam", "ham"] {
        let files: Vec<String> = entries
            .iter()
            .filter(|(c, _)| c == class)
            .take(200)
            .map(|(_, p)| p.display().to_string())
            .collect();
        let mut cmd = bare();
        cmd.args(["--db", &db, "train", class]).args(&files);
        let out = run(&mut cmd, b"");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr),
            "mailsift: learned 200, already known 0, flipped 0, not mail 0, unreadable 0\n"
        );
    }
    let test_index = std::fs::read_to_string(dir.join("index-test")).expect("index");
    let (mut right, mut total) = (0, 0);
    for line in test_index.lines().take(60) {
        let (class, rel) = line.split_once(' ').expect("index line");
        let input = std::fs::read(dir.join(rel)).expect("message");
        let out = run(
            bare().args(["--db", &db, "classify", "--exit-code"]),
            &input,
        );
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(1),
            "{rel}: {code:?} {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{rel}");
        let added = assert_annotated(&input, &out.stdout);
        let flag = if code == Some(1) {
            "X-Spam-Flag: YES"
        } else {
            "X-Spam-Flag: NO"
        };
        assert!(
            added.contains(flag),
            "{rel}: exit code and X-Spam-Flag agree: {added}"
        );
        total += 1;
        right += usize::from((code == Some(1)) == (class == "spam"));
    }
    assert!(
        right * 100 >= total * 90,
        "{right}/{total} correct after training on 400 messages"
    );
}

/// Issue 11: with an empty store the rules count at `rules_only_scale` of their points, and
/// explain says so.
#[test]
fn empty_store_scales_the_rules_and_explain_says_so() {
    let t = Scratch::new("rules-scale");
    let pills = fixtures().join("spam-pills.eml").display().to_string();
    let out = run(bare().args(["--db", &t.db(), "explain", &pills]), b"");
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    let k = mailsift::Scoring::default().rules_only_scale;
    assert!(
        s.contains(&format!("the rules count at {k} of their points")),
        "{s}"
    );
    // The score is the rules' points times the scale.
    let listed: f64 = s
        .lines()
        .skip_while(|l| !l.starts_with("Rules ("))
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.contains("(the rules count"))
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .sum();
    let score: f64 = s
        .split("(score ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.parse().ok())
        .expect("score");
    assert!(listed > 0.0, "{s}");
    assert!(
        (score - listed * k).abs() < 0.02,
        "{score} vs {listed} x {k}\n{s}"
    );
}
