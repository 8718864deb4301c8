//! Recipient reputation (`pair_pull`, E44, E45): a one-sided recipient-sender history moves
//! the result towards it, a mixed one does not; on by default, with the sender's address (not
//! its domain) as the pair.

use super::{BayesParams, Counts, Totals};
use crate::tokenize::Tokens;

const PAIR: u64 = 1_000;

/// Fifty content tokens at `content` each, and the pair token at `pair`.
fn message(content: Counts, pair: Counts) -> (Tokens, Vec<Counts>) {
    let mut hashes: Vec<u64> = (1..=50).collect();
    hashes.push(PAIR);
    let mut counts = vec![content; 50];
    counts.push(pair);
    let tokens = Tokens {
        hashes,
        pairs: vec![PAIR],
        ..Tokens::default()
    };
    (tokens, counts)
}

/// E44's switch: the formulas below are checked with these values, not the defaults.
fn on() -> BayesParams {
    BayesParams {
        pair_pull: 0.7,
        pair_support: 10.0,
        pair_purity: 64.0,
        ..BayesParams::default()
    }
}

fn pull_off() -> BayesParams {
    BayesParams {
        pair_pull: 0.0,
        ..BayesParams::default()
    }
}

const TOTALS: Totals = Totals {
    spam: 200,
    ham: 200,
};
const ONE_SPAM: Counts = Counts { spam: 1, ham: 0 };
const ONE_HAM: Counts = Counts { spam: 0, ham: 1 };

#[test]
fn off_the_pair_is_one_token_among_many() {
    let (tokens, counts) = message(ONE_SPAM, Counts { spam: 0, ham: 30 });
    let r = pull_off().combine_tokens(&tokens, &counts, TOTALS);
    assert!(r.probability > 0.999, "{r:?}");
    assert_eq!(r.pair, None);
}

#[test]
fn on_by_default_with_e45s_values() {
    let d = BayesParams::default();
    assert_eq!(
        (d.pair_pull, d.pair_support, d.pair_purity),
        (0.85, 3.0, 4.0)
    );
    // The same message as above: the defaults take most of the way to the pair's history,
    // w = 0.85 · |π|^4 · 30 / 33.
    let (tokens, counts) = message(ONE_SPAM, Counts { spam: 0, ham: 30 });
    let r = d.combine_tokens(&tokens, &counts, TOTALS);
    let p = r.pair.expect("the pair moved the result");
    let w = 0.85 * p.indicator.abs().powi(4) * 30.0 / 33.0;
    assert!((p.share - w).abs() < 1e-12 && w > 0.7, "{p:?}");
    assert!(r.probability < 0.5, "{r:?}");
}

#[test]
fn a_one_sided_pair_moves_the_result_towards_its_history() {
    // The words learned once, from the other recipient's spam copy, against thirty
    // earlier issues this recipient kept.
    let (tokens, counts) = message(ONE_SPAM, Counts { spam: 0, ham: 30 });
    let off = pull_off().combine_tokens(&tokens, &counts, TOTALS);
    let r = on().combine_tokens(&tokens, &counts, TOTALS);
    let p = r.pair.expect("the pair moved the result");
    assert_eq!((p.hash, p.counts), (PAIR, Counts { spam: 0, ham: 30 }));
    assert!(p.indicator < -0.99, "{p:?}");
    // w = 0.7 · |π|^64 · 30 / (30 + 10), and the indicator is (1 − w) · 1 + w · π.
    let w = 0.7 * p.indicator.abs().powi(64) * 30.0 / 40.0;
    assert!((p.share - w).abs() < 1e-12, "{p:?}");
    let want = (1.0 + (1.0 - w) * (2.0 * off.probability - 1.0) + w * p.indicator) / 2.0;
    assert!((r.probability - want).abs() < 1e-12, "{r:?}");
    assert!(r.probability < off.probability - 0.3, "{r:?}");
    assert!(r.log_odds < off.log_odds, "{r:?} {off:?}");
    // The same the other way: a recipient who reported every earlier copy as spam.
    let (tokens, counts) = message(ONE_HAM, Counts { spam: 30, ham: 0 });
    let off = pull_off().combine_tokens(&tokens, &counts, TOTALS);
    let r = on().combine_tokens(&tokens, &counts, TOTALS);
    assert!(off.probability < 0.001, "{off:?}");
    assert!(r.probability > off.probability + 0.3, "{r:?}");
    assert!(r.pair.expect("moved").indicator > 0.99);
}

