//! The token store: SQLite, one file, many users.
//!
//! # Layout (schema version 1, `PRAGMA user_version`)
//! - `meta(key, value)`: `tokenizer_version`, `created_by`.
//! - `users(id, name)`: id 0 is the site-wide model (empty name); other ids are per-user models.
//! - `totals(user_id, nspam, nham)`: messages learned per class.
//! - `tokens(hash, user_id, spam, ham)`: messages containing each token, keyed by the token's
//!   64-bit hash (stored as a signed integer, bit for bit). `hash` comes first so that one index
//!   seek finds a token's site-wide and per-user rows together.
//! - `ledger(user_id, digest, class, ntokens, tokensum, learned_at)`: every learned message,
//!   keyed by a digest of its content. Learning the same message again is a no-op, learning it
//!   as the other class flips it (forget + learn in one transaction), forgetting is exact.
//!   `ntokens` and `tokensum` (wrapping sum of its token hashes) let [`Store::check`] prove
//!   that the token counts are exactly what the ledger says was learned.
//!
//! # Site-wide and per-user models
//! Classifying for a user combines the site-wide model and the user's own:
//! counts and totals are `site + user_weight × user` (see [`StoreOptions::user_weight`]).
//! A user who has trained nothing is classified by the site model alone; as the user trains,
//! their own evidence adds to (and with weight > 1, outweighs) the site's. Corrections
//! (`correct`, `forget`) change only the user's model.
//!
//! # Concurrency
//! WAL mode: readers never block the writer or each other. Writers take the write lock at the
//! start of a transaction (`BEGIN IMMEDIATE`) and wait up to the busy timeout for another
//! writer. Counts clamp at zero and rows whose counts both reach zero are deleted, so learn then
//! forget leaves the tables as they were.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::bayes::{Counts, Totals};
use crate::error::{Error, Result};
use crate::model::{TokenCounts, TokenMap};
use crate::tokenize::{TOKENIZER_VERSION, Tokens};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// A message class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Unwanted mail.
    Spam,
    /// Wanted mail.
    Ham,
}

impl Class {
    fn to_sql(self) -> i64 {
        match self {
            Class::Spam => 1,
            Class::Ham => 0,
        }
    }

    fn from_sql(v: i64) -> Class {
        if v == 1 { Class::Spam } else { Class::Ham }
    }

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
    /// What to do.
    pub action: Action,
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

/// Options for opening a store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// How long to wait for another process's write lock.
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
    /// Read only; the file must exist (classify, score, explain, stats).
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
    /// Database file size in bytes.
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

/// An open token store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    options: StoreOptions,
    /// Site-wide token counts already read, for a long-lived reader (see
    /// [`Store::tune_for_long_reader`]); `None` otherwise.
    cache: Option<std::cell::RefCell<TokenCache>>,
}

/// Token counts read from the site-wide model, valid while `PRAGMA data_version` stays the same
/// (it changes when any other connection commits, e.g. `train` or `correct`).
#[derive(Debug, Default)]
struct TokenCache {
    version: i64,
    site: TokenMap<Counts>,
    /// The whole site-wide table is in `site` (see [`Store::preload_token_cache`]): a token
    /// missing from it is absent from the store, no query needed.
    complete: bool,
}

/// Entries the token cache holds before it starts over (16 bytes each plus the table: about
/// 40 MiB at most). The site model of the SpamAssassin corpus has 666k tokens.
const TOKEN_CACHE_MAX: usize = 1 << 20;

fn h2i(h: u64) -> i64 {
    h as i64
}

