//! Schema 2 to 3 on Redis, in place: each model's `spam` and `ham` hashes (one field per
//! token and class) are moved into its `counts` hash (one packed field per token, see
//! [`super::redis`]).
//!
//! Opening a store of schema 1 or 2 for writing first records schema 3 and `migrating` in the
//! metadata, then moves every model's tokens one `HSCAN` step at a time ([`redis_io::scan_steps`]), each one call of
//! `redis_apply.lua` with nothing to learn (atomic, and it adds what it moves to whatever is
//! already packed), and removes `migrating` at the end. Readers and writers of this build stay
//! exact meanwhile: the read script adds the counts not moved yet, and a learn moves the counts
//! of the tokens it touches first. A migration cut short (a host killed) is finished by the
//! next host that opens the store for writing; several hosts migrating at once each move what
//! is left. A build that knows schema 2 only refuses the store from the start (schema too
//! new), so stop its trainers before the upgrade. While it runs, `stats` may count a token
//! twice and `db check` may see a count in flight.

use crate::error::Result;

use super::redis::{Redis, SCHEMA_VERSION};
use super::redis_io::{self, Keys};

impl Redis {
    /// Migrates every model to schema 3 (see the module docs).
    pub(super) fn migrate(&self) -> Result<()> {
        let meta = self.keys(None).meta;
        self.run(|c| {
            redis::cmd("HSET")
                .arg(&meta)
                .arg("schema")
                .arg(SCHEMA_VERSION)
                .arg("migrating")
                .arg(1)
                .query::<()>(c)
        })?;
        for keys in self.model_keys()? {
            self.migrate_model(&keys)?;
        }
        self.run(|c| {
            redis::cmd("HDEL")
                .arg(&meta)
                .arg("migrating")
                .query::<()>(c)
        })?;
        // The store as now accepted.
        let tokenizer = self.checked()?.tokenizer;
        self.accept(Some(SCHEMA_VERSION), tokenizer).map(|_| ())
    }

    /// Moves one model's schema-2 hashes into its counts, until both are gone.
    fn migrate_model(&self, k: &Keys) -> Result<()> {
        for key in [&k.v2_spam, &k.v2_ham] {
            redis_io::scan_steps(self, key, |items| {
                let mut fields: Vec<Vec<u8>> = items.into_iter().map(|(f, _)| f).collect();
                fields.sort_unstable();
                fields.dedup();
                if !fields.is_empty() {
                    let mut inv = self.apply_script.prepare_invoke();
                    for key in k.model() {
                        inv.key(key);
                    }
                    redis_io::move_args(&mut inv, &fields);
                    self.run(|c| inv.invoke::<i64>(c))?;
                }
                Ok(())
            })?;
        }
        // Schema 2's distinct-token count: `HLEN` of the counts is that now.
        self.run(|c| {
            redis::cmd("HDEL")
                .arg(&k.totals)
                .arg("tokens")
                .query::<()>(c)
        })
    }
}
