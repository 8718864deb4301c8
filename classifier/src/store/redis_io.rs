//! The Redis backend's encodings: key names, ledger entries, token values, script arguments
//! and replies, and the bulk dump and load (`db export`, `db import`).

use crate::bayes::{Counts, Totals};
use crate::error::Result;
use crate::ledger::{Class, Digest, Plan};

use super::backend::{LedgerRow, ModelDump};
use super::redis::Redis;

/// The keys of one model (see the layout in [`super::redis`]).
#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub meta: String,
    pub users: String,
    pub totals: String,
    /// Schema 3: every token's packed counts ([`pack`]).
    pub counts: String,
    pub ledger: String,
    /// Schema 2's spam counts, gone once migrated ([`super::redis_migrate`]).
    pub v2_spam: String,
    /// Schema 2's ham counts, likewise.
    pub v2_ham: String,
    /// The token learner's state (E25, [`super::redis_lr`]; absent: nothing learned yet).
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
            counts: format!("{prefix}{tag}:counts"),
            ledger: format!("{prefix}{tag}:ledger"),
            v2_spam: format!("{prefix}{tag}:spam"),
            v2_ham: format!("{prefix}{tag}:ham"),
            lr: format!("{prefix}{tag}:lr"),
        }
    }

    /// Every key of the model's own (not the store's metadata or user set).
    /// The first five are `redis_apply.lua`'s KEYS, the learner's its optional sixth.
    pub fn model(&self) -> [&String; 6] {
        [
            &self.totals,
            &self.counts,
            &self.ledger,
            &self.v2_spam,
            &self.v2_ham,
            &self.lr,
        ]
    }

    /// The keys `redis_read.lua` reads for this model, in its order.
    pub fn read(&self) -> [&String; 5] {
        [
            &self.totals,
            &self.counts,
            &self.v2_spam,
            &self.v2_ham,
            &self.lr,
        ]
    }
}

/// One token's counts in one integer field (schema 3): `spam * 2^SHIFT + ham`. The scripts
/// decode it in Lua's doubles, exact below 2^53: hence 26 bits of ham and 27 of spam rather
/// than 32 and 32. A count that would pass its maximum stays there, and what it could not
/// take goes to the pruned sums (`redis_apply.lua`), so `db check` still adds up.
pub(super) const SHIFT: u32 = 26;

/// The largest spam count a field holds (134,217,727 messages containing one token).
pub(super) const SPAM_MAX: u32 = (1 << 27) - 1;

/// The largest ham count a field holds (67,108,863).
pub(super) const HAM_MAX: u32 = (1 << SHIFT) - 1;

/// A token's counts as a field value.
pub(super) fn pack(c: Counts) -> u64 {
    (u64::from(c.spam.min(SPAM_MAX)) << SHIFT) | u64::from(c.ham.min(HAM_MAX))
}

/// The counts of a field value; `None` when it is not one.
pub(super) fn unpack(v: u64) -> Option<Counts> {
    let spam = u32::try_from(v >> SHIFT).ok().filter(|s| *s <= SPAM_MAX)?;
    Some(Counts {
        spam,
        ham: (v & u64::from(HAM_MAX)) as u32,
    })
}

/// The counts of a stored field value (decimal).
pub(super) fn parse_packed(v: &[u8]) -> Option<Counts> {
    unpack(std::str::from_utf8(v).ok()?.parse().ok()?)
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

/// The arguments of `redis_apply.lua` for `plan`, made from the ledger entries `known`, as
/// the script's `ARGV` (without the learner's, which follow).
pub(super) fn plan_args(
    known: &[(Digest, Option<crate::model::LedgerEntry>)],
    plan: &Plan,
) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(2 * known.len() + 2 * plan.ledger.len() + 6);
    let mut push = |a: &[u8]| out.push(a.to_vec());
    push(known.len().to_string().as_bytes());
    for (d, e) in known {
        push(&d[..]);
        push(e.as_ref().map_or("", |e| class_char(e.class)).as_bytes());
    }
    let now = now();
    let puts: Vec<_> = plan
        .ledger
        .iter()
        .filter_map(|(d, e)| e.as_ref().map(|e| (d, e)))
        .collect();
    push(puts.len().to_string().as_bytes());
    for (d, e) in puts {
        let row = LedgerRow {
            class: e.class,
            ntokens: e.ntokens,
            tokensum: e.tokensum,
            learned_at: now,
            rules: e.rules.clone(),
        };
        push(&d[..]);
        push(ledger_value(&row).as_bytes());
    }
    let dels: Vec<_> = plan.ledger.iter().filter(|(_, e)| e.is_none()).collect();
    push(dels.len().to_string().as_bytes());
    for (d, _) in dels {
        push(&d[..]);
    }
    push(plan.totals.0.to_string().as_bytes());
    push(plan.totals.1.to_string().as_bytes());
    let mut deltas: Vec<(i64, i64, u64)> =
        plan.deltas.iter().map(|&(h, ds, dh)| (ds, dh, h)).collect();
    deltas.sort_unstable();
    out.push(delta_groups(&deltas));
    out
}

