//! `db prune` on SQLite, and the pruned sums it keeps (see [`super::prune`]).
//!
//! The pruned sums of the model with user id `ID` are the metadata entry `pruned:ID`, whose
//! value is `"SPAM_OCCURRENCES SPAM_CHECKSUM HAM_OCCURRENCES HAM_CHECKSUM"`; no entry means
//! nothing was pruned. They live in `meta` so that the schema (and its version) stays as it is.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{Error, Result};

use super::backend::{Pruned, PrunedSums};
use super::sqlite::{Sqlite, i2h, map_write_error};

fn key(id: i64) -> String {
    format!("pruned:{id}")
}

fn parse(v: &str) -> Option<Pruned> {
    let mut it = v.split(' ');
    let mut sums = || -> Option<PrunedSums> {
        Some(PrunedSums {
            occurrences: it.next()?.parse().ok()?,
            checksum: it.next()?.parse().ok()?,
        })
    };
    let spam = sums()?;
    let ham = sums()?;
    Some(Pruned { spam, ham })
}

/// The pruned sums of model `id` (zero when nothing was pruned).
pub(super) fn read(conn: &Connection, id: i64, path: &std::path::Path) -> Result<Pruned> {
    let v: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key(id)], |r| r.get(0))
        .optional()?;
    match v {
        None => Ok(Pruned::default()),
        Some(v) => parse(&v).ok_or_else(|| Error::Corrupt {
            path: path.to_owned(),
            detail: format!("unreadable metadata entry {}: {v:?}", key(id)),
        }),
    }
}

/// Replaces the pruned sums of model `id` (removing the entry when they are zero).
pub(super) fn write(conn: &Connection, id: i64, p: &Pruned) -> rusqlite::Result<()> {
    if p.is_empty() {
        conn.execute("DELETE FROM meta WHERE key = ?1", [key(id)])?;
    } else {
        let v = format!(
            "{} {} {} {}",
            p.spam.occurrences, p.spam.checksum, p.ham.occurrences, p.ham.checksum
        );
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![key(id), v],
        )?;
    }
    Ok(())
}

/// Adds `change` to the pruned sums of model `id`, inside the caller's transaction. A
/// malformed entry is replaced (the consistency check then reports the difference).
pub(super) fn add(conn: &Connection, id: i64, change: &Pruned) -> rusqlite::Result<()> {
    let v: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key(id)], |r| r.get(0))
        .optional()?;
    let mut p = v.as_deref().and_then(parse).unwrap_or_default();
    for (to, from) in [(&mut p.spam, change.spam), (&mut p.ham, change.ham)] {
        to.occurrences += from.occurrences;
        to.checksum = to.checksum.wrapping_add(from.checksum);
    }
    write(conn, id, &p)
}

impl Sqlite {
    /// [`super::Backend::prune`]: one write transaction for the whole model.
    pub(super) fn prune_model(&mut self, user: Option<&str>, max_count: u32) -> Result<u64> {
        let Some(id) = self.user_id(user)? else {
            return Ok(0);
        };
        let timeout_ms = self.options.busy_timeout.as_millis() as u64;
        let path = self.path.clone();
        let map = |e: rusqlite::Error| map_write_error(e, &path, timeout_ms);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map)?;
        let removed = (|| -> rusqlite::Result<u64> {
            let mut change = Pruned::default();
            let mut n = 0u64;
            {
                let mut stmt = tx.prepare(
                    "SELECT hash, spam, ham FROM tokens WHERE user_id = ?1 AND spam + ham <= ?2",
                )?;
                let mut rows = stmt.query(params![id, max_count])?;
                while let Some(r) = rows.next()? {
                    let hash = i2h(r.get(0)?);
                    change.spam.add(hash, r.get(1)?);
                    change.ham.add(hash, r.get(2)?);
                    n += 1;
                }
            }
            tx.execute(
                "DELETE FROM tokens WHERE user_id = ?1 AND spam + ham <= ?2",
                params![id, max_count],
            )?;
            if n > 0 {
                add(&tx, id, &change)?;
            }
            Ok(n)
        })()
        .map_err(map)?;
        tx.commit().map_err(map)?;
        Ok(removed)
    }
}
