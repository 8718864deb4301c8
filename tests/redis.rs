//! The CLI on a Redis store, against a private `redis-server` (skipped with a message when it
//! is not installed: run scripts/install-test-deps): every command gives the same answers as on
//! SQLite; export and import move a model both ways; four "hosts" training at once and
//! correct/forget races leave totals equal to the ledger; a server killed mid-train leaves a
//! consistent model; a server that is down makes classify fail open like a corrupt database.

mod common;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use redis_server::RedisServer;

/// The same session of commands; returns everything they printed that must not depend on the
/// backend.
fn session(db: &Path, s: &Scratch) -> Vec<String> {
    let spam = write_messages(&s.path("spam"), true, 0..30);
    let ham = write_messages(&s.path("ham"), false, 0..30);
    let mine = write_messages(&s.path("mine"), false, 200..206);
    let mut seen = Vec::new();
    for (class, set) in [("spam", &spam), ("ham", &ham)] {
        let mut a = vec!["-q", "train", class];
        a.extend(paths(set));
        ok(&run(db, &a), "train");
    }
    // Learning again is a no-op.
    let mut a = vec!["-q", "train", "spam"];
    a.extend(paths(&spam[..5]));
    ok(&run(db, &a), "train again");
    let mut a = vec!["-q", "--user", "alice", "train", "ham"];
    a.extend(paths(&mine));
    ok(&run(db, &a), "train alice");
    let mut a = vec!["-q", "--user", "alice", "correct", "spam"];
    a.extend(paths(&mine[..2]));
    ok(&run(db, &a), "correct");
    let mut a = vec!["-q", "--user", "alice", "forget"];
    a.extend(paths(&mine[2..3]));
    ok(&run(db, &a), "forget");
    for m in [&spam[3], &ham[4], &mine[5]] {
        let msg = std::fs::read(m).expect("read");
        for user in [None, Some("alice")] {
            let mut args = vec![];
            if let Some(u) = user {
                args.extend(["--user", u]);
            }
            let o = classify(db, &args, &msg);
            assert_eq!(o.status.code(), Some(0), "classify: {}", stderr(&o));
            assert!(stderr(&o).is_empty(), "{}", stderr(&o));
            seen.push(stdout(&o));
            let mut a = args.clone();
            a.extend(["score", m.to_str().expect("utf-8")]);
            seen.push(ok(&run(db, &a), "score"));
            let mut a = args.clone();
            a.extend(["explain", m.to_str().expect("utf-8")]);
            seen.push(ok(&run(db, &a), "explain"));
        }
    }
    let rows = stats_rows(&ok(&run(db, &["stats"]), "stats"));
    seen.push(format!("{rows:?}"));
    assert!(ok(&run(db, &["db", "check"]), "check").starts_with("ok:"));
    ok(
        &run(db, &["--user", "alice", "db", "reset", "--yes"]),
        "reset",
    );
    let rows = stats_rows(&ok(&run(db, &["stats"]), "stats"));
    seen.push(format!("{rows:?}"));
    assert!(ok(&run(db, &["db", "check"]), "check").starts_with("ok:"));
    seen
}

