//! The discriminative token learner (corpora/EXPERIMENTS.md E21, E24, E25): online logistic
//! regression over the same hashed tokens Bayes counts, trained with FTRL-proximal and fused
//! into the score as added points, persisted per model beside the counts.
//!
//! Each token is a binary feature, plus a bias. A model (the site-wide one, or a user's) holds
//! FTRL's `z` and `n` (Σg²) per token as a [`Slot`]. The margin of a message is
//! `m = Σ w(site slots) + Σ w(user slots)` over its tokens and the two biases (the user's
//! learner adds to the site's, as the user's counts add to the site's), with the weight
//! `w = −(z − sign(z) l1) / ((β + √n) / α + l2)` (0 while `|z| ≤ l1`); the probability is
//! `p = σ(m)` and the score gets `weight × (2p − 1)` points.
//!
//! After a message is learned as class `y`, one FTRL step (McMahan et al. 2013) with the
//! gradient `g = c × (p − y)` (`c` = [`TokenLrParams::ham_cost`] for ham, 1 for spam) updates
//! the model the message is learned in: for every token and the bias,
//! `σ = (√(n + g²) − √n) / α`, `z += g − σ w`, `n += g²`. The per-token rate shrinks as a token
//! is seen more, so frequent tokens stop moving and new ones learn fast. A message whose
//! `|g|` is below [`TokenLrParams::min_step`] (the learner is already confident about it)
//! takes no step at all, and its stored `g` is 0 (E49).
//!
//! # Forget and flip: the step undone
//! FTRL's step depends on the state it was taken from, so it is undone rather than
//! recomputed: the ledger keeps each learned message's `g` (as `f32`) and a forget applies the
//! exact inverse of the step with that `g`: `n₀ = n − g²`, and, with `l1` 0, solving
//! `z = z₀ + g − σ w(z₀, n₀)` for `z₀` (linear: `z₀ = (z − g) / (1 + σ / d₀)`,
//! `d₀ = (β + √n₀) / α + l2`; piecewise linear with `l1`). Learn then forget of the last
//! message learned gives back every slot up to `f32` rounding and [`NEGLIGIBLE_Z`]'s drop
//! (property-tested); a forget of
//! an older message leaves the state within what the messages learned since then moved it,
//! because their steps were taken from a state that included it. A flip is the undo then a
//! step toward the new class. Messages learned while the learner was off have no `g` and are
//! not undone from it.

use std::collections::HashMap;

use crate::ledger::{Action, Class, Digest, LearnOp};
use crate::model::{LedgerEntry, TokenMap};

/// The learner's settings (`[learner]` in the configuration; `lr_*` keys of
/// [`crate::Engine::set`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenLrParams {
    /// Points at full confidence; 0 turns the learner off (nothing read, nothing learned).
    pub weight: f64,
    /// FTRL's alpha (per-coordinate rate `rate / (beta + √Σg²)`).
    pub rate: f64,
    /// FTRL's beta.
    pub beta: f64,
    /// FTRL's L1 strength.
    pub l1: f64,
    /// FTRL's L2 strength.
    pub l2: f64,
    /// Factor on the gradient of a ham message.
    pub ham_cost: f64,
    /// A message whose gradient is smaller than this (in absolute value) takes no step: the
    /// learner already classifies it confidently (E49: 0.003, the largest of 0.001 to 0.03
    /// that ties or wins every figure of every cell against 0).
    pub min_step: f64,
}

// The settings carried by a [`LearnOp`] compare bit for bit; none is NaN (`set` refuses it).
impl Eq for TokenLrParams {}

impl Default for TokenLrParams {
    fn default() -> Self {
        // E24: α 0.1, β 1 (FTRL's rates); E25: ham cost 2.5 (3, E24's, loses a figure);
        // E28: on by default at weight 1.1, the middle of the weights (1.05 to 1.2) that win or
        // tie every figure of every cell against the learner off (1 and 1.25 lose SpamAssassin
        // seed 42's sm@0.1 by one message), now that negligible slots are not stored
        // ([`NEGLIGIBLE_Z`]: the store grows 13%, not 53%; corpora/EXPERIMENTS.md E28);
        // E49: no step below a gradient of 0.003 (ties or wins every figure; Redis training
        // about 10% faster).
        TokenLrParams {
            weight: 1.1,
            rate: 0.1,
            beta: 1.0,
            l1: 0.0,
            l2: 0.0,
            ham_cost: 2.5,
            min_step: 3e-3,
        }
    }
}

