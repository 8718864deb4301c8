//! Diminishing returns for rules that fire together (corpora/EXPERIMENTS.md E30).
//!
//! The score adds the points of every rule that hits, as if each were independent evidence.
//! Rules of one family (bulk-mail phrases, HTML styling) are not: a newsletter that uses one
//! bulk phrase uses several, so their sum over-counts what they know together. With a decay
//! `d` > 0, the positive points of the hits of each family, taken from the largest down, count
//! `1, 1/(1+d), 1/(1+2d), …` of themselves: the strongest hit of a family counts in full, and
//! every further one a little less. Hits towards ham are never discounted. `d` = 0 leaves every
//! weight as it was.

use crate::rules::{RuleHit, RuleKind, RuleSet};
use serde::Deserialize;

/// Which hits are counted as one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// No discount.
    #[default]
    Off,
    /// Every positive hit is one family.
    All,
    /// The rule's kind (`header`, `body`, `rawbody`, `uri`, `full`, `meta`): rules that read
    /// the same text.
    Kind,
    /// The rule name up to its first `_` (`HTML_`, `SUBJ_`, `URI_` …).
    Prefix,
}

impl std::str::FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Family::Off),
            "all" => Ok(Family::All),
            "kind" => Ok(Family::Kind),
            "prefix" => Ok(Family::Prefix),
            _ => Err(format!("expected off, all, kind or prefix, got {s:?}")),
        }
    }
}

fn family_key(family: Family, rules: &RuleSet, name: &str) -> String {
    match family {
        Family::Off | Family::All => String::new(),
        Family::Kind => rules
            .get(name)
            .map_or(RuleKind::Meta, |r| r.kind)
            .keyword()
            .to_string(),
        Family::Prefix => name.split('_').next().unwrap_or(name).to_string(),
    }
}

/// The weights after the discount: `weights[i]` belongs to `hits[i]`. Within a family the
/// positive weights are ranked from the largest down (ties by name, so the result does not
/// depend on the order of the hits) and the one ranked `r` (from 0) is divided by `1 + d·r`.
pub fn discount(
    hits: &[RuleHit],
    weights: &[f64],
    rules: &RuleSet,
    family: Family,
    decay: f64,
) -> Vec<f64> {
    let mut out = weights.to_vec();
    if family == Family::Off || !decay.is_finite() || decay <= 0.0 {
        return out;
    }
    let mut positive: Vec<(String, f64, &str, usize)> = hits
        .iter()
        .zip(weights)
        .enumerate()
        .filter(|(_, (_, w))| **w > 0.0)
        .map(|(i, (h, w))| (family_key(family, rules, &h.name), *w, h.name.as_str(), i))
        .collect();
    positive.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(b.1.total_cmp(&a.1))
            .then(a.2.cmp(b.2))
            .then(a.3.cmp(&b.3))
    });
    let mut rank = 0usize;
    for j in 0..positive.len() {
        if j > 0 && positive[j].0 != positive[j - 1].0 {
            rank = 0;
        }
        let (_, w, _, i) = positive[j];
        // `rank` is small (one per rule hit), so the conversion is exact.
        out[i] = w / (1.0 + decay * rank as f64);
        rank += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(name: &str, score: f64) -> RuleHit {
        RuleHit {
            name: name.into(),
            score,
            description: String::new(),
        }
    }

    #[test]
    fn off_or_zero_decay_changes_nothing() {
        let hits = [hit("A_X", 1.0), hit("A_Y", 2.0)];
        let w = [1.0, 2.0];
        let rules = RuleSet::default();
        assert_eq!(discount(&hits, &w, &rules, Family::Off, 1.0), w);
        assert_eq!(discount(&hits, &w, &rules, Family::All, 0.0), w);
        assert_eq!(discount(&hits, &w, &rules, Family::All, f64::NAN), w);
    }

    #[test]
    fn the_strongest_of_a_family_counts_in_full_the_rest_less() {
        let hits = [
            hit("HTML_A", 0.5),
            hit("HTML_B", 1.0),
            hit("SUBJ_C", 0.4),
            hit("HTML_C", -1.0),
        ];
        let w = [0.5, 1.0, 0.4, -1.0];
        let rules = RuleSet::default();
        let d = discount(&hits, &w, &rules, Family::Prefix, 1.0);
        assert_eq!(d, vec![0.25, 1.0, 0.4, -1.0]);
        let all = discount(&hits, &w, &rules, Family::All, 1.0);
        assert_eq!(all, vec![0.5 / 2.0, 1.0, 0.4 / 3.0, -1.0]);
    }

    #[test]
    fn the_order_of_the_hits_does_not_matter() {
        let a = [hit("X", 1.0), hit("Y", 1.0), hit("Z", 0.3)];
        let b = [hit("Z", 0.3), hit("Y", 1.0), hit("X", 1.0)];
        let rules = RuleSet::default();
        let da = discount(&a, &[1.0, 1.0, 0.3], &rules, Family::All, 0.5);
        let db = discount(&b, &[0.3, 1.0, 1.0], &rules, Family::All, 0.5);
        let sa: f64 = da.iter().sum();
        let sb: f64 = db.iter().sum();
        assert!((sa - sb).abs() < 1e-12, "{sa} {sb}");
        assert_eq!(da[0], 1.0);
        assert_eq!(db[2], 1.0);
        assert_eq!(db[1], 1.0 / 1.5);
    }

    #[test]
    fn kind_families_follow_the_rule_definitions() {
        let rules = RuleSet::default_rules();
        let hits = [
            hit("ACT_NOW", 0.4),
            hit("CLICK_HERE", 0.3),
            hit("TO_UNDISCLOSED", 1.0),
        ];
        let d = discount(&hits, &[0.4, 0.3, 1.0], &rules, Family::Kind, 1.0);
        assert_eq!(d, vec![0.4, 0.15, 1.0]);
    }
}