#[test]
fn every_command_answers_the_same_on_redis_as_on_sqlite() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = Scratch::new("redis-same");
    let file = session(&s.path("bayes.db"), &s);
    let url = PathBuf::from(server.url(1));
    let redis = session(&url, &s);
    assert_eq!(file.len(), redis.len());
    for (a, b) in file.iter().zip(&redis) {
        assert_eq!(a, b);
    }
    // The stats show the corrected and forgotten messages: 30/30 site, alice 2 spam + 3 ham.
    assert!(
        redis[redis.len() - 2].contains("(\"alice\", 2, 3)"),
        "{}",
        redis[redis.len() - 2]
    );
    // A Unix socket and a key prefix reach the same kind of store, apart from the default one.
    let unix = PathBuf::from(format!("{}?prefix=other:", server.unix_url()));
    let o = run(&unix, &["stats"]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "nothing trained under this prefix yet"
    );
    assert!(stderr(&o).contains("train first"), "{}", stderr(&o));
    let spam = write_messages(&s.path("u"), true, 500..502);
    let mut a = vec!["-q", "train", "spam"];
    a.extend(paths(&spam));
    ok(&run(&unix, &a), "train over the socket");
    let rows = stats_rows(&ok(&run(&unix, &["stats"]), "stats"));
    assert_eq!(rows[0].1, 2);
    // A one-off classify sends one command, with a user or without: the script that checks
    // the metadata and reads both models (schema 3). Under a prefix with nothing trained it is
    // classified by the rules alone, quietly (a new install), after that same one command.
    let msg = synthetic(true, 7);
    for (db, args) in [
        (&url, &["--user", "alice"][..]),
        (&url, &[][..]),
        (
            &PathBuf::from(format!("{}?prefix=none:", server.url(1))),
            &[][..],
        ),
        (&PathBuf::from(server.url(9)), &["--user", "alice"][..]),
    ] {
        let mut o = None;
        let sent = redis_server::sent_while(&[server.port], || o = Some(classify(db, args, &msg)));
        let o = o.expect("ran");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stderr(&o), "", "no warning");
        let data: Vec<&String> = sent
            .iter()
            .filter(|c| !matches!(c.as_str(), "HELLO" | "CLIENT" | "SELECT"))
            .collect();
        assert_eq!(data, ["EVALSHA"], "{db:?} {args:?}: {sent:?}");
    }
    // TLS settings on a plain URL are refused before connecting (TLS itself: tests/redis_tls.rs).
    let o = run(Path::new("redis://127.0.0.1:1/0?insecure=1"), &["stats"]);
    assert!(stderr(&o).contains("use rediss://"), "{}", stderr(&o));
}

