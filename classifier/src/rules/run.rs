//! Evaluating a prepared rule set on one message.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::cost::{self, Phase, RuleCosts};
use super::lines::LineMode;
use super::setfilter::SetFilter;
use super::*;

/// SpamAssassin's body lines: the joined text and each line's range in it.
type SaLines<'a> = (&'a str, &'a [std::ops::Range<usize>]);
/// [`SaLines`] as bytes ([`Texts::latin1_bytes`]).
type SaBytes<'a> = (&'a [u8], &'a [std::ops::Range<usize>]);

/// Fewest text rules in a long-lived set for a second thread to share the work: below, waking
/// it costs more than it saves. The built-in set has 61, of which the prefilter leaves 11.5 per
/// message (at most 24) to match on the first 100 SpamAssassin-corpus messages, in 0.2 ms of
/// rules, and two threads made them 5-10% more CPU and no faster; with the stock SpamAssassin
/// rules (about 1,300 text rules) it leaves 146-250 (median 181), in 4-7 ms (rules_timing;
/// corpora/SA-FIDELITY.md, "Two threads"). The threshold was a per-message count of the rules
/// left until the second thread took over the prefilter too (SA-FIDELITY.md, "Session 17").
const PARALLEL_TEXT_RULES: usize = 64;

impl Prepared {
    /// Whether [`RuleSet::run`] gives the text rules to a second thread: a long-lived rule set
    /// with enough of them.
    pub(super) fn two_threads(&self) -> bool {
        self.long_lived && self.text_rules >= PARALLEL_TEXT_RULES
    }
}

#[cfg(test)]
thread_local! {
    /// Test switch: evaluate a long-lived rule set on the calling thread alone, to compare
    /// with the two-thread evaluation.
    pub(super) static ONE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Test switch: run every header rule without its literal prefilter, to compare.
    pub(super) static NO_HEADER_PREFILTER: std::cell::Cell<bool> =
        const { std::cell::Cell::new(false) };
}

impl RuleSet {
    /// Test switch: every backtracking pattern matched as before the start-position search
    /// (see `Pattern::backtracking_match`), to compare the two.
    #[cfg(test)]
    pub(super) fn set_plain_engines(&mut self) {
        let inner = Arc::make_mut(&mut self.inner);
        for r in &mut inner.rules {
            match &mut r.test {
                Test::Header { pattern, .. } | Test::Regex(pattern) => pattern.plain = true,
                Test::MimeHeader(m) => m.pattern.plain = true,
                _ => {}
            }
        }
        inner.prepared = OnceLock::new();
    }

