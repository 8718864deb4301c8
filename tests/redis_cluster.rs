//! The CLI on a Redis Cluster (`redis+cluster://`), against a private three-node cluster on
//! loopback (skipped with a message when redis-server or redis-cli is missing: run
//! scripts/install-test-deps): every command gives the same answers as on SQLite; users'
//! models sit on different nodes and a classify takes one script call per model; export and
//! import move a model both ways; hosts training at once keep totals equal to the ledger; a
//! node that is down makes classify fail open within the timeout.

mod common;
#[path = "support/redis_cluster.rs"]
mod redis_cluster;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use redis_cluster::RedisCluster;
use redis_server::sent_while;

fn train(db: &Path, user: Option<&str>, verb: &[&str], set: &[PathBuf]) {
    let mut a = vec!["-q"];
    if let Some(u) = user {
        a.extend(["--user", u]);
    }
    a.extend(verb);
    a.extend(paths(set));
    ok(&run(db, &a), &format!("{verb:?}"));
}

/// Learn, learn again, flip, forget, per-user models, classify/score/explain, stats, check and
/// reset; returns everything printed that must not depend on the backend.
fn session(db: &Path, s: &Scratch) -> Vec<String> {
    let spam = write_messages(&s.path("spam"), true, 0..25);
    let ham = write_messages(&s.path("ham"), false, 0..25);
    train(db, None, &["train", "spam"], &spam);
    train(db, None, &["train", "ham"], &ham);
    train(db, None, &["train", "spam"], &spam[..5]);
    let mut seen = Vec::new();
    for user in ["carol", "dave"] {
        let mine = write_messages(&s.path(user), false, 300..306);
        train(db, Some(user), &["train", "ham"], &mine);
        train(db, Some(user), &["correct", "spam"], &mine[..2]);
        train(db, Some(user), &["forget"], &mine[2..3]);
        for m in [&spam[3], &ham[4], &mine[5]] {
            let msg = std::fs::read(m).expect("read");
            let o = classify(db, &["--user", user], &msg);
            assert_eq!(o.status.code(), Some(0), "classify: {}", stderr(&o));
            assert_eq!(stderr(&o), "");
            seen.push(stdout(&o));
            let m = m.to_str().expect("utf-8");
            seen.push(ok(&run(db, &["--user", user, "score", m]), "score"));
            seen.push(ok(&run(db, &["--user", user, "explain", m]), "explain"));
            seen.push(ok(&run(db, &["score", m]), "site score"));
        }
    }
    seen.push(format!(
        "{:?}",
        stats_rows(&ok(&run(db, &["stats"]), "stats"))
    ));
    assert!(ok(&run(db, &["db", "check"]), "check").starts_with("ok: 60 ledger entries"));
    ok(
        &run(db, &["--user", "carol", "db", "reset", "--yes"]),
        "reset",
    );
    seen.push(format!(
        "{:?}",
        stats_rows(&ok(&run(db, &["stats"]), "stats"))
    ));
    assert!(ok(&run(db, &["db", "check"]), "check").starts_with("ok:"));
    seen
}

#[test]
fn every_command_answers_the_same_on_a_cluster_as_on_sqlite() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let s = Scratch::new("cluster-same");
    let file = session(&s.path("bayes.db"), &s);
    let url = PathBuf::from(cluster.url());
    let on_cluster = session(&url, &s);
    assert_eq!(file, on_cluster);
    // The site's model and the two users' sit on three nodes, as the cluster's slot map says.
    let keys = cluster.keys_per_node("mailsift:*");
    let (site, carol, dave) = (
        cluster.node_of("{site}"),
        cluster.node_of("{u:carol}"),
        cluster.node_of("{u:dave}"),
    );
    assert_eq!(
        [site, carol, dave]
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3
    );
    assert!(
        keys[site].iter().any(|k| k == "mailsift:{site}:ledger"),
        "{keys:?}"
    );
    assert!(
        keys[dave].iter().any(|k| k == "mailsift:{u:dave}:ledger"),
        "{keys:?}"
    );
    for (i, held) in keys.iter().enumerate() {
        assert_eq!(
            held.iter().any(|k| k.contains("{site}")),
            i == site,
            "{keys:?}"
        );
        assert_eq!(
            held.iter().any(|k| k.contains("{u:dave}")),
            i == dave,
            "{keys:?}"
        );
    }
    // Classifying for a user reads two slots: two script calls; without a user, one. The
    // metadata check rides the site-wide model's call (schema 3); the rest is the cluster
    // client's start-up.
    let msg = synthetic(true, 7);
    // The token learner's slots (E25) come in the same script calls.
    let learner = s.path("learner.toml");
    std::fs::write(&learner, "[learner]\nweight = 1\n").expect("config");
    let learner = learner.to_str().expect("utf-8");
    for (args, scripts) in [
        (&["--user", "dave"][..], 2),
        (&[][..], 1),
        (&["--config", learner, "--user", "dave"][..], 2),
        (&["--config", learner][..], 1),
    ] {
        let mut o = None;
        let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
        let sent = sent_while(&ports, || o = Some(classify(&url, args, &msg)));
        let o = o.expect("ran");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        eprintln!("classify {args:?} sent {sent:?}");
        let n = |c: &str| sent.iter().filter(|s| *s == c).count();
        assert_eq!(n("EVALSHA"), scripts, "{sent:?}");
        let data: Vec<&String> = sent
            .iter()
            .filter(|c| c.starts_with('H') || c.starts_with("EVAL") || c.starts_with('S'))
            .filter(|c| !matches!(c.as_str(), "EVALSHA" | "HELLO"))
            .collect();
        assert!(data.is_empty(), "no other data command: {sent:?}");
    }
}

