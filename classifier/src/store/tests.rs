//! The store's test suite, run on every backend: SQLite in memory, and a private
//! `redis-server` when one is installed (skipped with a message otherwise).

use super::*;
use crate::model::MemoryModel;
use crate::tokenize::Tokens;
use std::collections::BTreeSet;

#[path = "../../../tests/support/redis_cluster.rs"]
mod redis_cluster;
#[path = "../../../tests/support/redis_server.rs"]
pub(super) mod redis_server;

pub(super) fn op(d: u8, hashes: &[u64], action: Action) -> LearnOp {
    LearnOp {
        digest: [d; 16],
        tokens: Tokens {
            hashes: hashes.to_vec(),
            ..Tokens::default()
        },
        rules: Vec::new(),
        action,
        lr: None,
    }
}

/// A store under test, with whatever keeps its backend alive.
pub(super) struct Subject {
    pub name: &'static str,
    pub store: Store,
    pub server: Option<redis_server::RedisServer>,
    /// A Redis Cluster shared with the other tests running now (each subject has its own
    /// key prefix on it).
    pub cluster: Option<std::sync::Arc<redis_cluster::RedisCluster>>,
}

/// A fresh, empty store on each backend.
pub(super) fn subjects(options: StoreOptions) -> Vec<Subject> {
    let mut v = vec![Subject {
        name: "sqlite",
        store: Store::open_in_memory(options.clone()).expect("open sqlite"),
        server: None,
        cluster: None,
    }];
    if let Some(server) = redis_server::RedisServer::start() {
        let url = format!("{}?prefix=t:", server.url(3));
        let store =
            Store::open(Path::new(&url), OpenMode::ReadWrite, options.clone()).expect("open redis");
        v.push(Subject {
            name: "redis",
            store,
            server: Some(server),
            cluster: None,
        });
    }
    if let Some(cluster) = redis_cluster::RedisCluster::shared() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}?prefix=t{n}:", cluster.url());
        let store =
            Store::open(Path::new(&url), OpenMode::ReadWrite, options).expect("open redis cluster");
        v.push(Subject {
            name: "redis-cluster",
            store,
            server: None,
            cluster: Some(cluster),
        });
    }
    v
}

/// Everything learn/forget can change: every model's dump.
pub(super) fn dump_all(store: &Store) -> Vec<ModelDump> {
    let mut users: Vec<Option<String>> = vec![None];
    users.extend(store.b().users().expect("users").into_iter().map(Some));
    users
        .iter()
        .map(|u| {
            let mut d = store.dump(u.as_deref()).expect("dump");
            for (_, e) in &mut d.ledger {
                e.learned_at = 0;
            }
            d
        })
        .filter(|d| d.totals != Totals::default() || !d.tokens.is_empty() || !d.ledger.is_empty())
        .collect()
}

#[test]
fn learn_is_idempotent_flip_and_forget_are_exact() {
    for Subject {
        name, mut store, ..
    } in subjects(StoreOptions::default())
    {
        let s = &mut store;
        let before = dump_all(s);
        let out = s
            .apply(None, &[op(1, &[1, 2, 3], Action::Learn(Class::Spam))])
            .expect("learn");
        assert_eq!(out, [Outcome::Learned], "{name}");
        let after_one = dump_all(s);
        let out = s
            .apply(None, &[op(1, &[1, 2, 3], Action::Learn(Class::Spam))])
            .expect("again");
        assert_eq!(out, [Outcome::AlreadyKnown], "{name}");
        assert_eq!(dump_all(s), after_one, "{name}");
        let out = s
            .apply(None, &[op(1, &[1, 2, 3], Action::Learn(Class::Ham))])
            .expect("flip");
        assert_eq!(out, [Outcome::Flipped], "{name}");
        assert_eq!(
            s.learned_class(None, &[1; 16]).expect("class"),
            Some(Class::Ham),
            "{name}"
        );
        let m = s.model(None).expect("model");
        let mut c = Vec::new();
        let totals = m.read(&[1, 9], &mut c).expect("read");
        assert_eq!(totals, Totals { spam: 0, ham: 1 }, "{name}");
        assert_eq!(m.totals(), Totals { spam: 0, ham: 1 }, "{name}");
        assert_eq!(c, [Counts { spam: 0, ham: 1 }, Counts::default()], "{name}");
        assert!(s.check().expect("check").problems.is_empty(), "{name}");
        let out = s
            .apply(
                None,
                &[
                    op(1, &[1, 2, 3], Action::Forget),
                    op(7, &[1], Action::Forget),
                ],
            )
            .expect("forget");
        assert_eq!(out, [Outcome::Forgotten, Outcome::NotLearned], "{name}");
        assert_eq!(dump_all(s), before, "{name}");
        assert_eq!(s.learned_class(None, &[1; 16]).expect("class"), None);
    }
}

