//! The engines a [`super::pattern::Pattern`] is compiled to, and their limits.

use std::sync::Arc;

use regex_automata::util::pool::Pool;
use regex_automata::util::prefilter::Prefilter;
use regex_automata::{hybrid, meta};

/// Backtracking steps allowed to `fancy-regex` per match attempt (its own default); a pattern
/// that needs more is treated as not matching. Perl, which SpamAssassin's rules are written
/// for, has no such limit: at 100k (until e65e77f) the unanchored confirmation run of
/// `__LOTSA_MONEY_*` and `__END_FUTURE_EMAILS` gave up on long spam bodies where Perl matches
/// (LOTS_OF_MONEY, END_FUTURE_EMAILS, MONEY_NOHTML SpamAssassin-only in `corpora/sa-diff`); at
/// 1M, 2 fewer rules disagree on the first 1,000 SpamAssassin-corpus messages and one more
/// verdict agrees, the built-in rules' hits are unchanged (HITRATES.md), and neither the
/// sa-diff runs nor a 130 KB message of money phrases got measurably slower
/// (corpora/SA-FIDELITY.md, "Measured"). Classify's `--timeout` bounds the worst case.
pub(super) const BACKTRACK_LIMIT: usize = 1_000_000;
/// Compiled program size cap per regex (the `regex` default is 10 MiB).
pub(super) const SIZE_LIMIT: usize = 4 << 20;
/// Lazy-DFA cache cap per regex: memory the lazy DFA may fill with states before it clears
/// them and starts over. 8 MiB, not 2: at 2 MiB the DFA of `__FILL_THIS_FORM_LONG2` (a `{5}`
/// repetition of expanded replace_tags) overflowed on every message and rebuilt its states,
/// about 0.9-1.3 ms per message in the classify server; at 8 MiB its states stay built
/// (out of the 60 costliest rules; 16 and 32 MiB measured the same). Only regexes that build
/// that many states use it: the process's peak memory did not grow (rules_timing, 100
/// messages: 162 MB at 8 MiB, 177 MB at 2 MiB). The cap changes no result (a full cache is
/// cleared, never gives up, in these engines' configuration). corpora/SA-FIDELITY.md, "Speed".
pub(super) const DFA_SIZE_LIMIT: usize = 8 << 20;

/// A forward-only lazy DFA with a pool of caches: answers "is there a match" without the
/// reverse automaton, capture engines and the rest `meta::Regex` builds (which only `count`
/// needs). About a fifth cheaper to build (callgrind), and a one-message process builds
/// one per candidate rule.
#[derive(Clone)]
pub(super) struct Forward {
    dfa: hybrid::dfa::DFA,
    caches: Arc<Pool<hybrid::dfa::Cache, CacheFn>>,
}

type CacheFn = Box<dyn Fn() -> hybrid::dfa::Cache + Send + Sync + std::panic::UnwindSafe>;

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward").finish_non_exhaustive()
    }
}

impl Forward {
    pub(super) fn new(pattern: &str, prefilter: bool) -> Option<Forward> {
        let dfa = hybrid::dfa::DFA::builder()
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .unicode(false)
                    .utf8(false),
            )
            .thompson(
                regex_automata::nfa::thompson::Config::new()
                    .utf8(false)
                    .nfa_size_limit(Some(SIZE_LIMIT))
                    .which_captures(regex_automata::nfa::thompson::WhichCaptures::None),
            )
            .configure(
                hybrid::dfa::Config::new()
                    .cache_capacity(DFA_SIZE_LIMIT)
                    .prefilter(prefilter.then(|| prefix_prefilter(pattern)).flatten()),
            )
            .build(pattern)
            .ok()?;
        let for_cache = dfa.clone();
        let create: CacheFn = Box::new(move || for_cache.create_cache());
        Some(Forward {
            dfa,
            caches: Arc::new(Pool::new(create)),
        })
    }

    /// `None` if the lazy DFA gave up (it is configured never to, in ASCII mode).
    pub(super) fn is_match(&self, text: &[u8]) -> Option<bool> {
        let mut cache = self.caches.get();
        let input = regex_automata::Input::new(text).earliest(true);
        self.dfa
            .try_search_fwd(&mut cache, &input)
            .ok()
            .map(|m| m.is_some())
    }
}

/// A prefilter over the literal prefixes every match starts with, when there is a small set of
/// them: the lazy DFA then skips to candidate positions (memchr, memmem or Teddy) instead of
/// stepping through every byte. `None` when a match can start anywhere.
fn prefix_prefilter(pattern: &str) -> Option<regex_automata::util::prefilter::Prefilter> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    let mut seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    seq.optimize_for_prefix_by_preference();
    let lits = seq.literals()?;
    if lits.is_empty() || lits.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    regex_automata::util::prefilter::Prefilter::new(regex_automata::MatchKind::LeftmostFirst, lits)
        .filter(regex_automata::util::prefilter::Prefilter::is_fast)
}

/// A finite set of literals every match of `pattern` (the linear approximation of a
/// backtracking pattern, with its flags) starts with, read with Unicode classes and case
/// folding as the backtracking engine reads a text (so it holds on non-ASCII texts too; on
/// ASCII ones it is only wider); `None` when a match can start anywhere or the set is not
/// finite. Its occurrences are where a match of the backtracking pattern can start: a superset
/// of the positions, as the guard's leftmost match starts were, found by one literal search
/// per step instead of a guard search that runs to the end of the guard's match (for the
/// `ALL` rules, from each `Received` line down to the Subject).
pub(super) fn start_prefilter(pattern: &str) -> Option<Prefilter> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let lits = seq.literals()?;
    if lits.is_empty() || lits.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    Prefilter::new(regex_automata::MatchKind::LeftmostFirst, lits)
}

/// Builds the linear engine lean: only the match span (no capture groups), no one-pass DFA, no
/// eagerly built full DFA (the lazy DFA builds only the states a message visits; building full
/// DFAs was 19% of a one-message `classify` process under callgrind), no literal prefilter of
/// its own (ours runs first). That makes compiling about five times cheaper than
/// `regex::Regex::new`, which matters when a process matches a single message.
pub(super) fn linear(pattern: &str, unicode: bool) -> Result<meta::Regex, String> {
    meta::Regex::builder()
        .syntax(
            regex_automata::util::syntax::Config::new()
                .unicode(unicode)
                .utf8(false),
        )
        .configure(
            meta::Config::new()
                .auto_prefilter(false)
                .onepass(false)
                .dfa(false)
                .which_captures(regex_automata::nfa::thompson::WhichCaptures::Implicit)
                .nfa_size_limit(Some(SIZE_LIMIT))
                .hybrid_cache_capacity(DFA_SIZE_LIMIT),
        )
        .build(pattern)
        .map_err(|e| first_line(&e.to_string()))
}

pub(super) fn first_line(s: &str) -> String {
    // regex errors are multi-line with a caret diagram; the last line says what is wrong.
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_owned()
}