impl TokenLrParams {
    /// True when the learner contributes to the score and learns.
    pub fn enabled(&self) -> bool {
        self.weight != 0.0
    }

    /// Sets one `lr_*` key; `Ok(false)` for a key that is not the learner's.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let slot = match key {
            "lr_weight" => &mut self.weight,
            "lr_rate" => &mut self.rate,
            "lr_beta" => &mut self.beta,
            "lr_l1" => &mut self.l1,
            "lr_l2" => &mut self.l2,
            "lr_ham_cost" => &mut self.ham_cost,
            "lr_min_step" => &mut self.min_step,
            // E24's alternatives lost and were removed in E25.
            "lr_algo" | "lr_fuse" | "lr_char4" | "lr_ramp" => {
                return Err("removed in E25 (the persisted learner is FTRL, added points)".into());
            }
            _ => return Ok(false),
        };
        let v: f64 = value.parse().map_err(|e| format!("{e}"))?;
        if !v.is_finite() || (key != "lr_weight" && v < 0.0) {
            return Err("expected a finite number (not negative, except lr_weight)".into());
        }
        *slot = v;
        Ok(true)
    }

    fn denominator(&self, n: f64) -> f64 {
        (self.beta + n.max(0.0).sqrt()) / self.rate.max(1e-12) + self.l2
    }

    /// Points for a margin: `weight × (2σ(m) − 1)`.
    pub fn points(&self, margin: f64) -> f64 {
        self.weight * (2.0 * sigmoid(margin) - 1.0)
    }
}

/// `1 / (1 + e^−m)`, `|m|` clipped at 30.
pub fn sigmoid(margin: f64) -> f64 {
    1.0 / (1.0 + (-margin.clamp(-30.0, 30.0)).exp())
}

/// A token's slot with `|z|` below this and `n` below [`NEGLIGIBLE_N`] is dropped (not
/// stored): its weight is under `NEGLIGIBLE_Z × rate / beta` (1e-4 points of margin with the
/// defaults) and its rate within 1% of a fresh token's. Most slots are such: the tokens of a
/// message the learner already classified confidently get a step of a few thousandths or less.
/// Dropping them keeps 16% of the token rows' slots (the E25 training command's store grows
/// 13% over schema 2 instead of 53%) and changes no figure of any cell of the matrix (scores
/// move by at most 0.0009 points; corpora/EXPERIMENTS.md E28). Learn then forget of a message
/// is then exact within these two bounds plus `f32` rounding, not within rounding alone.
pub const NEGLIGIBLE_Z: f32 = 1e-3;

/// See [`NEGLIGIBLE_Z`]: `√n` below 0.01, so the token's rate `α / (β + √n)` is within 1% of
/// a fresh token's with β 1.
pub const NEGLIGIBLE_N: f32 = 1e-4;

/// One feature's state: FTRL's `z` and `n` (Σg²).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Slot {
    /// FTRL's `z`.
    pub z: f32,
    /// FTRL's `n`, the sum of squared gradients.
    pub n: f32,
}

// Slots are never NaN: `from_bits` and the steps keep them finite.
impl Eq for Slot {}

impl Slot {
    /// The slot as stored: `z`'s bits then `n`'s, one 64-bit number.
    pub fn to_bits(self) -> u64 {
        (u64::from(self.z.to_bits()) << 32) | u64::from(self.n.to_bits())
    }

    /// A stored slot; anything not finite (a damaged value) reads as zero.
    pub fn from_bits(bits: u64) -> Slot {
        let s = Slot {
            z: f32::from_bits((bits >> 32) as u32),
            n: f32::from_bits(bits as u32),
        };
        if s.z.is_finite() && s.n.is_finite() && s.n >= 0.0 {
            s
        } else {
            Slot::default()
        }
    }

    /// True when the slot holds nothing (never trained, or trained and undone to f32 dust).
    pub fn is_empty(self) -> bool {
        self.z.abs() < 1e-7 && self.n < 1e-12
    }

