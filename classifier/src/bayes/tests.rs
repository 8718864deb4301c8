//! Bayes's combining, confidence and token probabilities.

use super::*;

#[test]
fn chi2q_matches_known_values() {
    // Q(x=2, dof=2) = e^{-1}
    assert!((ln_chi2q(2.0, 1) - (-1.0)).abs() < 1e-12);
    // Q(x=4, dof=4) = e^{-2}(1 + 2) = 0.40600584970983811
    assert!((ln_chi2q(4.0, 2).exp() - 0.406_005_849_709_838_1).abs() < 1e-12);
    // Huge arguments stay finite in log space.
    assert!(ln_chi2q(1e6, 150).is_finite());
    assert_eq!(ln_chi2q(0.0, 3), 0.0);
}

#[test]
fn untrained_is_neutral() {
    let p = BayesParams::default();
    let r = p.combine(&[1, 2, 3], &[Counts::default(); 3], Totals::default());
    assert_eq!(r.probability, 0.5);
    assert_eq!(r.confidence, 0.0);
    assert!(r.evidence.is_empty());
}

#[test]
fn spammy_and_hammy_tokens_move_the_score() {
    let p = BayesParams {
        unknown_strength: 0.45,
        min_dev: 0.1,
        pools: false,
        ..BayesParams::default()
    };
    let totals = Totals {
        spam: 100,
        ham: 100,
    };
    let spammy = vec![Counts { spam: 50, ham: 0 }; 20];
    let hammy = vec![Counts { spam: 0, ham: 50 }; 20];
    let hashes: Vec<u64> = (0..20).collect();
    let s = p.combine(&hashes, &spammy, totals);
    let h = p.combine(&hashes, &hammy, totals);
    assert!(s.probability > 0.99 && s.log_odds > 10.0, "{s:?}");
    assert!(h.probability < 0.01 && h.log_odds < -10.0, "{h:?}");
    assert!((s.confidence - 100.0 / (100.0 + p.ramp)).abs() < 1e-12);
    // Stronger evidence ranks higher even where probability saturates.
    let more: Vec<Counts> = vec![Counts { spam: 50, ham: 0 }; 60];
    let hashes60: Vec<u64> = (0..60).collect();
    let s2 = p.combine(&hashes60, &more, totals);
    assert!(s2.log_odds > s.log_odds);
}

#[test]
fn pools_make_conflicting_evidence_uncertain() {
    use crate::tokenize::HEADER_POOL_BIT;
    let totals = Totals {
        spam: 100,
        ham: 100,
    };
    // Twenty strongly hammy header tokens, three strongly spammy body tokens: a spam relayed
    // by a mailing list.
    let mut hashes: Vec<u64> = (0..20).map(|i| i | HEADER_POOL_BIT).collect();
    hashes.extend(100..103);
    let mut counts = vec![Counts { spam: 0, ham: 60 }; 20];
    counts.extend(vec![Counts { spam: 60, ham: 0 }; 3]);
    let pooled = BayesParams::default().combine(&hashes, &counts, totals);
    let single = BayesParams {
        pools: false,
        ..BayesParams::default()
    }
    .combine(&hashes, &counts, totals);
    // Each pool's indicator is near ±1, so the pooled probability is near the body's share:
    // uncertain, where one pool says confidently ham.
    let share = BayesParams::default().body_share;
    assert!((pooled.probability - share).abs() < 0.05, "{pooled:?}");
    assert!(pooled.probability > 0.3, "{pooled:?}");
    assert!(single.probability < 0.3, "{single:?}");
    // Agreeing pools stay confident, and a pool without evidence does not dilute the other.
    let spam_counts = vec![Counts { spam: 60, ham: 0 }; 23];
    let all_spam = BayesParams::default().combine(&hashes, &spam_counts, totals);
    assert!(all_spam.probability > 0.99, "{all_spam:?}");
    let body_only = BayesParams::default().combine(&hashes[20..], &counts[20..], totals);
    assert!(body_only.probability > 0.99, "{body_only:?}");
}

#[test]
fn ramp_uses_both_class_counts() {
    let p = BayesParams::default();
    let hashes = [1u64];
    let counts = [Counts { spam: 5, ham: 0 }];
    let lopsided = Totals { spam: 100, ham: 1 };
    let r = p.combine(&hashes, &counts, lopsided);
    // Geometric mean: m = √(100 · 1) = 10.
    assert!(
        (r.confidence - 10.0 / (10.0 + p.ramp)).abs() < 1e-12,
        "{r:?}"
    );
    let min = BayesParams {
        ramp_geometric: false,
        ..BayesParams::default()
    }
    .combine(&hashes, &counts, lopsided);
    assert!(
        (min.confidence - 1.0 / (1.0 + p.ramp)).abs() < 1e-12,
        "{min:?}"
    );
    let one_class = p.combine(&hashes, &counts, Totals { spam: 100, ham: 0 });
    assert_eq!(one_class.confidence, 0.0);
}