#[test]
fn users_combine_with_site_and_are_isolated() {
    let options = StoreOptions {
        user_weight: 2,
        ..StoreOptions::default()
    };
    for Subject {
        name, mut store, ..
    } in subjects(options)
    {
        let s = &mut store;
        s.apply(None, &[op(1, &[10, 11], Action::Learn(Class::Spam))])
            .expect("site");
        s.apply(Some("alice"), &[op(2, &[10], Action::Learn(Class::Ham))])
            .expect("alice");
        let mut c = Vec::new();
        let alice = s.model(Some("alice")).expect("alice model");
        assert_eq!(alice.totals(), Totals { spam: 1, ham: 2 }, "{name}");
        alice.lookup(&[10, 11], &mut c).expect("lookup");
        assert_eq!(
            c,
            [Counts { spam: 1, ham: 2 }, Counts { spam: 1, ham: 0 }],
            "{name}"
        );
        let bob = s.model(Some("bob")).expect("bob model");
        assert_eq!(bob.totals(), Totals { spam: 1, ham: 0 }, "{name}");
        bob.lookup(&[10], &mut c).expect("lookup");
        assert_eq!(c, [Counts { spam: 1, ham: 0 }], "{name}");
        let stats = s.stats(Some("alice")).expect("stats");
        assert_eq!(stats.users.len(), 1, "{name}");
        assert_eq!(stats.users[0].ham, 1, "{name}");
        assert_eq!(stats.users[0].tokens, 1, "{name}");
        let all = s.stats(None).expect("stats");
        let names: Vec<&str> = all.users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["", "alice"], "{name}");
        assert_eq!(all.tokenizer_version, TOKENIZER_VERSION);
        assert!(matches!(
            s.model(Some("../etc")),
            Err(Error::InvalidUser(_))
        ));
        assert!(s.check().expect("check").problems.is_empty(), "{name}");
        // Resetting alice leaves the site model alone.
        s.reset(Some("alice")).expect("reset");
        let alice = s.model(Some("alice")).expect("alice model");
        assert_eq!(alice.totals(), Totals { spam: 1, ham: 0 }, "{name}");
        assert!(s.check().expect("check").problems.is_empty(), "{name}");
    }
}

#[test]
fn batched_lookup_matches_memory_model_in_any_order() {
    // Hashes above i64::MAX are stored negative in SQLite: key order differs from u64 order.
    let big = u64::MAX - 5;
    let ops = [
        op(1, &[3, 7, big, 1 << 63], Action::Learn(Class::Spam)),
        op(2, &[7, big, 42], Action::Learn(Class::Ham)),
    ];
    let options = StoreOptions {
        user_weight: 3,
        ..StoreOptions::default()
    };
    for Subject {
        name, mut store, ..
    } in subjects(options)
    {
        let s = &mut store;
        let mut mem = MemoryModel::new();
        s.apply(None, &ops).expect("learn");
        for o in &ops {
            mem.apply(o);
        }
        s.apply(
            Some("carol"),
            &[op(3, &[big, 5], Action::Learn(Class::Spam))],
        )
        .expect("carol");
        // Unsorted, with duplicates and unknown hashes.
        let query = [big, 9, 7, 1 << 63, 7, 3, 0, big, 42];
        let (mut got, mut want) = (Vec::new(), Vec::new());
        s.model(None)
            .expect("model")
            .lookup(&query, &mut got)
            .expect("lookup");
        mem.lookup(&query, &mut want).expect("memory lookup");
        assert_eq!(got, want, "{name}");
        assert_eq!(got[0], Counts { spam: 1, ham: 1 }, "{name}");
        let carol = s.model(Some("carol")).expect("carol model");
        let totals = carol.read(&query, &mut got).expect("lookup");
        assert_eq!(totals, Totals { spam: 4, ham: 1 }, "{name}");
        assert_eq!(got[0], Counts { spam: 4, ham: 1 }, "{name}");
        assert_eq!(got[7], got[0], "{name}");
        assert_eq!(got[2], Counts { spam: 1, ham: 1 }, "{name}");
        let totals = s
            .model(None)
            .expect("model")
            .read(&[], &mut got)
            .expect("empty lookup");
        assert!(got.is_empty(), "{name}");
        assert_eq!(totals, Totals { spam: 1, ham: 1 }, "{name}");
    }
}

