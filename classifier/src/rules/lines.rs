//! SpamAssassin matches a `body` rule against each line of its rendered body on its own (each
//! paragraph is one line, see [`super::texts`]); mailsift scans the lines joined by `\n` once.
//! The two agree for a pattern that cannot match a line break and has no absolute anchor, and
//! that is most rules. The others are matched line by line where it matters:
//!
//! * a pattern that can match `\n` (`\s`, a negated class, `.` under `/s`) may find a match
//!   across two lines that SpamAssassin never sees (`__FILL_THIS_FORM_LONG2`'s `{5}` over form
//!   fields, each a paragraph of its own): when the joined text matches, the count is taken
//!   again line by line. No match in the joined text means none in any line.
//! * `\A`, `\z` and `\Z` mean the start and end of each line to SpamAssassin (`TRACKER_ID`:
//!   `/^[a-z0-9]{6,24}...\s*\z/is`): such a pattern is always matched line by line.
//!
//! Only the `body` rules of loaded rule files read SpamAssassin's lines; the built-in rules keep
//! the joined text their hit rates were measured on (classifier/rules/HITRATES.md).

use std::ops::Range;

use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::pattern::Pattern;

/// How a pattern is matched against SpamAssassin's body lines, ordered from the cheapest: a
/// pattern takes the largest mode any of its pieces needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum LineMode {
    /// No match can span lines: the joined text gives each line's answer.
    Joined,
    /// A match may span lines: a match in the joined text is checked line by line.
    Verify,
    /// Absolute anchors (or a pattern this analysis cannot read): always line by line.
    ByLine,
}

/// The mode `p` needs, from its (linear approximation's) syntax.
pub(super) fn line_mode(p: &Pattern) -> LineMode {
    let t = &p.translated;
    let approx;
    let pattern = if t.needs_backtracking {
        approx = super::perlre::linear_approximation(&t.pattern);
        approx.as_str()
    } else {
        t.pattern.as_str()
    };
    let parsed = regex_syntax::ParserBuilder::new()
        .case_insensitive(t.flags.i)
        .multi_line(t.flags.m || p.line_anchors)
        .dot_matches_new_line(t.flags.s)
        .ignore_whitespace(t.flags.x)
        .utf8(false)
        .build()
        .parse(pattern);
    let Ok(hir) = parsed else {
        return LineMode::ByLine;
    };
    let mut mode = LineMode::Joined;
    let mut line_end = false;
    walk(&hir, &mut mode, &mut line_end);
    if mode == LineMode::Verify && line_end {
        // `\s$` matches a line's final line break and then its end; in the joined text the
        // next line follows that break, where `$` does not hold: the joined text can miss
        // what a line has, so such a pattern is matched line by line.
        return LineMode::ByLine;
    }
    mode
}

/// Sets `mode` to what the pieces of `h` need, and `line_end` when `h` tests a line's end
/// (`$`, or `\B`, which holds at the end of a line ending in white space).
fn walk(h: &Hir, mode: &mut LineMode, line_end: &mut bool) {
    match h.kind() {
        HirKind::Empty => {}
        HirKind::Literal(l) => {
            if l.0.contains(&b'\n') {
                *mode = (*mode).max(LineMode::Verify);
            }
        }
        HirKind::Class(Class::Unicode(c)) => {
            if c.ranges()
                .iter()
                .any(|r| r.start() <= '\n' && '\n' <= r.end())
            {
                *mode = (*mode).max(LineMode::Verify);
            }
        }
        HirKind::Class(Class::Bytes(c)) => {
            if c.ranges()
                .iter()
                .any(|r| r.start() <= b'\n' && b'\n' <= r.end())
            {
                *mode = (*mode).max(LineMode::Verify);
            }
        }
        HirKind::Look(look) => {
            if matches!(look, Look::Start | Look::End) {
                *mode = LineMode::ByLine;
            }
            if matches!(
                look,
                Look::EndLF | Look::EndCRLF | Look::WordAsciiNegate | Look::WordUnicodeNegate
            ) {
                *line_end = true;
            }
        }
        HirKind::Repetition(r) => walk(&r.sub, mode, line_end),
        HirKind::Capture(c) => walk(&c.sub, mode, line_end),
        HirKind::Concat(v) | HirKind::Alternation(v) => {
            v.iter().for_each(|x| walk(x, mode, line_end));
        }
    }
}

