//! The token learner on Redis (its FTRL steps taken inside `redis_apply.lua`), against a
//! private `redis-server` and, when one can be started, a Redis Cluster (skipped with a
//! message otherwise): the steps are SQLite's, bit for bit on the site-wide model; pipelined
//! calls take the same steps as one call; hosts training at once lose no step; and the f32
//! rounding of the script is Rust's.

use super::tests::{dump_all, op, redis_server::RedisServer, subjects};
use super::*;
use crate::logreg::{Slot, TokenLrParams};

fn with(params: TokenLrParams, o: LearnOp) -> LearnOp {
    LearnOp {
        lr: Some(params),
        ..o
    }
}

/// A workload for the learner: messages sharing tokens (so each step's margin depends on the
/// steps before it in the same call), learned, flipped, forgotten, learned again; some with
/// the learner off.
fn workload(params: TokenLrParams) -> Vec<LearnOp> {
    let mut v = Vec::new();
    for d in 0..40u8 {
        let class = if d.is_multiple_of(3) {
            Class::Ham
        } else {
            Class::Spam
        };
        let b = u64::from(d);
        let tokens = [b % 5, 10 + b % 7, 100 + b, u64::MAX - b % 3, 1 << 63];
        v.push(with(params, op(d, &tokens, Action::Learn(class))));
    }
    // A long message: more tokens than one read (2,000) or one script command (3,000) takes.
    let long: Vec<u64> = (0..4_500u64)
        .map(|i| 10_000 + i * 7)
        .chain([1, 11])
        .collect();
    v.push(with(params, op(60, &long, Action::Learn(Class::Spam))));
    v.push(with(
        params,
        op(61, &long[2_000..], Action::Learn(Class::Ham)),
    ));
    // A token twice in one message: stepped twice, the second time from the first's state.
    v.push(with(
        params,
        op(62, &[3, 12, 3, 9_999], Action::Learn(Class::Spam)),
    ));
    let tokens = |d: u64| [d % 5, 10 + d % 7, 100 + d, u64::MAX - d % 3, 1 << 63];
    v.push(with(params, op(4, &tokens(4), Action::Learn(Class::Ham))));
    v.push(with(params, op(5, &tokens(5), Action::Forget)));
    v.push(with(params, op(5, &tokens(5), Action::Learn(Class::Spam))));
    v.push(with(params, op(6, &tokens(6), Action::Learn(Class::Spam))));
    // Learned with the learner off: no step, and its old gradient dropped.
    v.push(op(7, &tokens(7), Action::Learn(Class::Spam)));
    v.push(with(params, op(8, &tokens(8), Action::Forget)));
    v.push(with(params, op(99, &[3], Action::Forget)));
    v
}

fn open(url: &str) -> Store {
    Store::open(Path::new(url), OpenMode::ReadWrite, StoreOptions::default()).expect("open")
}

fn lr_only(store: &Store) -> Vec<(Option<String>, crate::store::backend::LrDump)> {
    dump_all(store)
        .into_iter()
        .map(|d| (d.user.clone(), d.lr))
        .collect()
}

fn close(a: Slot, b: Slot) -> bool {
    let near = |x: f32, y: f32| (x - y).abs() <= 1e-5 * (1.0 + x.abs().max(y.abs()));
    near(a.z, b.z) && near(a.n, b.n)
}