#[test]
fn export_and_import_move_a_model_between_sqlite_and_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = Scratch::new("redis-move");
    let file = s.path("bayes.db");
    let spam = write_messages(&s.path("spam"), true, 0..20);
    let ham = write_messages(&s.path("ham"), false, 0..20);
    for (class, set, user) in [("spam", &spam, None), ("ham", &ham, Some("bob"))] {
        let mut a = vec!["-q"];
        if let Some(u) = user {
            a.extend(["--user", u]);
        }
        a.extend(["train", class]);
        a.extend(paths(set));
        ok(&run(&file, &a), "train");
    }
    let want = ok(&run(&file, &["stats"]), "stats");
    let url = PathBuf::from(server.url(2));
    ok(
        &run(&url, &["db", "import", file.to_str().expect("utf-8")]),
        "import",
    );
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 40 ledger entries"));
    let rows = |o: &str| stats_rows(o);
    assert_eq!(rows(&ok(&run(&url, &["stats"]), "stats")), rows(&want));
    let back = s.path("back.db");
    ok(
        &run(&url, &["db", "export", back.to_str().expect("utf-8")]),
        "export",
    );
    assert!(ok(&run(&back, &["db", "check"]), "check").starts_with("ok: 40 ledger entries"));
    assert_eq!(rows(&ok(&run(&back, &["stats"]), "stats")), rows(&want));
    // Export refuses to overwrite a file; backup names export on Redis.
    let o = run(&url, &["db", "export", back.to_str().expect("utf-8")]);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let o = run(
        &url,
        &["db", "backup", s.path("x.db").to_str().expect("utf-8")],
    );
    assert!(stderr(&o).contains("db export"), "{}", stderr(&o));
    // Damage is found, the hint names import, and importing the export repairs it.
    server.command("SELECT 2\r\nHSET mailsift:{site}:totals spam 999");
    let o = run(&url, &["db", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("999 spam messages counted"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("mailsift db import"), "{}", stderr(&o));
    ok(
        &run(&url, &["db", "import", back.to_str().expect("utf-8")]),
        "import again",
    );
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 40 ledger entries"));
    // The same message scores the same on both.
    let m = spam[7].to_str().expect("utf-8");
    assert_eq!(
        ok(&run(&url, &["score", m]), "score"),
        ok(&run(&back, &["score", m]), "score")
    );
}

/// The token learner's bookkeeping of the site-wide model, from the server: the bias's `n`
/// (FTRL's sum of squared gradients: every step adds its g², every undo takes it off) and the
/// sum of g² over the gradients kept for the messages learned, which equals it within f32
/// rounding unless a step was lost, doubled or half written.
fn learner_sums(server: &RedisServer) -> (f64, f64) {
    let reply = server.command(
        "EVAL \"local h = redis.call('HGETALL', KEYS[1]) local n, s = 0, 0 \
         for i = 1, #h, 2 do if #h[i] == 16 then local g = struct.unpack('>f', h[i + 1]) \
         s = s + g * g elseif h[i] == 'bias' then local z, m = struct.unpack('>ff', h[i + 1]) \
         n = m end end return string.format('%.9g %.9g', n, s)\" 1 mailsift:{site}:lr",
    );
    let line = reply.lines().nth(1).unwrap_or_default();
    let mut it = line.split(' ').map(|v| v.parse::<f64>().expect("number"));
    let (n, s) = (it.next(), it.next());
    (n.expect("n"), s.expect("sum"))
}

fn assert_no_step_lost(server: &RedisServer) {
    let (n, s) = learner_sums(server);
    assert!(
        s > 0.1 && (n - s).abs() <= 1e-4 * s,
        "bias n {n}, sum of g² {s}"
    );
}

#[test]
fn four_hosts_training_at_once_keep_totals_equal_to_the_ledger() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = Scratch::new("redis-hosts");
    let url = PathBuf::from(server.url(0));
    let to_correct = write_messages(&s.path("c"), false, 900..910);
    let to_forget = write_messages(&s.path("f"), true, 900..910);
    for (class, set) in [("ham", &to_correct), ("spam", &to_forget)] {
        let mut a = vec!["-q", "train", class];
        a.extend(paths(set));
        ok(&run(&url, &a), "setup");
    }
    let sets: Vec<(bool, Vec<PathBuf>)> = (0..4)
        .map(|k| {
            let spam = k % 2 == 0;
            (
                spam,
                write_messages(&s.path(&format!("h{k}")), spam, k * 100..k * 100 + 40),
            )
        })
        .collect();
    let mut children = Vec::new();
    for (spam, set) in &sets {
        // Each host trains its own messages, 8 at a time, so the processes interleave.
        for group in set.chunks(8) {
            let mut a = vec!["train", if *spam { "spam" } else { "ham" }];
            a.extend(paths(group));
            children.push(spawn_quiet(&url, &a));
        }
    }
    // Races on the same messages: two correctors and two forgetters.
    for _ in 0..2 {
        let mut a = vec!["correct", "spam"];
        a.extend(paths(&to_correct));
        children.push(spawn_quiet(&url, &a));
        let mut a = vec!["forget"];
        a.extend(paths(&to_forget));
        children.push(spawn_quiet(&url, &a));
    }
    for c in children {
        let o = c.wait_with_output().expect("wait");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    // 80 spam + 10 corrected; 80 ham; the 10 forgotten are gone.
    let rows = stats_rows(&ok(&run(&url, &["stats"]), "stats"));
    assert_eq!((rows[0].1, rows[0].2), (90, 80), "{rows:?}");
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 170 ledger entries"));
    // The token learner (on by default, E28) lost no host's step.
    assert_no_step_lost(&server);
}

#[test]
fn a_server_killed_mid_train_leaves_a_consistent_model() {
    // Persistence on for this test only (append-only file, fsync always, in the server's own
    // temporary directory): what survives the kill must be whole script calls.
    let Some(mut server) =
        RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"])
    else {
        return;
    };
    let s = Scratch::new("redis-kill");
    let url = PathBuf::from(server.url(0));
    let spam = write_messages(&s.path("spam"), true, 0..400);
    let mut a = vec!["train", "spam"];
    a.extend(paths(&spam));
    let child = spawn_quiet(&url, &a);
    // Kill once training has visibly started (bounded wait), then restart from the file.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        // A bulk reply with a value; "$-1" is nil (nothing learned yet).
        let reply = server.command("HGET mailsift:{site}:totals spam");
        if reply.starts_with('$') && !reply.starts_with("$-1") {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    server.stop();
    let o = child.wait_with_output().expect("wait");
    assert!(
        server.restart(),
        "redis-server restarts from its append-only file"
    );
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok:"));
    // The learner's writes went with the counts, whole: no step without its kept gradient.
    assert_no_step_lost(&server);
    let rows = stats_rows(&ok(&run(&url, &["stats"]), "stats"));
    if o.status.code() != Some(0) {
        assert!(stderr(&o).contains("Redis"), "{}", stderr(&o));
        assert!(rows[0].1 < 400, "{rows:?}");
    }
    // Training again completes the model: the ledger skips what was kept.
    ok(&run(&url, &[&["-q"][..], &a].concat()), "train again");
    let rows = stats_rows(&ok(&run(&url, &["stats"]), "stats"));
    assert_eq!(rows[0].1, 400);
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 400 ledger entries"));
    assert_no_step_lost(&server);
}

#[test]
fn redis_down_fails_open_like_a_corrupt_database() {
    if redis_server::redis_server_program().is_none() {
        return;
    }
    let url = PathBuf::from(format!("redis://127.0.0.1:{}/0", redis_server::free_port()));
    let msg = synthetic(true, 1);
    let started = Instant::now();
    let o = classify(&url, &["--timeout", "5"], &msg);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "within the timeout"
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_annotated("redis down", &msg, &o.stdout);
    let err = stderr(&o);
    assert!(
        err.starts_with("mailsift: cannot use the Redis store at redis://127.0.0.1:")
            && err.contains("classified by rules alone")
            && err.lines().count() == 1,
        "{err}"
    );
}

/// A "server" that accepts connections and never answers (a hung Redis, a wrong port behind a
/// firewall that accepts): classify gives up on the store once its timeout has passed in all,
/// greeting included (the client library's greeting used to wait the whole timeout for each of
/// its replies: twice as long as the error said), and classifies by rules alone. Each URL asks
/// for another greeting: none, AUTH, AUTH and SELECT, a cluster client's, with AUTH.
#[test]
fn a_server_that_never_answers_fails_open_once_the_store_timeout_has_passed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let s = Scratch::new("redis-mute");
    let timeout_ms = 3000;
    let config = s.config(timeout_ms);
    let msg = synthetic(false, 1);
    for url in [
        format!("redis://127.0.0.1:{port}/0"),
        format!("redis://:secret@127.0.0.1:{port}/0"),
        format!("redis://:secret@127.0.0.1:{port}/3"),
        format!("redis+cluster://127.0.0.1:{port}"),
        format!("redis+cluster://:secret@127.0.0.1:{port}"),
    ] {
        let started = Instant::now();
        let o = classify(
            Path::new(&url),
            &["--config", config.to_str().expect("utf-8 path")],
            &msg,
        );
        let took = started.elapsed();
        assert_eq!(o.status.code(), Some(3), "{url}: {}", stderr(&o));
        assert_annotated(&url, &msg, &o.stdout);
        let err = stderr(&o);
        assert!(
            err.contains(&format!("no answer within {timeout_ms} ms"))
                && err.contains("classified by rules alone")
                && err.lines().count() == 1,
            "{url}: {err}"
        );
        // Not a speed target: the bound the error message names, with room for the process's
        // own start-up, and well short of two timeouts.
        assert!(
            took >= Duration::from_millis(timeout_ms)
                && took < Duration::from_millis(timeout_ms * 3 / 2),
            "{url}: gave up after {took:?}, the store timeout is {timeout_ms} ms"
        );
    }
}

/// A learning call carried out by the server whose answer is lost with the connection: the
/// call is sent again on a new connection, which the ledger check refuses (nothing counted
/// twice), and the command still reports what happened to the message (it used to say
/// "already known" for a message it had just learned or flipped).
#[test]
fn a_learn_whose_answer_was_lost_reports_what_it_did_and_counts_once() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = Scratch::new("redis-lost-answer");
    let direct = PathBuf::from(server.url(6));
    let spam = write_messages(&s.path("spam"), true, 0..2);
    let file = |i: usize| spam[i].to_str().expect("utf-8").to_owned();
    // A message learned as ham first, to be flipped below.
    ok(&run(&direct, &["-q", "train", "ham", &file(1)]), "train");
    for (args, said) in [
        (
            ["train", "spam", &file(0)],
            "learned 1, already known 0, flipped 0",
        ),
        (
            ["correct", "spam", &file(1)],
            "learned 0, already known 0, flipped 1",
        ),
    ] {
        let (relay, dropped) = redis_server::answer_losing_relay(server.port, 1);
        let url = PathBuf::from(format!("redis://127.0.0.1:{relay}/6"));
        let o = run(&url, &args);
        assert!(
            dropped.load(Ordering::SeqCst),
            "{args:?}: the relay lost no answer"
        );
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(said), "{args:?}: {}", stderr(&o));
    }
    let check = ok(&run(&direct, &["db", "check"]), "check");
    assert!(check.starts_with("ok: 2 ledger entries"), "{check}");
    let rows = stats_rows(&ok(&run(&direct, &["stats"]), "stats"));
    assert_eq!(rows.first().map(|r| (r.1, r.2)), Some((2, 0)), "{rows:?}");
}

