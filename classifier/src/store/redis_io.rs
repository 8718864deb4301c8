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
    pub tokens: String,
    pub ledger: String,
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
            tokens: format!("{prefix}{tag}:tokens"),
            ledger: format!("{prefix}{tag}:ledger"),
        }
    }
}

fn class_char(c: Class) -> &'static str {
    match c {
        Class::Spam => "s",
        Class::Ham => "h",
    }
}

/// `"CLASS NTOKENS TOKENSUM LEARNED_AT"`.
pub(super) fn ledger_value(row: &LedgerRow) -> String {
    format!(
        "{} {} {} {}",
        class_char(row.class),
        row.ntokens,
        row.tokensum,
        row.learned_at
    )
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
    })
}

/// A token value `"SPAM HAM"`.
pub(super) fn parse_counts(v: &[u8]) -> Option<Counts> {
    let s = std::str::from_utf8(v).ok()?;
    let (a, b) = s.split_once(' ')?;
    Some(Counts {
        spam: a.parse().ok()?,
        ham: b.parse().ok()?,
    })
}

fn parse_field(f: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(f.try_into().ok()?))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The arguments of `redis_apply.lua` for `plan`, made from the ledger classes `known`.
pub(super) fn plan_args(
    inv: &mut redis::ScriptInvocation<'_>,
    known: &[(Digest, Option<Class>)],
    plan: &Plan,
) {
    inv.arg(known.len());
    for (d, c) in known {
        inv.arg(&d[..]).arg(c.map_or("", class_char));
    }
    let now = now();
    let puts: Vec<_> = plan
        .ledger
        .iter()
        .filter_map(|(d, e)| e.map(|e| (d, e)))
        .collect();
    inv.arg(puts.len());
    for (d, e) in puts {
        let row = LedgerRow {
            class: e.class,
            ntokens: e.ntokens,
            tokensum: e.tokensum,
            learned_at: now,
        };
        inv.arg(&d[..]).arg(ledger_value(&row));
    }
    let dels: Vec<_> = plan.ledger.iter().filter(|(_, e)| e.is_none()).collect();
    inv.arg(dels.len());
    for (d, _) in dels {
        inv.arg(&d[..]);
    }
    inv.arg(plan.totals.0).arg(plan.totals.1);
    for &(h, ds, dh) in &plan.deltas {
        inv.arg(&h.to_be_bytes()[..]).arg(ds).arg(dh);
    }
}

fn int(v: &redis::Value) -> Option<i64> {
    match v {
        redis::Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn counts(v: &redis::Value) -> Option<Counts> {
    match v {
        redis::Value::Nil => Some(Counts::default()),
        redis::Value::BulkString(b) => parse_counts(b),
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
    let want = 4 + n * if with_user { 2 } else { 1 };
    if reply.len() != want {
        return None;
    }
    let t = ReadTotals {
        site: totals(int(&reply[0])?, int(&reply[1])?),
        user: totals(int(&reply[2])?, int(&reply[3])?),
    };
    for (out, v) in site.iter_mut().zip(&reply[4..4 + n]) {
        *out = counts(v)?;
    }
    if with_user {
        for (out, v) in mine.iter_mut().zip(&reply[4 + n..]) {
            *out = counts(v)?;
        }
    }
    Some(t)
}

/// Fields per `HSCAN` step and per `HSET` when loading.
const STEP: usize = 2000;

/// Every field and value of a hash, by `HSCAN` (the server stays responsive).
fn scan(store: &Redis, key: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, items): (u64, Vec<(Vec<u8>, Vec<u8>)>) = store.run(|c| {
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
    let (s, h): (Option<i64>, Option<i64>) = store.run(|c| {
        redis::cmd("HMGET")
            .arg(&k.totals)
            .arg("spam")
            .arg("ham")
            .query(c)
    })?;
    let mut dump = ModelDump {
        user: user.map(str::to_owned),
        totals: totals(s.unwrap_or(0), h.unwrap_or(0)),
        ..ModelDump::default()
    };
    for (f, v) in scan(store, &k.tokens)? {
        let (Some(hash), Some(c)) = (parse_field(&f), parse_counts(&v)) else {
            return Err(store.corrupt(format!("unreadable token entry in {}", k.tokens)));
        };
        dump.tokens.push((hash, c));
    }
    dump.tokens.sort_unstable_by_key(|t| t.0);
    dump.tokens.dedup_by_key(|t| t.0);
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
            .arg(&k.tokens)
            .arg(&k.ledger)
            .ignore();
        p.query::<()>(c)
    })?;
    for part in dump.tokens.chunks(STEP) {
        store.run(|c| {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(&k.tokens);
            for (h, n) in part {
                cmd.arg(&h.to_be_bytes()[..])
                    .arg(format!("{} {}", n.spam, n.ham));
            }
            cmd.query::<()>(c)
        })?;
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
        redis::cmd("HSET")
            .arg(&k.totals)
            .arg("spam")
            .arg(dump.totals.spam)
            .arg("ham")
            .arg(dump.totals.ham)
            .query::<()>(c)
    })
}
