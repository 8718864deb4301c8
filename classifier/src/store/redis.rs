//! The Redis (or Valkey) backend: one model shared by every host that points `--db` at the
//! same server.
//!
//! # URLs
//! `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`, `rediss://` (TLS), `redis+unix:///PATH[?db=DB]`
//! and `redis+cluster://HOST:PORT,HOST:PORT` (a Redis Cluster), each with an optional
//! `?prefix=NAME:` for the keys (default `mailsift:`), so several sites can share one server;
//! TLS settings (`ca=`, `cert=`, `key=`, `insecure=1`) and the cluster's routing are in
//! [`super::redis_conn`] and [`super::redis_cluster`].
//!
//! # Keys (schema 3)
//! Every model's keys share one hash tag, so in a Redis Cluster a model lives in one slot and
//! per-user models spread over the cluster: `{site}` for the site-wide model, `{u:NAME}` for
//! user NAME. With the prefix `P`:
//! - `P{site}:meta`: hash `tokenizer_version`, `schema`, `created_by` (and `migrating` while
//!   a migration from schema 2 runs, [`super::redis_migrate`]).
//! - `P{site}:users`: set of the users with a model.
//! - `P{M}:totals`: hash `spam`, `ham` (messages learned), after a `db prune` the pruned
//!   sums (`pruned_s`, `pruned_s_hi`, ...: [`super::redis_prune`]), and `lr_version`, the
//!   version of the token learner's state (see [`super::redis_lr`]).
//! - `P{M}:counts`: hash from the token's 8-byte big-endian hash to both its counts in one
//!   integer, `spam * 2^26 + ham` (the number of spam and ham messages containing it; see
//!   [`redis_io::pack`]); a token at zero is no field, so `HLEN` is the distinct-token count.
//!   Learning is one `HINCRBY` per token after merging a batch's deltas.
//! - `P{M}:ledger`: hash from the 16-byte digest to `"CLASS NTOKENS TOKENSUM LEARNED_AT"`
//!   (`CLASS` is `s` or `h`), then `" RULE,RULE,..."` when the message hit rules.
//! - `P{M}:lr`: the token learner's state (E25; absent: nothing learned yet, so no migration):
//!   the 8-byte token fields to their [`crate::logreg::Slot`] (8 bytes, big-endian), `bias`,
//!   and each learned message's 16-byte digest to the gradient of its step (4 bytes, an `f32`),
//!   read by the same `redis_read.lua` call as the counts and stepped in the same
//!   `redis_apply.lua` call (see [`super::redis_lr`]).
//!
//! Schema 2 kept the counts in two hashes, `P{M}:spam` and `P{M}:ham`, one field per token
//! and class, and the distinct-token count as `tokens` in the totals: one update per token
//! and class, plus a lookup in the other class's hash whenever a count appeared or went.
//! Schema 3 makes one update per token and no other lookup (10-15% less server work in bulk
//! training, BENCHMARKS.md "Redis store"). Opening a schema-2 store for writing migrates it
//! in place ([`super::redis_migrate`]).
//!
//! # One round trip per message
//! Classifying reads both models' totals and every token's counts with one `EVALSHA` of
//! `redis_read.lua` (reloaded with `SCRIPT LOAD` on `NOSCRIPT`); a store opened with
//! [`Redis::open_lazy`] (one-off `classify`) reads and checks its metadata (schema, tokenizer
//! version) in that same call, so that one call is all a classify sends. A batch of learn/forget
//! operations reads the ledger (`HMGET`, pipelined with the user's registration) and, with the
//! token learner on, a copy of its state over the batch's tokens (one more round trip,
//! [`super::redis_lr`]), plans the writes ([`crate::ledger::plan`]) and applies them with one
//! `EVALSHA` of `redis_apply.lua`, which first checks that the ledger still holds what the
//! plan was made from: if another host changed one of those entries meanwhile, nothing is
//! written and the batch is planned again. The learner's steps go in the same call (written
//! as the client took them if the model is still at the copy's version, else taken by the
//! script). So two hosts learning at once never double-count or lose a count or a learner
//! step, and a server killed mid-batch leaves every script call applied whole or not at all.
//! A batch too large for one call is cut into chunks whose calls are pipelined
//! ([`super::redis_apply`]).
//!
//! # Expiry and memory
//! Nothing expires by itself: a Redis TTL covers whole keys (a model), not the fields of a hash.
//! `db prune` removes rare tokens on demand and keeps `db check` exact ([`super::prune`]). The
//! pruned sums are fields of `P{M}:totals` ([`super::redis_prune`]). Memory per million tokens
//! is measured in BENCHMARKS.md ("Redis store"); run the server with `maxmemory-policy
//! noeviction`, so that a full server refuses training (reported as [`Error::RedisFull`],
//! nothing of the refused batch written) instead of evicting parts of a model.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use redis::Script;

