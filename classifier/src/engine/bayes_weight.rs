//! The learned Bayes weight's part of the engine (E26, see [`crate::combination`]): which band
//! a result's weight is learned for, how a verdict's Bayes points are scaled, and the band a
//! learned message records.

use super::{Engine, Verdict, band_of};
use crate::bayes::BayesResult;
use crate::combination;
use crate::error::Result;
use crate::ledger::{Action, LearnOp};
use crate::model::TokenCounts;

impl Engine {
    /// The band whose Bayes weight is learned for this result, if any (E26).
    pub(super) fn learned_band(&self, bayes: &BayesResult) -> Option<&'static str> {
        let learns = self.combination.learns_bayes();
        combination::learned_band(band_of(bayes).filter(|_| learns))
    }

    /// Counts `factor` of the verdict's Bayes points when they point towards spam.
    pub(super) fn scale_bayes(&self, v: &mut Verdict, factor: f64) {
        v.bayes_factor = factor;
        if factor < 1.0 && v.bayes_points > 0.0 {
            let cut = v.bayes_points * (1.0 - factor);
            v.bayes_points -= cut;
            v.score -= cut;
            v.is_spam = v.score >= v.required;
        }
    }

    /// Adds to a learning operation the Bayes band its message gets against `model` (the model
    /// before it), when the learned combination learns the Bayes weight (E26).
    pub fn record_bayes(&self, op: &mut LearnOp, model: &dyn TokenCounts) -> Result<()> {
        if self.combination.learns_bayes() && matches!(op.action, Action::Learn(_)) {
            let mut counts = Vec::new();
            let totals = model.read(&op.tokens.hashes, &mut counts)?;
            let bayes = self.bayes.combine(&op.tokens.hashes, &counts, totals);
            self.combination.record_bayes(op, band_of(&bayes));
        }
        Ok(())
    }
}