#[test]
fn the_script_takes_sqlites_steps_pipelined_or_not_and_on_a_cluster() {
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    for (i, params) in [
        TokenLrParams::default(),
        TokenLrParams {
            l1: 0.05,
            l2: 0.1,
            rate: 0.5,
            ..TokenLrParams::default()
        },
        // Many steps skipped (E49; a spam's gradient starts at 0.5): the script skips the
        // same ones.
        TokenLrParams {
            min_step: 0.6,
            ..TokenLrParams::default()
        },
    ]
    .into_iter()
    .enumerate()
    {
        let batch = workload(params);
        let mut sqlite = Store::open_in_memory(StoreOptions::default()).expect("sqlite");
        let mut whole = open(&format!("{}?prefix=w{i}:", server.url(6)));
        let mut piped = open(&format!("{}?prefix=p{i}:", server.url(6)));
        // One operation per script call: every call but the first sent while another runs.
        piped.as_redis().expect("redis").chunk_tokens.set(1);
        // Every step taken by the script (as when other hosts train the model meanwhile).
        let mut slow = open(&format!("{}?prefix=s{i}:", server.url(6)));
        slow.as_redis().expect("redis").chunk_tokens.set(2);
        slow.as_redis().expect("redis").lr_fast.set(false);
        // The subject keeps the shared cluster up.
        let mut stores: Vec<super::tests::Subject> = subjects(StoreOptions::default())
            .into_iter()
            .filter(|s| s.name == "redis-cluster")
            .collect();
        for s in &stores {
            s.store.as_redis().expect("redis").chunk_tokens.set(3);
        }
        for user in [None, Some("erin")] {
            for round in 0..2 {
                let want = sqlite.apply(user, &batch).expect("sqlite");
                assert_eq!(whole.apply(user, &batch).expect("whole"), want, "{round}");
                assert_eq!(piped.apply(user, &batch).expect("piped"), want, "{round}");
                assert_eq!(slow.apply(user, &batch).expect("slow"), want, "{round}");
                for s in &mut stores {
                    assert_eq!(s.store.apply(user, &batch).expect("cluster"), want);
                }
            }
        }
        let want = lr_only(&sqlite);
        assert!(!want[0].1.slots.is_empty() && want.len() == 2, "{want:?}");
        let skipped = want[0].1.grads.iter().filter(|g| g.1 == 0).count();
        assert_eq!(
            skipped > 0,
            params.min_step > 0.1,
            "{skipped} steps skipped with {params:?}"
        );
        // Pipelined or not, the same calls: the same state, bit for bit.
        assert_eq!(lr_only(&piped), lr_only(&whole), "{params:?}");
        assert_eq!(dump_all(&piped), dump_all(&whole));
        for (name, s) in [("redis", &whole), ("script", &slow)]
            .into_iter()
            .chain(stores.iter().map(|s| (s.name, &s.store)))
        {
            let got = lr_only(s);
            // The site-wide model: SQLite's steps bit for bit (the same sums in the same
            // order, rounded to f32 where Rust rounds).
            assert_eq!(got[0], want[0], "{name} {params:?}");
            // A user's margin adds the site-wide part in another order: within rounding.
            let (g, w) = (&got[1].1, &want[1].1);
            assert_eq!(got[1].0, want[1].0);
            assert_eq!(g.slots.len(), w.slots.len(), "{name}");
            for ((hg, sg), (hw, sw)) in g.slots.iter().zip(&w.slots) {
                assert!(hg == hw && close(*sg, *sw), "{name}: {hg} {sg:?} {sw:?}");
            }
            assert!(close(g.bias, w.bias), "{name}");
            assert_eq!(g.grads.len(), w.grads.len(), "{name}");
            for ((dg, gg), (dw, gw)) in g.grads.iter().zip(&w.grads) {
                let (a, b) = (f32::from_bits(*gg), f32::from_bits(*gw));
                assert!(dg == dw && (a - b).abs() < 1e-5, "{name}: {a} {b}");
            }
            assert!(s.check().expect("check").problems.is_empty(), "{name}");
        }
        // Counts, ledger and totals are the same everywhere.
        let strip = |d: Vec<ModelDump>| -> Vec<ModelDump> {
            d.into_iter()
                .map(|m| ModelDump {
                    lr: Default::default(),
                    ..m
                })
                .collect()
        };
        assert_eq!(strip(dump_all(&whole)), strip(dump_all(&sqlite)));
    }
}

