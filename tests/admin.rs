//! What an administrator meets first: `score`'s output, the training summary and progress,
//! errors that name their cause once, the configuration check, the man page and completions.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Scratch, bare, run_piped as run};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpora/fixtures")
        .join(name)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn score_numbers_only_multi_message_files_and_keeps_argument_order() {
    let dir = Scratch::new("score");
    let pills = std::fs::read(fixture("spam-pills.eml")).expect("fixture");
    let meeting = std::fs::read(fixture("ham-meeting.eml")).expect("fixture");
    // One message behind an mbox `From ` line: just PATH.
    let single = dir.path("b-single");
    let mut bytes = b"From a@example.com Mon Jan  1 00:00:00 2024\n".to_vec();
    bytes.extend_from_slice(&meeting);
    std::fs::write(&single, &bytes).expect("write");
    // Two messages: PATH:1 and PATH:2.
    let mbox = dir.path("c.mbox");
    let mut bytes = b"From a@example.com Mon Jan  1 00:00:00 2024\n".to_vec();
    bytes.extend_from_slice(&pills);
    bytes.extend_from_slice(b"\nFrom b@example.com Mon Jan  1 00:00:00 2024\n");
    bytes.extend_from_slice(&meeting);
    std::fs::write(&mbox, &bytes).expect("write");
    // A Maildir-style name with a colon is printed as it is.
    let maildir = dir.path("1.mx:2,S");
    std::fs::write(&maildir, &meeting).expect("write");
    let gtube = fixture("gtube.eml");
    // Argument order, not path order; '-' where it was given.
    let out = run(
        bare().args(["--db", &dir.db(), "score"]).args([
            s(&mbox),
            s(&maildir),
            "-".into(),
            s(&single),
            s(&gtube),
        ]),
        &meeting,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let rows: Vec<Vec<String>> = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect();
    let paths: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        paths,
        [
            format!("{}:1", s(&mbox)),
            format!("{}:2", s(&mbox)),
            s(&maildir),
            "-".into(),
            s(&single),
            s(&gtube),
        ]
    );
    for r in &rows {
        assert_eq!(r.len(), 3, "PATH<TAB>spam|ham<TAB>SCORE: {r:?}");
        assert!(r[1] == "spam" || r[1] == "ham", "{r:?}");
        r[2].parse::<f64>().expect("a score");
    }
    assert_eq!(rows[5][1], "spam", "GTUBE");
}

#[test]
fn a_missing_path_is_named_once_with_its_cause() {
    let dir = Scratch::new("missing");
    let missing = dir.path("no-such-file");
    for cmd in [&["score"][..], &["train", "spam"], &["forget"]] {
        let out = run(
            bare()
                .args(["--db", &dir.db()])
                .args(cmd)
                .arg(&missing)
                .arg(fixture("gtube.eml")),
            b"",
        );
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = text(&out.stderr);
        let first = err.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!(
                "mailsift: skipping {}: No such file or directory (os error 2)",
                s(&missing)
            ),
            "{cmd:?}"
        );
        assert_eq!(err.matches("no-such-file").count(), 1, "{cmd:?}: {err}");
    }
}

#[test]
fn training_summary_off_a_terminal_has_no_progress_and_counts_every_category() {
    let dir = Scratch::new("summary");
    let not_mail = dir.path("index.txt");
    std::fs::write(&not_mail, "just some text\nwith no header\n").expect("write");
    let args = |extra: &[&str]| {
        let mut c = bare();
        c.args(["--db", &dir.db()]).args(extra);
        c
    };
    // stderr is a pipe: no progress bar, only the summary line.
    let out = run(
        args(&["train", "spam"])
            .arg(fixture("spam-pills.eml"))
            .arg(&not_mail),
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        "mailsift: learned 1, already known 0, flipped 0, not mail 1, unreadable 0\n"
    );
    let out = run(args(&["train", "spam"]).arg(fixture("spam-pills.eml")), b"");
    assert_eq!(
        text(&out.stderr),
        "mailsift: learned 0, already known 1, flipped 0, not mail 0, unreadable 0\n"
    );
    let out = run(
        args(&["correct", "ham"]).arg(fixture("spam-pills.eml")),
        b"",
    );
    assert_eq!(
        text(&out.stderr),
        "mailsift: learned 0, already known 0, flipped 1, not mail 0, unreadable 0\n"
    );
    let out = run(
        args(&["forget"])
            .arg(fixture("spam-pills.eml"))
            .arg(fixture("gtube.eml")),
        b"",
    );
    assert_eq!(
        text(&out.stderr),
        "mailsift: forgotten 1, not learned before 1, not mail 0, unreadable 0\n"
    );
    // -q: nothing at all.
    let out = run(
        args(&["-q", "train", "ham"]).arg(fixture("ham-meeting.eml")),
        b"",
    );
    assert_eq!(
        (out.status.code(), text(&out.stderr), text(&out.stdout)),
        (Some(0), String::new(), String::new())
    );
    // The file that is not mail was not learned: the store holds the one ham only.
    let out = run(&mut args(&["stats"]), b"");
    let stats = text(&out.stdout);
    assert!(
        stats
            .lines()
            .any(|l| l.split_whitespace().take(3).collect::<Vec<_>>() == ["(site-wide)", "0", "1"]),
        "{stats}"
    );
}

