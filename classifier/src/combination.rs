//! The learned combination, per site and per user: each rule hit counts for a weight learned
//! from the store's own feedback, with the rule's configured score as the prior.
//!
//! # Evidence: counts, kept beside the tokens
//! Every learned message also learns one pseudo-token per rule it hits ([`rule_token`]), in the
//! same token table, through the same ledger ([`crate::ledger`]): a rule's pseudo-token counts
//! the spam and ham messages of this model that hit it. So `train`, `correct`, `forget` and
//! `eval` all feed it, a user's corrections land in the user's model (layered on the site's as
//! every count is, see [`crate::store`]), and forget and flip are exact by construction: they
//! **undo the counts**, and the ledger entry records which pseudo-tokens its message added
//! ([`crate::model::LedgerEntry::rules`]), so a forget after the rules changed still takes away
//! exactly what was added. `db check` proves it like any other count.
//!
//! The pseudo-tokens never reach Bayes: Bayes looks up only the message's own tokens.
//!
//! # The weight (E23, corpora/EXPERIMENTS.md)
//! For a rule with configured score `s`, hit by `n_s` of the model's `N_s` spam and `n_h` of
//! its `N_h` ham, the smoothed log-odds of its hit rates (E19's evidence, per site) is
//!
//! `L = ln( ((n_s + ½)/(N_s + 1)) / ((n_h + ½)/(N_h + 1)) )`, negated for a rule with `s < 0`
//! (a ham rule is good when it hits ham),
//!
//! shrunk toward a prior log-odds `L₀ = 2·ln R` by `K` pseudo-hits:
//! `L' = (K·L₀ + n·L) / (K + n)` with `n = n_s + n_h`, and the weight is
//! `w = s · clamp(L' / ln R, 0, 1)`. A rule whose hits on this site are at least `R` times as
//! frequent in its own class as in the other keeps its configured score; one that hits the
//! other class as often as its own goes to 0 after a few hits; a weight never exceeds the
//! configured score nor changes sign (the prior is an upper bound, so a learned combination
//! cannot make the rules flag more ham than they would alone). Without both classes trained
//! there is no evidence and the weight is the configured score.

use serde::Deserialize;

use crate::bayes::Counts;
use crate::bayes::Totals;
use crate::rules::RuleHit;
use crate::tokenize::hash_token;

/// Settings of the learned combination (`[combination]` in the configuration).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CombinationParams {
    /// Learn rule weights from the store's feedback (`false`: every rule counts its configured
    /// score, as before issue 11; rule hits are then not learned either).
    pub enabled: bool,
    /// `K`: how many hits of evidence weigh as much as the prior.
    pub prior_strength: f64,
    /// `R`: the ratio of hit rates (own class over the other) at and above which a rule keeps
    /// its configured score.
    pub full_ratio: f64,
}

impl Default for CombinationParams {
    fn default() -> Self {
        // E23 (corpora/EXPERIMENTS.md): R 2 ties the rules' fixed scores on every cell of
        // the corpus matrix (R 5, E19's ratio test, lost on the SpamAssassin corpus at every
        // K tried); K 10 of the K tried at R 2 (3, 10), which tied.
        CombinationParams {
            enabled: true,
            prior_strength: 10.0,
            full_ratio: 2.0,
        }
    }
}

/// The pseudo-token that counts a rule's hits: a hash of its name in a namespace no message
/// token uses (the tokenizer never emits control characters).
pub fn rule_token(name: &str) -> u64 {
    hash_token(&format!("\u{1}rule:{name}"))
}

