//! The read interface Bayes needs, and an in-memory model with the store's exact semantics.
//!
//! [`MemoryModel`] is what `mailsift eval` trains and classifies against: the online protocol
//! interleaves one classification and one training per message, and keeping the model in memory
//! (then writing it to SQLite once at the end) makes that loop fast without changing a single
//! count. A property test checks that it and [`crate::store::Store`] agree on every outcome and
//! count.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::bayes::{Counts, Totals};
use crate::error::Result;
use crate::ledger::{Class, Digest, LearnOp, Outcome, decide};

/// Token counts a classifier can read.
pub trait TokenCounts {
    /// Messages learned per class.
    fn totals(&self) -> Totals;
    /// Counts for each hash, in order, into `out` (cleared first).
    fn lookup(&self, hashes: &[u64], out: &mut Vec<Counts>) -> Result<()>;
    /// The totals and the counts of `hashes` together: [`TokenCounts::lookup`] then
    /// [`TokenCounts::totals`]. A remote store reads both in one round trip (the classifier
    /// calls this).
    fn read(&self, hashes: &[u64], out: &mut Vec<Counts>) -> Result<Totals> {
        self.lookup(hashes, out)?;
        Ok(self.totals())
    }
    /// [`TokenCounts::read`], and the token learner's slots of `hashes` into `lr`, in the
    /// same round trip ([`crate::logreg`]). A model without a learner reads zeros.
    fn read_lr(
        &self,
        hashes: &[u64],
        out: &mut Vec<Counts>,
        lr: &mut crate::logreg::LrRead,
    ) -> Result<Totals> {
        lr.reset(hashes.len(), false);
        self.read(hashes, out)
    }
}

/// Token hashes are already uniformly distributed: hash them no further.
#[derive(Default, Clone, Copy)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by token hash.
pub type TokenMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// One learned message in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The class it was learned as.
    pub class: Class,
    /// How many distinct tokens it had, rule pseudo-tokens included.
    pub ntokens: u64,
    /// Wrapping sum of its token hashes, rule pseudo-tokens included.
    pub tokensum: u64,
    /// The rule pseudo-tokens learned with it (see [`crate::ledger::LearnOp::rules`]).
    pub rules: Vec<u64>,
}

impl LedgerEntry {
    /// The entry for a message learned as `class` with `tokens` and rule pseudo-tokens `rules`.
    pub fn new(class: Class, tokens: &crate::tokenize::Tokens, rules: &[u64]) -> LedgerEntry {
        LedgerEntry {
            class,
            ntokens: (tokens.len() + rules.len()) as u64,
            tokensum: rules
                .iter()
                .fold(tokens.checksum(), |s, &h| s.wrapping_add(h)),
            rules: rules.to_vec(),
        }
    }
}

/// An in-memory token model with a ledger.
#[derive(Debug, Clone, Default)]
pub struct MemoryModel {
    tokens: TokenMap<Counts>,
    ledger: HashMap<Digest, LedgerEntry>,
    totals: Totals,
    /// The token learner's state, stepped by operations that carry its settings.
    lr: crate::logreg::LrState,
}

impl MemoryModel {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one operation with the store's semantics (idempotent learn, flip, exact forget).
    pub fn apply(&mut self, op: &LearnOp) -> Outcome {
        let existing = self.ledger.get(&op.digest).map(|e| e.class);
        let (outcome, remove, add) = decide(&op.action, existing);
        if remove.is_none() && add.is_none() {
            return outcome;
        }
        let known = [(op.digest, self.ledger.get(&op.digest).cloned())];
        if let Some(old) = remove {
            // The rule pseudo-tokens it was learned with, not today's (see `ledger::plan`).
            let stored = self.ledger.remove(&op.digest).map(|e| e.rules);
            self.add(&op.tokens.hashes, old, false);
            self.add_tokens(stored.as_deref().unwrap_or_default(), old, false);
        }
        if let Some(c) = add {
            self.add(&op.tokens.hashes, c, true);
            self.add_tokens(&op.rules, c, true);
            self.ledger
                .insert(op.digest, LedgerEntry::new(c, &op.tokens, &op.rules));
        }
        self.lr.apply_ops(std::slice::from_ref(op), &known);
        // As in a store, a token's learner slot goes with its counts.
        for h in &op.tokens.hashes {
            if !self.tokens.contains_key(h) {
                self.lr.slots.remove(h);
            }
        }
        outcome
    }

    fn add(&mut self, hashes: &[u64], class: Class, up: bool) {
        let total = match class {
            Class::Spam => &mut self.totals.spam,
            Class::Ham => &mut self.totals.ham,
        };
        *total = if up {
            *total + 1
        } else {
            total.saturating_sub(1)
        };
        self.add_tokens(hashes, class, up);
    }

    fn add_tokens(&mut self, hashes: &[u64], class: Class, up: bool) {
        for &h in hashes {
            let c = self.tokens.entry(h).or_default();
            let slot = match class {
                Class::Spam => &mut c.spam,
                Class::Ham => &mut c.ham,
            };
            *slot = if up {
                slot.saturating_add(1)
            } else {
                slot.saturating_sub(1)
            };
            if *c == Counts::default() {
                self.tokens.remove(&h);
            }
        }
    }

    /// Every token with its counts (unordered).
    pub fn tokens(&self) -> impl Iterator<Item = (u64, Counts)> + '_ {
        self.tokens.iter().map(|(&h, &c)| (h, c))
    }

    /// Every ledger entry (unordered).
    pub fn ledger(&self) -> impl Iterator<Item = (&Digest, &LedgerEntry)> + '_ {
        self.ledger.iter()
    }

    /// Distinct tokens held.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }
}

impl TokenCounts for MemoryModel {
    fn totals(&self) -> Totals {
        self.totals
    }

    fn lookup(&self, hashes: &[u64], out: &mut Vec<Counts>) -> Result<()> {
        out.clear();
        out.extend(
            hashes
                .iter()
                .map(|h| self.tokens.get(h).copied().unwrap_or_default()),
        );
        Ok(())
    }

    fn read_lr(
        &self,
        hashes: &[u64],
        out: &mut Vec<Counts>,
        lr: &mut crate::logreg::LrRead,
    ) -> Result<Totals> {
        lr.reset(0, false);
        lr.site.extend(
            hashes
                .iter()
                .map(|h| self.lr.slots.get(h).copied().unwrap_or_default()),
        );
        lr.bias[0] = self.lr.bias;
        self.read(hashes, out)
    }
}

impl MemoryModel {
    /// The token learner's state.
    pub fn learner(&self) -> &crate::logreg::LrState {
        &self.lr
    }
}
