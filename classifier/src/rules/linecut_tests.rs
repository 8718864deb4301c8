//! Tests of [`LineCut`]: which patterns get one, what it keeps, and that a pattern matches
//! the cut text exactly when it matches the whole one.

use proptest::prelude::*;

use super::super::perlre::translate;
use super::LineCut;

fn cut_of(re: &str, flags: &str) -> Option<LineCut> {
    let t = translate(re, flags).expect("translates");
    LineCut::of(&t.pattern, t.flags)
}

const SUBJ_HAS_TO_2: &str =
    r"\nReceived:[^\n]{0,200} for <?([^\n\s>;]+)>?;(?:[^\n]+\n+)*Subject: [^\n]{0,100}\1[^a-z0-9]";
const TO_EQ_FROM_1: &str = r"\nFrom: (?:[^\n<]{0,80}<)?([^\n\s>]+)>?\n+(?:[^\n]{1,100}\n+)*To: (?:[^\n]{0,80}<)?\1[>,\s\n]";
const SUBJ_HAS_TO_3: &str = r"\nSubject:(?=[^\n]{0,200}@)[^\n]{0,200}([a-z][a-z0-9_.]{3,80}@(?:[a-z0-9_]{1,80}\.){1,4}[a-z]{2,30})(?:[^\n]+\n+)*To: [^\n]{0,100}\1[^a-z0-9.]";

#[test]
fn the_two_line_rules_get_a_cut() {
    let c = cut_of(SUBJ_HAS_TO_2, "ism").expect("a cut");
    assert_eq!(
        (c.first.as_slice(), c.second.as_slice(), c.max_line),
        (&b"received:"[..], &b"subject: "[..], None)
    );
    let c = cut_of(TO_EQ_FROM_1, "ism").expect("a cut");
    assert_eq!(
        (c.first.as_slice(), c.second.as_slice(), c.max_line),
        (&b"from: "[..], &b"to: "[..], Some(100))
    );
    assert!(cut_of(SUBJ_HAS_TO_3, "ism").is_some());
}

#[test]
fn patterns_that_can_leave_their_line_get_none() {
    for (re, flags) in [
        // `\s` and `\W` take line breaks (a folded header's next line).
        (
            r"\nFrom:\s+([^\n\s@>]+)@[^\n\s]+>?\n+(?:[^\n]{1,100}\n+)*To:\s+\1[@>,\s\n]",
            "ism",
        ),
        (
            r"\nTo: ([^\n\s>]+)>?\n+(?:[^\n]{1,100}\n+)*From:\W+(\1)",
            "ism",
        ),
        // `.` under /s, a class that does not exclude `\n`, a line break in the middle.
        (r"\nFrom: (.+)\n+(?:[^\n]+\n+)*To: \1", "ism"),
        (r"\nFrom: ([^<]+)\n+(?:[^\n]+\n+)*To: \1", "ism"),
        (r"\nFrom: (\S+)\n\n(?:[^\n]+\n+)*To: \1", "ism"),
        // `$` without /m reads the text's end; /x makes spaces no literal.
        (r"\nFrom: (\S+)\n+(?:[^\n]+\n+)*To: \1$", "is"),
        (r"\nFrom: (\S+)\n+(?:[^\n]+\n+)*To: \1", "isx"),
        // An alternation around everything, two loops, a loop inside a group, no names.
        (r"\nFrom: (\S+)\n+(?:[^\n]+\n+)*To: \1|x", "ism"),
        (
            r"\nFrom: (\S+)\n+(?:[^\n]+\n+)*Cc: \S+\n+(?:[^\n]+\n+)*To: \1",
            "ism",
        ),
        (r"\nFrom: (\S+)(?:\n+(?:[^\n]+\n+)*)To: \1", "ism"),
        (r"\n(\S+): x\n+(?:[^\n]+\n+)*To: \1", "ism"),
        // Look-behind, and a possessive loop.
        (r"\nFrom: (?<=x)(\S+)\n+(?:[^\n]+\n+)*To: \1", "ism"),
        (r"\nFrom: (\S+)\n+(?:[^\n]+\n+)*+To: \1", "ism"),
    ] {
        assert!(cut_of(re, flags).is_none(), "{re}");
    }
}

#[test]
fn the_cut_keeps_the_named_lines_and_the_long_ones() {
    let c = cut_of(TO_EQ_FROM_1, "ism").expect("a cut");
    let long = "X-Long: ".to_owned() + &"y".repeat(120);
    let text = format!("Received: a\nFROM: b@c\nSubject: s\n\n{long}\nto: b@c\nDate: d\n");
    assert_eq!(c.cut(&text), format!("\nFROM: b@c\n{long}\nto: b@c\n"));
    // The first line kept is the text's first: no line break before it.
    assert_eq!(c.cut("From: x\nDate: d\nTo: y"), "From: x\nTo: y");
    // A line starting with a character Unicode case folding may take for a name's letter
    // (`ſ`, the long s, for `s`) is kept.
    let c2 = cut_of(SUBJ_HAS_TO_2, "ism").expect("a cut");
    assert_eq!(
        c2.cut("X: 1\n\u{17f}ubject: a\nDate: d\n"),
        "\n\u{17f}ubject: a\n"
    );
    // Nothing to leave out: the text itself.
    assert!(matches!(
        c.cut("From: x\nTo: y\n"),
        std::borrow::Cow::Borrowed(_)
    ));
}

/// Header blocks made of a few kinds of lines, among them the ones the patterns relate.
fn header_block() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("From: a@b.com".to_owned()),
        Just("From: \"A\" <a@b.com>".to_owned()),
        Just("from: x@y.org".to_owned()),
        Just("To: a@b.com".to_owned()),
        Just("To: <a@b.com>, c@d.net".to_owned()),
        Just("TO: x@y.org".to_owned()),
        Just("Subject: for a@b.com now".to_owned()),
        Just("Subject: hi x@y.org!".to_owned()),
        Just("\u{17f}ubject: for a@b.com now".to_owned()),
        Just("\u{212a}: a@b.com".to_owned()),
        Just("Received: from h by m for <a@b.com>; Mon".to_owned()),
        Just("Received: by m for x@y.org;".to_owned()),
        Just("\tfor <a@b.com>; Tue".to_owned()),
        Just("Date: Mon".to_owned()),
        Just(String::new()),
        Just("X-Long: ".to_owned() + &"z".repeat(150)),
        Just("X-Mid: ".to_owned() + &"q".repeat(95)),
    ];
    (
        proptest::collection::vec(line, 0..12),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lines, lead, trail)| {
            let mut t = String::new();
            if lead {
                t.push('\n');
            }
            t.push_str(&lines.join("\n"));
            if trail {
                t.push('\n');
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_pattern_matches_the_cut_text_as_the_whole_one(text in header_block()) {
        for re in [SUBJ_HAS_TO_2, TO_EQ_FROM_1, SUBJ_HAS_TO_3] {
            let t = translate(re, "ism").expect("translates");
            let cut = LineCut::of(&t.pattern, t.flags).expect("a cut");
            let engine =
                fancy_regex::Regex::new(&format!("(?ism){}", t.pattern)).expect("compiles");
            let whole = engine.is_match(&text).expect("within the limit");
            let part = engine.is_match(cut.cut(&text).as_ref()).expect("within the limit");
            prop_assert_eq!(whole, part, "{} on {:?}", re, text);
        }
    }
}