/// The pseudo-tokens of `hits`, sorted and distinct: what a learned message adds.
pub fn rule_tokens(hits: &[RuleHit]) -> Vec<u64> {
    let mut v: Vec<u64> = hits
        .iter()
        .filter(|h| h.score != 0.0)
        .map(|h| rule_token(&h.name))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl CombinationParams {
    /// The learned weight of a rule with configured score `score`, hit by `hits` of the
    /// model's messages, `totals` in all (see the module docs for the formula).
    pub fn weight(&self, score: f64, hits: Counts, totals: Totals) -> f64 {
        if !self.enabled || score == 0.0 || totals.spam == 0 || totals.ham == 0 {
            return score;
        }
        let n = f64::from(hits.spam) + f64::from(hits.ham);
        if n == 0.0 {
            return score;
        }
        let rate = |k: u32, total: u64| (f64::from(k) + 0.5) / (total as f64 + 1.0);
        let mut l = (rate(hits.spam, totals.spam) / rate(hits.ham, totals.ham)).ln();
        if score < 0.0 {
            l = -l;
        }
        let full = self.full_ratio.max(1.0 + 1e-9).ln();
        let k = self.prior_strength.max(0.0);
        let shrunk = (k * 2.0 * full + n * l) / (k + n);
        score * (shrunk / full).clamp(0.0, 1.0)
    }

    /// The learned weight of each hit, given the counts of its pseudo-token (in order).
    pub fn weights(&self, hits: &[RuleHit], counts: &[Counts], totals: Totals) -> Vec<f64> {
        hits.iter()
            .zip(counts)
            .map(|(h, c)| self.weight(h.score, *c, totals))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(spam: u32, ham: u32) -> Counts {
        Counts { spam, ham }
    }

    const SITE: Totals = Totals {
        spam: 1000,
        ham: 2000,
    };

    #[test]
    fn no_evidence_keeps_the_configured_score() {
        let p = CombinationParams::default();
        assert_eq!(p.weight(2.5, c(0, 0), SITE), 2.5);
        assert_eq!(p.weight(2.5, c(3, 4), Totals { spam: 0, ham: 9 }), 2.5);
        let off = CombinationParams {
            enabled: false,
            ..p.clone()
        };
        assert_eq!(off.weight(2.5, c(0, 50), SITE), 2.5);
    }

    #[test]
    fn a_rule_that_hits_ham_stops_counting_after_a_few_hits() {
        let p = CombinationParams::default();
        let mut last = 2.0;
        for ham in 1..=40 {
            let w = p.weight(2.0, c(0, ham), SITE);
            assert!(w <= last && w >= 0.0, "{ham}: {w}");
            last = w;
        }
        assert!(
            p.weight(2.0, c(0, 20), SITE) < 0.2,
            "{}",
            p.weight(2.0, c(0, 20), SITE)
        );
        assert_eq!(p.weight(2.0, c(0, 40), SITE), 0.0);
        // As many ham as spam hits, in proportion to the classes: no evidence for the rule,
        // so the weight fades as the hits accumulate.
        assert!(p.weight(2.0, c(50, 100), SITE) < 0.3);
        assert!(p.weight(2.0, c(500, 1000), SITE) < 0.05);
    }

    #[test]
    fn a_rule_that_hits_its_class_keeps_its_score_and_never_grows() {
        let p = CombinationParams::default();
        assert_eq!(p.weight(1.5, c(100, 10), SITE), 1.5);
        assert_eq!(p.weight(1.5, c(500, 0), SITE), 1.5);
        // A ham rule (negative score) is good when it hits ham.
        assert_eq!(p.weight(-1.0, c(0, 300), SITE), -1.0);
        assert_eq!(p.weight(-1.0, c(300, 0), SITE), 0.0);
    }

    #[test]
    fn classify_reads_rule_evidence_with_the_tokens_and_agrees_with_eval() {
        use crate::ledger::{Action, Class};
        let engine = crate::Engine::new();
        let mut model = crate::MemoryModel::new();
        let pills: &[u8] =
            b"From: a@b.example\nTo: undisclosed-recipients:;\nSubject: CHEAP PILLS NOW!!!\n\n\
            Buy viagra online, no prescription!!! Click here to be removed.\n";
        let ham: &[u8] = b"From: c@d.example\nSubject: lunch\n\nSee you at noon.\n";
        for i in 0..6 {
            let variant = |m: &[u8]| [format!("X-N: {i}\n").as_bytes(), m].concat();
            for (m, class) in [(variant(pills), Class::Ham), (variant(ham), Class::Spam)] {
                let a = engine.analyze(&m);
                model.apply(&engine.op(&a, Action::Learn(class)));
            }
        }
        let a = engine.analyze(pills);
        // One lookup (classify) and two (eval's order: Bayes, then the rule evidence).
        let fused = engine.verdict(&a, &model).expect("verdict");
        let bayes = engine.bayes(&a, &model).expect("bayes");
        let hits = engine.rule_hits(&a, Some(&bayes));
        let apart = engine.combine_with(bayes, hits, &model).expect("combine");
        assert!(!fused.hits.is_empty());
        assert_eq!(fused.weights, apart.weights);
        assert_eq!(fused.score, apart.score);
        // Most of its rules hit only messages learned as ham here: they stopped counting; none
        // counts more than its configured score.
        let zero = fused.weights.iter().filter(|w| **w == 0.0).count();
        assert!(zero * 2 > fused.weights.len(), "{:?}", fused.weights);
        for (h, w) in fused.hits.iter().zip(&fused.weights) {
            assert!(*w >= 0.0 && *w <= h.score, "{}: {w}", h.name);
        }
    }

    #[test]
    fn pseudo_tokens_are_sorted_distinct_and_skip_unscored_rules() {
        let hit = |name: &str, score| RuleHit {
            name: name.into(),
            score,
            description: String::new(),
        };
        let t = rule_tokens(&[hit("B", 1.0), hit("A", 2.0), hit("A", 2.0), hit("Z", 0.0)]);
        let mut want = vec![rule_token("A"), rule_token("B")];
        want.sort_unstable();
        assert_eq!(t, want);
        assert_ne!(rule_token("A"), hash_token("rule:A"));
    }
}
