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
use std::sync::OnceLock;

use regex_automata::util::prefilter::Prefilter;

use super::approx;
use super::atomic::atomic_line_runs;
use super::attempts;
use super::bytemode;
use super::engines::{
    Forward, Linear, backtracking, first_line, linear, linear_view, start_prefilter,
};
use super::linecut::LineCut;
use super::literals;
use super::perlre::{self, Flags, Translated};
use super::split::split_alternation;

/// A compiled regex.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    /// The linear-time engine.
    Linear(Box<Linear>),
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
    /// [`perlre::linear_approximation`]), with the pattern it was compiled from; `None`
    /// inside when it does not compile.
    guard: OnceLock<Option<(Linear, String)>>,
    /// For [`Pattern::is_match`] on linear patterns: a forward-only lazy DFA; `None` inside
    /// when it does not build (then the full engine answers).
    forward: OnceLock<Option<Forward>>,
    /// The guard with Unicode classes, as the backtracking engine reads them: where a match
    /// can start in a non-ASCII text (see [`Pattern::backtracking_match`]).
    unicode_guard: OnceLock<Option<Linear>>,
    /// The guard with its long counted runs open ([`Pattern::open_guard`]); `None` inside when
    /// it has none or does not compile.
    open_guard: OnceLock<Option<Linear>>,
    /// The guard of the pattern as [`bytemode`]'s view reads it (see [`Pattern::view_guard`]).
    view_guard: OnceLock<Option<Linear>>,
    /// For the anchored attempts of [`Pattern::backtracking_match`]: the backtracking engine
    /// with line runs made atomic ([`atomic_line_runs`]); `None` inside when that changes
    /// nothing or does not compile (the engine itself is then used).
    attempts: OnceLock<Option<fancy_regex::Regex>>,
    /// For [`Pattern::backtracking_match`]: the literals every match starts with, as the
    /// backtracking engine reads a text; `None` inside when a match can start anywhere.
    start_literals: OnceLock<Option<Prefilter>>,
    /// SpamAssassin 4's capture templates, when the regex reads captured tags (`%{NAME}`):
    /// then this pattern, with each template taken literally, is never matched; the rule's
    /// regex is made per message from the template ([`super::captures`]).
    pub template: Option<Box<super::captures::Template>>,
    /// For a rule with named groups that set tags: the backtracking engine, which reports
    /// groups; built on the rule's first hit.
    capture_engine: OnceLock<Option<fancy_regex::Regex>>,
    /// For a backtracking pattern that names bytes above 0x7f: the backtracking engine for
    /// non-ASCII texts, which reads them as Perl reads its byte strings ([`bytemode`]); `None`
    /// inside when the pattern names no such byte or does not compile so.
    bytes_engine: OnceLock<Option<fancy_regex::Regex>>,
    /// For [`Pattern::count_in_view`] on a linear pattern that names no byte above 0x7f: the
    /// backtracking engine, which reads a view character as one character.
    view_engine: OnceLock<Option<fancy_regex::Regex>>,
    /// Whether the pattern names a byte above 0x7f (see [`Pattern::names_bytes`]).
    names_bytes: OnceLock<bool>,
    /// Whether a match can be empty and the pattern has a multi-line `^` (see
    /// [`Pattern::caret_at_end`]).
    caret_at_end: OnceLock<bool>,
    /// For a backtracking pattern relating two lines: the lines of a text it can use
    /// ([`LineCut`]).
    line_cut: OnceLock<Option<LineCut>>,
    /// Test switch: match backtracking patterns as before the start-position search (one
    /// unanchored run of the backtracking engine), to compare the two.
    #[cfg(test)]
    pub plain: bool,
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
            open_guard: OnceLock::new(),
            view_guard: OnceLock::new(),
            attempts: OnceLock::new(),
            start_literals: OnceLock::new(),
            template: None,
            capture_engine: OnceLock::new(),
            bytes_engine: OnceLock::new(),
            view_engine: OnceLock::new(),
            names_bytes: OnceLock::new(),
            caret_at_end: OnceLock::new(),
            line_cut: OnceLock::new(),
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

    pub(super) fn guard(&self) -> Option<&Linear> {
        self.guard_and_source().map(|(g, _)| g)
    }

    /// The guard with the pattern it was compiled from, built once.
    fn guard_and_source(&self) -> Option<&(Linear, String)> {
        self.guard
            .get_or_init(|| self.build_guard(&self.translated.pattern, false))
            .as_ref()
    }

    /// The guard with every counted run over [`approx::OPEN_OVER`] open (`[^\n]{0,200}` becomes
    /// `[^\n]{0,}`: [`approx::widen_counted_over`]), a superset of it, for the check that only
    /// rules a text out ([`Pattern::starts`]). A run that overlaps what follows it keeps a lazy
    /// DFA state for each count it may be at, and states are built for every new text: the
    /// `ALL` rules' guards (`\nReceived:[^\n]{0,200} for `, `(?:[^\n<]{0,80}<)?`) scanned 7-80
    /// ns a byte, the open ones a fraction of it, ruling out nearly as often
    /// (corpora/SA-FIDELITY.md, "Session 38"). `None` when the guard has no such run (or the
    /// open one does not compile).
    pub(super) fn open_guard(&self) -> Option<&Linear> {
        self.open_guard
            .get_or_init(|| {
                let approx = self.linear_pattern();
                let open = approx::widen_counted_over(&approx, approx::OPEN_OVER);
                (open != *approx)
                    .then(|| linear(&Self::prefixed(self.flags(), &open), false).ok())
                    .flatten()
            })
            .as_ref()
    }

    fn unicode_guard(&self) -> Option<&Linear> {
        self.unicode_guard
            .get_or_init(|| {
                self.build_guard(&self.translated.pattern, true)
                    .map(|(g, _)| g)
            })
            .as_ref()
    }

    /// The guard of the pattern as [`bytemode`]'s view reads it, with Unicode classes, as the
    /// backtracking engine reads the view (and ASCII word boundaries, the same there:
    /// [`linear_view`]): where a match can start in a view (a view character is no letter,
    /// digit or space to either). `None` when the pattern names no byte above 0x7f or this does
    /// not compile.
    fn view_guard(&self) -> Option<&Linear> {
        self.view_guard
            .get_or_init(|| {
                let view = bytemode::pattern(&self.translated.pattern)?;
                self.build_guard_with(&view, linear_view).map(|(g, _)| g)
            })
            .as_ref()
    }

    /// Whether the view engine `b` ([`Pattern::bytes_engine`]) matches `view`, run only where
    /// the view's guard can start a match.
    fn view_match(&self, b: &fancy_regex::Regex, view: &str) -> bool {
        match self.view_guard().filter(|_| !self.is_plain()) {
            Some(g) => attempts::any(b, view, &attempts::Starts::Guard(g)),
            None => b.is_match(view).unwrap_or(false),
        }
    }

    /// The count of the view engine `b`'s matches in `view`, at most `max` (see
    /// [`attempts::count`]).
    fn view_count(&self, b: &fancy_regex::Regex, view: &str, max: usize) -> usize {
        let starts = self
            .view_guard()
            .filter(|_| !self.is_plain())
            .map(attempts::Starts::Guard);
        attempts::count(b, view, starts.as_ref(), max)
    }

    /// The linear approximation compiled with ASCII or Unicode classes; where it is over the
    /// size limit, with its long counted runs made open ([`approx::widen_counted`]), a
    /// superset again.
    fn build_guard(&self, pattern: &str, unicode: bool) -> Option<(Linear, String)> {
        self.build_guard_with(pattern, |p| linear(p, unicode))
    }

    /// The guard (see [`Pattern::build_guard`]) and the pattern it was compiled from.
    fn build_guard_with(
        &self,
        pattern: &str,
        build: impl Fn(&str) -> Result<Linear, String>,
    ) -> Option<(Linear, String)> {
        let approx = perlre::linear_approximation(pattern);
        let exact = Self::prefixed(self.flags(), &approx);
        build(&exact).map(|g| (g, exact)).ok().or_else(|| {
            let widened = Self::prefixed(self.flags(), &approx::widen_counted(&approx));
            build(&widened).map(|g| (g, widened)).ok()
        })
    }

    /// A pattern for [`super::setfilter::SetFilter`], read there as bytes with ASCII classes,
    /// whose having no match in a text means that [`Pattern::is_match_with`] (for `counting`,
    /// [`Pattern::count`]) finds none in it: the pattern itself where the forward lazy DFA
    /// answers, the guard where the backtracking engine runs behind one (every path of its
    /// matching checks the guard first, on every text). `None` for the others: a linear
    /// pattern whose forward DFA is not built (yet: [`Pattern::warm`] builds it) or that is
    /// counted (the full engine counts), a backtracking pattern matched on a [`LineCut`] (the
    /// guard reads the cut text, not the text), and a pattern with a match at an empty last
    /// line (its count has no guard).
    pub(crate) fn no_match_witness(&self, counting: bool) -> Option<String> {
        if self.caret_at_end() {
            return None;
        }
        if !self.translated.needs_backtracking {
            let built = matches!(self.forward.get(), Some(Some(_)));
            return (built && !counting).then(|| self.with_flags());
        }
        if !matches!(self.compiled(), Ok(Compiled::Backtracking(_))) || self.line_cut().is_some() {
            return None;
        }
        self.guard_and_source().map(|(_, source)| source.clone())
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
    /// in order ([`attempts::any`]); the answer is the unanchored run's but where that run's
    /// step limit, shared by all its start positions, gives up before a match Perl finds.
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
        if self.is_plain() {
            return self.guard().is_none_or(|g| g.is_match(text.as_bytes()))
                && re.is_match(text).unwrap_or(false);
        }
        let Some(starts) = self.starts(text, false) else {
            return re.is_match(text).unwrap_or(false);
        };
        attempts::any(self.attempts().unwrap_or(re), text, &starts)
    }

    /// Where a match can start in `text` ([`attempts::Starts`]): the start literals, checked
    /// first by the guard (on an ASCII text by its open form, [`Pattern::open_guard`]) where
    /// they are; else where the guard's matches start, read as the
    /// backtracking engine reads `text` (on an ASCII text the ASCII guard; otherwise the
    /// Unicode one: `\w`, `\b` and case folding differ on non-ASCII letters; the ASCII guard
    /// stays a first check, as it was before this search, so the answer is unchanged on every
    /// text). `None` where any position can start one; no position at all where the guard
    /// rules out a match (unless the caller has `checked` that already).
    fn starts(&self, text: &str, checked: bool) -> Option<attempts::Starts<'_>> {
        let lits = self.start_literals();
        if !checked && (lits.is_some() || !text.is_ascii()) {
            // Where the literals give the positions, on an ASCII text (where the guard reads
            // the text as the backtracking engine does), the guard only rules out: its open
            // form does, and the guard itself need not be built.
            let open = (lits.is_some() && text.is_ascii())
                .then(|| self.open_guard())
                .flatten();
            if open
                .or_else(|| self.guard())
                .is_some_and(|g| !g.is_match(text.as_bytes()))
            {
                return Some(attempts::Starts::Nowhere);
            }
        }
        if let Some(lits) = lits {
            return Some(attempts::Starts::Literals(lits));
        }
        let guard = self.guard()?;
        if text.is_ascii() {
            Some(attempts::Starts::Guard(guard))
        } else {
            self.unicode_guard().map(attempts::Starts::Guard)
        }
    }

    /// The test switch `plain` (always false outside tests).
    fn is_plain(&self) -> bool {
        #[cfg(test)]
        return self.plain;
        #[cfg(not(test))]
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
                backtracking(&rewritten).ok()
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

    /// The engine that reports this pattern's named groups (see `capture_engine`).
    pub(crate) fn capture_engine(&self) -> Option<&fancy_regex::Regex> {
        self.capture_engine
            .get_or_init(|| backtracking(&self.with_flags()).ok())
            .as_ref()
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
            if self.built_bytes_engine().is_some() {
                let _ = self.view_guard();
            }
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
            return backtracking(&pattern)
                .map(|re| Compiled::Backtracking(Box::new(re)))
                .map_err(|_| first_line(&last_err));
        }
        backtracking(&pattern)
            .map(|re| Compiled::Backtracking(Box::new(re)))
            .map_err(|e| first_line(&e))
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
        self.any_match(text, prefilter)
            && (!text.ends_with('\n') || !self.caret_at_end() || self.short_of_end(text) > 0)
    }

    /// Whether a match of this pattern can be empty and start at a multi-line `^`. Perl's `^`
    /// under `/m` matches after every line break but a text's last (`perlre`); the engines'
    /// also there, so on a text ending in a line break they find an empty line at its end
    /// that SpamAssassin does not (`body /^$/`, `/^\s*$/`: the body's lines each end so).
    fn caret_at_end(&self) -> bool {
        *self.caret_at_end.get_or_init(|| {
            let f = self.flags();
            if !f.m {
                return false;
            }
            regex_syntax::ParserBuilder::new()
                .case_insensitive(f.i)
                .multi_line(true)
                .dot_matches_new_line(f.s)
                .ignore_whitespace(f.x)
                .utf8(false)
                .build()
                .parse(&self.linear_pattern())
                .is_ok_and(|h| {
                    let p = h.properties();
                    p.minimum_len() == Some(0)
                        && p.look_set().contains(regex_syntax::hir::Look::StartLF)
                })
        })
    }

    /// The number of matches in `text` other than an empty one at its very end (the callers
    /// bound it; only the rare patterns of [`Pattern::caret_at_end`] come here).
    fn short_of_end(&self, text: &str) -> usize {
        let kept = |start: usize, end: usize| start != end || start != text.len();
        match self.compiled() {
            Ok(Compiled::Linear(re)) => {
                re.count(text.as_bytes(), usize::MAX, |m| kept(m.start(), m.end()))
            }
            Ok(Compiled::Backtracking(re)) => re
                .find_iter(text)
                .map_while(Result::ok)
                .filter(|m| kept(m.start(), m.end()))
                .count(),
            Err(_) => 0,
        }
    }

    fn any_match(&self, text: &str, prefilter: bool) -> bool {
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
            Ok(Compiled::Backtracking(re)) => {
                let cut = self.line_cut().map(|c| c.cut(text));
                let text = cut.as_deref().unwrap_or(text);
                match self.bytes_engine(text) {
                    // The guard reads bytes as this engine does (ASCII classes, ASCII case).
                    Some(b) => {
                        self.guard().is_none_or(|g| g.is_match(text.as_bytes()))
                            && bytemode::with_view(text, |v| self.view_match(b, v))
                    }
                    None => self.backtracking_match(re, text),
                }
            }
            Err(_) => false,
        }
    }

    /// The [`LineCut`] backtracking matches run on, if the pattern has one (never under the
    /// test switch `plain`, which matches as before any of these searches).
    fn line_cut(&self) -> Option<&LineCut> {
        #[cfg(test)]
        if self.plain {
            return None;
        }
        self.line_cut
            .get_or_init(|| LineCut::of(&self.translated.pattern, self.flags()))
            .as_ref()
    }

    /// The engine of [`bytemode`] when `text` is not ASCII and the pattern names bytes above
    /// 0x7f.
    fn bytes_engine(&self, text: &str) -> Option<&fancy_regex::Regex> {
        if text.is_ascii() {
            return None;
        }
        self.built_bytes_engine()
    }

    fn built_bytes_engine(&self) -> Option<&fancy_regex::Regex> {
        self.bytes_engine
            .get_or_init(|| {
                let p = bytemode::pattern(&self.with_flags())?;
                backtracking(&p).ok()
            })
            .as_ref()
    }

    /// Whether the pattern names a byte above 0x7f (`\xE9`, a non-ASCII literal), which
    /// [`bytemode`]'s view reads as one character. Read from the pattern's text, without
    /// compiling the view's engine: on a Latin-1 body the linear patterns match the bytes and
    /// never use it (a one-message `classify` spent 0.6 s and 150 MB compiling those of the
    /// stock rules).
    pub(crate) fn names_bytes(&self) -> bool {
        *self
            .names_bytes
            .get_or_init(|| bytemode::pattern(&self.with_flags()).is_some())
    }

    /// Whether a linear pattern matches `bytes` read as Perl reads a byte string (each byte
    /// one character: the forward lazy DFA reads bytes, with ASCII classes and case folding),
    /// for `max` 1; `None` for a backtracking pattern, a count, or a pattern only the other
    /// engines compile, which [`Pattern::count_in_view`] matches on the view instead.
    pub(crate) fn count_bytes(&self, bytes: &[u8], max: u32, prefilter: bool) -> Option<u32> {
        if self.translated.needs_backtracking
            || max > 1
            || (bytes.ends_with(b"\n") && self.caret_at_end())
        {
            return None;
        }
        let forward = self
            .forward
            .get_or_init(|| Forward::new(&self.with_flags(), prefilter));
        forward.as_ref()?.is_match(bytes).map(u32::from)
    }

    /// Whether the pattern may match in `bytes`, read as [`Pattern::count_bytes`] reads them
    /// (each byte one character): false only where its guard (the linear approximation, the
    /// pattern itself when linear, with ASCII classes and case folding) has no match there,
    /// which rules out a match in [`bytemode`]'s view of the same bytes too (one view
    /// character per byte above 0x7f, no letter, digit or space to either engine; `\xE9` one
    /// byte, a literal `é` its two UTF-8 bytes to both).
    pub(crate) fn may_match_bytes(&self, bytes: &[u8]) -> bool {
        self.guard().is_none_or(|g| g.is_match(bytes))
    }

    /// Number of non-overlapping matches, at most `max`, in a text already in
    /// [`bytemode`]'s view (each byte above 0x7f one character): with the pattern as that
    /// view reads it, or the backtracking engine (which reads characters, so a view character
    /// is one byte to `.` and no letter, digit or space) where it names no such byte. `None`
    /// where neither compiles.
    pub(crate) fn count_in_view(&self, view: &str, max: u32) -> Option<u32> {
        let re = match self.built_bytes_engine() {
            Some(b) => b,
            None => match self.compiled() {
                Ok(Compiled::Backtracking(re)) => re,
                _ => self
                    .view_engine
                    .get_or_init(|| backtracking(&self.with_flags()).ok())
                    .as_ref()?,
            },
        };
        let n = attempts::unanchored_count(re, view, max as usize);
        Some(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Number of non-overlapping matches, at most `max`.
    pub(crate) fn count(&self, text: &str, max: u32) -> u32 {
        if text.ends_with('\n') && self.caret_at_end() {
            let n = self.short_of_end(text).min(max as usize);
            return u32::try_from(n).unwrap_or(u32::MAX);
        }
        let n = match self.compiled() {
            Ok(Compiled::Linear(re)) => re.count(text.as_bytes(), max as usize, |_| true),
            Ok(Compiled::Backtracking(_))
                if self.guard().is_some_and(|g| !g.is_match(text.as_bytes())) =>
            {
                0
            }
            Ok(Compiled::Backtracking(_)) if let Some(b) = self.bytes_engine(text) => {
                bytemode::with_view(text, |v| self.view_count(b, v, max as usize))
            }
            Ok(Compiled::Backtracking(re)) => {
                // The guard checked above.
                let starts = self.starts(text, true).filter(|_| !self.is_plain());
                attempts::count(re, text, starts.as_ref(), max as usize)
            }
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

    /// Clauses of lower-cased literals, every match containing one literal of each
    /// ([`literals::required_clauses`]), if one of useful length exists. `None` means "always
    /// run this pattern".
    pub(crate) fn required_clauses(&self) -> Option<super::Clauses> {
        literals::required_clauses(&self.linear_pattern(), self.flags())
    }

    /// The first of [`Pattern::required_clauses`]: literals of which every match contains at
    /// least one.
    #[cfg(test)]
    pub(crate) fn required_literals(&self) -> Option<Vec<Vec<u8>>> {
        self.required_clauses()?.into_iter().next()
    }
}

/// Bump when the literal analysis changes, so precomputed tables are recomputed. 3: clauses.
const PREFILTER_VERSION: u8 = 3;

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
    fn a_guard_over_the_size_limit_is_widened() {
        // __SPOOFED_URL's shape: counted runs of up to 2,048 and a back-reference. Its exact
        // linear approximation is over the size limit; the widened one is its guard.
        let re = "<a\\s[^>]{0,2048}\\bhref=.?(https?:[^>\"' ]{8,29})[^>]{0,2048}>\
                  (?:[^<]{0,1024}<(?!/a)[^>]{1,1024}>){0,99}\\s{0,10}(?!\\1)https?[^\\w<]{1,3}[^<]{5}";
        let p = Pattern::new(translate(re, "i").expect("ok"), true);
        let exact = perlre::linear_approximation(&p.translated.pattern);
        assert!(linear(&Pattern::prefixed(p.flags(), &exact), false).is_err());
        let g = p.guard().expect("a guard");
        assert!(!g.is_match(b"<p>no links here, http://example.com/x</p>"));
        let spoof = "<a href=\"http://bank.example.com/\">http://evil.example.net/</a>";
        assert!(g.is_match(spoof.as_bytes()));
        assert!(p.is_match(spoof));
        let same = "<a href=\"http://bank.example.com/\">http://bank.example.com/</a>";
        assert!(!p.is_match(same));
    }

    #[test]
    fn guards_rule_out_latin1_bytes() {
        // A backtracking pattern naming a Latin-1 byte, read on the bytes as the view engine
        // reads them.
        let p = Pattern::new(translate("(?<!x)caf\\xE9", "i").expect("ok"), true);
        assert!(p.may_match_bytes(b"un CAF\xE9 noir\n"));
        assert!(!p.may_match_bytes(b"un the noir\n"));
        assert!(!p.may_match_bytes(b"un caf\xC3\xA9 noir\n"));
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
