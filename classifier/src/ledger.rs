//! The learned-message ledger's vocabulary and its one set of rules.
//!
//! Every learned message is recorded by digest with the class it was learned as. Learning it
//! again as the same class is a no-op, learning it as the other class flips it (forget, then
//! learn), and forgetting removes exactly what was learned. [`decide`] is that rule for one
//! message and [`plan`] applies it to a batch; the in-memory model
//! ([`crate::model::MemoryModel`]) and every store backend ([`crate::store`]) go through them,
//! so the semantics are written once.
//!
//! This module depends on nothing but the tokenizer's output, so the model and the store can
//! both use it without depending on each other.

use std::collections::HashMap;

use crate::model::LedgerEntry;
use crate::tokenize::Tokens;

/// A message class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Unwanted mail.
    Spam,
    /// Wanted mail.
    Ham,
}

impl Class {
    /// `"spam"` or `"ham"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Spam => "spam",
            Class::Ham => "ham",
        }
    }
}

impl std::str::FromStr for Class {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "spam" => Ok(Class::Spam),
            "ham" => Ok(Class::Ham),
            other => Err(format!("unknown class {other:?}: use 'spam' or 'ham'")),
        }
    }
}

/// A message digest: the first 16 bytes of SHA-256 over the message with `X-Spam-*` headers
/// removed and line endings normalised (see [`crate::digest`]).
pub type Digest = [u8; 16];

/// What to do with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Learn as this class (a no-op if already learned so, a flip if learned as the other).
    Learn(Class),
    /// Forget (a no-op if not learned).
    Forget,
}

/// One message to learn or forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnOp {
    /// The message digest.
    pub digest: Digest,
    /// Its tokens.
    pub tokens: Tokens,
    /// The pseudo-tokens of the rules it hits ([`crate::combination::rule_token`]), sorted
    /// and distinct: learned with the tokens so that each rule's hits per class are counted
    /// beside them. When the message is forgotten or flipped, the ones its ledger entry
    /// recorded are taken away instead (the rules may have changed since).
    pub rules: Vec<u64>,
    /// What to do.
    pub action: Action,
    /// The token learner's settings when it is on ([`crate::logreg`]): the store then steps
    /// (or undoes) the learner with the counts, in the same transaction.
    pub lr: Option<crate::logreg::TokenLrParams>,
}

/// What happened to one [`LearnOp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Newly learned.
    Learned,
    /// Already learned as the same class: nothing changed.
    AlreadyKnown,
    /// Was learned as the other class: forgotten and learned as this one.
    Flipped,
    /// Forgotten.
    Forgotten,
    /// Forget asked for a message that was never learned.
    NotLearned,
}

/// What one operation does, given the class its message is learned as (if any): the outcome,
/// the class whose counts to take away, and the class whose counts to add.
pub fn decide(action: &Action, existing: Option<Class>) -> (Outcome, Option<Class>, Option<Class>) {
    match (action, existing) {
        (Action::Learn(c), None) => (Outcome::Learned, None, Some(*c)),
        (Action::Learn(c), Some(old)) if old == *c => (Outcome::AlreadyKnown, None, None),
        (Action::Learn(c), Some(old)) => (Outcome::Flipped, Some(old), Some(*c)),
        (Action::Forget, Some(old)) => (Outcome::Forgotten, Some(old), None),
        (Action::Forget, None) => (Outcome::NotLearned, None, None),
    }
}

/// The operations of `ops` that change their message's class, in order, each with the class
/// whose counts it takes away and the class whose counts it adds, starting from the ledger
/// entries `known` (every digest of `ops`), as [`plan`] walks them: what the token learner
/// undoes and steps.
pub fn class_changes<'a>(
    ops: &'a [LearnOp],
    known: &[(Digest, Option<LedgerEntry>)],
) -> impl Iterator<Item = (&'a LearnOp, Option<Class>, Option<Class>)> + 'a {
    let mut class: HashMap<Digest, Option<Class>> = known
        .iter()
        .map(|(d, e)| (*d, e.as_ref().map(|e| e.class)))
        .collect();
    ops.iter().filter_map(move |op| {
        let current = class.entry(op.digest).or_default();
        let (_, remove, add) = decide(&op.action, *current);
        if remove.is_none() && add.is_none() {
            return None;
        }
        *current = add;
        Some((op, remove, add))
    })
}

/// The writes a batch of operations makes to one model: what a backend applies atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One outcome per operation, in order.
    pub outcomes: Vec<Outcome>,
    /// The ledger's new state for each digest whose entry changed: `Some` to write, `None` to
    /// delete. Sorted by digest, each digest once.
    pub ledger: Vec<(Digest, Option<LedgerEntry>)>,
    /// Per-token count changes `(hash, spam, ham)`, sorted by hash, without zero changes.
    pub deltas: Vec<(u64, i64, i64)>,
    /// Change of the message totals `(spam, ham)`.
    pub totals: (i64, i64),
}