    /// True when a token's slot is not worth a place in the store: `|z|` below
    /// [`NEGLIGIBLE_Z`] and `n` below [`NEGLIGIBLE_N`] (see there). Such a slot is dropped after
    /// every step and undo, so the token reads as never stepped.
    pub fn is_negligible(self) -> bool {
        self.z.abs() < NEGLIGIBLE_Z && self.n < NEGLIGIBLE_N
    }

    /// The feature's weight.
    pub fn weight(self, params: &TokenLrParams) -> f64 {
        let z = f64::from(self.z);
        if z.abs() <= params.l1 {
            0.0
        } else {
            -(z - z.signum() * params.l1) / params.denominator(f64::from(self.n))
        }
    }

    fn step(&mut self, params: &TokenLrParams, g: f64) {
        let w = self.weight(params);
        let n = f64::from(self.n);
        let sigma = ((n + g * g).sqrt() - n.sqrt()) / params.rate.max(1e-12);
        self.z = (f64::from(self.z) + g - sigma * w) as f32;
        self.n = (n + g * g) as f32;
    }

    /// The inverse of [`Slot::step`] with the same `g` (see the module docs).
    fn unstep(&mut self, params: &TokenLrParams, g: f64) {
        let (z1, n1) = (f64::from(self.z), f64::from(self.n));
        // What is left of n after taking g² off; f32 rounding of a first step leaves dust.
        let n0 = n1 - g * g;
        let n0 = if n0 <= n1 * 1e-6 { 0.0 } else { n0 };
        let sigma = (n1.sqrt() - n0.sqrt()) / params.rate.max(1e-12);
        let k = sigma / params.denominator(n0);
        // z1 = z0 + g − σ w(z0): w is 0 inside ±l1, linear beyond it on each side.
        let inside = z1 - g;
        let z0 = if inside.abs() <= params.l1 {
            inside
        } else {
            let s = inside.signum();
            (inside + k * s * params.l1) / (1.0 + k)
        };
        self.z = z0 as f32;
        self.n = n0 as f32;
        if self.is_empty() {
            *self = Slot::default();
        }
    }
}

/// The learner's slots read for one message: per hash, the site-wide model's and the user's;
/// and the two biases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LrRead {
    /// The site-wide model's slot of each hash.
    pub site: Vec<Slot>,
    /// The user's slot of each hash (empty without a user).
    pub user: Vec<Slot>,
    /// The site-wide model's bias, then the user's.
    pub bias: [Slot; 2],
}

impl LrRead {
    /// Zeroes everything for `n` hashes (`user`: whether a user's slots are read too).
    pub fn reset(&mut self, n: usize, user: bool) {
        self.site.clear();
        self.site.resize(n, Slot::default());
        self.user.clear();
        self.user.resize(if user { n } else { 0 }, Slot::default());
        self.bias = Default::default();
    }

    /// The margin over the first `n` hashes read (the message's tokens) and the biases.
    pub fn margin(&self, params: &TokenLrParams, n: usize) -> f64 {
        let w = |s: &Slot| s.weight(params);
        self.bias.iter().map(w).sum::<f64>()
            + self.site.iter().take(n).map(w).sum::<f64>()
            + self.user.iter().take(n).map(w).sum::<f64>()
    }
}

/// One model's learner state (all of it for `eval`'s in-memory model; the slots of one batch's
/// tokens for a store), with the site-wide model's when it is a user's.
#[derive(Debug, Clone, Default)]
pub struct LrState {
    /// The model's slots (absent: zero).
    pub slots: TokenMap<Slot>,
    /// The model's bias.
    pub bias: Slot,
    /// The site-wide model's slots when the model is a user's (read only).
    pub base: TokenMap<Slot>,
    /// The site-wide model's bias when the model is a user's.
    pub base_bias: Slot,
    /// The gradient each learned message's step was taken with, by digest.
    pub grads: HashMap<Digest, f32>,
}

impl LrState {
    fn margin(&self, params: &TokenLrParams, features: &[u64]) -> f64 {
        let w = |m: &TokenMap<Slot>, h: &u64| m.get(h).map_or(0.0, |s| s.weight(params));
        self.bias.weight(params)
            + self.base_bias.weight(params)
            + features
                .iter()
                .map(|h| w(&self.slots, h) + w(&self.base, h))
                .sum::<f64>()
    }