#[test]
fn sum_combiner_is_the_log_likelihood_ratio() {
    let p = BayesParams {
        combiner: Combiner::Sum,
        pools: false,
        min_dev: 0.0,
        ..BayesParams::default()
    };
    let totals = Totals { spam: 10, ham: 10 };
    let counts = [Counts { spam: 3, ham: 1 }, Counts { spam: 0, ham: 2 }];
    let r = p.combine(&[1, 2], &counts, totals);
    let expected: f64 = counts
        .iter()
        .map(|&c| {
            let f = p.token_prob(c, totals);
            (f / (1.0 - f)).ln()
        })
        .sum();
    assert!((r.log_odds - expected).abs() < 1e-9, "{r:?}");
    assert!("fisher".parse::<Combiner>().is_ok() && "x".parse::<Combiner>().is_err());
}

#[test]
fn same_counts_cap_counts_a_repeated_block_once() {
    let totals = Totals {
        spam: 100,
        ham: 100,
    };
    // Thirty tokens of one footer learned from the same 34 spam, five of the message's own
    // words learned from ham (each from different messages), and two rare spam words.
    let mut counts = vec![Counts { spam: 34, ham: 0 }; 30];
    counts.extend((0..5).map(|i| Counts {
        spam: 0,
        ham: 10 + i,
    }));
    counts.extend(vec![Counts { spam: 1, ham: 0 }; 2]);
    let hashes: Vec<u64> = (0..counts.len() as u64).collect();
    let p = BayesParams {
        pools: false,
        ..BayesParams::default()
    };
    let capped = BayesParams {
        same_counts_cap: 2,
        ..p.clone()
    };
    let off = p.combine(&hashes, &counts, totals);
    let on = capped.combine(&hashes, &counts, totals);
    assert_eq!(off.evidence.len(), 37);
    // The footer keeps two of its thirty tokens; the ham words and the rare spam words
    // (below `same_counts_min`) all stay.
    assert_eq!(on.evidence.len(), 2 + 5 + 2);
    let footer = on.evidence.iter().filter(|e| e.counts.spam == 34).count();
    assert_eq!(footer, 2);
    assert!(off.log_odds > 0.0, "{off:?}");
    assert!(on.log_odds < 0.0, "{on:?}");
    // Header and body tokens with the same counts are separate groups.
    use crate::tokenize::HEADER_POOL_BIT;
    let two_pools = [1, 2, 3, 1 | HEADER_POOL_BIT, 2 | HEADER_POOL_BIT];
    let r = capped.combine(&two_pools, &[Counts { spam: 34, ham: 0 }; 5], totals);
    assert_eq!(r.evidence.len(), 4);
}

#[test]
fn sides_share_tests_each_side_on_its_own_tokens() {
    // Thirty tokens of a footer learned from 30 spam against three words learned from 30 ham
    // each: f = (0.1·0.52 + 30)/30.1 = 0.998405 and 0.052/30.1 = 0.001728.
    let totals = Totals {
        spam: 100,
        ham: 100,
    };
    let mut counts = vec![Counts { spam: 30, ham: 0 }; 30];
    counts.extend(vec![Counts { spam: 0, ham: 30 }; 3]);
    let hashes: Vec<u64> = (0..counts.len() as u64).collect();
    let off = BayesParams {
        pools: false,
        ..BayesParams::default()
    };
    let on = BayesParams {
        sides_share: 0.5,
        ..off.clone()
    };
    let r_off = off.combine(&hashes, &counts, totals);
    let r_on = on.combine(&hashes, &counts, totals);
    // Robinson's S − H over all 33 tokens: the three ham words are diluted, 0.99753.
    assert!((2.0 * r_off.probability - 1.0 - 0.997_530_602_201).abs() < 1e-9);
    // Each side apart: S₊ = 1.0 over the thirty, H₋ = 0.999999 over the three, so the
    // indicator is half of 0.99753 plus half of (1.0 − 0.999999): 0.498766.
    assert!((2.0 * r_on.probability - 1.0 - 0.498_765_822_281).abs() < 1e-9);
    assert!((r_on.probability - 0.749_382_911_140).abs() < 1e-9);
    // The log-odds (the tie-break) are Fisher's as before: ln Q_ham − ln Q_spam = 106.168.
    assert!((r_off.log_odds - 106.167_776_466).abs() < 1e-6);
    assert_eq!(r_on.log_odds, r_off.log_odds);
    // The sides alone (λ 1): S₊ − H₋ = 1 − 0.99999896 = 1.04e-6, next to neutral.
    let sides = BayesParams {
        sides_share: 1.0,
        ..off.clone()
    };
    let r_sides = sides.combine(&hashes, &counts, totals);
    assert!((2.0 * r_sides.probability - 1.0 - 1.042_360e-6).abs() < 1e-9);
    // Evidence one way only stays saturated.
    let spam_only = on.combine(&hashes[..30], &counts[..30], totals);
    assert!(spam_only.probability > 0.999_999, "{spam_only:?}");
}

#[test]
fn robinson_correction() {
    let p = BayesParams {
        unknown_strength: 0.45,
        unknown_prob: 0.5,
        ..BayesParams::default()
    };
    let totals = Totals { spam: 10, ham: 10 };
    let f = p.token_prob(Counts { spam: 1, ham: 0 }, totals);
    assert!((f - (0.45 * 0.5 + 1.0) / 1.45).abs() < 1e-12);
    assert_eq!(p.token_prob(Counts::default(), totals), 0.5);
}
