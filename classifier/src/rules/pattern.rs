//! Compiled rule patterns (the literal analysis is in `literals.rs`).
//!
//! A pattern is compiled on first use, not at load: a `classify` process matches one message,
//! and most body rules are ruled out by the prefilter before their regex is ever needed.
//!
//! Engines, in order of preference:
//! 1. `regex::bytes` with Unicode off (ASCII classes and case folding, as Perl has on SpamAssassin's
//!    byte strings): linear time, and the lazy DFA never has to give up on non-ASCII text;
//! 2. the same with Unicode on, for patterns that name Unicode code points or classes;
//! 3. `fancy-regex` for look-around and back-references, with a backtracking limit so that no
//!    pattern can take more than a bounded number of steps per match attempt.
//!
//! The prefilter: for each pattern, a set of lower-cased literals such that every match contains
//! at least one of them (derived from the pattern's HIR). Body-like rules are matched together:
//! one Aho-Corasick pass over the text finds which rules can possibly match, and only those run.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use regex_automata::util::pool::Pool;
use regex_automata::util::prefilter::Prefilter;
use regex_automata::{hybrid, meta};

use super::atomic::atomic_line_runs;
use super::literals;
use super::perlre::{self, Flags, Translated};

/// Backtracking steps allowed to `fancy-regex` per match attempt (its own default); a pattern
/// that needs more is treated as not matching. Perl, which SpamAssassin's rules are written
/// for, has no such limit: at 100k (until e65e77f) the unanchored confirmation run of
/// `__LOTSA_MONEY_*` and `__END_FUTURE_EMAILS` gave up on long spam bodies where Perl matches
/// (LOTS_OF_MONEY, END_FUTURE_EMAILS, MONEY_NOHTML SpamAssassin-only in `corpora/sa-diff`); at
/// 1M, 2 fewer rules disagree on the first 1,000 SpamAssassin-corpus messages and one more
/// verdict agrees, the built-in rules' hits are unchanged (HITRATES.md), and neither the
/// sa-diff runs nor a 130 KB message of money phrases got measurably slower
/// (corpora/SA-FIDELITY.md, "Measured"). Classify's `--timeout` bounds the worst case.
const BACKTRACK_LIMIT: usize = 1_000_000;
/// Compiled program size cap per regex (the `regex` default is 10 MiB).
const SIZE_LIMIT: usize = 4 << 20;
/// Lazy-DFA cache cap per regex: memory the lazy DFA may fill with states before it clears
/// them and starts over. 8 MiB, not 2: at 2 MiB the DFA of `__FILL_THIS_FORM_LONG2` (a `{5}`
/// repetition of expanded replace_tags) overflowed on every message and rebuilt its states,
/// about 0.9-1.3 ms per message in the classify server; at 8 MiB its states stay built
/// (out of the 60 costliest rules; 16 and 32 MiB measured the same). Only regexes that build
/// that many states use it: the process's peak memory did not grow (rules_timing, 100
/// messages: 162 MB at 8 MiB, 177 MB at 2 MiB). The cap changes no result (a full cache is
/// cleared, never gives up, in these engines' configuration). corpora/SA-FIDELITY.md, "Speed".
const DFA_SIZE_LIMIT: usize = 8 << 20;

/// A compiled regex.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    /// The linear-time engine.
    Linear(Box<meta::Regex>),
    /// The bounded backtracking engine.
    Backtracking(Box<fancy_regex::Regex>),
}

/// A rule's pattern: its translation, compiled lazily.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// The translated pattern.
    pub translated: Translated,
    /// `^`/`$` match at line starts/ends whatever the flags say (body and rawbody rules, where
    /// SpamAssassin matches line by line or paragraph by paragraph).
    pub line_anchors: bool,
    compiled: OnceLock<Result<Compiled, String>>,
    /// For backtracking patterns: a linear superset checked first (see
    /// [`perlre::linear_approximation`]); `None` inside when it does not compile.
    guard: OnceLock<Option<meta::Regex>>,
    /// For [`Pattern::is_match`] on linear patterns: a forward-only lazy DFA; `None` inside
    /// when it does not build (then the full engine answers).
    forward: OnceLock<Option<Forward>>,
    /// The guard with Unicode classes, as the backtracking engine reads them: where a match
    /// can start in a non-ASCII text (see [`Pattern::backtracking_match`]).
    unicode_guard: OnceLock<Option<meta::Regex>>,
    /// For the anchored attempts of [`Pattern::backtracking_match`]: the backtracking engine
    /// with line runs made atomic ([`atomic_line_runs`]); `None` inside when that changes
    /// nothing or does not compile (the engine itself is then used).
    attempts: OnceLock<Option<fancy_regex::Regex>>,
    /// For [`Pattern::backtracking_match`]: the literals every match starts with, as the
    /// backtracking engine reads a text; `None` inside when a match can start anywhere.
    start_literals: OnceLock<Option<Prefilter>>,
    /// Test switch: match backtracking patterns as before the start-position search (one
    /// unanchored run of the backtracking engine), to compare the two.
    #[cfg(test)]
    pub plain: bool,
}