/// The token deltas as `redis_apply.lua` takes them: one group per distinct `(spam, ham)`
/// change, of `deltas` sorted by change. The script then decodes and formats each change once
/// and updates the tokens of an only-adding group with nothing but `HINCRBY`.
fn delta_groups(deltas: &[(i64, i64, u64)]) -> Vec<u8> {
    // Offset by 2^31; a batch changes a count by at most its number of messages.
    let offset = |d: i64| ((d.clamp(-(1 << 31), (1 << 31) - 1) + (1 << 31)) as u32).to_be_bytes();
    let mut blob = Vec::with_capacity(deltas.len() * 8 + 64);
    for group in deltas.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let (ds, dh, _) = group[0];
        blob.extend_from_slice(&offset(ds));
        blob.extend_from_slice(&offset(dh));
        blob.extend_from_slice(&(group.len() as u32).to_be_bytes());
        for &(_, _, h) in group {
            blob.extend_from_slice(&h.to_be_bytes());
        }
    }
    blob
}

/// The arguments of `redis_apply.lua` that move `fields` (8-byte token hashes) from the
/// schema-2 hashes into the counts and change nothing else (a migration step).
pub(super) fn move_args(inv: &mut redis::ScriptInvocation<'_>, fields: &[Vec<u8>]) {
    // No ledger check, no ledger write or delete, no change to the totals.
    inv.arg(0).arg(0).arg(0).arg(0).arg(0);
    // One group of zero changes: the script moves each field's schema-2 counts in.
    let deltas: Vec<(i64, i64, u64)> = fields
        .iter()
        .filter_map(|f| parse_field(f))
        .map(|h| (0, 0, h))
        .collect();
    inv.arg(delta_groups(&deltas));
}

fn int(v: &redis::Value) -> Option<i64> {
    match v {
        redis::Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn packed(v: &redis::Value) -> Option<Counts> {
    match v {
        redis::Value::Nil => Some(Counts::default()),
        redis::Value::BulkString(b) => parse_packed(b),
        redis::Value::Int(i) => unpack(u64::try_from(*i).ok()?),
        _ => None,
    }
}

fn totals(spam: i64, ham: i64) -> Totals {
    Totals {
        spam: spam.max(0) as u64,
        ham: ham.max(0) as u64,
    }
}

/// What `redis_read.lua` returns before the counts when asked for the metadata: the schema
/// and the tokenizer version, each `None` when unset.
pub(super) type MetaReply = (Option<i64>, Option<String>);

fn opt_string(v: &redis::Value) -> Option<Option<String>> {
    match v {
        redis::Value::Nil => Some(None),
        redis::Value::BulkString(b) => Some(Some(String::from_utf8(b.clone()).ok()?)),
        redis::Value::Int(i) => Some(Some(i.to_string())),
        _ => None,
    }
}

/// Parses the reply of `redis_read.lua` for `models` models (1 or 2) and `n` fields, the
/// metadata first when `with_meta`, each model's token learner part after its counts when
/// `with_lr`; fills `outs` (one slice per model) and returns each model's totals and learner
/// part (empty without the learner: [`super::redis_lr::parse_slots`] reads it). `None` when it
/// is not what the script returns.
pub(super) fn parse_read<'a>(
    reply: &'a [redis::Value],
    n: usize,
    with_meta: bool,
    with_lr: bool,
    outs: &mut [&mut [Counts]],
) -> Option<ReadReply<'a>> {
    let skip = if with_meta { 2 } else { 0 };
    let lr = if with_lr { n + 1 } else { 0 };
    let stride = 2 + n + lr;
    if reply.len() != skip + outs.len() * stride {
        return None;
    }
    let meta = match with_meta {
        true => {
            let schema = opt_string(&reply[0])?;
            let schema = match schema {
                None => None,
                Some(s) => Some(s.parse().ok()?),
            };
            Some((schema, opt_string(&reply[1])?))
        }
        false => None,
    };
    let mut all = Vec::with_capacity(outs.len());
    let mut lrs = Vec::with_capacity(outs.len());
    for (m, out) in outs.iter_mut().enumerate() {
        let at = skip + m * stride;
        all.push(totals(int(&reply[at])?, int(&reply[at + 1])?));
        for (o, v) in out.iter_mut().zip(&reply[at + 2..at + 2 + n]) {
            *o = packed(v)?;
        }
        lrs.push(&reply[at + 2 + n..at + stride]);
    }
    Some((meta, all, lrs))
}

