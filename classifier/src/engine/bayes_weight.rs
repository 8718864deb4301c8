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
            let bayes = self.bayes.combine_tokens(&op.tokens, &counts, totals);
            self.combination.record_bayes(op, band_of(&bayes));
        }
        Ok(())
    }

    /// [`Engine::record_bayes`] for a batch against one model (`train`): one lookup of the
    /// batch's distinct tokens, and none while the model has not learned both classes (Bayes
    /// has no say then, so no band is recorded either way).
    pub fn record_bayes_batch(&self, ops: &mut [LearnOp], model: &dyn TokenCounts) -> Result<()> {
        let learning = |op: &LearnOp| matches!(op.action, Action::Learn(_));
        if !self.combination.learns_bayes() {
            return Ok(());
        }
        let totals = model.totals();
        if totals.spam == 0 || totals.ham == 0 {
            return Ok(());
        }
        let mut all: Vec<u64> = ops
            .iter()
            .filter(|o| learning(o))
            .flat_map(|o| o.tokens.hashes.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        let mut counts = Vec::new();
        let totals = model.read(&all, &mut counts)?;
        let mut mine = Vec::new();
        for op in ops.iter_mut().filter(|o| learning(o)) {
            mine.clear();
            mine.extend(op.tokens.hashes.iter().map(|h| {
                all.binary_search(h)
                    .ok()
                    .and_then(|i| counts.get(i).copied())
                    .unwrap_or_default()
            }));
            let bayes = self.bayes.combine_tokens(&op.tokens, &mine, totals);
            self.combination.record_bayes(op, band_of(&bayes));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::ledger::{Action, Class};
    use crate::{Engine, MemoryModel};

    #[test]
    fn a_batch_records_the_same_bands_as_one_message_at_a_time() {
        let engine = Engine::new();
        let mut model = MemoryModel::new();
        let msg = |i: usize, spam: bool| {
            let body = if spam {
                "cheap pills order now"
            } else {
                "lunch at noon, notes"
            };
            engine.analyze(format!("Subject: m{i}\n\n{body} {i}\n").as_bytes())
        };
        let mut ops: Vec<_> = (0..6)
            .map(|i| engine.op(&msg(i, i % 2 == 0), Action::Learn(Class::Ham)))
            .collect();
        ops.push(engine.op(&msg(9, true), Action::Forget));
        // One class only: no band either way.
        let mut batch = ops.clone();
        engine
            .record_bayes_batch(&mut batch, &model)
            .expect("batch");
        assert_eq!(batch, ops);
        for i in 0..20 {
            let spam = i % 2 == 0;
            let class = if spam { Class::Spam } else { Class::Ham };
            model.apply(&engine.op(&msg(100 + i, spam), Action::Learn(class)));
        }
        let mut batch = ops.clone();
        engine
            .record_bayes_batch(&mut batch, &model)
            .expect("batch");
        let mut single = ops.clone();
        for op in &mut single {
            engine.record_bayes(op, &model).expect("single");
        }
        assert_eq!(batch, single);
        assert_ne!(batch, ops, "bands were recorded");
        assert_eq!(batch.last(), ops.last(), "a forget records nothing");
    }
}