/// Training that the store stops (its server gone for good after a lost answer) says, before
/// the error, how far it got and that running the same command again finishes it; the second
/// run does the rest and counts nothing twice.
#[test]
fn a_training_stopped_by_the_store_says_how_far_it_got_and_a_rerun_finishes_it() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = Scratch::new("redis-stopped");
    let direct = PathBuf::from(server.url(8));
    let ham = write_messages(&s.path("ham"), false, 0..250);
    let dir = s.path("ham").to_str().expect("utf-8").to_owned();
    let (relay, dropped) = redis_server::answer_losing_then_closed_relay(server.port, 1);
    let url = PathBuf::from(format!("redis://127.0.0.1:{relay}/8"));
    let o = run(&url, &["-q", "train", "ham", &dir]);
    assert!(dropped.load(Ordering::SeqCst), "the relay lost no answer");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("mailsift: stopped by the error below after learned ")
            && lines[0].ends_with(
                "run the same command again: it does the rest and skips what is already done"
            ),
        "{err}"
    );
    assert!(lines[1].contains("cannot use the Redis store"), "{err}");
    let again = stderr(&run(&direct, &["train", "ham", &dir]));
    let count = |label: &str| -> usize {
        let at = again.find(label).unwrap_or_else(|| panic!("{again}")) + label.len();
        let digits: String = again[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().expect("a count")
    };
    assert_eq!(
        count("learned ") + count("already known "),
        ham.len(),
        "{again}"
    );
    let check = ok(&run(&direct, &["db", "check"]), "check");
    assert!(check.starts_with("ok: 250 ledger entries"), "{check}");
}