/// What [`parse_read`] returns: the metadata (when asked), each model's totals, and each
/// model's token learner part of the reply.
pub(super) type ReadReply<'a> = (Option<MetaReply>, Vec<Totals>, Vec<&'a [redis::Value]>);

/// Fields per `HSCAN` step and per `HSET` when loading.
pub(super) const STEP: usize = 2000;

/// Fewest fields that [`read_bulk`] reads (a batch's, for the learned Bayes weight): a
/// message's few hundred go through `redis_read.lua` (one call, the metadata check with it).
pub(super) const BULK_MIN: usize = 4096;

/// Adds to `p` one `HMGET` of `key` per [`STEP`] of `fields` (8-byte big-endian hashes), so
/// that no one command holds the server long ([`parse_steps`] reads the replies).
pub(super) fn hmget_steps(p: &mut redis::Pipeline, key: &str, fields: &[u64]) {
    for part in fields.chunks(STEP) {
        p.cmd("HMGET").arg(key);
        for h in part {
            p.arg(&h.to_be_bytes()[..]);
        }
    }
}

/// Parses the replies of [`hmget_steps`] for `out.len()` fields, the first of `replies`, into
/// `out`; `None` when they are not that.
pub(super) fn parse_steps<T>(
    replies: &[redis::Value],
    out: &mut [T],
    parse: impl Fn(&redis::Value) -> Option<T>,
) -> Option<()> {
    let steps = replies.get(..out.len().div_ceil(STEP))?;
    let mut at = 0;
    for r in steps {
        let redis::Value::Array(v) = r else {
            return None;
        };
        for v in v {
            *out.get_mut(at)? = parse(v)?;
            at += 1;
        }
    }
    (at == out.len()).then_some(())
}

/// Runs the commands `reads` adds to one pipeline between two reads of the model's version
/// (`lr_version` in `totals`): every call that changes the model gives it a version never seen
/// before (and `db prune` none), so the same version on both sides means the reads between saw
/// one state. (Not a MULTI transaction: a full server refuses those, and a read should fail as
/// the write would, on the write.) Returns that version (`None`: no version, or not one state)
/// and the replies of `reads`; `bad` is the error for replies that are not that.
pub(super) fn versioned_reads(
    store: &Redis,
    totals: &str,
    reads: impl Fn(&mut redis::Pipeline),
    bad: impl Fn() -> crate::error::Error,
) -> Result<(Option<String>, Vec<redis::Value>)> {
    let mut replies: Vec<redis::Value> = store.run(|c| {
        let mut p = redis::pipe();
        p.cmd("HGET").arg(totals).arg("lr_version");
        reads(&mut p);
        p.cmd("HGET").arg(totals).arg("lr_version");
        p.query(c)
    })?;
    if replies.len() < 2 {
        return Err(bad());
    }
    let after = opt_string(&replies.pop().unwrap_or_default()).ok_or_else(&bad)?;
    let before = opt_string(&replies.remove(0)).ok_or_else(&bad)?;
    Ok((before.filter(|v| Some(v) == after.as_ref()), replies))
}

/// Reads the site-wide model's totals and the counts of `hashes` into `out` with plain `HMGET`s
/// in one pipeline ([`versioned_reads`]), not through `redis_read.lua`: for a batch's tens of
/// thousands of fields the script's Lua tables hold the server twice as long as the commands
/// themselves (BENCHMARKS.md "Redis store"). `None` (read it with the script) when the reads
/// did not see one state, when the model has no version, or in a schema-2 migration.
pub(super) fn read_bulk(
    store: &Redis,
    keys: &Keys,
    hashes: &[u64],
    out: &mut [Counts],
) -> Result<Option<Totals>> {
    let bad = || store.corrupt(format!("unreadable token counts in {}", keys.counts));
    let (version, replies) = versioned_reads(
        store,
        &keys.totals,
        |p| {
            p.cmd("EXISTS").arg(&keys.v2_spam).arg(&keys.v2_ham);
            p.cmd("HMGET").arg(&keys.totals).arg("spam").arg("ham");
            hmget_steps(p, &keys.counts, hashes);
        },
        bad,
    )?;
    if replies.len() != 2 + hashes.len().div_ceil(STEP) || out.len() != hashes.len() {
        return Err(bad());
    }
    if version.is_none() || int(&replies[0]) != Some(0) {
        return Ok(None);
    }
    // A total that is not a number reads as 0, as the script reads it.
    let number = |v: &redis::Value| opt_string(v).flatten().and_then(|s| s.parse().ok());
    let redis::Value::Array(t) = &replies[1] else {
        return Err(bad());
    };
    let [spam, ham] = t.as_slice() else {
        return Err(bad());
    };
    let totals = totals(number(spam).unwrap_or(0), number(ham).unwrap_or(0));
    parse_steps(&replies[2..], out, packed).ok_or_else(bad)?;
    Ok(Some(totals))
}