fn i2h(i: i64) -> u64 {
    i as u64
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

impl Store {
    /// Opens (or, with [`OpenMode::ReadWrite`], creates) a store.
    pub fn open(path: &Path, mode: OpenMode, options: StoreOptions) -> Result<Store> {
        let exists = path_exists(path)?;
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
        let mut store = Store {
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
                Store::read_only_snapshot(path, options)
            }
            Err(e) => Err(e),
        }
    }

    /// Tunes this connection for a long-lived reader (the classify server): a larger SQLite
    /// page cache (bounded at 64 MiB), the file memory-mapped, and a cache of the site-wide
    /// token counts already read, emptied whenever another connection commits (training), so
    /// that results stay exactly those of a fresh connection. Common tokens then cost a hash
    /// probe instead of a B-tree seek. Measured in BENCHMARKS.md ("classify server"). A
    /// one-message process gains nothing from any of it, so [`Store::open`] does not do it.
    pub fn tune_for_long_reader(&mut self) -> Result<()> {
        self.conn.pragma_update(None, "cache_size", -65536)?;
        let _: i64 = self
            .conn
            .query_row("PRAGMA mmap_size = 1073741824", [], |r| r.get(0))?;
        self.cache = Some(std::cell::RefCell::new(TokenCache::default()));
        Ok(())
    }

    /// Reads the whole site-wide token table into the token cache (after
    /// [`Store::tune_for_long_reader`]), so that site-wide lookups need no query at all until
    /// another connection commits; then the cache refills lazily (call this again to make it
    /// complete). Returns false, loading nothing, when the table has more rows than the cache
    /// holds or there is no cache. Takes about 0.2 s and 17 MiB for the 666k tokens of the
    /// SpamAssassin corpus.
    pub fn preload_token_cache(&self) -> Result<bool> {
        let Some(cache) = &self.cache else {
            return Ok(false);
        };
        let tx = self.conn.unchecked_transaction()?;
        let version: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let rows: i64 = tx.query_row("SELECT count(*) FROM tokens WHERE user_id = 0", [], |r| {
            r.get(0)
        })?;
        if rows as u64 > TOKEN_CACHE_MAX as u64 {
            return Ok(false);
        }
        let mut site = TokenMap::default();
        site.reserve(rows as usize);
        let mut stmt = tx.prepare("SELECT hash, spam, ham FROM tokens WHERE user_id = 0")?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            site.insert(
                i2h(r.get(0)?),
                Counts {
                    spam: r.get::<_, i64>(1)? as u32,
                    ham: r.get::<_, i64>(2)? as u32,
                },
            );
        }
        drop(q);
        drop(stmt);
        // One read transaction: the rows and the version are one snapshot.
        tx.commit()?;
        *cache.borrow_mut() = TokenCache {
            version,
            site,
            complete: true,
        };
        Ok(true)
    }

    /// Whether the token cache holds the whole site-wide table (see
    /// [`Store::preload_token_cache`]) as of the last lookup.
    pub fn token_cache_complete(&self) -> bool {
        self.cache.as_ref().is_some_and(|c| c.borrow().complete)
    }

    /// A private in-memory store (tests, experiments).
    pub fn open_in_memory(options: StoreOptions) -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        let mut store = Store {
            conn,
            path: PathBuf::from(":memory:"),
            options,
            cache: None,
        };
        store.init(OpenMode::ReadWrite)?;
        Ok(store)
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Maps SQLite's "not a database" and lock errors to the errors users can act on.
    fn classify_error(&self, e: Error) -> Error {
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

    fn init(&mut self, mode: OpenMode) -> Result<()> {
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
        }
        self.check_tokenizer(mode)
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
                     nham INTEGER NOT NULL DEFAULT 0 CHECK (nham >= 0));
                 CREATE TABLE tokens (hash INTEGER NOT NULL, user_id INTEGER NOT NULL,
                     spam INTEGER NOT NULL CHECK (spam >= 0), ham INTEGER NOT NULL CHECK (ham >= 0),
                     PRIMARY KEY (hash, user_id)) WITHOUT ROWID;
                 CREATE TABLE ledger (user_id INTEGER NOT NULL, digest BLOB NOT NULL,
                     class INTEGER NOT NULL, ntokens INTEGER NOT NULL, tokensum INTEGER NOT NULL,
                     learned_at INTEGER NOT NULL, PRIMARY KEY (user_id, digest)) WITHOUT ROWID;
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

    fn check_tokenizer(&mut self, mode: OpenMode) -> Result<()> {
        let found = self.tokenizer_version()?;
        if found == TOKENIZER_VERSION {
            return Ok(());
        }
        let learned: i64 = self
            .conn
            .query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))?;
        if learned == 0 && mode == OpenMode::ReadWrite {
            self.conn.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'tokenizer_version'",
                [TOKENIZER_VERSION.to_string()],
            )?;
            return Ok(());
        }
        Err(Error::TokenizerMismatch {
            path: self.path.clone(),
            found,
            expected: TOKENIZER_VERSION,
        })
    }

    /// The tokenizer version recorded in the store.
    pub fn tokenizer_version(&self) -> Result<u32> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'tokenizer_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        v.and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::Corrupt {
                path: self.path.clone(),
                detail: "no tokenizer version recorded".into(),
            })
    }

    /// The id of a user (None = site-wide), or None if the user has no data yet.
    pub fn user_id(&self, user: Option<&str>) -> Result<Option<i64>> {
        let Some(name) = user else { return Ok(Some(0)) };
        validate_user(name)?;
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM users WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    fn ensure_user(tx: &rusqlite::Transaction<'_>, user: Option<&str>) -> Result<i64> {
        let Some(name) = user else { return Ok(0) };
        validate_user(name)?;
        tx.execute("INSERT OR IGNORE INTO users (name) VALUES (?1)", [name])?;
        let id: i64 = tx.query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))?;
        tx.execute("INSERT OR IGNORE INTO totals (user_id) VALUES (?1)", [id])?;
        Ok(id)
    }

    /// A read view of the model used to classify for `user` (site-wide + user, see module docs).
    pub fn model(&self, user: Option<&str>) -> Result<StoreModel<'_>> {
        let user_id = match user {
            None => None,
            Some(_) => self.user_id(user)?.filter(|&id| id != 0),
        };
        let read_totals = |id: i64| -> Result<Totals> {
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
        };
        let site = read_totals(0)?;
        let mine = match user_id {
            Some(id) => read_totals(id)?,
            None => Totals::default(),
        };
        let w = u64::from(self.options.user_weight);
        Ok(StoreModel {
            store: self,
            user_id,
            totals: Totals {
                spam: site.spam + w * mine.spam,
                ham: site.ham + w * mine.ham,
            },
        })
    }

    /// Applies learn/forget operations for one user in a single write transaction.
    /// Returns one outcome per operation, in order.
    pub fn apply(&mut self, user: Option<&str>, ops: &[LearnOp]) -> Result<Vec<Outcome>> {
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
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut deltas: TokenMap<(i64, i64)> = TokenMap::default();
        let mut outcomes = Vec::with_capacity(ops.len());
        let (mut dspam, mut dham) = (0i64, 0i64);
        {
            let mut get = tx
                .prepare_cached("SELECT class FROM ledger WHERE user_id = ?1 AND digest = ?2")
                .map_err(map)?;
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO ledger (user_id, digest, class, ntokens, tokensum, learned_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(map)?;
            let mut del = tx
                .prepare_cached("DELETE FROM ledger WHERE user_id = ?1 AND digest = ?2")
                .map_err(map)?;
            for op in ops {
                let existing: Option<Class> = get
                    .query_row(params![user_id, &op.digest[..]], |r| r.get::<_, i64>(0))
                    .optional()
                    .map_err(map)?
                    .map(Class::from_sql);
                let mut add = |class: Class, sign: i64| {
                    for &h in &op.tokens.hashes {
                        let d = deltas.entry(h).or_insert((0, 0));
                        match class {
                            Class::Spam => d.0 += sign,
                            Class::Ham => d.1 += sign,
                        }
                    }
                    match class {
                        Class::Spam => dspam += sign,
                        Class::Ham => dham += sign,
                    }
                };
                let outcome = match (&op.action, existing) {
                    (Action::Learn(c), None) => {
                        add(*c, 1);
                        Outcome::Learned
                    }
                    (Action::Learn(c), Some(old)) if old == *c => Outcome::AlreadyKnown,
                    (Action::Learn(c), Some(old)) => {
                        add(old, -1);
                        add(*c, 1);
                        Outcome::Flipped
                    }
                    (Action::Forget, Some(old)) => {
                        add(old, -1);
                        Outcome::Forgotten
                    }
                    (Action::Forget, None) => Outcome::NotLearned,
                };
                match (&op.action, outcome) {
                    (Action::Learn(c), Outcome::Learned | Outcome::Flipped) => {
                        put.execute(params![
                            user_id,
                            &op.digest[..],
                            c.to_sql(),
                            op.tokens.len() as i64,
                            h2i(op.tokens.checksum()),
                            now
                        ])
                        .map_err(map)?;
                    }
                    (Action::Forget, Outcome::Forgotten) => {
                        del.execute(params![user_id, &op.digest[..]]).map_err(map)?;
                    }
                    _ => {}
                }
                outcomes.push(outcome);
            }
        }
        apply_deltas(&tx, user_id, &deltas).map_err(map)?;
        tx.execute(
            "UPDATE totals SET nspam = max(nspam + ?2, 0), nham = max(nham + ?3, 0) WHERE user_id = ?1",
            params![user_id, dspam, dham],
        )
        .map_err(map)?;
        tx.commit().map_err(map)?;
        Ok(outcomes)
    }

    /// Which class a message is learned as for `user`, if any.
    pub fn learned_class(&self, user: Option<&str>, digest: &Digest) -> Result<Option<Class>> {
        let Some(id) = self.user_id(user)? else {
            return Ok(None);
        };
        Ok(self
            .conn
            .prepare_cached("SELECT class FROM ledger WHERE user_id = ?1 AND digest = ?2")?
            .query_row(params![id, &digest[..]], |r| r.get::<_, i64>(0))
            .optional()?
            .map(Class::from_sql))
    }

    /// Statistics for the site-wide model and every user (`user = None`), or for one user only.
    /// A user never sees another user's figures.
    pub fn stats(&self, user: Option<&str>) -> Result<Stats> {
        let mut users = Vec::new();
        let filter = match user {
            Some(name) => {
                validate_user(name)?;
                Some(name.to_owned())
            }
            None => None,
        };
        let mut stmt = self.conn.prepare(
            "SELECT u.name, t.nspam, t.nham,
                    (SELECT count(*) FROM tokens k WHERE k.user_id = u.id)
             FROM users u JOIN totals t ON t.user_id = u.id ORDER BY u.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(UserStats {
                name: r.get(0)?,
                spam: r.get::<_, i64>(1)? as u64,
                ham: r.get::<_, i64>(2)? as u64,
                tokens: r.get::<_, i64>(3)? as u64,
            })
        })?;
        for row in rows {
            let row = row?;
            if filter.as_ref().is_none_or(|f| *f == row.name) {
                users.push(row);
            }
        }
        let page_count: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let page_size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(Stats {
            users,
            db_bytes: (page_count * page_size) as u64,
            tokenizer_version: self.tokenizer_version()?,
            schema_version: self
                .conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))?,
        })
    }

    /// Checks SQLite integrity and that every count equals what the ledger says was learned.
    pub fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if rows != ["ok"] {
            report
                .problems
                .extend(rows.into_iter().map(|r| format!("integrity: {r}")));
            return Ok(report);
        }
        // Per user and class: message count, token-occurrence count, hash checksum.
        #[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
        struct Sums {
            messages: i64,
            occurrences: i64,
            checksum: u64,
        }
        let mut from_ledger: HashMap<(i64, Class), Sums> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT user_id, class, ntokens, tokensum FROM ledger")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let e = from_ledger
                .entry((r.get(0)?, Class::from_sql(r.get(1)?)))
                .or_default();
            e.messages += 1;
            e.occurrences += r.get::<_, i64>(2)?;
            e.checksum = e.checksum.wrapping_add(i2h(r.get(3)?));
            report.ledger_entries += 1;
        }
        let mut from_tokens: HashMap<(i64, Class), Sums> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT hash, user_id, spam, ham FROM tokens")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let hash = i2h(r.get(0)?);
            let user: i64 = r.get(1)?;
            let (spam, ham): (i64, i64) = (r.get(2)?, r.get(3)?);
            report.token_rows += 1;
            if spam == 0 && ham == 0 {
                report.problems.push(format!(
                    "token {hash:016x} of user {user} has zero counts but was not removed"
                ));
            }
            for (class, n) in [(Class::Spam, spam), (Class::Ham, ham)] {
                let e = from_tokens.entry((user, class)).or_default();
                e.occurrences += n;
                e.checksum = e.checksum.wrapping_add(hash.wrapping_mul(n as u64));
            }
        }
        let mut stmt = self.conn.prepare("SELECT t.user_id, u.name, t.nspam, t.nham FROM totals t LEFT JOIN users u ON u.id = t.user_id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let user: i64 = r.get(0)?;
            let name: Option<String> = r.get(1)?;
            let label = match name.as_deref() {
                Some("") => "site-wide model".to_owned(),
                Some(n) => format!("user {n:?}"),
                None => format!("user id {user} (no users row)"),
            };
            for (class, n) in [
                (Class::Spam, r.get::<_, i64>(2)?),
                (Class::Ham, r.get::<_, i64>(3)?),
            ] {
                let ledger = from_ledger.get(&(user, class)).copied().unwrap_or_default();
                let tokens = from_tokens.get(&(user, class)).copied().unwrap_or_default();
                if n != ledger.messages {
                    report.problems.push(format!(
                        "{label}: {} {} messages counted, ledger has {}",
                        n,
                        class.as_str(),
                        ledger.messages
                    ));
                }
                if tokens.occurrences != ledger.occurrences || tokens.checksum != ledger.checksum {
                    report.problems.push(format!(
                        "{label}: {} token counts ({} occurrences) do not match the ledger ({} occurrences)",
                        class.as_str(), tokens.occurrences, ledger.occurrences
                    ));
                }
            }
        }
        Ok(report)
    }

    /// Removes everything learned for `user` (None = the site-wide model).
    pub fn reset(&mut self, user: Option<&str>) -> Result<()> {
        let Some(id) = self.user_id(user)? else {
            return Ok(());
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM tokens WHERE user_id = ?1", [id])?;
        tx.execute("DELETE FROM ledger WHERE user_id = ?1", [id])?;
        tx.execute(
            "UPDATE totals SET nspam = 0, nham = 0 WHERE user_id = ?1",
            [id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Writes a consistent copy of the database to `dest`, owner-only. The copy is written to
    /// a temporary file beside `dest` and renamed over it when complete: an earlier backup at
    /// `dest` is replaced, and a backup that fails (disk full) leaves no partial file.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        if std::fs::symlink_metadata(dest).is_ok_and(|m| !m.is_file()) {
            return Err(Error::Config(format!(
                "{} exists and is not a regular file: choose another backup file name",
                dest.display()
            )));
        }
        let tmp = backup_temp_path(dest);
        let _ = std::fs::remove_file(&tmp);
        create_owner_only(&tmp)?;
        let written = (|| {
            let name = sql_path(&tmp, "choose another backup file name")?;
            // The file name is a bound parameter, never spliced into SQL. Into an empty file,
            // so it is owner-only from the first byte.
            self.conn
                .execute("VACUUM INTO ?1", [name])
                .map_err(|e| map_write_error(e, dest, 0))?;
            restrict_permissions(&tmp)?;
            std::fs::rename(&tmp, dest).map_err(|source| Error::Io {
                context: format!("cannot move the backup into place as {}", dest.display()),
                source,
            })
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Direct access for in-crate modules (eval persistence).
    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn map_write_error(e: rusqlite::Error, path: &Path, timeout_ms: u64) -> Error {
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

/// Adds per-token deltas for one user: rows are created on the way up, clamped at zero on the
/// way down, and deleted when both counts reach zero.
pub(crate) fn apply_deltas(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    deltas: &TokenMap<(i64, i64)>,
) -> rusqlite::Result<()> {
    let mut sorted: Vec<(&u64, &(i64, i64))> =
        deltas.iter().filter(|(_, d)| **d != (0, 0)).collect();
    sorted.sort_unstable_by_key(|(h, _)| h2i(**h));
    let mut upsert = tx.prepare_cached(
        "INSERT INTO tokens (hash, user_id, spam, ham) VALUES (?1, ?2, max(?3, 0), max(?4, 0))
         ON CONFLICT (hash, user_id) DO UPDATE SET spam = max(spam + ?3, 0), ham = max(ham + ?4, 0)",
    )?;
    let mut prune = tx.prepare_cached(
        "DELETE FROM tokens WHERE hash = ?1 AND user_id = ?2 AND spam = 0 AND ham = 0",
    )?;
    for (&h, &(ds, dh)) in sorted {
        upsert.execute(params![h2i(h), user_id, ds, dh])?;
        if ds < 0 || dh < 0 {
            prune.execute(params![h2i(h), user_id])?;
        }
    }
    Ok(())
}

impl Store {
    /// [`Store::init`], retried while the store is busy, for up to the busy timeout.
    ///
    /// The busy timeout alone does not cover opening: while processes race to create a new
    /// store, switching it to WAL and creating the schema take locks that SQLite may refuse at
    /// once (SQLITE_BUSY without calling the busy handler, to avoid a deadlock between a
    /// reader upgrading to writer and another writer). `init` is idempotent, so it is simply
    /// run again.
    fn init_retrying(&mut self, mode: OpenMode) -> Result<()> {
        let started = std::time::Instant::now();
        loop {
            match self.init(mode).map_err(|e| self.classify_error(e)) {
                Err(Error::Locked { .. }) if started.elapsed() < self.options.busy_timeout => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Opens a WAL store that SQLite cannot open read-only in the normal way: its directory is
    /// not writable by us and no `-shm` file exists (so no writer is active), typically a
    /// site-wide store owned by an administrator and read by delivery agents running as users.
    /// `immutable=1` reads the main file without the shared-memory index. A writer that starts
    /// while we read is not seen; the worst case is a classification on slightly old counts or a
    /// read error, which classify turns into a rules-only verdict.
    fn read_only_snapshot(path: &Path, options: StoreOptions) -> Result<Store> {
        let mut uri = String::from("file:");
        for &b in path.as_os_str().as_encoded_bytes() {
            if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
                uri.push(char::from(b));
            } else {
                uri.push_str(&format!("%{b:02X}"));
            }
        }
        uri.push_str("?immutable=1");
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&uri, flags).map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
            options,
            cache: None,
        };
        store
            .init(OpenMode::ReadOnly)
            .map_err(|e| store.classify_error(e))?;
        Ok(store)
    }
}

impl Store {
    /// Replaces everything in this store with the contents of `backup` (a file written by
    /// [`Store::backup`], already checked by the caller), in one write transaction.
    ///
    /// Restoring in place, rather than replacing the file, is safe while other mailsift
    /// processes run: readers see the old model or the new one, never a mix; writers wait on
    /// the lock as for any training; the file keeps its owner and permissions.
    pub fn restore_from(&mut self, backup: &Path) -> Result<()> {
        let timeout_ms = self.options.busy_timeout.as_millis() as u64;
        let path = self.path.clone();
        let map = |e: rusqlite::Error| map_write_error(e, &path, timeout_ms);
        let name = sql_path(backup, "rename the backup file")?;
        // ATTACH is not allowed inside a transaction: attach first, detach whatever happens.
        self.conn
            .execute("ATTACH DATABASE ?1 AS restore_source", [name])
            .map_err(map)?;
        let copied = (|| -> rusqlite::Result<()> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: i64 =
                tx.query_row("PRAGMA restore_source.user_version", [], |r| r.get(0))?;
            if version != SCHEMA_VERSION {
                return Err(rusqlite::Error::InvalidQuery);
            }
            tx.execute_batch(
                "DELETE FROM main.ledger; DELETE FROM main.tokens; DELETE FROM main.totals;
                 DELETE FROM main.users; DELETE FROM main.meta;
                 INSERT INTO main.meta (key, value) SELECT key, value FROM restore_source.meta;
                 INSERT INTO main.users (id, name) SELECT id, name FROM restore_source.users;
                 INSERT INTO main.totals (user_id, nspam, nham)
                     SELECT user_id, nspam, nham FROM restore_source.totals;
                 INSERT INTO main.tokens (hash, user_id, spam, ham)
                     SELECT hash, user_id, spam, ham FROM restore_source.tokens;
                 INSERT INTO main.ledger (user_id, digest, class, ntokens, tokensum, learned_at)
                     SELECT user_id, digest, class, ntokens, tokensum, learned_at
                     FROM restore_source.ledger;",
            )?;
            tx.commit()
        })();
        let detached = self.conn.execute("DETACH DATABASE restore_source", []);
        match copied {
            Err(rusqlite::Error::InvalidQuery) => Err(Error::Corrupt {
                path: backup.to_owned(),
                detail: format!("not a schema v{SCHEMA_VERSION} mailsift backup"),
            }),
            Err(e) => Err(map(e)),
            Ok(()) => detached.map(|_| ()).map_err(map),
        }
    }
}

/// A path as the text SQLite takes as a bound parameter (`VACUUM INTO ?1`, `ATTACH ?1`);
/// non-UTF-8 paths are refused with `hint` rather than lossily converted (which could name
/// another file).
fn sql_path<'a>(path: &'a Path, hint: &str) -> Result<&'a str> {
    path.to_str()
        .ok_or_else(|| Error::Config(format!("{} is not a UTF-8 path: {hint}", path.display())))
}

/// Where a backup to `dest` is written before it is renamed into place: a hidden file in the
/// same directory (a rename does not cross file systems), named for this process.
fn backup_temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Whether the database file exists. Only "no such file" means it does not (a new install);
/// any other answer (a directory that cannot be entered, a path through a regular file) is a
/// fault to report, not an empty model to classify with.
fn path_exists(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Io {
            context: format!(
                "cannot reach the database {} (check the permissions of its directories)",
                path.display()
            ),
            source,
        }),
    }
}

/// Creates an empty file readable and writable by its owner only.
fn create_owner_only(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        // Directories we create are private too (existing ones are left as they are).
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(|source| Error::Io {
            context: format!("cannot create directory {}", dir.display()),
            source,
        })?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|source| Error::Io {
        context: format!("cannot create {}", path.display()),
        source,
    })?;
    Ok(())
}