fn connections_received(server: &RedisServer) -> u64 {
    let info = server.command("INFO stats");
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no connection count in {info:?}"))
}

#[test]
fn the_classify_server_keeps_one_connection_sees_training_and_outlives_its_drop() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = Scratch::new("redis-serve");
    let url = PathBuf::from(server.url(4));
    let spam = write_messages(&s.path("spam"), true, 0..10);
    let ham = write_messages(&s.path("ham"), false, 0..10);
    for (class, set) in [("spam", &spam), ("ham", &ham)] {
        let mut a = vec!["-q", "train", class];
        a.extend(paths(set));
        ok(&run(&url, &a), "train");
    }
    // Without --socket there is no database path to put the socket beside.
    let o = run(&url, &["serve"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--socket"), "{}", stderr(&o));
    let socket = s.path("classify.sock");
    let sock = socket.to_str().expect("utf-8");
    let mut c = cmd(&url);
    c.args(["serve", "--threads", "1", "--socket", sock])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut serve = c.spawn().expect("spawn serve");
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let m = synthetic(false, 500);
    let first = classify(&url, &["--socket", sock], &m);
    let before = connections_received(&server);
    let mut via_server = Vec::new();
    for _ in 0..3 {
        let o = classify(&url, &["--socket", sock], &m);
        assert_eq!(stderr(&o), "");
        via_server.push(o.stdout);
    }
    // One more connection: the INFO command of this test. The server reused its own, and no
    // client classified in-process (that would connect).
    assert_eq!(connections_received(&server), before + 1);
    assert!(via_server.iter().all(|o| *o == first.stdout));
    // Training by another host counts at the next message.
    let more = write_messages(&s.path("more"), true, 500..530);
    let mut a = vec!["-q", "train", "spam"];
    a.extend(paths(&more));
    ok(&run(&url, &a), "train more");
    let after = classify(&url, &["--socket", sock], &m);
    let local = classify(&url, &["--no-server"], &m);
    assert_eq!(stderr(&after), "");
    assert_eq!(after.stdout, local.stdout);
    assert_ne!(after.stdout, first.stdout, "training changed the figures");
    // Redis drops the server's connection (a restart, its idle `timeout`, CLIENT KILL): the
    // next message is still classified with the model, on a connection opened again (it was
    // classified by the rules alone, exit 3).
    let killed = server.command("CLIENT KILL TYPE normal");
    assert!(killed.trim() != "0", "no connection killed: {killed:?}");
    let before = connections_received(&server);
    let again = classify(&url, &["--socket", sock], &m);
    assert_eq!(stderr(&again), "");
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(again.stdout, local.stdout);
    assert_eq!(
        connections_received(&server),
        before + 2,
        "one reconnection, one INFO"
    );
    let _ = serve.kill();
    let _ = serve.wait();
}

#[test]
fn a_full_server_refuses_training_whole_and_db_prune_still_runs() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = Scratch::new("redis-full");
    let url = PathBuf::from(server.url(2));
    let spam = write_messages(&s.path("s"), true, 0..20);
    let ham = write_messages(&s.path("h"), false, 0..20);
    let mut a = vec!["-q", "train", "spam"];
    a.extend(paths(&spam));
    ok(&run(&url, &a), "train");
    // Over maxmemory with the default policy, noeviction: every write that could grow memory
    // is refused.
    assert!(server.command("CONFIG SET maxmemory 1").starts_with("+OK"));
    let mut a = vec!["train", "ham"];
    a.extend(paths(&ham));
    let o = run(&url, &a);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is full (maxmemory reached)") && stderr(&o).contains("db prune"),
        "{}",
        stderr(&o)
    );
    let rows = stats_rows(&ok(&run(&url, &["stats"]), "stats"));
    assert_eq!((rows[0].1, rows[0].2), (20, 0), "{rows:?}");
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 20 ledger entries"));
    // Reading still works: classify loads its script and reads.
    assert!(server.command("SCRIPT FLUSH").starts_with("+OK"));
    let o = classify(&url, &[], &std::fs::read(&ham[0]).expect("read"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    // Pruning only deletes, so it runs on a full server, and the store still checks out.
    let o = run(&url, &["db", "prune"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("mailsift: pruned "), "{}", stderr(&o));
    assert!(!stderr(&o).contains("pruned 0 tokens"), "{}", stderr(&o));
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 20 ledger entries"));
    assert!(server.command("CONFIG SET maxmemory 0").starts_with("+OK"));
    let mut a = vec!["-q", "train", "ham"];
    a.extend(paths(&ham));
    ok(&run(&url, &a), "train after room was made");
    let mut a = vec!["-q", "forget"];
    a.extend(paths(&spam[..5]));
    ok(&run(&url, &a), "forget pruned messages");
    let rows = stats_rows(&ok(&run(&url, &["stats"]), "stats"));
    assert_eq!((rows[0].1, rows[0].2), (15, 20), "{rows:?}");
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 35 ledger entries"));
}
