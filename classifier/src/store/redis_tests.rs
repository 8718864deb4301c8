//! The Redis schema 3 and its migration from schema 2, against a private `redis-server`
//! (skipped with a message when it is not installed): a model written in the schema-2 layout
//! (by [`to_schema_2`], which writes what the schema-2 build wrote) reads the same before,
//! during and after the migration as the same model learned by this build, and the migrated
//! store keeps learning, forgetting and checking exactly.

use super::tests::{dump_all, op, redis_server::RedisServer};
use super::*;
use crate::bayes::Totals;

/// Learned into both stores: site-wide spam and ham, a flip, a forget, and a user's model.
fn history() -> Vec<(Option<&'static str>, LearnOp)> {
    let mut v = Vec::new();
    for d in 0..30u8 {
        let class = if d % 3 == 0 { Class::Ham } else { Class::Spam };
        let base = u64::from(d % 7);
        // Tokens shared by many messages, some by one only; large hashes too.
        let tokens = [base, 100 + u64::from(d), u64::MAX - base, 1 << 63];
        v.push((None, op(d, &tokens, Action::Learn(class))));
    }
    v.push((
        None,
        op(
            4,
            &[4, 104, u64::MAX - 4, 1 << 63],
            Action::Learn(Class::Ham),
        ),
    ));
    v.push((
        None,
        op(5, &[5, 105, u64::MAX - 5, 1 << 63], Action::Forget),
    ));
    for d in 200..206u8 {
        v.push((
            Some("dave"),
            op(d, &[1, 2, u64::from(d)], Action::Learn(Class::Ham)),
        ));
    }
    v
}

fn open(url: &str, mode: OpenMode) -> Store {
    Store::open(Path::new(url), mode, StoreOptions::default()).expect("open")
}

/// Rewrites every model of a schema-3 store in the schema-2 layout: spam and ham hashes of
/// decimal counts, the distinct-token count in the totals, schema 2 in the metadata. With
/// `keep_every` N, every Nth token stays packed and the metadata says a migration is under
/// way (a migration cut short).
fn to_schema_2(store: &Store, keep_every: Option<usize>) {
    let r = store.as_redis().expect("redis");
    for keys in r.model_keys().expect("models") {
        let fields: redis_io::Fields = r
            .run(|c| ::redis::cmd("HGETALL").arg(&keys.counts).query(c))
            .expect("counts");
        let len = fields.len();
        for (i, (f, v)) in fields.into_iter().enumerate() {
            if keep_every.is_some_and(|n| i % n == 0) {
                continue;
            }
            let c = redis_io::parse_packed(&v).expect("packed");
            r.run(|conn| {
                let mut p = ::redis::pipe();
                p.cmd("HDEL").arg(&keys.counts).arg(&f[..]).ignore();
                for (key, n) in [(&keys.v2_spam, c.spam), (&keys.v2_ham, c.ham)] {
                    if n > 0 {
                        p.cmd("HSET").arg(key).arg(&f[..]).arg(n).ignore();
                    }
                }
                p.query::<()>(conn)
            })
            .expect("write v2");
        }
        r.run(|c| {
            ::redis::cmd("HSET")
                .arg(&keys.totals)
                .arg("tokens")
                .arg(len)
                .query::<()>(c)
        })
        .expect("tokens");
    }
    let meta = r.keys(None).meta;
    let (schema, migrating) = match keep_every {
        None => (2, None),
        Some(_) => (3, Some(1)),
    };
    r.run(|c| {
        let mut p = ::redis::pipe();
        p.cmd("HSET").arg(&meta).arg("schema").arg(schema).ignore();
        if let Some(m) = migrating {
            p.cmd("HSET").arg(&meta).arg("migrating").arg(m).ignore();
        }
        p.query::<()>(c)
    })
    .expect("meta");
}

/// Every count of `hashes` for `user` (with the site's), as classify reads them.
fn reads(store: &Store, user: Option<&str>, hashes: &[u64]) -> (Totals, Vec<Counts>) {
    let mut out = Vec::new();
    let t = store
        .model(user)
        .expect("model")
        .read(hashes, &mut out)
        .expect("read");
    (t, out)
}

fn exists(store: &Store, keys: &[&String]) -> i64 {
    let r = store.as_redis().expect("redis");
    r.run(|c| ::redis::cmd("EXISTS").arg(keys).query(c))
        .expect("exists")
}

