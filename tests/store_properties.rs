//! Property tests for the library's invariants (the store and the pipeline):
//! - analysing and classifying never panics, whatever the bytes;
//! - the annotated message is the input with our headers added (and incoming X-Spam-* removed);
//! - learn then forget leaves the store exactly as it was (also with E31's repeated blocks
//!   on); learning twice is a no-op; a flip equals forget + learn;
//! - the in-memory model used by `eval` agrees with the store on every outcome and count;
//! - the learned combination's evidence (rule pseudo-tokens, and the Bayes band pseudo-tokens
//!   of the learned Bayes weight) after any learn/flip/forget sequence equals that of learning
//!   only the surviving messages, even when the rules a message hits, or the Bayes band it had,
//!   change between its learn and its forget or flip;
//! - the token learner (E25): learn then forget of a message leaves every slot of the learner
//!   within ε = 1e-4 × (1 + |value|) of where it was (its step undone), plus the bound under
//!   which a token's slot is dropped (`NEGLIGIBLE_Z` for `z`, `NEGLIGIBLE_N` for `n`, E28: a
//!   slot the step or the undo leaves negligible is not stored), site-wide and for a user, while the counts stay exact; the stores' learner equals the in-memory model's.
//!
//! The store properties run on SQLite and on a private redis-server (skipped with a message
//! when it is not installed).

