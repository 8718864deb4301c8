//! The token store: one model per site plus one per user, in SQLite or Redis.
//!
//! # What a store holds
//! - Per model (the site-wide one, and one per user): the messages learned per class
//!   (totals), every token's counts (messages containing it per class, keyed by the token's
//!   64-bit hash), and a ledger of learned messages keyed by a digest of their content.
//! - Metadata: the tokenizer version the counts were made with.
//! - The learned combination's evidence: one pseudo-token per rule, counting the learned
//!   messages that hit it, in the same token table; each ledger entry lists the ones its
//!   message added (schema v2; see [`crate::combination`]).
//! - The token learner's state (E25, [`crate::logreg`]): per model, one slot per token beside
//!   its counts, a bias, and per ledger entry the gradient of its step, so that forget and flip
//!   undo it (SQLite schema 3; Redis's own `P{M}:lr` keys). A token's slot goes with its counts.
//!
//! # Semantics, the same on every backend
//! - Learning a message again as the same class is a no-op, as the other class a flip (forget +
//!   learn, atomically), and forgetting is exact ([`crate::ledger`]).
//! - Counts clamp at zero and tokens whose counts both reach zero are removed, so learn then
//!   forget leaves the store as it was.
//! - Every ledger entry keeps its token count and a checksum of its token hashes, so
//!   [`Store::check`] proves the counts are exactly what the ledger says was learned.
//! - Classifying for a user combines the site-wide model and the user's own: counts and totals
//!   are `site + user_weight × user` (see [`StoreOptions::user_weight`]). A user who has trained
//!   nothing is classified by the site model alone; corrections (`correct`, `forget`) change only
//!   the user's model.
//! - A store made by another tokenizer version is refused unless it is empty, or of version
//!   4, whose token stream is version 5's without the recipient-name pairs: such a store keeps
//!   learning and forgetting its own stream ([`crate::tokenize::Tokens::as_version`]).
//!
//! # Backends
//! [`Backend`] is the narrow interface: read counts, read the ledger and apply a planned batch
//! atomically, dump and load a model. [`sqlite`] keeps a store in one file (the default);
//! [`redis`] keeps it in a Redis or Valkey server shared by many hosts (`--db redis://...`).

use std::path::Path;
use std::time::Duration;

use crate::bayes::{Counts, Totals};
use crate::error::{Error, Result};
use crate::model::TokenCounts;
use crate::tokenize::TOKENIZER_VERSION;

pub use crate::ledger::{Action, Class, Digest, LearnOp, Outcome};
pub use backend::{Backend, LedgerRow, LrDump, ModelDump, Pruned, PrunedSums, ReadTotals};
pub use sqlite::SCHEMA_VERSION;
pub use token_cache::SharedTokenCache;

mod backend;
mod check;
pub mod prune;
#[cfg(test)]
mod prune_tests;
pub mod redis;
mod redis_apply;
mod redis_cluster;
mod redis_conn;
mod redis_io;
mod redis_lr;
#[cfg(test)]
mod redis_lr_tests;
mod redis_migrate;
mod redis_prune;
#[cfg(test)]
mod redis_tests;
pub mod sqlite;
mod sqlite_backend;
mod sqlite_files;
mod sqlite_lr;
mod sqlite_prune;
#[cfg(test)]
mod sqlite_tests;
#[cfg(test)]
mod tests;
mod token_cache;
#[cfg(test)]
mod version_tests;

/// Options for opening a store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// How long to wait for another process's write lock (SQLite), or for the server to answer
    /// (Redis).
    pub busy_timeout: Duration,
    /// Weight of a user's own counts against the site-wide model's (see the module docs).
    pub user_weight: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(10),
            user_weight: 1,
        }
    }
}

/// How to open a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the store must exist (classify, score, explain, stats).
    ReadOnly,
    /// Read and write; created (owner-only) if missing (train, correct, forget).
    ReadWrite,
}

