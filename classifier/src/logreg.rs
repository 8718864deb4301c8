//! A discriminative token learner, for experiments (corpora/EXPERIMENTS.md E21, E24): online
//! logistic regression over the same hashed tokens Bayes counts (optionally with character
//! 4-grams of the start of the visible text), fused into the score beside Bayes and the rules.
//! Off by default (`weight` 0); `mailsift eval --set lr_weight=W ...` turns it on for a run.
//! Its weights live in memory for the run only: nothing is persisted while it is not a default.
//!
//! Each feature is binary. The margin is `z = bias + Σ w[feature]`, the probability
//! `p = σ(z)` (`|z|` clipped at 30). After the gold label `y` is known, one step on the
//! logistic loss, its gradient `g = c × (p − y)` scaled by `c` = [`TokenLrParams::ham_cost`]
//! for ham (a ham pushed up costs more than a spam let through):
//! - [`Algo::Sgd`] (E21): `w −= rate × g` for every feature and the bias;
//! - [`Algo::Ftrl`] (FTRL-proximal, McMahan et al. 2013): per-coordinate rates
//!   `rate / (beta + √Σg²)`, so a token seen in thousands of messages stops moving while a
//!   new one learns fast; `l1` keeps rare features at exactly 0, `l2` shrinks.
//!
//! How it reaches the score ([`Fuse`]): `Add` puts `weight × (2p − 1)` points beside the
//! others (E21); `Indicator` mixes `p` into the Bayes probability,
//! `p' = (1 − weight) × p_bayes + weight × p`, which then goes through the same indicator
//! curve, Bayes weight and confidence ramp as Bayes alone (so `weight` is a share in [0, 1]).

use std::collections::HashMap;

use crate::bayes::BayesResult;
use crate::message::MessageView;

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    /// Plain stochastic gradient descent, one rate for every feature.
    Sgd,
    /// FTRL-proximal with per-coordinate rates.
    Ftrl,
}

/// How the learner's probability enters the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fuse {
    /// `weight × (2p − 1)` points added.
    Add,
    /// Mixed into the Bayes probability with share `weight`.
    Indicator,
}

/// Settings of the token learner.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLrParams {
    /// Points at full confidence (`Add`) or share of the Bayes probability (`Indicator`);
    /// 0 turns the learner off.
    pub weight: f64,
    /// Step size per message (`Sgd`), or FTRL's alpha.
    pub rate: f64,
    /// The update rule.
    pub algo: Algo,
    /// FTRL's beta (per-coordinate rate `rate / (beta + √Σg²)`).
    pub beta: f64,
    /// FTRL's L1 strength.
    pub l1: f64,
    /// FTRL's L2 strength.
    pub l2: f64,
    /// Factor on the gradient of a ham message.
    pub ham_cost: f64,
    /// How the probability enters the score.
    pub fuse: Fuse,
    /// Character 4-grams of the first this many bytes of the visible text as extra features
    /// (0: tokens only).
    pub char4_bytes: usize,
    /// `Fuse::Add` points scaled by the Bayes confidence ramp (0 until both classes are
    /// trained), so an untrained learner does not speak.
    pub ramp: bool,
}

impl Default for TokenLrParams {
    fn default() -> Self {
        // E21, E24: off by default (no setting won on every cell of the matrix).
        TokenLrParams {
            weight: 0.0,
            rate: 0.02,
            algo: Algo::Sgd,
            beta: 1.0,
            l1: 0.0,
            l2: 0.0,
            ham_cost: 1.0,
            fuse: Fuse::Add,
            char4_bytes: 0,
            ramp: false,
        }
    }
}

impl TokenLrParams {
    /// True when the learner contributes to the score.
    pub fn enabled(&self) -> bool {
        self.weight != 0.0
    }