#[test]
fn a_schema_2_store_reads_the_same_before_during_and_after_its_migration() {
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let hashes: Vec<u64> = (0..8)
        .chain(100..130)
        .chain([u64::MAX, u64::MAX - 3, 1 << 63, 1, 2, 203, 999])
        .collect();
    for keep in [None, Some(3)] {
        let n = keep.unwrap_or(0);
        let reference = format!("{}?prefix=ref{n}:", server.url(2));
        let old = format!("{}?prefix=old{n}:", server.url(2));
        let mut a = open(&reference, OpenMode::ReadWrite);
        let mut b = open(&old, OpenMode::ReadWrite);
        for (user, o) in history() {
            a.apply(user, std::slice::from_ref(&o)).expect("learn");
            b.apply(user, std::slice::from_ref(&o)).expect("learn");
        }
        to_schema_2(&b, keep);
        drop(b);
        // Read by this build before any migration: one-off classify, read-only commands.
        let lazy =
            Store::open_for_classify(Path::new(&old), StoreOptions::default()).expect("lazy");
        let ro = open(&old, OpenMode::ReadOnly);
        for user in [None, Some("dave")] {
            let want = reads(&a, user, &hashes);
            assert_eq!(reads(&lazy, user, &hashes), want, "{keep:?} {user:?}");
            assert_eq!(reads(&ro, user, &hashes), want, "{keep:?} {user:?}");
        }
        assert_eq!(
            ro.stats(None).expect("stats").users,
            a.stats(None).expect("stats").users
        );
        assert_eq!(dump_all(&ro), dump_all(&a), "{keep:?}");
        assert!(ro.check().expect("check").problems.is_empty());
        let site = ro.as_redis().expect("redis").keys(None);
        assert_eq!(exists(&ro, &[&site.v2_spam, &site.v2_ham]), 2);
        // Opened for writing: migrated in place.
        let mut b = open(&old, OpenMode::ReadWrite);
        let r = b.as_redis().expect("redis");
        for keys in r.model_keys().expect("models") {
            assert_eq!(exists(&b, &[&keys.v2_spam, &keys.v2_ham]), 0, "{keys:?}");
            let tokens: Option<u64> = r
                .run(|c| {
                    ::redis::cmd("HGET")
                        .arg(&keys.totals)
                        .arg("tokens")
                        .query(c)
                })
                .expect("tokens");
            assert_eq!(tokens, None);
        }
        let meta: (Option<i64>, Option<String>) = r
            .run(|c| {
                ::redis::cmd("HMGET")
                    .arg(&site.meta)
                    .arg("schema")
                    .arg("migrating")
                    .query(c)
            })
            .expect("meta");
        assert_eq!(meta, (Some(redis::SCHEMA_VERSION), None));
        let (sa, sb) = (a.stats(None).expect("stats"), b.stats(None).expect("stats"));
        assert_eq!((sb.users, sb.schema_version), (sa.users, sa.schema_version));
        assert_eq!(dump_all(&b), dump_all(&a));
        for user in [None, Some("dave")] {
            assert_eq!(reads(&b, user, &hashes), reads(&a, user, &hashes));
        }
        // And it goes on exactly: a flip, a forget, a new message, on both.
        let more = [
            (
                None,
                op(7, &[0, 107, u64::MAX, 1 << 63], Action::Learn(Class::Ham)),
            ),
            (
                None,
                op(8, &[1, 108, u64::MAX - 1, 1 << 63], Action::Forget),
            ),
            (
                Some("dave"),
                op(250, &[1, 2, 3], Action::Learn(Class::Spam)),
            ),
        ];
        for (user, o) in more {
            let want = a.apply(user, std::slice::from_ref(&o)).expect("a");
            assert_eq!(b.apply(user, std::slice::from_ref(&o)).expect("b"), want);
        }
        assert_eq!(dump_all(&b), dump_all(&a));
        assert!(b.check().expect("check").problems.is_empty());
    }
}

/// A batch with the same message several times (learned, flipped, forgotten, learned again),
/// a user's model, and tokens shared across messages.
fn tangled_batch() -> Vec<LearnOp> {
    let mut v = Vec::new();
    for d in 0..12u8 {
        let class = if d % 2 == 0 { Class::Spam } else { Class::Ham };
        v.push(op(d, &[1, 2, 100 + u64::from(d)], Action::Learn(class)));
    }
    v.push(op(3, &[1, 2, 103], Action::Learn(Class::Spam)));
    v.push(op(4, &[1, 2, 104], Action::Forget));
    v.push(op(4, &[1, 2, 104], Action::Learn(Class::Ham)));
    v.push(op(5, &[1, 2, 105], Action::Learn(Class::Ham)));
    v.push(op(99, &[7], Action::Forget));
    v
}