/// Per-user statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStats {
    /// User name; empty for the site-wide model.
    pub name: String,
    /// Spam messages learned.
    pub spam: u64,
    /// Ham messages learned.
    pub ham: u64,
    /// Distinct tokens in this user's model.
    pub tokens: u64,
}

/// Store-wide statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Per-user figures (only the users asked for).
    pub users: Vec<UserStats>,
    /// Storage used in bytes (the database file, or the Redis keys).
    pub db_bytes: u64,
    /// The tokenizer version the store was trained with.
    pub tokenizer_version: u32,
    /// The schema version.
    pub schema_version: i64,
}

/// Result of [`Store::check`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckReport {
    /// Problems found; empty means the store is consistent.
    pub problems: Vec<String>,
    /// Ledger entries checked.
    pub ledger_entries: u64,
    /// Token rows checked.
    pub token_rows: u64,
}

/// Whether a store trained with tokenizer `version` is read and trained by this one: the
/// current version, or an older one whose stream is a subset of the current one's
/// ([`crate::tokenize::Tokens::as_version`]).
pub fn readable_tokenizer(version: u32) -> bool {
    (crate::tokenize::OLDEST_TOKENIZER_VERSION..=TOKENIZER_VERSION).contains(&version)
}

/// Validates a user name: 1-64 characters from `[A-Za-z0-9._@+-]`, not starting with `.`.
pub fn validate_user(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidUser(name.to_owned()))
    }
}

/// True when `--db` names a Redis or Valkey server rather than a file: `redis://`, `rediss://`,
/// `redis+unix://`, `unix://` or `redis+cluster://`.
pub fn is_redis_url(location: &Path) -> bool {
    location.to_str().is_some_and(redis::is_url)
}

/// An open token store.
#[derive(Debug)]
pub struct Store {
    backend: Kind,
    options: StoreOptions,
}

#[derive(Debug)]
enum Kind {
    Sqlite(Box<sqlite::Sqlite>),
    Redis(Box<redis::Redis>),
}

impl Store {
    /// Opens (or, with [`OpenMode::ReadWrite`], creates) a store: a SQLite file, or a Redis
    /// server when `path` is a Redis URL (see [`is_redis_url`]).
    pub fn open(path: &Path, mode: OpenMode, options: StoreOptions) -> Result<Store> {
        let backend = match path.to_str().filter(|s| redis::is_url(s)) {
            Some(url) => Kind::Redis(Box::new(redis::Redis::open(url, mode, &options)?)),
            None => Kind::Sqlite(Box::new(sqlite::Sqlite::open(path, mode, &options)?)),
        };
        let mut store = Store { backend, options };
        store.check_tokenizer(mode)?;
        Ok(store)
    }

    /// Opens a store read-only for classifying one message. The same as [`Store::open`] with
    /// [`OpenMode::ReadOnly`], except that on Redis nothing is sent yet: the metadata check
    /// (schema, tokenizer version) rides the first read of counts, so a one-off classify sends
    /// one command (two with a user on a Redis Cluster), and its errors (an empty store among
    /// them, [`Error::is_untrained`]) come from that read instead.
    pub fn open_for_classify(path: &Path, options: StoreOptions) -> Result<Store> {
        match path.to_str().filter(|s| redis::is_url(s)) {
            Some(url) => Ok(Store {
                backend: Kind::Redis(Box::new(redis::Redis::open_lazy(url, &options)?)),
                options,
            }),
            None => Store::open(path, OpenMode::ReadOnly, options),
        }
    }

    /// A private in-memory store (tests, experiments).
    pub fn open_in_memory(options: StoreOptions) -> Result<Store> {
        let backend = Kind::Sqlite(Box::new(sqlite::Sqlite::open_in_memory(&options)?));
        Ok(Store { backend, options })
    }

    fn b(&self) -> &dyn Backend {
        match &self.backend {
            Kind::Sqlite(s) => s.as_ref(),
            Kind::Redis(r) => r.as_ref(),
        }
    }

