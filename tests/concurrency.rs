//! Concurrency and crash safety on one database file: classify loops running beside train,
//! correct and forget loops for the same user lose nothing, count nothing twice and never fail
//! with a lock error; several processes creating a new store at once agree on one schema; and
//! SIGKILL at random points during `train`, `correct` and `forget` always leaves a store that passes `db check`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// Busy timeout for these tests: the default (10 s), written out so the bound below is explicit.
const BUSY_TIMEOUT_MS: u64 = 10_000;

/// What one command did.
struct Ran {
    what: String,
    code: Option<i32>,
    stderr: String,
    took: Duration,
}

fn spawn_cmd(db: &Path, config: &Path, user: &str, args: &[&str], stdin: Option<&Path>) -> Ran {
    let mut c = cmd(db);
    c.arg("--config")
        .arg(config)
        .arg("--user")
        .arg(user)
        .arg("-q")
        .args(args);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    match stdin {
        Some(p) => c.stdin(std::fs::File::open(p).expect("open message")),
        None => c.stdin(Stdio::null()),
    };
    let start = Instant::now();
    let out = c.output().expect("run mailsift");
    Ran {
        what: args.join(" "),
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: start.elapsed(),
    }
}

fn paths_str(p: &[PathBuf]) -> Vec<&str> {
    p.iter().map(|p| p.to_str().expect("utf-8")).collect()
}

fn assert_all_ok(runs: &[Ran]) {
    let mut slowest = Duration::ZERO;
    for r in runs {
        assert!(
            r.code == Some(0) && r.stderr.is_empty(),
            "`mailsift {}` exited {:?}: {}",
            r.what,
            r.code,
            r.stderr
        );
        assert!(!r.stderr.contains("locked"), "lock error: {}", r.stderr);
        slowest = slowest.max(r.took);
    }
    // A hang detector, not a speed test: no command may block past the busy timeout (plus
    // generous room for a loaded 2-core CI machine).
    assert!(
        slowest < Duration::from_millis(BUSY_TIMEOUT_MS) + Duration::from_secs(20),
        "a command took {slowest:?}"
    );
    eprintln!("{} commands, slowest {slowest:.2?}", runs.len());
}

/// (spam, ham) learned for `user`; "(site-wide)" for the site-wide model.
fn user_counts(db: &Path, user: &str) -> (u64, u64) {
    let o = if user == "(site-wide)" {
        run(db, &["stats"])
    } else {
        run(db, &["--user", user, "stats"])
    };
    assert_eq!(o.status.code(), Some(0), "stats: {}", stderr(&o));
    stats_rows(&stdout(&o))
        .into_iter()
        .find(|r| r.0 == user)
        .map_or((0, 0), |r| (r.1, r.2))
}

fn assert_check_ok(db: &Path) {
    let o = run(db, &["db", "check"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "db check: {}{}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn concurrent_classify_train_correct_forget_lose_nothing() {
    let s = Scratch::new("concurrency");
    let db = s.path("bayes.db");
    let config = s.config(BUSY_TIMEOUT_MS);
    let user = "alice";
    let learn_spam = write_messages(&s.path("a"), true, 0..24);
    let learn_ham = write_messages(&s.path("b"), false, 0..24);
    let to_correct = write_messages(&s.path("c"), false, 100..116);
    let to_forget = write_messages(&s.path("d"), true, 100..116);
    // Setup: what the corrector and the forgetter will change.
    for (class, set) in [("ham", &to_correct), ("spam", &to_forget)] {
        let mut args = vec!["train", class];
        args.extend(paths_str(set));
        let r = spawn_cmd(&db, &config, user, &args, None);
        assert_all_ok(&[r]);
    }
    assert_eq!(user_counts(&db, user), (16, 16));

    let all: Vec<PathBuf> = [&learn_spam, &learn_ham, &to_correct, &to_forget]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let runs = std::thread::scope(|scope| {
        let mut workers = Vec::new();
        // Writers: one message (or a few) per process, so the processes interleave finely;
        // every set is processed twice, so repeats (no-ops) race with first applications too.
        let writer = |args: &'static [&'static str], set: &'static [PathBuf], chunk: usize| {
            let db = &db;
            let config = &config;
            move || {
                let mut runs = Vec::new();
                for _ in 0..2 {
                    for group in set.chunks(chunk) {
                        let mut a: Vec<&str> = args.to_vec();
                        a.extend(paths_str(group));
                        runs.push(spawn_cmd(db, config, user, &a, None));
                    }
                }
                runs
            }
        };
        let leak =
            |v: &Vec<PathBuf>| -> &'static [PathBuf] { Box::leak(v.clone().into_boxed_slice()) };
        // Two trainers race on the same messages: each must be counted once.
        workers.push(scope.spawn(writer(&["train", "spam"], leak(&learn_spam), 3)));
        workers.push(scope.spawn(writer(&["train", "spam"], leak(&learn_spam), 4)));
        workers.push(scope.spawn(writer(&["train", "ham"], leak(&learn_ham), 2)));
        workers.push(scope.spawn(writer(&["correct", "spam"], leak(&to_correct), 1)));
        workers.push(scope.spawn(writer(&["forget"], leak(&to_forget), 2)));
        // Readers: classify every message, three loops at once.
        for k in 0..3 {
            let all = &all;
            let db = &db;
            let config = &config;
            workers.push(scope.spawn(move || {
                all.iter()
                    .skip(k * 7)
                    .chain(all.iter().take(k * 7))
                    .map(|m| spawn_cmd(db, config, user, &["classify"], Some(m)))
                    .collect::<Vec<_>>()
            }));
        }
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker thread"))
            .collect::<Vec<Ran>>()
    });
    assert_all_ok(&runs);
    // Every count is exactly what was learned: 24 spam + 16 corrected to spam; 24 ham; the 16
    // forgotten are gone; the second passes changed nothing.
    assert_eq!(user_counts(&db, user), (40, 24));
    assert_eq!(user_counts(&db, "nobody-else"), (0, 0));
    // And the token counts equal what the ledger says was learned.
    assert_check_ok(&db);
}

