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
//!
//! # The Bayes evidence's weight (E26)
//! The Bayes evidence is learned the same way, as if each SpamAssassin band on the spam side
//! (`BAYES_60` … `BAYES_999`, [`LEARNED_BANDS`]) were a rule: a learned message whose Bayes
//! probability *at learn time* (against the model before it) fell in such a band also learns
//! that band's pseudo-token ([`bayes_token`]), recorded in its ledger entry with the rule
//! pseudo-tokens, so forget and flip undo it exactly (no new storage, no ledger format change:
//! the entry's list of pseudo-tokens holds it). A message classified in band `b` then gets
//! the share `f_b = clamp(L'_b / ln R_B, 0, 1)` of its positive Bayes points, with `L'_b` the
//! band's shrunk log-odds computed exactly as a rule's of configured score 1 (same `K`;
//! `R_B` = [`CombinationParams::bayes_ratio`]), its rates taken over the learned messages that
//! had a band at all ([`ANY_BAND`], also recorded): `bayes_weight` is the prior, and on a site where Bayes keeps saying spam on mail the site
//! learns as ham, the band's weight falls. Only points towards spam are learned: Bayes points
//! towards ham always count `bayes_weight`, so the learned weight can only lower a score,
//! never raise one (it cannot make the filter flag more ham than the prior would).

use serde::Deserialize;

use crate::bayes::Counts;
use crate::bayes::Totals;
use crate::ledger::{Action, LearnOp};
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
    /// Learn the Bayes evidence's weight per band too (see the module docs; E26).
    pub bayes: bool,
    /// `R` for the Bayes bands: the ratio of a band's rates (spam over ham) at and above
    /// which Bayes evidence in it keeps all its points.
    pub bayes_ratio: f64,
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
            // E26 (corpora/EXPERIMENTS.md): on, R_B 10; every R_B from 2 to 100 ties the
            // configured weight on every cell of the matrix (1000 loses on SpamAssassin seed 7).
            bayes: true,
            bayes_ratio: 10.0,
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

/// The SpamAssassin bands ([`crate::engine::bayes_band`]) whose Bayes points are learned:
/// the spam side, probability 0.6 and above.
pub const LEARNED_BANDS: [&str; 5] = ["BAYES_60", "BAYES_80", "BAYES_95", "BAYES_99", "BAYES_999"];

/// The pseudo-token that counts the learned messages Bayes put in `band` when they were
/// learned (a namespace apart from the rules' and the tokenizer's).
pub fn bayes_token(band: &str) -> u64 {
    hash_token(&format!("\u{1}bayes:{band}"))
}

/// The pseudo-token name that counts every learned message Bayes had a say on (any band):
/// the denominator of the bands' rates.
pub const ANY_BAND: &str = "any";

/// The pseudo-tokens a classification reads for the learned Bayes weight: each of
/// [`LEARNED_BANDS`] in order, then [`ANY_BAND`].
pub fn bayes_tokens() -> [u64; 6] {
    let mut t = [0; 6];
    for (slot, band) in t.iter_mut().zip(LEARNED_BANDS.iter().chain([&ANY_BAND])) {
        *slot = bayes_token(band);
    }
    t
}