    fn b_mut(&mut self) -> &mut dyn Backend {
        match &mut self.backend {
            Kind::Sqlite(s) => s.as_mut(),
            Kind::Redis(r) => r.as_mut(),
        }
    }

    /// The SQLite backend, or an error naming what to use instead on Redis.
    fn sqlite(&self, what: &str, instead: &str) -> Result<&sqlite::Sqlite> {
        match &self.backend {
            Kind::Sqlite(s) => Ok(s),
            Kind::Redis(_) => Err(Error::Config(format!(
                "{what} works on SQLite files only, and {} is a Redis server: {instead}",
                self.path().display()
            ))),
        }
    }

    /// True when the store lives on a server (Redis) rather than in a local file.
    pub fn is_remote(&self) -> bool {
        matches!(self.backend, Kind::Redis(_))
    }

    /// Tunes a long-lived reader (the classify server); see
    /// [`sqlite::Sqlite::tune_for_long_reader`]. On Redis, nothing: every lookup reads the
    /// server, so a change made by any host counts at once.
    pub fn tune_for_long_reader(&mut self) -> Result<()> {
        match &mut self.backend {
            Kind::Sqlite(s) => s.tune_for_long_reader(),
            Kind::Redis(_) => Ok(()),
        }
    }

    /// As [`Store::tune_for_long_reader`], with one token cache for every reader of this
    /// store the process attaches to `cache` (see [`SharedTokenCache`]). On Redis, nothing.
    pub fn share_token_cache(&mut self, cache: &std::sync::Arc<SharedTokenCache>) -> Result<()> {
        match &mut self.backend {
            Kind::Sqlite(s) => s.share_token_cache(cache),
            Kind::Redis(_) => Ok(()),
        }
    }

    /// Reads the whole site-wide token table into the token cache (SQLite, after
    /// [`Store::tune_for_long_reader`]); false when nothing was loaded (Redis has no cache).
    pub fn preload_token_cache(&self) -> Result<bool> {
        match &self.backend {
            Kind::Sqlite(s) => s.preload_token_cache(),
            Kind::Redis(_) => Ok(false),
        }
    }

    /// Whether the token cache holds the whole site-wide table as of the last lookup.
    pub fn token_cache_complete(&self) -> bool {
        match &self.backend {
            Kind::Sqlite(s) => s.token_cache_complete(),
            Kind::Redis(_) => false,
        }
    }

    /// The database path, or the Redis URL (without a password).
    pub fn path(&self) -> &Path {
        self.b().location()
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    fn check_tokenizer(&mut self, mode: OpenMode) -> Result<()> {
        let found = self.tokenizer_version()?;
        if found == TOKENIZER_VERSION {
            return Ok(());
        }
        // An untrained store takes the current version; a trained one of a version whose
        // stream is a subset of the current one's keeps its own (`Tokens::as_version`).
        if mode == OpenMode::ReadWrite && self.b().ledger_len()? == 0 {
            return self
                .b_mut()
                .set_meta("tokenizer_version", &TOKENIZER_VERSION.to_string());
        }
        if readable_tokenizer(found) {
            return Ok(());
        }
        Err(Error::TokenizerMismatch {
            path: self.path().to_owned(),
            found,
            expected: TOKENIZER_VERSION,
        })
    }

    /// The tokenizer version recorded in the store.
    pub fn tokenizer_version(&self) -> Result<u32> {
        self.b()
            .meta("tokenizer_version")?
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::Corrupt {
                path: self.path().to_owned(),
                detail: "no tokenizer version recorded".into(),
            })
    }