#[test]
fn pipelined_script_calls_apply_a_batch_exactly_as_one_call_does() {
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let mut sqlite = Store::open_in_memory(StoreOptions::default()).expect("sqlite");
    let mut whole = open(
        &format!("{}?prefix=whole:", server.url(4)),
        OpenMode::ReadWrite,
    );
    let mut piped = open(
        &format!("{}?prefix=piped:", server.url(4)),
        OpenMode::ReadWrite,
    );
    // One operation per script call: every call but the first is sent while another runs.
    piped.as_redis().expect("redis").chunk_tokens.set(1);
    let batch = tangled_batch();
    for user in [None, Some("erin")] {
        for round in 0..2 {
            let want = sqlite.apply(user, &batch).expect("sqlite");
            assert_eq!(whole.apply(user, &batch).expect("whole"), want, "{round}");
            assert_eq!(piped.apply(user, &batch).expect("piped"), want, "{round}");
        }
    }
    assert_eq!(dump_all(&piped), dump_all(&whole));
    assert_eq!(dump_all(&piped), dump_all(&sqlite));
    assert!(piped.check().expect("check").problems.is_empty());
}

/// A bulk training's connection cut while its pipelined calls are in flight (a Redis
/// restart, a proxy's idle timeout, a network fault): the chunks without an answer are done
/// on a new connection, those the server had carried out recognised by the ledger, so the
/// batch is applied whole, once, with the outcomes that happened (it used to fail, leaving
/// the rest of the training undone).
#[test]
fn a_connection_lost_under_pipelined_calls_loses_and_doubles_nothing() {
    use std::sync::atomic::Ordering;
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let params = crate::logreg::TokenLrParams::default();
    let batch = |action: &dyn Fn(u8) -> Action| -> Vec<LearnOp> {
        (0..40u8)
            .map(|d| LearnOp {
                lr: Some(params),
                ..op(
                    d,
                    &[u64::from(d % 5), 100 + u64::from(d), 1 << 40],
                    action(d),
                )
            })
            .collect()
    };
    let learn = batch(&|d| match d % 3 {
        0 => Action::Learn(Class::Ham),
        _ => Action::Learn(Class::Spam),
    });
    let later = batch(&|d| match d % 4 {
        0 => Action::Forget,
        1 => Action::Learn(Class::Ham),
        _ => Action::Learn(Class::Spam),
    });
    // The relay counts answers by the reads that bring them, and two answers may come in one:
    // the last `nth` stays well below the 20 calls, so that it is always reached.
    for nth in [1, 2, 5, 9] {
        let mut sqlite = Store::open_in_memory(StoreOptions::default()).expect("sqlite");
        let prefix = format!("lost{nth}:");
        for ops in [&learn, &later] {
            let (relay, dropped) =
                super::tests::redis_server::answer_losing_relay(server.port, nth);
            let mut store = open(
                &format!("redis://127.0.0.1:{relay}/7?prefix={prefix}"),
                OpenMode::ReadWrite,
            );
            // Two messages a call: 20 calls, one in flight while the next is planned.
            store.as_redis().expect("redis").chunk_tokens.set(6);
            let want = sqlite.apply(None, ops).expect("sqlite");
            assert_eq!(store.apply(None, ops).expect("redis"), want, "{nth}");
            assert!(dropped.load(Ordering::SeqCst), "{nth}: no answer was lost");
        }
        let direct = open(
            &format!("{}?prefix={prefix}", server.url(7)),
            OpenMode::ReadOnly,
        );
        assert_eq!(dump_all(&direct), dump_all(&sqlite), "{nth}");
        assert!(direct.check().expect("check").problems.is_empty());
    }
}