    /// `group`'s [`SetFilter`], built on first use; a long-lived set's only (building it costs
    /// more than one message saves).
    pub(super) fn set_filter<'p>(
        &self,
        prep: &'p Prepared,
        group: &'p super::prepare::Group,
    ) -> Option<&'p SetFilter> {
        if !prep.long_lived {
            return None;
        }
        group
            .set
            .get_or_init(|| SetFilter::of_group(self, prep, group))
            .as_ref()
    }

    pub(super) fn run(&self, view: &MessageView, ctx: &EvalContext, all: bool) -> Vec<u32> {
        self.run_costed(view, ctx, all, None, None)
    }

    /// [`RuleSet::evaluate`], running `beside` (other work on the same message: a server
    /// tokenizes it for Bayes) on one of the evaluation's threads. With two threads the rules
    /// are shared out around it, so it costs the message about half its time; otherwise it
    /// runs first. Changes no hit.
    pub fn evaluate_beside(
        &self,
        view: &MessageView,
        ctx: &EvalContext,
        beside: &(dyn Fn() + Sync),
    ) -> Vec<RuleHit> {
        self.hits_of(&self.run_costed(view, ctx, false, None, Some(beside)))
    }

    /// [`RuleSet::run`], adding each rule's time and each shared phase's to `costs` if given
    /// (`mailsift rules cost`; see [`super::cost`]), and running `beside` on one of its threads
    /// ([`RuleSet::evaluate_beside`]).
    pub(super) fn run_costed(
        &self,
        view: &MessageView,
        ctx: &EvalContext,
        all: bool,
        costs: Option<&RuleCosts>,
        beside: Option<&(dyn Fn() + Sync)>,
    ) -> Vec<u32> {
        let prep = self.prepared();
        let mut counts = vec![0u32; self.inner.rules.len()];
        let wanted = |i: usize| all || prep.needed[i];
        let trust = trust::LazyTrust::new(view, &self.inner.networks);
        let env = evals::Env::new(view, ctx, &self.inner.conf, &trust);
        let texts = Texts::new(&env);
        // The text rules (body, rawbody, full: about half of the stock rules' time) are
        // matched from a shared list, rule by rule from either end ([`TextWork::claim`]), so
        // that two threads can take part; every rule's count is its own, whichever thread
        // computes it. The list (the texts rendered and the literal prefilter run over them)
        // is made by the first thread that needs it.
        let list: OnceLock<TextWork<'_>> = OnceLock::new();
        let text_work = || {
            list.get_or_init(|| {
                let t = cost::start(costs);
                let w = self.text_work(prep, &texts, &wanted);
                cost::phase_done(costs, Phase::TextsAndPrefilter, t);
                w
            })
        };
        let work = |from_back: bool| {
            let w = text_work();
            while let Some(k) = w.claim(from_back) {
                let Some(&(i, text, lines, latin1)) = w.rules.get(k) else {
                    break;
                };
                let t = cost::start(costs);
                let n = if let Some(bytes) = latin1 {
                    self.latin1_count(prep, i, lines, bytes)
                } else {
                    self.text_count(prep, i, text, lines, &w.branch_candidate)
                };
                cost::rule_done(costs, i, t);
                w.counts[k].store(n, Ordering::Relaxed);
            }
        };
        // The header rules, evals and uri rules, taken one by one from their list by either
        // thread; the uri prefilter is run by the first that needs it.
        let uri_candidates: OnceLock<Vec<bool>> = OnceLock::new();
        let next_other = AtomicUsize::new(0);
        let other_counts: Vec<AtomicU32> = prep.others.iter().map(|_| AtomicU32::new(0)).collect();
        let others = || {
            let candidate =
                uri_candidates.get_or_init(|| self.uri_candidates(prep, &texts, &wanted, costs));
            let list = Claims {
                next: &next_other,
                counts: &other_counts,
            };
            self.run_others(prep, &wanted, candidate, &texts, &trust, &env, &list, costs);
        };
        #[cfg(test)]
        let two = !ONE_THREAD.get();
        #[cfg(not(test))]
        let two = true;
        if prep.two_threads() && two {
            // A long-lived rule set (a server, an evaluation) with many text rules: a second
            // thread renders the texts, runs the prefilter and matches the text rules while
            // this one runs the header rules and evals; each then helps with what is left of
            // the other's list (the header rules and evals were the longer part: with the
            // stock rules the second thread used to wait about a third of the time, see
            // `Claims`). If the second thread has not started by then, this one makes the
            // list itself (it never waits for a job that may be queued behind this one). A
            // one-message process stays on one thread (nothing to overlap with the pool's
            // start-up).
            rayon::in_place_scope(|scope| {
                scope.spawn(|_| {
                    super::wake::share_started();
                    work(false);
                    others();
                });
                // The other thread starts on the texts, which take longest before any rule
                // on them can run; this one's share of the rules shrinks by what it does here.
                if let Some(f) = beside {
                    f();
                }
                others();
                work(true);
            });
        } else {
            if let Some(f) = beside {
                f();
            }
            work(false);
            others();
        }
        for (&i, n) in prep.others.iter().zip(&other_counts) {
            counts[i] = n.load(Ordering::Relaxed);
        }
        // The scope's end (or this thread alone) ordered every store before these loads.
        let w = text_work();
        for (&(i, ..), n) in w.rules.iter().zip(&w.counts) {
            counts[i] = n.load(Ordering::Relaxed);
        }
        let t = cost::start(costs);
        self.run_templates(prep, &wanted, &texts, &trust, &mut counts);
        cost::phase_done(costs, Phase::Templates, t);
        let t = cost::start(costs);
        // Each meta's value is read back by the metas after it, hence the cell.
        let cells = std::cell::Cell::from_mut(counts.as_mut_slice()).as_slice_of_cells();
        prep.metas
            .run(&wanted, &mut |j| f64::from(cells[j].get()), &mut |i, v| {
                cells[i].set(u32::from(v != 0.0 && !v.is_nan()))
            });
        cost::phase_done(costs, Phase::Metas, t);
        counts
    }

    /// The text rules the literal prefilter lets through on this message, with their texts.
    fn text_work<'t>(
        &self,
        prep: &Prepared,
        texts: &'t Texts<'_>,
        wanted: &dyn Fn(usize) -> bool,
    ) -> TextWork<'t> {
        let mut candidate = vec![false; self.inner.rules.len()];
        // The candidates whose text the set filter found no match in (not for Latin-1 lines,
        // which the rules read as bytes).
        let mut ruled_out = vec![false; self.inner.rules.len()];
        let mut branch_candidate = vec![false; prep.branches];
        for &b in &prep.always_branches {
            branch_candidate[b] = true;
        }
        for (group, text) in [
            (&prep.body, Part::Body),
            (&prep.rawbody, Part::RawBody),
            (&prep.full, Part::Full),
        ] {
            prefilter(
                group,
                text,
                texts,
                wanted,
                &mut candidate,
                Some(&mut branch_candidate),
            );
            if let Some(set) = self.set_filter(prep, group) {
                set.rule_out(texts, &candidate, &mut ruled_out);
            }
        }
        let rules: Vec<(usize, &str, Option<SaLines<'_>>, Option<SaBytes<'_>>)> = prep
            .text_parts
            .iter()
            .filter(|&&(i, _)| wanted(i))
            .filter_map(|&(i, part)| {
                if let Some(bytes) = texts.latin1(part) {
                    // The prefilter read the body's UTF-8 text: a rule naming a byte above
                    // 0x7f is tried whatever it found there.
                    let r = &self.inner.rules[i];
                    let names_bytes = matches!(&r.test, Test::Regex(p) if p.names_bytes());
                    return (candidate[i] || names_bytes)
                        .then(|| (i, bytes.0, Some(bytes), texts.latin1_bytes(part)));
                }
                (candidate[i] && !ruled_out[i])
                    .then(|| (i, texts.get(part), texts.sa_lines(part), None))
            })
            .collect();
        TextWork {
            counts: rules.iter().map(|_| AtomicU32::new(0)).collect(),
            rules,
            branch_candidate,
            claimed: AtomicU64::new(0),
        }
    }

    /// Which uri rules the literal prefilter lets through on this message (indexed by rule;
    /// only the uri rules' entries are set).
    fn uri_candidates(
        &self,
        prep: &Prepared,
        texts: &Texts<'_>,
        wanted: &dyn Fn(usize) -> bool,
        costs: Option<&RuleCosts>,
    ) -> Vec<bool> {
        let t = cost::start(costs);
        let mut candidate = vec![false; self.inner.rules.len()];
        // uri rules match each URL whole: their alternatives are not matched apart.
        prefilter(&prep.uri, Part::Uri, texts, wanted, &mut candidate, None);
        cost::phase_done(costs, Phase::UriPrefilter, t);
        candidate
    }

    /// The count of text rule `i` (a body, rawbody or full regex the prefilter let through)
    /// on `text`; with `lines` (SpamAssassin's body), as SpamAssassin counts it line by line.
    fn text_count(
        &self,
        prep: &Prepared,
        i: usize,
        text: &str,
        lines: Option<SaLines<'_>>,
        branch_candidate: &[bool],
    ) -> u32 {
        let r = &self.inner.rules[i];
        let Test::Regex(p) = &r.test else {
            return 0;
        };
        let max = r.max_hits.max(1);
        if let Some((joined, ranges)) = lines {
            let mode = *prep.line_modes[i].get_or_init(|| lines::line_mode(p));
            let line_by_line = || lines::count_by_line(p, joined, ranges, max, prep.long_lived);
            match mode {
                LineMode::ByLine => return line_by_line(),
                LineMode::Verify => {
                    let n = self.joined_count(prep, i, p, text, branch_candidate);
                    return if n == 0 { 0 } else { line_by_line() };
                }
                LineMode::Joined => {}
            }
        }
        self.joined_count(prep, i, p, text, branch_candidate)
    }

    /// The count of SpamAssassin body rule `i` on the body's lines read as Latin-1 bytes
    /// ([`Texts::latin1`]), line by line as SpamAssassin matches them; rare enough (an
    /// all-ASCII HTML message whose entities give Latin-1 characters) to match without the
    /// joined-text shortcuts of [`Self::text_count`].
    fn latin1_count(
        &self,
        prep: &Prepared,
        i: usize,
        lines: Option<SaLines<'_>>,
        (bytes, byte_ranges): SaBytes<'_>,
    ) -> u32 {
        let r = &self.inner.rules[i];
        let (Test::Regex(p), Some((joined, ranges))) = (&r.test, lines) else {
            return 0;
        };
        let max = r.max_hits.max(1);
        // The patterns the bytes' lazy DFA cannot answer for (backtracking ones, counts) run
        // on the view line by line: first their guards rule out the whole body, where no
        // match in the joined lines means none in a line (`lines::line_mode`: not for a
        // pattern that reads a line's very end, as `__FILL_THIS_FORM_PARTIAL`'s `\s{1,4}$`
        // after a field name), then each line.
        let mode = *prep.line_modes[i].get_or_init(|| lines::line_mode(p));
        if mode != LineMode::ByLine && !p.may_match_bytes(bytes) {
            return 0;
        }
        let mut n = 0;
        for (range, byte_range) in ranges.iter().zip(byte_ranges) {
            let line = joined.get(range.clone()).unwrap_or("");
            // A linear pattern reads the bytes themselves, as on any other text (the view's
            // engine, built for look-arounds, ran the FILL_THIS_FORM patterns' huge automata
            // on the slow engine: a tenth of the stock rules' time on such messages).
            let line_bytes = bytes.get(byte_range.clone()).unwrap_or_default();
            n += match p.count_bytes(line_bytes, max - n, prep.long_lived) {
                Some(k) => k,
                None if !p.may_match_bytes(line_bytes) => 0,
                None => p.count_in_view(line, max - n).unwrap_or(0),
            };
            if n >= max {
                break;
            }
        }
        n
    }

    /// [`Self::text_count`] on the text as one string.
    fn joined_count(
        &self,
        prep: &Prepared,
        i: usize,
        p: &Pattern,
        text: &str,
        branch_candidate: &[bool],
    ) -> u32 {
        let r = &self.inner.rules[i];
        let split = prep.splits.get(&i);
        let mut alts = split.into_iter().flat_map(|sp| {
            (0..sp.patterns.len())
                .filter(|&k| branch_candidate[sp.base + k])
                .map(|k| &sp.patterns[k])
        });
        if let (Some(alt), None) = (alts.next(), alts.next()) {
            // One candidate alternative: compile and scan just that. With more, one scan
            // with the whole pattern is cheaper than several (a warm process has it
            // compiled; scanning every candidate alternative made a corpus evaluation 4%
            // more instructions).
            u32::from(alt.is_match_with(text, prep.long_lived))
        } else if r.max_hits > 1 {
            p.count(text, r.max_hits)
        } else {
            u32::from(p.is_match_with(text, prep.long_lived))
        }
    }

    /// Every direct rule but the text rules ([`text_part`]), in definition order, each rule's
    /// time added to `costs` if given.
    #[allow(clippy::too_many_arguments)]
    fn run_others(
        &self,
        prep: &Prepared,
        wanted: &dyn Fn(usize) -> bool,
        candidate: &[bool],
        texts: &Texts<'_>,
        trust: &trust::LazyTrust<'_>,
        env: &evals::Env<'_>,
        list: &Claims<'_>,
        costs: Option<&RuleCosts>,
    ) {
        // Each header target's text and its lower-cased form, by target (see
        // `Prepared::header_target`), built on the first rule that reads it.
        let mut hcache: Vec<Option<(Option<String>, Option<String>)>> =
            vec![None; prep.header_targets];
        // Which header prefilter slots' literals occur in their target's text (see
        // `header_entry`).
        let mut hfound = vec![false; prep.header_slots];
        while let Some(k) = list.claim() {
            let i = prep.others[k];
            if !wanted(i) {
                continue;
            }
            let r = &self.inner.rules[i];
            let mut t = cost::start(costs);
            let n = match &r.test {
                Test::Regex(p) => {
                    if candidate[i] {
                        uri_count(p, texts, r.max_hits, r.origin != "<default>")
                    } else {
                        0
                    }
                }
                Test::Header {
                    target,
                    pattern,
                    negate,
                    if_unset,
                } => 'header: {
                    let (value, lower) = hcache[prep.header_target[i]].get_or_insert_with(|| {
                        // Shared by every rule on this target: timed as a phase, not as
                        // this rule's time.
                        let th = cost::start(costs);
                        let e = header_entry(prep, trust, target, &mut hfound);
                        if let (Some(th), Some(t0)) = (th, t.as_mut()) {
                            *t0 += th.elapsed();
                        }
                        cost::phase_done(costs, Phase::HeaderTexts, th);
                        e
                    });
                    // The header's own text was scanned for its rules' literals at once;
                    // an `if_unset` text is searched here.
                    let scanned = value.is_some();
                    let (value, lower): (&str, Cow<'_, str>) =
                        match (value.as_deref(), if_unset.as_deref()) {
                            (Some(v), _) => (v, Cow::Borrowed(lower.as_deref().unwrap_or(""))),
                            (None, Some(u)) => (u, Cow::Owned(u.to_ascii_lowercase())),
                            (None, None) => ("", Cow::Borrowed("")),
                        };
                    #[cfg(test)]
                    let unfiltered = NO_HEADER_PREFILTER.get();
                    #[cfg(not(test))]
                    let unfiltered = false;
                    let has = |slot: usize, lits: &[Vec<u8>]| {
                        if unfiltered {
                            return true;
                        }
                        if scanned {
                            return hfound[slot];
                        }
                        lits.iter()
                            .any(|x| memchr::memmem::find(lower.as_bytes(), x).is_some())
                    };
                    let slot = prep.header_slot[i];
                    let lits = || prep.header_lits.get(&i).map_or(&[][..], Vec::as_slice);
                    if r.max_hits > 1 && !*negate {
                        // `tflags multiple`: SpamAssassin counts the matches (`__HDRS_LCASE`
                        // up to 3, for `__MANY_HDRS_LCASE`'s `> 1`).
                        let possible =
                            prep.splits.contains_key(&i) || slot == usize::MAX || has(slot, lits());
                        break 'header if possible {
                            pattern.count(value, r.max_hits)
                        } else {
                            0
                        };
                    }
                    let m = match prep.splits.get(&i) {
                        // As for body rules: one candidate alternative alone, several
                        // with the whole pattern.
                        Some(sp) => {
                            let mut alts = sp
                                .patterns
                                .iter()
                                .zip(&sp.lits)
                                .enumerate()
                                .filter(|(k, (_, lits))| {
                                    // Header rules are filtered by their first clause.
                                    lits.as_ref()
                                        .and_then(|c| c.first())
                                        .is_none_or(|l| has(slot + k, l))
                                })
                                .map(|(_, alt)| alt);
                            match (alts.next(), alts.next()) {
                                (None, _) => false,
                                (Some((alt, _)), None) => alt.is_match_with(value, prep.long_lived),
                                (Some(_), Some(_)) => pattern.is_match_with(value, prep.long_lived),
                            }
                        }
                        None => {
                            (slot == usize::MAX || has(slot, lits()))
                                && pattern.is_match_with(value, prep.long_lived)
                        }
                    };
                    u32::from(m != *negate)
                }
                Test::Exists(t) => u32::from(match t.name.as_str() {
                    "ALL" => true,
                    _ => hcache[prep.header_target[i]]
                        .get_or_insert_with(|| header_entry(prep, trust, t, &mut hfound))
                        .0
                        .is_some(),
                }),
                Test::Eval { def, args } => u32::from(def.run(env, args)),
                Test::MimeHeader(m) => u32::from(m.matches(env, prep.long_lived)),
                Test::Meta(_) => 0,
            };
            cost::rule_done(costs, i, t);
            list.counts[k].store(n, Ordering::Relaxed);
        }
    }
}

