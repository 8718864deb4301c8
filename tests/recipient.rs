//! `--recipient`: the envelope recipient an MTA or MDA gives is recipient evidence
//! (corpora/EXPERIMENTS.md E20), for `classify` in-process and through `mailsift serve`, and
//! for `score` and `explain`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Scratch, classify, cmd, run, run_with_input, stderr, stdout};

/// The same newsletter, delivered to `rcpt` (a `Delivered-To` field when `delivered`).
fn newsletter(i: usize, rcpt: Option<&str>) -> Vec<u8> {
    let delivered = rcpt.map_or(String::new(), |r| format!("Delivered-To: {r}\n"));
    format!(
        "{delivered}From: Shop News <news@shop.example.com>\nTo: subscribers@shop.example.com\n\
         Subject: This week at the shop\nMessage-ID: <{i}@shop.example.com>\n\
         Date: Mon, 2 Feb 2026 10:00:00 +0000\n\n\
         Garden chairs, lamps and green tea at the shop this week.\n"
    )
    .into_bytes()
}

/// A store where the newsletter is ham for alice and spam for bob.
fn trained(s: &Scratch) -> PathBuf {
    let db = s.path("m.db");
    for (class, rcpt, base) in [
        ("ham", "alice@example.org", 0),
        ("spam", "bob@example.org", 100),
    ] {
        let dir = s.path(class);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut args = vec!["train".to_owned(), class.to_owned()];
        for i in base..base + 12 {
            let p = dir.join(format!("{i}.eml"));
            std::fs::write(&p, newsletter(i, Some(rcpt))).expect("write");
            args.push(p.to_str().expect("utf-8").to_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&db, &args);
        assert!(o.status.success(), "train: {}", stderr(&o));
    }
    db
}

/// The X-Spam-Score of a classified message.
fn x_spam_score(out: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(out);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("X-Spam-Score: "))
        .unwrap_or_else(|| panic!("no X-Spam-Score in {text}"));
    line.trim().parse().expect("score")
}

