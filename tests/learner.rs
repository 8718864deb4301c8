//! The token learner persisted beside the counts (corpora/EXPERIMENTS.md E25, issue 11 item 5),
//! through the CLI: `train` steps it in the store, `explain` shows its points, a user's learner
//! adds to the site's and moves only that user's scores, and `forget` undoes the step; the same
//! on SQLite and on a private redis-server (skipped with a message when none is installed).

mod common;
#[path = "support/redis_server.rs"]
mod redis_server;

use common::{Scratch, ok, run};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpora/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// The points on `explain`'s token learner line; `None` when there is no such line.
fn learner_points(explain: &str) -> Option<f64> {
    let line = explain.lines().find(|l| l.starts_with("Token learner:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

struct Site {
    db: PathBuf,
    config: String,
    _dir: Scratch,
}

impl Site {
    /// A site on a SQLite file, or on `db` (a Redis URL).
    fn new(db: Option<String>) -> Site {
        let dir = Scratch::new("learner");
        let config = dir.path("learner.toml");
        std::fs::write(&config, "[learner]\nweight = 4\n").expect("config");
        Site {
            db: db.map_or_else(|| dir.path("lr.db"), PathBuf::from),
            config: config.display().to_string(),
            _dir: dir,
        }
    }

    fn run(&self, user: Option<&str>, args: &[&str]) -> String {
        let mut all = vec!["--config", self.config.as_str()];
        if let Some(u) = user {
            all.extend(["--user", u]);
        }
        all.extend(args);
        ok(&run(&self.db, &all), &all.join(" "))
    }

    fn points(&self, user: Option<&str>, message: &str) -> f64 {
        let explain = self.run(user, &["explain", message]);
        learner_points(&explain).unwrap_or_else(|| panic!("no learner line in {explain}"))
    }
}

#[test]
fn the_learner_is_persisted_layered_per_user_and_undone_by_forget() {
    let sqlite = scenario(&Site::new(None));
    match redis_server::RedisServer::start() {
        // Same arithmetic, same slots: the same points on Redis.
        Some(server) => assert_eq!(scenario(&Site::new(Some(server.url(0)))), sqlite),
        None => eprintln!("redis-server not installed: the Redis half is skipped"),
    }
}

/// Runs the scenario on one site; returns the points it saw, in order.
fn scenario(site: &Site) -> Vec<f64> {
    let (pills, lottery) = (fixture("spam-pills.eml"), fixture("spam-lottery.eml"));
    let (meeting, crlf) = (fixture("ham-meeting.eml"), fixture("ham-crlf.eml"));
    // Nothing learned: the learner says nothing.
    site.run(None, &["train", "spam", &lottery]);
    site.run(None, &["forget", &lottery]);
    assert_eq!(site.points(None, &pills), 0.0);
    site.run(None, &["train", "spam", &pills, &lottery]);
    site.run(None, &["train", "ham", &meeting, &crlf]);
    if !site.db.to_string_lossy().starts_with("redis") {
        let stats = site.run(None, &["stats"]);
        assert!(stats.contains("schema version    3"), "{stats}");
    }
    // Read back from the store by a new process: spam up, ham down.
    let spam = site.points(None, &pills);
    let ham = site.points(None, &meeting);
    assert!(spam > 0.0 && ham < 0.0, "{spam} {ham}");
    // Off (no [learner] weight): no line, and the score is lower by the learner's points.
    let off = ok(&run(&site.db, &["explain", &pills]), "explain off");
    assert_eq!(learner_points(&off), None, "{off}");
    // Alice calls the pills ham: her learner adds to the site's, for her only.
    site.run(Some("alice"), &["train", "ham", &pills]);
    let alice = site.points(Some("alice"), &pills);
    assert!(alice < spam, "{alice} {spam}");
    assert_eq!(site.points(None, &pills), spam);
    assert_eq!(site.points(Some("bob"), &pills), spam);
    // Her forget undoes the step: her points are the site's again.
    site.run(Some("alice"), &["forget", &pills]);
    assert!((site.points(Some("alice"), &pills) - spam).abs() < 0.015);
    // The site's own flip and forget undo its steps too: with every message forgotten, every
    // token's slot is gone with its counts; only the bias may keep a residue (an older step is
    // undone from a state that later steps moved), worth well under a tenth of a point here.
    site.run(None, &["train", "ham", &pills]);
    site.run(None, &["forget", &pills, &lottery, &meeting, &crlf]);
    assert!(site.points(None, &pills).abs() < 0.1);
    let check = site.run(None, &["db", "check"]);
    assert!(check.starts_with("ok"), "{check}");
    vec![spam, ham, alice]
}
