//! The cache of site-wide token counts, and the token learner's slots beside them (E28), that
//! long-lived SQLite readers (the resident front ends) keep, either one per connection or one
//! per process shared by every connection to a store.
//!
//! A cache is valid for one `PRAGMA data_version` value: that changes when another connection
//! commits (training), and the cache then starts over, so results stay those of a fresh
//! connection. `data_version` values are per connection and cannot be compared across
//! connections, so a [`SharedTokenCache`] keeps one connection of its own that only watches
//! the version, and every reader sharing it asks that one.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use crate::bayes::Counts;
use crate::error::{Error, Result};
use crate::logreg::Slot;
use crate::model::TokenMap;

/// Entries the token cache holds before it starts over (24 bytes each plus the table: about
/// 56 MiB at most). The site model of the SpamAssassin corpus has 666k tokens.
pub(super) const TOKEN_CACHE_MAX: usize = 1 << 20;

/// One cached token: its counts and its learner slot (empty in a store without the learner's
/// column), read from the same row.
pub(super) type Cached = (Counts, Slot);

/// Reads the counts (and slots, when the slice is not empty) of missing tokens from the store.
pub(super) type Query<'a> = dyn FnOnce(&[u64], &mut [Counts], &mut [Slot]) -> Result<()> + 'a;

/// Token counts read from the site-wide model, valid while `version` is current.
#[derive(Debug, Default)]
pub(super) struct TokenCache {
    version: i64,
    site: TokenMap<Cached>,
    /// The whole site-wide table is in `site` (see [`TokenCache::fill`]): a token missing from
    /// it is absent from the store, no query needed.
    pub(super) complete: bool,
}

/// The tokens a probe did not find: their hashes and their positions in the lookup.
pub(super) struct Missing {
    pub(super) hashes: Vec<u64>,
    at: Vec<usize>,
}

impl TokenCache {
    /// Starts over when the store changed since the cache was filled.
    fn check(&mut self, version: i64) {
        if self.version != version {
            self.site.clear();
            self.version = version;
            self.complete = false;
        }
    }

    /// Writes the cached counts of `hashes` into `out` (and their slots into `lr`, unless it
    /// is empty); `None` when nothing needs a query (all found, or the table is complete, so
    /// the rest are absent: `out` and `lr` keep zeros).
    fn probe(&self, hashes: &[u64], out: &mut [Counts], lr: &mut [Slot]) -> Option<Missing> {
        let mut missing = Missing {
            hashes: Vec::new(),
            at: Vec::new(),
        };
        for (i, h) in hashes.iter().enumerate() {
            match self.site.get(h) {
                Some((c, s)) => {
                    out[i] = *c;
                    if let Some(o) = lr.get_mut(i) {
                        *o = *s;
                    }
                }
                None => {
                    missing.hashes.push(*h);
                    missing.at.push(i);
                }
            }
        }
        (!missing.hashes.is_empty() && !self.complete).then_some(missing)
    }

    /// Keeps what a query found for the missing tokens (absent ones too, as zeros: most of a
    /// message's rare tokens are absent).
    fn keep(&mut self, missing: &Missing, found: &[Cached]) {
        if self.site.len() + missing.hashes.len() > TOKEN_CACHE_MAX {
            self.site.clear();
            self.complete = false;
        }
        for (h, c) in missing.hashes.iter().zip(found) {
            self.site.insert(*h, *c);
        }
    }

    /// Replaces the contents with the whole site-wide table as of `version`.
    pub(super) fn fill(&mut self, version: i64, site: TokenMap<Cached>) {
        *self = TokenCache {
            version,
            site,
            complete: true,
        };
    }

    /// A lookup through this cache, which its owner alone uses: `version` is the owner's
    /// current `data_version`, `query` reads missing counts from the store.
    pub(super) fn lookup(
        &mut self,
        version: i64,
        hashes: &[u64],
        out: &mut [Counts],
        lr: &mut [Slot],
        query: Box<Query<'_>>,
    ) -> Result<()> {
        self.check(version);
        let Some(missing) = self.probe(hashes, out, lr) else {
            return Ok(());
        };
        let found = answer(&missing, out, lr, query)?;
        self.keep(&missing, &found);
        Ok(())
    }
}