/// A forward-only lazy DFA with a pool of caches: answers "is there a match" without the
/// reverse automaton, capture engines and the rest `meta::Regex` builds (which only `count`
/// needs). About a fifth cheaper to build (callgrind), and a one-message process builds
/// one per candidate rule.
#[derive(Clone)]
struct Forward {
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
    fn new(pattern: &str, prefilter: bool) -> Option<Forward> {
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
    fn is_match(&self, text: &[u8]) -> Option<bool> {
        let mut cache = self.caches.get();
        let input = regex_automata::Input::new(text).earliest(true);
        self.dfa
            .try_search_fwd(&mut cache, &input)
            .ok()
            .map(|m| m.is_some())
    }
}

impl Pattern {
    /// Wraps a translation; nothing is compiled yet.
    pub(crate) fn new(translated: Translated, line_anchors: bool) -> Pattern {
        Pattern {
            translated,
            line_anchors,
            compiled: OnceLock::new(),
            guard: OnceLock::new(),
            forward: OnceLock::new(),
            unicode_guard: OnceLock::new(),
            attempts: OnceLock::new(),
            start_literals: OnceLock::new(),
            #[cfg(test)]
            plain: false,
        }
    }

    fn flags(&self) -> Flags {
        let mut f = self.translated.flags;
        f.m |= self.line_anchors;
        f
    }

    /// The pattern the literal prefilter and the guard are derived from: the pattern itself, or
    /// its linear approximation when it needs backtracking.
    fn linear_pattern(&self) -> Cow<'_, str> {
        if self.translated.needs_backtracking {
            Cow::Owned(perlre::linear_approximation(&self.translated.pattern))
        } else {
            Cow::Borrowed(&self.translated.pattern)
        }
    }

    fn guard(&self) -> Option<&meta::Regex> {
        self.guard
            .get_or_init(|| {
                let approx = perlre::linear_approximation(&self.translated.pattern);
                linear(&Self::prefixed(self.flags(), &approx), false).ok()
            })
            .as_ref()
    }

    fn unicode_guard(&self) -> Option<&meta::Regex> {
        self.unicode_guard
            .get_or_init(|| {
                let approx = perlre::linear_approximation(&self.translated.pattern);
                linear(&Self::prefixed(self.flags(), &approx), true).ok()
            })
            .as_ref()
    }

