//! The token learner's state in SQLite (schema 3, E25): the `lr` columns of `tokens` (one slot
//! per token row) and `totals` (the bias), and the ledger's `lr_grad`. See [`crate::logreg`].

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, params};

use crate::error::Result;
use crate::ledger::{Digest, LearnOp};
use crate::logreg::{LrState, Slot};

use super::backend::LrDump;
use super::sqlite::{Sqlite, h2i, i2h};

/// A batch's learner state after its steps, and the tokens it holds (those to write back).
pub(super) type Stepped = (LrState, HashSet<u64>);

fn slot(v: Option<i64>) -> Slot {
    v.map_or_else(Slot::default, |b| Slot::from_bits(i2h(b)))
}

/// The learner's state for a batch, read inside its write transaction: the slots of every
/// token of `ops` in model `user_id` (and in the site-wide model, which a user's layers on),
/// both biases, and the stored gradients `grads` of the batch's known messages.
pub(super) fn read_state(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    ops: &[LearnOp],
    grads: HashMap<Digest, f32>,
) -> rusqlite::Result<Stepped> {
    let touched: HashSet<u64> = ops
        .iter()
        .flat_map(|o| o.tokens.hashes.iter().copied())
        .collect();
    let mut keys: Vec<i64> = touched.iter().map(|&h| h2i(h)).collect();
    keys.sort_unstable();
    let keys: rusqlite::vtab::array::Array = std::rc::Rc::new(
        keys.into_iter()
            .map(rusqlite::types::Value::Integer)
            .collect(),
    );
    let mut state = LrState {
        grads,
        ..LrState::default()
    };
    let mut stmt = tx.prepare_cached(
        "SELECT t.hash, t.user_id, t.lr FROM rarray(?1) AS a
         CROSS JOIN tokens AS t ON t.hash = a.value AND t.user_id IN (0, ?2)
         WHERE t.lr IS NOT NULL",
    )?;
    let mut rows = stmt.query(params![keys, user_id])?;
    while let Some(r) = rows.next()? {
        let (h, uid, s) = (i2h(r.get(0)?), r.get::<_, i64>(1)?, slot(r.get(2)?));
        if uid == user_id {
            state.slots.insert(h, s);
        } else {
            state.base.insert(h, s);
        }
    }
    let mut bias = tx.prepare_cached("SELECT lr FROM totals WHERE user_id = ?1")?;
    let mut read = |id: i64| -> rusqlite::Result<Slot> {
        Ok(slot(
            bias.query_row([id], |r| r.get(0)).optional()?.flatten(),
        ))
    };
    state.bias = read(user_id)?;
    if user_id != 0 {
        state.base_bias = read(0)?;
    }
    Ok((state, touched))
}

/// The slot to write for token `h` (NULL when the learner holds nothing for it) and whether
/// the learner stepped it at all (otherwise the row's slot is left as it is).
pub(super) fn slot_of(lr: Option<&Stepped>, h: u64) -> (Option<i64>, bool) {
    match lr {
        Some((state, touched)) if touched.contains(&h) => {
            (state.slots.get(&h).map(|s| h2i(s.to_bits())), true)
        }
        _ => (None, false),
    }
}

/// Writes the slots of the tokens the learner stepped whose counts the batch left as they
/// were (no delta: a message flipped and flipped back, or learned and forgotten, in one
/// batch), which [`slot_of`]'s writes with the counts do not reach. A token without a row
/// has no slot (the slot goes with the counts).
pub(super) fn write_unmoved(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    deltas: &[(u64, i64, i64)],
    (state, touched): &Stepped,
) -> rusqlite::Result<()> {
    let moved: HashSet<u64> = deltas
        .iter()
        .filter(|d| (d.1, d.2) != (0, 0))
        .map(|d| d.0)
        .collect();
    let mut unmoved: Vec<u64> = touched.difference(&moved).copied().collect();
    unmoved.sort_unstable();
    let mut update =
        tx.prepare_cached("UPDATE tokens SET lr = ?3 WHERE hash = ?1 AND user_id = ?2")?;
    for h in unmoved {
        let slot = state.slots.get(&h).map(|s| h2i(s.to_bits()));
        update.execute(params![h2i(h), user_id, slot])?;
    }
    Ok(())
}

/// Writes a model's bias.
pub(super) fn write_bias(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    bias: Slot,
) -> rusqlite::Result<()> {
    let v = (!bias.is_empty()).then(|| h2i(bias.to_bits()));
    tx.prepare_cached("UPDATE totals SET lr = ?2 WHERE user_id = ?1")?
        .execute(params![user_id, v])?;
    Ok(())
}

/// The site-wide model's bias and user `own`'s (zero in a store older than version 3).
pub(super) fn read_bias(store: &Sqlite, own: Option<i64>) -> Result<[Slot; 2]> {
    if !store.has_lr_columns()? {
        return Ok(Default::default());
    }
    let mut stmt = store
        .conn
        .prepare_cached("SELECT user_id, lr FROM totals WHERE user_id IN (0, ?1)")?;
    let mut rows = stmt.query([own.unwrap_or(0)])?;
    let mut out = [Slot::default(); 2];
    while let Some(r) = rows.next()? {
        let i = usize::from(r.get::<_, i64>(0)? != 0);
        out[i] = slot(r.get(1)?);
    }
    Ok(out)
}

/// Model `id`'s learner state, for `db export` (the store has the `lr` columns).
pub(super) fn dump(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<LrDump> {
    let mut out = LrDump::default();
    let mut stmt =
        conn.prepare("SELECT hash, lr FROM tokens WHERE user_id = ?1 AND lr IS NOT NULL")?;
    let mut rows = stmt.query([id])?;
    while let Some(r) = rows.next()? {
        out.slots.push((i2h(r.get(0)?), slot(r.get(1)?)));
    }
    out.slots.sort_unstable_by_key(|s| s.0);
    out.bias = slot(
        conn.query_row("SELECT lr FROM totals WHERE user_id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?
        .flatten(),
    );
    let mut stmt = conn
        .prepare("SELECT digest, lr_grad FROM ledger WHERE user_id = ?1 AND lr_grad IS NOT NULL")?;
    let mut rows = stmt.query([id])?;
    while let Some(r) = rows.next()? {
        let blob: Vec<u8> = r.get(0)?;
        if let Ok(d) = Digest::try_from(blob.as_slice()) {
            out.grads.push((d, (r.get::<_, f64>(1)? as f32).to_bits()));
        }
    }
    out.grads.sort_unstable_by_key(|g| g.0);
    Ok(out)
}

/// Writes a dumped learner state into model `id`, whose token rows and ledger entries
/// `db import` has just written (a slot whose token has no row has nowhere to go: the store
/// drops a token's slot with its counts).
pub(super) fn load(tx: &rusqlite::Transaction<'_>, id: i64, lr: &LrDump) -> rusqlite::Result<()> {
    let mut tok =
        tx.prepare_cached("UPDATE tokens SET lr = ?3 WHERE hash = ?1 AND user_id = ?2")?;
    for (h, s) in &lr.slots {
        if !s.is_empty() {
            tok.execute(params![h2i(*h), id, h2i(s.to_bits())])?;
        }
    }
    let mut led =
        tx.prepare_cached("UPDATE ledger SET lr_grad = ?3 WHERE user_id = ?1 AND digest = ?2")?;
    for (d, g) in &lr.grads {
        led.execute(params![id, &d[..], f64::from(f32::from_bits(*g))])?;
    }
    write_bias(tx, id, lr.bias)
}
