//! Trust: users are isolated, incoming X-Spam-* headers cannot pre-mark a message, SQL is never
//! formatted, and `db check`, backups and restores round-trip (moved from tests/robust.rs).

mod common;

use std::path::{Path, PathBuf};

use common::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/malformed");

// ---------------------------------------------------------------------------------------------
// 6. Isolation and trust
// ---------------------------------------------------------------------------------------------

#[test]
fn incoming_x_spam_headers_are_removed() {
    let s = Scratch::new("xspam");
    let db = trained_store(&s);
    let raw = std::fs::read(Path::new(FIXTURES).join("spoofed-x-spam.eml")).expect("fixture");
    let o = classify(&db, &[], &raw);
    assert_exit("spoofed", &o, 0);
    let out = stdout(&o);
    for forged in [
        "score=-100",
        "ALL_TRUSTED",
        "certainly ham",
        "X-SPAM-Level",
        "x-spam-checker",
    ] {
        assert!(
            !out.contains(forged),
            "forged header survived: {forged}\n{out}"
        );
    }
    let header_block = out.split("\n\n").next().unwrap_or("");
    assert_eq!(header_block.matches("X-Spam-Status:").count(), 1, "{out}");
    assert_annotated("spoofed", &raw, &o.stdout);
}

#[test]
fn incoming_x_spam_headers_are_never_evidence() {
    // Neither for Bayes (tokens) nor for the ledger (digest): a forged X-Spam-Status changes
    // nothing about how a message is judged or learned.
    let engine = mailsift::Engine::new();
    let clean = b"From: a@example.com\nSubject: offer\n\nbuy now\n".to_vec();
    let forged = b"From: a@example.com\nX-Spam-Status: No, score=-100 tests=ALL_TRUSTED\nX-Spam-Flag: NO\nSubject: offer\n\nbuy now\n".to_vec();
    let (a, b) = (engine.analyze(&clean), engine.analyze(&forged));
    assert_eq!(a.tokens, b.tokens, "X-Spam-* headers produced tokens");
    assert_eq!(
        a.digest, b.digest,
        "X-Spam-* headers changed the ledger digest"
    );
    assert!(
        !b.view.has_header("X-Spam-Status"),
        "X-Spam-* headers reached the rules"
    );
}

#[test]
fn user_names_cannot_reach_other_paths_or_inject_sql() {
    let s = Scratch::new("users");
    let db = s.path("bayes.db");
    let msgs = write_messages(&s.path("m"), true, 0..2);
    let m = msgs[0].to_str().expect("utf-8");
    for user in [
        "../../etc/passwd",
        "a/b",
        ".hidden",
        "",
        "x'; DROP TABLE tokens; --",
        "a\0b",
        "bob\nalice",
        &"u".repeat(65),
    ] {
        let mut c = cmd(&db);
        c.args(["--user", user, "train", "spam", m]);
        let o = match c.output() {
            Ok(o) => o,
            // A NUL cannot even be passed as an argument: rejected by the OS.
            Err(_) => continue,
        };
        assert_exit(&format!("train --user {user:?}"), &o, 2);
        assert!(
            stderr(&o).contains("invalid user name"),
            "{user:?}: {}",
            stderr(&o)
        );
    }
    assert!(!db.exists() || run(&db, &["db", "check"]).status.success());
    // Valid names with every allowed character work.
    let o = run(&db, &["--user", "a.b_c-d@e+f", "train", "spam", m]);
    assert_exit("valid user", &o, 0);
}

#[test]
fn database_and_backups_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("perms");
    let db = s.path("sub/bayes.db");
    let msgs = write_messages(&s.path("m"), false, 0..3);
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" --db \"$1\" -q train ham \"$2\"")
        .arg(bin())
        .arg(&db)
        .arg(msgs[0].parent().expect("dir"))
        .env("XDG_CONFIG_HOME", "/nonexistent-mailsift-test")
        .output()
        .expect("run");
    assert_exit("train with umask 000", &o, 0);
    let backup = s.path("backup.db");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" --db \"$1\" -q db backup \"$2\"")
        .arg(bin())
        .arg(&db)
        .arg(&backup)
        .output()
        .expect("run");
    assert_exit("backup with umask 000", &o, 0);
    let created_dir = db.parent().expect("dir").to_owned();
    for p in [db.clone(), backup, created_dir] {
        let mode = std::fs::metadata(&p).expect("stat").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", p.display());
    }
}