#[test]
fn hosts_training_at_once_lose_no_step_and_forget_undoes_every_one() {
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let params = TokenLrParams::default();
    let url = format!("{}?prefix=lrrace:", server.url(7));
    let tokens = |d: u64| vec![d % 11, 20 + d % 13, 1000 + d, 2000 + d / 4];
    let batch = |host: u64, action: &dyn Fn(u64) -> Action| -> Vec<LearnOp> {
        (0..60u64)
            .map(|i| {
                let d = host * 60 + i;
                let mut o = with(params, op(0, &tokens(d), action(d)));
                o.digest[..8].copy_from_slice(&d.to_be_bytes());
                o
            })
            .collect()
    };
    let class = |d: u64| {
        Action::Learn(if d.is_multiple_of(3) {
            Class::Ham
        } else {
            Class::Spam
        })
    };
    let run = |action: &(dyn Fn(u64) -> Action + Sync)| {
        std::thread::scope(|s| {
            for host in 0..4u64 {
                let url = &url;
                s.spawn(move || {
                    let mut store = open(url);
                    // Three messages per call, pipelined: the four hosts' calls interleave.
                    store.as_redis().expect("redis").chunk_tokens.set(12);
                    for part in batch(host, action).chunks(20) {
                        store.apply(None, part).expect("apply");
                    }
                });
            }
        });
    };
    run(&class);
    let store = open(&url);
    let lr = &store.dump(None).expect("dump").lr;
    // Every step adds its g² to the bias's n: with a step lost (one host's write over
    // another's), n falls short of the sum over the gradients kept for the undo.
    assert_eq!(lr.grads.len(), 240);
    let sum: f64 = lr
        .grads
        .iter()
        .map(|(_, g)| f64::from(f32::from_bits(*g)).powi(2))
        .sum();
    let n = f64::from(lr.bias.n);
    assert!(sum > 1.0 && (n - sum).abs() < 1e-4 * sum, "{n} {sum}");
    assert!(store.check().expect("check").problems.is_empty());
    // Learn then forget of one more message gives back every slot (the property tests' ε,
    // and the bounds under which a slot is dropped).
    let mut one = open(&url);
    let before = one.dump(None).expect("dump").lr;
    let extra = with(params, op(250, &[1, 21, 5000], Action::Learn(Class::Ham)));
    one.apply(None, std::slice::from_ref(&extra))
        .expect("learn");
    assert_ne!(one.dump(None).expect("dump").lr, before);
    one.apply(
        None,
        &[LearnOp {
            action: Action::Forget,
            ..extra
        }],
    )
    .expect("forget");
    let after = one.dump(None).expect("dump").lr;
    let near = |a: Slot, b: Slot| {
        let e = |x: f32, y: f32, floor: f32| (x - y).abs() <= 1e-4 * (1.0 + x.abs()) + floor;
        e(a.z, b.z, crate::logreg::NEGLIGIBLE_Z) && e(a.n, b.n, crate::logreg::NEGLIGIBLE_N)
    };
    assert!(
        near(after.bias, before.bias),
        "{:?} {:?}",
        after.bias,
        before.bias
    );
    let get = |d: &crate::store::backend::LrDump, h: u64| {
        d.slots
            .iter()
            .find(|s| s.0 == h)
            .map_or(Slot::default(), |s| s.1)
    };
    for h in before.slots.iter().chain(&after.slots).map(|s| s.0) {
        assert!(near(get(&after, h), get(&before, h)), "{h}");
    }
    assert_eq!(after.grads, before.grads);
    // The four hosts forget everything at once: n is what each undo takes off exactly, so
    // every n goes back to nothing (z is undone exactly only for the last step taken, and
    // the hosts' forgets come in another order than their learns).
    run(&|_| Action::Forget);
    let d = store.dump(None).expect("dump");
    assert!(d.tokens.is_empty() && d.ledger.is_empty() && d.lr.grads.is_empty());
    assert!(d.lr.slots.iter().all(|s| s.1.n < 1e-3), "{:?}", d.lr.slots);
    assert!(d.lr.bias.n.abs() < 1e-4 * sum as f32, "{:?}", d.lr.bias);
}

#[test]
fn the_scripts_f32_rounding_and_slot_encoding_are_rusts() {
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let store = open(&server.url(8));
    let r = store.as_redis().expect("redis");
    // The script's own encoding: pack two doubles as f32 (rounding them), and decode a
    // stored slot back to the doubles it holds.
    let script = ::redis::Script::new(
        "local a, b = struct.unpack('>dd', ARGV[1])
         local z, n = struct.unpack('>ff', ARGV[2])
         return {struct.pack('>ff', a, b), struct.pack('>dd', z, n)}",
    );
    let values: [f64; 8] = [
        0.1,
        -1.0 / 3.0,
        1.000_000_059_604_644_8, // halfway between two f32: ties to even
        1.000_000_178_813_934,   // likewise, upward
        1e-40,                   // an f32 subnormal
        -2.5e-7,
        123_456.789,
        3e38,
    ];
    for &a in &values {
        for &b in &[0.0, 1e-4, 7.25e-3] {
            let slot = Slot {
                z: a as f32,
                n: b as f32,
            };
            let mut doubles = a.to_be_bytes().to_vec();
            doubles.extend_from_slice(&f64::to_be_bytes(b));
            let (packed, back): (Vec<u8>, Vec<u8>) = r
                .run(|c| {
                    script
                        .prepare_invoke()
                        .arg(&doubles[..])
                        .arg(&slot.to_bits().to_be_bytes()[..])
                        .invoke(c)
                })
                .expect("eval");
            assert_eq!(packed, slot.to_bits().to_be_bytes(), "{a} {b}");
            let z = f64::from_be_bytes(back[..8].try_into().expect("8"));
            let n = f64::from_be_bytes(back[8..].try_into().expect("8"));
            assert_eq!((z, n), (f64::from(slot.z), f64::from(slot.n)), "{a} {b}");
        }
    }
}