/// The count of `p` on SpamAssassin's lines (`ranges` into `text`), at most `max` (a rule
/// without `multiple` counts one).
pub(super) fn count_by_line(
    p: &Pattern,
    text: &str,
    ranges: &[Range<usize>],
    max: u32,
    long_lived: bool,
) -> u32 {
    let mut n = 0;
    for r in ranges {
        let Some(line) = text.get(r.clone()) else {
            continue;
        };
        n += if max > 1 {
            p.count(line, max - n)
        } else {
            u32::from(p.is_match_with(line, long_lived))
        };
        if n >= max.max(1) {
            break;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::perlre;

    fn pat(re: &str, flags: &str) -> Pattern {
        Pattern::new(perlre::translate(re, flags).expect("translates"), true)
    }

    fn mode(re: &str, flags: &str) -> LineMode {
        line_mode(&pat(re, flags))
    }

    #[test]
    fn modes_follow_what_a_pattern_can_match() {
        assert_eq!(mode("free money", "i"), LineMode::Joined);
        assert_eq!(mode("^click here$", "i"), LineMode::Joined);
        assert_eq!(mode(r"free\s+money", "i"), LineMode::Verify);
        assert_eq!(mode("a[^b]c", ""), LineMode::Verify);
        assert_eq!(mode("a.c", "s"), LineMode::Verify);
        assert_eq!(mode("a.c", ""), LineMode::Joined);
        assert_eq!(mode(r"^[a-z0-9]{6,24}\s*\z", "is"), LineMode::ByLine);
        assert_eq!(mode(r"\Afoo", ""), LineMode::ByLine);
        assert_eq!(mode(r"foo\Z", ""), LineMode::ByLine);
        assert_eq!(mode(r"\)\s{1,9}$", "i"), LineMode::ByLine);
        assert_eq!(mode(r"\)\s\B", "i"), LineMode::ByLine);
    }

    #[test]
    fn no_empty_line_after_the_last() {
        // SpamAssassin 4.0.1 (`spamassassin -L -t --cf`): only WORD hits (the paragraph's
        // last line break is a space); there is no empty or short line: Perl's `^` does not
        // match after the final line break of the Subject's line (nor of the joined text).
        let rules = "body EMPTY /^$/\nbody SHORT /^.{0,5}$/\nbody WORD /^words here $/\n";
        let msg = "Subject: a long enough subject\n\nwords here\n";
        let h = crate::rules::tests::hits_now(rules, msg);
        assert_eq!(h, vec!["WORD".to_owned()]);
    }

    #[test]
    fn a_line_break_before_the_end_of_a_line() {
        // `\s$` matches a paragraph's own final line break (checked with `spamassassin -L -t
        // --cf`: FILL_THIS_FORM_LOAN's `<FF_BLANK2>$` after "INCOME (circle one)").
        let rules = "body BLANK_END /income \\(circle one\\)\\s{1,9}$/i\n";
        let msg = "Subject: form\n\nWEEKLY INCOME (circle one)\n\nSIGNATURE\n";
        let h = crate::rules::tests::hits_now(rules, msg);
        assert!(h.contains(&"BLANK_END".to_owned()), "{h:?}");
    }

    #[test]
    fn loaded_body_rules_see_each_paragraph_alone() {
        let rules = "body ACROSS /___\\s+address/i\n\
                     body TRACK /^[a-z0-9]{20}\\s*\\z/\n\
                     body INDENT /^ indented $/\n\
                     body TRIMMED /^ indented$/\n";
        let msg = "Subject: form\n\nname: ___\n\naddress: ___\n\nabcdefghijklmnopqrst\n\n\
                   end of it\n\n   indented\n";
        let h = crate::rules::tests::hits_now(rules, msg);
        assert!(!h.contains(&"ACROSS".to_owned()), "{h:?}");
        assert!(h.contains(&"TRACK".to_owned()), "{h:?}");
        // As SpamAssassin 4.0.1 renders it (checked with `spamassassin -L -t --cf`): the
        // paragraph keeps one space of its indent, and its last line break becomes a space.
        assert!(
            h.contains(&"INDENT".to_owned()),
            "a paragraph keeps its indent: {h:?}"
        );
        assert!(!h.contains(&"TRIMMED".to_owned()), "{h:?}");
    }

    #[test]
    fn loaded_rawbody_rules_see_spamassassins_pieces() {
        // SpamAssassin cuts a part over 4 KB into pieces at the first line break 2,048 bytes
        // in; a comment of 120 words (one a line) across that cut is in no piece whole.
        let rules = "rawbody GIBBERISH /<!--(?:\\s{1,10}[-\\w'\"]{1,40}){100}/im\n";
        let msg = |before: usize| {
            format!(
                "Subject: x\n\n{}<!--{}\n{}",
                "a\n".repeat(before),
                "\n w".repeat(120),
                "b\n".repeat(1500)
            )
        };
        assert!(crate::rules::tests::hits_now(rules, &msg(0)).contains(&"GIBBERISH".to_owned()));
        assert!(
            !crate::rules::tests::hits_now(rules, &msg(1000)).contains(&"GIBBERISH".to_owned())
        );
    }

    #[test]
    fn loaded_rawbody_and_full_rules_anchor_at_their_strings_ends() {
        // SpamAssassin 4.0.1 (`spamassassin -L -t --cf`) hits FEND, REND, RSTART and HS: a
        // rawbody piece and the full message are strings of their own, where `^` without `/m`
        // is the start and `$` the end or before the final newline (the part's, not the line
        // break mailsift joins the parts with).
        let rules = "full FEND /bar$/\nrawbody RQ /^> /\nrawbody REND /bar$/\n\
                     rawbody RMID /hello$/\nfull FMID /hello$/\nheader HS Subject =~ /t$/\n\
                     rawbody RSTART /^hello/\n";
        let msg = "Subject: t\n\nhello\n> quoted line\nlast bar\n";
        let mut h = crate::rules::tests::hits_now(rules, msg);
        h.sort();
        assert_eq!(h, ["FEND", "HS", "REND", "RSTART"]);
    }

    #[test]
    fn counts_line_by_line() {
        let text = "name: ___\naddress: ___\ncode\n";
        let ranges = [0..10, 10..23, 23..28];
        let across = pat(r"___\s+address", "");
        assert!(across.is_match(text));
        assert_eq!(count_by_line(&across, text, &ranges, 1, false), 0);
        let end = pat(r"^[a-z]+:\s*___\s*\z", "");
        assert!(
            !end.is_match(text),
            "in the joined text \\z is only its end"
        );
        assert_eq!(count_by_line(&end, text, &ranges, 5, false), 2);
        assert_eq!(count_by_line(&end, text, &ranges, 1, false), 1);
    }
}
