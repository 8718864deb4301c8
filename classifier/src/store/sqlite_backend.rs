//! [`Backend`] for [`Sqlite`]: metadata, reads, statistics, dump and load.

use std::path::Path;

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::bayes::{Counts, Totals};
use crate::error::{Error, Result};
use crate::ledger::{Class, Digest, LearnOp, Outcome};

use super::UserStats;
use super::backend::{Backend, LedgerRow, ModelDump, ReadTotals, rules_from_blob, rules_to_blob};
use super::sqlite::{Sqlite, class_from_sql, class_to_sql, h2i, i2h, map_write_error};

impl Backend for Sqlite {
    fn location(&self) -> &Path {
        &self.path
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            [key, value],
        )?;
        Ok(())
    }

    fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn ledger_len(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn totals(&self, user: Option<&str>) -> Result<ReadTotals> {
        let site = self.read_totals(0)?;
        let user = match self.own_id(user)? {
            Some(id) => self.read_totals(id)?,
            None => Totals::default(),
        };
        Ok(ReadTotals { site, user })
    }

    /// One query per message, not per token: the hashes go to SQLite as one `rarray()` in key
    /// order, so the B-tree is walked left to right and each page is read once.
    fn read(
        &self,
        user: Option<&str>,
        hashes: &[u64],
        site: &mut [Counts],
        mine: &mut [Counts],
        mut lr: Option<&mut crate::logreg::LrRead>,
    ) -> Result<Option<ReadTotals>> {
        let own = self.own_id(user)?;
        if let Some(lr) = lr.as_deref_mut() {
            lr.reset(hashes.len(), user.is_some());
            lr.bias = super::sqlite_lr::read_bias(self, own)?;
        }
        self.read_counts(own, hashes, site, mine, lr)?;
        Ok(None)
    }

    fn learned_class(&self, user: Option<&str>, digest: &Digest) -> Result<Option<Class>> {
        let Some(id) = self.user_id(user)? else {
            return Ok(None);
        };
        Ok(self
            .conn
            .prepare_cached("SELECT class FROM ledger WHERE user_id = ?1 AND digest = ?2")?
            .query_row(params![id, &digest[..]], |r| r.get::<_, i64>(0))
            .optional()?
            .map(class_from_sql))
    }

    fn apply(&mut self, user: Option<&str>, ops: &[LearnOp]) -> Result<Vec<Outcome>> {
        self.apply_ops(user, ops)
    }

    fn users(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM users WHERE id != 0 ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }

    fn user_stats(&self, only: Option<&str>) -> Result<Vec<UserStats>> {
        let mut users = Vec::new();
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
            if only.is_none_or(|f| f == row.name) {
                users.push(row);
            }
        }
        Ok(users)
    }

    fn bytes(&self) -> Result<u64> {
        let page_count: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let page_size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok((page_count * page_size) as u64)
    }

    fn integrity(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if rows != ["ok"] {
            return Ok(rows);
        }
        // Rows that belong to no model are invisible to the per-model check.
        let orphans: i64 = self.conn.query_row(
            "SELECT (SELECT count(*) FROM totals WHERE user_id NOT IN (SELECT id FROM users))
                  + (SELECT count(*) FROM tokens WHERE user_id NOT IN (SELECT id FROM users))
                  + (SELECT count(*) FROM ledger WHERE user_id NOT IN (SELECT id FROM users))",
            [],
            |r| r.get(0),
        )?;
        Ok(if orphans > 0 {
            vec![format!("{orphans} rows belong to no user")]
        } else {
            Vec::new()
        })
    }

    fn dump(&self, user: Option<&str>) -> Result<ModelDump> {
        let mut dump = ModelDump {
            user: user.map(str::to_owned),
            ..ModelDump::default()
        };
        let Some(id) = self.user_id(user)? else {
            return Ok(dump);
        };
        dump.totals = self.read_totals(id)?;
        let mut stmt = self
            .conn
            .prepare("SELECT hash, spam, ham FROM tokens WHERE user_id = ?1")?;
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()? {
            dump.tokens.push((
                i2h(r.get(0)?),
                Counts {
                    spam: r.get::<_, i64>(1)? as u32,
                    ham: r.get::<_, i64>(2)? as u32,
                },
            ));
        }
        dump.tokens.sort_unstable_by_key(|t| t.0);
        let mut stmt = self.conn.prepare(if self.has_rules_column()? {
            "SELECT digest, class, ntokens, tokensum, learned_at, rules FROM ledger WHERE user_id = ?1"
        } else {
            "SELECT digest, class, ntokens, tokensum, learned_at, x'' FROM ledger WHERE user_id = ?1"
        })?;
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()? {
            let blob: Vec<u8> = r.get(0)?;
            let Ok(digest) = Digest::try_from(blob.as_slice()) else {
                return Err(Error::Corrupt {
                    path: self.path.clone(),
                    detail: format!("a ledger digest has {} bytes, not 16", blob.len()),
                });
            };
            dump.ledger.push((
                digest,
                LedgerRow {
                    class: class_from_sql(r.get(1)?),
                    ntokens: r.get::<_, i64>(2)? as u64,
                    tokensum: i2h(r.get(3)?),
                    learned_at: r.get(4)?,
                    rules: rules_from_blob(&r.get::<_, Vec<u8>>(5)?).ok_or_else(|| {
                        Error::Corrupt {
                            path: self.path.clone(),
                            detail: "a ledger entry's rules are not whole 8-byte hashes".into(),
                        }
                    })?,
                },
            ));
        }
        dump.ledger.sort_unstable_by_key(|e| e.0);
        dump.pruned = super::sqlite_prune::read(&self.conn, id, &self.path)?;
        if self.has_lr_columns()? {
            dump.lr = super::sqlite_lr::dump(&self.conn, id)?;
        }
        Ok(dump)
    }

    fn load(&mut self, dump: &ModelDump) -> Result<()> {
        let timeout_ms = self.options.busy_timeout.as_millis() as u64;
        let path = self.path.clone();
        let map = |e: rusqlite::Error| map_write_error(e, &path, timeout_ms);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map)?;
        let id = Self::ensure_user(&tx, dump.user.as_deref()).map_err(|e| match e {
            Error::Sqlite(s) => map(s),
            o => o,
        })?;
        (|| -> rusqlite::Result<()> {
            tx.execute("DELETE FROM tokens WHERE user_id = ?1", [id])?;
            tx.execute("DELETE FROM ledger WHERE user_id = ?1", [id])?;
            let mut tokens: Vec<&(u64, Counts)> = dump.tokens.iter().collect();
            tokens.sort_unstable_by_key(|t| h2i(t.0));
            let mut tok = tx.prepare_cached(
                "INSERT INTO tokens (hash, user_id, spam, ham) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (h, c) in tokens {
                tok.execute(params![h2i(*h), id, c.spam, c.ham])?;
            }
            let mut led = tx.prepare_cached(
                "INSERT INTO ledger (user_id, digest, class, ntokens, tokensum, learned_at, rules)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (d, e) in &dump.ledger {
                led.execute(params![
                    id,
                    &d[..],
                    class_to_sql(e.class),
                    e.ntokens as i64,
                    h2i(e.tokensum),
                    e.learned_at,
                    rules_to_blob(&e.rules)
                ])?;
            }
            tx.execute(
                "UPDATE totals SET nspam = ?2, nham = ?3, lr = NULL WHERE user_id = ?1",
                params![id, dump.totals.spam as i64, dump.totals.ham as i64],
            )?;
            super::sqlite_prune::write(&tx, id, &dump.pruned)?;
            super::sqlite_lr::load(&tx, id, &dump.lr)
        })()
        .map_err(map)?;
        tx.commit().map_err(map)?;
        Ok(())
    }

    fn reset(&mut self, user: Option<&str>) -> Result<()> {
        let Some(id) = self.user_id(user)? else {
            return Ok(());
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM tokens WHERE user_id = ?1", [id])?;
        tx.execute("DELETE FROM ledger WHERE user_id = ?1", [id])?;
        tx.execute(
            "UPDATE totals SET nspam = 0, nham = 0, lr = NULL WHERE user_id = ?1",
            [id],
        )?;
        super::sqlite_prune::write(&tx, id, &super::backend::Pruned::default())?;
        tx.commit()?;
        Ok(())
    }

    fn prune(&mut self, user: Option<&str>, max_count: u32) -> Result<u64> {
        self.prune_model(user, max_count)
    }
}