    /// Sets one `lr_*` experiment key (see [`crate::Engine::set`]); `Ok(false)` for a key that
    /// is not the learner's.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        fn num<T: std::str::FromStr>(v: &str) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            v.parse().map_err(|e: T::Err| e.to_string())
        }
        match key {
            "lr_weight" => self.weight = num(value)?,
            "lr_rate" => self.rate = num(value)?,
            "lr_beta" => self.beta = num(value)?,
            "lr_l1" => self.l1 = num(value)?,
            "lr_l2" => self.l2 = num(value)?,
            "lr_ham_cost" => self.ham_cost = num(value)?,
            "lr_char4" => self.char4_bytes = num(value)?,
            "lr_ramp" => self.ramp = num(value)?,
            "lr_algo" => {
                self.algo = match value {
                    "sgd" => Algo::Sgd,
                    "ftrl" => Algo::Ftrl,
                    _ => return Err("expected sgd or ftrl".into()),
                }
            }
            "lr_fuse" => {
                self.fuse = match value {
                    "add" => Fuse::Add,
                    "indicator" => Fuse::Indicator,
                    _ => return Err("expected add or indicator".into()),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The learner's features of a message: its token hashes, plus character 4-grams of the
    /// start of its visible text when asked; sorted and distinct.
    pub fn features(&self, hashes: &[u64], view: &MessageView) -> Vec<u64> {
        if self.char4_bytes == 0 {
            return hashes.to_vec();
        }
        let mut out = hashes.to_vec();
        let mut text: Vec<u8> = Vec::with_capacity(self.char4_bytes);
        let mut space = true;
        'parts: for part in &view.text_parts {
            for &b in part.text.as_bytes() {
                if text.len() >= self.char4_bytes {
                    break 'parts;
                }
                // Whitespace runs collapse to one space; ASCII is lower-cased.
                if b.is_ascii_whitespace() {
                    if !space {
                        text.push(b' ');
                    }
                    space = true;
                } else {
                    text.push(b.to_ascii_lowercase());
                    space = false;
                }
            }
        }
        // Seeded apart from the tokenizer's hashes, so a 4-gram never aliases a token.
        out.extend(
            text.windows(4)
                .map(|w| xxhash_rust::xxh3::xxh3_64_with_seed(w, 0x6334_6772_616d)),
        );
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// One feature's state: its weight (SGD), or FTRL's `z` and `n` (Σg²).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    w: f32,
    z: f32,
    n: f32,
}

/// The learner's state: one slot per feature hash, and a bias.
#[derive(Debug, Clone, Default)]
pub struct TokenLr {
    slots: HashMap<u64, Slot>,
    bias: Slot,
}

impl TokenLr {
    /// An untrained learner (every weight 0: p = 0.5, no points).
    pub fn new() -> Self {
        TokenLr::default()
    }

    fn weight(params: &TokenLrParams, s: &Slot) -> f64 {
        match params.algo {
            Algo::Sgd => f64::from(s.w),
            Algo::Ftrl => {
                let z = f64::from(s.z);
                if z.abs() <= params.l1 {
                    0.0
                } else {
                    let rate = params.rate.max(1e-12);
                    -(z - z.signum() * params.l1)
                        / ((params.beta + f64::from(s.n).sqrt()) / rate + params.l2)
                }
            }
        }
    }

    /// The margin `z` for these features.
    pub fn margin(&self, params: &TokenLrParams, features: &[u64]) -> f64 {
        Self::weight(params, &self.bias)
            + features
                .iter()
                .filter_map(|h| self.slots.get(h))
                .map(|s| Self::weight(params, s))
                .sum::<f64>()
    }

    /// The probability that a message with these features is spam.
    pub fn probability(&self, params: &TokenLrParams, features: &[u64]) -> f64 {
        let z = self.margin(params, features);
        1.0 / (1.0 + (-z.clamp(-30.0, 30.0)).exp())
    }

    /// Points to add to the score (`Fuse::Add`; 0 with `Fuse::Indicator`); `confidence` is
    /// the Bayes confidence, used with [`TokenLrParams::ramp`].
    pub fn points(&self, params: &TokenLrParams, features: &[u64], confidence: f64) -> f64 {
        let ramp = if params.ramp { confidence } else { 1.0 };
        match params.fuse {
            Fuse::Add => ramp * params.weight * (2.0 * self.probability(params, features) - 1.0),
            Fuse::Indicator => 0.0,
        }
    }

    /// The Bayes result with the learner's probability mixed in (`Fuse::Indicator`), else
    /// unchanged.
    pub fn fuse(
        &self,
        params: &TokenLrParams,
        features: &[u64],
        mut bayes: BayesResult,
    ) -> BayesResult {
        if params.fuse == Fuse::Indicator && !bayes.evidence.is_empty() {
            let m = params.weight.clamp(0.0, 1.0);
            bayes.probability =
                (1.0 - m) * bayes.probability + m * self.probability(params, features);
        }
        bayes
    }

    /// One online step toward the gold label.
    pub fn update(&mut self, params: &TokenLrParams, features: &[u64], spam: bool) {
        let y = if spam { 1.0 } else { 0.0 };
        let cost = if spam { 1.0 } else { params.ham_cost };
        let g = cost * (self.probability(params, features) - y);
        if g == 0.0 || !g.is_finite() {
            return;
        }
        let step = |s: &mut Slot| match params.algo {
            Algo::Sgd => s.w -= (params.rate * g) as f32,
            Algo::Ftrl => {
                let w = Self::weight(params, s);
                let n = f64::from(s.n);
                let sigma = ((n + g * g).sqrt() - n.sqrt()) / params.rate.max(1e-12);
                s.z += (g - sigma * w) as f32;
                s.n += (g * g) as f32;
            }
        };
        step(&mut self.bias);
        for h in features {
            step(self.slots.entry(*h).or_default());
        }
    }

    /// Features with a slot.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True before any update.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn separates(params: &TokenLrParams) -> TokenLr {
        let mut lr = TokenLr::new();
        let spam = [1u64, 2, 3];
        let ham = [3u64, 4, 5];
        assert_eq!(lr.points(params, &spam, 1.0), 0.0);
        for _ in 0..200 {
            lr.update(params, &spam, true);
            lr.update(params, &ham, false);
        }
        assert!(lr.probability(params, &spam) > 0.9);
        assert!(lr.probability(params, &ham) < 0.1);
        // A token seen in both stays nearer 0 than one seen in one class.
        let w = |h: u64| TokenLr::weight(params, &lr.slots[&h]).abs();
        assert!(w(3) < w(1), "{} {}", w(3), w(1));
        assert_eq!(lr.len(), 5);
        lr
    }

    #[test]
    fn sgd_learns_to_separate_and_stays_neutral_untrained() {
        let params = TokenLrParams {
            weight: 4.0,
            rate: 0.1,
            ..TokenLrParams::default()
        };
        let lr = separates(&params);
        assert!(lr.points(&params, &[1, 2, 3], 1.0) > 3.0);
        assert!(lr.points(&params, &[3, 4, 5], 1.0) < -3.0);
        // With the ramp, the points follow the Bayes confidence.
        let ramped = TokenLrParams {
            ramp: true,
            ..params.clone()
        };
        assert_eq!(lr.points(&ramped, &[1, 2, 3], 0.0), 0.0);
        let half = lr.points(&ramped, &[1, 2, 3], 0.5);
        assert!((half - 0.5 * lr.points(&params, &[1, 2, 3], 1.0)).abs() < 1e-12);
    }

    #[test]
    fn ftrl_learns_and_frequent_features_slow_down() {
        let mut params = TokenLrParams {
            weight: 4.0,
            rate: 0.1,
            algo: Algo::Ftrl,
            ..TokenLrParams::default()
        };
        params.set("lr_l1", "0.01").expect("l1");
        let lr = separates(&params);
        // Σg² grows with every message a feature is in: its rate shrinks.
        assert!(lr.slots[&1].n > 0.0);
        // L1: a feature whose |z| stays under l1 has weight exactly 0.
        let quiet = Slot {
            z: 0.005,
            ..Slot::default()
        };
        assert_eq!(TokenLr::weight(&params, &quiet), 0.0);
    }

    #[test]
    fn ham_cost_and_indicator_fusion() {
        let mut params = TokenLrParams::default();
        for (k, v) in [
            ("lr_weight", "0.5"),
            ("lr_fuse", "indicator"),
            ("lr_ham_cost", "3"),
        ] {
            assert_eq!(params.set(k, v), Ok(true), "{k}");
        }
        assert_eq!(params.set("min_dev", "0.1"), Ok(false));
        assert!(params.set("lr_algo", "adam").is_err());
        // A ham step is three times a spam step from the same start.
        let (mut a, mut b) = (TokenLr::new(), TokenLr::new());
        a.update(&params, &[7], true);
        b.update(&params, &[7], false);
        let (wa, wb) = (a.slots[&7].w, b.slots[&7].w);
        assert!(
            (f64::from(wb) + 3.0 * f64::from(wa)).abs() < 1e-6,
            "{wa} {wb}"
        );
        // Indicator: no points of its own; the Bayes probability moves halfway to the learner's.
        assert_eq!(b.points(&params, &[7], 1.0), 0.0);
        let mut bayes = BayesResult::neutral();
        bayes.probability = 1.0;
        bayes.evidence.push(crate::bayes::TokenEvidence {
            hash: 7,
            prob: 0.9,
            counts: crate::bayes::Counts { spam: 1, ham: 0 },
        });
        let p = b.probability(&params, &[7]);
        let fused = b.fuse(&params, &[7], bayes);
        assert!((fused.probability - (0.5 + 0.5 * p)).abs() < 1e-12);
    }

    #[test]
    fn char4_features_from_the_start_of_the_text() {
        let view = MessageView::parse(
            b"Subject: x\r\n\r\nAbcd  EFGH ijkl\r\n",
            &crate::limits::Limits::default(),
        );
        let off = TokenLrParams::default();
        assert_eq!(off.features(&[9, 3], &view), vec![9, 3]);
        let on = TokenLrParams {
            char4_bytes: 6,
            ..TokenLrParams::default()
        };
        // "abcd e": three 4-grams, after the two tokens, sorted.
        let f = on.features(&[9, 3], &view);
        assert_eq!(f.len(), 5, "{f:?}");
        assert!(f.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn off_by_default() {
        assert!(!TokenLrParams::default().enabled());
    }
}
