//! Tests of the literal analysis: the clauses it finds, and that every clause is required (a
//! text the pattern matches holds one literal of each).

use proptest::prelude::*;

use super::super::perlre::{Flags, translate};
use super::required_clauses;

fn clauses(re: &str, flags: &str) -> Option<Vec<Vec<String>>> {
    let t = translate(re, flags).expect("translates");
    required_clauses(&t.pattern, t.flags).map(|c| {
        c.into_iter()
            .map(|set| {
                set.into_iter()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .collect()
            })
            .collect()
    })
}

fn owned(c: &[&[&str]]) -> Option<Vec<Vec<String>>> {
    Some(
        c.iter()
            .map(|set| set.iter().map(|&l| l.to_owned()).collect())
            .collect(),
    )
}

#[test]
fn words_apart_are_two_clauses_the_rarer_first() {
    assert_eq!(
        clauses(r"\bfree\b.{0,20}\bmoney\b", "i"),
        owned(&[&["money"], &["free"]])
    );
    // Three words: at most three clauses, longest shortest literal first.
    assert_eq!(
        clauses(r"dear.{0,9}beloved\s+friend", "i"),
        owned(&[&["beloved"], &["friend"], &["dear"]])
    );
    assert_eq!(
        clauses(r"(?:cheap|low.cost)\s+(?:viagra|cialis)", "i"),
        owned(&[&["cialis", "viagra"], &["cheap", "cost"]])
    );
}

#[test]
fn a_clause_the_first_implies_is_left_out() {
    // One literal: "free mon" (cut to eight bytes) holds "free".
    assert_eq!(clauses("free money", "i"), owned(&[&["free mon"]]));
    // Inside an alternation a conjunction says nothing of the other alternative.
    assert_eq!(
        clauses(r"(?:free.{0,9}money|gratis)", "i"),
        owned(&[&["gratis", "money"]])
    );
    // Optional and short parts give no clause.
    assert_eq!(
        clauses(r"(?:bonus)?\s*cash.{0,5}ab", "i"),
        owned(&[&["cash"]])
    );
    assert_eq!(clauses(r"a.*b", ""), None);
}

/// A pattern built from a few pieces, with its text form.
fn pattern() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("free".to_owned()),
        Just("money".to_owned()),
        Just("cash".to_owned()),
        Just("bonus".to_owned()),
        Just(r"\s+".to_owned()),
        Just(".{0,3}".to_owned()),
        Just("(?:win|won)".to_owned()),
        Just("(?:prize)?".to_owned()),
        Just("[a-c]".to_owned()),
        Just(r"\b".to_owned()),
    ];
    proptest::collection::vec(piece, 1..6).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_clause_is_in_every_match(
        re in pattern(),
        words in proptest::collection::vec(
            prop_oneof![
                Just("free"), Just("FREE"), Just("money"), Just("cash"), Just("bonus"),
                Just("win"), Just("won"), Just("prize"), Just(" "), Just("a"), Just("b"),
                Just("x"), Just("\n"),
            ],
            0..14,
        ),
    ) {
        let text = words.concat();
        let t = translate(&re, "i").expect("translates");
        let f: Flags = t.flags;
        let matched = regex::RegexBuilder::new(&re)
            .case_insensitive(true)
            .build()
            .expect("compiles")
            .is_match(&text);
        if let (true, Some(cs)) = (matched, required_clauses(&t.pattern, f)) {
            let lower = text.to_ascii_lowercase();
            for c in cs {
                prop_assert!(
                    c.iter().any(|l| lower.contains(&*String::from_utf8_lossy(l))),
                    "{re:?} matches {text:?} without a literal of {c:?}"
                );
            }
        }
    }
}
