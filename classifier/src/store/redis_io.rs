//! The Redis backend's encodings: key names, ledger entries, token values, script arguments
//! and replies, and the bulk dump and load (`db export`, `db import`).

use crate::bayes::{Counts, Totals};
use crate::error::Result;
use crate::ledger::{Class, Digest, Plan};

use super::backend::{LedgerRow, ModelDump, ReadTotals};
use super::redis::Redis;

/// The keys of one model (see the layout in [`super::redis`]).
#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub meta: String,
    pub users: String,
    pub totals: String,
    pub spam: String,
    pub ham: String,
    pub ledger: String,
    /// The token learner's state (E25, [`super::redis_lr`]).
    pub lr: String,
}

impl Keys {
    pub fn new(prefix: &str, user: Option<&str>) -> Keys {
        let tag = match user {
            None => "{site}".to_owned(),
            Some(u) => format!("{{u:{u}}}"),
        };
        Keys {
            meta: format!("{prefix}{{site}}:meta"),
            users: format!("{prefix}{{site}}:users"),
            totals: format!("{prefix}{tag}:totals"),
            spam: format!("{prefix}{tag}:spam"),
            ham: format!("{prefix}{tag}:ham"),
            ledger: format!("{prefix}{tag}:ledger"),
            lr: format!("{prefix}{tag}:lr"),
        }
    }
}

fn class_char(c: Class) -> &'static str {
    match c {
        Class::Spam => "s",
        Class::Ham => "h",
    }
}

/// `"CLASS NTOKENS TOKENSUM LEARNED_AT"`, then `" RULE,RULE,..."` (the rule pseudo-tokens in
/// decimal) when it has any (schema v2; a v1 entry has none).
pub(super) fn ledger_value(row: &LedgerRow) -> String {
    let mut v = format!(
        "{} {} {} {}",
        class_char(row.class),
        row.ntokens,
        row.tokensum,
        row.learned_at
    );
    for (i, h) in row.rules.iter().enumerate() {
        v.push(if i == 0 { ' ' } else { ',' });
        v.push_str(&h.to_string());
    }
    v
}

pub(super) fn parse_ledger(v: &[u8]) -> Option<LedgerRow> {
    let s = std::str::from_utf8(v).ok()?;
    let mut it = s.split(' ');
    let class = match it.next()? {
        "s" => Class::Spam,
        "h" => Class::Ham,
        _ => return None,
    };
    Some(LedgerRow {
        class,
        ntokens: it.next()?.parse().ok()?,
        tokensum: it.next()?.parse().ok()?,
        learned_at: it.next()?.parse().ok()?,
        rules: match it.next() {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|h| h.parse().ok())
                .collect::<Option<Vec<u64>>>()?,
        },
    })
}

/// A count as stored (a decimal integer).
pub(super) fn parse_count(v: &[u8]) -> Option<u32> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn parse_field(f: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(f.try_into().ok()?))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The arguments of `redis_apply.lua` for `plan`, made from the ledger entries `known`.
pub(super) fn plan_args(
    inv: &mut redis::ScriptInvocation<'_>,
    known: &[(Digest, Option<crate::model::LedgerEntry>)],
    plan: &Plan,
) {
    inv.arg(known.len());
    for (d, e) in known {
        inv.arg(&d[..])
            .arg(e.as_ref().map_or("", |e| class_char(e.class)));
    }
    let now = now();
    let puts: Vec<_> = plan
        .ledger
        .iter()
        .filter_map(|(d, e)| e.as_ref().map(|e| (d, e)))
        .collect();
    inv.arg(puts.len());
    for (d, e) in puts {
        let row = LedgerRow {
            class: e.class,
            ntokens: e.ntokens,
            tokensum: e.tokensum,
            learned_at: now,
            rules: e.rules.clone(),
        };
        inv.arg(&d[..]).arg(ledger_value(&row));
    }
    let dels: Vec<_> = plan.ledger.iter().filter(|(_, e)| e.is_none()).collect();
    inv.arg(dels.len());
    for (d, _) in dels {
        inv.arg(&d[..]);
    }
    inv.arg(plan.totals.0).arg(plan.totals.1);
    let mut blob = Vec::with_capacity(plan.deltas.len() * 16);
    for &(h, ds, dh) in &plan.deltas {
        blob.extend_from_slice(&h.to_be_bytes());
        for d in [ds, dh] {
            // Offset by 2^31; a batch changes a count by at most its number of messages.
            let d = d.clamp(-(1 << 31), (1 << 31) - 1) + (1 << 31);
            blob.extend_from_slice(&(d as u32).to_be_bytes());
        }
    }
    inv.arg(blob);
}