    /// Whether the backtracking engine `re` matches `text`, run only where a match can start.
    ///
    /// The backtracking engine searching a text tries the whole pattern at every position (for
    /// a header rule over `ALL` with a back-reference, thousands of attempts of its leading
    /// literal; half of the stock rules' time). The guard, the pattern with look-arounds
    /// dropped and back-references widened ([`perlre::linear_approximation`]), matches every
    /// span the pattern matches; so a match of the pattern starts at a position where the guard
    /// has a match starting, and the linear engine's leftmost match start is the first such
    /// position. The backtracking engine then runs anchored at each of these positions only,
    /// in order; a match found is confirmed by the unanchored run (see below), so the answer is
    /// the unanchored run's on every text.
    ///
    /// The guard used to find the positions must read the text as the backtracking engine
    /// does: on an ASCII text the ASCII guard does; otherwise the Unicode one (`\w`, `\b` and
    /// case folding differ on non-ASCII letters). The ASCII guard stays a first check, as it
    /// was before this search, so the answer is unchanged on every text.
    ///
    /// Where every match starts with one of a finite set of literals ([`start_prefilter`]),
    /// their occurrences replace the guard's match starts as the positions to try (after the
    /// guard's check): a guard search runs to the end of the guard's match, for the `ALL` rules
    /// from each `Received` line down to the Subject, and so cost more than the attempts; this
    /// also gives the patterns whose guard does not compile (`__SPOOFED_URL`'s counted runs of
    /// up to 2,048) positions to try, which before ran unanchored over the whole text.
    fn backtracking_match(&self, re: &fancy_regex::Regex, text: &str) -> bool {
        let guard = self.guard();
        #[cfg(test)]
        if self.plain {
            return guard.is_none_or(|g| g.is_match(text.as_bytes()))
                && re.is_match(text).unwrap_or(false);
        }
        let lits = self.start_literals();
        if (lits.is_some() || !text.is_ascii())
            && guard.is_some_and(|g| !g.is_match(text.as_bytes()))
        {
            return false;
        }
        if let Some(lits) = lits {
            // Every match starts with one of these literals: the next occurrence is the next
            // position where a match can start.
            return self.attempts_from(re, text, |from| {
                let span = regex_automata::Span {
                    start: from,
                    end: text.len(),
                };
                lits.find(text.as_bytes(), span).map(|m| m.start)
            });
        }
        let Some(guard) = guard else {
            return re.is_match(text).unwrap_or(false);
        };
        let starts = if text.is_ascii() {
            guard
        } else {
            match self.unicode_guard() {
                Some(u) => u,
                None => return re.is_match(text).unwrap_or(false),
            }
        };
        self.attempts_from(re, text, |from| {
            let input = regex_automata::Input::new(text.as_bytes()).range(from..);
            starts.search(&input).map(|m| m.start())
        })
    }

    /// The anchored attempts of [`Pattern::backtracking_match`] at the positions
    /// `next_start(from)` yields (the first position at or after `from` where a match can
    /// start, in order), until one matches or there is none left.
    fn attempts_from(
        &self,
        re: &fancy_regex::Regex,
        text: &str,
        mut next_start: impl FnMut(usize) -> Option<usize>,
    ) -> bool {
        let mut from = 0;
        while from <= text.len() {
            let Some(p) = next_start(from) else {
                return false;
            };
            if !text.is_char_boundary(p) {
                from = p + 1;
                continue;
            }
            let at = fancy_regex::RegexInput::new(text)
                .from_pos(p)
                .anchored(true);
            match self.attempts().unwrap_or(re).is_match_input(at) {
                // Confirmed by the one unanchored run, whose step limit is shared by all start
                // positions: where it gave up (no match), the anchored attempts, each with the
                // whole limit, may find one, and the answer must not change. Only texts the rule
                // hits pay for this run.
                Ok(true) => return re.is_match(text).unwrap_or(false),
                Ok(false) => {}
                // Over the step limit at one position: the unanchored run, which makes the same
                // attempt after those before it, is over it too, and counts no match.
                Err(_) => return false,
            }
            from = p + text[p..].chars().next().map_or(1, char::len_utf8);
        }
        false
    }

    /// The literal prefixes of the pattern's matches ([`start_prefilter`]), built once.
    fn start_literals(&self) -> Option<&Prefilter> {
        self.start_literals
            .get_or_init(|| {
                let approx = perlre::linear_approximation(&self.translated.pattern);
                start_prefilter(&Self::prefixed(self.flags(), &approx))
            })
            .as_ref()
    }

