//! One scan of a text for the text rules that no literal filters: which of them can match.
//!
//! The literal prefilter ([`super::prepare::Group`]) keeps a text rule from running where a
//! literal every match holds is absent; a rule without such a literal (SpamAssassin's
//! `FUZZY_*` rules, whose letters are classes of look-alikes, the `__DRUGS_*` spellings with
//! `[_\W]{0,3}` between letters, `__FILL_THIS_FORM_*`) ran on every message, each a pass of
//! its own lazy DFA (or its guard's) over the text: 123 body rules of the stock set, about
//! a quarter of their rule time. A [`SetFilter`] scans the text once with one lazy DFA over
//! all their patterns and tells which have a match; the others are not run.
//!
//! Each rule gives the pattern whose having no match in a text means the rule finds none
//! there ([`super::pattern::Pattern::no_match_witness`]): its own pattern where the forward
//! lazy DFA answers it, its guard where the backtracking engine runs behind one. So the
//! filter changes no result: the rules it removes would have answered no match.

use std::sync::Arc;

use regex_automata::hybrid;
use regex_automata::{Input, MatchKind, PatternSet};

use super::engines::{Caches, bytes_dfa};
use super::lines::{self, LineMode};
use super::prepare::Group;
use super::texts::{Part, Texts};
use super::{Prepared, RuleSet, Test};

#[cfg(test)]
thread_local! {
    /// Test switch: rule out nothing, to compare.
    pub(super) static NO_SET_FILTER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Patterns per lazy DFA at most: one automaton over many patterns keeps a state for each
/// combination of their partial matches a text visits, so fresh text builds more states the
/// more patterns share it, and more DFAs mean more passes. Over the stock body rules' fresh
/// texts 16 took the least time of 2-32, and 16 against 64 in `serve` saved 0.14 ms a
/// classify process (corpora/SA-FIDELITY.md, "Session 37"). Speed only: no answer changes.
const PER_SET: usize = 16;

/// Fewest patterns worth a set: the set's scan reads the whole text for every pattern (it
/// reports each that matches), where a rule alone stops at its first match, so a set of one
/// or two costs about what their rules do.
const MIN_SET: usize = 4;

/// One lazy DFA over several rules' patterns, all read on one text.
#[derive(Clone)]
struct Scan {
    /// The text the rules read.
    text: Part,
    dfa: hybrid::dfa::DFA,
    caches: Arc<Caches<hybrid::dfa::Cache>>,
    /// The rule of each pattern, by pattern id.
    rules: Vec<usize>,
}

/// The filter of a group of text rules (see the module's documentation).
#[derive(Clone)]
pub(super) struct SetFilter {
    scans: Vec<Scan>,
}

impl std::fmt::Debug for SetFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetFilter")
            .field(
                "rules",
                &self.scans.iter().map(|p| p.rules.len()).sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

impl SetFilter {
    /// The filter of `group`'s rules without literals (whole rules; not those matched
    /// alternative by alternative), their patterns warmed first: a linear pattern's witness
    /// is its forward DFA's pattern, once that is built. Not for a rule matched line by line
    /// on every text ([`LineMode::ByLine`]): no match in its joined text does not rule out
    /// one in a line.
    pub(super) fn of_group(set: &RuleSet, prep: &Prepared, group: &Group) -> Option<SetFilter> {
        // The rules' witnesses by the text they read.
        let mut by_text: Vec<(Part, Vec<(usize, String)>)> = Vec::new();
        for &i in &group.always {
            let r = &set.inner.rules[i];
            let (Test::Regex(p), Some(text)) = (&r.test, super::run::text_part(r)) else {
                continue;
            };
            if !prep.needed[i] || prep.splits.contains_key(&i) {
                continue;
            }
            if *prep.line_modes[i].get_or_init(|| lines::line_mode(p)) == LineMode::ByLine {
                continue;
            }
            p.warm(prep.long_lived, r.max_hits > 1);
            let Some(w) = p.no_match_witness(r.max_hits > 1) else {
                continue;
            };
            match by_text.iter_mut().find(|(t, _)| *t == text) {
                Some((_, rules)) => rules.push((i, w)),
                None => by_text.push((text, vec![(i, w)])),
            }
        }
        let scans: Vec<Scan> = by_text
            .into_iter()
            .flat_map(|(text, rules)| Self::new(text, rules).scans)
            .collect();
        (!scans.is_empty()).then_some(SetFilter { scans })
    }

    /// The filter of `rules` (rule index, pattern), which read `text`. A pattern the set's
    /// automaton cannot take (over the size limit with the others) is left out, and its rule
    /// runs as before.
    fn new(text: Part, rules: Vec<(usize, String)>) -> SetFilter {
        let mut by_shape: [Vec<(usize, String)>; 2] = Default::default();
        for (i, p) in rules {
            match shape(&p) {
                Shape::Narrow => by_shape[0].push((i, p)),
                Shape::Gappy => by_shape[1].push((i, p)),
                Shape::Wide => {}
            }
        }
        let mut scans = Vec::new();
        for group in by_shape.iter().filter(|g| g.len() >= MIN_SET) {
            for chunk in group.chunks(PER_SET) {
                build(text, chunk, &mut scans);
            }
        }
        SetFilter { scans }
    }

    /// How many rules the filter covers.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.scans.iter().map(|p| p.rules.len()).sum()
    }

    /// Sets `ruled_out[i]` for each rule `i` of the filter, a `candidate` so far, whose
    /// pattern has no match in its text. A scan that gives up rules out none of its rules.
    pub(super) fn rule_out(&self, texts: &Texts<'_>, candidate: &[bool], ruled_out: &mut [bool]) {
        #[cfg(test)]
        if NO_SET_FILTER.get() {
            return;
        }
        for scan in &self.scans {
            if !scan.rules.iter().any(|&i| candidate[i]) {
                continue;
            }
            let input = Input::new(texts.get(scan.text).as_bytes());
            let mut found = PatternSet::new(scan.rules.len());
            let searched = scan.caches.with(|cache| {
                scan.dfa
                    .try_which_overlapping_matches(cache, &input, &mut found)
            });
            if searched.is_err() {
                continue;
            }
            for (id, &i) in scan.rules.iter().enumerate() {
                if !found.contains(regex_automata::PatternID::new_unchecked(id)) {
                    ruled_out[i] = true;
                }
            }
        }
    }
}

/// What a pattern's partial matches do to a lazy DFA over several patterns, whose states are
/// the combinations of partial matches alive at a position: a pattern that runs over a wide
/// class for long (`[^.]{1,25}`, `[a-z]{1,15}`, `[-=_.,:;*\s]{1,100}`) keeps many partial
/// matches alive at once, and beside others multiplies the states a text visits (measured on
/// the stock body rules: 55-123 us a message for each of the two shapes kept, 2,900-15,900 us
/// with any family of the wide ones added; corpora/SA-FIDELITY.md, "Session 37").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    /// No repetition of a wide class: shares a set with the others so.
    Narrow,
    /// Short repetitions of a wide class only (`[_\W]{0,3}` between letters): a set of its own
    /// kind.
    Gappy,
    /// A long repetition of a wide class (or a pattern this cannot read): left out, its rule
    /// runs as before.
    Wide,
}