    /// One step toward `class` for a message with these (distinct) features; returns its `g`.
    pub fn learn(&mut self, params: &TokenLrParams, features: &[u64], class: Class) -> f32 {
        let (y, cost) = match class {
            Class::Spam => (1.0, 1.0),
            Class::Ham => (0.0, params.ham_cost),
        };
        let g = cost * (sigmoid(self.margin(params, features)) - y);
        if g == 0.0 || !g.is_finite() || g.abs() < params.min_step {
            return 0.0;
        }
        self.bias.step(params, g);
        for h in features {
            let s = self.slots.entry(*h).or_default();
            s.step(params, g);
            if s.is_negligible() {
                self.slots.remove(h);
            }
        }
        // Stored as f32: the undo's g differs from the step's by f32 rounding only.
        g as f32
    }

    /// Undoes the step of a message learned with gradient `g`.
    pub fn unlearn(&mut self, params: &TokenLrParams, features: &[u64], g: f32) {
        if g == 0.0 || !g.is_finite() {
            return;
        }
        self.bias.unstep(params, f64::from(g));
        for h in features {
            if let Some(s) = self.slots.get_mut(h) {
                s.unstep(params, f64::from(g));
                if s.is_negligible() {
                    self.slots.remove(h);
                }
            }
        }
    }