#[test]
fn classify_score_and_explain_use_the_envelope_recipient() {
    let s = Scratch::new("rcpt-cli");
    let db = trained(&s);
    // Not delivered yet: no Delivered-To; only the envelope says who it is for.
    let msg = newsletter(500, None);
    let by = |extra: &[&str]| {
        let mut args = vec!["--no-server"];
        args.extend_from_slice(extra);
        let o = classify(&db, &args, &msg);
        assert!(o.status.success(), "{}", stderr(&o));
        x_spam_score(&o.stdout)
    };
    let (alice, bob, nobody) = (
        by(&["--recipient", "alice@example.org"]),
        by(&["--recipient=<Bob@Example.org>"]),
        by(&[]),
    );
    assert!(
        bob > nobody + 1.0 && nobody > alice + 1.0,
        "bob {bob}, no recipient {nobody}, alice {alice}"
    );
    // Repeated: both recipients' evidence, between the two.
    let both = by(&[
        "--recipient",
        "alice@example.org",
        "--recipient",
        "bob@example.org",
    ]);
    assert!(alice < both && both < bob, "{alice} {both} {bob}");
    // A value that is not an address is ignored.
    assert_eq!(by(&["--recipient", ""]), nobody);

    // score: the same figures.
    let score = |extra: &[&str]| -> f64 {
        let mut c = cmd(&db);
        c.arg("score").arg("-").args(extra);
        let o = run_with_input(c, &msg);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        out.trim()
            .rsplit('\t')
            .next()
            .expect("score")
            .parse()
            .expect("number")
    };
    // (X-Spam-Score has one decimal, `score` three: the same figure rounded as the header is;
    // with the token learner's points, on by default since E28, scores are no longer near
    // multiples of 0.1.)
    let header = |v: f64| format!("{v:.1}");
    assert_eq!(
        header(score(&["--recipient", "bob@example.org"])),
        header(bob)
    );
    assert_eq!(
        header(score(&["--recipient", "alice@example.org"])),
        header(alice)
    );
    // explain says that alice's twelve copies of this very body were left out for bob, who
    // has a history of his own with the sender (E47)...
    let explain = |m: &[u8]| {
        let mut c = cmd(&db);
        c.args(["explain", "-", "--recipient", "bob@example.org"]);
        let o = run_with_input(c, m);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let out = explain(&msg);
    assert!(
        out.contains(
            "copies: this body was learned before for other recipients (0 as spam, 12 as ham)"
        ),
        "{out}"
    );
    // ... and, for a new issue whose words say nothing yet, shows the recipient's tokens as
    // the evidence.
    let fresh = String::from_utf8(msg).expect("utf-8").replace(
        "Garden chairs, lamps and green tea",
        "Kites, board games and puzzles",
    );
    let out = explain(fresh.as_bytes());
    assert!(out.contains("rcpt:bob@example.org"), "{out}");
    assert!(!out.contains("copies:"), "{out}");
}

/// A running `mailsift serve`, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(db: &Path, socket: &Path) -> Server {
    let mut c = cmd(db);
    c.arg("serve")
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Server(c.spawn().expect("spawn mailsift serve"));
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

#[test]
fn the_server_gets_the_recipient_too() {
    let s = Scratch::new("rcpt-serve");
    let db = trained(&s);
    let socket = s.path("m.sock");
    let _server = serve(&db, &socket);
    let sock = socket.to_str().expect("utf-8");
    let msg = newsletter(600, None);
    let mut seen = Vec::new();
    for rcpt in ["alice@example.org", "bob@example.org"] {
        let remote = classify(&db, &["--socket", sock, "--recipient", rcpt], &msg);
        let local = classify(&db, &["--no-server", "--recipient", rcpt], &msg);
        // With --socket, a server that cannot answer says so on stderr.
        assert_eq!(stderr(&remote), "", "the server did not answer");
        assert_eq!(remote.stdout, local.stdout, "{rcpt}: bytes differ");
        seen.push(x_spam_score(&remote.stdout));
    }
    assert!(seen[1] > seen[0] + 1.0, "{seen:?}");
}

/// Recipient reputation (`[bayes] pair_pull`, E44; on by default since E45): when an issue's
/// words were learned from the other recipient's copy, the recipient-sender pair's history
/// moves the Bayes result back towards it, and `explain` says which pair and which way; with
/// `pair_pull = 0` it does not.
#[test]
fn recipient_reputation_moves_bayes_towards_the_pairs_history_and_explain_says_so() {
    let s = Scratch::new("rcpt-pull");
    let db = trained(&s);
    // This week's issue, with its own words: bob's copy came first and was learned as spam,
    // and alice's copy of another issue as ham. Each copy names its recipient in its footer,
    // so no two bodies are the same (copies of one body are E47's, tested above).
    let issue = |rcpt: &str, words: &str| {
        format!(
            "Delivered-To: {rcpt}\nFrom: Shop News <news@shop.example.com>\n\
             To: subscribers@shop.example.com\nSubject: This week at the shop\n\
             Date: Mon, 9 Feb 2026 10:00:00 +0000\n\n{words}\nSent to {rcpt}.\n"
        )
    };
    let pizza = "Fresh pizza ovens, marble tables and espresso machines in store now.";
    let bikes = "Mountain bikes, helmets and tyre pumps arrive on Thursday morning.";
    for (class, rcpt, words) in [
        ("spam", "bob@example.org", pizza),
        ("ham", "alice@example.org", bikes),
    ] {
        let p = s.path(&format!("{class}-first.eml"));
        std::fs::write(&p, issue(rcpt, words)).expect("write");
        let o = run(&db, &["train", class, p.to_str().expect("utf-8")]);
        assert!(o.status.success(), "train: {}", stderr(&o));
    }
    let cfg = s.path("no-pull.toml");
    std::fs::write(&cfg, "[bayes]\npair_pull = 0\n").expect("write");
    let explain = |rcpt: &str, words: &str, pull: bool| -> (String, f64) {
        let p = s.path(&format!("{rcpt}-{pull}.eml"));
        std::fs::write(&p, issue(rcpt, words)).expect("write");
        let mut c = cmd(&db);
        if !pull {
            c.arg("--config").arg(&cfg);
        }
        c.arg("explain").arg(&p);
        let o = run_with_input(c, b"");
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let score = out
            .split("(score ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no score in {out}"));
        (out, score)
    };
    // Alice's copy of the pizza issue: its words say spam, her pairing with the shop says ham.
    let (off, alice_off) = explain("alice@example.org", pizza, false);
    assert!(!off.contains("recipient reputation"), "{off}");
    let (on, alice_on) = explain("alice@example.org", pizza, true);
    assert!(
        on.contains("recipient reputation: rcpt|alice@example.org|from:news@shop.example.com")
            && on.contains("towards ham"),
        "{on}"
    );
    // Bob's copy of the bikes issue, the other way round.
    let (_, bob_off) = explain("bob@example.org", bikes, false);
    let (on, bob_on) = explain("bob@example.org", bikes, true);
    assert!(
        on.contains("recipient reputation: rcpt|bob@example.org|from:news@shop.example.com")
            && on.contains("towards spam"),
        "{on}"
    );
    assert!(
        alice_on < alice_off && bob_on > bob_off,
        "alice {alice_off} -> {alice_on}, bob {bob_off} -> {bob_on}"
    );
}

