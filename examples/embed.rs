//! Embedding mailsift in a program: open a store, train, classify, explain, correct.
//!
//! Run with: `cargo run -p mailsift-classifier --example embed [DB]`
//! (without DB it uses a throw-away file in the temp directory).

use mailsift::{Action, Class, Engine, OpenMode, Outcome, Store, StoreOptions};

const SPAM: &[&[u8]] = &[
    b"From: \"Best Deals\" <deals@cheap-pills.example>\nSubject: CHEAP PILLS, ACT NOW\n\nBuy cheap pills online, no prescription, best prices. Click http://cheap-pills.example/buy\n",
    b"From: winner@lottery.example\nSubject: You have WON $1,000,000\n\nClaim your prize now: send your bank details to claim your lottery winnings.\n",
];
const HAM: &[&[u8]] = &[
    b"From: Alice <alice@example.org>\nSubject: Lunch on Thursday?\n\nHi Bob, are we still on for lunch on Thursday? The usual place at noon.\n",
    b"From: Carol <carol@example.org>\nSubject: Re: build failure on main\n\nThe failing test was a race in the scheduler; I pushed a fix, please review.\n",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).map_or_else(
        || std::env::temp_dir().join(format!("mailsift-embed-{}.db", std::process::id())),
        std::path::PathBuf::from,
    );
    // The engine is pure (parsing, tokenizing, rules, Bayes maths); the store does the I/O.
    let engine = Engine::new();
    let mut store = Store::open(&path, OpenMode::ReadWrite, StoreOptions::default())?;

    // Train the site-wide model (None) in one transaction per batch.
    let mut ops = Vec::new();
    for m in SPAM {
        ops.push(engine.analyze(m).op(Action::Learn(Class::Spam)));
    }
    for m in HAM {
        ops.push(engine.analyze(m).op(Action::Learn(Class::Ham)));
    }
    let outcomes = store.apply(None, &ops)?;
    println!("trained: {outcomes:?}");

    // Classify a new message and look at the evidence.
    let incoming = b"From: deals@cheap-pills.example\nSubject: cheap pills\n\nBest prices on pills, click now.\n";
    let verdict = engine.classify(incoming, &store.model(None)?)?;
    println!(
        "verdict: spam={} score={:.2} bayes={:.4} tests={}",
        verdict.is_spam,
        verdict.score,
        verdict.bayes.probability,
        verdict.test_names().join(",")
    );
    // The message as it would be delivered, with X-Spam-* headers.
    let delivered = engine.annotate(incoming, &verdict, None);
    print!("{}", String::from_utf8_lossy(&delivered));

    // A user says it was actually wanted: correct it in their own model.
    let fix = engine.analyze(incoming).op(Action::Learn(Class::Ham));
    let outcome = store.apply(Some("alice"), &[fix])?;
    assert_eq!(outcome, [Outcome::Learned]);
    let for_alice = engine.classify(incoming, &store.model(Some("alice"))?)?;
    println!("for alice after correction: score={:.2}", for_alice.score);

    // The store can prove its counts match what was learned.
    assert!(store.check()?.problems.is_empty());
    if std::env::args().nth(1).is_none() {
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    Ok(())
}