/// Queries the missing tokens (counts and slots: the cache keeps both) and writes their
/// counts into `out`, their slots into `lr` (unless it is empty).
fn answer(
    missing: &Missing,
    out: &mut [Counts],
    lr: &mut [Slot],
    query: Box<Query<'_>>,
) -> Result<Vec<Cached>> {
    let n = missing.hashes.len();
    let (mut counts, mut slots) = (vec![Counts::default(); n], vec![Slot::default(); n]);
    query(&missing.hashes, &mut counts, &mut slots)?;
    for ((c, s), &i) in counts.iter().zip(&slots).zip(&missing.at) {
        out[i] = *c;
        if let Some(o) = lr.get_mut(i) {
            *o = *s;
        }
    }
    Ok(counts.into_iter().zip(slots).collect())
}

/// Reads the whole site-wide token table through `tx` (a read transaction, so the count and
/// the rows are one snapshot), with the learner's slots when `with_lr` (the store has the
/// column); `None` when it has more rows than a cache holds.
pub(super) fn read_site_table(tx: &Connection, with_lr: bool) -> Result<Option<TokenMap<Cached>>> {
    let rows: i64 = tx.query_row("SELECT count(*) FROM tokens WHERE user_id = 0", [], |r| {
        r.get(0)
    })?;
    if rows as u64 > TOKEN_CACHE_MAX as u64 {
        return Ok(None);
    }
    let mut site = TokenMap::default();
    site.reserve(rows as usize);
    let mut stmt = tx.prepare(if with_lr {
        "SELECT hash, spam, ham, lr FROM tokens WHERE user_id = 0"
    } else {
        "SELECT hash, spam, ham, NULL FROM tokens WHERE user_id = 0"
    })?;
    let mut q = stmt.query([])?;
    while let Some(r) = q.next()? {
        let slot = r
            .get::<_, Option<i64>>(3)?
            .map_or_else(Slot::default, |b| Slot::from_bits(super::sqlite::i2h(b)));
        site.insert(
            super::sqlite::i2h(r.get(0)?),
            (
                Counts {
                    spam: r.get::<_, i64>(1)? as u32,
                    ham: r.get::<_, i64>(2)? as u32,
                },
                slot,
            ),
        );
    }
    Ok(Some(site))
}

/// One token cache for every long-lived reader of one SQLite store in a process (the resident
/// front ends: `serve`'s workers, its spamd connections, the milter's workers), instead of one
/// per connection: the site model's counts are held once (17 MiB for the SpamAssassin corpus's
/// 666k tokens) whatever the number of workers. Attach it with [`super::Store::share_token_cache`].
///
/// Readers probe it under a lock; the queries for tokens it lacks, and the reads that fill it,
/// run outside the lock, and their results are kept only if the store did not change meanwhile.
pub struct SharedTokenCache {
    state: Mutex<Shared>,
}

struct Shared {
    /// Used only for `PRAGMA data_version`: the one version every reader compares with.
    watch: Connection,
    cache: TokenCache,
}

impl std::fmt::Debug for SharedTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedTokenCache")
    }
}