use crate::bayes::Counts;
use crate::error::{Error, Result};
use crate::ledger::{Class, Digest, LearnOp, Outcome};
use crate::tokenize::TOKENIZER_VERSION;

use super::backend::{Backend, ModelDump, ReadTotals};
use super::redis_conn::{self, Conn, Target};
use super::redis_io::{self, Keys};
use super::{OpenMode, StoreOptions, UserStats};

/// The key layout version this build writes and reads. 2 (issue 11): a ledger entry may end
/// with the rule pseudo-tokens learned with it (see `redis_io::ledger_value`); a version 1
/// store's entries have none and read as such. 3 (issue 15): both counts of a token in one
/// field of one hash per model (see the module docs). A store of version 1 or 2 is migrated
/// in place when opened for writing; until then this build reads it as it is.
pub const SCHEMA_VERSION: i64 = 3;

/// The key prefix when the URL names none.
pub const DEFAULT_PREFIX: &str = "mailsift:";

pub use super::redis_conn::is_url;

/// An open Redis store.
pub struct Redis {
    target: Target,
    /// Dropped after a connection-level error, reconnected on the next command.
    conn: RefCell<Option<Conn>>,
    location: PathBuf,
    pub(super) prefix: String,
    timeout: Duration,
    pub(super) read_script: Script,
    pub(super) apply_script: Script,
    /// Whether the tokenizer version is checked here rather than by [`super::Store::open`]
    /// ([`Redis::open_lazy`]).
    lazy: bool,
    /// The metadata once read and accepted; classify then needs no second metadata command.
    meta: RefCell<Option<Meta>>,
    /// Token occurrences per script call when applying a batch
    /// ([`super::redis_apply::CHUNK_TOKENS`]; tests make it small).
    pub(super) chunk_tokens: std::cell::Cell<usize>,
    /// Whether a call may take the token learner's fast path (the client's steps written as
    /// they are, `redis_apply_lr.lua`); tests turn it off to check the script's own steps.
    pub(super) lr_fast: std::cell::Cell<bool>,
    /// The client's copy of the site-wide token learner's state after the last batch
    /// ([`super::redis_lr::keep`]).
    pub(super) lr_kept: RefCell<Option<super::redis_lr::Mirror>>,
}