    /// A read view of the model used to classify for `user` (site-wide + user, see module docs).
    pub fn model(&self, user: Option<&str>) -> Result<StoreModel<'_>> {
        if let Some(name) = user {
            validate_user(name)?;
        }
        // A remote backend reads the totals with the counts, in one round trip.
        let totals = if self.is_remote() {
            None
        } else {
            Some(self.combine(self.b().totals(user)?))
        };
        Ok(StoreModel {
            store: self,
            user: user.map(str::to_owned),
            totals: std::cell::Cell::new(totals),
        })
    }

    fn combine(&self, t: ReadTotals) -> Totals {
        let w = u64::from(self.options.user_weight);
        Totals {
            spam: t.site.spam + w * t.user.spam,
            ham: t.site.ham + w * t.user.ham,
        }
    }

    /// Applies learn/forget operations for one user atomically (SQLite: one transaction; Redis:
    /// one script call per chunk of messages, each message atomic). Returns one outcome per
    /// operation, in order.
    pub fn apply(&mut self, user: Option<&str>, ops: &[LearnOp]) -> Result<Vec<Outcome>> {
        if let Some(name) = user {
            validate_user(name)?;
        }
        let version = self.tokenizer_version()?;
        if version < TOKENIZER_VERSION && ops.iter().any(|op| op.tokens.differs_before(version)) {
            // An older store learns and forgets its own token stream.
            let own: Vec<LearnOp> = ops
                .iter()
                .map(|op| LearnOp {
                    digest: op.digest,
                    tokens: op.tokens.as_version(version).into_owned(),
                    rules: op.rules.clone(),
                    action: op.action.clone(),
                    lr: op.lr,
                })
                .collect();
            return self.b_mut().apply(user, &own);
        }
        self.b_mut().apply(user, ops)
    }

    /// Which class a message is learned as for `user`, if any.
    pub fn learned_class(&self, user: Option<&str>, digest: &Digest) -> Result<Option<Class>> {
        if let Some(name) = user {
            validate_user(name)?;
        }
        self.b().learned_class(user, digest)
    }

    /// Statistics for the site-wide model and every user (`user = None`), or for one user only.
    /// A user never sees another user's figures.
    pub fn stats(&self, user: Option<&str>) -> Result<Stats> {
        if let Some(name) = user {
            validate_user(name)?;
        }
        Ok(Stats {
            users: self.b().user_stats(user)?,
            db_bytes: self.b().bytes()?,
            tokenizer_version: self.tokenizer_version()?,
            schema_version: self.b().schema_version()?,
        })
    }

    /// Checks the storage's own integrity and that every count equals what the ledger says
    /// was learned.
    pub fn check(&self) -> Result<CheckReport> {
        check::check(self.b())
    }

    /// Removes everything learned for `user` (None = the site-wide model).
    pub fn reset(&mut self, user: Option<&str>) -> Result<()> {
        if let Some(name) = user {
            validate_user(name)?;
        }
        self.b_mut().reset(user)
    }

    /// Everything in one model (the site-wide one for `None`).
    pub fn dump(&self, user: Option<&str>) -> Result<ModelDump> {
        self.b().dump(user)
    }

    /// Replaces one model with `dump` (eval's `--state`, `db import`).
    pub fn load(&mut self, dump: &ModelDump) -> Result<()> {
        if let Some(name) = &dump.user {
            validate_user(name)?;
        }
        self.b_mut().load(dump)
    }

    /// Replaces everything in `dest` with this store's models (`db export` and `db import`,
    /// between any two backends). Readers of `dest` may see a mix while it runs; stop training
    /// first.
    pub fn copy_to(&self, dest: &mut Store) -> Result<()> {
        let found = self.tokenizer_version()?;
        if !readable_tokenizer(found) {
            return Err(Error::TokenizerMismatch {
                path: self.path().to_owned(),
                found,
                expected: TOKENIZER_VERSION,
            });
        }
        let mut keep: Vec<Option<String>> = vec![None];
        keep.extend(self.b().users()?.into_iter().map(Some));
        for user in dest.b().users()? {
            if !keep.contains(&Some(user.clone())) {
                dest.reset(Some(&user))?;
            }
        }
        for user in &keep {
            dest.load(&self.dump(user.as_deref())?)?;
        }
        // The copy's counts are of this store's token stream.
        dest.b_mut()
            .set_meta("tokenizer_version", &found.to_string())
    }

    /// Writes a consistent copy of a SQLite store to `dest`, owner-only, through a temporary
    /// file renamed into place (an earlier backup there is replaced; a failure leaves none).
    pub fn backup(&self, dest: &Path) -> Result<()> {
        self.sqlite(
            "'db backup'",
            "use 'mailsift db export FILE', or the server's own persistence",
        )?
        .backup(dest)
    }

    /// Replaces everything in a SQLite store with the contents of `backup` (see
    /// [`sqlite::Sqlite::restore_from`]).
    pub fn restore_from(&mut self, backup: &Path) -> Result<()> {
        self.sqlite("'db restore'", "use 'mailsift db import FILE'")?;
        match &mut self.backend {
            Kind::Sqlite(s) => s.restore_from(backup),
            Kind::Redis(_) => Ok(()),
        }
    }

    /// The SQLite backend, for tests that inspect its tables.
    #[cfg(test)]
    pub(crate) fn as_sqlite(&self) -> Option<&sqlite::Sqlite> {
        match &self.backend {
            Kind::Sqlite(s) => Some(s),
            Kind::Redis(_) => None,
        }
    }

    /// The Redis backend, for tests that write its keys directly.
    #[cfg(test)]
    pub(crate) fn as_redis(&self) -> Option<&redis::Redis> {
        match &self.backend {
            Kind::Sqlite(_) => None,
            Kind::Redis(r) => Some(r),
        }
    }
}