impl Shared {
    fn version(&self) -> Result<i64> {
        Ok(self
            .watch
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }
}

impl SharedTokenCache {
    /// An empty cache for the SQLite store at `path` (opens a read-only connection to watch it).
    pub fn open(path: &Path) -> Result<Arc<SharedTokenCache>> {
        let watch = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Arc::new(SharedTokenCache {
            state: Mutex::new(Shared {
                watch,
                cache: TokenCache::default(),
            }),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the cache holds the whole site-wide table, as of the last lookup.
    pub fn complete(&self) -> bool {
        self.lock().cache.complete
    }

    /// A lookup for a reader: `query` reads missing counts through the reader's connection.
    pub(super) fn lookup(
        &self,
        hashes: &[u64],
        out: &mut [Counts],
        lr: &mut [Slot],
        query: Box<Query<'_>>,
    ) -> Result<()> {
        let (version, missing) = {
            let mut state = self.lock();
            let version = state.version()?;
            state.cache.check(version);
            match state.cache.probe(hashes, out, lr) {
                Some(m) => (version, m),
                None => return Ok(()),
            }
        };
        // The query's snapshot is at least as new as `version`; if the store changed meanwhile
        // the version has moved on and what it found is not kept.
        let found = answer(&missing, out, lr, query)?;
        let mut state = self.lock();
        if state.cache.version == version {
            state.cache.keep(&missing, &found);
        }
        Ok(())
    }

    /// Fills the cache with the whole site-wide table, read through `conn` (a reader's
    /// connection) outside the lock. False when the table is too big or the store changed
    /// while it was read (nothing kept).
    pub(super) fn fill(&self, conn: &Connection, with_lr: bool) -> Result<bool> {
        let version = self.lock().version()?;
        let tx = conn.unchecked_transaction()?;
        let Some(site) = read_site_table(&tx, with_lr)? else {
            return Ok(false);
        };
        tx.commit()?;
        let mut state = self.lock();
        if state.version()? != version {
            return Ok(false);
        }
        state.cache.fill(version, site);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{OpenMode, Store, StoreOptions};
    use crate::{Action, Class, Engine, LearnOp};

    fn learn(store: &mut Store, engine: &Engine, text: &str, class: Class) {
        let a = engine.analyze(text.as_bytes());
        let op: LearnOp = a.op(Action::Learn(class));
        store.apply(None, &[op]).expect("learn");
    }

    fn counts(store: &Store, engine: &Engine, text: &str) -> Vec<Counts> {
        use crate::TokenCounts;
        let hashes = engine.analyze(text.as_bytes()).tokens.hashes;
        let mut out = Vec::new();
        store
            .model(None)
            .expect("model")
            .lookup(&hashes, &mut out)
            .expect("lookup");
        out
    }

    #[test]
    fn readers_share_one_cache_and_see_every_commit() {
        let dir =
            std::env::temp_dir().join(format!("mailsift-shared-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let db = dir.join("m.db");
        let engine = Engine::new();
        let opts = StoreOptions::default();
        let mut writer = Store::open(&db, OpenMode::ReadWrite, opts.clone()).expect("writer");
        let spam = "Subject: cheap pills\n\nbuy cheap pills now casino\n";
        let ham = "Subject: meeting\n\nagenda for the project meeting\n";
        learn(&mut writer, &engine, spam, Class::Spam);
        learn(&mut writer, &engine, ham, Class::Ham);
        let shared = SharedTokenCache::open(&db).expect("shared cache");
        let open_reader = || {
            let mut r = Store::open(&db, OpenMode::ReadOnly, opts.clone()).expect("reader");
            r.share_token_cache(&shared).expect("share");
            r
        };
        let (a, b) = (open_reader(), open_reader());
        assert!(!b.token_cache_complete());
        // One reader fills it; the other finds it filled: one copy for both.
        assert!(a.preload_token_cache().expect("preload"));
        assert!(
            b.token_cache_complete(),
            "the second reader has its own cache"
        );
        let fresh = |text: &str| {
            let r = Store::open(&db, OpenMode::ReadOnly, opts.clone()).expect("fresh reader");
            counts(&r, &engine, text)
        };
        assert_eq!(counts(&b, &engine, spam), fresh(spam));
        // Training by another connection: both readers see it at once, exactly.
        learn(
            &mut writer,
            &engine,
            spam.replace("pills", "meds").as_str(),
            Class::Spam,
        );
        assert_eq!(counts(&a, &engine, spam), fresh(spam));
        assert!(!b.token_cache_complete(), "a commit makes it partial");
        assert_eq!(counts(&b, &engine, spam), fresh(spam));
        assert_eq!(counts(&b, &engine, ham), fresh(ham));
        learn(&mut writer, &engine, ham, Class::Spam); // a flip
        assert_eq!(counts(&b, &engine, ham), fresh(ham));
        assert_eq!(counts(&a, &engine, ham), fresh(ham));
        drop((a, b, writer));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