#[test]
fn export_and_import_move_a_model_between_sqlite_and_a_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let s = Scratch::new("cluster-move");
    let file = s.path("bayes.db");
    let spam = write_messages(&s.path("spam"), true, 0..20);
    let ham = write_messages(&s.path("ham"), false, 0..20);
    train(&file, None, &["train", "spam"], &spam);
    train(&file, Some("dave"), &["train", "ham"], &ham);
    let want = stats_rows(&ok(&run(&file, &["stats"]), "stats"));
    let url = PathBuf::from(format!("{}?prefix=moved:", cluster.url()));
    ok(
        &run(&url, &["db", "import", file.to_str().expect("utf-8")]),
        "import",
    );
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 40 ledger entries"));
    assert_eq!(stats_rows(&ok(&run(&url, &["stats"]), "stats")), want);
    let back = s.path("back.db");
    ok(
        &run(&url, &["db", "export", back.to_str().expect("utf-8")]),
        "export",
    );
    assert!(ok(&run(&back, &["db", "check"]), "check").starts_with("ok: 40 ledger entries"));
    assert_eq!(stats_rows(&ok(&run(&back, &["stats"]), "stats")), want);
    let m = spam[7].to_str().expect("utf-8");
    for user in ["dave", "nobody"] {
        assert_eq!(
            ok(&run(&url, &["--user", user, "score", m]), "score"),
            ok(&run(&back, &["--user", user, "score", m]), "score")
        );
    }
}

/// Runs `mailsift ARGS` as a child process, stdout discarded.

#[test]
fn hosts_training_at_once_on_a_cluster_keep_totals_equal_to_the_ledger() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let s = Scratch::new("cluster-hosts");
    let url = PathBuf::from(cluster.url());
    let to_correct = write_messages(&s.path("c"), false, 900..910);
    let to_forget = write_messages(&s.path("f"), true, 900..910);
    train(&url, None, &["train", "ham"], &to_correct);
    train(&url, None, &["train", "spam"], &to_forget);
    let mut children = Vec::new();
    // Four hosts, each training its own 40 messages 8 at a time (site-wide, and into users
    // on other nodes), so the processes interleave.
    for k in 0..4 {
        let spam = k % 2 == 0;
        let set = write_messages(&s.path(&format!("h{k}")), spam, k * 100..k * 100 + 40);
        for group in set.chunks(8) {
            let mut a = vec!["train", if spam { "spam" } else { "ham" }];
            a.extend(paths(group));
            children.push(spawn_quiet(&url, &a));
            let mut a = vec!["--user", "dave", "train", if spam { "spam" } else { "ham" }];
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
    // Site: 80 spam + 10 corrected, 80 ham, the 10 forgotten gone; dave: 80 and 80.
    let rows = stats_rows(&ok(&run(&url, &["stats"]), "stats"));
    assert_eq!((rows[0].1, rows[0].2), (90, 80), "{rows:?}");
    assert_eq!(rows[1], ("dave".to_owned(), 80, 80), "{rows:?}");
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 330 ledger entries"));
}

#[test]
fn a_node_down_makes_classify_fail_open_within_the_timeout() {
    let Some(mut cluster) = RedisCluster::start() else {
        return;
    };
    let s = Scratch::new("cluster-down");
    let url = PathBuf::from(cluster.url());
    let spam = write_messages(&s.path("spam"), true, 0..10);
    train(&url, Some("dave"), &["train", "spam"], &spam);
    let dave = cluster.node_of("{u:dave}");
    assert_ne!(dave, cluster.node_of("{site}"));
    cluster.nodes[dave].stop();
    let msg = synthetic(true, 1);
    let started = Instant::now();
    let o = classify(&url, &["--timeout", "5", "--user", "dave"], &msg);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "within the timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_annotated("node down", &msg, &o.stdout);
    let err = stderr(&o);
    assert!(
        err.starts_with("mailsift: cannot use the Redis store at redis+cluster://127.0.0.1:")
            && err.contains("classified by rules alone")
            && err.lines().count() == 1,
        "{err}"
    );
    // Training into that model fails with exit 2: how far it got (nowhere), then the same
    // message.
    let more = write_messages(&s.path("more"), true, 10..12);
    let mut a = vec!["--user", "dave", "train", "spam"];
    a.extend(paths(&more));
    let o = run(&url, &a);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines.len() == 2
            && lines[0].starts_with("mailsift: stopped by the error below after learned 0, ")
            && lines[1].starts_with("mailsift: cannot use the Redis store at redis+cluster://"),
        "{err}"
    );
}