/// The list of header rules, evals and uri rules (`Prepared::others`) both threads of
/// [`RuleSet::run`] take rules from, and each one's count. The calling thread starts on it
/// while the second matches the text rules; whichever is done first helps with the other's
/// list. Measured in the classify server with the stock rules before this list was shared
/// (session 35): the calling thread's header rules and evals took about 2.0 ms a message,
/// the second thread's text rules about 1.3, so the second waited (corpora/SA-FIDELITY.md,
/// "Session 35").
struct Claims<'a> {
    next: &'a AtomicUsize,
    counts: &'a [AtomicU32],
}

impl Claims<'_> {
    /// The next rule's place in the list, or `None` when every rule has been taken.
    fn claim(&self) -> Option<usize> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        (k < self.counts.len()).then_some(k)
    }
}

/// The text rules the prefilter let through on one message, shared by the threads that
/// match them (see [`RuleSet::run`]).
struct TextWork<'t> {
    /// (rule, its text, SpamAssassin's lines of it where it reads them, and where those are
    /// the Latin-1 bytes of [`Texts::latin1`], the same lines as bytes).
    rules: Vec<(usize, &'t str, Option<SaLines<'t>>, Option<SaBytes<'t>>)>,
    /// Which alternatives of split rules may match.
    branch_candidate: Vec<bool>,
    /// Each listed rule's count.
    counts: Vec<AtomicU32>,
    /// How many listed rules have been taken from the front (high 32 bits) and from the back
    /// (low 32 bits): see [`TextWork::claim`].
    claimed: AtomicU64,
}

