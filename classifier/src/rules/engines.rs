//! The engines a [`super::pattern::Pattern`] is compiled to, and their limits.

use std::sync::{Arc, Mutex};

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
/// (corpora/SA-FIDELITY.md, "Measured"). Classify's `--timeout` bounds the worst case. The
/// rules now run anchored attempts where a match can start, each with the whole limit, and
/// no unanchored run confirms them (`attempts::any`, session 36).
pub(super) const BACKTRACK_LIMIT: usize = 1_000_000;
/// Compiled program size cap per regex (the `regex` default is 10 MiB).
pub(super) const SIZE_LIMIT: usize = 4 << 20;
/// The cap for the few patterns over [`SIZE_LIMIT`]: `__FILL_THIS_FORM_PARTIAL_RAW` (an atomic
/// group before expanded replace_tags under `/i`) needs more and otherwise never hits
/// (corpora/SA-FIDELITY.md, "The exceptions, explained").
const BIG_SIZE_LIMIT: usize = 32 << 20;
/// Lazy-DFA cache cap per regex: memory the lazy DFA may fill with states before it clears
/// them and starts over. 8 MiB, not 2: at 2 MiB the DFA of `__FILL_THIS_FORM_LONG2` (a `{5}`
/// repetition of expanded replace_tags) overflowed on every message and rebuilt its states,
/// about 0.9-1.3 ms per message in the classify server; at 8 MiB its states stay built
/// (out of the 60 costliest rules; 16 and 32 MiB measured the same). Only regexes that build
/// that many states use it: the process's peak memory did not grow (rules_timing, 100
/// messages: 162 MB at 8 MiB, 177 MB at 2 MiB). The cap changes no result (a full cache is
/// cleared, never gives up, in these engines' configuration). corpora/SA-FIDELITY.md, "Speed".
pub(super) const DFA_SIZE_LIMIT: usize = 8 << 20;

/// Compiles `pattern` with the backtracking engine; a pattern whose Unicode program exceeds
/// [`SIZE_LIMIT`] is tried once more at [`BIG_SIZE_LIMIT`].
pub(super) fn backtracking(pattern: &str) -> Result<fancy_regex::Regex, String> {
    let build = |size| {
        fancy_regex::RegexBuilder::new(pattern)
            .backtrack_limit(BACKTRACK_LIMIT)
            .delegate_size_limit(size)
            .delegate_dfa_size_limit(DFA_SIZE_LIMIT)
            .build()
    };
    build(SIZE_LIMIT)
        .or_else(|_| build(BIG_SIZE_LIMIT))
        .map_err(|e| e.to_string())
}

/// A regex's search caches, shared by every thread: searches take the one cache when it is
/// free and a pooled one only when another thread is searching the same regex at that moment.
///
/// A lazy DFA's cache holds the states it has built, and building states is the cost of a
/// search on a text unlike those seen before (a rule's replace_tags over a new message). With
/// a pool alone, each thread searching a regex (a classify server's workers and the rayon
/// thread that matches text rules) fills a cache of its own, and a state found on one thread
/// is built again on the others; a server's threads take turns at the same rules, so nearly
/// every search finds the one cache free. Measured with the stock rules in `serve` (callgrind,
/// 100 messages after 100 others): 22.2 M instructions a message with pooled caches, 20.9 M
/// with shared ones for the lazy DFAs of [`Forward`], 19.7 M with [`Linear`]'s too
/// (corpora/SA-FIDELITY.md, "Session 35").
pub(super) struct Caches<C> {
    one: Mutex<C>,
    more: Pool<C, CacheFn<C>>,
}

type CacheFn<C> = Box<dyn Fn() -> C + Send + Sync + std::panic::UnwindSafe>;

impl<C: Send> Caches<C> {
    pub(super) fn new(
        create: impl Fn() -> C + Send + Sync + std::panic::UnwindSafe + 'static,
    ) -> Caches<C> {
        Caches {
            one: Mutex::new(create()),
            more: Pool::new(Box::new(create)),
        }
    }

    /// `search` with the shared cache if it is free (a poisoned one is not taken: a search
    /// that panicked may have left it half-updated), else with a pooled one.
    pub(super) fn with<R>(&self, search: impl FnOnce(&mut C) -> R) -> R {
        match self.one.try_lock() {
            Ok(mut cache) => search(&mut cache),
            Err(_) => search(&mut self.more.get()),
        }
    }
}

