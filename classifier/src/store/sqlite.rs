//! The SQLite backend: one file, many users.
//!
//! # Layout (schema version 3, `PRAGMA user_version`)
//! - `meta(key, value)`: `tokenizer_version`, `created_by`.
//! - `users(id, name)`: id 0 is the site-wide model (empty name); other ids are per-user models.
//! - `totals(user_id, nspam, nham, lr)`: messages learned per class; `lr` the token learner's
//!   bias ([`crate::logreg`], its `z` and `n` as one [`crate::logreg::Slot::to_bits`] number;
//!   NULL: none).
//! - `tokens(hash, user_id, spam, ham, lr)`: messages containing each token, keyed by the
//!   token's 64-bit hash (stored as a signed integer, bit for bit), and the token learner's slot
//!   (NULL: none; a column rather than a table of its own, so that the row the counts are read
//!   from holds it too: no second seek per token, 9 bytes a row). `hash` comes first so that one
//!   index seek finds a token's site-wide and per-user rows together.
//! - `ledger(user_id, digest, class, ntokens, tokensum, learned_at, rules, lr_grad)`: every learned
//!   message, keyed by a digest of its content (semantics in [`crate::ledger`] and [`super`]);
//!   `rules` holds the rule pseudo-tokens learned with it (8 bytes each, big-endian; see
//!   [`crate::combination`]); `lr_grad` the gradient of the token learner's step for it (NULL:
//!   learned with the learner off), which a forget undoes.
//!
//! Version 2 had no `lr` and `lr_grad` columns; it is migrated like version 1, the columns added
//! empty (the learner starts from zero). Version 1 had no `rules` column. A version 1 store is migrated when it is opened for
//! writing (the column is added, empty: nothing learned by version 1 added rule
//! pseudo-tokens, so the counts stay exactly what the ledger says); read-only commands read it
//! as it is.
//!
//! # Concurrency
//! WAL mode: readers never block the writer or each other. Writers take the write lock at the
//! start of a transaction (`BEGIN IMMEDIATE`) and wait up to the busy timeout for another
//! writer; the ledger is read and the plan applied inside that one transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::bayes::{Counts, Totals};
use crate::error::{Error, Result};
use crate::ledger::{Class, LearnOp, Outcome, Plan};
use crate::model::LedgerEntry;
use crate::tokenize::TOKENIZER_VERSION;

use super::backend::{rules_from_blob, rules_to_blob};
use super::sqlite_files::create_owner_only;
use super::token_cache::{SharedTokenCache, TokenCache};
use super::{OpenMode, StoreOptions, validate_user};

/// The schema version this build writes and reads (2: the ledger's `rules`, issue 11; 3: the
/// token learner's columns, E25; it migrates versions 1 and 2, see the module docs).
pub const SCHEMA_VERSION: i64 = 3;

pub(super) fn class_to_sql(class: Class) -> i64 {
    match class {
        Class::Spam => 1,
        Class::Ham => 0,
    }
}

pub(super) fn class_from_sql(v: i64) -> Class {
    if v == 1 { Class::Spam } else { Class::Ham }
}

/// An open SQLite store.
#[derive(Debug)]
pub struct Sqlite {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    pub(super) options: StoreOptions,
    /// Site-wide token counts already read, for a long-lived reader (see
    /// [`Sqlite::tune_for_long_reader`]); `None` otherwise.
    cache: Option<Cache>,
}

/// A long-lived reader's token cache: its own, or one shared by the process's readers.
#[derive(Debug)]
enum Cache {
    Own(std::cell::RefCell<TokenCache>),
    Shared(Arc<SharedTokenCache>),
}

pub(super) fn h2i(h: u64) -> i64 {
    h as i64
}

