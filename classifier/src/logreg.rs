//! A discriminative token learner, for experiments (corpora/EXPERIMENTS.md E21): online logistic
//! regression over the same hashed tokens Bayes counts, fused into the score beside Bayes and
//! the rules. Off by default (`weight` 0); `mailsift eval --set lr_weight=W --set lr_rate=R`
//! turns it on for a run. Its weights live in memory for the run only: nothing is persisted
//! while it is not a default.
//!
//! Each token is a binary feature. The margin is `z = bias + Σ w[token]`, the probability
//! `p = σ(z)`, and the score gains `weight × (2p − 1)` points. After the gold label `y` is
//! known, one step of the logistic loss: `w[token] += rate × (y − p)` for every token of the
//! message, and the same for the bias; `|z|` is clipped at 30 before σ.

use std::collections::HashMap;

/// Settings of the token learner.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLrParams {
    /// Points at full confidence (p = 0 or 1); 0 turns the learner off.
    pub weight: f64,
    /// Step size per message.
    pub rate: f64,
}

impl Default for TokenLrParams {
    fn default() -> Self {
        // E21: off by default (did not win on every cell of the matrix).
        TokenLrParams {
            weight: 0.0,
            rate: 0.02,
        }
    }
}

impl TokenLrParams {
    /// True when the learner contributes to the score.
    pub fn enabled(&self) -> bool {
        self.weight != 0.0
    }
}

/// The learner's state: one weight per token hash, and a bias.
#[derive(Debug, Clone, Default)]
pub struct TokenLr {
    weights: HashMap<u64, f32>,
    bias: f64,
}

impl TokenLr {
    /// An untrained learner (every weight 0: p = 0.5, no points).
    pub fn new() -> Self {
        TokenLr::default()
    }

    /// The probability that a message with these tokens is spam.
    pub fn probability(&self, hashes: &[u64]) -> f64 {
        let z: f64 = self.bias
            + hashes
                .iter()
                .filter_map(|h| self.weights.get(h))
                .map(|&w| f64::from(w))
                .sum::<f64>();
        1.0 / (1.0 + (-z.clamp(-30.0, 30.0)).exp())
    }

    /// Points for a message: `weight × (2p − 1)`.
    pub fn points(&self, params: &TokenLrParams, hashes: &[u64]) -> f64 {
        params.weight * (2.0 * self.probability(hashes) - 1.0)
    }

    /// One online step toward the gold label.
    pub fn update(&mut self, params: &TokenLrParams, hashes: &[u64], spam: bool) {
        let y = if spam { 1.0 } else { 0.0 };
        let g = params.rate * (y - self.probability(hashes));
        if g == 0.0 || !g.is_finite() {
            return;
        }
        self.bias += g;
        for h in hashes {
            *self.weights.entry(*h).or_insert(0.0) += g as f32;
        }
    }

    /// Tokens with a weight.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// True before any update.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_to_separate_and_stays_neutral_untrained() {
        let params = TokenLrParams {
            weight: 4.0,
            rate: 0.1,
        };
        let mut lr = TokenLr::new();
        let spam = [1u64, 2, 3];
        let ham = [3u64, 4, 5];
        assert_eq!(lr.points(&params, &spam), 0.0);
        for _ in 0..200 {
            lr.update(&params, &spam, true);
            lr.update(&params, &ham, false);
        }
        assert!(lr.probability(&spam) > 0.9, "{}", lr.probability(&spam));
        assert!(lr.probability(&ham) < 0.1, "{}", lr.probability(&ham));
        assert!(lr.points(&params, &spam) > 3.0 && lr.points(&params, &ham) < -3.0);
        // A token seen in both stays near 0.
        assert!(lr.weights[&3].abs() < lr.weights[&1].abs());
        assert_eq!(lr.len(), 5);
    }

    #[test]
    fn off_by_default() {
        assert!(!TokenLrParams::default().enabled());
    }
}
