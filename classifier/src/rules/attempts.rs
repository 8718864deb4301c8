//! The backtracking engine run only where a match can start: anchored attempts at the
//! positions a pattern's start literals or its guard give (see
//! `Pattern::backtracking_match`), for a match and for a count of matches.

use std::time::{Duration, Instant};

use regex_automata::util::prefilter::Prefilter;

use super::engines::Linear;

/// The time one rule's anchored attempts may take on one text, all together; past it the rule
/// answers no match there, as an attempt over the step limit does. Each attempt is bounded
/// ([`super::engines::BACKTRACK_LIMIT`]), not their number: a text with thousands of places a
/// match can start, each costly to rule out, took `__SPOOFED_URL` (a `{0,99}` repetition of
/// bounded runs after every `<a`) 4-8 s on each of four mutated messages of 144-750 KB the
/// fuzzer made with the stock rules (1,400-1,800 links each; SpamAssassin 1.1 s for the whole
/// message, Perl's regex engine remembering the positions that failed), where the costliest
/// rules on real mail take under 0.1 ms a message on average (`rules cost`). With half a
/// second no answer on the corpora changed (`rules hits` byte-identical on the SpamAssassin
/// corpus, CSDMC2010 and the edge set); SpamAssassin bounds a message's rules by time as well
/// (`time_limit`). Session 40, corpora/SA-FIDELITY.md.
pub(super) const ATTEMPTS_BUDGET: Duration = Duration::from_millis(500);

/// Attempts made before the clock is read: most rules have a few start positions a text.
const UNTIMED_ATTEMPTS: usize = 16;

/// The clock of one rule's attempts on one text ([`ATTEMPTS_BUDGET`]).
struct Budget {
    attempts: usize,
    deadline: Option<Instant>,
    limit: Duration,
}

impl Budget {
    fn new(limit: Duration) -> Budget {
        Budget {
            attempts: 0,
            deadline: None,
            limit,
        }
    }

    /// Counts an attempt about to be made; false once the budget is spent.
    fn allows(&mut self) -> bool {
        self.attempts += 1;
        if self.attempts <= UNTIMED_ATTEMPTS {
            return true;
        }
        let now = Instant::now();
        match self.deadline {
            None => {
                self.deadline = Some(now + self.limit);
                true
            }
            Some(d) => now < d,
        }
    }
}

/// Where a match of a backtracking pattern can start in a text.
pub(super) enum Starts<'a> {
    /// Every match starts with one of these literals.
    Literals(&'a Prefilter),
    /// Every match starts where a match of this guard (a linear superset of the pattern, read
    /// as the backtracking engine reads the text) starts.
    Guard(&'a Linear),
    /// The guard has no match in the text: no position.
    Nowhere,
}

impl Starts<'_> {
    /// The first position at or after `from`, at a character boundary (the backtracking engine
    /// reads characters), where a match can start.
    fn next(&self, text: &str, mut from: usize) -> Option<usize> {
        while from <= text.len() {
            let p = self.next_byte(text, from)?;
            if text.is_char_boundary(p) {
                return Some(p);
            }
            from = p + 1;
        }
        None
    }

    /// The first position at or after `from` where a match can start. The guard's leftmost
    /// match from `from` starts at the first such position (a match of the pattern there is a
    /// match of the guard).
    fn next_byte(&self, text: &str, from: usize) -> Option<usize> {
        match self {
            Starts::Literals(lits) => {
                let span = regex_automata::Span {
                    start: from,
                    end: text.len(),
                };
                lits.find(text.as_bytes(), span).map(|m| m.start)
            }
            Starts::Guard(g) => {
                let input = regex_automata::Input::new(text.as_bytes()).range(from..);
                g.search(&input).map(|m| m.start())
            }
            Starts::Nowhere => None,
        }
    }
}

/// The position after the character at `p` (one past the end at the end).
fn after(text: &str, p: usize) -> usize {
    p + text[p..].chars().next().map_or(1, char::len_utf8)
}