/// The learned band among a verdict's band ([`crate::Verdict::bayes_band`], present when
/// Bayes had a say): the band if it is one of [`LEARNED_BANDS`].
pub fn learned_band(band: Option<&'static str>) -> Option<&'static str> {
    band.filter(|b| LEARNED_BANDS.contains(b))
}

impl CombinationParams {
    /// True when the Bayes evidence's weight is learned (the combination and its Bayes part on).
    pub fn learns_bayes(&self) -> bool {
        self.enabled && self.bayes
    }

    /// Adds to a learning operation the Bayes pseudo-tokens of its message at learn time
    /// (`band`, its band against the model before it, as [`crate::engine::band_of`] gives it):
    /// [`ANY_BAND`]'s whenever Bayes had a say, and the band's own when it is learned (see
    /// [`learned_band`]). `op.rules` stays sorted and distinct. Nothing for a forget or with
    /// the setting off.
    pub fn record_bayes(&self, op: &mut LearnOp, band: Option<&'static str>) {
        if !self.learns_bayes() || !matches!(op.action, Action::Learn(_)) || band.is_none() {
            return;
        }
        for b in [Some(ANY_BAND), learned_band(band)].into_iter().flatten() {
            let t = bayes_token(b);
            if let Err(i) = op.rules.binary_search(&t) {
                op.rules.insert(i, t);
            }
        }
    }

    /// The share (0 to 1) of its positive points that Bayes evidence in `band` counts for,
    /// given the counts of [`bayes_tokens`] (in order): 1 outside the learned bands, without
    /// evidence, or with the setting off. A band's rates are taken over the messages that had
    /// a Bayes band when they were learned (the counts of [`ANY_BAND`]), not over every
    /// learned message: a bulk `train` records no band for its first batch.
    pub fn bayes_factor(&self, band: Option<&str>, counts: &[Counts]) -> f64 {
        let i = band.and_then(|b| LEARNED_BANDS.iter().position(|x| *x == b));
        match (i, counts.get(LEARNED_BANDS.len())) {
            (Some(i), Some(any)) if self.learns_bayes() => {
                let within = Totals {
                    spam: u64::from(any.spam),
                    ham: u64::from(any.ham),
                };
                self.weight_at(self.bayes_ratio, 1.0, counts[i], within)
            }
            _ => 1.0,
        }
    }

    /// The learned weight of a rule with configured score `score`, hit by `hits` of the
    /// model's messages, `totals` in all (see the module docs for the formula).
    pub fn weight(&self, score: f64, hits: Counts, totals: Totals) -> f64 {
        self.weight_at(self.full_ratio, score, hits, totals)
    }

    fn weight_at(&self, full_ratio: f64, score: f64, hits: Counts, totals: Totals) -> f64 {
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
        let full = full_ratio.max(1.0 + 1e-9).ln();
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
        // (The token learner's points, on by default since E28, are added the same way.)
        let (bayes, margin) = engine.bayes_lr(&a, &model).expect("bayes");
        let hits = engine.rule_hits(&a, Some(&bayes));
        let mut apart = engine.combine_with(bayes, hits, &model).expect("combine");
        engine.add_learner(&mut apart, margin);
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

    /// Runs the online protocol (classify, then learn with the band of that moment) over
    /// `mail`, returning each verdict's Bayes factor.
    fn online(
        engine: &crate::Engine,
        model: &mut crate::MemoryModel,
        mail: &[(Vec<u8>, bool)],
    ) -> Vec<f64> {
        use crate::ledger::{Action, Class};
        let mut factors = Vec::new();
        for (raw, spam) in mail {
            let a = engine.analyze(raw);
            let v = engine.verdict(&a, &*model).expect("verdict");
            factors.push(v.bayes_factor);
            let class = if *spam { Class::Spam } else { Class::Ham };
            let mut op = engine.op(&a, Action::Learn(class));
            engine.combination.record_bayes(&mut op, v.bayes_band);
            model.apply(&op);
        }
        factors
    }

    #[test]
    fn a_site_where_bayes_misfires_learns_a_lower_bayes_weight() {
        let mut engine = crate::Engine::new();
        engine.set("rules", "none").expect("rules");
        // Sixty words only the spam uses, until this site's newsletters: each newsletter has
        // five of them and nothing else, and the site learns it as ham.
        let word = |j: usize| {
            format!(
                "offer{}{}",
                (b'a' + (j / 26) as u8) as char,
                (b'a' + (j % 26) as u8) as char
            )
        };
        let spam = |i: usize| {
            let words: Vec<String> = (0..60).map(word).collect();
            format!("Subject: deal {i}\n\n{}\n", words.join(" ")).into_bytes()
        };
        let ham =
            |i: usize| format!("Subject: lunch {i}\n\nsee you at noon, notes {i}\n").into_bytes();
        let letter = |i: usize| {
            let words: Vec<String> = (0..5).map(|k| word((i * 7) % 55 + k)).collect();
            format!("Subject: n{i}\n\n{}\n", words.join(" ")).into_bytes()
        };
        let mut mail = Vec::new();
        for i in 0..80 {
            mail.push((spam(i), true));
            mail.push((ham(i), false));
            if i >= 20 && i % 2 == 0 {
                mail.push((letter(i), false));
            }
        }
        let mut site = crate::MemoryModel::new();
        let factors = online(&engine, &mut site, &mail);
        assert!(factors.iter().all(|f| (0.0..=1.0).contains(f)));
        // A new newsletter: Bayes says spam, in the band where this site has learned that
        // Bayes saying so is often wrong here (a third of its ham was learned in it).
        let probe = engine.analyze(&letter(1001));
        let v = engine.verdict(&probe, &site).expect("verdict");
        let band = v.bayes_band;
        assert!(band.is_some_and(|b| LEARNED_BANDS.contains(&b)), "{band:?}");
        assert!(v.bayes_factor < 0.6, "{band:?} {}", v.bayes_factor);
        // Eval's two-step path (Bayes, then the rule and band evidence) agrees.
        let (bayes, margin) = engine.bayes_lr(&probe, &site).expect("bayes");
        let mut apart = engine
            .combine_with(bayes, Vec::new(), &site)
            .expect("combine");
        engine.add_learner(&mut apart, margin);
        assert_eq!((apart.bayes_factor, apart.score), (v.bayes_factor, v.score));
        // The same mail without the newsletters: Bayes keeps its configured weight.
        let mut control = crate::MemoryModel::new();
        let plain: Vec<_> = mail
            .iter()
            .filter(|(r, s)| *s || r.starts_with(b"Subject: lunch"))
            .cloned()
            .collect();
        online(&engine, &mut control, &plain);
        let c = engine.verdict(&probe, &control).expect("verdict");
        assert!(c.bayes_band.is_some_and(|b| LEARNED_BANDS.contains(&b)));
        assert_eq!(c.bayes_factor, 1.0);
        // The spam shares the band, so it counts less too, but is still flagged.
        let s = engine
            .verdict(&engine.analyze(&spam(1000)), &site)
            .expect("verdict");
        assert!(
            s.is_spam && s.bayes_factor < 1.0,
            "{} {}",
            s.score,
            s.bayes_factor
        );
        // Only points towards spam are learned: a ham's negative points are untouched.
        let h = engine
            .verdict(&engine.analyze(&ham(1000)), &site)
            .expect("verdict");
        assert!(h.bayes_points < 0.0 && h.bayes_factor == 1.0);
        // The setting off: the configured weight, same model.
        let mut off = engine.clone();
        off.set("combination_bayes", "false").expect("set");
        let o = off.verdict(&probe, &site).expect("verdict");
        assert_eq!(o.bayes_factor, 1.0);
        assert!(o.score > v.score && o.bayes_points > v.bayes_points);
        assert!((v.bayes_points - o.bayes_points * v.bayes_factor).abs() < 1e-9);
    }

    #[test]
    fn bayes_pseudo_tokens_are_recorded_only_for_learning_with_a_band() {
        use crate::ledger::{Action, Class};
        let p = CombinationParams::default();
        let mut op = crate::Engine::new()
            .analyze(b"Subject: x\n\ny\n")
            .op(Action::Learn(Class::Ham));
        op.rules = vec![0, u64::MAX];
        p.record_bayes(&mut op, Some("BAYES_99"));
        let mut want = vec![0, u64::MAX, bayes_token("BAYES_99"), bayes_token(ANY_BAND)];
        want.sort_unstable();
        assert_eq!(op.rules, want);
        p.record_bayes(&mut op, Some("BAYES_99"));
        assert_eq!(op.rules, want, "distinct");
        // A ham-side band counts only in the denominator; no band, nothing.
        let mut op2 = op.clone();
        op2.rules.clear();
        p.record_bayes(&mut op2, Some("BAYES_00"));
        assert_eq!(op2.rules, [bayes_token(ANY_BAND)]);
        op2.rules.clear();
        p.record_bayes(&mut op2, None);
        assert!(op2.rules.is_empty());
        op2.action = Action::Forget;
        p.record_bayes(&mut op2, Some("BAYES_99"));
        assert!(op2.rules.is_empty());
        // A band hit as often (in proportion) by ham as by spam loses its weight; one hit
        // mostly by spam keeps it; never above the prior.
        let any = c(1000, 1000);
        let at = |band: Counts| {
            let mut counts = vec![c(0, 0); 5];
            counts[3] = band;
            counts.push(any);
            p.bayes_factor(Some("BAYES_99"), &counts)
        };
        assert_eq!(at(c(900, 10)), 1.0);
        assert!(at(c(600, 400)) < 0.3, "{}", at(c(600, 400)));
        assert!(at(c(6, 4)) > at(c(600, 400)), "shrunk toward the prior");
        assert_eq!(p.bayes_factor(Some("BAYES_50"), &[c(0, 9); 6]), 1.0);
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