impl Plan {
    /// True when applying the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ledger.is_empty() && self.deltas.is_empty() && self.totals == (0, 0)
    }
}

/// The distinct digests of a batch, sorted: what a backend reads from the ledger before
/// calling [`plan`].
pub fn digests(ops: &[LearnOp]) -> Vec<Digest> {
    let mut d: Vec<Digest> = ops.iter().map(|o| o.digest).collect();
    d.sort_unstable();
    d.dedup();
    d
}

/// Applies [`decide`] to each operation in order, starting from the ledger entries `known`
/// (one per digest of [`digests`], in that order). Operations later in the batch see the
/// effect of earlier ones on the same digest.
///
/// Taking a message away removes its tokens and the rule pseudo-tokens its ledger entry
/// recorded (not the ones its operation carries: the rules may have changed since it was
/// learned), so the counts always equal the sum of what the ledger says was learned.
pub fn plan(ops: &[LearnOp], known: &[(Digest, Option<LedgerEntry>)]) -> Plan {
    let mut state: HashMap<Digest, (Option<LedgerEntry>, bool)> = known
        .iter()
        .map(|(d, e)| (*d, (e.clone(), false)))
        .collect();
    let mut deltas: crate::model::TokenMap<(i64, i64)> = Default::default();
    let mut totals = (0i64, 0i64);
    let mut outcomes = Vec::with_capacity(ops.len());
    for op in ops {
        let slot = state.entry(op.digest).or_insert((None, false));
        let (outcome, remove, add) = decide(&op.action, slot.0.as_ref().map(|e| e.class));
        let stored: &[u64] = slot.0.as_ref().map_or(&[], |e| &e.rules);
        let stored = stored.to_vec();
        for (class, sign, rules) in [(remove, -1i64, &stored), (add, 1, &op.rules)] {
            let Some(class) = class else { continue };
            for &h in op.tokens.hashes.iter().chain(rules.iter()) {
                let d = deltas.entry(h).or_insert((0, 0));
                match class {
                    Class::Spam => d.0 += sign,
                    Class::Ham => d.1 += sign,
                }
            }
            match class {
                Class::Spam => totals.0 += sign,
                Class::Ham => totals.1 += sign,
            }
        }
        if remove.is_some() || add.is_some() {
            slot.0 = add.map(|class| LedgerEntry::new(class, &op.tokens, &op.rules));
            slot.1 = true;
        }
        outcomes.push(outcome);
    }
    let mut ledger: Vec<(Digest, Option<LedgerEntry>)> = state
        .into_iter()
        .filter(|(_, (_, changed))| *changed)
        .map(|(d, (e, _))| (d, e))
        .collect();
    ledger.sort_unstable_by_key(|(d, _)| *d);
    let mut deltas: Vec<(u64, i64, i64)> = deltas
        .into_iter()
        .filter(|(_, d)| *d != (0, 0))
        .map(|(h, (s, m))| (h, s, m))
        .collect();
    deltas.sort_unstable_by_key(|d| d.0);
    Plan {
        outcomes,
        ledger,
        deltas,
        totals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(d: u8, hashes: &[u64], action: Action) -> LearnOp {
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

    #[test]
    fn plan_sees_earlier_operations_on_the_same_digest() {
        let ops = [
            op(1, &[1, 2], Action::Learn(Class::Spam)),
            op(1, &[1, 2], Action::Learn(Class::Spam)),
            op(1, &[1, 2], Action::Learn(Class::Ham)),
            op(2, &[3], Action::Forget),
        ];
        let known: Vec<_> = digests(&ops).into_iter().map(|d| (d, None)).collect();
        let p = plan(&ops, &known);
        assert_eq!(
            p.outcomes,
            [
                Outcome::Learned,
                Outcome::AlreadyKnown,
                Outcome::Flipped,
                Outcome::NotLearned
            ]
        );
        assert_eq!(p.totals, (0, 1));
        assert_eq!(p.deltas, [(1, 0, 1), (2, 0, 1)]);
        assert_eq!(p.ledger.len(), 1);
        assert_eq!(p.ledger[0].1.as_ref().map(|e| e.class), Some(Class::Ham));
    }

    #[test]
    fn forget_of_a_known_message_deletes_its_entry() {
        let ops = [op(5, &[9], Action::Forget)];
        let learned = LedgerEntry::new(
            Class::Spam,
            &Tokens {
                hashes: vec![9],
                ..Tokens::default()
            },
            &[],
        );
        let p = plan(&ops, &[([5; 16], Some(learned))]);
        assert_eq!(p.outcomes, [Outcome::Forgotten]);
        assert_eq!(p.ledger, [([5; 16], None)]);
        assert_eq!(p.deltas, [(9, -1, 0)]);
        assert_eq!(p.totals, (-1, 0));
    }
}