/// The backtracking engine's input for an attempt anchored at `p`.
fn anchored(text: &str, p: usize) -> fancy_regex::RegexInput<'_, str> {
    fancy_regex::RegexInput::new(text)
        .from_pos(p)
        .anchored(true)
}

/// Whether the backtracking engine `attempts` (a rule's engine, or an exact rewriting of it)
/// matches `text`: anchored attempts at each position `starts` gives, in order, until one
/// matches. An attempt over the step limit answers no match.
///
/// What can differ from the engine's one unanchored run: that run's step limit is shared by
/// all the start positions it tries, so on a text where the positions before a match take
/// more than the limit together (none singly), it gives up and answers no match; Perl, which
/// has no limit, finds the match, as this does. Until session 36 a match found here was
/// confirmed by that run so that the answer never changed; the confirmation was the whole
/// unanchored run over the text for every message a rule hits (`__LOTSA_MONEY_01`: 110 us a
/// message on the SpamAssassin corpus's spam, 29 without; the stock rules' hits identical
/// without it on three corpora, corpora/SA-FIDELITY.md "Session 36").
pub(super) fn any(attempts: &fancy_regex::Regex, text: &str, starts: &Starts<'_>) -> bool {
    any_within(attempts, text, starts, ATTEMPTS_BUDGET)
}

/// [`any`] with the attempts after the first [`UNTIMED_ATTEMPTS`] bounded by `limit` together.
fn any_within(
    attempts: &fancy_regex::Regex,
    text: &str,
    starts: &Starts<'_>,
    limit: Duration,
) -> bool {
    let mut budget = Budget::new(limit);
    let mut from = 0;
    while let Some(p) = starts.next(text, from) {
        if !budget.allows() {
            return false;
        }
        match attempts.is_match_input(anchored(text, p)) {
            Ok(true) => return true,
            Ok(false) => {}
            Err(_) => return false,
        }
        from = after(text, p);
    }
    false
}

/// The number of successive non-overlapping matches of `re` in `text`, at most `max`, as
/// `re.find_iter(text)` counts them, found by anchored attempts at the positions `starts`
/// gives: the unanchored search from a position finds the match of the first position after
/// it where an attempt matches, and its leftmost-first match there is the anchored attempt's.
/// (A `tflags multiple` header rule over `ALL` went through every position of the header
/// block: 57 us a message for `__RAND_HEADER`, corpora/SA-FIDELITY.md "Session 36".)
///
/// With no `starts` (any position can start a match), where an attempt is over the step limit
/// or a match is empty, the count is [`unanchored_count`]'s (`find_iter`'s rules for those are
/// not repeated here). What can still differ from `find_iter` is what can differ in [`any`]:
/// its step limit is shared by the start positions of one search, so it may stop counting
/// where Perl, and this, count on.
pub(super) fn count(
    re: &fancy_regex::Regex,
    text: &str,
    starts: Option<&Starts<'_>>,
    max: usize,
) -> usize {
    starts
        .and_then(|s| anchored_count(re, text, s, max))
        .unwrap_or_else(|| unanchored_count(re, text, max))
}

/// The number of successive non-overlapping matches of `re` in `text`, at most `max`, by one
/// unanchored run (`find_iter`), which stops counting at a search over the step limit.
pub(super) fn unanchored_count(re: &fancy_regex::Regex, text: &str, max: usize) -> usize {
    re.find_iter(text)
        .take(max)
        .take_while(Result::is_ok)
        .count()
}