fn int(v: &redis::Value) -> Option<i64> {
    match v {
        redis::Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn count(v: &redis::Value) -> Option<u32> {
    match v {
        redis::Value::Nil => Some(0),
        redis::Value::BulkString(b) => parse_count(b),
        redis::Value::Int(i) => u32::try_from(*i).ok(),
        _ => None,
    }
}

fn totals(spam: i64, ham: i64) -> Totals {
    Totals {
        spam: spam.max(0) as u64,
        ham: ham.max(0) as u64,
    }
}

/// Parses the reply of `redis_read.lua`; `None` when it is not what the script returns.
pub(super) fn parse_read(
    reply: &[redis::Value],
    n: usize,
    with_user: bool,
    site: &mut [Counts],
    mine: &mut [Counts],
) -> Option<ReadTotals> {
    let want = 4 + n * if with_user { 4 } else { 2 };
    if reply.len() != want {
        return None;
    }
    let t = ReadTotals {
        site: totals(int(&reply[0])?, int(&reply[1])?),
        user: totals(int(&reply[2])?, int(&reply[3])?),
    };
    let fill = |out: &mut [Counts], at: usize| -> Option<()> {
        let spam = &reply[at..at + n];
        let ham = &reply[at + n..at + 2 * n];
        for ((o, s), h) in out.iter_mut().zip(spam).zip(ham) {
            *o = Counts {
                spam: count(s)?,
                ham: count(h)?,
            };
        }
        Some(())
    };
    fill(site, 4)?;
    if with_user {
        fill(mine, 4 + 2 * n)?;
    }
    Some(t)
}

/// Fields per `HSCAN` step and per `HSET` when loading.
const STEP: usize = 2000;

/// A hash's fields and values, as `HSCAN` returns them.
pub(super) type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// Every field and value of a hash, by `HSCAN` (the server stays responsive).
fn scan(store: &Redis, key: &str) -> Result<Fields> {
    let mut out = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, items): (u64, Fields) = store.run(|c| {
            redis::cmd("HSCAN")
                .arg(key)
                .arg(cursor)
                .arg("COUNT")
                .arg(STEP)
                .query(c)
        })?;
        out.extend(items);
        if next == 0 {
            return Ok(out);
        }
        cursor = next;
    }
}

/// Everything in one model. HSCAN may return a field twice: duplicates are dropped.
pub(super) fn dump(store: &Redis, user: Option<&str>) -> Result<ModelDump> {
    let k = store.keys(user);
    let v: Vec<Option<i64>> = store.run(|c| {
        redis::cmd("HMGET")
            .arg(&k.totals)
            .arg("spam")
            .arg("ham")
            .arg(&super::redis_prune::FIELDS[..])
            .query(c)
    })?;
    let unreadable = || store.corrupt(format!("unreadable totals in {}", k.totals));
    let (Some(t), Some(rest)) = (v.get(..2), v.get(2..)) else {
        return Err(unreadable());
    };
    let pruned = super::redis_prune::from_fields(rest).ok_or_else(unreadable)?;
    let mut dump = ModelDump {
        user: user.map(str::to_owned),
        totals: totals(t[0].unwrap_or(0), t[1].unwrap_or(0)),
        pruned,
        ..ModelDump::default()
    };
    let mut tokens: crate::model::TokenMap<Counts> = Default::default();
    for (key, spam) in [(&k.spam, true), (&k.ham, false)] {
        for (f, v) in scan(store, key)? {
            let (Some(hash), Some(n)) = (parse_field(&f), parse_count(&v)) else {
                return Err(store.corrupt(format!("unreadable token entry in {key}")));
            };
            let c = tokens.entry(hash).or_default();
            if spam {
                c.spam = n;
            } else {
                c.ham = n;
            }
        }
    }
    dump.tokens = tokens.into_iter().collect();
    dump.tokens.sort_unstable_by_key(|t| t.0);
    for (f, v) in scan(store, &k.ledger)? {
        let (Ok(d), Some(row)) = (Digest::try_from(f.as_slice()), parse_ledger(&v)) else {
            return Err(store.corrupt(format!("unreadable ledger entry in {}", k.ledger)));
        };
        dump.ledger.push((d, row));
    }
    dump.ledger.sort_unstable_by_key(|e| e.0);
    dump.ledger.dedup_by_key(|e| e.0);
    Ok(dump)
}

/// Replaces one model with `dump`: the old keys are deleted, the new ones written in pipelined
/// steps, the totals last.
pub(super) fn load(store: &Redis, dump: &ModelDump) -> Result<()> {
    let k = store.keys(dump.user.as_deref());
    store.run(|c| {
        let mut p = redis::pipe();
        if let Some(u) = &dump.user {
            p.cmd("SADD").arg(&k.users).arg(u).ignore();
        }
        p.cmd("DEL")
            .arg(&k.totals)
            .arg(&k.spam)
            .arg(&k.ham)
            .arg(&k.ledger)
            .arg(&k.lr)
            .ignore();
        p.query::<()>(c)
    })?;
    for (key, spam) in [(&k.spam, true), (&k.ham, false)] {
        let counts: Vec<(u64, u32)> = dump
            .tokens
            .iter()
            .map(|(h, c)| (*h, if spam { c.spam } else { c.ham }))
            .filter(|(_, n)| *n > 0)
            .collect();
        for part in counts.chunks(STEP) {
            store.run(|c| {
                let mut cmd = redis::cmd("HSET");
                cmd.arg(key);
                for (h, n) in part {
                    cmd.arg(&h.to_be_bytes()[..]).arg(*n);
                }
                cmd.query::<()>(c)
            })?;
        }
    }
    for part in dump.ledger.chunks(STEP) {
        store.run(|c| {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(&k.ledger);
            for (d, row) in part {
                cmd.arg(&d[..]).arg(ledger_value(row));
            }
            cmd.query::<()>(c)
        })?;
    }
    store.run(|c| {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(&k.totals);
        if !dump.pruned.is_empty() {
            for (f, v) in super::redis_prune::to_fields(&dump.pruned) {
                cmd.arg(f).arg(v);
            }
        }
        cmd.arg("spam")
            .arg(dump.totals.spam)
            .arg("ham")
            .arg(dump.totals.ham)
            .arg("tokens")
            .arg(
                dump.tokens
                    .iter()
                    .filter(|(_, c)| *c != Counts::default())
                    .count(),
            )
            .query::<()>(c)
    })
}
