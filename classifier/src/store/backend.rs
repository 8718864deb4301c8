//! The narrow interface a storage backend implements.
//!
//! A backend only reads counts and ledger entries and applies batches of writes. What the writes
//! are (idempotent learn, flip, exact forget) is decided by [`crate::ledger::plan`]; how a user's
//! model layers on the site-wide one and what makes a store consistent is decided in
//! [`super::Store`] and [`super::check`]. Each backend only makes its writes atomic in its own
//! way (an SQLite write transaction, a Redis script that checks the ledger it was planned on).

use std::path::Path;

use crate::bayes::{Counts, Totals};
use crate::error::Result;
use crate::ledger::{Class, Digest, LearnOp, Outcome};

use super::UserStats;

/// One ledger entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// The class it was learned as.
    pub class: Class,
    /// How many distinct tokens the message had, rule pseudo-tokens included.
    pub ntokens: u64,
    /// Wrapping sum of its token hashes, rule pseudo-tokens included.
    pub tokensum: u64,
    /// When it was learned (Unix seconds; 0 when unknown).
    pub learned_at: i64,
    /// The rule pseudo-tokens learned with it (schema v2; none in entries made by v1).
    pub rules: Vec<u64>,
}

impl LedgerRow {
    /// The ledger entry without its date.
    pub fn entry(&self) -> crate::model::LedgerEntry {
        crate::model::LedgerEntry {
            class: self.class,
            ntokens: self.ntokens,
            tokensum: self.tokensum,
            rules: self.rules.clone(),
        }
    }
}

/// Rule pseudo-tokens as a SQLite blob: 8 bytes each, big-endian.
pub(super) fn rules_to_blob(rules: &[u64]) -> Vec<u8> {
    rules.iter().flat_map(|h| h.to_be_bytes()).collect()
}

/// The rule pseudo-tokens of a blob made by [`rules_to_blob`]; `None` when it is not one.
pub(super) fn rules_from_blob(blob: &[u8]) -> Option<Vec<u64>> {
    if !blob.len().is_multiple_of(8) {
        return None;
    }
    Some(
        blob.chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
            .collect(),
    )
}

/// Everything one model (the site-wide one or one user's) holds: what `db export` writes, what
/// `db import` and `db check` read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelDump {
    /// The user; `None` for the site-wide model.
    pub user: Option<String>,
    /// Messages learned per class.
    pub totals: Totals,
    /// Every token with its counts, sorted by hash.
    pub tokens: Vec<(u64, Counts)>,
    /// Every ledger entry, sorted by digest.
    pub ledger: Vec<(Digest, LedgerRow)>,
    /// What `db prune` removed from the token counts (see [`super::prune`]).
    pub pruned: Pruned,
    /// The token learner's state (E25; empty when it never learned).
    pub lr: LrDump,
}

/// One model's token learner state, as `db export` carries it (see [`crate::logreg`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LrDump {
    /// Every token's slot, sorted by hash (a token without one is absent).
    pub slots: Vec<(u64, crate::logreg::Slot)>,
    /// The model's bias.
    pub bias: crate::logreg::Slot,
    /// The gradient of each learned message's step (`f32` bits), sorted by digest (a message
    /// learned with the learner off is absent).
    pub grads: Vec<(Digest, u32)>,
}

/// The sums of the counts that `db prune` removed from one class of one model, less what a
/// later forget of those messages would have taken off them: with these, the token counts still
/// add up to exactly what the ledger says was learned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunedSums {
    /// Token occurrences removed (negative only in an inconsistent store).
    pub occurrences: i64,
    /// Wrapping sum of hash x count over the removed counts.
    pub checksum: u64,
}

impl PrunedSums {
    /// Adds `n` occurrences of token `hash` (`n` negative takes them off).
    pub fn add(&mut self, hash: u64, n: i64) {
        self.occurrences += n;
        self.checksum = self.checksum.wrapping_add(hash.wrapping_mul(n as u64));
    }
}

/// The pruned sums of one model, per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Spam counts removed.
    pub spam: PrunedSums,
    /// Ham counts removed.
    pub ham: PrunedSums,
}

impl Pruned {
    /// True when nothing was ever pruned.
    pub fn is_empty(&self) -> bool {
        *self == Pruned::default()
    }
}

/// Counts read for one message: the site-wide model's and the user's, kept apart (the store
/// weighs them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadTotals {
    /// The site-wide model's totals.
    pub site: Totals,
    /// The user's own totals (zero without a user).
    pub user: Totals,
}

/// A storage backend.
pub trait Backend: std::fmt::Debug {
    /// Where the store is: a file path, or a Redis URL without its password.
    fn location(&self) -> &Path;
    /// A value from the store's metadata (`tokenizer_version`, `created_by`, ...).
    fn meta(&self, key: &str) -> Result<Option<String>>;
    /// Sets a metadata value.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;
    /// The schema version of the stored layout.
    fn schema_version(&self) -> Result<i64>;
    /// Ledger entries over all models.
    fn ledger_len(&self) -> Result<u64>;
    /// The totals of the site-wide model and of `user`'s.
    fn totals(&self, user: Option<&str>) -> Result<ReadTotals>;
    /// The counts of `hashes` (any order, duplicates allowed) in the site-wide model into
    /// `site` and in `user`'s into `mine` (both zeroed, as long as `hashes`). Returns the totals
    /// too when the backend read them in the same round trip. With `lr`, the token learner's
    /// slots of `hashes` and the biases too, in the same round trip ([`crate::logreg`]).
    fn read(
        &self,
        user: Option<&str>,
        hashes: &[u64],
        site: &mut [Counts],
        mine: &mut [Counts],
        lr: Option<&mut crate::logreg::LrRead>,
    ) -> Result<Option<ReadTotals>>;
    /// The class a message is learned as in `user`'s model (or the site-wide one).
    fn learned_class(&self, user: Option<&str>, digest: &Digest) -> Result<Option<Class>>;
    /// Reads the ledger for `ops`, plans them with [`crate::ledger::plan`] and applies the plan
    /// atomically against the ledger it was planned on.
    fn apply(&mut self, user: Option<&str>, ops: &[LearnOp]) -> Result<Vec<Outcome>>;
    /// The users with a model, sorted (not the site-wide one).
    fn users(&self) -> Result<Vec<String>>;
    /// Statistics of the site-wide model (first) and every user, or of `only` that user.
    fn user_stats(&self, only: Option<&str>) -> Result<Vec<UserStats>>;
    /// Storage used, in bytes.
    fn bytes(&self) -> Result<u64>;
    /// Problems the storage itself finds (SQLite's integrity check); empty when sound.
    fn integrity(&self) -> Result<Vec<String>>;
    /// Everything in one model.
    fn dump(&self, user: Option<&str>) -> Result<ModelDump>;
    /// Replaces one model with `dump`.
    fn load(&mut self, dump: &ModelDump) -> Result<()>;
    /// Removes everything learned in one model.
    fn reset(&mut self, user: Option<&str>) -> Result<()>;
    /// Removes the tokens of one model whose counts (spam and ham together) are at most
    /// `max_count`, adding what they held to the model's pruned sums, atomically per step
    /// (learning may go on meanwhile). Returns how many tokens were removed.
    fn prune(&mut self, user: Option<&str>, max_count: u32) -> Result<u64>;
}