#[test]
fn copy_to_moves_every_model_between_backends() {
    // With the token learner on for all but one message: its slots, biases and gradients
    // travel too (E28), and a message learned with it off keeps having no gradient.
    let lr = |o: LearnOp| LearnOp {
        lr: Some(crate::logreg::TokenLrParams {
            weight: 1.0,
            ..Default::default()
        }),
        ..o
    };
    let mut all = subjects(StoreOptions::default());
    {
        let src = &mut all[0].store;
        src.apply(
            None,
            &[
                lr(op(1, &[1, 2, u64::MAX], Action::Learn(Class::Spam))),
                lr(op(2, &[2, 3], Action::Learn(Class::Ham))),
                op(5, &[3, 6], Action::Learn(Class::Ham)),
            ],
        )
        .expect("site");
        src.apply(Some("dave"), &[lr(op(3, &[4], Action::Learn(Class::Spam)))])
            .expect("dave");
    }
    let want = dump_all(&all[0].store);
    for d in &want {
        assert!(!d.lr.slots.is_empty() && !d.lr.bias.is_empty(), "{d:?}");
        assert_eq!(
            d.lr.grads.len(),
            d.ledger.len() - usize::from(d.user.is_none())
        );
    }
    let mut copy = Store::open_in_memory(StoreOptions::default()).expect("copy");
    copy.apply(Some("stale"), &[op(9, &[9], Action::Learn(Class::Ham))])
        .expect("stale");
    all[0].store.copy_to(&mut copy).expect("copy");
    assert_eq!(dump_all(&copy), want);
    assert!(copy.check().expect("check").problems.is_empty());
    for Subject {
        name, mut store, ..
    } in all.into_iter().skip(1)
    {
        copy.copy_to(&mut store).expect("export");
        assert_eq!(dump_all(&store), want, "{name}");
        assert!(store.check().expect("check").problems.is_empty(), "{name}");
        let mut back = Store::open_in_memory(StoreOptions::default()).expect("back");
        store.copy_to(&mut back).expect("import");
        assert_eq!(dump_all(&back), want, "{name}");
    }
}

#[test]
fn redis_check_detects_tampering_and_reports_a_server_gone() {
    for Subject {
        mut store, server, ..
    } in subjects(StoreOptions {
        busy_timeout: Duration::from_secs(2),
        ..StoreOptions::default()
    }) {
        let Some(mut server) = server else { continue };
        store
            .apply(None, &[op(1, &[1, 2], Action::Learn(Class::Spam))])
            .expect("learn");
        assert!(store.check().expect("check").problems.is_empty());
        assert!(
            server
                .command("SELECT 3\r\nHSET t:{site}:totals spam 7")
                .contains(":0")
        );
        let report = store.check().expect("check");
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].contains("7 spam messages counted, ledger has 1"));
        server.stop();
        let err = store
            .model(None)
            .and_then(|m| m.read(&[1], &mut Vec::new()));
        assert!(
            matches!(err, Err(Error::Redis { .. })),
            "a stopped server is a Redis error: {err:?}"
        );
        let url = format!("{}?prefix=t:", server.url(3));
        let err = Store::open(Path::new(&url), OpenMode::ReadOnly, StoreOptions::default());
        assert!(matches!(err, Err(Error::Redis { .. })), "{err:?}");
    }
}

#[test]
fn a_cluster_spreads_user_models_over_its_nodes() {
    for Subject {
        mut store, cluster, ..
    } in subjects(StoreOptions {
        user_weight: 1,
        ..StoreOptions::default()
    }) {
        let Some(cluster) = cluster else { continue };
        // By the cluster's own slot map: {site} and {u:carol}, {u:dave} fall on three nodes.
        let site = cluster.node_of("{site}");
        let carol = cluster.node_of("{u:carol}");
        let dave = cluster.node_of("{u:dave}");
        assert_eq!([site, carol, dave].iter().collect::<BTreeSet<_>>().len(), 3);
        store
            .apply(None, &[op(1, &[1, 2], Action::Learn(Class::Spam))])
            .expect("site");
        for (d, user) in [(2, "carol"), (3, "dave")] {
            store
                .apply(Some(user), &[op(d, &[2, 3], Action::Learn(Class::Ham))])
                .expect("user");
        }
        let keys = cluster.keys_per_node("*:{*}:totals");
        for (node, tag) in [(site, "{site}"), (carol, "{u:carol}"), (dave, "{u:dave}")] {
            for (i, held) in keys.iter().enumerate() {
                let here = held.iter().any(|k| k.contains(tag));
                assert_eq!(here, i == node, "{tag} on node {i}: {keys:?}");
            }
        }
        // Classify reads both models (two slots, two script calls) and layers them.
        let mut c = Vec::new();
        let m = store.model(Some("dave")).expect("dave");
        assert_eq!(m.totals(), Totals { spam: 1, ham: 1 });
        m.lookup(&[1, 2, 3], &mut c).expect("lookup");
        assert_eq!(
            c,
            [
                Counts { spam: 1, ham: 0 },
                Counts { spam: 1, ham: 1 },
                Counts { spam: 0, ham: 1 }
            ]
        );
        assert!(store.check().expect("check").problems.is_empty());
    }
}