pub(super) fn i2h(i: i64) -> u64 {
    i as u64
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Sqlite {
    pub(super) fn from_parts(conn: Connection, path: PathBuf, options: StoreOptions) -> Sqlite {
        Sqlite {
            conn,
            path,
            options,
            cache: None,
        }
    }

    /// Opens (or, with [`OpenMode::ReadWrite`], creates) a store.
    pub fn open(path: &Path, mode: OpenMode, options: &StoreOptions) -> Result<Sqlite> {
        let options = options.clone();
        let exists = super::sqlite_files::path_exists(path)?;
        if !exists && mode == OpenMode::ReadOnly {
            return Err(Error::Missing(path.to_owned()));
        }
        if !exists {
            create_owner_only(path)?;
        }
        let flags = match mode {
            OpenMode::ReadOnly => {
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
            }
            OpenMode::ReadWrite => {
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
            }
        };
        let conn = Connection::open_with_flags(path, flags).map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        let mut store = Sqlite {
            conn,
            path: path.to_owned(),
            options,
            cache: None,
        };
        match store.init_retrying(mode) {
            Ok(()) => Ok(store),
            // A WAL store in a directory we cannot write, with no -shm file: see read_only_snapshot.
            Err(Error::ReadOnly(_)) if mode == OpenMode::ReadOnly => {
                let options = store.options.clone();
                drop(store);
                Sqlite::read_only_snapshot(path, options)
            }
            Err(e) => Err(e),
        }
    }

    /// Tunes this connection for a long-lived reader (the classify server): a larger SQLite
    /// page cache (bounded at 64 MiB), the file memory-mapped, and a cache of the site-wide
    /// token counts already read, emptied whenever another connection commits (training), so
    /// that results stay exactly those of a fresh connection. Common tokens then cost a hash
    /// probe instead of a B-tree seek. Measured in BENCHMARKS.md ("classify server"). A
    /// one-message process gains nothing from any of it, so [`Sqlite::open`] does not do it.
    pub fn tune_for_long_reader(&mut self) -> Result<()> {
        self.conn.pragma_update(None, "cache_size", -65536)?;
        let _: i64 = self
            .conn
            .query_row("PRAGMA mmap_size = 1073741824", [], |r| r.get(0))?;
        self.cache = Some(Cache::Own(Default::default()));
        Ok(())
    }

    /// As [`Sqlite::tune_for_long_reader`], with the token cache shared by every reader the
    /// process attaches to `cache` (one copy of the counts for all of them).
    pub fn share_token_cache(&mut self, cache: &Arc<SharedTokenCache>) -> Result<()> {
        self.tune_for_long_reader()?;
        self.cache = Some(Cache::Shared(Arc::clone(cache)));
        Ok(())
    }

    /// Reads the whole site-wide token table into the token cache (after
    /// [`Sqlite::tune_for_long_reader`]), so that site-wide lookups need no query at all until
    /// another connection commits; then the cache refills lazily (call this again to make it
    /// complete). Returns false, loading nothing, when the table has more rows than the cache
    /// holds or there is no cache. Takes about 0.2 s and 17 MiB for the 666k tokens of the
    /// SpamAssassin corpus (with the token learner's slots, E28: 25 MiB).
    pub fn preload_token_cache(&self) -> Result<bool> {
        let with_lr = self.has_lr_columns()?;
        match &self.cache {
            None => Ok(false),
            Some(Cache::Shared(shared)) => shared.fill(&self.conn, with_lr),
            Some(Cache::Own(cache)) => {
                // One read transaction: the rows and the version are one snapshot.
                let tx = self.conn.unchecked_transaction()?;
                let version: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0))?;
                let Some(site) = super::token_cache::read_site_table(&tx, with_lr)? else {
                    return Ok(false);
                };
                tx.commit()?;
                cache.borrow_mut().fill(version, site);
                Ok(true)
            }
        }
    }

    /// Whether the token cache holds the whole site-wide table (see
    /// [`Sqlite::preload_token_cache`]) as of the last lookup.
    pub fn token_cache_complete(&self) -> bool {
        match &self.cache {
            None => false,
            Some(Cache::Own(c)) => c.borrow().complete,
            Some(Cache::Shared(c)) => c.complete(),
        }
    }

    /// A private in-memory store (tests, experiments).
    pub fn open_in_memory(options: &StoreOptions) -> Result<Sqlite> {
        let conn = Connection::open_in_memory()?;
        let mut store = Sqlite {
            conn,
            path: PathBuf::from(":memory:"),
            options: options.clone(),
            cache: None,
        };
        store.init(OpenMode::ReadWrite)?;
        Ok(store)
    }

    /// Maps SQLite's "not a database" and lock errors to the errors users can act on.
    pub(super) fn classify_error(&self, e: Error) -> Error {
        match e {
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, msg)) => match f.code {
                ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => Error::Corrupt {
                    path: self.path.clone(),
                    detail: msg.unwrap_or_else(|| f.to_string()),
                },
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::Locked {
                    timeout_ms: self.options.busy_timeout.as_millis() as u64,
                },
                ErrorCode::ReadOnly | ErrorCode::CannotOpen if self.path.exists() => {
                    Error::ReadOnly(self.path.clone())
                }
                _ => Error::Sqlite(rusqlite::Error::SqliteFailure(f, msg)),
            },
            other => other,
        }
    }

    pub(super) fn init(&mut self, mode: OpenMode) -> Result<()> {
        self.conn.busy_timeout(self.options.busy_timeout)?;
        // `rarray()`: the batched token lookup passes all of a message's hashes at once.
        rusqlite::vtab::array::load_module(&self.conn)?;
        // SQLite's own page cache, in pages. The OS page cache already holds the file, so a
        // short-lived reader (one `classify` process per message) gains nothing from a second
        // copy, and every fresh cache page costs a page fault: with lookups in key order each
        // page is visited once, and 32 pages keep the B-tree's interior pages. Writers get a
        // bigger cache (bulk training rewrites many pages per batch), bounded at 32 MiB so that
        // memory does not grow with the token table. Measured in BENCHMARKS.md.
        let cache_pages = match mode {
            OpenMode::ReadOnly => 32,
            OpenMode::ReadWrite => -32768,
        };
        self.conn.pragma_update(None, "cache_size", cache_pages)?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if mode == OpenMode::ReadWrite {
            // WAL is persistent in the file: set once, readers and writers then run at once.
            let _: String = self
                .conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        // Re-read the version with the table count in one statement (one snapshot): another
        // process may commit the schema between two separate reads, and version 0 with tables
        // would then look like a foreign database.
        let (version, tables): (i64, i64) = if version == 0 {
            self.conn.query_row(
                "SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
        } else {
            (version, 0)
        };
        if version == 0 {
            if tables > 0 {
                return Err(Error::Corrupt {
                    path: self.path.clone(),
                    detail: "it has tables but no mailsift schema version".into(),
                });
            }
            if mode == OpenMode::ReadOnly {
                // An empty file is a store another process is creating (or never finished
                // creating): nothing trained yet, not damage.
                return Err(Error::Empty(self.path.clone()));
            }
            self.create_schema()?;
        } else if version < SCHEMA_VERSION && mode == OpenMode::ReadWrite {
            self.migrate()?;
        }
        Ok(())
    }

    /// Migrates a version 1 or 2 store to version 3 (the ledger's `rules` column, the token
    /// learner's columns), in one write transaction; another process may have done it while
    /// this one waited for the lock.
    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 1 {
            tx.execute_batch("ALTER TABLE ledger ADD COLUMN rules BLOB NOT NULL DEFAULT x''")?;
        }
        if (1..=2).contains(&version) {
            tx.execute_batch(
                "ALTER TABLE tokens ADD COLUMN lr INTEGER;
                 ALTER TABLE totals ADD COLUMN lr INTEGER;
                 ALTER TABLE ledger ADD COLUMN lr_grad REAL;",
            )?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether the ledger has its `rules` column: not in a version 1 store opened read-only
    /// (not migrated), whose entries then read as having none.
    pub(super) fn has_rules_column(&self) -> Result<bool> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok(version >= 2)
    }

    /// Whether the store has the token learner's columns (version 3; not in an older store
    /// opened read-only, whose learner then reads as empty).
    pub(super) fn has_lr_columns(&self) -> Result<bool> {
        let version: i64 = self
            .conn
            .prepare_cached("PRAGMA user_version")?
            .query_row([], |r| r.get(0))?;
        Ok(version >= 3)
    }

    fn create_schema(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have created it while we waited for the lock.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            tx.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                 CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
                 CREATE TABLE totals (user_id INTEGER PRIMARY KEY,
                     nspam INTEGER NOT NULL DEFAULT 0 CHECK (nspam >= 0),
                     nham INTEGER NOT NULL DEFAULT 0 CHECK (nham >= 0), lr INTEGER);
                 CREATE TABLE tokens (hash INTEGER NOT NULL, user_id INTEGER NOT NULL,
                     spam INTEGER NOT NULL CHECK (spam >= 0), ham INTEGER NOT NULL CHECK (ham >= 0),
                     lr INTEGER, PRIMARY KEY (hash, user_id)) WITHOUT ROWID;
                 CREATE TABLE ledger (user_id INTEGER NOT NULL, digest BLOB NOT NULL,
                     class INTEGER NOT NULL, ntokens INTEGER NOT NULL, tokensum INTEGER NOT NULL,
                     learned_at INTEGER NOT NULL, rules BLOB NOT NULL DEFAULT x'', lr_grad REAL,
                     PRIMARY KEY (user_id, digest)) WITHOUT ROWID;
                 INSERT INTO users (id, name) VALUES (0, '');
                 INSERT INTO totals (user_id) VALUES (0);",
            )?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('tokenizer_version', ?1), ('created_by', ?2)",
                params![TOKENIZER_VERSION.to_string(), concat!("mailsift ", env!("CARGO_PKG_VERSION"))],
            )?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The id of a user (None = site-wide), or None if the user has no data yet.
    pub(super) fn user_id(&self, user: Option<&str>) -> Result<Option<i64>> {
        let Some(name) = user else { return Ok(Some(0)) };
        validate_user(name)?;
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM users WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    pub(super) fn ensure_user(tx: &rusqlite::Transaction<'_>, user: Option<&str>) -> Result<i64> {
        let Some(name) = user else { return Ok(0) };
        validate_user(name)?;
        tx.execute("INSERT OR IGNORE INTO users (name) VALUES (?1)", [name])?;
        let id: i64 = tx.query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))?;
        tx.execute("INSERT OR IGNORE INTO totals (user_id) VALUES (?1)", [id])?;
        Ok(id)
    }

    /// Reads the ledger for `ops` and applies their plan, in one write transaction.
    pub(super) fn apply_ops(
        &mut self,
        user: Option<&str>,
        ops: &[LearnOp],
    ) -> Result<Vec<Outcome>> {
        let timeout_ms = self.options.busy_timeout.as_millis() as u64;
        let path = self.path.clone();
        let map = |e: rusqlite::Error| map_write_error(e, &path, timeout_ms);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map)?;
        let user_id = Self::ensure_user(&tx, user).map_err(|e| match e {
            Error::Sqlite(s) => map(s),
            o => o,
        })?;
        let mut known = Vec::new();
        let mut grads = std::collections::HashMap::new();
        {
            let mut get = tx
                .prepare_cached(
                    "SELECT class, ntokens, tokensum, rules, lr_grad FROM ledger
                     WHERE user_id = ?1 AND digest = ?2",
                )
                .map_err(map)?;
            for d in crate::ledger::digests(ops) {
                let row = get
                    .query_row(params![user_id, &d[..]], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, Vec<u8>>(3)?,
                            r.get::<_, Option<f64>>(4)?,
                        ))
                    })
                    .optional()
                    .map_err(map)?;
                if let Some(g) = row.as_ref().and_then(|r| r.4) {
                    grads.insert(d, g as f32);
                }
                let entry = match row {
                    None => None,
                    Some((class, ntokens, tokensum, rules, _)) => Some(LedgerEntry {
                        class: class_from_sql(class),
                        ntokens: ntokens as u64,
                        tokensum: i2h(tokensum),
                        rules: rules_from_blob(&rules).ok_or_else(|| Error::Corrupt {
                            path: self.path.clone(),
                            detail: "a ledger entry's rules are not whole 8-byte hashes".into(),
                        })?,
                    }),
                };

                known.push((d, entry));
            }
        }
        let plan = crate::ledger::plan(ops, &known);
        // The token learner's part, in the same transaction (E25).
        let lr = match ops.iter().find_map(|o| o.lr) {
            None => None,
            Some(_) => {
                let (mut state, touched) =
                    super::sqlite_lr::read_state(&tx, user_id, ops, grads).map_err(map)?;
                state.apply_ops(ops, &known);
                Some((state, touched))
            }
        };
        write_plan(&tx, user_id, &plan, now(), lr.as_ref()).map_err(map)?;
        tx.commit().map_err(map)?;
        Ok(plan.outcomes)
    }

    pub(super) fn read_totals(&self, id: i64) -> Result<Totals> {
        Ok(self
            .conn
            .prepare_cached("SELECT nspam, nham FROM totals WHERE user_id = ?1")?
            .query_row([id], |r| {
                Ok(Totals {
                    spam: r.get::<_, i64>(0)? as u64,
                    ham: r.get::<_, i64>(1)? as u64,
                })
            })
            .optional()?
            .unwrap_or_default())
    }

    /// The user's id when the user has a model other than the site-wide one.
    pub(super) fn own_id(&self, user: Option<&str>) -> Result<Option<i64>> {
        match user {
            None => Ok(None),
            Some(_) => Ok(self.user_id(user)?.filter(|&id| id != 0)),
        }
    }
}