/// A read view of the store for one user; implements [`TokenCounts`].
#[derive(Debug)]
pub struct StoreModel<'a> {
    store: &'a Store,
    user: Option<String>,
    /// Combined totals: read when the view was made (SQLite) or with the first read (Redis).
    totals: std::cell::Cell<Option<Totals>>,
}

impl StoreModel<'_> {
    fn read_into(
        &self,
        hashes: &[u64],
        out: &mut Vec<Counts>,
        lr: Option<&mut crate::logreg::LrRead>,
    ) -> Result<Option<Totals>> {
        out.clear();
        out.resize(hashes.len(), Counts::default());
        let mut mine = vec![Counts::default(); if self.user.is_some() { hashes.len() } else { 0 }];
        let user = self.user.as_deref();
        let read = self
            .store
            .b()
            .read(user, hashes, out, &mut mine[..], lr)?
            .map(|t| self.store.combine(t));
        // The user's counts weigh `user_weight` times the site's.
        let w = self.store.options.user_weight;
        for (c, m) in out.iter_mut().zip(&mine) {
            c.spam = c.spam.saturating_add(m.spam.saturating_mul(w));
            c.ham = c.ham.saturating_add(m.ham.saturating_mul(w));
        }
        if read.is_some() {
            self.totals.set(read);
        }
        Ok(read)
    }
}

impl TokenCounts for StoreModel<'_> {
    /// The totals read with the view or with its last lookup; a remote view that has not read
    /// anything yet reads them now (zero if the server cannot be reached: the classifier uses
    /// [`TokenCounts::read`], which reports the error).
    fn totals(&self) -> Totals {
        if let Some(t) = self.totals.get() {
            return t;
        }
        match self.store.b().totals(self.user.as_deref()) {
            Ok(t) => {
                let t = self.store.combine(t);
                self.totals.set(Some(t));
                t
            }
            Err(_) => Totals::default(),
        }
    }

    fn lookup(&self, hashes: &[u64], out: &mut Vec<Counts>) -> Result<()> {
        self.read_into(hashes, out, None).map(|_| ())
    }

    fn read(&self, hashes: &[u64], out: &mut Vec<Counts>) -> Result<Totals> {
        match self.read_into(hashes, out, None)? {
            Some(t) => Ok(t),
            None => Ok(self.totals()),
        }
    }

    fn read_lr(
        &self,
        hashes: &[u64],
        out: &mut Vec<Counts>,
        lr: &mut crate::logreg::LrRead,
    ) -> Result<Totals> {
        match self.read_into(hashes, out, Some(lr))? {
            Some(t) => Ok(t),
            None => Ok(self.totals()),
        }
    }
}
