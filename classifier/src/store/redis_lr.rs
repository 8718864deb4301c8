//! The token learner's state in Redis (E25): one hash per model, `P{M}:lr`, beside the model's
//! counts and with the same hash tag (see the layout in [`super::redis`]). Fields: a token's
//! 8-byte hash to its [`Slot`] (8 bytes, big-endian), `bias` to the bias's, and a learned
//! message's 16-byte digest to the gradient of its step (an `f32`, 4 bytes, big-endian).
//!
//! Reading is part of `redis_read.lua`'s one call per message. Learning is part of
//! `redis_apply.lua`'s call, in the same atomic script as the counts and the ledger: the client
//! sends, per message, what to do (undo its step, step toward its class) and its tokens
//! ([`records`]), and the script (`redis_apply_lr.lua`) takes FTRL's steps in order from the
//! state it finds, computing each message's gradient from the weights before its step and
//! keeping it for the undo. So the learner's steps are those SQLite takes inside its write
//! transaction ([`crate::logreg::LrState::apply_ops`]), nothing is read before the call (the
//! calls of a batch pipeline), and two hosts training at once neither lose nor double a step.
//! A user's model adds the site-wide model's weights to its margin: that part is read before
//! the batch ([`read_base`]) and sent with each step.

use std::collections::HashMap;

use redis::Value;

use crate::error::Result;
use crate::ledger::{Class, Digest, LearnOp, decide};
use crate::logreg::{Slot, TokenLrParams};
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

fn slot_value(s: Slot) -> Option<[u8; 8]> {
    (!s.is_empty()).then(|| s.to_bits().to_be_bytes())
}

/// The token learner's settings a batch is applied with: those of its first operation that has
/// them (the chunks of a batch are cut where they change, [`super::redis_apply`]).
pub(super) fn params(ops: &[LearnOp]) -> Option<TokenLrParams> {
    ops.iter().find_map(|o| o.lr)
}

/// The site-wide model's learner state over a batch's tokens, read for a step in a user's
/// model (whose margin adds the site-wide model's weights; the site-wide model is not written
/// by that step, so it is read before the batch, not inside the script, which on a cluster
/// may only touch the user's slot).
#[derive(Debug, Default)]
pub(super) struct Base {
    slots: TokenMap<Slot>,
    bias: Slot,
}

impl Base {
    /// The site-wide model's part of the margin of a message with these features.
    fn margin(&self, params: &TokenLrParams, features: &[u64]) -> f64 {
        let w = |h: &u64| self.slots.get(h).map_or(0.0, |s| s.weight(params));
        self.bias.weight(params) + features.iter().map(w).sum::<f64>()
    }
}

/// Reads [`Base`] for `ops` applied to `user`'s model with the learner on (one round trip);
/// `None` for the site-wide model or with the learner off.
pub(super) fn read_base(
    store: &Redis,
    user: Option<&str>,
    ops: &[LearnOp],
) -> Result<Option<Base>> {
    if user.is_none() || params(ops).is_none() {
        return Ok(None);
    }
    let mut fields: Vec<u64> = ops
        .iter()
        .filter(|o| o.lr.is_some())
        .flat_map(|o| o.tokens.hashes.iter().copied())
        .collect();
    fields.sort_unstable();
    fields.dedup();
    let key = store.keys(None).lr;
    let mut base = Base::default();
    let bad = || store.corrupt(format!("unreadable token learner state in {key}"));
    // In steps, so that no one command is huge.
    for (i, part) in fields.chunks(super::redis_io::STEP).enumerate() {
        let reply: Vec<Value> = store.run(|c| {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(&key);
            if i == 0 {
                cmd.arg(BIAS);
            }
            for h in part {
                cmd.arg(&h.to_be_bytes()[..]);
            }
            cmd.query(c)
        })?;
        let mut values = reply.iter();
        if i == 0 {
            base.bias = values.next().and_then(slot).ok_or_else(bad)?;
        }
        for h in part {
            let s = values.next().and_then(slot).ok_or_else(bad)?;
            if !s.is_empty() {
                base.slots.insert(*h, s);
            }
        }
    }
    if fields.is_empty() {
        let v: Option<Vec<u8>> = store.run(|c| redis::cmd("HGET").arg(&key).arg(BIAS).query(c))?;
        base.bias = slot(&v.map_or(Value::Nil, Value::BulkString)).ok_or_else(bad)?;
    }
    Ok(Some(base))
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
pub(super) fn records(
    ops: &[LearnOp],
    known: &[(Digest, Option<LedgerEntry>)],
    base: Option<&Base>,
) -> Vec<u8> {
    let p = params(ops).unwrap_or_default();
    let mut out = Vec::new();
    for v in [p.rate, p.beta, p.l1, p.l2, p.ham_cost] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    let mut class: HashMap<Digest, Option<Class>> = known
        .iter()
        .map(|(d, e)| (*d, e.as_ref().map(|e| e.class)))
        .collect();
    for op in ops {
        let current = class.entry(op.digest).or_default();
        let (_, remove, add) = decide(&op.action, *current);
        if remove.is_none() && add.is_none() {
            continue;
        }
        *current = add;
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
            let m = base.map_or(0.0, |b| b.margin(params, &op.tokens.hashes));
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