/// Bytes a class must match to be wide.
const WIDE_CLASS: usize = 10;
/// Longest repetition of a wide class in a gappy pattern.
const SHORT_RUN: u32 = 3;

fn shape(pattern: &str) -> Shape {
    let parsed = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern);
    match parsed {
        Ok(hir) => shape_of(&hir),
        Err(_) => Shape::Wide,
    }
}

fn shape_of(h: &regex_syntax::hir::Hir) -> Shape {
    use regex_syntax::hir::HirKind;
    match h.kind() {
        HirKind::Repetition(r) => {
            let inner = shape_of(&r.sub);
            if !is_wide_class(&r.sub) {
                return inner;
            }
            match r.max {
                Some(max) if max <= SHORT_RUN => inner.max(Shape::Gappy),
                _ => Shape::Wide,
            }
        }
        HirKind::Capture(c) => shape_of(&c.sub),
        HirKind::Concat(hs) | HirKind::Alternation(hs) => {
            hs.iter().map(shape_of).fold(Shape::Narrow, Shape::max)
        }
        _ => Shape::Narrow,
    }
}

/// Whether `h` is a class of at least [`WIDE_CLASS`] bytes.
fn is_wide_class(h: &regex_syntax::hir::Hir) -> bool {
    use regex_syntax::hir::{Class, HirKind};
    let bytes: usize = match h.kind() {
        HirKind::Class(Class::Bytes(c)) => c
            .ranges()
            .iter()
            .map(|r| usize::from(r.end() - r.start()) + 1)
            .sum(),
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .map(|r| (r.end() as usize).min(0xff) + 1 - (r.start() as usize).min(0x100))
            .sum(),
        _ => 0,
    };
    bytes >= WIDE_CLASS
}

