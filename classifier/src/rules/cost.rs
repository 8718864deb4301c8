//! Where a rule set's time goes: each rule's CPU time over real mail, and the work the rules
//! share (rendering the texts and the literal prefilters, the header texts, the uri template
//! rules, the metas). `mailsift rules cost` prints it, so that an administrator can find the
//! rules of a `local.cf` (or SpamAssassin's own) that cost the most, as rspamd shows each
//! symbol's mean time. Timing is off unless a [`RuleCosts`] is passed: the plain evaluation
//! reads no clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::{EvalContext, RuleHit, RuleSet};
use crate::message::MessageView;

/// The shared phases of an evaluation, timed apart from the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Rendering the body, rawbody and full texts and scanning them for the text rules'
    /// literals (which rules need matching at all).
    TextsAndPrefilter,
    /// The uri rules' literal prefilter over the message's URIs.
    UriPrefilter,
    /// The header texts the header rules read (`ALL`, each header, the trust path's
    /// `X-Spam-Relays-*`), each built once, and their literal prefilter.
    HeaderTexts,
    /// Rules built from captured tags (uri templates), matched together.
    Templates,
    /// Every meta rule, evaluated in dependency order.
    Metas,
}

impl Phase {
    /// Every phase, in the order of an evaluation.
    pub const ALL: [Phase; 5] = [
        Phase::TextsAndPrefilter,
        Phase::UriPrefilter,
        Phase::HeaderTexts,
        Phase::Templates,
        Phase::Metas,
    ];

    /// What the phase is, for a report.
    pub fn label(self) -> &'static str {
        match self {
            Phase::TextsAndPrefilter => "texts and literal prefilter",
            Phase::UriPrefilter => "uri prefilter",
            Phase::HeaderTexts => "header texts and their prefilter",
            Phase::Templates => "uri template rules",
            Phase::Metas => "meta rules",
        }
    }
}

/// Time accumulated per rule (indexed as the rule set's rules) and per [`Phase`] over the
/// evaluations it was passed to; the two threads of a long-lived rule set add to it at once.
#[derive(Debug)]
pub struct RuleCosts {
    nanos: Vec<AtomicU64>,
    runs: Vec<AtomicU64>,
    phases: [AtomicU64; Phase::ALL.len()],
    messages: AtomicU64,
}

/// One rule's line of a cost report.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleCost {
    /// The rule's name.
    pub name: String,
    /// Where the rule is defined (`<default>` for the built-in set).
    pub origin: String,
    /// Mean time per message evaluated, in microseconds.
    pub micros: f64,
    /// Messages on which the rule was matched (the prefilter skips the others).
    pub runs: u64,
}

impl RuleCosts {
    /// Empty costs for `set`'s rules.
    pub fn new(set: &RuleSet) -> RuleCosts {
        let n = set.inner.rules.len();
        RuleCosts {
            nanos: (0..n).map(|_| AtomicU64::new(0)).collect(),
            runs: (0..n).map(|_| AtomicU64::new(0)).collect(),
            phases: Default::default(),
            messages: AtomicU64::new(0),
        }
    }

    /// Messages evaluated so far.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Mean microseconds per message of `phase`.
    pub fn phase_micros(&self, phase: Phase) -> f64 {
        self.per_message(self.phases[phase as usize].load(Ordering::Relaxed))
    }

    /// Mean microseconds per message of all the rules and phases together (CPU time: with two
    /// threads, more than the evaluation's wall time).
    pub fn total_micros(&self) -> f64 {
        let rules: u64 = self.nanos.iter().map(|n| n.load(Ordering::Relaxed)).sum();
        let phases: u64 = self.phases.iter().map(|n| n.load(Ordering::Relaxed)).sum();
        self.per_message(rules + phases)
    }