/// A forward-only lazy DFA with its caches: answers "is there a match" without the
/// reverse automaton, capture engines and the rest `meta::Regex` builds (which only `count`
/// needs). About a fifth cheaper to build (callgrind), and a one-message process builds
/// one per candidate rule.
#[derive(Clone)]
pub(super) struct Forward {
    dfa: hybrid::dfa::DFA,
    caches: Arc<Caches<hybrid::dfa::Cache>>,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward").finish_non_exhaustive()
    }
}

impl Forward {
    pub(super) fn new(pattern: &str, prefilter: bool) -> Option<Forward> {
        let dfa = bytes_dfa(
            hybrid::dfa::Config::new()
                .prefilter(prefilter.then(|| prefix_prefilter(pattern)).flatten()),
        )
        .build(pattern)
        .ok()?;
        let for_cache = dfa.clone();
        Some(Forward {
            dfa,
            caches: Arc::new(Caches::new(move || for_cache.create_cache())),
        })
    }

    /// `None` if the lazy DFA gave up (it is configured never to, in ASCII mode).
    pub(super) fn is_match(&self, text: &[u8]) -> Option<bool> {
        let input = regex_automata::Input::new(text).earliest(true);
        self.caches.with(|cache| {
            self.dfa
                .try_search_fwd(cache, &input)
                .ok()
                .map(|m| m.is_some())
        })
    }
}

/// A lazy DFA builder reading bytes with ASCII classes and case folding, no capture groups,
/// the caps of [`SIZE_LIMIT`] and [`DFA_SIZE_LIMIT`], and the rest of `config`: the forward DFAs
/// of the rules and the set filter's (`super::setfilter`), which must read a text alike.
pub(super) fn bytes_dfa(config: hybrid::dfa::Config) -> hybrid::dfa::Builder {
    let mut b = hybrid::dfa::DFA::builder();
    b.syntax(
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
    .configure(config.cache_capacity(DFA_SIZE_LIMIT));
    b
}

/// A regex compiled with the linear engine ([`linear`]), searched with shared caches
/// ([`Caches`]) instead of `meta::Regex`'s own pool.
#[derive(Clone)]
pub(crate) struct Linear {
    re: meta::Regex,
    caches: Arc<Caches<meta::Cache>>,
}

impl std::fmt::Debug for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linear").finish_non_exhaustive()
    }
}

impl Linear {
    fn new(re: meta::Regex) -> Linear {
        let for_cache = re.clone();
        Linear {
            re,
            caches: Arc::new(Caches::new(move || for_cache.create_cache())),
        }
    }

    pub(crate) fn is_match(&self, text: &[u8]) -> bool {
        let input = regex_automata::Input::new(text);
        self.caches
            .with(|cache| self.re.is_match_with(cache, &input))
    }

    /// The leftmost-first match in `input`.
    pub(crate) fn search(
        &self,
        input: &regex_automata::Input<'_>,
    ) -> Option<regex_automata::Match> {
        self.caches.with(|cache| self.re.search_with(cache, input))
    }

    /// The number of successive non-overlapping matches in `text` that `keep` keeps, stopping
    /// at `max` (as `find_iter(text).filter(keep).take(max).count()`).
    pub(crate) fn count(
        &self,
        text: &[u8],
        max: usize,
        keep: impl Fn(&regex_automata::Match) -> bool,
    ) -> usize {
        let mut it = regex_automata::util::iter::Searcher::new(regex_automata::Input::new(text));
        self.caches.with(|cache| {
            let mut n = 0;
            while n < max {
                let Some(m) = it.advance(|input| Ok(self.re.search_with(cache, input))) else {
                    break;
                };
                n += usize::from(keep(&m));
            }
            n
        })
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
pub(super) fn linear(pattern: &str, unicode: bool) -> Result<Linear, String> {
    lean_builder()
        .syntax(
            regex_automata::util::syntax::Config::new()
                .unicode(unicode)
                .utf8(false),
        )
        .build(pattern)
        .map(Linear::new)
        .map_err(|e| first_line(&e.to_string()))
}

fn lean_builder() -> meta::Builder {
    let mut b = meta::Regex::builder();
    b.configure(
        meta::Config::new()
            .auto_prefilter(false)
            .onepass(false)
            .dfa(false)
            .which_captures(regex_automata::nfa::thompson::WhichCaptures::Implicit)
            .nfa_size_limit(Some(SIZE_LIMIT))
            .hybrid_cache_capacity(DFA_SIZE_LIMIT),
    );
    b
}

/// [`linear`] with Unicode classes, for texts in [`super::bytemode`]'s view, with its word
/// boundaries made ASCII ones. Exact there: the view's only non-ASCII characters stand for
/// bytes and are no word characters, so its word characters are the ASCII ones. And needed:
/// the lazy DFA cannot tell a Unicode word boundary beside a non-ASCII character and gives the
/// search to the slow engines (a view guard with `\b` took 3.5 M instructions a search on a
/// non-ASCII message).
pub(super) fn linear_view(pattern: &str) -> Result<Linear, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| first_line(&e.to_string()))?;
    lean_builder()
        .build_from_hir(&ascii_word_looks(&hir))
        .map(Linear::new)
        .map_err(|e| first_line(&e.to_string()))
}