impl TextWork<'_> {
    /// The next listed rule to match, from the front of the list or from its back, or `None`
    /// when every rule has been taken. The second thread takes rules from the front, the
    /// calling thread (once done with the header rules and evals) from the back, so that a
    /// rule is mostly matched by the same thread from one message to the next and keeps its
    /// lazy DFA's states in that thread's cache. A claim is valid while the front and back
    /// counts it saw sum to less than the list's length: no rule is taken twice.
    fn claim(&self, from_back: bool) -> Option<usize> {
        let step = if from_back { 1 } else { 1 << 32 };
        let seen = self.claimed.fetch_add(step, Ordering::Relaxed);
        let (front, back) = ((seen >> 32) as usize, (seen & 0xffff_ffff) as usize);
        let len = self.rules.len();
        if front + back >= len {
            return None;
        }
        Some(if from_back { len - 1 - back } else { front })
    }
}

/// Marks in `candidate` the rules of `group` whose literals occur in the text they read, and
/// the group's rules that have none; in `branch_candidate`, when given, the alternatives of
/// split rules whose literals occur.
fn prefilter(
    group: &Group,
    text: Part,
    texts: &Texts<'_>,
    wanted: &dyn Fn(usize) -> bool,
    candidate: &mut [bool],
    mut branch_candidate: Option<&mut [bool]>,
) {
    if let Some(ac) = &group.ac {
        if group.filtered.iter().any(|&(i, _)| wanted(i)) {
            let hay = texts.haystack(text);
            let mut mark = |slot: usize| {
                let (rule, branch) = group.filtered[slot];
                candidate[rule] = true;
                if let (Some(b), Some(bc)) = (branch, branch_candidate.as_deref_mut()) {
                    bc[b] = true;
                }
            };
            if group.single {
                ac.scan(hay.as_bytes(), |id| mark(group.owner[id]));
            } else {
                // A rule (or alternative) with several clauses is a candidate once a literal
                // of each has been found: one bit per clause.
                let mut found = vec![0u8; group.filtered.len()];
                ac.scan(hay.as_bytes(), |id| {
                    let slot = group.owner[id];
                    found[slot] |= 1 << group.clause[id];
                });
                for (slot, (&bits, &n)) in found.iter().zip(&group.clauses).enumerate() {
                    if bits != 0 && u32::from(bits) == (1u32 << n) - 1 {
                        mark(slot);
                    }
                }
            }
        }
    }
    for &i in &group.always {
        candidate[i] = true;
    }
}

