//! `db prune`: the policy for tokens that stopped being useful.
//!
//! # Policy: hapax pruning, on demand
//! Most of a trained model's tokens were seen in one message only (hapaxes: 447,736 of the
//! 672,198 tokens of the whole SpamAssassin corpus, 67%). One sighting moves a token's
//! probability only part of the way from the unknown-word value, and a token that never comes
//! back never decides anything; yet each costs a row (SQLite) or a hash field (Redis). Trained
//! on the tuning half of the corpus and pruned (418k -> 123k tokens), the model made the same
//! number of errors on the held-out half (22 of 2,985; 2 verdicts changed; BENCHMARKS.md
//! "Redis store").
//! [`Store::prune`] removes every token whose counts in both classes together are at most
//! `max_count` (1 by default: the hapaxes), in the site-wide model and every user's, or one
//! user's. A token seen again after pruning is simply learned again from zero.
//!
//! Nothing expires by itself: a Redis TTL works on whole keys (a model), not on the fields of a
//! hash (per-field expiry needs Redis 7.4 or Valkey 9), and a last-seen day per token would cost
//! a write per token on every learn, which is most of the training time on Redis. Pruning is
//! therefore a command an operator runs (e.g. monthly from cron, after training), not a side
//! effect of learning.
//!
//! # The counts still add up
//! The counts a prune removes were learned, and the ledger still says so. Each model keeps
//! *pruned sums* per class (occurrences removed, and the wrapping sum of hash x count) and
//! [`Store::check`] adds them to the token counts before comparing with the ledger, so `db
//! check` still proves that nothing was lost or double-counted. Forgetting a message later
//! takes its counts off as usual; a count that is no longer there (pruned) comes off the pruned
//! sums instead, so learn, prune, forget still checks out exactly. Export and import carry the
//! pruned sums. Message totals are never pruned.

use crate::error::Result;

use super::{Store, validate_user};

/// The largest `max_count` accepted: pruning tokens seen more often than this would remove
/// evidence, not clutter (and keeps the pruned sums' arithmetic exact on Redis).
pub const MAX_PRUNE_COUNT: u32 = 1000;

/// What [`Store::prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Models pruned (the site-wide one and users).
    pub models: u64,
    /// Tokens removed over all of them.
    pub tokens: u64,
}

impl Store {
    /// Removes the tokens seen in at most `max_count` messages (both classes together) from
    /// `user`'s model, or from the site-wide model and every user's when `user` is `None`.
    /// Learning may go on meanwhile (see the module docs for the policy and what stays exact).
    pub fn prune(&mut self, user: Option<&str>, max_count: u32) -> Result<PruneReport> {
        if max_count == 0 || max_count > MAX_PRUNE_COUNT {
            return Err(crate::error::Error::Config(format!(
                "a prune count must be from 1 to {MAX_PRUNE_COUNT} (1 removes the tokens seen in one message only), not {max_count}"
            )));
        }
        let models: Vec<Option<String>> = match user {
            Some(name) => {
                validate_user(name)?;
                vec![Some(name.to_owned())]
            }
            None => std::iter::once(None)
                .chain(self.b().users()?.into_iter().map(Some))
                .collect(),
        };
        let mut report = PruneReport::default();
        for m in &models {
            report.tokens += self.b_mut().prune(m.as_deref(), max_count)?;
            report.models += 1;
        }
        Ok(report)
    }
}