/// A hash's fields and values, as `HSCAN` returns them.
pub(super) type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// Every field and value of a hash, handed to `each` one `HSCAN` step (about [`STEP`] fields)
/// at a time, so the server stays responsive. A field may come twice; one changed meanwhile
/// may or may not come (`HSCAN`'s guarantees).
pub(super) fn scan_steps(
    store: &Redis,
    key: &str,
    mut each: impl FnMut(Fields) -> Result<()>,
) -> Result<()> {
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
        each(items)?;
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Every field and value of a hash ([`scan_steps`]).
fn scan(store: &Redis, key: &str) -> Result<Fields> {
    let mut out = Vec::new();
    scan_steps(store, key, |items| {
        out.extend(items);
        Ok(())
    })?;
    Ok(out)
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
    // HSCAN may return a field twice: each hash is read into a map first. Counts still in the
    // schema-2 hashes (a migration under way) add to the packed ones.
    let mut tokens: crate::model::TokenMap<Counts> = Default::default();
    let read = |key: &String, decode: &dyn Fn(&[u8]) -> Option<Counts>| -> Result<_> {
        let mut m: crate::model::TokenMap<Counts> = Default::default();
        for (f, v) in scan(store, key)? {
            let (Some(hash), Some(c)) = (parse_field(&f), decode(&v)) else {
                return Err(store.corrupt(format!("unreadable token entry in {key}")));
            };
            m.insert(hash, c);
        }
        Ok(m)
    };
    let spam = |v: &[u8]| parse_count(v).map(|n| Counts { spam: n, ham: 0 });
    let ham = |v: &[u8]| parse_count(v).map(|n| Counts { spam: 0, ham: n });
    let parts = [
        read(&k.counts, &parse_packed)?,
        read(&k.v2_spam, &spam)?,
        read(&k.v2_ham, &ham)?,
    ];
    for part in parts {
        for (h, c) in part {
            let t = tokens.entry(h).or_default();
            t.spam = t.spam.saturating_add(c.spam);
            t.ham = t.ham.saturating_add(c.ham);
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
    dump.lr = super::redis_lr::from_fields(scan(store, &k.lr)?)
        .ok_or_else(|| store.corrupt(format!("unreadable token learner state in {}", k.lr)))?;
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
        p.cmd("DEL").arg(&k.model()[..]).ignore();
        p.query::<()>(c)
    })?;
    let tokens: Vec<&(u64, Counts)> = dump
        .tokens
        .iter()
        .filter(|(_, c)| *c != Counts::default())
        .collect();
    for part in tokens.chunks(STEP) {
        store.run(|c| {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(&k.counts);
            for (h, n) in part {
                cmd.arg(&h.to_be_bytes()[..]).arg(pack(*n));
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
    for part in super::redis_lr::to_fields(&dump.lr).chunks(STEP) {
        store.run(|c| {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(&k.lr);
            for (f, v) in part {
                cmd.arg(&f[..]).arg(&v[..]);
            }
            cmd.query::<()>(c)
        })?;
    }
    // A count beyond what a field holds (see `pack`) keeps its excess in the pruned sums.
    let mut pruned = dump.pruned;
    for (h, c) in &dump.tokens {
        pruned
            .spam
            .add(*h, i64::from(c.spam.saturating_sub(SPAM_MAX)));
        pruned.ham.add(*h, i64::from(c.ham.saturating_sub(HAM_MAX)));
    }
    store.run(|c| {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(&k.totals);
        if !pruned.is_empty() {
            for (f, v) in super::redis_prune::to_fields(&pruned) {
                cmd.arg(f).arg(v);
            }
        }
        cmd.arg("spam")
            .arg(dump.totals.spam)
            .arg("ham")
            .arg(dump.totals.ham)
            .query::<()>(c)
    })
}