#[test]
fn many_processes_creating_a_new_store_at_once_agree() {
    let s = Scratch::new("creation");
    let config = s.config(BUSY_TIMEOUT_MS);
    let sets: Vec<Vec<PathBuf>> = (0..6)
        .map(|k| write_messages(&s.path(&format!("m{k}")), k % 2 == 0, k * 10..k * 10 + 5))
        .collect();
    let probe = write_messages(&s.path("probe"), true, 1000..1001);
    // The window (one process creating the schema while another opens the file) is short:
    // several fresh stores, each raced by 6 trainers and 8 classifiers.
    for round in 0..4 {
        let db = s.path(&format!("new{round}/bayes.db"));
        let runs: Vec<Ran> = std::thread::scope(|scope| {
            let mut workers = Vec::new();
            for (k, set) in sets.iter().enumerate() {
                let (db, config) = (&db, &config);
                workers.push(scope.spawn(move || {
                    let mut a = vec!["train", if k % 2 == 0 { "spam" } else { "ham" }];
                    a.extend(paths_str(set));
                    vec![spawn_cmd(db, config, "bob", &a, None)]
                }));
            }
            for _ in 0..4 {
                let (db, config, probe) = (&db, &config, &probe);
                workers.push(scope.spawn(move || {
                    (0..2)
                        .map(|_| spawn_cmd(db, config, "bob", &["classify"], Some(&probe[0])))
                        .collect()
                }));
            }
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("worker"))
                .collect()
        });
        assert_all_ok(&runs);
        assert_eq!(user_counts(&db, "bob"), (15, 15));
        assert_check_ok(&db);
    }
}

/// A small deterministic generator (xorshift64*), seeded from the clock unless
/// MAILSIFT_TEST_SEED is set; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("MAILSIFT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        eprintln!("MAILSIFT_TEST_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

#[test]
fn sigkill_during_train_correct_forget_leaves_a_consistent_store() {
    let s = Scratch::new("crash");
    let db = s.path("bayes.db");
    let dir = s.path("mail");
    write_messages(&dir, true, 0..300);
    let dir = dir.to_str().expect("utf-8");
    let command = |args: &[&str]| {
        let mut c = cmd(&db);
        c.arg("-q")
            .args(args)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    // How long one full run takes here, to spread the kills over it (not an assertion).
    let probe_db = s.path("probe.db");
    let start = Instant::now();
    let status = {
        let mut c = cmd(&probe_db);
        c.args(["-q", "train", "spam", dir])
            .status()
            .expect("train")
    };
    assert!(status.success());
    let full = start.elapsed().as_millis() as u64;
    let mut rng = Rng::new();
    let rounds = 18;
    let mut killed = 0;
    for round in 0..rounds {
        // Learn, flip, forget in turn, so that every round writes to every message.
        let args: &[&str] = match round % 3 {
            0 => &["train", "spam"],
            1 => &["correct", "ham"],
            _ => &["forget"],
        };
        let mut child: std::process::Child = command(args).spawn().expect("spawn");
        std::thread::sleep(Duration::from_millis(rng.below(full + full / 4 + 1)));
        if child.try_wait().expect("try_wait").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
        }
        child.wait().expect("reap");
        if db.exists() {
            assert_check_ok(&db);
        }
    }
    eprintln!("{killed} of {rounds} runs killed (a full run takes {full} ms)");
    // After all that, a run to completion gives exact counts.
    let status = command(&["train", "ham"]).status().expect("train");
    assert!(status.success());
    assert_eq!(user_counts(&db, "(site-wide)"), (0, 300));
    assert_check_ok(&db);
}