/// A header target's text and its lower-cased form, for the cache of `run_others`; the
/// lower-cased text is scanned for the literals of the header rules on that target, and the
/// slots of those found are set in `found`.
fn header_entry(
    prep: &Prepared,
    trust: &trust::LazyTrust<'_>,
    t: &HeaderTarget,
    found: &mut [bool],
) -> (Option<String>, Option<String>) {
    let v = trust.header_text(t);
    let l = v.as_deref().map(str::to_ascii_lowercase);
    if let (Some(l), Some(h)) = (&l, prep.header_index.get(&t.key)) {
        h.index.scan(l.as_bytes(), |id| found[h.owner[id]] = true);
    }
    (v, l)
}

/// The text a text rule matches: a body, rawbody or full regex rule's (`None` for the others:
/// uri rules match each URL, header rules a header).
pub(super) fn text_part(r: &Rule) -> Option<Part> {
    if !matches!(r.test, Test::Regex(_)) {
        return None;
    }
    Some(match r.kind {
        RuleKind::Uri => return None,
        // Loaded rule files' rawbody rules match SpamAssassin's pieces of each part.
        RuleKind::RawBody if r.origin != "<default>" => Part::SaRawBody,
        RuleKind::RawBody => Part::RawBody,
        RuleKind::Full if r.origin != "<default>" => Part::SaFull,
        RuleKind::Full => Part::Full,
        // Loaded rule files read SpamAssassin's rendered body.
        // Those SpamAssassin runs before FreeMail's edits read the body as rendered.
        _ if r.unedited_body && r.no_subject => Part::SaBodyUneditedNoSubject,
        _ if r.unedited_body => Part::SaBodyUnedited,
        _ if r.origin != "<default>" && r.no_subject => Part::SaBodyNoSubject,
        _ if r.origin != "<default>" => Part::SaBody,
        _ if r.no_subject => Part::BodyNoSubject,
        _ => Part::Body,
    })
}