#[test]
fn man_pages_and_completions_are_generated_for_every_command() {
    let dir = Scratch::new("man");
    let commands = [
        "classify",
        "score",
        "train",
        "correct",
        "forget",
        "stats",
        "explain",
        "eval",
        "rules",
        "db",
        "serve",
        "milter",
        "man",
        "completions",
    ];
    let out = run(bare().args(["man", "--dir"]).arg(dir.path("man1")), b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let main = std::fs::read_to_string(dir.path("man1/mailsift.1")).expect("mailsift.1");
    for c in commands {
        assert!(main.contains(&format!("mailsift\\-{c}(1)")), "{c}");
        let page = dir.path(&format!("man1/mailsift-{c}.1"));
        assert!(page.is_file(), "{}", page.display());
    }
    for nested in ["db-check", "db-backup", "rules-lint", "rules-show"] {
        assert!(dir.path(&format!("man1/mailsift-{nested}.1")).is_file());
    }
    // Without --dir: the top-level page on stdout.
    let out = run(bare().arg("man"), b"");
    assert_eq!(text(&out.stdout), main);
    for shell in ["bash", "zsh", "fish"] {
        let out = run(bare().args(["completions", shell]), b"");
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        for c in commands {
            assert!(script.contains(c), "{shell}: {c}");
        }
    }
    let out = run(bare().args(["completions", "tcsh"]), b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_lists_every_exit_code_and_a_mistyped_flag_keeps_the_usage_line() {
    let out = run(bare().arg("--help"), b"");
    let help = text(&out.stdout);
    assert!(help.contains("1  db check: problems found"), "{help}");
    for flag in ["--verbose", "--quite"] {
        let out = run(bare().args([flag, "stats"]), b"");
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(
            err.contains("\nUsage: mailsift [OPTIONS] <COMMAND>\n"),
            "{flag}: {err}"
        );
        assert!(!err.contains("Usage: mailsift --"), "{flag}: {err}");
    }
}

#[test]
fn an_unknown_rule_in_scores_is_rejected_by_every_command_naming_the_file() {
    let dir = Scratch::new("scores");
    let cfg = dir.path("site.toml");
    std::fs::write(&cfg, "[scores]\nHTML_FONT_SIZE_HUGE = 2.0\n").expect("write");
    // A trained database, so stats and db check would otherwise succeed.
    let out = run(
        bare()
            .args(["--db", &dir.db(), "train", "spam"])
            .arg(fixture("spam-pills.eml")),
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let want = format!(
        "mailsift: {}: unknown rule 'HTML_FONT_SIZE_HUGE' in score overrides; did you mean 'HTML_FONT_HUGE'?",
        s(&cfg)
    );
    let gtube = s(&fixture("gtube.eml"));
    for args in [
        vec!["stats"],
        vec!["db", "check"],
        vec!["score", &gtube],
        vec!["train", "ham", &gtube],
        vec!["explain", &gtube],
        vec!["rules", "list"],
    ] {
        let out = run(
            bare()
                .args(["--db", &dir.db(), "--config"])
                .arg(&cfg)
                .args(&args),
            b"",
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with(&want), "{args:?}: {err}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
    }
    // classify fails open, and says the same.
    let msg = std::fs::read(fixture("gtube.eml")).expect("fixture");
    let out = run(
        bare()
            .args(["--db", &dir.db(), "--config"])
            .arg(&cfg)
            .arg("classify"),
        &msg,
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, msg);
    assert!(
        text(&out.stderr).contains(&want[10..]),
        "{}",
        text(&out.stderr)
    );
}

/// `program` is installed (checked by running `program --version`).
fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn on_a_terminal_train_draws_a_progress_bar_then_the_summary() {
    // util-linux `script` gives the command a pseudo-terminal.
    if !have("script") {
        eprintln!("script (util-linux) is not installed: skipping the terminal test");
        return;
    }
    let dir = Scratch::new("tty");
    let cmd = format!(
        "'{}' --db '{}' train ham '{}' '{}'",
        env!("CARGO_BIN_EXE_mailsift"),
        dir.db(),
        s(&fixture("ham-meeting.eml")),
        s(&fixture("ham-crlf.eml")),
    );
    let out = run(
        Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .env("COLUMNS", "100"),
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The bar (how far it got before the two messages were done depends on the machine), then
    // the line cleared for the summary.
    let screen = text(&out.stdout);
    assert!(
        screen.starts_with("mailsift: ")
            && screen.contains(" messages, ")
            && screen.contains("/s  ETA ")
            && screen.contains("%  "),
        "{screen:?}"
    );
    assert!(
        screen.contains("\r\u{1b}[2Kmailsift: learned"),
        "{screen:?}"
    );
    assert!(
        screen
            .contains("mailsift: learned 2, already known 0, flipped 0, not mail 0, unreadable 0"),
        "{screen:?}"
    );
    // With -q, nothing at all, terminal or not.
    let out = run(
        Command::new("script")
            .args(["-qec", &cmd.replace("train", "-q train"), "/dev/null"])
            .env("XDG_CONFIG_HOME", "/nonexistent"),
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !text(&out.stdout).contains("mailsift:"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bash_completes_the_commands_and_their_arguments() {
    if !have("bash") {
        eprintln!("bash is not installed: skipping the completion test");
        return;
    }
    let dir = Scratch::new("complete");
    let script = dir.path("mailsift.bash");
    let out = run(bare().args(["completions", "bash"]), b"");
    std::fs::write(&script, &out.stdout).expect("write");
    // What bash does on `mailsift <TAB>`, `mailsift db <TAB>`, `mailsift train <TAB>`.
    let complete = |words: &str| {
        let line = format!(
            "source '{}'; COMP_WORDS=({words} ''); COMP_CWORD=${{#COMP_WORDS[@]}}; \
             ((COMP_CWORD--)); _mailsift mailsift '' ''; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            s(&script)
        );
        let out = Command::new("bash")
            .args(["--norc", "-c", &line])
            .output()
            .expect("bash");
        text(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let top = complete("mailsift");
    for c in ["classify", "train", "score", "db", "man", "completions"] {
        assert!(top.contains(&c.to_owned()), "{c}: {top:?}");
    }
    let db = complete("mailsift db");
    for c in ["check", "backup", "restore", "reset"] {
        assert!(db.contains(&c.to_owned()), "{c}: {db:?}");
    }
    let train = complete("mailsift train");
    assert!(
        train.contains(&"spam".to_owned()) && train.contains(&"ham".to_owned()),
        "{train:?}"
    );
}

#[test]
fn errors_about_missing_files_say_it_once_and_fittingly() {
    let dir = Scratch::new("errors");
    let missing = dir.path("missing.cf");
    let out = run(bare().args(["rules", "lint"]).arg(&missing), b"");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "mailsift: cannot read rule file {}: No such file or directory (os error 2)\n",
            s(&missing)
        )
    );
    // A library error that shows its cause and also returns it as its source.
    let index = dir.path("missing-index");
    let out = run(
        bare()
            .args(["eval", "--results"])
            .arg(dir.path("r"))
            .arg("--index")
            .arg(&index),
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "mailsift: cannot read index {}: No such file or directory (os error 2)\n",
            s(&index)
        )
    );
    let backup = dir.path("missing-backup.db");
    let out = run(
        bare()
            .args(["--db", &dir.db(), "db", "restore"])
            .arg(&backup),
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "mailsift: backup {} does not exist: check the path\n",
            s(&backup)
        )
    );
}
