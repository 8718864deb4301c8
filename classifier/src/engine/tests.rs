//! The engine's unit tests (moved out of engine.rs to keep it under 800 lines).

use super::*;

#[test]
fn folding_keeps_lines_short_and_content_intact() {
    let long = format!(
        "Yes, score=12.0 required=5.0 tests={} version=x",
        (0..30)
            .map(|i| format!("RULE_{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let folded = fold(&long, 60);
    assert!(folded.split("\n\t").all(|l| l.len() <= 60), "{folded}");
    assert_eq!(
        folded.replace("\n\t", "").replace(' ', ""),
        long.replace(' ', "")
    );
}

#[test]
fn indicator_points_keep_ranking_past_saturation() {
    let engine = Engine::default();
    let result = |probability: f64, log_odds: f64| BayesResult {
        probability,
        log_odds,
        confidence: 1.0,
        evidence: vec![crate::bayes::TokenEvidence {
            hash: 1,
            prob: 0.99,
            counts: crate::bayes::Counts { spam: 1, ham: 0 },
        }],
        tokens_seen: 1,
        pools: Default::default(),
        pair: None,
        copies_left_out: Default::default(),
    };
    let strong = engine.combine(result(1.0, 400.0), Vec::new());
    let stronger = engine.combine(result(1.0, 800.0), Vec::new());
    let unsure = engine.combine(result(0.5, 30.0), Vec::new());
    let hammy = engine.combine(result(0.0, -400.0), Vec::new());
    assert!(
        stronger.score > strong.score,
        "{} {}",
        stronger.score,
        strong.score
    );
    assert!(strong.score > unsure.score && unsure.score > 0.0);
    assert!(hammy.score < 0.0);
    assert!(stronger.score < engine.scoring.bayes_weight);
    // No evidence, no points.
    let none = engine.combine(BayesResult::neutral(), Vec::new());
    assert_eq!(none.score, 0.0);
}

#[test]
fn untrained_learned_combination_scores_as_the_fixed_mapping() {
    let mut engine = Engine::default();
    engine.set("learn_rate", "0.1").expect("learn_rate");
    let bayes = BayesResult {
        probability: 0.8,
        log_odds: 12.0,
        confidence: 0.9,
        evidence: vec![crate::bayes::TokenEvidence {
            hash: 1,
            prob: 0.99,
            counts: crate::bayes::Counts { spam: 3, ham: 0 },
        }],
        tokens_seen: 1,
        pools: [crate::bayes::PoolResult {
            indicator: 0.6,
            log_odds: 12.0,
            tokens: 1,
        }; 2],
        pair: None,
        copies_left_out: Default::default(),
    };
    let hits = vec![RuleHit {
        name: "X".into(),
        score: 1.5,
        description: String::new(),
    }];
    let fixed = engine.combine(bayes.clone(), hits.clone());
    let (learned, features) = engine.combine_learned(bayes, hits, &Combination::new());
    assert!((fixed.score - learned.score).abs() < 1e-9);
    assert!((fixed.bayes_points - learned.bayes_points).abs() < 1e-9);
    // The Bayes value, four pool features (prior 0) and the rule.
    assert_eq!(features.len(), 6);
    assert_eq!(features[5].name, "rule:X");
}

#[test]
fn rules_count_less_while_bayes_has_no_say() {
    let engine = Engine::default();
    let hit = vec![RuleHit {
        name: "X".into(),
        score: 4.0,
        description: String::new(),
    }];
    let k = engine.scoring.rules_only_scale;
    assert!(k > 0.0 && k < 1.0);
    // Empty store: the rules-only share.
    let empty = engine.combine(BayesResult::neutral(), hit.clone());
    assert!((empty.score - 4.0 * k).abs() < 1e-12, "{}", empty.score);
    // A fully confident store without evidence for this message: the configured points.
    let mut trained = BayesResult::neutral();
    trained.confidence = 1.0;
    assert!((engine.combine(trained.clone(), hit.clone()).score - 4.0).abs() < 1e-12);
    // Any confidence: Bayes has a say, the rules count in full.
    trained.confidence = 0.05;
    assert!((engine.combine(trained.clone(), hit.clone()).score - 4.0).abs() < 1e-12);
    // bayes_weight 0 means rules alone, whatever the store.
    let mut rules_alone = Engine::default();
    rules_alone.set("bayes_weight", "0").expect("bayes_weight");
    trained.confidence = 1.0;
    assert!((rules_alone.combine(trained, hit).score - 4.0 * k).abs() < 1e-12);
}

#[test]
fn the_family_discount_applies_while_the_rules_count_alone_unless_asked() {
    let hit = |name: &str, score: f64| RuleHit {
        name: name.into(),
        score,
        description: String::new(),
    };
    let hits = vec![hit("HTML_A", 1.0), hit("HTML_B", 1.0), hit("SUBJ_C", 1.0)];
    let mut engine = Engine::default();
    engine.set("rule_overlap", "prefix").expect("rule_overlap");
    engine
        .set("rule_overlap_decay", "1")
        .expect("rule_overlap_decay");
    engine
        .set("rules_only_scale", "1")
        .expect("rules_only_scale");
    // Rules alone: HTML_B, second of its family, counts half.
    let alone = engine.combine(BayesResult::neutral(), hits.clone());
    assert!((alone.score - 2.5).abs() < 1e-12, "{}", alone.score);
    assert_eq!(alone.weights, vec![1.0, 0.5, 1.0]);
    // Bayes has a say: every hit in full, unless the discount is asked for then too.
    let mut trained = BayesResult::neutral();
    trained.confidence = 1.0;
    assert!((engine.combine(trained.clone(), hits.clone()).score - 3.0).abs() < 1e-12);
    engine
        .set("rule_overlap_with_bayes", "true")
        .expect("rule_overlap_with_bayes");
    assert!((engine.combine(trained, hits).score - 2.5).abs() < 1e-12);
    assert!(engine.set("rule_overlap", "bogus").is_err());
}

#[test]
fn experiment_overrides() {
    let mut engine = Engine::default();
    engine.set("min_dev", "0.2").expect("min_dev");
    engine.set("bayes_map", "tanh").expect("bayes_map");
    engine.set("pairs", "osb3").expect("pairs");
    engine.set("pools", "false").expect("pools");
    assert_eq!(engine.bayes.min_dev, 0.2);
    assert_eq!(engine.scoring.bayes_map, BayesMap::Tanh);
    assert_eq!(engine.tokenizer.config().pairs, Pairs::Osb { window: 3 });
    assert!(!engine.bayes.pools && !engine.tokenizer.config().mark_pools);
    for (k, v) in [("min_dev", "x"), ("bogus", "1"), ("pairs", "trigrams")] {
        let err = engine.set(k, v).expect_err(k).to_string();
        assert!(err.contains(k), "{err}");
    }
}

#[test]
fn bands() {
    assert_eq!(bayes_band(0.0), "BAYES_00");
    assert_eq!(bayes_band(0.5), "BAYES_50");
    assert_eq!(bayes_band(0.995), "BAYES_99");
    assert_eq!(bayes_band(1.0), "BAYES_999");
}