#[cfg(test)]
mod tests {
    use super::super::wake::EXPECTING;
    use super::*;

    #[test]
    fn a_latin1_bodys_rule_reading_a_lines_end_is_matched_line_by_line() {
        // A Latin-1 body (an entity, no decoded part) and a backtracking count whose `\s`
        // takes a line's own line break before `$`: it matches the line "Office\n", not the
        // joined lines, so the joined text's guard must not rule it out. Checked with
        // SpamAssassin 4.0.1 (`spamassassin -L -t`, the rule in a site .cf): ZZ_FORM hits.
        let rules = "body ZZ_FORM /^\\s?(?<!x)office(?:[-=_.,:;*\\s]){1,4}$/im\n\
                     tflags ZZ_FORM multiple maxhits=5\nscore ZZ_FORM 0.01\n";
        let raw = "From: alice@example.org\nTo: bob@example.com\nSubject: hi\n\
                   MIME-Version: 1.0\nContent-Type: text/html\n\n<html><body>\
                   <p>Caf&eacute; au lait</p><p>Office</p><p>more text here</p></body></html>\n";
        let hits = super::super::tests::hits_now(rules, raw);
        assert!(hits.iter().any(|h| h == "ZZ_FORM"), "{hits:?}");
        let hits = super::super::tests::hits_now(rules, &raw.replace("<p>Office</p>", ""));
        assert!(!hits.iter().any(|h| h == "ZZ_FORM"), "{hits:?}");
    }