#[test]
fn a_schema_1_redis_store_is_migrated_on_write_and_its_entries_forget_exactly() {
    let Some(server) = redis_server::RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let url = format!("{}?prefix=mig:", server.url(5));
    let open = |mode| Store::open(Path::new(&url), mode, StoreOptions::default()).expect("open");
    let mut store = open(OpenMode::ReadWrite);
    // What schema 1 wrote: entries without rule pseudo-tokens, and `schema` 1 in the meta.
    let v1 = op(7, &[11, 12, 13], Action::Learn(Class::Spam));
    store.apply(None, std::slice::from_ref(&v1)).expect("learn");
    store.b_mut().set_meta("schema", "1").expect("meta");
    drop(store);
    let reader = open(OpenMode::ReadOnly);
    assert_eq!(reader.stats(None).expect("stats").schema_version, 1);
    assert!(reader.check().expect("check").problems.is_empty());
    drop(reader);
    let mut store = open(OpenMode::ReadWrite);
    assert_eq!(
        store.stats(None).expect("stats").schema_version,
        redis::SCHEMA_VERSION
    );
    // The token learner's keys (E25) need no migration of their own: absent means nothing
    // learned.
    assert_eq!(redis::SCHEMA_VERSION, 3);
    // Forgotten by a build that learns rule evidence: the entry recorded none, none is taken.
    let mut forget = op(7, &[11, 12, 13], Action::Forget);
    forget.rules = vec![crate::combination::rule_token("SOME_RULE")];
    assert_eq!(
        store.apply(None, &[forget]).expect("forget"),
        [Outcome::Forgotten]
    );
    assert!(dump_all(&store).is_empty());
    assert!(store.check().expect("check").problems.is_empty());
}

/// The token learner (E25) on every backend, the Redis Cluster's one-call-per-model read
/// included: a user's slots add to the site's, for that user only; forget undoes the step.
#[test]
fn the_token_learner_layers_per_user_and_forget_undoes_it() {
    let params = crate::logreg::TokenLrParams {
        weight: 1.0,
        ..Default::default()
    };
    let with_lr = |d: u8, hashes: &[u64], action: Action| LearnOp {
        lr: Some(params),
        ..op(d, hashes, action)
    };
    let margin = |store: &Store, user: Option<&str>| {
        let mut lr = crate::logreg::LrRead::default();
        let model = store.model(user).expect("model");
        model
            .read_lr(&[1, 2, 3], &mut Vec::new(), &mut lr)
            .expect("read");
        lr.margin(&params, 3)
    };
    for Subject {
        name, mut store, ..
    } in subjects(StoreOptions::default())
    {
        let s = &mut store;
        assert_eq!(margin(s, None), 0.0, "{name}");
        s.apply(None, &[with_lr(1, &[1, 2, 3], Action::Learn(Class::Spam))])
            .expect("site spam");
        let site = margin(s, None);
        assert!(site > 0.0, "{name}: {site}");
        // Alice's ham moves her margin below the site's; Bob's stays the site's.
        s.apply(
            Some("alice"),
            &[with_lr(2, &[1, 2, 3], Action::Learn(Class::Ham))],
        )
        .expect("alice ham");
        let alice = margin(s, Some("alice"));
        assert!(alice < site, "{name}: {alice} {site}");
        assert_eq!(margin(s, Some("bob")), site, "{name}");
        assert_eq!(margin(s, None), site, "{name}");
        s.apply(Some("alice"), &[with_lr(2, &[1, 2, 3], Action::Forget)])
            .expect("alice forget");
        assert!((margin(s, Some("alice")) - site).abs() < 1e-6, "{name}");
        s.apply(None, &[with_lr(1, &[1, 2, 3], Action::Forget)])
            .expect("site forget");
        assert!(margin(s, None).abs() < 1e-6, "{name}");
        assert!(s.check().expect("check").problems.is_empty(), "{name}");
    }
}