/// The site model's token count, from `mailsift stats`.
fn site_tokens(db: &Path) -> u64 {
    let o = run(db, &["stats"]);
    assert!(o.status.success(), "stats: {}", stderr(&o));
    let out = stdout(&o);
    out.lines()
        .find_map(|l| l.strip_prefix("(site-wide)"))
        .and_then(|r| r.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no site row in {out}"))
}

/// A store trained before tokenizer v5 (v4: no recipient-name pairs, no copy tokens) keeps its
/// own token stream: training a message with a display name adds the same tokens to it as v4
/// would, three fewer than to a v6 store (the message's one name pair, and its two copy tokens:
/// the body's and the body's with its one recipient); forgetting it is exact; `stats` says
/// what the older version means.
#[test]
fn a_tokenizer_v4_store_keeps_training_its_own_stream() {
    let s = Scratch::new("rcpt-v4");
    // Messages without a display name: v4 and v5 give them the same tokens, so a store of
    // them relabelled v4 is what the v4 tokenizer would have made.
    let plain = s.path("plain.eml");
    std::fs::write(
        &plain,
        "Delivered-To: carol@example.org\nFrom: friend@example.net\nTo: carol@example.org\n\
         Subject: lunch\n\nLunch on Friday at the usual place?\n",
    )
    .expect("write");
    let news = s.path("news.eml");
    std::fs::write(&news, newsletter(7, Some("alice@example.org"))).expect("write");
    let (old, new) = (s.path("v4.db"), s.path("v6.db"));
    for db in [&old, &new] {
        let o = run(db, &["train", "ham", plain.to_str().expect("utf-8")]);
        assert!(o.status.success(), "train: {}", stderr(&o));
    }
    {
        let c = rusqlite::Connection::open(&old).expect("open");
        c.execute(
            "UPDATE meta SET value = '4' WHERE key = 'tokenizer_version'",
            [],
        )
        .expect("set v4");
    }
    let before = site_tokens(&old);
    assert_eq!(before, site_tokens(&new));
    for db in [&old, &new] {
        let o = run(db, &["train", "spam", news.to_str().expect("utf-8")]);
        assert!(o.status.success(), "train: {}", stderr(&o));
    }
    assert_eq!(
        site_tokens(&new) - site_tokens(&old),
        3,
        "the v4 store learns no name pair and no copy token"
    );
    let o = run(&old, &["stats"]);
    assert!(
        stdout(&o).contains("tokenizer version 4 (an older stream"),
        "{}",
        stdout(&o)
    );
    let o = run(&old, &["forget", news.to_str().expect("utf-8")]);
    assert!(o.status.success(), "forget: {}", stderr(&o));
    assert_eq!(site_tokens(&old), before, "forget is exact");
    let o = run(&old, &["db", "check"]);
    assert!(
        o.status.success(),
        "db check: {} {}",
        stdout(&o),
        stderr(&o)
    );
    let o = classify(&old, &[], &std::fs::read(&news).expect("read"));
    assert!(o.status.success(), "classify: {}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("X-Spam-Score: "));
}

/// One issue written for `rcpt` as a mailer that sends each subscriber their own message
/// writes it: its own MIME boundary, greeting and unsubscribe link (E48).
fn personal_issue(rcpt: &str, name: &str) -> String {
    let b = format!("=_{}", rcpt.len() * 7919);
    format!(
        "Delivered-To: {rcpt}\nFrom: Shop News <news@shop.example.com>\nTo: {name} <{rcpt}>\n\
         Subject: The winter catalogue\nMIME-Version: 1.0\n\
         Content-Type: multipart/alternative; boundary=\"{b}\"\n\n--{b}\n\
         Content-Type: text/plain\n\nHello {name},\n\
         The winter catalogue is here, and this year it is the biggest we have ever printed: \
         warm coats for walking the dog, boots that keep the snow out, woollen hats knitted by \
         hand in the hills, gloves for cyclists and for gardeners, blankets for the sofa, and \
         a whole page of gifts for people who say they want nothing at all. Every order placed \
         before the end of the month travels free of charge, and anything that does not fit \
         can come back to us for a full refund, no questions asked.\n\
         Sent to {rcpt}. Unsubscribe: https://shop.example.com/u?r={}\n--{b}--\n",
        rcpt.len() * 104_729
    )
}

#[test]
fn copies_written_for_each_subscriber_are_left_out_like_identical_ones() {
    let s = Scratch::new("rcpt-personal");
    let db = s.path("m.db");
    let learn = |class: &str, name: &str, msg: &[u8]| {
        let p = s.path(name);
        std::fs::write(&p, msg).expect("write");
        let o = run(&db, &["train", class, p.to_str().expect("utf-8")]);
        assert!(o.status.success(), "train: {}", stderr(&o));
    };
    // alice's copy learned as ham; bob has a history with the sender of his own (an earlier
    // issue he reported).
    learn(
        "ham",
        "alice.eml",
        personal_issue("alice@example.org", "Alice").as_bytes(),
    );
    learn(
        "spam",
        "bob-old.eml",
        &newsletter(1, Some("bob@example.org")),
    );
    let bob = personal_issue("bob@example.org", "Bob");
    assert_ne!(
        bob.split_once("\n\n").map(|p| p.1),
        personal_issue("alice@example.org", "Alice")
            .split_once("\n\n")
            .map(|p| p.1),
        "no two bodies the same bytes"
    );
    let mut c = cmd(&db);
    c.args(["explain", "-"]);
    let o = run_with_input(c, bob.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "copies: this body was learned before for other recipients (0 as spam, 1 as ham)"
        ),
        "{out}"
    );
}