use mailsift::bayes::Counts;
use mailsift::combination::{ANY_BAND, LEARNED_BANDS, bayes_token, bayes_tokens, rule_token};
use mailsift::store::{Action, Class, LearnOp};
use mailsift::tokenize::Tokens;
use mailsift::{Engine, MemoryModel, OpenMode, Store, StoreOptions, TokenCounts};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/redis_server.rs"]
mod redis_server;
use redis_server::RedisServer;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Arbitrary bytes biased towards mail structure.
fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"From: a@b.example\n".to_vec()),
        Just(b"Subject: =?utf-8?B?w6k=?= hi\r\n".to_vec()),
        Just(b"Content-Type: multipart/mixed; boundary=\"b\"\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\n".to_vec()),
        Just(b"X-Spam-Status: No\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"--b\n".to_vec()),
        Just(b"--b--\n".to_vec()),
        Just(b"<html><a href=\"http://x.example/\">y</a>&amp;&#1234;".to_vec()),
        Just("日本語のテキスト สวัสดี".as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 0..64),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn header_block_end(raw: &[u8]) -> Option<usize> {
    mailsift::headers::header_block(raw).map(|b| b.end)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn classify_never_panics_and_reproduces_the_input(raw in message_bytes()) {
        let engine = Engine::new();
        let model = MemoryModel::new();
        let verdict = engine.classify(&raw, &model).expect("in-memory classify cannot fail");
        let out = engine.annotate(&raw, &verdict, None);
        match header_block_end(&raw) {
            None => prop_assert_eq!(&out, &raw),
            Some(end) => {
                // Our fields sit at the end of the header block; before them the input's header
                // fields minus X-Spam-*, after them the rest of the input, byte for byte, less
                // X-Spam-* fields a reader would still take for header (up to the empty line).
                let head = mailsift::headers::strip_spam_headers(&raw[..end]);
                let stripped = mailsift::headers::strip_spam_headers(&raw);
                prop_assert!(stripped.starts_with(&head));
                let tail = &stripped[head.len()..];
                prop_assert!(out.starts_with(&head));
                prop_assert!(out.ends_with(tail));
                prop_assert!(out.len() > head.len() + tail.len());
                let added = &out[head.len()..out.len() - tail.len()];
                let added = String::from_utf8_lossy(added);
                prop_assert!(added.contains("X-Spam-Flag: "), "added: {added:?}");
                prop_assert!(added.contains("X-Spam-Status: "));
                prop_assert_eq!(added.matches("X-Spam-").count(), 4, "only our four fields: {:?}", added);
            }
        }
    }

    #[test]
    fn analysis_is_deterministic(raw in message_bytes()) {
        let engine = Engine::new();
        let a = engine.analyze(&raw);
        let b = engine.analyze(&raw);
        prop_assert_eq!(a.tokens, b.tokens);
        prop_assert_eq!(a.digest, b.digest);
    }

    #[test]
    fn with_blocks_learn_then_forget_is_identity(first in message_bytes(), raw in message_bytes()) {
        // E31's repeated blocks: both messages end with the same footer line, so when `raw` is
        // classified its block is repeated and Bayes combines a selection of its tokens; what
        // is learned and forgotten is still every token.
        let footer = b"\n\nTo stop getting this mail change your settings here\n";
        let (first, raw) = ([first, footer.to_vec()].concat(), [raw, footer.to_vec()].concat());
        let mut engine = Engine::new();
        engine.set("blocks", "true").expect("blocks is a setting");
        let (a, b) = (engine.analyze(&first), engine.analyze(&raw));
        prop_assume!(a.digest != b.digest);
        let mut model = MemoryModel::new();
        model.apply(&engine.op(&a, Action::Learn(Class::Spam)));
        let before = snapshot(&model);
        model.apply(&engine.op(&b, Action::Learn(Class::Ham)));
        engine.classify(&raw, &model).expect("in-memory classify cannot fail");
        model.apply(&engine.op(&b, Action::Forget));
        prop_assert_eq!(snapshot(&model), before);
    }
}

/// A small random learn/forget workload over a few messages and token sets.
fn ops() -> impl Strategy<Value = Vec<(u8, u8, u8)>> {
    // (message id 0..6, action 0=spam 1=ham 2=forget, version of the rules 0..3)
    proptest::collection::vec((0u8..6, 0u8..3, 0u8..3), 0..40)
}

/// The rule pseudo-tokens message `id` hits under rule-set `version`: the rules change between
/// versions (a rule added, one dropped), as they may between a learn and its forget. With them,
/// the Bayes band pseudo-tokens it records (E26): a band that depends on the version too, as
/// the model before it does, or none.
fn rule_set(id: u8, version: u8) -> Vec<u64> {
    let mut v: Vec<u64> = (0..8u8)
        .filter(|r| (r + id + version).is_multiple_of(3) || (*r == version && id.is_multiple_of(2)))
        .map(|r| rule_token(&format!("RULE_{r}")))
        .collect();
    let band = usize::from(id + 2 * version) % (LEARNED_BANDS.len() + 2);
    if band <= LEARNED_BANDS.len() {
        v.push(bayes_token(ANY_BAND));
        if let Some(b) = LEARNED_BANDS.get(band) {
            v.push(bayes_token(b));
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn all_rule_tokens() -> Vec<u64> {
    let mut v: Vec<u64> = (0..8u8).map(|r| rule_token(&format!("RULE_{r}"))).collect();
    v.extend(bayes_tokens());
    v
}

fn token_set(id: u8) -> Tokens {
    let mut hashes: Vec<u64> = (0..(5 + id as u64 * 3))
        .map(|i| (i * 7 + id as u64) % 23 + 1)
        .collect();
    hashes.push(u64::MAX - u64::from(id)); // high-bit hashes exercise the signed storage
    hashes.sort_unstable();
    hashes.dedup();
    Tokens {
        hashes,
        ..Tokens::default()
    }
}

fn op(id: u8, action: u8) -> LearnOp {
    op_v(id, action, 0)
}

fn op_v(id: u8, action: u8, version: u8) -> LearnOp {
    LearnOp {
        digest: [id; 16],
        tokens: token_set(id),
        rules: rule_set(id, version),
        action: match action {
            0 => Action::Learn(Class::Spam),
            1 => Action::Learn(Class::Ham),
            _ => Action::Forget,
        },
        lr: None,
    }
}

fn snapshot(model: &dyn TokenCounts) -> (mailsift::bayes::Totals, Vec<Counts>) {
    let mut all: Vec<u64> = (0..6).flat_map(|i| token_set(i).hashes).collect();
    all.extend(all_rule_tokens());
    let mut counts = Vec::new();
    model.lookup(&all, &mut counts).expect("lookup");
    (model.totals(), counts)
}

/// A fresh, empty store on each backend: SQLite in memory, and a key prefix of its own on the
/// private Redis server when there is one.
fn fresh(server: &Option<RedisServer>) -> Vec<Store> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let mut v = vec![Store::open_in_memory(StoreOptions::default()).expect("store")];
    if let Some(server) = server {
        let url = format!(
            "{}?prefix=p{}:",
            server.url(0),
            N.fetch_add(1, Ordering::Relaxed)
        );
        v.push(
            Store::open(
                Path::new(&url),
                OpenMode::ReadWrite,
                StoreOptions::default(),
            )
            .expect("redis store"),
        );
    }
    v
}

/// Runs a property over `strategy` with the store cases' configuration; one private
/// redis-server serves every case and is stopped when the test ends.
fn check_property<S: Strategy>(
    strategy: S,
    test: impl Fn(&Option<RedisServer>, S::Value) -> Result<(), TestCaseError>,
) {
    let server = RedisServer::start();
    let config = ProptestConfig {
        cases: cases() / 4 + 1,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, |v| test(&server, v)) {
        panic!("{e}");
    }
}

#[test]
fn store_and_memory_model_agree_and_stay_consistent() {
    check_property((ops(), any::<bool>()), |server, (workload, batched)| {
        for mut store in fresh(server) {
            let mut memory = MemoryModel::new();
            let ops: Vec<LearnOp> = workload.iter().map(|&(id, a, v)| op_v(id, a, v)).collect();
            let store_outcomes = if batched {
                store.apply(None, &ops).expect("apply")
            } else {
                ops.iter()
                    .flat_map(|o| store.apply(None, std::slice::from_ref(o)).expect("apply"))
                    .collect()
            };
            let memory_outcomes: Vec<_> = ops.iter().map(|o| memory.apply(o)).collect();
            prop_assert_eq!(store_outcomes, memory_outcomes);
            prop_assert_eq!(
                snapshot(&store.model(None).expect("model")),
                snapshot(&memory)
            );
            // The distinct-token figure of `stats` (a counter the Redis script keeps).
            let stats = store.stats(None).expect("stats");
            prop_assert_eq!(stats.users[0].tokens, memory.token_count() as u64);
            let report = store.check().expect("check");
            prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
        }
        Ok(())
    });
}

#[test]
fn learn_then_forget_is_identity_and_learning_twice_is_a_no_op() {
    check_property((ops(), 0u8..6, 0u8..2), |server, (prefix, id, class)| {
        for mut store in fresh(server) {
            let prefix: Vec<LearnOp> = prefix
                .iter()
                .map(|&(i, a, _)| op(i, a))
                .filter(|o| o.digest[0] != id)
                .collect();
            store.apply(None, &prefix).expect("prefix");
            let before = snapshot(&store.model(None).expect("model"));
            store.apply(None, &[op(id, class)]).expect("learn");
            let once = snapshot(&store.model(None).expect("model"));
            store.apply(None, &[op(id, class)]).expect("learn again");
            prop_assert_eq!(&snapshot(&store.model(None).expect("model")), &once);
            // Forgotten under other rules: what the ledger recorded is taken away.
            store
                .apply(None, &[op_v(id, 2, 1 + class)])
                .expect("forget");
            prop_assert_eq!(snapshot(&store.model(None).expect("model")), before);
        }
        Ok(())
    });
}

#[test]
fn flip_equals_forget_then_learn() {
    check_property((ops(), 0u8..6), |server, (prefix, id)| {
        let prefix: Vec<LearnOp> = prefix
            .iter()
            .map(|&(i, a, _)| op(i, a))
            .filter(|o| o.digest[0] != id)
            .collect();
        for (mut flipped, mut manual) in fresh(server).into_iter().zip(fresh(server)) {
            flipped.apply(None, &prefix).expect("prefix");
            flipped.apply(None, &[op(id, 0)]).expect("spam");
            flipped.apply(None, &[op(id, 1)]).expect("flip to ham");
            manual.apply(None, &prefix).expect("prefix");
            manual.apply(None, &[op(id, 0)]).expect("spam");
            manual.apply(None, &[op(id, 2)]).expect("forget");
            manual.apply(None, &[op(id, 1)]).expect("ham");
            prop_assert_eq!(
                snapshot(&flipped.model(None).expect("m")),
                snapshot(&manual.model(None).expect("m"))
            );
        }
        Ok(())
    });
}

#[test]
fn combination_evidence_equals_learning_only_the_survivors() {
    check_property((ops(), any::<bool>()), |server, (workload, batched)| {
        // The ledger's meaning, written out: which messages survive, as which class, with the
        // rules of the operation that last learned them (a flip learns the new rules).
        let mut survivors: std::collections::BTreeMap<u8, (u8, u8)> = Default::default();
        for &(id, a, v) in &workload {
            match (a, survivors.get(&id)) {
                (2, _) => {
                    survivors.remove(&id);
                }
                (a, Some(&(old, _))) if old == a => {}
                (a, _) => {
                    survivors.insert(id, (a, v));
                }
            }
        }
        let only: Vec<LearnOp> = survivors
            .iter()
            .map(|(&id, &(a, v))| op_v(id, a, v))
            .collect();
        for (mut store, mut reference) in fresh(server).into_iter().zip(fresh(server)) {
            let ops: Vec<LearnOp> = workload.iter().map(|&(id, a, v)| op_v(id, a, v)).collect();
            if batched {
                store.apply(None, &ops).expect("apply");
            } else {
                for o in &ops {
                    store.apply(None, std::slice::from_ref(o)).expect("apply");
                }
            }
            reference.apply(None, &only).expect("survivors");
            let rules = all_rule_tokens();
            let (mut got, mut want) = (Vec::new(), Vec::new());
            let model = store.model(None).expect("model");
            let totals = model.read(&rules, &mut got).expect("read");
            let ref_model = reference.model(None).expect("model");
            let ref_totals = ref_model.read(&rules, &mut want).expect("read");
            prop_assert_eq!(totals, ref_totals);
            prop_assert_eq!(&got, &want);
            // The learned weights follow from those counts alone.
            let p = mailsift::combination::CombinationParams::default();
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(p.weight(2.0, *g, totals), p.weight(2.0, *w, ref_totals));
            }
            // So do the learned Bayes weights of every band.
            for band in LEARNED_BANDS {
                let (g, w) = (&got[got.len() - 6..], &want[want.len() - 6..]);
                prop_assert_eq!(p.bayes_factor(Some(band), g), p.bayes_factor(Some(band), w));
            }
            prop_assert_eq!(snapshot(&model), snapshot(&ref_model));
            let report = store.check().expect("check");
            prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
        }
        Ok(())
    });
}

fn learner_op(id: u8, action: u8) -> LearnOp {
    LearnOp {
        lr: Some(mailsift::logreg::TokenLrParams {
            weight: 1.0,
            ..Default::default()
        }),
        ..op(id, action)
    }
}

/// Every slot the learner holds for the test's tokens (site, user, biases).
fn learner_snapshot(model: &dyn TokenCounts) -> mailsift::logreg::LrRead {
    let all: Vec<u64> = (0..6).flat_map(|i| token_set(i).hashes).collect();
    let mut lr = mailsift::logreg::LrRead::default();
    model
        .read_lr(&all, &mut Vec::new(), &mut lr)
        .expect("read learner");
    lr
}

fn within(a: &mailsift::logreg::LrRead, b: &mailsift::logreg::LrRead) -> Result<(), String> {
    let pairs = a.site.iter().zip(&b.site).chain(a.user.iter().zip(&b.user));
    for (i, (x, y)) in pairs.chain(a.bias.iter().zip(&b.bias)).enumerate() {
        let (dz, dn) = (
            mailsift::logreg::NEGLIGIBLE_Z,
            mailsift::logreg::NEGLIGIBLE_N,
        );
        for (u, v, drop) in [(x.z, y.z, dz), (x.n, y.n, dn)] {
            if (u - v).abs() > 1e-4 * (1.0 + v.abs()) + drop {
                return Err(format!("slot {i}: {x:?} against {y:?}"));
            }
        }
    }
    Ok(())
}

#[test]
fn token_learner_learn_then_forget_is_undone_within_epsilon() {
    check_property(
        (ops(), 0u8..6, 0u8..2, any::<bool>()),
        |server, (prefix, id, class, for_user)| {
            let prefix: Vec<LearnOp> = prefix
                .iter()
                .map(|&(i, a, _)| learner_op(i, a))
                .filter(|o| o.digest[0] != id)
                .collect();
            let user = for_user.then_some("carol");
            let mut memory = MemoryModel::new();
            for o in &prefix {
                memory.apply(o);
            }
            for mut store in fresh(server) {
                // The site-wide model learns the prefix one message at a time (as eval's
                // in-memory model does; within a batch a token's slot goes with its counts only
                // at the end of the batch); a user learns it too, on top, in one batch.
                for o in &prefix {
                    store
                        .apply(None, std::slice::from_ref(o))
                        .expect("site prefix");
                }
                if user.is_some() {
                    store.apply(user, &prefix).expect("user prefix");
                }
                let model = |s: &Store| {
                    let m = s.model(user).expect("model");
                    (learner_snapshot(&m), snapshot(&m))
                };
                let (lr_before, counts_before) = model(&store);
                if user.is_none() {
                    prop_assert_eq!(&lr_before, &learner_snapshot(&memory));
                }
                store.apply(user, &[learner_op(id, class)]).expect("learn");
                let (lr_learned, _) = model(&store);
                prop_assert!(lr_learned != lr_before, "the learner stepped");
                store.apply(user, &[learner_op(id, 2)]).expect("forget");
                let (lr_after, counts_after) = model(&store);
                prop_assert_eq!(counts_after, counts_before);
                if let Err(e) = within(&lr_after, &lr_before) {
                    return Err(TestCaseError::fail(e));
                }
                let report = store.check().expect("check");
                prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
            }
            Ok(())
        },
    );
}