/// The store's metadata as read and accepted.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    /// The schema version (at most [`SCHEMA_VERSION`]).
    pub schema: i64,
    /// The tokenizer version recorded, as stored.
    pub tokenizer: Option<String>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("location", &self.location)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((cred, host)) if !cred.is_empty() => {
            let user = cred.split_once(':').map_or(cred, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

impl Redis {
    /// Connects to the server named by `url` and checks (or, read-write, creates) the store's
    /// metadata.
    pub fn open(url: &str, mode: OpenMode, options: &StoreOptions) -> Result<Redis> {
        let store = Redis::connect(url, false, options)?;
        store.init(mode)?;
        Ok(store)
    }

    /// Opens the store for reading without sending anything yet: the metadata is read and
    /// checked (schema, tokenizer version: the errors [`Redis::open`] and
    /// [`super::Store::open`] would give) with the first read of counts, in the same script
    /// call, or before any other command. A one-off classify so sends one command.
    pub fn open_lazy(url: &str, options: &StoreOptions) -> Result<Redis> {
        Redis::connect(url, true, options)
    }

    fn connect(url: &str, lazy: bool, options: &StoreOptions) -> Result<Redis> {
        let location = PathBuf::from(redact(url));
        let fail = |detail: String| Error::Redis {
            location: location.display().to_string(),
            detail,
        };
        let redis_conn::Endpoint { target, prefix } =
            redis_conn::parse(url, options.busy_timeout).map_err(fail)?;
        let store = Redis {
            target,
            conn: RefCell::new(None),
            location,
            prefix,
            timeout: options.busy_timeout,
            read_script: Script::new(include_str!("redis_read.lua")),
            apply_script: Script::new(concat!(
                include_str!("redis_apply.lua"),
                include_str!("redis_apply_lr.lua")
            )),
            lazy,
            meta: RefCell::new(None),
            chunk_tokens: std::cell::Cell::new(super::redis_apply::CHUNK_TOKENS),
            lr_fast: std::cell::Cell::new(true),
            lr_kept: RefCell::new(None),
        };
        Ok(store)
    }

    fn init(&self, mode: OpenMode) -> Result<()> {
        let meta = self.keys(None).meta;
        let read = || -> Result<(Option<i64>, Option<String>, Option<String>)> {
            self.run(|c| {
                redis::cmd("HMGET")
                    .arg(&meta)
                    .arg("schema")
                    .arg("tokenizer_version")
                    .arg("migrating")
                    .query(c)
            })
        };
        let mut found = read()?;
        if found.0.is_none() && mode == OpenMode::ReadWrite {
            // Created by whichever host gets there first.
            self.run(|c| {
                redis::pipe()
                    .atomic()
                    .cmd("HSETNX")
                    .arg(&meta)
                    .arg("tokenizer_version")
                    .arg(TOKENIZER_VERSION)
                    .ignore()
                    .cmd("HSETNX")
                    .arg(&meta)
                    .arg("created_by")
                    .arg(concat!("mailsift ", env!("CARGO_PKG_VERSION")))
                    .ignore()
                    .cmd("HSETNX")
                    .arg(&meta)
                    .arg("schema")
                    .arg(SCHEMA_VERSION)
                    .ignore()
                    .query::<()>(c)
            })?;
            found = read()?;
        }
        let (schema, tokenizer, migrating) = found;
        let accepted = self.accept(schema, tokenizer)?;
        if mode == OpenMode::ReadWrite && (accepted.schema < SCHEMA_VERSION || migrating.is_some())
        {
            self.migrate()?;
        }
        Ok(())
    }

    /// Checks the metadata read from the server and keeps it. `schema` unset: an empty
    /// store.
    pub(super) fn accept(&self, schema: Option<i64>, tokenizer: Option<String>) -> Result<Meta> {
        let schema = match schema {
            None => return Err(Error::Empty(self.location.clone())),
            Some(v) if v > SCHEMA_VERSION => {
                return Err(Error::SchemaTooNew {
                    path: self.location.clone(),
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(v) => v,
        };
        if self.lazy {
            // What `Store::open` checks for the other ways of opening.
            match tokenizer.as_deref().and_then(|t| t.parse::<u32>().ok()) {
                Some(v) if super::readable_tokenizer(v) => {}
                Some(found) => {
                    return Err(Error::TokenizerMismatch {
                        path: self.location.clone(),
                        found,
                        expected: TOKENIZER_VERSION,
                    });
                }
                None => {
                    return Err(Error::Corrupt {
                        path: self.location.clone(),
                        detail: "no tokenizer version recorded".into(),
                    });
                }
            }
        }
        let meta = Meta { schema, tokenizer };
        *self.meta.borrow_mut() = Some(meta.clone());
        Ok(meta)
    }

    /// The accepted metadata, read now if it was not yet.
    pub(super) fn checked(&self) -> Result<Meta> {
        if let Some(m) = self.meta.borrow().clone() {
            return Ok(m);
        }
        let meta = self.keys(None).meta;
        let (schema, tokenizer): (Option<i64>, Option<String>) = self.run(|c| {
            redis::cmd("HMGET")
                .arg(&meta)
                .arg("schema")
                .arg("tokenizer_version")
                .query(c)
        })?;
        self.accept(schema, tokenizer)
    }

    /// Whether the store is a Redis Cluster.
    pub(super) fn is_cluster(&self) -> bool {
        self.target.is_cluster()
    }

    /// Whether the metadata still has to be read (and may ride the next read script).
    pub(super) fn meta_pending(&self) -> bool {
        self.meta.borrow().is_none()
    }

    /// The keys of one model.
    pub(super) fn keys(&self, user: Option<&str>) -> Keys {
        Keys::new(&self.prefix, user)
    }

    /// Runs `f` on the connection (connecting first if needed); a connection-level error drops
    /// the connection so that the next call reconnects. A `BUSY` reply (another host's script
    /// ran past the server's `busy-reply-threshold`, and the server refuses commands until it
    /// ends) runs `f` again after a pause, for as long as the store's busy timeout allows, as
    /// SQLite waits for a locked database: a refused command was not executed, and a learn
    /// sent again is checked against the ledger by its script.
    ///
    /// A connection kept from before that turns out to be closed (the server restarted, or
    /// dropped it as idle under its `timeout` setting, or a proxy did) is opened again and `f`
    /// run once more on it: a resident server (`serve`, the milter, spamd) otherwise classified
    /// the first message after every such drop by the rules alone. Every `f` is a whole
    /// exchange that may run twice (a read, or a learn, which its script checks against the
    /// ledger), except the pipelined script calls' halves, which use [`Redis::run_in_step`].
    /// A timeout is not tried again: the store's timeout bounds the wait.
    pub(super) fn run<T>(&self, f: impl FnMut(&mut Conn) -> redis::RedisResult<T>) -> Result<T> {
        self.run_with(true, f)
    }

    /// [`Redis::run`] for half of an exchange (a call sent now and answered later on the same
    /// connection): never run again on another connection.
    pub(super) fn run_in_step<T>(
        &self,
        f: impl FnMut(&mut Conn) -> redis::RedisResult<T>,
    ) -> Result<T> {
        self.run_with(false, f)
    }

    fn run_with<T>(
        &self,
        mut again: bool,
        mut f: impl FnMut(&mut Conn) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let start = std::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        let mut slot = self.conn.borrow_mut();
        loop {
            // A connection opened here: its first command gets what is left of the timeout,
            // so that connecting and the first answer together take no longer than it.
            let fresh = slot.is_none();
            if fresh {
                let conn = self
                    .target
                    .connect(self.timeout, start + self.timeout)
                    .map_err(|e| self.error(&e))?;
                *slot = Some(conn);
            }
            let Some(conn) = slot.as_mut() else {
                return Err(self.error_text("no connection".into()));
            };
            let mut result = f(conn);
            let kept = !fresh && matches!(conn, Conn::Single(_));
            if fresh {
                result = result.map_err(|e| self.target.first_answer_error(e, self.timeout));
                // Back to the whole timeout for the commands after it; a connection that
                // cannot be set is dropped (the next call connects afresh).
                if conn.set_wait(self.timeout).is_err() {
                    *slot = None;
                }
            }
            match result {
                Ok(v) => return Ok(v),
                Err(e) if busy(&e) && start.elapsed() + pause < self.timeout => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Err(e) if again && kept && closed(&e) => {
                    *slot = None;
                    again = false;
                }
                Err(e) => {
                    if closed(&e) || e.is_timeout() {
                        *slot = None;
                    }
                    return Err(self.error(&e));
                }
            }
        }
    }

    /// True when the connection was dropped by the last command's error (closed by the
    /// server or on the way, or no answer within the timeout): the next command connects anew.
    pub(super) fn lost(&self) -> bool {
        self.conn.borrow().is_none()
    }

    pub(super) fn error(&self, e: &redis::RedisError) -> Error {
        if e.code() == Some("OOM") {
            return Error::RedisFull {
                location: self.location.display().to_string(),
            };
        }
        let mut detail = e.to_string();
        if e.is_timeout() {
            detail = format!("no answer within {} ms", self.timeout.as_millis());
        } else if detail.contains("(os error 11)") {
            // A read that timed out, as the cluster client reports it (EAGAIN on a socket
            // with a receive timeout).
            detail = format!("{detail}: no answer within {} ms", self.timeout.as_millis());
        }
        self.error_text(redis_conn::with_hint(e, detail))
    }

    pub(super) fn error_text(&self, detail: String) -> Error {
        Error::Redis {
            location: self.location.display().to_string(),
            detail,
        }
    }

    pub(super) fn corrupt(&self, detail: String) -> Error {
        Error::Corrupt {
            path: self.location.clone(),
            detail,
        }
    }

    pub(super) fn model_keys(&self) -> Result<Vec<Keys>> {
        let mut v = vec![self.keys(None)];
        for u in self.users()? {
            v.push(self.keys(Some(&u)));
        }
        Ok(v)
    }
}

impl Backend for Redis {
    fn location(&self) -> &Path {
        &self.location
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        let accepted = self.checked()?;
        if key == "tokenizer_version" {
            return Ok(accepted.tokenizer);
        }
        let meta = self.keys(None).meta;
        self.run(|c| redis::cmd("HGET").arg(&meta).arg(key).query(c))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        let meta = self.keys(None).meta;
        self.run(|c| {
            redis::cmd("HSET")
                .arg(&meta)
                .arg(key)
                .arg(value)
                .query::<()>(c)
        })?;
        if key == "tokenizer_version" {
            if let Some(m) = self.meta.borrow_mut().as_mut() {
                m.tokenizer = Some(value.to_owned());
            }
        }
        Ok(())
    }

    fn schema_version(&self) -> Result<i64> {
        Ok(self.checked()?.schema)
    }

    fn ledger_len(&self) -> Result<u64> {
        let keys = self.model_keys()?;
        let lens: Vec<u64> = self.run(|c| {
            let mut p = redis::pipe();
            for k in &keys {
                p.cmd("HLEN").arg(&k.ledger);
            }
            p.query(c)
        })?;
        Ok(lens.iter().sum())
    }

    fn totals(&self, user: Option<&str>) -> Result<ReadTotals> {
        let mut none = [];
        let t = self.read(user, &[], &mut [], &mut none, None)?;
        Ok(t.unwrap_or_default())
    }

    fn read(
        &self,
        user: Option<&str>,
        hashes: &[u64],
        site: &mut [Counts],
        mine: &mut [Counts],
        mut lr: Option<&mut crate::logreg::LrRead>,
    ) -> Result<Option<ReadTotals>> {
        if let Some(lr) = lr.as_deref_mut() {
            lr.reset(hashes.len(), user.is_some());
        }
        let t = match user {
            // Two hash tags, two cluster slots: one script call per model.
            Some(u) if self.target.is_cluster() => {
                let s = self.read_models(&[None], hashes, &mut [site], lr.as_deref_mut())?;
                let m = self.read_models(&[Some(u)], hashes, &mut [mine], lr)?;
                ReadTotals {
                    site: s[0],
                    user: m[0],
                }
            }
            Some(u) => {
                let t = self.read_models(&[None, Some(u)], hashes, &mut [site, mine], lr)?;
                ReadTotals {
                    site: t[0],
                    user: t[1],
                }
            }
            None => {
                let bulk = lr.is_none() && hashes.len() >= redis_io::BULK_MIN;
                let known = if bulk && !self.meta_pending() {
                    redis_io::read_bulk(self, &self.keys(None), hashes, site)?
                } else {
                    None
                };
                let site = match known {
                    Some(t) => t,
                    None => self.read_models(&[None], hashes, &mut [site], lr)?[0],
                };
                ReadTotals {
                    site,
                    user: Default::default(),
                }
            }
        };
        Ok(Some(t))
    }

    fn learned_class(&self, user: Option<&str>, digest: &Digest) -> Result<Option<Class>> {
        self.checked()?;
        let ledger = self.keys(user).ledger;
        let v: Option<Vec<u8>> =
            self.run(|c| redis::cmd("HGET").arg(&ledger).arg(&digest[..]).query(c))?;
        match v {
            None => Ok(None),
            Some(v) => redis_io::parse_ledger(&v)
                .map(|e| Some(e.class))
                .ok_or_else(|| self.corrupt(format!("unreadable ledger entry in {ledger}"))),
        }
    }

    fn apply(&mut self, user: Option<&str>, ops: &[LearnOp]) -> Result<Vec<Outcome>> {
        self.checked()?;
        self.apply_ops(user, ops)
    }

    fn users(&self) -> Result<Vec<String>> {
        self.checked()?;
        let users = self.keys(None).users;
        let mut v: Vec<String> = self.run(|c| redis::cmd("SMEMBERS").arg(&users).query(c))?;
        v.sort();
        Ok(v)
    }

    fn user_stats(&self, only: Option<&str>) -> Result<Vec<UserStats>> {
        let names: Vec<Option<String>> = match only {
            Some(u) => vec![Some(u.to_owned())],
            None => std::iter::once(None)
                .chain(self.users()?.into_iter().map(Some))
                .collect(),
        };
        self.checked()?;
        let keys: Vec<Keys> = names.iter().map(|n| self.keys(n.as_deref())).collect();
        type Row = ((Option<u64>, Option<u64>, Option<u64>), u64, u64);
        let rows: Vec<Row> = self.run(|c| {
            let mut p = redis::pipe();
            for k in &keys {
                p.cmd("HMGET")
                    .arg(&k.totals)
                    .arg("spam")
                    .arg("ham")
                    .arg("tokens");
                p.cmd("HLEN").arg(&k.counts);
                p.cmd("EXISTS").arg(&k.v2_spam).arg(&k.v2_ham);
            }
            let flat: Vec<redis::Value> = p.query(c)?;
            flat.chunks(3)
                .map(|r| {
                    Ok((
                        redis::from_redis_value(r[0].clone())?,
                        redis::from_redis_value(r[1].clone())?,
                        redis::from_redis_value(r[2].clone())?,
                    ))
                })
                .collect()
        })?;
        Ok(names
            .into_iter()
            .zip(rows)
            .map(|(n, ((s, h, t), len, legacy))| UserStats {
                name: n.unwrap_or_default(),
                spam: s.unwrap_or(0),
                ham: h.unwrap_or(0),
                // Schema 2 kept the count in the totals; while its hashes are being moved
                // (a migration under way) that is the better figure.
                tokens: if legacy > 0 {
                    len.max(t.unwrap_or(0))
                } else {
                    len
                },
            })
            .collect())
    }

    fn bytes(&self) -> Result<u64> {
        let keys = self.model_keys()?;
        let sizes: Vec<Option<u64>> = self.run(|c| {
            let mut p = redis::pipe();
            for k in &keys {
                for key in k.model() {
                    p.cmd("MEMORY").arg("USAGE").arg(key);
                }
            }
            p.query(c)
        })?;
        Ok(sizes.into_iter().flatten().sum())
    }

    fn integrity(&self) -> Result<Vec<String>> {
        Ok(match self.meta("tokenizer_version")? {
            Some(_) => Vec::new(),
            None => vec![format!("{} has no tokenizer version", self.keys(None).meta)],
        })
    }

    fn dump(&self, user: Option<&str>) -> Result<ModelDump> {
        self.checked()?;
        redis_io::dump(self, user)
    }

    fn load(&mut self, dump: &ModelDump) -> Result<()> {
        self.checked()?;
        redis_io::load(self, dump)
    }

    fn prune(&mut self, user: Option<&str>, max_count: u32) -> Result<u64> {
        self.checked()?;
        self.prune_model(user, max_count)
    }

    fn reset(&mut self, user: Option<&str>) -> Result<()> {
        self.checked()?;
        let k = self.keys(user);
        self.run(|c| redis::cmd("DEL").arg(&k.model()[..]).query(c))
    }
}

/// A connection found closed by the other side (end of file, reset, broken pipe), as opposed
/// to a server that does not answer (a timeout) or refuses a command.
fn closed(e: &redis::RedisError) -> bool {
    !e.is_timeout() && (e.is_connection_dropped() || e.is_io_error())
}

/// True when the server refused a command (or a pipeline's) with `BUSY`: a script of another
/// client is still running past the server's busy threshold.
fn busy(e: &redis::RedisError) -> bool {
    e.code() == Some("BUSY")
        || e.clone()
            .into_server_errors()
            .is_some_and(|items| items.iter().any(|(_, err)| err.code() == "BUSY"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_prefixes_and_passwords() {
        assert_eq!(redact("redis://:s3cret@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact("redis://bob:s3cret@h/0"), "redis://bob:***@h/0");
        let err = Redis::open(
            "redis://:s3cret@127.0.0.1:1/0?prefix={x}",
            OpenMode::ReadOnly,
            &StoreOptions::default(),
        );
        match err {
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains("braces") && !text.contains("s3cret"),
                    "{text}"
                );
            }
            Ok(_) => panic!("a prefix with braces is refused"),
        }
    }
}
