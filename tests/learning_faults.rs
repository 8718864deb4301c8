//! Learning and database hygiene under the faults of issue #10: one digest per message however
//! it was delivered, files that are not mail skipped, backups that replace atomically, include
//! loops and bad restore sources refused clearly.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// Runs `mailsift --db DB ARGS` with empty stdin, killed after `limit` (a hang is a failure,
/// not a test that never ends).
fn run_bounded(db: &Path, args: &[&str], limit: Duration) -> Output {
    let mut c = cmd(db);
    c.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn ok(label: &str, o: &Output) {
    assert_eq!(code(o), Some(0), "{label}: {}", stderr(o));
}

/// (spam, ham) messages learned by the site-wide model.
fn site_counts(db: &Path) -> (u64, u64) {
    let rows = stats_rows(&stdout(&run(db, &["stats"])));
    rows.iter()
        .find(|r| r.0 == "(site-wide)")
        .map(|r| (r.1, r.2))
        .unwrap_or_else(|| panic!("no site row in stats: {rows:?}"))
}

// ---- 7. A message's digest does not depend on how it was delivered -------------------------

#[test]
fn a_message_is_learned_once_whether_by_path_or_by_stdin() {
    let s = Scratch::new("digest-from-line");
    let db = s.path("m.db");
    let msg = synthetic(true, 1);
    // As an MDA saved it: with its mbox From_ line.
    let mut saved = b"From sender1@example.biz Mon Jan  1 00:00:00 2024\n".to_vec();
    saved.extend_from_slice(&msg);
    let file = s.path("saved.eml");
    std::fs::write(&file, &saved).expect("write");
    ok(
        "train by path",
        &run(&db, &["-q", "train", "spam", file.to_str().expect("utf-8")]),
    );
    // The IMAPSieve retraining path pipes the same file in.
    let mut c = cmd(&db);
    c.args(["-q", "train", "spam", "-"]);
    ok("train by stdin", &run_with_input(c, &saved));
    assert_eq!(site_counts(&db), (1, 0), "learned twice");
    // A correction by stdin flips the one learned by path.
    let mut c = cmd(&db);
    c.args(["-q", "correct", "ham", "-"]);
    ok("correct by stdin", &run_with_input(c, &saved));
    assert_eq!(site_counts(&db), (0, 1));
}

#[test]
fn the_last_message_of_an_mbox_is_the_same_message_as_its_own_file() {
    let s = Scratch::new("digest-mbox-tail");
    let db = s.path("m.db");
    let (a, b) = (synthetic(false, 1), synthetic(false, 2));
    let mut mbox = Vec::new();
    for m in [&a, &b] {
        mbox.extend_from_slice(b"From x@example.org Mon Jan  1 00:00:00 2024\n");
        mbox.extend_from_slice(m);
        // The blank line that separates messages, after the last one too.
        mbox.extend_from_slice(b"\n");
    }
    let path = s.path("inbox.mbox");
    std::fs::write(&path, &mbox).expect("write");
    ok(
        "train mbox",
        &run(&db, &["-q", "train", "ham", path.to_str().expect("utf-8")]),
    );
    assert_eq!(site_counts(&db), (0, 2));
    // The last message, on its own (as a Maildir holds it), corrected and then forgotten.
    let mut c = cmd(&db);
    c.args(["-q", "correct", "spam", "-"]);
    ok("correct", &run_with_input(c, &b));
    assert_eq!(
        site_counts(&db),
        (1, 1),
        "the correction missed the learned message"
    );
    let mut c = cmd(&db);
    c.args(["-q", "forget", "-"]);
    ok("forget", &run_with_input(c, &b));
    assert_eq!(site_counts(&db), (0, 1));
    ok("check", &run(&db, &["db", "check"]));
}

// ---- 8. Files that are not mail are skipped and counted ------------------------------------

#[test]
fn training_a_dovecot_maildir_learns_only_the_messages() {
    let s = Scratch::new("maildir-not-mail");
    let db = s.path("m.db");
    let maildir = s.path("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("mkdir");
    }
    for i in 0..3 {
        std::fs::write(
            maildir.join(format!("cur/{i}.host:2,S")),
            synthetic(false, i),
        )
        .expect("write");
    }
    // What Dovecot and others keep beside the messages.
    std::fs::write(
        maildir.join("dovecot-uidlist"),
        "3 V1700000000 N4 G0123456789abcdef\n1 :1.host\n2 :2.host\n",
    )
    .expect("write");
    std::fs::write(
        maildir.join("dovecot.index.cache"),
        b"\x02\x01\x00\x00\xde\xad\xbe\xef\x00\x00From: x\x00",
    )
    .expect("write");
    std::fs::write(maildir.join("dovecot.index.log"), vec![0u8; 512]).expect("write");
    std::fs::write(maildir.join("subscriptions"), "V\t2\n\nJunk\nArchive\n").expect("write");
    std::fs::write(maildir.join("dovecot-keywords"), "0 $Junk\n1 NonJunk\n").expect("write");
    std::fs::write(maildir.join("note.txt"), "buy milk\ncall bob\n").expect("write");
    let m = maildir.to_str().expect("utf-8");
    let o = run(&db, &["train", "ham", m]);
    ok("train", &o);
    assert!(
        stderr(&o).contains("learned 3,") && stderr(&o).contains("not mail 6"),
        "{}",
        stderr(&o)
    );
    assert_eq!(site_counts(&db), (0, 3));
    // score rates only the messages.
    let o = run(&db, &["score", m]);
    ok("score", &o);
    assert_eq!(stdout(&o).lines().count(), 3, "{}", stdout(&o));
    assert!(stderr(&o).contains("6 not mail"), "{}", stderr(&o));
    let note = s.path("two-lines.txt");
    std::fs::write(&note, "hello there\nthis is not an email\n").expect("write");
    let o = run(&db, &["score", note.to_str().expect("utf-8")]);
    ok("score a text file", &o);
    assert_eq!(stdout(&o), "", "a text file was rated");
}

// ---- 9. mbox files are streamed (see also sources::tests) ----------------------------------

#[test]
fn a_large_mbox_trains_every_message() {
    let s = Scratch::new("mbox-stream");
    let db = s.path("m.db");
    let path = s.path("big.mbox");
    let mut mbox = Vec::new();
    for i in 0..2500 {
        mbox.extend_from_slice(b"From x@example.org Mon Jan  1 00:00:00 2024\n");
        mbox.extend_from_slice(&synthetic(i % 2 == 0, i));
        mbox.extend_from_slice(b"\n");
    }
    std::fs::write(&path, &mbox).expect("write");
    let o = run(&db, &["train", "spam", path.to_str().expect("utf-8")]);
    ok("train", &o);
    assert!(stderr(&o).contains("learned 2500,"), "{}", stderr(&o));
}

// ---- 13. db backup: temp file and rename ----------------------------------------------------

#[test]
fn backup_replaces_an_earlier_backup_and_a_failed_one_leaves_nothing() {
    let s = Scratch::new("backup-atomic");
    let db = s.path("m.db");
    let files = write_messages(&s.path("ham"), false, 0..30);
    let mut args = vec!["-q", "train", "ham"];
    args.extend(files.iter().map(|p| p.to_str().expect("utf-8")));
    ok("train", &run(&db, &args));
    let backup = s.path("backups/nightly.db");
    let b = backup.to_str().expect("utf-8");
    ok("first backup", &run(&db, &["db", "backup", b]));
    // The cron job's second night: same path.
    let more = write_messages(&s.path("spam"), true, 0..5);
    ok(
        "train",
        &run(
            &db,
            &["-q", "train", "spam", more[0].to_str().expect("utf-8")],
        ),
    );
    ok("second backup", &run(&db, &["db", "backup", b]));
    assert_eq!(site_counts(&backup), (1, 30), "the backup is the new one");
    // Onto the live database: refused.
    let o = run(&db, &["db", "backup", db.to_str().expect("utf-8")]);
    assert_eq!(code(&o), Some(2));
    assert!(
        stderr(&o).contains("is the database itself"),
        "{}",
        stderr(&o)
    );
    // A backup that fails (file size limit, as a full disk would) leaves no file at all,
    // and the earlier backup stays as it was.
    let fresh = s.path("backups/fresh.db");
    for target in [&fresh, &backup] {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg("trap '' XFSZ; ulimit -f 2; exec \"$0\" \"$@\"")
            .arg(bin())
            .args(["--db", db.to_str().expect("utf-8"), "db", "backup"])
            .arg(target)
            .env("XDG_CONFIG_HOME", "/nonexistent-mailsift-test")
            .output()
            .expect("run backup under a size limit");
        assert_ne!(code(&o), Some(0), "the backup cannot fit in 1 KiB");
    }
    assert!(!fresh.exists(), "a failed backup left a file");
    assert_eq!(
        site_counts(&backup),
        (1, 30),
        "a failed backup damaged the earlier one"
    );
    let leftovers: Vec<_> = std::fs::read_dir(s.path("backups"))
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, ["nightly.db"], "temporary files left behind");
}