    /// A list of `len` rules with nothing to match, for the claims alone.
    fn work(len: usize) -> TextWork<'static> {
        TextWork {
            rules: (0..len).map(|i| (i, "", None, None)).collect(),
            branch_candidate: Vec::new(),
            counts: (0..len).map(|_| AtomicU32::new(0)).collect(),
            claimed: AtomicU64::new(0),
        }
    }

    #[test]
    fn claims_from_both_ends_take_each_rule_once() {
        let w = work(5);
        assert_eq!(w.claim(false), Some(0));
        assert_eq!(w.claim(true), Some(4));
        assert_eq!(w.claim(true), Some(3));
        assert_eq!(w.claim(false), Some(1));
        assert_eq!(w.claim(false), Some(2));
        assert_eq!(w.claim(true), None);
        assert_eq!(w.claim(false), None);
        assert_eq!(work(0).claim(true), None);
        // Two threads racing: every rule taken exactly once.
        for len in [1, 2, 7, 300] {
            let w = work(len);
            let (front, back) = std::thread::scope(|s| {
                let take = |from_back| {
                    let mut got = Vec::new();
                    while let Some(k) = w.claim(from_back) {
                        got.push(k);
                    }
                    got
                };
                let a = s.spawn(move || take(false));
                let b = take(true);
                (a.join().expect("no panic"), b)
            });
            let mut all: Vec<usize> = front.iter().chain(&back).copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..len).collect::<Vec<_>>());
            assert!(front.windows(2).all(|p| p[0] < p[1]));
            assert!(back.windows(2).all(|p| p[0] > p[1]));
        }
    }

    /// `expect_message` wakes a pool thread that waits for the next rule work and then ends:
    /// the hits are those of one thread alone, and the waiting is over once the work ran or,
    /// with none coming, once its wait is up.
    #[test]
    fn expecting_a_message_changes_no_hit_and_ends() {
        let mut cf = String::from("header SUBJ_FREE Subject =~ /free/i\nscore SUBJ_FREE 1.0\n");
        for i in 0..PARALLEL_TEXT_RULES + 6 {
            cf += &format!("body W{i} /\\bword{i}\\b/i\nscore W{i} 1.0\n");
        }
        let (set, issues) = RuleSet::load(&[("test.cf".to_owned(), cf)]);
        assert!(issues.is_empty(), "{issues:?}");
        set.prepare_now();
        let msg = "Subject: free\n\nword3 and WORD12, word69 but not word99\n";
        let view = MessageView::parse(msg.as_bytes(), &crate::Limits::default());
        let ctx = EvalContext::default();
        ONE_THREAD.set(true);
        let want = set.evaluate(&view, &ctx);
        ONE_THREAD.set(false);
        let names: Vec<&str> = want.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["SUBJ_FREE", "W12", "W3", "W69"]);
        let ended = || {
            let start = std::time::Instant::now();
            while EXPECTING.load(Ordering::Acquire) {
                // A bound for a hung test, far above EXPECT_WAIT: not a speed check.
                assert!(start.elapsed() < std::time::Duration::from_secs(60));
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        };
        for _ in 0..20 {
            set.expect_message();
            assert_eq!(set.evaluate(&view, &ctx), want);
            ended();
        }
        set.expect_message();
        ended();
        // A one-message rule set has no second thread to wake.
        let (one, _) = RuleSet::load(&[("test.cf".to_owned(), "body A /a/\n".to_owned())]);
        one.expect_message();
        assert!(!EXPECTING.load(Ordering::Acquire));
    }
}