#[test]
fn pipelined_hosts_racing_on_the_same_messages_keep_the_counts_exact() {
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let url = format!("{}?prefix=race:", server.url(5));
    std::thread::scope(|s| {
        for host in 0..4u8 {
            let url = &url;
            s.spawn(move || {
                let mut store = open(url, OpenMode::ReadWrite);
                store.as_redis().expect("redis").chunk_tokens.set(2);
                for round in 0..25u8 {
                    // Each host learns, flips and forgets the same eight messages (a
                    // message's tokens are its own, whoever learns it) in its own order, so
                    // ledger checks fail and chunks are done again.
                    let batch: Vec<LearnOp> = (0..8u8)
                        .map(|i| {
                            let d = (i + host + round) % 8;
                            let action = match (i + round + host) % 3 {
                                0 => Action::Learn(Class::Spam),
                                1 => Action::Learn(Class::Ham),
                                _ => Action::Forget,
                            };
                            op(d, &[1, 2, 10 + u64::from(d)], action)
                        })
                        .collect();
                    store.apply(None, &batch).expect("apply");
                }
            });
        }
    });
    let store = open(&url, OpenMode::ReadOnly);
    let report = store.check().expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn a_server_busy_with_another_hosts_script_is_waited_for() {
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let url = server.url(6);
    let mut store = open(&url, OpenMode::ReadWrite);
    store
        .apply(None, &[op(1, &[1, 2, 3], Action::Learn(Class::Spam))])
        .expect("learn");
    // Another "host" runs a script past the server's busy threshold (lowered to 50 ms): until
    // it ends (about 800 ms), the server answers every other command with BUSY.
    let r = store.as_redis().expect("redis");
    r.run(|c| {
        ::redis::cmd("CONFIG")
            .arg("SET")
            .arg("busy-reply-threshold")
            .arg("50")
            .query::<()>(c)
    })
    .expect("config");
    let busy = std::thread::spawn(move || {
        let client = ::redis::Client::open(url.as_str()).expect("client");
        let mut c = client.get_connection().expect("connection");
        let spin = "local t = redis.call('TIME') local s = t[1] * 1e6 + t[2] \
                    repeat local n = redis.call('TIME') until n[1] * 1e6 + n[2] - s > 800000 \
                    return 1";
        ::redis::cmd("EVAL").arg(spin).arg(0).query::<i64>(&mut c)
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Learning and reading go through once the script is done, within the busy timeout (10 s).
    let out = store
        .apply(None, &[op(2, &[2, 3, 4], Action::Learn(Class::Ham))])
        .expect("a busy server is waited for, not an error");
    assert_eq!(out.len(), 1);
    assert_eq!(busy.join().expect("thread").expect("script"), 1);
    let report = store.check().expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(
        store
            .learned_class(None, &op(2, &[], Action::Forget).digest)
            .expect("ledger"),
        Some(Class::Ham)
    );
}

/// Calls of `cmd` (e.g. "evalsha") since the last `CONFIG RESETSTAT`.
fn calls(store: &Store, cmd: &str) -> u64 {
    let r = store.as_redis().expect("redis");
    let info: String = r
        .run(|c| ::redis::cmd("INFO").arg("commandstats").query(c))
        .expect("info");
    let key = format!("cmdstat_{cmd}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_batchs_counts_read_in_bulk_are_the_scripts() {
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let mut store = open(
        &format!("{}?prefix=bulk:", server.url(3)),
        OpenMode::ReadWrite,
    );
    // Every learning call gives the model a version (`lr_version`, whatever the learner).
    let tokens: Vec<u64> = (0..6_000u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let ops: Vec<LearnOp> = (0..10u8)
        .map(|d| {
            let at = usize::from(d) * 450;
            let class = if d % 3 == 0 { Class::Ham } else { Class::Spam };
            LearnOp {
                lr: Some(crate::logreg::TokenLrParams::default()),
                ..op(d, &tokens[at..at + 1_500], Action::Learn(class))
            }
        })
        .collect();
    store.apply(None, &ops).expect("learn");
    // Every learned token, some twice, and tokens never seen.
    let hashes: Vec<u64> = tokens
        .iter()
        .copied()
        .chain(tokens[..100].iter().copied())
        .chain((0..500).map(|i| 77 + i * 3))
        .collect();
    let r = store.as_redis().expect("redis");
    let mut want = vec![Counts::default(); hashes.len()];
    let script = r
        .read_models(&[None], &hashes, &mut [&mut want], None)
        .expect("script")[0];
    assert!(want.iter().filter(|c| c.spam + c.ham > 0).count() > 5_000);
    let reset = |s: &Store| {
        let r = s.as_redis().expect("redis");
        r.run(|c| ::redis::cmd("CONFIG").arg("RESETSTAT").query::<()>(c))
            .expect("resetstat");
    };
    reset(&store);
    let (totals, got) = reads(&store, None, &hashes);
    assert_eq!((totals, &got), (script, &want));
    assert_eq!(
        calls(&store, "evalsha"),
        0,
        "read in bulk, not by the script"
    );
    assert!(calls(&store, "hmget") >= 3);
    // A damaged total reads as the script reads it (0).
    let keys = r.keys(None);
    r.run(|c| {
        ::redis::cmd("HSET")
            .arg(&keys.totals)
            .arg("ham")
            .arg("not a number")
            .query::<()>(c)
    })
    .expect("damage");
    let mut want = vec![Counts::default(); hashes.len()];
    let script = r
        .read_models(&[None], &hashes, &mut [&mut want], None)
        .expect("script")[0];
    assert_eq!(script.ham, 0);
    reset(&store);
    let (totals, got) = reads(&store, None, &hashes);
    assert_eq!((totals, &got), (script, &want));
    assert_eq!(calls(&store, "evalsha"), 0);
    // No version (after `db prune`, `db reset` or `db import`, until the next learning call):
    // the script reads.
    r.run(|c| {
        ::redis::cmd("HDEL")
            .arg(r.keys(None).totals)
            .arg("lr_version")
            .query::<()>(c)
    })
    .expect("hdel");
    reset(&store);
    let (totals, got) = reads(&store, None, &hashes);
    assert_eq!((totals, &got), (script, &want));
    assert_eq!(calls(&store, "evalsha"), 1);
}