#[test]
fn a_mixed_or_thin_history_moves_little() {
    // A mailbox provider's domain: its senders' mail to this recipient was both.
    let (tokens, counts) = message(ONE_SPAM, Counts { spam: 10, ham: 20 });
    let off = pull_off().combine_tokens(&tokens, &counts, TOTALS);
    let r = on().combine_tokens(&tokens, &counts, TOTALS);
    assert!(r.pair.expect("looked at").share < 1e-6, "{r:?}");
    assert!(
        (r.probability - off.probability).abs() < 1e-6,
        "{r:?} {off:?}"
    );
    // One earlier message says less than thirty: n / (n + 10).
    let (tokens, counts) = message(ONE_SPAM, ONE_HAM);
    let one = on().combine_tokens(&tokens, &counts, TOTALS);
    let (tokens, counts) = message(ONE_SPAM, Counts { spam: 0, ham: 30 });
    let thirty = on().combine_tokens(&tokens, &counts, TOTALS);
    assert!(
        one.pair.expect("one").share < thirty.pair.expect("thirty").share / 3.0,
        "{one:?} {thirty:?}"
    );
    // A pair the model has never seen, or none at all: nothing.
    let (tokens, counts) = message(ONE_SPAM, Counts::default());
    assert_eq!(on().combine_tokens(&tokens, &counts, TOTALS).pair, None);
    let (mut tokens, counts) = message(ONE_SPAM, Counts { spam: 0, ham: 30 });
    tokens.pairs.clear();
    assert_eq!(on().combine_tokens(&tokens, &counts, TOTALS).pair, None);
}

#[test]
fn only_recipient_sender_pairs_are_candidates() {
    let msg = "Delivered-To: alice@example.org\nFrom: \"The  News\" <news@letters.example>\n\
               List-Id: <weekly.letters.example>\nSubject: this week\n\nhello\n";
    let view = crate::message::MessageView::parse(msg.as_bytes(), &crate::Limits::default());
    let candidates = |names: bool| {
        let tokenizer = crate::tokenize::Tokenizer::new(crate::tokenize::TokenizerConfig {
            recipient_names: names,
            ..crate::tokenize::TokenizerConfig::default()
        });
        let tokens = tokenizer.tokens(&view, usize::MAX);
        let texts = tokenizer.tokens_with_text(&view, usize::MAX);
        assert!(texts.iter().any(|(_, t)| t.contains("|list:")), "{texts:?}");
        assert!(
            texts
                .iter()
                .any(|(_, t)| t.ends_with("|from:letters.example")),
            "{texts:?}"
        );
        let mut pairs: Vec<String> = texts
            .iter()
            .filter(|(h, _)| tokens.pairs.contains(h))
            .map(|(_, t)| t.clone())
            .collect();
        pairs.sort_unstable();
        pairs
    };
    // The list pair and the sender's domain are tokens, not candidates.
    assert_eq!(
        candidates(false),
        ["rcpt|alice@example.org|from:news@letters.example"]
    );
    assert_eq!(
        candidates(true),
        [
            "rcpt|alice@example.org|from:news@letters.example",
            "rcpt|alice@example.org|name:the news@letters.example"
        ]
    );
}

/// At equal support the sender's address pair acts, not the display-name pair (E46): one
/// mailbox is the narrower identity, and `explain` names it.
#[test]
fn at_equal_support_the_address_pair_acts_before_the_name_pair() {
    const NAME: u64 = 2_000;
    let (mut tokens, mut counts) = message(ONE_SPAM, Counts { spam: 0, ham: 12 });
    tokens.hashes.push(NAME);
    counts.push(Counts { spam: 2, ham: 10 });
    tokens.pairs.push(NAME);
    tokens.v5_only.push(NAME);
    let r = BayesParams::default().combine_tokens(&tokens, &counts, TOTALS);
    assert_eq!(r.pair.map(|p| p.hash), Some(PAIR), "{r:?}");
    // More support wins whatever the kind.
    counts[51] = Counts { spam: 0, ham: 20 };
    let r = BayesParams::default().combine_tokens(&tokens, &counts, TOTALS);
    assert_eq!(r.pair.map(|p| p.hash), Some(NAME), "{r:?}");
}