fn anchored_count(
    re: &fancy_regex::Regex,
    text: &str,
    starts: &Starts<'_>,
    max: usize,
) -> Option<usize> {
    let mut n = 0;
    let mut from = 0;
    let mut budget = Budget::new(ATTEMPTS_BUDGET);
    while n < max {
        let Some(p) = starts.next(text, from) else {
            break;
        };
        // Past the budget the matches counted so far are the count.
        if !budget.allows() {
            break;
        }
        match re.find_input(anchored(text, p)) {
            Ok(Some(m)) if m.end() > m.start() => {
                n += 1;
                from = m.end();
            }
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) => from = after(text, p),
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::super::pattern::Pattern;
    use super::super::perlre::translate;

    /// Past the budget a rule answers no match: with none left after the untimed attempts, a
    /// match at the 40th start is not found; with the budget, it is.
    #[test]
    fn attempts_past_the_budget_answer_no_match() {
        use regex_automata::util::prefilter::Prefilter;
        let re = fancy_regex::Regex::new(r"<a (\w)\1").expect("compiles");
        let lits = Prefilter::new(regex_automata::MatchKind::LeftmostFirst, &["<a "])
            .expect("a prefilter");
        let starts = super::Starts::Literals(&lits);
        let text = format!("{}<a zz", "<a xy ".repeat(39));
        assert!(super::any(&re, &text, &starts));
        assert!(!super::any_within(
            &re,
            &text,
            &starts,
            std::time::Duration::ZERO
        ));
        // Within the untimed attempts the budget is not read.
        let short = format!("{}<a zz", "<a xy ".repeat(10));
        assert!(super::any_within(
            &re,
            &short,
            &starts,
            std::time::Duration::ZERO
        ));
    }

    /// A count by anchored attempts is `find_iter`'s count (the pattern's `plain` switch), for
    /// patterns with look-arounds and back-references, with start literals or a guard, on
    /// ASCII and non-ASCII texts, up to several maxima.
    #[test]
    fn counts_as_one_unanchored_run_counts() {
        let headers = "Received: from a (a [10.0.0.1])\n\tby b for <u@x.org>; now\n\
            Content-Length: 1234\nX-Tracking-Code: 1a2b3c4d\nTracking-Code: 99887766\n\
            Message-Tag: 5e5e5e5e5e\nRandom-Header: 7fffffffffff \nSubject: u@x.org é news\n\
            From: Ann Lee <ann@x.org>\nTo: ann@x.org\nFoo-Barr: 12345678\n";
        let rand = r"^(?!Accept-Language|Content-|Tracking-Code)(?:[a-z]{4,}-[a-z]{3,}|[a-z]{3,}-[a-z]{4,}):\s+\d(?=\S{6,}\s*$)[\da-f]*(?:[-.]\w+)*\s*$";
        let cases: &[(&str, &str)] = &[
            (rand, "ism"),
            (r"(?<!\.00)\b\d{2,}", ""),
            (r"\n(From|To):\s+(?:[^\n<]{0,80}<)?([^\n\s@>]{2,80}?)@", "i"),
            (r"([a-z])\1", "i"),
            (r"\w+(?=:\s)", ""),
            (r"(?!Content)[A-Z][a-z]+-[A-Z]", ""),
            (r"é\w*(?!x)", "i"),
        ];
        let texts = [
            headers.to_owned(),
            headers.replace('é', "e"),
            headers.repeat(3),
            String::new(),
            "aa bb cc $100.00 and 2500 or 77".to_owned(),
        ];
        let mut nonzero = 0;
        for (re, flags) in cases {
            let fast = Pattern::new(translate(re, flags).expect("translates"), false);
            let mut plain = Pattern::new(translate(re, flags).expect("translates"), false);
            plain.plain = true;
            for t in &texts {
                for max in [1, 2, 5, 1000] {
                    let want = plain.count(t, max);
                    assert_eq!(fast.count(t, max), want, "{re} on {t:?}, max {max}");
                    nonzero += usize::from(want > 1);
                }
            }
        }
        assert!(nonzero > 10, "the cases count several matches: {nonzero}");
    }

    /// Where start literals give the positions, the check that rules a text out reads the
    /// guard with its long counted runs open: looser than the guard (a `Received` line of 250
    /// characters before ` for ` passes it and not the guard), and the answers are still one
    /// unanchored run's (the pattern's `plain` switch), matches and misses alike.
    #[test]
    fn the_open_guard_only_rules_out_and_answers_as_one_run() {
        let cases: &[(&str, &str)] = &[
            (
                r"\nReceived:[^\n]{0,200} for <?([^\n\s>;]+)>?;(?:[^\n]+\n+)*Subject: [^\n]{0,100}\1[^a-z0-9]",
                "ism",
            ),
            (
                r"\nFrom: (?:[^\n<]{0,80}<)?([^\n\s>]+)>?\n+(?:[^\n]{1,100}\n+)*To: (?:[^\n]{0,80}<)?\1[>,\s\n]",
                "ism",
            ),
        ];
        let hop = |pad: usize| {
            format!(
                "\nReceived: from a{} by b for <u@x.org>; now",
                "x".repeat(pad)
            )
        };
        let texts = [
            format!(
                "{}\nSubject: hi u@x.org now\nFrom: <a@b.c>\nTo: a@b.c\n",
                hop(10)
            ),
            format!(
                "{}\nSubject: hi u@x.org now\nFrom: <a@b.c>\nTo: a@b.c\n",
                hop(250)
            ),
            format!("{}\nSubject: hi there\nFrom: <a@b.c>\nTo: c@d.e\n", hop(10)),
            format!("\nFrom: <a@b.c>\n{}\nTo: a@b.c\n", "y".repeat(150)),
            String::new(),
        ];
        let mut matched = Vec::new();
        for (re, flags) in cases {
            let fast = Pattern::new(translate(re, flags).expect("translates"), false);
            let mut plain = Pattern::new(translate(re, flags).expect("translates"), false);
            plain.plain = true;
            let (open, guard) = (
                fast.open_guard().expect("open"),
                fast.guard().expect("guard"),
            );
            for t in &texts {
                let want = plain.is_match(t);
                assert_eq!(fast.is_match(t), want, "{re} on {t:?}");
                assert!(
                    open.is_match(t.as_bytes()) || !guard.is_match(t.as_bytes()),
                    "{t:?}"
                );
                matched.push(want);
            }
        }
        // The Received rule matches the first text only (the second's hop is too long for
        // `{0,200}`); From/To the first two (the fourth's line is over `{1,100}`).
        let f = false;
        assert_eq!(matched, [true, f, f, f, f, true, true, f, f, f]);
        let long = Pattern::new(
            translate(cases[0].0, cases[0].1).expect("translates"),
            false,
        );
        let (open, guard) = (
            long.open_guard().expect("open"),
            long.guard().expect("guard"),
        );
        assert!(open.is_match(texts[1].as_bytes()) && !guard.is_match(texts[1].as_bytes()));
    }

    /// On a non-ASCII text a pattern naming bytes above 0x7f is matched on [`super::super::
    /// bytemode`]'s view, run only where the view's guard can start a match: the same matches
    /// and counts as one unanchored run on the view.
    #[test]
    fn view_matches_and_counts_as_one_unanchored_run() {
        let cases: &[(&str, &str)] = &[
            (
                r"(?!milli?[o\xf3\xd3]n)m(?:[i\xec\xed]|[\xc3][\xac\xad])ll[i1]on",
                "i",
            ),
            (r"(?<!x)caf\xc3\xa9s?", "i"),
            (r"\xd0[\x80-\xbf](?=\w)", ""),
        ];
        let texts = [
            "mill\u{ed}on and MILLION, m\u{ec}ll1on, caf\u{e9}s not xcaf\u{e9}",
            "\u{420}a \u{430}b \u{41f}: caf\u{e9} caf\u{e9}s caf\u{e9}",
            "plain ascii million cafe",
        ];
        let mut nonzero = 0;
        for (re, flags) in cases {
            let fast = Pattern::new(translate(re, flags).expect("translates"), false);
            let mut plain = Pattern::new(translate(re, flags).expect("translates"), false);
            plain.plain = true;
            assert!(fast.names_bytes(), "{re} names bytes");
            for t in texts {
                assert_eq!(fast.is_match(t), plain.is_match(t), "{re} on {t:?}");
                for max in [1, 2, 1000] {
                    let want = plain.count(t, max);
                    assert_eq!(fast.count(t, max), want, "{re} on {t:?}, max {max}");
                    nonzero += usize::from(want > 0);
                }
            }
        }
        assert!(nonzero >= 6, "the cases match: {nonzero}");
    }
}