    /// Every rule that took any time, costliest first (ties by name).
    pub fn rules(&self, set: &RuleSet) -> Vec<RuleCost> {
        let mut out: Vec<RuleCost> = set
            .inner
            .rules
            .iter()
            .zip(self.nanos.iter().zip(&self.runs))
            .filter_map(|(r, (ns, runs))| {
                let ns = ns.load(Ordering::Relaxed);
                (ns > 0).then(|| RuleCost {
                    name: r.name.clone(),
                    origin: r.origin.clone(),
                    micros: self.per_message(ns),
                    runs: runs.load(Ordering::Relaxed),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.micros
                .total_cmp(&a.micros)
                .then_with(|| a.name.cmp(&b.name))
        });
        out
    }

    fn per_message(&self, nanos: u64) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let (nanos, messages) = (nanos as f64, self.messages().max(1) as f64);
        nanos / 1e3 / messages
    }

    pub(super) fn add_rule(&self, i: usize, since: Instant) {
        let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if let (Some(n), Some(r)) = (self.nanos.get(i), self.runs.get(i)) {
            n.fetch_add(ns, Ordering::Relaxed);
            r.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn add_phase(&self, phase: Phase, since: Instant) {
        let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.phases[phase as usize].fetch_add(ns, Ordering::Relaxed);
    }
}

/// The clock reading a timed step starts from: `None` (no clock read) when nothing is timed.
pub(super) fn start(costs: Option<&RuleCosts>) -> Option<Instant> {
    costs.map(|_| Instant::now())
}

/// Adds the time since `t` to rule `i`, when timing.
pub(super) fn rule_done(costs: Option<&RuleCosts>, i: usize, t: Option<Instant>) {
    if let (Some(c), Some(t)) = (costs, t) {
        c.add_rule(i, t);
    }
}

/// Adds the time since `t` to `phase`, when timing.
pub(super) fn phase_done(costs: Option<&RuleCosts>, phase: Phase, t: Option<Instant>) {
    if let (Some(c), Some(t)) = (costs, t) {
        c.add_phase(phase, t);
    }
}

impl RuleSet {
    /// [`RuleSet::evaluate`], adding each rule's time and each shared phase's to `costs`
    /// (made by [`RuleCosts::new`] for this rule set). The hits are the same.
    pub fn evaluate_costed(
        &self,
        view: &MessageView,
        ctx: &EvalContext,
        costs: &RuleCosts,
    ) -> Vec<RuleHit> {
        let counts = self.run_costed(view, ctx, false, Some(costs), None);
        costs.messages.fetch_add(1, Ordering::Relaxed);
        self.hits_of(&counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    const RULES: &str = r"
body     CHEAP_WORD   /\bcheap\b/i
score    CHEAP_WORD   1.0
body     SLOW_ONE     /(?:a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p)+(?:x\d){3}z/
score    SLOW_ONE     1.0
header   SUBJ_FREE    Subject =~ /free/i
score    SUBJ_FREE    1.0
meta     BOTH         CHEAP_WORD && SUBJ_FREE
score    BOTH         1.0
";

    fn message(i: usize) -> Vec<u8> {
        format!(
            "Subject: free offer {i}\n\ncheap {}\n",
            "abcdefghijklmnop ".repeat(200)
        )
        .into_bytes()
    }

    #[test]
    fn costed_evaluation_hits_as_the_plain_one_and_times_what_ran() {
        let (set, issues) = RuleSet::load(&[("test.cf".to_owned(), RULES.to_owned())]);
        assert!(issues.is_empty(), "{issues:?}");
        let costs = RuleCosts::new(&set);
        let ctx = EvalContext::default();
        for i in 0..5 {
            let view = MessageView::parse(&message(i), &Limits::default());
            assert_eq!(
                set.evaluate_costed(&view, &ctx, &costs),
                set.evaluate(&view, &ctx)
            );
        }
        assert_eq!(costs.messages(), 5);
        let rules = costs.rules(&set);
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        for name in ["CHEAP_WORD", "SLOW_ONE", "SUBJ_FREE"] {
            let r = rules.iter().find(|r| r.name == name).expect(name);
            assert_eq!(r.runs, 5, "{name} ran on every message");
            assert!(r.micros > 0.0);
        }
        assert!(
            !names.contains(&"BOTH"),
            "metas are timed together: {names:?}"
        );
        assert!(costs.phase_micros(Phase::Metas) > 0.0);
        assert!(costs.phase_micros(Phase::TextsAndPrefilter) > 0.0);
        assert!(costs.phase_micros(Phase::HeaderTexts) > 0.0);
        // Sorted costliest first, and the total holds every part.
        assert!(rules.windows(2).all(|w| w[0].micros >= w[1].micros));
        let parts: f64 = rules.iter().map(|r| r.micros).sum::<f64>()
            + Phase::ALL
                .iter()
                .map(|&p| costs.phase_micros(p))
                .sum::<f64>();
        assert!((costs.total_micros() - parts).abs() < 1e-6 * parts.max(1.0));
    }

    #[test]
    fn a_rule_the_prefilter_skips_is_not_timed() {
        let (set, issues) = RuleSet::load(&[("test.cf".to_owned(), RULES.to_owned())]);
        assert!(issues.is_empty(), "{issues:?}");
        let costs = RuleCosts::new(&set);
        let view = MessageView::parse(b"Subject: hello\n\nlunch at noon\n", &Limits::default());
        assert!(
            set.evaluate_costed(&view, &EvalContext::default(), &costs)
                .is_empty()
        );
        let rules = costs.rules(&set);
        assert!(
            rules.iter().all(|r| r.name != "CHEAP_WORD"),
            "no `cheap` in the text: not matched, so not timed: {rules:?}"
        );
        assert!(rules.iter().any(|r| r.name == "SUBJ_FREE"));
    }

    #[test]
    fn a_rule_runs_only_where_the_prefilter_finds_every_clause() {
        // `money` and `free` are both required: a text with one of them does not run the
        // rule, in a one-message set (the three-byte index) or a long-lived one (the
        // automaton); a text with both does, and the hits are the plain evaluation's.
        let rules = "body TWO_WORDS /\\bfree\\b.{0,20}\\bmoney\\b/i\nscore TWO_WORDS 1.0\n\
                     rawbody TWO_PARTS /example\\.com\\/.{0,9}login/i\nscore TWO_PARTS 1.0\n";
        for long_lived in [false, true] {
            let (set, issues) = RuleSet::load(&[("test.cf".to_owned(), rules.to_owned())]);
            assert!(issues.is_empty(), "{issues:?}");
            if long_lived {
                set.prepare_now();
            }
            let costs = RuleCosts::new(&set);
            let ctx = EvalContext::default();
            let texts = [
                ("FREE offer, no money down", true, false),
                ("free offer http://example.com/login", false, true),
                ("free http://example.com/", false, false),
                ("money http://other.org/login", false, false),
                ("free gifts and a whole lot of money", false, false),
            ];
            for (body, word_hit, uri_hit) in texts {
                let msg = format!("Subject: x\n\n{body}\n");
                let view = MessageView::parse(msg.as_bytes(), &Limits::default());
                let hits = set.evaluate_costed(&view, &ctx, &costs);
                assert_eq!(hits, set.evaluate(&view, &ctx));
                let names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
                assert_eq!(names.contains(&"TWO_WORDS"), word_hit, "{body}: {names:?}");
                assert_eq!(names.contains(&"TWO_PARTS"), uri_hit, "{body}: {names:?}");
            }
            let runs = |name: &str| {
                costs
                    .rules(&set)
                    .iter()
                    .find(|r| r.name == name)
                    .map_or(0, |r| r.runs)
            };
            assert_eq!(runs("TWO_WORDS"), 2, "long-lived: {long_lived}");
            assert_eq!(runs("TWO_PARTS"), 1, "long-lived: {long_lived}");
        }
    }
}
