//! The token learner's state in Redis (E25): one hash per model, `P{M}:lr`, beside the model's
//! counts and with the same hash tag (see the layout in [`super::redis`]). Fields: a token's
//! 8-byte hash to its [`Slot`] (8 bytes, big-endian), `bias` to the bias's, and a learned
//! message's 16-byte digest to the gradient of its step (an `f32`, 4 bytes, big-endian).
//!
//! Reading is part of `redis_read.lua`'s one call per message. Learning is part of
//! `redis_apply.lua`'s call, in the same atomic script as the counts and the ledger, so a
//! learner step is never lost, doubled or half written, and forget undoes it exactly, even
//! with several hosts training the model at once. Two ways to the same steps:
//! - **The client's steps (the fast path).** The client reads a copy of the learner state of
//!   its batch's tokens with the model's version (`lr_version` in `P{M}:totals`, a random
//!   value each call sets anew; [`read_mirror`]), takes the batch's FTRL steps on it as SQLite
//!   does inside its write transaction ([`crate::logreg::LrState::apply_ops`]) and sends the
//!   slots and gradients they end in, with the version they were taken from ([`call_args`]).
//!   If the model is still at that version, nothing moved since the copy was read: the script
//!   writes them as they are (no arithmetic on the server), and sets the next version. The
//!   copy then holds the state after the call, so the next call of the batch is planned from
//!   it without reading, and the calls pipeline. A site-wide copy is kept for the next batch
//!   too ([`keep`]), which then reads only the tokens it does not know, if the model is still
//!   at the copy's version.
//! - **The script's steps (the slow path).** Otherwise (another host trained the model since
//!   the copy was read, or it was pruned, reset or imported: no version), the script takes
//!   the steps itself (`redis_apply_lr.lua`) from the state as it finds it, from the per-message
//!   records sent with every call (what to do: undo its step, step toward its class; and its
//!   tokens): each gradient computed from the weights before its step, every value rounded to
//!   f32 where logreg.rs stores one. The client's copy is stale after that, and is read again.
//!
//! Both give SQLite's steps: bit for bit on the site-wide model (the same sums in the same
//! order); for a user's model, whose margin adds the site-wide model's weights (read with the
//! copy; a cluster script may touch one slot only), the script adds that part in another
//! order: equal within rounding. The script's steps cost the server about 2 ms per message of
//! the SpamAssassin corpus (Lua), the fast path's writes about 0.15 ms (BENCHMARKS.md "Redis
//! store"), hence the two paths.

use redis::Value;

use crate::error::Result;
use crate::ledger::{Class, Digest, LearnOp, Plan};
use crate::logreg::{LrState, Slot, TokenLrParams};
use crate::model::{IdentityHasher, LedgerEntry};

use super::backend::LrDump;
use super::redis::Redis;
use super::redis_io::{self, STEP as READ_STEP};

const BIAS: &[u8] = b"bias";

fn slot(v: &Value) -> Option<Slot> {
    match v {
        Value::Nil => Some(Slot::default()),
        Value::BulkString(b) => Some(Slot::from_bits(u64::from_be_bytes(
            b.as_slice().try_into().ok()?,
        ))),
        _ => None,
    }
}

/// Parses one model's part of `redis_read.lua`'s reply: a slot per hash into `out`, then the
/// bias (returned). `None` when it is not what the script returns.
pub(super) fn parse_slots(reply: &[Value], out: &mut [Slot]) -> Option<Slot> {
    if reply.len() != out.len() + 1 {
        return None;
    }
    for (o, v) in out.iter_mut().zip(reply) {
        *o = slot(v)?;
    }
    slot(&reply[out.len()])
}

fn slot_value(s: Slot) -> Option<[u8; 8]> {
    (!s.is_empty()).then(|| s.to_bits().to_be_bytes())
}

/// The token learner's settings a batch is applied with: those of its first operation that has
/// them (the chunks of a batch are cut where they change, [`super::redis_apply`]).
pub(super) fn params(ops: &[LearnOp]) -> Option<TokenLrParams> {
    ops.iter().find_map(|o| o.lr)
}

/// The client's copy of a model's learner state over a batch's tokens (with the site-wide
/// model's when the model is a user's), as of the model's version `version` (`None`: the
/// model has none, or the batch has no step to take). Each call's steps are taken on it, and
/// the call tells the script the version they were taken from (see `redis_apply_lr.lua`).
/// A site-wide copy is kept between batches ([`keep`]): while the model is still at its
/// version, the next batch reads only the slots of tokens it does not know.
#[derive(Debug, Default)]
pub(super) struct Mirror {
    state: LrState,
    version: Option<String>,
    /// Whether any operation of the batch steps the learner.
    steps: bool,
    /// The tokens whose slot (or its absence) in `state` is the model's at `version`.
    known: TokenSet,
}