pub(super) fn map_write_error(e: rusqlite::Error, path: &Path, timeout_ms: u64) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::Locked { timeout_ms },
            ErrorCode::ReadOnly => Error::ReadOnly(path.to_owned()),
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => Error::Corrupt {
                path: path.to_owned(),
                detail: e.to_string(),
            },
            _ => Error::Sqlite(e),
        },
        _ => Error::Sqlite(e),
    }
}

/// Writes a plan for one user inside a write transaction: ledger entries, token counts, totals.
fn write_plan(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    plan: &Plan,
    now: i64,
    lr: Option<&super::sqlite_lr::Stepped>,
) -> rusqlite::Result<()> {
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO ledger (user_id, digest, class, ntokens, tokensum, learned_at, rules,
             lr_grad)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut del = tx.prepare_cached("DELETE FROM ledger WHERE user_id = ?1 AND digest = ?2")?;
    for (digest, entry) in &plan.ledger {
        match entry {
            Some(e) => {
                put.execute(params![
                    user_id,
                    &digest[..],
                    class_to_sql(e.class),
                    e.ntokens as i64,
                    h2i(e.tokensum),
                    now,
                    rules_to_blob(&e.rules),
                    lr.and_then(|(s, _)| s.grads.get(digest))
                        .map(|&g| f64::from(g))
                ])?;
            }
            None => {
                del.execute(params![user_id, &digest[..]])?;
            }
        }
    }
    apply_deltas(tx, user_id, &plan.deltas, lr)?;
    if let Some(stepped) = lr {
        super::sqlite_lr::write_unmoved(tx, user_id, &plan.deltas, stepped)?;
        super::sqlite_lr::write_bias(tx, user_id, stepped.0.bias)?;
    }
    let (dspam, dham) = plan.totals;
    tx.execute(
        "UPDATE totals SET nspam = max(nspam + ?2, 0), nham = max(nham + ?3, 0) WHERE user_id = ?1",
        params![user_id, dspam, dham],
    )?;
    Ok(())
}

