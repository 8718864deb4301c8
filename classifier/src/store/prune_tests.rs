//! `db prune` on every backend: hapaxes go, the rest stays, and the store still checks out
//! through later forgets, flips, relearning, export and import.

use super::tests::{Subject, op, subjects};
use super::*;

fn consistent(store: &Store, name: &str, when: &str) {
    let report = store.check().expect("check");
    assert!(
        report.problems.is_empty(),
        "{name}, {when}: {:?}",
        report.problems
    );
    // The distinct-token count `stats` shows (kept by the scripts on Redis) follows the counts.
    let stats = store.stats(None).expect("stats");
    for u in &stats.users {
        let user = (!u.name.is_empty()).then_some(u.name.as_str());
        let tokens = store.dump(user).expect("dump").tokens.len() as u64;
        assert_eq!(u.tokens, tokens, "{name}, {when}: tokens of {:?}", u.name);
    }
}

fn counts(store: &Store, user: Option<&str>, hashes: &[u64]) -> Vec<Counts> {
    let mut out = Vec::new();
    store
        .model(user)
        .expect("model")
        .lookup(hashes, &mut out)
        .expect("lookup");
    out
}

#[test]
fn prune_removes_rare_tokens_and_the_store_still_checks_out() {
    for Subject {
        name, mut store, ..
    } in subjects(StoreOptions::default())
    {
        let s = &mut store;
        // Token 1 is in three messages, 2 in two, the rest (and u64::MAX, whose checksum
        // wraps) in one each.
        s.apply(
            None,
            &[
                op(1, &[1, 2, 10, u64::MAX], Action::Learn(Class::Spam)),
                op(2, &[1, 2, 11], Action::Learn(Class::Ham)),
                op(3, &[1, 12, 13], Action::Learn(Class::Spam)),
            ],
        )
        .expect("learn");
        s.apply(
            Some("erin"),
            &[
                op(4, &[1, 20], Action::Learn(Class::Ham)),
                op(5, &[1, 21], Action::Learn(Class::Ham)),
            ],
        )
        .expect("erin");
        consistent(s, name, "after learning");
        let report = s.prune(None, 1).expect("prune");
        assert_eq!(
            report,
            prune::PruneReport {
                models: 2,
                tokens: 7
            },
            "{name}"
        );
        consistent(s, name, "after the prune");
        let got = counts(s, None, &[1, 2, 10, 11, 12, 13, u64::MAX]);
        let c = |spam, ham| Counts { spam, ham };
        assert_eq!(
            got,
            [
                c(2, 1),
                c(1, 1),
                c(0, 0),
                c(0, 0),
                c(0, 0),
                c(0, 0),
                c(0, 0)
            ],
            "{name}"
        );
        assert_eq!(s.stats(None).expect("stats").users[0].tokens, 2, "{name}");
        // Forgetting a message whose tokens were pruned, and flipping another.
        s.apply(None, &[op(1, &[1, 2, 10, u64::MAX], Action::Forget)])
            .expect("forget");
        consistent(s, name, "after a forget");
        s.apply(None, &[op(3, &[1, 12, 13], Action::Learn(Class::Ham))])
            .expect("flip");
        consistent(s, name, "after a flip");
        assert_eq!(
            counts(s, None, &[1, 2, 12]),
            [c(0, 2), c(0, 1), c(0, 1)],
            "{name}"
        );
        // A higher count, only one user's model.
        assert_eq!(s.prune(Some("erin"), 2).expect("erin").tokens, 1, "{name}");
        consistent(s, name, "after pruning one user");
        assert_eq!(
            s.prune(None, 0).map(|_| ()).ok(),
            None,
            "{name}: 0 is refused"
        );
        // Export and import keep the pruned sums.
        let mut copy = Store::open_in_memory(StoreOptions::default()).expect("copy");
        s.copy_to(&mut copy).expect("copy");
        consistent(&copy, name, "in a copy");
        assert_eq!(
            copy.dump(None).expect("dump"),
            s.dump(None).expect("dump"),
            "{name}"
        );
        // Forgetting everything leaves an empty model with nothing pruned.
        s.apply(
            None,
            &[
                op(2, &[1, 2, 11], Action::Forget),
                op(3, &[1, 12, 13], Action::Forget),
            ],
        )
        .expect("forget all");
        consistent(s, name, "after forgetting everything");
        let d = s.dump(None).expect("dump");
        assert!(d.tokens.is_empty() && d.pruned.is_empty(), "{name}: {d:?}");
    }
}

#[test]
fn a_forget_below_zero_without_a_prune_is_still_reported() {
    for Subject {
        name, mut store, ..
    } in subjects(StoreOptions::default())
    {
        let s = &mut store;
        s.apply(None, &[op(1, &[1, 2], Action::Learn(Class::Spam))])
            .expect("learn");
        // A copy whose counts lost token 2 (not by a prune): the forget goes below zero there.
        let mut d = s.dump(None).expect("dump");
        d.tokens.retain(|t| t.0 != 2);
        s.load(&d).expect("load");
        assert!(!s.check().expect("check").problems.is_empty(), "{name}");
        s.apply(None, &[op(1, &[1, 2], Action::Forget)])
            .expect("forget");
        let problems = s.check().expect("check").problems;
        assert!(
            problems
                .iter()
                .any(|p| p.contains("more spam token counts than were pruned")),
            "{name}: {problems:?}"
        );
    }
}

#[test]
fn prune_removes_the_token_learners_slots_of_the_tokens_it_removes() {
    let params = crate::logreg::TokenLrParams {
        weight: 1.0,
        ..Default::default()
    };
    for Subject {
        name, mut store, ..
    } in subjects(StoreOptions::default())
    {
        let s = &mut store;
        // Token 1 is in both messages; 2, 3 and 4 in one each.
        for (d, hashes) in [(1u8, &[1u64, 2, 3][..]), (2, &[1, 4][..])] {
            let o = LearnOp {
                lr: Some(params),
                ..op(d, hashes, Action::Learn(Class::Spam))
            };
            s.apply(None, &[o]).expect("learn");
        }
        let slots = |s: &Store| {
            let mut lr = crate::logreg::LrRead::default();
            s.model(None)
                .expect("model")
                .read_lr(&[1, 2, 3, 4], &mut Vec::new(), &mut lr)
                .expect("read");
            lr.site.iter().map(|x| !x.is_empty()).collect::<Vec<bool>>()
        };
        assert_eq!(slots(s), [true; 4], "{name}");
        s.prune(None, 1).expect("prune");
        assert_eq!(slots(s), [true, false, false, false], "{name}");
        if let Some(r) = s.as_redis() {
            let k = r.keys(None);
            let fields: u64 = r
                .run(|c| ::redis::cmd("HLEN").arg(&k.lr).query(c))
                .expect("hlen");
            // Token 1's slot, the bias and the two messages' gradients.
            assert_eq!(fields, 4, "{name}");
        }
        consistent(s, name, "after prune");
    }
}