type TokenSet = std::collections::HashSet<u64, std::hash::BuildHasherDefault<IdentityHasher>>;

/// Tokens a kept [`Mirror`] may know (about 16 bytes each with the table: 32 MiB at most);
/// past that it is dropped and the next batch reads all its tokens again. The site model of
/// the SpamAssassin corpus has 673k tokens.
const KEPT_MAX: usize = 1 << 21;

/// Keeps `mirror`, the copy of the site-wide model's state after a batch whose calls all took
/// the fast path, for the next batch ([`read_mirror`] checks its version).
pub(super) fn keep(store: &Redis, user: Option<&str>, mirror: Mirror) {
    if user.is_none() && mirror.version.is_some() && mirror.known.len() <= KEPT_MAX {
        store.lr_kept.replace(Some(mirror));
    }
}

/// A version no other call will make: 64 random bits (the standard library's per-process
/// random hasher keys, the time and a counter).
fn fresh_version() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    h.write_u128(now.map_or(0, |d| d.as_nanos()));
    format!("{:016x}", h.finish())
}

/// One read of a model's learner state ([`read_state`]).
struct StateRead {
    /// The model's version, when it was the same before and after the reads.
    version: Option<String>,
    bias: Slot,
    /// One slot per field asked for.
    slots: Vec<Slot>,
    grads: Vec<(Digest, f32)>,
}

/// Reads, in one round trip, `keys`' version, bias, the slots of `fields` and the gradients
/// of `digests`.
fn read_state(
    store: &Redis,
    lr_key: &str,
    totals: &str,
    fields: &[u64],
    digests: &[Digest],
) -> Result<StateRead> {
    let bad = || store.corrupt(format!("unreadable token learner state in {lr_key}"));
    // The slots in steps, then the bias and the gradients.
    let steps_of = fields.len().div_ceil(READ_STEP);
    let (version, replies) = redis_io::versioned_reads(
        store,
        totals,
        |p| {
            redis_io::hmget_steps(p, lr_key, fields);
            p.cmd("HMGET").arg(lr_key).arg(BIAS);
            for d in digests {
                p.arg(&d[..]);
            }
        },
        bad,
    )?;
    if replies.len() != steps_of + 1 {
        return Err(bad());
    }
    let mut slots = vec![Slot::default(); fields.len()];
    redis_io::parse_steps(&replies, &mut slots, slot).ok_or_else(bad)?;
    let Value::Array(rest) = &replies[steps_of] else {
        return Err(bad());
    };
    if rest.len() != digests.len() + 1 {
        return Err(bad());
    }
    let mut grads = Vec::new();
    for (d, v) in digests.iter().zip(&rest[1..]) {
        match v {
            Value::BulkString(b) => {
                let bits = u32::from_be_bytes(b.as_slice().try_into().map_err(|_| bad())?);
                grads.push((*d, f32::from_bits(bits)));
            }
            Value::Nil => {}
            _ => return Err(bad()),
        }
    }
    Ok(StateRead {
        version,
        bias: slot(&rest[0]).ok_or_else(bad)?,
        slots,
        grads,
    })
}