/// Builds one scan over `rules`, or, where that fails, scans over each half (a single
/// pattern that does not build is left out).
fn build(text: Part, rules: &[(usize, String)], scans: &mut Vec<Scan>) {
    if rules.is_empty() {
        return;
    }
    let patterns: Vec<&str> = rules.iter().map(|(_, p)| p.as_str()).collect();
    match automaton(&patterns) {
        Some(dfa) => {
            let for_cache = dfa.clone();
            scans.push(Scan {
                text,
                dfa,
                caches: Arc::new(Caches::new(move || for_cache.create_cache())),
                rules: rules.iter().map(|(i, _)| *i).collect(),
            });
        }
        None if rules.len() > 1 => {
            let (a, b) = rules.split_at(rules.len() / 2);
            build(text, a, scans);
            build(text, b, scans);
        }
        None => {}
    }
}

/// The lazy DFA reporting every pattern that matches anywhere, read as the forward lazy DFA
/// of a rule ([`super::engines::Forward`]) and the guards read a text: bytes, ASCII classes.
fn automaton(patterns: &[&str]) -> Option<hybrid::dfa::DFA> {
    bytes_dfa(hybrid::dfa::Config::new().match_kind(MatchKind::All))
        .build_many(patterns)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(patterns: &[&str]) -> Vec<(usize, String)> {
        patterns
            .iter()
            .enumerate()
            .map(|(i, p)| (i, (*p).to_owned()))
            .collect()
    }

    #[test]
    fn rules_out_only_the_rules_without_a_match() {
        let f = SetFilter::new(
            Part::Body,
            rules(&[
                r"(?i)c[l1]ick\s+here",
                r"\bfoo\d",
                r"(?m)^bar$",
                r"(?i)unsu[b8]scribe",
            ]),
        );
        assert_eq!(f.len(), 4);
        let scan = &f.scans[0];
        let found = |text: &[u8]| {
            let mut set = PatternSet::new(4);
            scan.caches
                .with(|c| {
                    scan.dfa
                        .try_which_overlapping_matches(c, &Input::new(text), &mut set)
                })
                .expect("searched");
            (0..4)
                .map(|k| set.contains(regex_automata::PatternID::new_unchecked(k)))
                .collect::<Vec<bool>>()
        };
        // `\b` rules out `xfoo1`.
        assert_eq!(
            found(b"please C1ICK  here\nbar\nxfoo1"),
            [true, false, true, false]
        );
        assert_eq!(found(b"UNSU8SCRIBE"), [false, false, false, true]);
    }

    #[test]
    fn a_pattern_that_does_not_build_is_left_out() {
        let f = SetFilter::new(Part::Body, rules(&["a(", "b", "c", "d", "e"]));
        assert_eq!(f.len(), 4);
        assert_eq!(f.scans[0].rules, [1, 2, 3, 4]);
    }

    #[test]
    fn shapes_keep_long_runs_of_wide_classes_apart() {
        assert_eq!(shape(r"(?i)c[l1]ick\s*here"), Shape::Narrow);
        assert_eq!(shape(r"v[_\W]{0,3}i[_\W]{0,3}a"), Shape::Gappy);
        assert_eq!(shape(r"million[^.]{1,25}dollars"), Shape::Wide);
        assert_eq!(shape(r"(?:\b[a-z]{8,}\s){3}"), Shape::Wide);
        assert_eq!(shape(r"(?:v[_\W]{0,3}){2}x[^.]+"), Shape::Wide);
        assert_eq!(shape("a("), Shape::Wide);
        // Wide ones are left out, and a kind with fewer than MIN_SET patterns too.
        let f = SetFilter::new(
            Part::Body,
            rules(&["a", "b", "c", "d", r"x[^.]+y", r"v[_\W]{0,3}i"]),
        );
        assert_eq!(f.len(), 4);
        assert_eq!(f.scans[0].rules, [0, 1, 2, 3]);
    }
}
