//! `db prune` on Redis (policy in [`super::prune`]), and the pruned sums as the model's
//! `totals` hash keeps them: fields `pruned_s` (spam occurrences removed), `pruned_s_hi` and
//! `pruned_s_lo` (the two 32-bit halves of their hash x count sum), and the same with `_h` for
//! ham. `redis_prune.lua` adds to them and `redis_apply.lua` takes off what a forget no longer
//! finds in the counts.

use redis::Script;

use crate::error::Result;

use super::backend::{Pruned, PrunedSums};
use super::redis::Redis;
use super::redis_io;

/// The `totals` fields of the pruned sums, in the order [`from_fields`] reads them.
pub(super) const FIELDS: [&str; 6] = [
    "pruned_s",
    "pruned_s_hi",
    "pruned_s_lo",
    "pruned_h",
    "pruned_h_hi",
    "pruned_h_lo",
];

/// Fields per `HSCAN` step, and so at most per script call.
const STEP: usize = 2000;

/// The pruned sums from the values of [`FIELDS`]; `None` when one is not a number.
pub(super) fn from_fields(v: &[Option<i64>]) -> Option<Pruned> {
    let sums = |at: usize| -> Option<PrunedSums> {
        let half = |x: Option<i64>| -> Option<u64> {
            let x = x.unwrap_or(0);
            u32::try_from(x).ok().map(u64::from)
        };
        Some(PrunedSums {
            occurrences: v.get(at).copied()?.unwrap_or(0),
            checksum: (half(*v.get(at + 1)?)? << 32) | half(*v.get(at + 2)?)?,
        })
    };
    Some(Pruned {
        spam: sums(0)?,
        ham: sums(3)?,
    })
}

/// `(field, value)` pairs for [`FIELDS`] holding `p`.
pub(super) fn to_fields(p: &Pruned) -> Vec<(&'static str, i64)> {
    let mut v = Vec::with_capacity(6);
    for (i, s) in [p.spam, p.ham].into_iter().enumerate() {
        v.push((FIELDS[3 * i], s.occurrences));
        v.push((FIELDS[3 * i + 1], (s.checksum >> 32) as i64));
        v.push((FIELDS[3 * i + 2], (s.checksum & 0xffff_ffff) as i64));
    }
    v
}

impl Redis {
    /// [`super::Backend::prune`]: scans the model's counts and removes, one step of fields per
    /// script call, the tokens whose counts together are at most `max_count`, with their
    /// token learner slots (a token still in
    /// a schema-2 hash while a migration runs is left for the next prune).
    pub(super) fn prune_model(&self, user: Option<&str>, max_count: u32) -> Result<u64> {
        let k = self.keys(user);
        let script = Script::new(include_str!("redis_prune.lua"));
        let mut removed = 0u64;
        let mut cursor: u64 = 0;
        loop {
            let (next, items): (u64, redis_io::Fields) = self.run(|c| {
                redis::cmd("HSCAN")
                    .arg(&k.counts)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(STEP)
                    .query(c)
            })?;
            // HSCAN may return a field twice: each goes to the script once.
            let mut fields: Vec<Vec<u8>> = items
                .into_iter()
                .filter(|(_, v)| {
                    redis_io::parse_packed(v).is_some_and(|c| {
                        u64::from(c.spam) + u64::from(c.ham) <= u64::from(max_count)
                    })
                })
                .map(|(f, _)| f)
                .collect();
            fields.sort_unstable();
            fields.dedup();
            if !fields.is_empty() {
                let mut inv = script.prepare_invoke();
                inv.key(&k.totals).key(&k.counts).key(&k.lr).arg(max_count);
                for f in &fields {
                    inv.arg(&f[..]);
                }
                let n: u64 = self.run(|c| inv.invoke(c))?;
                removed += n;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruned_sums_round_trip_through_their_fields() {
        let mut p = Pruned::default();
        p.spam.add(0xfedc_ba98_7654_3210, 3);
        p.ham.add(u64::MAX, 1);
        p.ham.add(7, -2);
        let v: Vec<Option<i64>> = to_fields(&p).into_iter().map(|(_, x)| Some(x)).collect();
        assert_eq!(from_fields(&v), Some(p));
        assert_eq!(from_fields(&[None; 6]), Some(Pruned::default()));
        assert_eq!(
            from_fields(&[Some(-1), Some(1 << 33), None, None, None, None]),
            None
        );
    }
}