/// Reads the [`Mirror`] of `ops` applied to `user`'s model: in one round trip, the model's
/// version, bias, the slots of the operations' tokens and the gradients of their messages; and
/// for a user's model, the site-wide model's bias and slots (another cluster slot: read apart;
/// the batch does not write it). Nothing is read when no operation steps the learner. With a
/// kept copy of the site-wide model ([`keep`]) only the tokens it does not know are read, and
/// it is used if the model is still at its version (else everything is read).
pub(super) fn read_mirror(store: &Redis, user: Option<&str>, ops: &[LearnOp]) -> Result<Mirror> {
    let steps = ops.iter().any(|o| o.lr.is_some());
    let kept = store.lr_kept.take().filter(|_| user.is_none());
    if !steps {
        return Ok(Mirror::default());
    }
    let mut fields: Vec<u64> = ops
        .iter()
        .flat_map(|o| o.tokens.hashes.iter().copied())
        .collect();
    fields.sort_unstable();
    fields.dedup();
    let digests = crate::ledger::digests(ops);
    let keys = store.keys(user);
    // A copy of no version: every call's steps are taken by the script.
    let fast = store.lr_fast.get();
    if let Some(mut kept) = kept.filter(|k| fast && k.version.is_some()) {
        let ask: Vec<u64> = fields
            .iter()
            .copied()
            .filter(|h| !kept.known.contains(h))
            .collect();
        let read = read_state(store, &keys.lr, &keys.totals, &ask, &digests)?;
        if read.version.is_some() && read.version == kept.version {
            let state = &mut kept.state;
            for (h, s) in ask.iter().zip(read.slots) {
                match s.is_empty() {
                    true => state.slots.remove(h),
                    false => state.slots.insert(*h, s),
                };
                kept.known.insert(*h);
            }
            state.bias = read.bias;
            state.grads = read.grads.into_iter().collect();
            kept.steps = true;
            return Ok(kept);
        }
    }
    let read = read_state(store, &keys.lr, &keys.totals, &fields, &digests)?;
    let mut state = LrState {
        bias: read.bias,
        slots: fields
            .iter()
            .zip(read.slots)
            .filter(|(_, s)| !s.is_empty())
            .map(|(h, s)| (*h, s))
            .collect(),
        grads: read.grads.into_iter().collect(),
        ..LrState::default()
    };
    if user.is_some() {
        let site = store.keys(None);
        let base = read_state(store, &site.lr, &site.totals, &fields, &[])?;
        state.base_bias = base.bias;
        state.base = fields
            .iter()
            .zip(base.slots)
            .filter(|(_, s)| !s.is_empty())
            .map(|(h, s)| (*h, s))
            .collect();
    }
    Ok(Mirror {
        state,
        version: read.version.filter(|_| fast),
        steps,
        known: fields.into_iter().collect(),
    })
}

/// The learner's four arguments of `redis_apply.lua` for one call of `ops`, planned as `plan`
/// against the ledger entries `known`: the records ([`records`]), the version the mirror is
/// of, the version the call makes, and the writes of the steps taken on the mirror (which
/// then holds the state after the call).
pub(super) fn call_args(
    mirror: &mut Mirror,
    ops: &[LearnOp],
    known: &[(Digest, Option<LedgerEntry>)],
    plan: &Plan,
) -> [Vec<u8>; 4] {
    let records = records(ops, known, mirror);
    let mut writes = Vec::new();
    for (d, _) in plan.ledger.iter().filter(|(_, e)| e.is_none()) {
        push(&mut writes, &d[..], None);
    }
    let next = fresh_version();
    if !mirror.steps {
        // Learned again with the learner off: the old step is not this entry's any more.
        for (d, _) in plan.ledger.iter().filter(|(_, e)| e.is_some()) {
            push(&mut writes, &d[..], None);
        }
        return [records, b"*".to_vec(), next.into_bytes(), writes];
    }
    let mut touched: Vec<u64> = ops
        .iter()
        .flat_map(|o| o.tokens.hashes.iter().copied())
        .collect();
    touched.sort_unstable();
    touched.dedup();
    // Whether each token has a slot before the steps: one that has none before and after
    // (most: E28's negligible slots) needs no write on the fast path, where the model's state
    // is the copy's.
    let had: Vec<Option<Slot>> = touched
        .iter()
        .map(|h| mirror.state.slots.get(h).copied())
        .collect();
    mirror.state.apply_ops(ops, known);
    let state = &mirror.state;
    for (h, had) in touched.into_iter().zip(had) {
        let now = state.slots.get(&h).copied();
        let s = now.and_then(slot_value);
        if s.is_some() || had.is_some() {
            // A token whose counts this call only adds to has counts after it: the script
            // writes its slot without looking. Another one's slot is dropped if its counts are
            // gone: the copy no longer knows it.
            let added = plan
                .deltas
                .binary_search_by_key(&h, |d| d.0)
                .is_ok_and(|i| plan.deltas[i].1 >= 0 && plan.deltas[i].2 >= 0);
            if s.is_some() && !added {
                mirror.known.remove(&h);
            } else if added && had == now {
                // Unchanged (no step, or one too small for f32), and its counts stay.
                continue;
            }
            let v = s.as_ref().map(|v| &v[..]);
            push_flagged(&mut writes, &h.to_be_bytes(), v, added);
        }
    }
    push(
        &mut writes,
        BIAS,
        slot_value(state.bias).as_ref().map(|v| &v[..]),
    );
    for (d, _) in plan.ledger.iter().filter(|(_, e)| e.is_some()) {
        let g = state.grads.get(d).map(|g| g.to_bits().to_be_bytes());
        push(&mut writes, &d[..], g.as_ref().map(|v| &v[..]));
    }
    // No version: the script takes the steps itself (an empty EXPECT matches nothing).
    let expect = mirror.version.replace(next.clone()).unwrap_or_default();
    [records, expect.into_bytes(), next.into_bytes(), writes]
}