#[test]
fn a_kept_copy_takes_the_steps_of_a_fresh_read() {
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let params = TokenLrParams::default();
    let mut sqlite = Store::open_in_memory(StoreOptions::default()).expect("sqlite");
    let url = format!("{}?prefix=kept:", server.url(9));
    // `a` keeps its copy from one batch to the next; `b`, another host, trains the same model
    // between some of them (so `a`'s copy is then of an old version and read afresh).
    let (mut a, mut b) = (open(&url), open(&url));
    let ops = workload(params);
    let mut kept = 0;
    for round in 0..2 {
        for (i, o) in ops.iter().enumerate() {
            let one = std::slice::from_ref(o);
            let want = sqlite.apply(None, one).expect("sqlite");
            let host = if (i + round) % 7 == 3 { &mut b } else { &mut a };
            assert_eq!(host.apply(None, one).expect("redis"), want, "{round} {i}");
            kept += usize::from(a.as_redis().expect("redis").lr_kept.borrow().is_some());
        }
    }
    assert!(kept > ops.len(), "{kept}");
    // Two messages stepping one token, forgotten in the order they were learned: its counts
    // are gone and its slot is left with what the undos do not take back, which the script
    // drops with the counts (so must the copy) before a third message steps it again.
    let t = [7_777, 8_888, 9_999];
    let seq = [
        with(params, op(200, &[t[0], t[1]], Action::Learn(Class::Spam))),
        with(params, op(201, &[t[0], t[2]], Action::Learn(Class::Spam))),
        with(params, op(200, &[t[0], t[1]], Action::Forget)),
        with(params, op(201, &[t[0], t[2]], Action::Forget)),
        with(params, op(202, &[t[0]], Action::Learn(Class::Ham))),
    ];
    for o in &seq {
        let one = std::slice::from_ref(o);
        assert_eq!(
            a.apply(None, one).expect("a"),
            sqlite.apply(None, one).expect("sqlite")
        );
    }
    assert_eq!(lr_only(&a)[0], lr_only(&sqlite)[0]);
    assert_eq!(dump_all(&a), dump_all(&b));
    assert!(a.check().expect("check").problems.is_empty());
    // A reset by another host (no version) is seen too.
    assert!(a.as_redis().expect("redis").lr_kept.borrow().is_some());
    b.reset(None).expect("reset");
    sqlite.reset(None).expect("reset");
    for o in &ops[..10] {
        let one = std::slice::from_ref(o);
        assert_eq!(
            a.apply(None, one).expect("a"),
            sqlite.apply(None, one).expect("sqlite")
        );
    }
    assert_eq!(lr_only(&a)[0], lr_only(&sqlite)[0]);
}

#[test]
fn a_slot_left_unwritten_still_goes_with_its_damaged_counts() {
    let Some(server) = RedisServer::start() else {
        eprintln!("skipped: redis-server is not installed (scripts/install-test-deps)");
        return;
    };
    let mut store = open(&format!("{}?prefix=dmg:", server.url(9)));
    let on = TokenLrParams::default();
    // Every step taken, then none (E49's threshold above any gradient): the second message's
    // slots are left as they are, so the client sends none of them.
    let none = TokenLrParams {
        min_step: 10.0,
        ..on
    };
    let (t, other) = (4_242u64, 4_343u64);
    store
        .apply(
            None,
            &[with(on, op(1, &[t, other], Action::Learn(Class::Spam)))],
        )
        .expect("learn");
    let has_slot = |s: &Store, h: u64| lr_only(s)[0].1.slots.iter().any(|x| x.0 == h);
    assert!(has_slot(&store, t) && has_slot(&store, other));
    // A damaged count (below zero) that the next message's spam count brings back to zero:
    // the script removes the token's counts, and its slot must go with them.
    let r = store.as_redis().expect("redis");
    let keys = r.keys(None);
    r.run(|c| {
        ::redis::cmd("HSET")
            .arg(&keys.counts)
            .arg(&t.to_be_bytes()[..])
            .arg(-(1i64 << 26))
            .query::<()>(c)
    })
    .expect("damage");
    store
        .apply(None, &[with(none, op(2, &[t], Action::Learn(Class::Spam)))])
        .expect("learn");
    assert!(!has_slot(&store, t), "the slot went with the counts");
    assert!(has_slot(&store, other));
    // The client's copy kept the slot: it is read afresh, and the next step is SQLite's from
    // the model as it is (no slot for the token).
    let mut sqlite = Store::open_in_memory(StoreOptions::default()).expect("sqlite");
    store
        .copy_to(&mut sqlite)
        .expect("the same model in SQLite");
    let next = [with(on, op(3, &[t, other], Action::Learn(Class::Spam)))];
    assert_eq!(
        store.apply(None, &next).expect("redis"),
        sqlite.apply(None, &next).expect("sqlite")
    );
    assert_eq!(lr_only(&store)[0], lr_only(&sqlite)[0]);
}