    fn attempts(&self) -> Option<&fancy_regex::Regex> {
        self.attempts
            .get_or_init(|| {
                if self.translated.flags.x {
                    return None;
                }
                let rewritten = atomic_line_runs(&self.with_flags())?;
                fancy_regex::RegexBuilder::new(&rewritten)
                    .backtrack_limit(BACKTRACK_LIMIT)
                    .delegate_size_limit(SIZE_LIMIT)
                    .delegate_dfa_size_limit(DFA_SIZE_LIMIT)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    fn prefixed(f: Flags, pattern: &str) -> String {
        let mut prefix = String::new();
        for (on, c) in [(f.i, 'i'), (f.m, 'm'), (f.s, 's'), (f.x, 'x')] {
            if on {
                prefix.push(c);
            }
        }
        if prefix.is_empty() {
            pattern.to_owned()
        } else {
            format!("(?{prefix}){pattern}")
        }
    }

    fn with_flags(&self) -> String {
        let f = self.flags();
        let mut prefix = String::new();
        for (on, c) in [(f.i, 'i'), (f.m, 'm'), (f.s, 's'), (f.x, 'x')] {
            if on {
                prefix.push(c);
            }
        }
        if prefix.is_empty() {
            self.translated.pattern.clone()
        } else {
            format!("(?{prefix}){}", self.translated.pattern)
        }
    }

    /// Compiles now (if not yet) and returns the engine or the error.
    pub(crate) fn compiled(&self) -> Result<&Compiled, &str> {
        self.compiled
            .get_or_init(|| self.compile())
            .as_ref()
            .map_err(String::as_str)
    }

    /// Compiles now what matching will use: the forward lazy DFA of a linear pattern matched
    /// with [`Pattern::is_match_with`] (built with `prefilter` as that call would), the full
    /// engine of a counted or backtracking pattern, and a backtracking pattern's linear guard.
    pub(crate) fn warm(&self, prefilter: bool, counting: bool) {
        if !self.translated.needs_backtracking && !counting {
            let forward = self
                .forward
                .get_or_init(|| Forward::new(&self.with_flags(), prefilter));
            if forward.is_some() {
                return;
            }
        }
        if let Ok(Compiled::Backtracking(_)) = self.compiled() {
            let _ = self.guard();
            let _ = self.unicode_guard();
            let _ = self.attempts();
            let _ = self.start_literals();
        }
    }

    /// True when this pattern has been compiled already (for statistics).
    pub(crate) fn is_compiled(&self) -> bool {
        self.compiled.get().is_some() || matches!(self.forward.get(), Some(Some(_)))
    }

    fn compile(&self) -> Result<Compiled, String> {
        let pattern = self.with_flags();
        if !self.translated.needs_backtracking {
            let mut last_err = String::new();
            for unicode in [false, true] {
                match linear(&pattern, unicode) {
                    Ok(re) => return Ok(Compiled::Linear(Box::new(re))),
                    Err(e) => last_err = e,
                }
            }
            // Fall through: some Perl-isms only the backtracking engine parses.
            return fancy_regex::RegexBuilder::new(&pattern)
                .backtrack_limit(BACKTRACK_LIMIT)
                .delegate_size_limit(SIZE_LIMIT)
                .delegate_dfa_size_limit(DFA_SIZE_LIMIT)
                .build()
                .map(|re| Compiled::Backtracking(Box::new(re)))
                .map_err(|_| first_line(&last_err));
        }
        fancy_regex::RegexBuilder::new(&pattern)
            .backtrack_limit(BACKTRACK_LIMIT)
            .delegate_size_limit(SIZE_LIMIT)
            .delegate_dfa_size_limit(DFA_SIZE_LIMIT)
            .build()
            .map(|re| Compiled::Backtracking(Box::new(re)))
            .map_err(|e| first_line(&e.to_string()))
    }

    /// True if the pattern matches `text`. A pattern that failed to compile never matches; a
    /// backtracking match that exceeds its step limit counts as no match.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.is_match_with(text, false)
    }

    /// [`Pattern::is_match`]; with `prefilter`, the lazy DFA is built (if this is the first
    /// use) with a prefilter over the literal prefixes of a match, when they are few: it scans
    /// faster, but building it costs more than a one-message process saves (measured: +1.4 ms
    /// per `classify --no-server` process, -10% of the rules' time in the classify server), so
    /// only long-lived rule sets ask for it.
    pub(crate) fn is_match_with(&self, text: &str, prefilter: bool) -> bool {
        if !self.translated.needs_backtracking {
            let forward = self
                .forward
                .get_or_init(|| Forward::new(&self.with_flags(), prefilter));
            if let Some(m) = forward.as_ref().and_then(|f| f.is_match(text.as_bytes())) {
                return m;
            }
        }
        match self.compiled() {
            Ok(Compiled::Linear(re)) => re.is_match(text.as_bytes()),
            Ok(Compiled::Backtracking(re)) => self.backtracking_match(re, text),
            Err(_) => false,
        }
    }

    /// Number of non-overlapping matches, at most `max`.
    pub(crate) fn count(&self, text: &str, max: u32) -> u32 {
        let n = match self.compiled() {
            Ok(Compiled::Linear(re)) => re.find_iter(text.as_bytes()).take(max as usize).count(),
            Ok(Compiled::Backtracking(_))
                if self.guard().is_some_and(|g| !g.is_match(text.as_bytes())) =>
            {
                0
            }
            Ok(Compiled::Backtracking(re)) => re
                .find_iter(text)
                .take(max as usize)
                .take_while(Result::is_ok)
                .count(),
            Err(_) => 0,
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The pattern split on its main alternation, when that is exact for [`Pattern::is_match`]:
    /// `pre(?:A|B|C)post` matches a text exactly when one of `pre(?:A)post`, `pre(?:B)post`,
    /// `pre(?:C)post` does (likewise a top-level `A|B|C`). Each alternative then gets its own
    /// prefilter literals and is compiled only when they occur, instead of compiling a rule's
    /// whole alternation because one of dozens of phrases appears somewhere in the message
    /// (compiling was over half of a one-message `classify` process). Not for counting
    /// matches (leftmost-first counts differ), for backtracking patterns, `x`-mode patterns or
    /// inline flag groups (whose scope crosses `|`). `None` when not applicable.
    pub(crate) fn alternatives(&self) -> Option<Vec<Pattern>> {
        if self.translated.needs_backtracking || self.translated.flags.x {
            return None;
        }
        let (pre, branches, post) = split_alternation(&self.translated.pattern)?;
        Some(
            branches
                .into_iter()
                .map(|b| {
                    let pattern = if pre.is_empty() && post.is_empty() {
                        b.to_owned()
                    } else {
                        format!("{pre}(?:{b}){post}")
                    };
                    Pattern::new(
                        Translated {
                            pattern,
                            flags: self.translated.flags,
                            needs_backtracking: false,
                        },
                        self.line_anchors,
                    )
                })
                .collect(),
        )
    }

    /// A fingerprint of everything [`Pattern::required_literals`] depends on (translated
    /// pattern, flags, analysis version), for the precomputed prefilter table.
    pub(crate) fn fingerprint(&self) -> u64 {
        let f = self.flags();
        let mut h = Fnv::default();
        h.write(&[
            PREFILTER_VERSION,
            u8::from(f.i),
            u8::from(f.m),
            u8::from(f.s),
            u8::from(f.x),
        ]);
        h.write(&[u8::from(self.translated.needs_backtracking)]);
        h.write(self.translated.pattern.as_bytes());
        h.0
    }

    /// Lower-cased literals of which every match contains at least one, if such a set of useful
    /// length exists. `None` means "always run this pattern".
    pub(crate) fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        literals::required_literals(&self.linear_pattern(), self.flags())
    }
}

/// Builds the linear engine lean: only the match span (no capture groups), no one-pass DFA, no
/// eagerly built full DFA (the lazy DFA builds only the states a message visits; building full
/// DFAs was 19% of a one-message `classify` process under callgrind), no literal prefilter of
/// its own (ours runs first). That makes compiling about five times cheaper than
/// `regex::Regex::new`, which matters when a process matches a single message.
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
fn start_prefilter(pattern: &str) -> Option<Prefilter> {
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

fn linear(pattern: &str, unicode: bool) -> Result<meta::Regex, String> {
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

/// Finds the alternation to split a pattern (Rust `regex` syntax, not `x` mode) on: its
/// top-level `|`s, else those directly inside the first unquantified top-level group that has
/// any. Returns (prefix, alternatives, suffix); `None` for fewer than two alternatives, for
/// unbalanced input, or when the pattern has a `(?` group other than `(?:` (flags).
fn split_alternation(p: &str) -> Option<(&str, Vec<&str>, &str)> {
    let b = p.as_bytes();
    let mut depth = 0usize;
    let mut class = 0usize;
    let mut top: Vec<usize> = Vec::new();
    // (group open index, content start, `|` positions directly inside) per top-level group.
    let mut open: Option<(usize, usize, Vec<usize>)> = None;
    let mut chosen: Option<(usize, usize, Vec<usize>, usize)> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if class > 0 {
            match c {
                b'[' => class += 1,
                b']' => class -= 1,
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'[' => {
                class = 1;
                // A `]` right after `[` or `[^` is a literal.
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b'(' => {
                let content = if b.get(i + 1) == Some(&b'?') {
                    if b.get(i + 2) != Some(&b':') {
                        return None;
                    }
                    i + 3
                } else {
                    i + 1
                };
                if depth == 0 {
                    open = Some((i, content, Vec::new()));
                }
                depth += 1;
                i = content;
                continue;
            }
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let (start, content, bars) = open.take()?;
                    let quantified = matches!(b.get(i + 1), Some(b'?' | b'*' | b'+' | b'{'));
                    if chosen.is_none() && !bars.is_empty() && !quantified {
                        chosen = Some((start, content, bars, i));
                    }
                }
            }
            b'|' if depth == 0 => top.push(i),
            b'|' if depth == 1 => {
                if let Some((_, _, bars)) = open.as_mut() {
                    bars.push(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    if depth != 0 || class != 0 {
        return None;
    }
    let cut = |from: usize, bars: &[usize], to: usize| -> Vec<&str> {
        let mut out = Vec::with_capacity(bars.len() + 1);
        let mut s = from;
        for &x in bars {
            out.push(&p[s..x]);
            s = x + 1;
        }
        out.push(&p[s..to]);
        out
    };
    if !top.is_empty() {
        return Some(("", cut(0, &top, p.len()), ""));
    }
    let (start, content, bars, close) = chosen?;
    Some((&p[..start], cut(content, &bars, close), &p[close + 1..]))
}

fn first_line(s: &str) -> String {
    // regex errors are multi-line with a caret diagram; the last line says what is wrong.
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_owned()
}

/// Bump when the literal analysis changes, so precomputed tables are recomputed.
const PREFILTER_VERSION: u8 = 2;

/// FNV-1a, 64 bit: tiny and stable across builds (std's hasher is neither guaranteed).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::perlre::translate;
    use super::*;

    fn lits(re: &str, flags: &str) -> Option<Vec<String>> {
        let p = Pattern::new(translate(re, flags).expect("translates"), false);
        p.required_literals().map(|set| {
            set.into_iter()
                .map(|s| String::from_utf8_lossy(&s).into_owned())
                .collect()
        })
    }

    #[test]
    fn splits_alternations_where_exact() {
        assert_eq!(
            split_alternation(r"\b(?:a|b[|)]c|(?:d|e))\b"),
            Some((r"\b", vec!["a", "b[|)]c", "(?:d|e)"], r"\b"))
        );
        assert_eq!(
            split_alternation(r"x\||y"),
            Some(("", vec![r"x\|", "y"], ""))
        );
        assert_eq!(
            split_alternation("(?:a|b)+c|d"),
            Some(("", vec!["(?:a|b)+c", "d"], ""))
        );
        // Quantified group, flag group, no alternation, unbalanced: not split.
        assert_eq!(split_alternation("(?:a|b)*c"), None);
        assert_eq!(split_alternation("(?i:a|b)"), None);
        assert_eq!(split_alternation("abc"), None);
        assert_eq!(split_alternation("(a|b"), None);
        // Each alternative matches exactly what the whole does, alternative by alternative.
        let whole = Pattern::new(translate(r"\bbuy (?:cheap|now)\b", "i").expect("ok"), false);
        let alts = whole.alternatives().expect("splits");
        for text in [
            "Buy now!",
            "buy cheap",
            "buy nowhere",
            "abuy now",
            "nothing",
        ] {
            let any = alts.iter().any(|a| a.is_match(text));
            assert_eq!(any, whole.is_match(text), "{text}");
        }
        assert!(alts.iter().any(|a| a.is_match("BUY CHEAP")));
    }

    #[test]
    fn extracts_required_literals() {
        assert_eq!(lits("click here", "i"), Some(vec!["click he".into()]));
        assert_eq!(
            lits("\\b(?:viagra|cialis)\\b", "i"),
            Some(vec!["cialis".into(), "viagra".into()])
        );
        assert_eq!(lits("\\d+ dollars", ""), Some(vec![" dollars".into()]));
        assert_eq!(lits("a.*b", ""), None);
        assert_eq!(lits("(?:foo)?bar\\w+", ""), Some(vec!["bar".into()]));
        assert_eq!(
            lits("free[- ]?money", "i"),
            Some(vec![
                "free mon".into(),
                "free-mon".into(),
                "freemone".into()
            ])
        );
    }

    #[test]
    fn engines_match_and_bound() {
        let p = Pattern::new(translate("buy\\s+now", "i").expect("ok"), false);
        assert!(p.is_match("please BUY  now"));
        assert!(matches!(p.compiled(), Ok(Compiled::Linear(_))));
        let p = Pattern::new(translate("foo(?!bar)", "").expect("ok"), false);
        assert!(p.is_match("foobaz"));
        assert!(!p.is_match("foobar"));
        // Catastrophic backtracking is cut off, not run to the end.
        let p = Pattern::new(translate("^(a+)+\\1$", "").expect("ok"), false);
        let start = std::time::Instant::now();
        assert!(!p.is_match(&format!("{}b", "a".repeat(40))));
        assert!(start.elapsed().as_secs() < 5);
    }
}