/// One write of the script's WRITES argument: field, then value (`None` removes the field).
fn push(out: &mut Vec<u8>, field: &[u8], value: Option<&[u8]>) {
    push_flagged(out, field, value, false);
}

/// [`push`], with `added`: the field is a token whose counts the call only adds to.
fn push_flagged(out: &mut Vec<u8>, field: &[u8], value: Option<&[u8]>, added: bool) {
    out.push(field.len() as u8 | if added { 128 } else { 0 });
    out.extend_from_slice(field);
    let v = value.unwrap_or_default();
    out.push(v.len() as u8);
    out.extend_from_slice(v);
}

/// `redis_apply_lr.lua`'s record flags.
const UNDO: u8 = 1;
const STEP: u8 = 2;
const SPAM: u8 = 4;
const DROP: u8 = 8;

/// The learner's argument of `redis_apply.lua` for `ops` planned against the ledger entries
/// `known` (see `redis_apply_lr.lua`): the settings, then, in order, one record per operation
/// that changes its message's ledger entry, as [`crate::logreg::LrState::apply_ops`] walks
/// them: undo the message's step (forget, flip), step toward its class (learn, flip), or,
/// with the learner off, drop its stored gradient. The script computes every gradient from
/// the model's state as it finds it.
fn records(ops: &[LearnOp], known: &[(Digest, Option<LedgerEntry>)], mirror: &Mirror) -> Vec<u8> {
    let p = params(ops).unwrap_or_default();
    let mut out = Vec::new();
    for v in [p.rate, p.beta, p.l1, p.l2, p.ham_cost, p.min_step] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for (op, remove, add) in crate::ledger::class_changes(ops, known) {
        let Some(params) = &op.lr else {
            out.push(DROP);
            out.extend_from_slice(&op.digest);
            continue;
        };
        let mut flags = if remove.is_some() { UNDO } else { 0 };
        match add {
            Some(Class::Spam) => flags |= STEP | SPAM,
            Some(Class::Ham) => flags |= STEP,
            None => {}
        }
        out.push(flags);
        out.extend_from_slice(&op.digest);
        if add.is_some() {
            // The site-wide model's part, from the copy (zero for the site-wide model).
            let st = &mirror.state;
            let w = |h: &u64| st.base.get(h).map_or(0.0, |s| s.weight(params));
            let m = st.base_bias.weight(params) + op.tokens.hashes.iter().map(w).sum::<f64>();
            out.extend_from_slice(&m.to_be_bytes());
        }
        out.extend_from_slice(&(op.tokens.hashes.len() as u32).to_be_bytes());
        for h in &op.tokens.hashes {
            out.extend_from_slice(&h.to_be_bytes());
        }
    }
    out
}

/// A model's learner state from its `P{M}:lr` hash's fields and values (HSCAN's, duplicates
/// allowed): 8-byte fields are token slots, `bias` the bias, 16-byte fields gradients. `None`
/// when a field or value is not one of these.
pub(super) fn from_fields(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Option<LrDump> {
    let mut out = LrDump::default();
    for (f, v) in fields {
        if f == BIAS {
            out.bias = Slot::from_bits(u64::from_be_bytes(v.as_slice().try_into().ok()?));
        } else if let Ok(h) = <[u8; 8]>::try_from(f.as_slice()) {
            let s = Slot::from_bits(u64::from_be_bytes(v.as_slice().try_into().ok()?));
            out.slots.push((u64::from_be_bytes(h), s));
        } else {
            let d = Digest::try_from(f.as_slice()).ok()?;
            out.grads
                .push((d, u32::from_be_bytes(v.as_slice().try_into().ok()?)));
        }
    }
    out.slots.sort_unstable_by_key(|s| s.0);
    out.slots.dedup_by_key(|s| s.0);
    out.grads.sort_unstable_by_key(|g| g.0);
    out.grads.dedup_by_key(|g| g.0);
    Some(out)
}

/// The `P{M}:lr` fields and values that hold `lr` (empty slots left out).
pub(super) fn to_fields(lr: &LrDump) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = lr
        .slots
        .iter()
        .filter_map(|(h, s)| Some((h.to_be_bytes().to_vec(), slot_value(*s)?.to_vec())))
        .collect();
    if let Some(v) = slot_value(lr.bias) {
        out.push((BIAS.to_vec(), v.to_vec()));
    }
    out.extend(
        lr.grads
            .iter()
            .map(|(d, g)| (d.to_vec(), g.to_be_bytes().to_vec())),
    );
    out
}