/// `hir` with each Unicode word-boundary assertion replaced by its ASCII counterpart.
fn ascii_word_looks(hir: &regex_syntax::hir::Hir) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{Capture, Hir, HirKind, Look, Repetition};
    match hir.kind() {
        HirKind::Look(l) => Hir::look(match l {
            Look::WordUnicode => Look::WordAscii,
            Look::WordUnicodeNegate => Look::WordAsciiNegate,
            Look::WordStartUnicode => Look::WordStartAscii,
            Look::WordEndUnicode => Look::WordEndAscii,
            Look::WordStartHalfUnicode => Look::WordStartHalfAscii,
            Look::WordEndHalfUnicode => Look::WordEndHalfAscii,
            other => *other,
        }),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(ascii_word_looks(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(ascii_word_looks(&c.sub)),
            ..c.clone()
        }),
        HirKind::Concat(v) => Hir::concat(v.iter().map(ascii_word_looks).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(ascii_word_looks).collect()),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) => hir.clone(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// On a text in bytemode's view, the view's linear engine (ASCII word boundaries) finds
    /// the matches the Unicode one finds.
    #[test]
    fn view_engines_read_word_boundaries_as_unicode_ones_on_views() {
        let texts = [
            "caf\u{e9} au lait, 100\u{a3} \u{420}ub",
            "plain words here",
            "",
        ];
        let patterns = [
            r"(?i)\bcaf\x{E0C3}\x{E0A9}\b",
            r"\b\w+\b\s\x{E0D0}",
            r"\Bai\B|\d+\x{E0C2}\x{E0A3}\b",
            r"(?i)\b(?:au|lait|here)\b",
        ];
        let mut found = 0;
        for p in patterns {
            let view = linear_view(p).expect("compiles");
            let unicode = linear(p, true).expect("compiles");
            for t in texts {
                let v = super::super::bytemode::view(t);
                let want = unicode
                    .re
                    .find_iter(v.as_bytes())
                    .map(|m| m.range())
                    .collect::<Vec<_>>();
                let got = view
                    .re
                    .find_iter(v.as_bytes())
                    .map(|m| m.range())
                    .collect::<Vec<_>>();
                assert_eq!(got, want, "{p} on {t:?}");
                found += want.len();
            }
        }
        assert!(found >= 5, "the patterns match: {found}");
    }

    #[test]
    fn linear_searches_as_the_meta_regex_does() {
        let re = linear("(?i)b[a-z]+|^$", false).expect("compiles");
        let text = b"Bob bought a big boat\n\nby the bay";
        let expected = re.re.find_iter(&text[..]).count();
        assert_eq!(re.count(text, usize::MAX, |_| true), expected);
        assert_eq!(re.count(text, 2, |_| true), 2);
        // `keep` filters before `max` counts.
        let empty = |m: &regex_automata::Match| m.start() != m.end();
        assert_eq!(
            re.count(text, usize::MAX, empty),
            re.re.find_iter(&text[..]).filter(|m| empty(m)).count()
        );
        let from = regex_automata::Input::new(&text[..]).range(5..);
        assert_eq!(re.search(&from).map(|m| m.start()), Some(13));
        assert!(re.is_match(b"a BIG one"));
        assert!(!re.is_match(b"a cat"));
    }

    #[test]
    fn a_search_while_the_shared_cache_is_taken_uses_another() {
        let fwd = Forward::new("(?i)free\\s+money", false).expect("builds");
        let re = linear("(?i)free\\s+money", false).expect("compiles");
        // The same thread holding the shared caches: a second search would deadlock on a
        // plain lock; it takes a pooled cache and answers the same.
        let _held = fwd.caches.one.lock().expect("free");
        let _held_too = re.caches.one.lock().expect("free");
        assert_eq!(fwd.is_match(b"get FREE  money now"), Some(true));
        assert_eq!(fwd.is_match(b"money for free"), Some(false));
        assert!(re.is_match(b"get FREE  money now"));
        assert!(!re.is_match(b"money for free"));
        // From other threads at once, each answer is right.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        assert_eq!(fwd.is_match(b"free money"), Some(true));
                        assert!(!re.is_match(b"no"));
                    }
                });
            }
        });
    }
}