fn restrict_permissions(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| Error::Io {
                context: format!("cannot set permissions on {}", path.display()),
                source,
            },
        )?;
    }
    Ok(())
}

/// A read view of the store for one user; implements [`TokenCounts`].
#[derive(Debug)]
pub struct StoreModel<'a> {
    store: &'a Store,
    user_id: Option<i64>,
    totals: Totals,
}

impl TokenCounts for StoreModel<'_> {
    fn totals(&self) -> Totals {
        self.totals
    }

    /// One query per message, not per token: the hashes go to SQLite as one `rarray()` in key
    /// order, so the B-tree is walked left to right and each page is read once.
    fn lookup(&self, hashes: &[u64], out: &mut Vec<Counts>) -> Result<()> {
        out.clear();
        out.resize(hashes.len(), Counts::default());
        if hashes.is_empty() {
            return Ok(());
        }
        match (&self.store.cache, self.user_id) {
            (Some(cache), None) => self.lookup_cached(cache, hashes, out),
            _ => self.query(hashes, out),
        }
    }
}

impl StoreModel<'_> {
    /// [`TokenCounts::lookup`] through the token cache (site-wide model only).
    fn lookup_cached(
        &self,
        cache: &std::cell::RefCell<TokenCache>,
        hashes: &[u64],
        out: &mut [Counts],
    ) -> Result<()> {
        let version: i64 = self
            .store
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        let mut cache = cache.borrow_mut();
        if cache.version != version {
            cache.site.clear();
            cache.version = version;
            cache.complete = false;
        }
        let mut missing: Vec<u64> = Vec::new();
        let mut at: Vec<usize> = Vec::new();
        for (i, h) in hashes.iter().enumerate() {
            match cache.site.get(h) {
                Some(c) => out[i] = *c,
                None => {
                    missing.push(*h);
                    at.push(i);
                }
            }
        }
        if missing.is_empty() || cache.complete {
            // With the whole table cached, a missing token is absent: `out` holds zeros.
            return Ok(());
        }
        let mut found = vec![Counts::default(); missing.len()];
        self.query(&missing, &mut found)?;
        if cache.site.len() + missing.len() > TOKEN_CACHE_MAX {
            cache.site.clear();
            cache.complete = false;
        }
        for ((h, c), i) in missing.iter().zip(&found).zip(at) {
            out[i] = *c;
            // Absent tokens too (zero counts): most of a message's rare tokens are absent.
            cache.site.insert(*h, *c);
        }
        Ok(())
    }

    /// Reads the counts of `hashes` into `out` (same length, zeroed) from SQLite.
    fn query(&self, hashes: &[u64], out: &mut [Counts]) -> Result<()> {
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
        let w = self.store.options.user_weight;
        let conn = &self.store.conn;
        let mut stmt;
        let mut rows = match self.user_id {
            None => {
                stmt = conn.prepare_cached(
                    "SELECT t.hash, t.user_id, t.spam, t.ham FROM rarray(?1) AS a
                     CROSS JOIN tokens AS t ON t.hash = a.value AND t.user_id = 0",
                )?;
                stmt.query(params![keys])?
            }
            Some(uid) => {
                stmt = conn.prepare_cached(
                    "SELECT t.hash, t.user_id, t.spam, t.ham FROM rarray(?1) AS a
                     CROSS JOIN tokens AS t ON t.hash = a.value AND t.user_id IN (0, ?2)",
                )?;
                stmt.query(params![keys, uid])?
            }
        };
        // Rows arrive in key order, so the search window only moves forward.
        let mut from = 0;
        while let Some(r) = rows.next()? {
            let key: i64 = r.get(0)?;
            let weight = if r.get::<_, i64>(1)? == 0 { 1 } else { w };
            let spam = (r.get::<_, i64>(2)? as u32).saturating_mul(weight);
            let ham = (r.get::<_, i64>(3)? as u32).saturating_mul(weight);
            from += order[from..].partition_point(|&(k, _)| k < key);
            // Every position holding this hash (callers may pass duplicates).
            for &(_, i) in order[from..].iter().take_while(|&&(k, _)| k == key) {
                let c = &mut out[i];
                c.spam = c.spam.saturating_add(spam);
                c.ham = c.ham.saturating_add(ham);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MemoryModel;

    fn op(d: u8, hashes: &[u64], action: Action) -> LearnOp {
        LearnOp {
            digest: [d; 16],
            tokens: Tokens {
                hashes: hashes.to_vec(),
            },
            action,
        }
    }

    /// (token rows, totals rows, ledger size): everything learn/forget can change.
    type Dump = (Vec<(i64, i64, i64, i64)>, Vec<(i64, i64, i64)>, i64);

    fn dump(store: &Store) -> Dump {
        let mut s = store
            .conn
            .prepare("SELECT hash, user_id, spam, ham FROM tokens ORDER BY 1, 2")
            .expect("prep");
        let tokens = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("q")
            .map(|r| r.expect("row"))
            .collect();
        let mut s = store
            .conn
            .prepare("SELECT user_id, nspam, nham FROM totals ORDER BY 1")
            .expect("prep");
        let totals = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("q")
            .map(|r| r.expect("row"))
            .collect();
        let ledger = store
            .conn
            .query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))
            .expect("count");
        (tokens, totals, ledger)
    }

    #[test]
    fn learn_is_idempotent_flip_and_forget_are_exact() {
        let mut s = Store::open_in_memory(StoreOptions::default()).expect("open");
        let before = dump(&s);
        let out = s
            .apply(None, &[op(1, &[1, 2, 3], Action::Learn(Class::Spam))])
            .expect("learn");
        assert_eq!(out, [Outcome::Learned]);
        let after_one = dump(&s);
        let out = s
            .apply(None, &[op(1, &[1, 2, 3], Action::Learn(Class::Spam))])
            .expect("again");
        assert_eq!(out, [Outcome::AlreadyKnown]);
        assert_eq!(dump(&s), after_one);
        let out = s
            .apply(None, &[op(1, &[1, 2, 3], Action::Learn(Class::Ham))])
            .expect("flip");
        assert_eq!(out, [Outcome::Flipped]);
        let m = s.model(None).expect("model");
        assert_eq!(m.totals(), Totals { spam: 0, ham: 1 });
        let mut c = Vec::new();
        m.lookup(&[1, 9], &mut c).expect("lookup");
        assert_eq!(c, [Counts { spam: 0, ham: 1 }, Counts::default()]);
        assert!(s.check().expect("check").problems.is_empty());
        let out = s
            .apply(
                None,
                &[
                    op(1, &[1, 2, 3], Action::Forget),
                    op(7, &[1], Action::Forget),
                ],
            )
            .expect("forget");
        assert_eq!(out, [Outcome::Forgotten, Outcome::NotLearned]);
        assert_eq!(dump(&s), before);
    }

    #[test]
    fn long_reader_cache_follows_commits_by_other_connections() {
        let dir = std::env::temp_dir().join(format!("mailsift-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("c.db");
        let mut writer =
            Store::open(&path, OpenMode::ReadWrite, StoreOptions::default()).expect("writer");
        writer
            .apply(None, &[op(1, &[10, 11], Action::Learn(Class::Spam))])
            .expect("learn");
        let mut reader =
            Store::open(&path, OpenMode::ReadOnly, StoreOptions::default()).expect("reader");
        reader.tune_for_long_reader().expect("tune");
        let mut c = Vec::new();
        // 12 is absent: cached as zero counts, and must not stay zero once learned.
        reader
            .model(None)
            .expect("model")
            .lookup(&[10, 12, 10], &mut c)
            .expect("lookup");
        assert_eq!(
            c,
            [
                Counts { spam: 1, ham: 0 },
                Counts::default(),
                Counts { spam: 1, ham: 0 }
            ]
        );
        writer
            .apply(None, &[op(2, &[10, 12], Action::Learn(Class::Ham))])
            .expect("learn");
        reader
            .model(None)
            .expect("model")
            .lookup(&[12, 10, 11], &mut c)
            .expect("lookup");
        assert_eq!(
            c,
            [
                Counts { spam: 0, ham: 1 },
                Counts { spam: 1, ham: 1 },
                Counts { spam: 1, ham: 0 }
            ]
        );
        // Preloaded: absent tokens answer without a query, and a commit still invalidates.
        assert!(reader.preload_token_cache().expect("preload"));
        assert!(reader.token_cache_complete());
        reader
            .model(None)
            .expect("model")
            .lookup(&[12, 99, 11], &mut c)
            .expect("lookup");
        assert_eq!(
            c,
            [
                Counts { spam: 0, ham: 1 },
                Counts::default(),
                Counts { spam: 1, ham: 0 }
            ]
        );
        writer
            .apply(None, &[op(4, &[99], Action::Learn(Class::Spam))])
            .expect("learn");
        reader
            .model(None)
            .expect("model")
            .lookup(&[99], &mut c)
            .expect("lookup");
        assert_eq!(c, [Counts { spam: 1, ham: 0 }]);
        assert!(!reader.token_cache_complete(), "a commit makes it partial");
        // A user model reads past the cache, and the site rows it combines are current.
        writer
            .apply(Some("alice"), &[op(3, &[11], Action::Learn(Class::Ham))])
            .expect("alice");
        reader
            .model(Some("alice"))
            .expect("alice")
            .lookup(&[11], &mut c)
            .expect("lookup");
        assert_eq!(c, [Counts { spam: 1, ham: 1 }]);
        drop((reader, writer));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn users_combine_with_site_and_are_isolated() {
        let mut s = Store::open_in_memory(StoreOptions {
            user_weight: 2,
            ..StoreOptions::default()
        })
        .expect("open");
        s.apply(None, &[op(1, &[10, 11], Action::Learn(Class::Spam))])
            .expect("site");
        s.apply(Some("alice"), &[op(2, &[10], Action::Learn(Class::Ham))])
            .expect("alice");
        let mut c = Vec::new();
        let alice = s.model(Some("alice")).expect("alice model");
        assert_eq!(alice.totals(), Totals { spam: 1, ham: 2 });
        alice.lookup(&[10, 11], &mut c).expect("lookup");
        assert_eq!(c, [Counts { spam: 1, ham: 2 }, Counts { spam: 1, ham: 0 }]);
        let bob = s.model(Some("bob")).expect("bob model");
        assert_eq!(bob.totals(), Totals { spam: 1, ham: 0 });
        bob.lookup(&[10], &mut c).expect("lookup");
        assert_eq!(c, [Counts { spam: 1, ham: 0 }]);
        let stats = s.stats(Some("alice")).expect("stats");
        assert_eq!(stats.users.len(), 1);
        assert_eq!(stats.users[0].ham, 1);
        assert!(matches!(
            s.model(Some("../etc")),
            Err(Error::InvalidUser(_))
        ));
        assert!(s.check().expect("check").problems.is_empty());
    }

    #[test]
    fn batched_lookup_matches_memory_model_in_any_order() {
        // Hashes above i64::MAX are stored negative: key order differs from u64 order.
        let big = u64::MAX - 5;
        let ops = [
            op(1, &[3, 7, big, 1 << 63], Action::Learn(Class::Spam)),
            op(2, &[7, big, 42], Action::Learn(Class::Ham)),
        ];
        let mut s = Store::open_in_memory(StoreOptions {
            user_weight: 3,
            ..StoreOptions::default()
        })
        .expect("open");
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
        assert_eq!(got, want);
        assert_eq!(got[0], Counts { spam: 1, ham: 1 });
        s.model(Some("carol"))
            .expect("carol model")
            .lookup(&query, &mut got)
            .expect("lookup");
        assert_eq!(got[0], Counts { spam: 4, ham: 1 });
        assert_eq!(got[7], got[0]);
        assert_eq!(got[2], Counts { spam: 1, ham: 1 });
        s.model(None)
            .expect("model")
            .lookup(&[], &mut got)
            .expect("empty lookup");
        assert!(got.is_empty());
    }

    #[test]
    fn check_detects_tampering() {
        let mut s = Store::open_in_memory(StoreOptions::default()).expect("open");
        s.apply(None, &[op(1, &[1, 2, 3], Action::Learn(Class::Spam))])
            .expect("learn");
        s.conn
            .execute("UPDATE tokens SET spam = spam + 1 WHERE hash = 2", [])
            .expect("tamper");
        assert!(!s.check().expect("check").problems.is_empty());
    }

    #[test]
    fn on_disk_store_roundtrip_and_errors() {
        let dir = std::env::temp_dir().join(format!("mailsift-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/bayes.db");
        assert!(matches!(
            Store::open(&path, OpenMode::ReadOnly, StoreOptions::default()),
            Err(Error::Missing(_))
        ));
        {
            let mut s =
                Store::open(&path, OpenMode::ReadWrite, StoreOptions::default()).expect("create");
            s.apply(None, &[op(1, &[1], Action::Learn(Class::Ham))])
                .expect("learn");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "database must be owner-only");
        }
        let s = Store::open(&path, OpenMode::ReadOnly, StoreOptions::default()).expect("reopen");
        assert_eq!(
            s.model(None).expect("model").totals(),
            Totals { spam: 0, ham: 1 }
        );
        let garbage = dir.join("garbage.db");
        std::fs::write(&garbage, b"this is not sqlite at all, just some text padding it out..................................................").expect("write");
        assert!(matches!(
            Store::open(&garbage, OpenMode::ReadOnly, StoreOptions::default()),
            Err(Error::Corrupt { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
