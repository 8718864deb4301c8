//! The token learner's state in Redis (E25): one hash per model, `P{M}:lr`, beside the model's
//! counts and with the same hash tag (see the layout in [`super::redis`]). Fields: a token's
//! 8-byte hash to its [`Slot`] (8 bytes, big-endian), `bias` to the bias's, and a learned
//! message's 16-byte digest to the gradient of its step (an `f32`, 4 bytes, big-endian).
//!
//! Reading is part of `redis_read.lua`'s one call per message. Writing is part of
//! `redis_apply.lua`'s call: the batch's learner state is read (one pipelined round trip),
//! stepped here with [`LrState::apply_ops`] and written whole with the counts, in the same
//! atomic script. The script's ledger check keeps the counts exact when two hosts train at
//! once; the learner's writes of the later batch are then computed from a state that may miss
//! the other's steps (a lost update of the learner, never of a count).

use std::collections::HashSet;

use redis::Value;

use crate::error::Result;
use crate::ledger::{Digest, LearnOp, Plan};
use crate::logreg::{LrState, Slot};
use crate::model::{LedgerEntry, TokenMap};

use super::backend::LrDump;
use super::redis::Redis;

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

/// One write of the script's learner argument: field, then value (`None` removes the field).
fn push(out: &mut Vec<u8>, field: &[u8], value: Option<&[u8]>) {
    out.push(field.len() as u8);
    out.extend_from_slice(field);
    let v = value.unwrap_or_default();
    out.push(v.len() as u8);
    out.extend_from_slice(v);
}

fn slot_value(s: Slot) -> Option<[u8; 8]> {
    (!s.is_empty()).then(|| s.to_bits().to_be_bytes())
}

/// The learner's writes for a planned batch, as `redis_apply.lua` takes them: the stored
/// gradient of every message the plan forgets is removed; with the learner on (the batch's
/// operations carry its settings), the batch's state is read, stepped and written back.
pub(super) fn plan_writes(
    store: &Redis,
    user: Option<&str>,
    ops: &[LearnOp],
    known: &[(Digest, Option<LedgerEntry>)],
    plan: &Plan,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (d, _) in plan.ledger.iter().filter(|(_, e)| e.is_none()) {
        push(&mut out, &d[..], None);
    }
    if ops.iter().all(|o| o.lr.is_none()) {
        // Learned again with the learner off: the old step is not this entry's any more.
        for (d, _) in plan.ledger.iter().filter(|(_, e)| e.is_some()) {
            push(&mut out, &d[..], None);
        }
        return Ok(out);
    }
    let mut state = read_state(store, user, ops, known)?;
    state.apply_ops(ops, known);
    let touched: HashSet<u64> = ops
        .iter()
        .flat_map(|o| o.tokens.hashes.iter().copied())
        .collect();
    let mut touched: Vec<u64> = touched.into_iter().collect();
    touched.sort_unstable();
    for h in touched {
        let s = state.slots.get(&h).copied().unwrap_or_default();
        push(
            &mut out,
            &h.to_be_bytes(),
            slot_value(s).as_ref().map(|v| &v[..]),
        );
    }
    push(
        &mut out,
        BIAS,
        slot_value(state.bias).as_ref().map(|v| &v[..]),
    );
    for (d, _) in plan.ledger.iter().filter(|(_, e)| e.is_some()) {
        let g = state.grads.get(d).map(|g| g.to_bits().to_be_bytes());
        push(&mut out, &d[..], g.as_ref().map(|v| &v[..]));
    }
    Ok(out)
}

/// The learner's state for a batch: the slots of its tokens in the model (and in the site-wide
/// one when the model is a user's), the biases, and the known messages' gradients.
fn read_state(
    store: &Redis,
    user: Option<&str>,
    ops: &[LearnOp],
    known: &[(Digest, Option<LedgerEntry>)],
) -> Result<LrState> {
    let mut fields: Vec<u64> = ops
        .iter()
        .flat_map(|o| o.tokens.hashes.iter().copied())
        .collect();
    fields.sort_unstable();
    fields.dedup();
    let digests: Vec<&Digest> = known
        .iter()
        .filter(|(_, e)| e.is_some())
        .map(|(d, _)| d)
        .collect();
    let own = store.keys(user).lr;
    let site = user.map(|_| store.keys(None).lr);
    let replies: Vec<Vec<Value>> = store.run(|c| {
        let mut p = redis::pipe();
        for key in std::iter::once(&own).chain(site.as_ref()) {
            p.cmd("HMGET").arg(key).arg(BIAS);
            for h in &fields {
                p.arg(&h.to_be_bytes()[..]);
            }
        }
        p.cmd("HMGET").arg(&own).arg(BIAS);
        for d in &digests {
            p.arg(&d[..]);
        }
        p.query(c)
    })?;
    let bad = || store.corrupt(format!("unreadable token learner state in {own}"));
    let model = |reply: &[Value]| -> Option<(Slot, TokenMap<Slot>)> {
        let bias = slot(reply.first()?)?;
        let mut slots = TokenMap::default();
        for (h, v) in fields.iter().zip(reply.get(1..)?) {
            let s = slot(v)?;
            if !s.is_empty() {
                slots.insert(*h, s);
            }
        }
        Some((bias, slots))
    };
    let mut state = LrState::default();
    let (bias, slots) = model(replies.first().ok_or_else(bad)?).ok_or_else(bad)?;
    (state.bias, state.slots) = (bias, slots);
    if site.is_some() {
        let (bias, slots) = model(replies.get(1).ok_or_else(bad)?).ok_or_else(bad)?;
        (state.base_bias, state.base) = (bias, slots);
    }
    let grads = replies.last().ok_or_else(bad)?;
    for (d, v) in digests.iter().zip(grads.get(1..).unwrap_or_default()) {
        match v {
            Value::BulkString(b) => {
                let bits = u32::from_be_bytes(b.as_slice().try_into().map_err(|_| bad())?);
                state.grads.insert(**d, f32::from_bits(bits));
            }
            Value::Nil => {}
            _ => return Err(bad()),
        }
    }
    Ok(state)
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