    /// Applies the learner's part of a batch, as [`crate::ledger::plan`] plans its counts
    /// against the ledger entries `known` (every digest of `ops`): an undo for each message
    /// forgotten or flipped (with its stored `g`), a step for each message learned (its `g`
    /// kept in [`LrState::grads`]). Operations without learner settings change nothing here.
    pub fn apply_ops(&mut self, ops: &[LearnOp], known: &[(Digest, Option<LedgerEntry>)]) {
        for (op, remove, add) in crate::ledger::class_changes(ops, known) {
            let Some(params) = &op.lr else {
                // The learner is off: the message has no step to undo later.
                self.grads.remove(&op.digest);
                continue;
            };
            if remove.is_some() {
                if let Some(g) = self.grads.remove(&op.digest) {
                    self.unlearn(params, &op.tokens.hashes, g);
                }
            }
            if let Some(c) = add {
                let g = self.learn(params, &op.tokens.hashes, c);
                self.grads.insert(op.digest, g);
            }
            debug_assert!(matches!(op.action, Action::Learn(_) | Action::Forget));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::Tokens;

    fn on() -> TokenLrParams {
        TokenLrParams {
            weight: 1.0,
            ..TokenLrParams::default()
        }
    }

    fn op(d: u8, hashes: &[u64], action: Action) -> LearnOp {
        LearnOp {
            digest: [d; 16],
            tokens: Tokens {
                hashes: hashes.to_vec(),
                ..Tokens::default()
            },
            rules: Vec::new(),
            action,
            lr: Some(on()),
        }
    }

    #[test]
    fn learns_to_separate_and_frequent_features_slow_down() {
        let p = TokenLrParams {
            ham_cost: 1.0,
            rate: 0.5,
            ..on()
        };
        let mut s = LrState::default();
        for _ in 0..200 {
            s.learn(&p, &[1, 2, 3], Class::Spam);
            s.learn(&p, &[3, 4, 5], Class::Ham);
        }
        assert!(sigmoid(s.margin(&p, &[1, 2, 3])) > 0.9);
        assert!(sigmoid(s.margin(&p, &[3, 4, 5])) < 0.1);
        let w = |h: u64| s.slots[&h].weight(&p).abs();
        assert!(w(3) < w(1), "{} {}", w(3), w(1));
        assert!(s.slots[&1].n > 0.0);
        // Untrained: no points.
        assert_eq!(p.points(LrState::default().margin(&p, &[1])), 0.0);
    }

    #[test]
    fn a_message_classified_confidently_takes_no_step() {
        let p = TokenLrParams { rate: 1.0, ..on() };
        let mut s = LrState::default();
        let mut skipped = 0;
        for i in 0..400u64 {
            let before = s.clone();
            let g = s.learn(&p, &[1, 2, 3, 1_000 + i], Class::Spam);
            if g == 0.0 {
                // Nothing moved, not even the bias or the new token.
                assert_eq!(
                    (s.slots.clone(), s.bias),
                    (before.slots, before.bias),
                    "{i}"
                );
                skipped += 1;
            } else {
                assert!(f64::from(g).abs() >= p.min_step, "{i}: {g}");
            }
        }
        assert!(skipped > 100 && p.min_step > 0.0, "{skipped}");
        // The threshold off: every step taken.
        let p = TokenLrParams { min_step: 0.0, ..p };
        assert!(s.learn(&p, &[1, 2, 3], Class::Spam) != 0.0);
    }

    #[test]
    fn a_ham_step_is_ham_cost_times_a_spam_step() {
        let p = on();
        let (mut a, mut b) = (LrState::default(), LrState::default());
        let ga = a.learn(&p, &[7], Class::Spam);
        let gb = b.learn(&p, &[7], Class::Ham);
        assert!(
            (f64::from(gb) + p.ham_cost * f64::from(ga)).abs() < 1e-6 && p.ham_cost > 1.0,
            "{ga} {gb}"
        );
    }

    #[test]
    fn undo_of_the_last_step_restores_every_slot() {
        for l1 in [0.0, 0.05] {
            let p = TokenLrParams { l1, ..on() };
            let mut s = LrState::default();
            for i in 0..50u64 {
                let class = if i % 3 == 0 { Class::Ham } else { Class::Spam };
                s.learn(&p, &[i % 7, 10 + i % 5, 20], class);
            }
            let before = s.clone();
            let g = s.learn(&p, &[1, 2, 20, 99], Class::Ham);
            assert!(g != 0.0);
            s.unlearn(&p, &[1, 2, 20, 99], g);
            assert!(!s.slots.contains_key(&99), "a new feature is gone again");
            for (h, b) in &before.slots {
                let a = s.slots[h];
                assert!(
                    (a.z - b.z).abs() < 1e-5 && (a.n - b.n).abs() < 1e-5,
                    "{h}: {a:?} {b:?}"
                );
            }
            assert!((s.bias.z - before.bias.z).abs() < 1e-5);
        }
    }

    #[test]
    fn ops_follow_the_ledger() {
        let mut s = LrState::default();
        let ops = [
            op(1, &[1, 2], Action::Learn(Class::Spam)),
            op(1, &[1, 2], Action::Learn(Class::Spam)),
            op(1, &[1, 2], Action::Learn(Class::Ham)),
            op(2, &[3], Action::Forget),
            op(1, &[1, 2], Action::Forget),
        ];
        s.apply_ops(&ops[..1], &[([1; 16], None)]);
        let once = s.clone();
        // Learned again as the same class: no step.
        let known = LedgerEntry::new(Class::Spam, &ops[0].tokens, &[]);
        s.apply_ops(&ops[1..2], &[([1; 16], Some(known.clone()))]);
        assert_eq!(s.slots, once.slots);
        // Flip: the spam step undone, a ham step from nothing (g = ham cost × 0.5).
        s.apply_ops(&ops[2..3], &[([1; 16], Some(known.clone()))]);
        let g = (on().ham_cost * 0.5) as f32;
        assert_eq!(s.grads[&[1; 16]], g, "{s:?}");
        assert_eq!(s.slots[&1], Slot { z: g, n: g * g });
        // Forget: back to nothing.
        let ham = LedgerEntry::new(Class::Ham, &ops[0].tokens, &[]);
        s.apply_ops(&ops[3..], &[([1; 16], Some(ham)), ([2; 16], None)]);
        assert!(s.slots.is_empty(), "{:?}", s.slots);
        assert!(s.grads.is_empty());
    }

    #[test]
    fn settings_and_storage() {
        let mut p = TokenLrParams::default();
        assert!(p.enabled(), "on by default (E28)");
        assert_eq!(p.set("lr_weight", "0"), Ok(true));
        assert!(!p.enabled());
        assert_eq!(p.set("min_dev", "0.1"), Ok(false));
        assert!(p.set("lr_algo", "sgd").is_err());
        assert!(p.set("lr_rate", "NaN").is_err());
        assert_eq!(p.set("lr_min_step", "0.01"), Ok(true));
        assert_eq!(p.min_step, 0.01);
        let s = Slot { z: -1.5, n: 2.25 };
        assert_eq!(Slot::from_bits(s.to_bits()), s);
        assert_eq!(Slot::from_bits(u64::MAX), Slot::default());
    }
}