/// Adds per-token deltas for one user: rows are created on the way up, clamped at zero on the
/// way down, and deleted when both counts reach zero.
fn apply_deltas(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    deltas: &[(u64, i64, i64)],
    lr: Option<&super::sqlite_lr::Stepped>,
) -> rusqlite::Result<()> {
    let mut sorted: Vec<&(u64, i64, i64)> =
        deltas.iter().filter(|d| (d.1, d.2) != (0, 0)).collect();
    // In key order (hashes stored signed): the B-tree is walked left to right.
    sorted.sort_unstable_by_key(|d| h2i(d.0));
    // ?5: the token learner's new slot when ?6 (the learner stepped this token), else as is.
    let mut upsert = tx.prepare_cached(
        "INSERT INTO tokens (hash, user_id, spam, ham, lr)
             VALUES (?1, ?2, max(?3, 0), max(?4, 0), ?5)
         ON CONFLICT (hash, user_id) DO UPDATE SET spam = max(spam + ?3, 0), ham = max(ham + ?4, 0),
             lr = CASE WHEN ?6 THEN ?5 ELSE lr END",
    )?;
    let mut prune = tx.prepare_cached(
        "DELETE FROM tokens WHERE hash = ?1 AND user_id = ?2 AND spam = 0 AND ham = 0",
    )?;
    let mut old =
        tx.prepare_cached("SELECT spam, ham FROM tokens WHERE hash = ?1 AND user_id = ?2")?;
    // What a decrease below zero takes off the pruned sums (a forget of a message whose token
    // `db prune` removed).
    let mut clamped = super::backend::Pruned::default();
    for &&(h, ds, dh) in &sorted {
        if ds < 0 || dh < 0 {
            let (s0, h0): (i64, i64) = old
                .query_row(params![h2i(h), user_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or((0, 0));
            clamped.spam.add(h, (s0 + ds).min(0));
            clamped.ham.add(h, (h0 + dh).min(0));
        }
        let (slot, stepped) = super::sqlite_lr::slot_of(lr, h);
        upsert.execute(params![h2i(h), user_id, ds, dh, slot, stepped])?;
        if ds < 0 || dh < 0 {
            prune.execute(params![h2i(h), user_id])?;
        }
    }
    if !clamped.is_empty() {
        super::sqlite_prune::add(tx, user_id, &clamped)?;
    }
    Ok(())
}

impl Sqlite {
    /// The counts of `hashes` in the site-wide model (through the token cache when there is
    /// one) and in user `own`'s.
    /// With `lr`, the token learner's slots too, read from the same rows (the cache holds
    /// them beside the counts, E28).
    pub(super) fn read_counts(
        &self,
        own: Option<i64>,
        hashes: &[u64],
        site: &mut [Counts],
        mine: &mut [Counts],
        lr: Option<&mut crate::logreg::LrRead>,
    ) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        let lr = match lr {
            Some(l) if self.has_lr_columns()? => Some(l),
            _ => None,
        };
        match (&self.cache, own) {
            (Some(cache), None) => {
                let slots = lr.map_or(&mut [][..], |l| &mut l.site[..]);
                self.lookup_cached(cache, hashes, site, slots)
            }
            _ => self.query(own, hashes, site, mine, lr),
        }
    }

    /// [`TokenCounts::lookup`] through the token cache (site-wide model only), with the
    /// learner's slots into `slots` unless it is empty.
    fn lookup_cached(
        &self,
        cache: &Cache,
        hashes: &[u64],
        out: &mut [Counts],
        slots: &mut [crate::logreg::Slot],
    ) -> Result<()> {
        let with_lr = self.has_lr_columns()?;
        // The cache keeps counts and slots, so its queries read both when the store has them.
        let query = Box::new(
            |missing: &[u64], found: &mut [Counts], lr: &mut [crate::logreg::Slot]| {
                if !with_lr {
                    return self.query(None, missing, found, &mut [], None);
                }
                let mut read = crate::logreg::LrRead::default();
                read.reset(missing.len(), false);
                self.query(None, missing, found, &mut [], Some(&mut read))?;
                lr.copy_from_slice(&read.site);
                Ok(())
            },
        );
        match cache {
            Cache::Own(cache) => {
                let version: i64 = self
                    .conn
                    .prepare_cached("PRAGMA data_version")?
                    .query_row([], |r| r.get(0))?;
                cache
                    .borrow_mut()
                    .lookup(version, hashes, out, slots, query)
            }
            Cache::Shared(shared) => shared.lookup(hashes, out, slots, query),
        }
    }

    /// Reads the counts of `hashes` from SQLite: the site-wide model's into `site`, user
    /// `own`'s into `mine` (both zeroed, as long as `hashes` when used).
    fn query(
        &self,
        own: Option<i64>,
        hashes: &[u64],
        site: &mut [Counts],
        mine: &mut [Counts],
        mut lr: Option<&mut crate::logreg::LrRead>,
    ) -> Result<()> {
        // (key as stored, position in `hashes`), in key order; rows come back in this order.
        let mut order: Vec<(i64, usize)> = hashes
            .iter()
            .enumerate()
            .map(|(i, &h)| (h2i(h), i))
            .collect();
        order.sort_unstable();
        let mut keys: Vec<rusqlite::types::Value> = Vec::with_capacity(order.len());
        let mut last = None;
        for &(k, _) in &order {
            // Each key once: a duplicate would join (and count) its row twice.
            if last != Some(k) {
                keys.push(rusqlite::types::Value::Integer(k));
                last = Some(k);
            }
        }
        let keys: rusqlite::vtab::array::Array = std::rc::Rc::new(keys);
        let conn = &self.conn;
        let mut stmt;
        // The learner's column only when asked (a store older than version 3 has none).
        let mut rows = match (own, lr.is_some()) {
            (None, false) => {
                stmt = conn.prepare_cached(
                    "SELECT t.hash, t.user_id, t.spam, t.ham FROM rarray(?1) AS a
                     CROSS JOIN tokens AS t ON t.hash = a.value AND t.user_id = 0",
                )?;
                stmt.query(params![keys])?
            }
            (Some(uid), false) => {
                stmt = conn.prepare_cached(
                    "SELECT t.hash, t.user_id, t.spam, t.ham FROM rarray(?1) AS a
                     CROSS JOIN tokens AS t ON t.hash = a.value AND t.user_id IN (0, ?2)",
                )?;
                stmt.query(params![keys, uid])?
            }
            (own, true) => {
                stmt = conn.prepare_cached(
                    "SELECT t.hash, t.user_id, t.spam, t.ham, t.lr FROM rarray(?1) AS a
                     CROSS JOIN tokens AS t ON t.hash = a.value AND t.user_id IN (0, ?2)",
                )?;
                stmt.query(params![keys, own.unwrap_or(0)])?
            }
        };
        // Rows arrive in key order, so the search window only moves forward.
        let mut from = 0;
        while let Some(r) = rows.next()? {
            let key: i64 = r.get(0)?;
            let is_site = r.get::<_, i64>(1)? == 0;
            let out = if is_site { &mut *site } else { &mut *mine };
            let spam = r.get::<_, i64>(2)? as u32;
            let ham = r.get::<_, i64>(3)? as u32;
            from += order[from..].partition_point(|&(k, _)| k < key);
            // Every position holding this hash (callers may pass duplicates).
            for &(_, i) in order[from..].iter().take_while(|&&(k, _)| k == key) {
                let c = &mut out[i];
                c.spam = c.spam.saturating_add(spam);
                c.ham = c.ham.saturating_add(ham);
            }
            if let Some(lr) = lr.as_deref_mut() {
                let slot = r
                    .get::<_, Option<i64>>(4)?
                    .map_or_else(Default::default, |b| crate::logreg::Slot::from_bits(i2h(b)));
                let out = if is_site { &mut lr.site } else { &mut lr.user };
                for &(_, i) in order[from..].iter().take_while(|&&(k, _)| k == key) {
                    if let Some(s) = out.get_mut(i) {
                        *s = slot;
                    }
                }
            }
        }
        Ok(())
    }
}