#[test]
fn sql_is_never_built_by_string_formatting() {
    // Every value reaches SQLite as a bound parameter; a format!-built statement would be the
    // one place a user name, path or header could become SQL.
    fn scan(dir: &Path, hits: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                scan(&p, hits);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).expect("read source");
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for (i, line) in code.lines().enumerate() {
                    let l = line.to_ascii_uppercase();
                    let built = l.contains("FORMAT!(\"")
                        && [
                            "SELECT ", "INSERT ", "UPDATE ", "DELETE ", "PRAGMA ", "VACUUM ",
                            "ATTACH ",
                        ]
                        .iter()
                        .any(|k| l.contains(&format!("FORMAT!(\"{k}")));
                    let spliced = l.contains("EXECUTE_BATCH(&FORMAT!")
                        || l.contains("EXECUTE(&FORMAT!")
                        || l.contains("PREPARE(&FORMAT!")
                        || l.contains("QUERY_ROW(&FORMAT!");
                    if built || spliced {
                        hits.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    let mut hits = Vec::new();
    for dir in ["../classifier/src", "src"] {
        scan(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut hits);
    }
    assert!(
        hits.is_empty(),
        "SQL built from strings:\n{}",
        hits.join("\n")
    );
}

#[test]
fn stats_and_explain_never_show_another_users_data() {
    let s = Scratch::new("isolation");
    let db = s.path("bayes.db");
    let dir = s.path("bob");
    write_messages(&dir, true, 0..10);
    let o = run(
        &db,
        &[
            "-q",
            "--user",
            "bob",
            "train",
            "spam",
            dir.to_str().expect("utf-8"),
        ],
    );
    assert_exit("train bob", &o, 0);
    let probe = s.path("probe.eml");
    std::fs::write(&probe, synthetic(true, 99)).expect("write");
    let probe = probe.to_str().expect("utf-8");

    let alice = run(&db, &["--user", "alice", "stats"]);
    assert_exit("stats alice", &alice, 0);
    let rows = stats_rows(&stdout(&alice));
    assert!(
        rows.iter().all(|r| r.0 != "bob"),
        "alice sees bob: {}",
        stdout(&alice)
    );
    let bob = run(&db, &["--user", "bob", "stats"]);
    assert!(
        stats_rows(&stdout(&bob))
            .iter()
            .any(|r| r.0 == "bob" && r.1 == 10)
    );

    let explain = |user: &str| {
        let o = run(&db, &["--user", user, "explain", probe]);
        assert_exit("explain", &o, 0);
        stdout(&o)
    };
    let towards_spam = |out: &str| {
        out.split("towards spam:")
            .nth(1)
            .and_then(|t| t.split("towards ham:").next())
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    let for_bob = explain("bob");
    let for_alice = explain("alice");
    assert_ne!(
        towards_spam(&for_bob),
        "(none)",
        "bob's own evidence:\n{for_bob}"
    );
    assert_eq!(
        towards_spam(&for_alice),
        "(none)",
        "alice sees bob's tokens:\n{for_alice}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. db check, backup, restore, reset
// ---------------------------------------------------------------------------------------------

#[test]
fn backup_reset_restore_round_trip() {
    let s = Scratch::new("backup");
    let db = trained_store(&s);
    let before = stdout(&run(&db, &["stats"]));
    // A name SQL would choke on if it were spliced into a statement.
    let backup = s.path("it's a \"backup\"; DROP TABLE tokens.db");
    let b = backup.to_str().expect("utf-8");
    assert_exit("backup", &run(&db, &["-q", "db", "backup", b]), 0);
    // An earlier backup at the same path is replaced (a fixed-path cron job).
    assert_exit(
        "backup over an earlier backup",
        &run(&db, &["-q", "db", "backup", b]),
        0,
    );
    assert_exit("reset without --yes", &run(&db, &["db", "reset"]), 2);
    assert_exit("reset", &run(&db, &["db", "reset", "--yes"]), 0);
    let rows = stats_rows(&stdout(&run(&db, &["stats"])));
    assert!(
        rows.iter().all(|r| r.1 == 0 && r.2 == 0),
        "reset left counts: {rows:?}"
    );
    assert_exit("check after reset", &run(&db, &["db", "check"]), 0);
    assert_exit("restore", &run(&db, &["-q", "db", "restore", b]), 0);
    assert_eq!(
        stats_rows(&stdout(&run(&db, &["stats"]))),
        stats_rows(&before),
        "restore brought back a different model"
    );
    assert_exit("check after restore", &run(&db, &["db", "check"]), 0);
}

#[test]
fn restore_over_a_damaged_store_keeps_the_damaged_file_aside() {
    let s = Scratch::new("restore-damaged");
    let db = trained_store(&s);
    let before = stats_rows(&stdout(&run(&db, &["stats"])));
    let backup = s.path("backup.db");
    let b = backup.to_str().expect("utf-8");
    assert_exit("backup", &run(&db, &["-q", "db", "backup", b]), 0);
    std::fs::write(&db, vec![b'x'; 4096]).expect("damage the store");
    let o = run(&db, &["-q", "db", "restore", b]);
    assert_exit("restore over a damaged store", &o, 0);
    let aside = PathBuf::from(format!("{}.damaged", db.display()));
    assert_eq!(
        std::fs::read(&aside).expect("damaged copy kept"),
        vec![b'x'; 4096]
    );
    assert_eq!(stats_rows(&stdout(&run(&db, &["stats"]))), before);
    assert_exit("check after restore", &run(&db, &["db", "check"]), 0);
}

#[test]
fn restore_while_classifying_is_atomic_for_readers() {
    let s = Scratch::new("restore-live");
    let db = trained_store(&s);
    let backup = s.path("backup.db");
    let b = backup.to_str().expect("utf-8");
    assert_exit("backup", &run(&db, &["-q", "db", "backup", b]), 0);
    let msg = synthetic(true, 5);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            for _ in 0..15 {
                let o = classify(&db, &[], &msg);
                assert_exit("classify during restore", &o, 0);
                assert!(o.stderr.is_empty(), "{}", stderr(&o));
                assert_annotated("classify during restore", &msg, &o.stdout);
            }
        });
        for _ in 0..5 {
            assert_exit("reset", &run(&db, &["db", "reset", "--yes"]), 0);
            assert_exit("restore", &run(&db, &["-q", "db", "restore", b]), 0);
        }
        reader.join().expect("reader");
    });
    assert_exit("check", &run(&db, &["db", "check"]), 0);
}

#[test]
fn check_finds_damage_and_restore_refuses_a_damaged_backup() {
    let s = Scratch::new("check");
    let db = trained_store(&s);
    let bad = s.path("bad.db");
    std::fs::copy(&db, &bad).expect("copy");
    {
        let c = rusqlite::Connection::open(&bad).expect("open");
        c.execute("UPDATE totals SET nspam = nspam + 1 WHERE user_id = 0", [])
            .expect("tamper");
    }
    let o = run(&bad, &["db", "check"]);
    assert_exit("check on a tampered store", &o, 1);
    assert!(stdout(&o).contains("problem:"), "{}", stdout(&o));
    let before = std::fs::read(&db).expect("read");
    let o = run(&db, &["db", "restore", bad.to_str().expect("utf-8")]);
    assert_exit("restore from a bad backup", &o, 2);
    assert_eq!(
        std::fs::read(&db).expect("read"),
        before,
        "the store was touched"
    );
    assert_exit("check", &run(&db, &["db", "check"]), 0);
}