// ---- 14. Include loops and bad restore sources ----------------------------------------------

#[test]
fn an_include_loop_is_a_clear_error_in_every_command() {
    let s = Scratch::new("include-loop");
    let db = s.path("m.db");
    // a.cf includes b.cf twice, b.cf includes a.cf: without loop detection this branches
    // exponentially up to the nesting limit.
    std::fs::write(s.path("a.cf"), "include b.cf\ninclude b.cf\nbody A /a/\n").expect("w");
    std::fs::write(s.path("b.cf"), "include a.cf\ninclude a.cf\nbody B /b/\n").expect("w");
    let cfg = s.path("config.toml");
    std::fs::write(
        &cfg,
        format!("rule_files = [\"{}\"]\n", s.path("a.cf").display()),
    )
    .expect("write config");
    let cfg = cfg.to_str().expect("utf-8");
    let msg = synthetic(false, 1);
    let file = s.path("m.eml");
    std::fs::write(&file, &msg).expect("write");
    let f = file.to_str().expect("utf-8");
    for args in [
        vec!["--config", cfg, "train", "ham", f],
        vec!["--config", cfg, "score", f],
        vec!["--config", cfg, "serve"],
        vec!["--config", cfg, "rules", "list"],
    ] {
        let o = run_bounded(&db, &args, Duration::from_secs(20));
        assert_eq!(code(&o), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("include loop"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let started = Instant::now();
    let o = classify(&db, &["--config", cfg, "--timeout", "60"], &msg);
    assert_eq!(code(&o), Some(3), "{}", stderr(&o));
    assert_eq!(o.stdout, msg);
    assert!(stderr(&o).contains("include loop"), "{}", stderr(&o));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "classify must fail open fast, not at the timeout"
    );
}

#[test]
fn restore_refuses_a_fifo_and_the_live_database() {
    let s = Scratch::new("restore-sources");
    let db = s.path("m.db");
    let files = write_messages(&s.path("ham"), false, 0..3);
    ok(
        "train",
        &run(
            &db,
            &["-q", "train", "ham", files[0].to_str().expect("utf-8")],
        ),
    );
    let fifo = s.path("backup.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let o = run_bounded(
        &db,
        &["db", "restore", fifo.to_str().expect("utf-8")],
        Duration::from_secs(20),
    );
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    let o = run(&db, &["db", "restore", db.to_str().expect("utf-8")]);
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is the database itself"),
        "{}",
        stderr(&o)
    );
    assert_eq!(site_counts(&db), (0, 1), "the database is unchanged");
}
