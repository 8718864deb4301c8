//! Tests of the rule language, the built-in evals and the default rule set.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use super::*;
use crate::Limits;

fn view(s: &str) -> MessageView {
    MessageView::parse(s.as_bytes(), &Limits::default())
}

fn load(text: &str) -> (RuleSet, Vec<LintIssue>) {
    RuleSet::load(&[("test.cf".to_owned(), text.to_owned())])
}

pub(super) fn ctx() -> EvalContext {
    EvalContext {
        bayes_probability: None,
        now: 1_033_466_400, // 2002-10-01 10:00 UTC, the fixtures' era
    }
}

/// Names of all rules (sub-rules too) that hit `msg`.
fn hits(rules: &RuleSet, msg: &str) -> Vec<String> {
    rules
        .evaluate_all(&view(msg), &ctx())
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Loads `rules`, which must have no errors.
fn load_clean(rules: &str) -> RuleSet {
    let (set, issues) = load(rules);
    assert!(
        issues.iter().all(|i| i.severity != Severity::Error),
        "unexpected errors: {issues:?}"
    );
    set
}

fn hit(rules: &str, msg: &str, name: &str) -> bool {
    hits(&load_clean(rules), msg).iter().any(|n| n == name)
}

/// Names of all rules that hit `raw` under the default evaluation context (the current time),
/// with `rules` loaded without errors: for the plugin modules' own tests.
pub(super) fn hits_now(rules: &str, raw: &str) -> Vec<String> {
    load_clean(rules)
        .evaluate_all(&view(raw), &EvalContext::default())
        .into_iter()
        .map(str::to_owned)
        .collect()
}

const MSG: &str = "From: \"Alice Example\" <alice@example.org>\nTo: bob@example.com\n\
    Cc: carol@example.net\nSubject: Cheap pills here\nDate: Tue, 1 Oct 2002 10:00:00 +0000\n\
    Message-Id: <abc@example.org>\nX-Mailer: Foo 1.0\n\nBuy cheap pills now at \
    http://shop.example.biz/buy today.\n\nSecond paragraph\nwrapped line.\n";

// ------------------------------------------------------------------------------------------
// The language

#[test]
fn a_first_line_after_white_space_is_no_field_of_that_name() {
    // SpamAssassin's parser reads a message's first line that begins with white space as a
    // continuation with no field before it: the field is named ` From`, so `exists:From` is
    // false (MISSING_FROM) and ALL shows the line as written (enmime's bad-header-start test
    // message; checked with `spamassassin -L -t`).
    let msg = " From: James <james@example.org>\nSubject: hi\nTo: greg@example.net\n\nbody\n";
    assert!(!hit("header A exists:From", msg, "A"));
    assert!(hit("header A ALL =~ /^ From: James/m", msg, "A"));
    assert!(hit("header A exists:Subject", msg, "A"));
}

#[test]
fn eval_rules_tagged_net_never_run_but_metas_tagged_net_do() {
    // Check.pm skips an eval rule tagged `net` in score sets 0 and 2 (no network tests); a
    // meta tagged `net` still runs (SpamAssassin's SPF rules, and SPOOFED_FREEMAIL, XPRIO).
    // Checked with `spamassassin -L -t`.
    let msg = "From: a@example.org\nSubject: hi\n\nbody\n";
    let rules = "header A eval:check_for_missing_to_header()\n";
    assert!(hit(rules, msg, "A"));
    let (set, issues) = load(&format!("{rules}tflags A net\n"));
    assert!(!hits(&set, msg).iter().any(|h| h == "A"));
    assert!(
        issues
            .iter()
            .any(|i| i.rule.as_deref() == Some("A") && i.message.contains("'net'")),
        "{issues:?}"
    );
    let meta = "header __A exists:Subject\nmeta M __A\ntflags M net\n";
    assert!(hit(meta, msg, "M"));
}

#[test]
fn a_multipart_without_parts_has_no_body_lines_not_even_the_subject() {
    // SpamAssassin's body text array is empty when its MIME tree has no leaf, and has the
    // Subject line otherwise, a header-only text message included (checked with
    // `spamassassin -L -t`; enmime's mail_header-only test message).
    let none = "Subject: Attachment\nContent-Type: multipart/mixed; boundary=\"X\"\n\n";
    assert!(!hit("body A /Attachment/", none, "A"));
    assert!(!hit("body A /./", none, "A"));
    let text = "Subject: Attachment\nContent-Type: text/plain";
    assert!(hit("body A /Attachment/", text, "A"));
}

#[test]
fn header_match_negation_and_exists() {
    assert!(hit("header A Subject =~ /cheap/i", MSG, "A"));
    assert!(!hit("header A Subject =~ /cheap/", MSG, "A"));
    assert!(hit("header A Subject !~ /viagra/i", MSG, "A"));
    assert!(!hit("header A Subject !~ /pills/", MSG, "A"));
    assert!(hit("header A exists:X-Mailer", MSG, "A"));
    assert!(!hit("header A exists:X-Nope", MSG, "A"));
    // A missing header is the empty string, or the if-unset value.
    assert!(hit("header A X-Nope =~ /^$/", MSG, "A"));
    assert!(hit(
        "header A X-Nope =~ /^unset$/ [if-unset: unset]",
        MSG,
        "A"
    ));
    assert!(hit("header A X-Nope !~ /./", MSG, "A"));
}

#[test]
fn header_values_end_with_their_newline_as_spamassassins() {
    // SpamAssassin's `get` returns `Foo 1.0\n` for `X-Mailer: Foo 1.0`: a class after the last
    // character takes the newline (XM_RANDOM's `q(?!...)[^u]` on spam-2/00977's `X-Mailer:
    // ...Q`), `$` and `\Z` match before it, `\z` only after it. Each case checked with
    // `spamassassin -L -t` (a `$` followed by `\n` in the pattern is not: no stock header
    // rule writes one).
    assert!(hit("header A X-Mailer =~ /0[^u]/", MSG, "A"));
    assert!(hit("header A X-Mailer =~ /1\\.0$/", MSG, "A"));
    assert!(hit("header A X-Mailer =~ /^Foo 1\\.0$/", MSG, "A"));
    assert!(!hit("header A X-Mailer =~ /0\\z/", MSG, "A"));
    assert!(hit("header A X-Mailer =~ /0\\Z/", MSG, "A"));
    assert!(hit("header A X-Nope =~ /^$/", MSG, "A"));
    assert!(!hit("header A X-Mailer =~ /[$]/", MSG, "A"));
    // Addresses carry no newline, as in SpamAssassin.
    assert!(!hit("header A From:addr =~ /org[^u]/", MSG, "A"));
    assert!(hit("header A From:addr =~ /org$/", MSG, "A"));
}

#[test]
fn header_modifiers_and_pseudo_headers() {
    assert!(hit(
        "header A From:addr =~ /^alice\\@example\\.org$/",
        MSG,
        "A"
    ));
    assert!(hit("header A From:name =~ /^Alice Example$/", MSG, "A"));
    assert!(hit("header A From:domain =~ /^example\\.org$/", MSG, "A"));
    assert!(hit("header A From:raw =~ /\"Alice Example\"/", MSG, "A"));
    assert!(hit("header A ALL =~ /^X-Mailer: Foo/m", MSG, "A"));
    assert!(hit("header A ToCc =~ /carol/", MSG, "A"));
    assert!(hit("header A MESSAGEID =~ /abc/", MSG, "A"));
    let (_, issues) = load("header A From:bogus =~ /x/");
    assert!(issues[0].message.contains("':bogus'"), "{issues:?}");
}

#[test]
fn body_rawbody_uri_full() {
    assert!(hit("body A /cheap pills now/", MSG, "A"));
    // The Subject is part of the body.
    assert!(hit("body A /^Cheap pills here$/", MSG, "A"));
    // Paragraphs are one line each: a wrapped line matches across the break. (The part's
    // last line break is white space like any other, a space in SpamAssassin's text.)
    assert!(hit(
        "body A /^Second paragraph wrapped line\\. $/",
        MSG,
        "A"
    ));
    assert!(hit("rawbody A /paragraph\\nwrapped/", MSG, "A"));
    assert!(hit(
        "util_rb_tld biz\nuri A /^http:\\/\\/shop\\.example\\.biz\\/buy$/",
        MSG,
        "A"
    ));
    assert!(!hit("uri A /example\\.org/", MSG, "A"));
    assert!(hit("full A /^X-Mailer: Foo/m", MSG, "A"));
    assert!(!hit("full A /^X-Mailer: Foo/", MSG, "A"));
}

#[test]
fn uri_rules_see_addresses_in_the_text_as_mailto() {
    // SpamAssassin's URI list holds `mailto:` for each address written in the text.
    // Its top-level domains come from the rule files (`util_rb_tld`).
    let rule = "util_rb_tld com\nuri A /^mailto:list-unsubscribe@example\\.com$/i";
    let msg = |body: &str| format!("From: a@b.example\nSubject: s\n\n{body}\n");
    assert!(hit(
        rule,
        &msg("To leave, mail (list-unsubscribe@example.com)."),
        "A"
    ));
    assert!(hit(rule, &msg("E-mail:list-unsubscribe@example.com"), "A"));
    assert!(!hit(
        rule,
        &msg("see http://x.example/list-unsubscribe@example.com"),
        "A"
    ));
    let any = "util_rb_tld com\nuri B /^mailto:/";
    assert!(!hit(
        any,
        &msg("user@localhost and a/b@example.com and Vi@gra"),
        "B"
    ));
}

#[test]
fn flags_and_delimiters() {
    assert!(hit("body A m{CHEAP\\s+PILLS}i", MSG, "A"));
    assert!(hit("body A m!cheap pills!", MSG, "A"));
    assert!(hit("body A /c h e a p/x", MSG, "A"));
    assert!(hit("rawbody A /paragraph.wrapped/s", MSG, "A"));
    assert!(!hit("rawbody A /paragraph.wrapped/", MSG, "A"));
    let (_, issues) = load("body A /x/q");
    assert!(issues[0].message.contains("flag 'q'"), "{issues:?}");
}

#[test]
fn meta_boolean_and_arithmetic() {
    let rules = "body __A /cheap/i\nbody __B /pills/\nbody __C /viagra/\n\
        meta M1 __A && __B && !__C\nmeta M2 (__A + __B + __C) >= 2\nmeta M3 __A && __C\n\
        meta M4 M1 || M3\nbody __D /\\bp\\w+/\ntflags __D multiple\nmeta M5 __D > 1\n";
    let (set, issues) = load(rules);
    assert!(issues.is_empty(), "{issues:?}");
    let h = hits(&set, MSG);
    for (name, expect) in [
        ("M1", true),
        ("M2", true),
        ("M3", false),
        ("M4", true),
        ("M5", true),
    ] {
        assert_eq!(h.iter().any(|n| n == name), expect, "{name}: {h:?}");
    }
}

#[test]
fn meta_cycles_are_reported_and_skipped() {
    let (set, issues) = load("meta A B\nmeta B A\nbody C /x/");
    assert!(issues.iter().any(|i| i.message.contains("cycle")));
    let _ = set.evaluate(&view(MSG), &ctx());
}

#[test]
fn scores_describe_tflags() {
    let (set, issues) = load(
        "body A /cheap/i\nscore A 2.5\ndescribe A Cheap stuff\nbody B /pills/\n\
         score B 1 2 3 4\nbody __C /x/\nbody T_D /x/\nbody E /x/\ntflags E nice bogus\n",
    );
    assert_eq!(set.get("A").map(|r| r.score), Some(2.5));
    assert_eq!(set.get("A").map(|r| r.description), Some("Cheap stuff"));
    // Four scores: the Bayes-on, network-off set.
    assert_eq!(set.get("B").map(|r| r.score), Some(3.0));
    assert_eq!(set.get("__C").map(|r| r.score), Some(0.0));
    assert_eq!(set.get("T_D").map(|r| r.score), Some(0.01));
    // An unscored `tflags nice` rule scores -1, as in SpamAssassin.
    assert_eq!(set.get("E").map(|r| r.score), Some(-1.0));
    assert!(
        issues
            .iter()
            .any(|i| i.severity == Severity::Warning && i.message.contains("'bogus'"))
    );
}

#[test]
fn hits_sorted_and_zero_scores_hidden() {
    let (set, _) = load(
        "body A /cheap/i\nscore A 1\nbody B /pills/\nscore B 3\nbody C /buy/i\nscore C 1\n\
         body Z /cheap/i\nscore Z 0\nbody __S /cheap/i\nmeta M __S\nscore M 1\n",
    );
    let names: Vec<String> = set
        .evaluate(&view(MSG), &ctx())
        .into_iter()
        .map(|h| h.name)
        .collect();
    assert_eq!(names, ["B", "A", "C", "M"]);
}

#[test]
fn later_sources_override() {
    let (set, _) = RuleSet::load(&[
        ("a.cf".into(), "body A /cheap/i\nscore A 1\n".into()),
        ("b.cf".into(), "score A 4\nbody A /viagra/\n".into()),
    ]);
    assert_eq!(set.get("A").map(|r| r.score), Some(4.0));
    assert_eq!(set.get("A").map(|r| r.origin), Some("b.cf"));
    assert!(set.evaluate(&view(MSG), &ctx()).is_empty());
}

#[test]
fn conditionals() {
    let text = "ifplugin Mail::SpamAssassin::Plugin::URIDetail\nbody A /x/\nendif\n\
        if !plugin(Mail::SpamAssassin::Plugin::URIDetail)\nbody B /cheap/i\nelse\nbody C /x/\nendif\n\
        if (version >= 3.004000)\nifplugin Mail::SpamAssassin::Plugin::Bayes\nbody D /x/\nendif\n\
        endif\nif frobnicate(1)\nbody E /x/\nendif\n";
    let (set, issues) = load(text);
    assert!(set.get("A").is_none());
    assert!(set.get("B").is_some());
    assert!(set.get("C").is_none());
    assert!(set.get("D").is_some());
    assert!(set.get("E").is_none());
    // Rules in blocks that are off are reported, with their line.
    let a = issues
        .iter()
        .find(|i| i.rule.as_deref() == Some("A"))
        .expect("A reported");
    assert_eq!((a.line, a.severity), (2, Severity::Error));
    assert!(a.message.contains("URIDetail"));
    assert!(issues.iter().any(|i| i.message.contains("frobnicate")));
    // The alternative branch defines C? No: C is in the else of a true condition, and since
    // nothing else defines it, it is reported too.
    assert!(issues.iter().any(|i| i.rule.as_deref() == Some("C")));
}

#[test]
fn network_plugins_are_read_as_spamassassin_loads_them_and_never_hit() {
    // 72_active.cf's shape: `__NOT_SPOOFED` has one definition for a SpamAssassin with the
    // DKIM plugin and one for a SpamAssassin without it. SpamAssassin loads the plugin, and
    // without network tests DKIM_VALID never hits: a DKIM-signed message is not "not spoofed"
    // there (rspamd's test message arcallow.eml, KHOP_HELO_FCRDNS and SPOOFED_FREEMAIL).
    let text = "ifplugin Mail::SpamAssassin::Plugin::DKIM\n\
        header DKIM_VALID eval:check_dkim_valid()\nendif\n\
        header __DKIM_EXISTS exists:DKIM-Signature\n\
        if !(!plugin(Mail::SpamAssassin::Plugin::DKIM))\nmeta NOT_SPOOFED DKIM_VALID\nendif\n\
        if !plugin(Mail::SpamAssassin::Plugin::DKIM)\nmeta NOT_SPOOFED __DKIM_EXISTS\nendif\n";
    let (set, issues) = load(text);
    let msg = "DKIM-Signature: v=1; d=example.org\nSubject: s\n\nbody\n";
    assert!(set.get("__DKIM_EXISTS").is_some());
    assert!(
        !set.evaluate(&view(msg), &ctx())
            .iter()
            .any(|h| h.name == "NOT_SPOOFED")
    );
    let v = issues
        .iter()
        .find(|i| i.rule.as_deref() == Some("DKIM_VALID"))
        .expect("DKIM_VALID reported");
    assert!(v.message.contains("needs the network"), "{v:?}");
    // The meta over it is as faithful as SpamAssassin's: noted, not warned about.
    let m = issues
        .iter()
        .find(|i| i.rule.as_deref() == Some("NOT_SPOOFED"))
        .expect("NOT_SPOOFED noted");
    assert_eq!(m.severity, Severity::Info, "{m:?}");
}

#[test]
fn full_rules_of_rule_files_count_a_non_utf8_byte_once() {
    // __LONGLINE's pattern: 700 bytes, 300 of them koi8-r (each a U+FFFD, three bytes, in the
    // view's text), is no line of 998 to Perl.
    let (set, _) = load("full L /^[^\\r\\n]{998}/m\n");
    let mut raw = b"Subject: s\nContent-Type: text/plain; charset=koi8-r\n\n".to_vec();
    raw.extend(std::iter::repeat_n([b'a', 0xc8], 300).flatten());
    raw.extend_from_slice(&[b'b'; 100]);
    raw.push(b'\n');
    let v = MessageView::parse(&raw, &Limits::default());
    assert!(v.raw.len() > 998 && !set.evaluate_all(&v, &ctx()).contains(&"L"));
    raw.extend(std::iter::repeat_n(b'c', 1000));
    let v = MessageView::parse(&raw, &Limits::default());
    assert!(set.evaluate_all(&v, &ctx()).contains(&"L"));
    // A U+FFFD written in UTF-8 is three bytes to Perl (spam-1/00257: 1,080 bytes, 990
    // characters), and `é` then a continuation byte, one U+FFFD to lossy decoding, is two.
    for (unit, n) in [("\u{FFFD}".as_bytes(), 340), (&[0xe9, 0xa0][..], 500)] {
        let mut raw = b"Subject: s\n\n".to_vec();
        raw.extend(std::iter::repeat_n(unit, n).flatten());
        raw.push(b'\n');
        let v = MessageView::parse(&raw, &Limits::default());
        assert!(set.evaluate_all(&v, &ctx()).contains(&"L"), "{unit:?}");
    }
}

#[test]
fn include_resolves_relative_to_the_file() {
    let dir = std::env::temp_dir().join(format!("mailsift-rules-include-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).expect("temp dir");
    std::fs::write(
        dir.join("main.cf"),
        "include sub/more.cf\nbody A /cheap/i\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("sub/more.cf"),
        "body B /pills/\ninclude missing.cf\n",
    )
    .expect("write");
    let (set, issues) = RuleSet::from_files(&[dir.join("main.cf")]).expect("readable");
    assert!(set.get("A").is_some() && set.get("B").is_some());
    assert!(
        issues
            .iter()
            .any(|i| i.message.contains("missing.cf") && i.line == 2),
        "{issues:?}"
    );
    // A file that includes itself (through a relative path) is a loop: an error, not a
    // warning, whatever command loads the rules.
    std::fs::write(dir.join("sub/more.cf"), "body B /pills/\ninclude more.cf\n").expect("write");
    let err = RuleSet::from_files(&[dir.join("main.cf")]).expect_err("include loop");
    assert!(
        matches!(err, RulesError::IncludeLoop(_)) && err.to_string().contains("more.cf"),
        "{err}"
    );
    let err = RuleSet::from_files(&[dir.join("nope.cf")]).expect_err("missing file");
    assert!(err.to_string().contains("nope.cf"));
    let _ = std::fs::remove_dir_all(&dir);
    // In-memory texts cannot include.
    let (_, issues) = load("include other.cf");
    assert!(issues[0].message.contains("not a file"));
}

/// A Received line from a public relay (untrusted when nothing is configured).
const RCVD_PUBLIC: &str = "Received: from out.example.com (out.example.com [198.51.100.7]) by \
    mx.example.net (Postfix) with ESMTP id ABC123; Wed, 2 Dec 2026 05:14:51 +0000\n";
/// A Received line from a private-network relay (trusted when nothing is configured).
const RCVD_PRIVATE: &str = "Received: from lan.example.net (lan.example.net [10.0.0.2]) by \
    inbox.example.net (Postfix) with ESMTP id DEF456; Wed, 2 Dec 2026 05:14:52 +0000\n";

#[test]
fn bad_syntax_is_reported_with_line() {
    let text = "# comment\n\nbody A /unterminated\nheader B Subject ~= /x/\nmeta C (A &&\n\
        score D\nbdoy E /x/\nbody 9F /x/\nbody G eval:no_such_test()\n\
        body H eval:check_for_uppercase('x')\nbody I /(?{ code })/\nheader J ALL-EXTERNAL =~ /x/\n\
        uri_detail K text =~ /x/\nreport some text\nbody L /ok/\n";
    let (set, issues) = load(text);
    let line_of = |needle: &str| {
        issues
            .iter()
            .find(|i| i.message.contains(needle))
            .map(|i| i.line)
    };
    assert_eq!(line_of("no closing"), Some(3));
    assert_eq!(line_of("=~"), Some(4));
    assert_eq!(line_of("meta expression"), Some(5));
    assert_eq!(line_of("score needs"), Some(6));
    assert_eq!(line_of("did you mean 'body'"), Some(7));
    assert_eq!(line_of("not a valid rule name"), Some(8));
    assert_eq!(line_of("eval:no_such_test"), Some(9));
    assert_eq!(line_of("expected a number"), Some(10));
    assert_eq!(line_of("Perl-only"), Some(11));
    assert_eq!(line_of("'uri_detail'"), Some(13));
    assert_eq!(line_of("'report'"), Some(14));
    // Line 12 reads a trust-path pseudo-header: supported.
    assert_eq!(set.len(), 2);
    assert!(set.get("L").is_some() && set.get("J").is_some());
}

#[test]
fn perl_regex_features() {
    // Look-around and back-references run on the bounded engine.
    assert!(hit("body A /cheap(?= pills)/i", MSG, "A"));
    assert!(!hit("body A /cheap(?! pills)/i", MSG, "A"));
    assert!(hit("body A /(?<!\\w)pills(?=\\s)/", MSG, "A"));
    assert!(hit(
        "header A ALL =~ /^From:.*(example)\\.org[\\s\\S]*^Message-Id:.*\\1/mi",
        MSG,
        "A"
    ));
    // Perl's looser literal syntax.
    assert!(hit("body A /here{/", "Subject: x\n\nhere{ we go\n", "A"));
    assert!(hit("body A /[\\w-.]+\\@x/", "Subject: x\n\na-b.c@x\n", "A"));
    assert!(hit("body A /\\<b\\>/", "Subject: x\n\n<b>\n", "A"));
}

#[test]
fn set_scores_checks_names() {
    let mut set = RuleSet::default_rules();
    let mut over = BTreeMap::new();
    over.insert("SUBJ_ALL_CAPS".to_owned(), 3.5);
    set.set_scores(&over).expect("known rule");
    assert_eq!(set.get("SUBJ_ALL_CAPS").map(|r| r.score), Some(3.5));
    over.insert("SUBJ_ALL_CAP".to_owned(), 1.0);
    let err = set.set_scores(&over).expect_err("unknown rule");
    assert!(
        err.to_string().contains("did you mean 'SUBJ_ALL_CAPS'"),
        "{err}"
    );
    let mut bad = BTreeMap::new();
    bad.insert("GTUBE".to_owned(), f64::NAN);
    assert!(set.set_scores(&bad).is_err());
}

#[test]
fn shared_clone_is_independent_after_set_scores() {
    let a = RuleSet::default_rules();
    let mut b = a.clone();
    let mut over = BTreeMap::new();
    over.insert("GTUBE".to_owned(), 1.0);
    b.set_scores(&over).expect("known");
    assert_eq!(a.get("GTUBE").map(|r| r.score), Some(1000.0));
    assert_eq!(b.get("GTUBE").map(|r| r.score), Some(1.0));
}

// ------------------------------------------------------------------------------------------
// The default rule set

#[test]
fn default_set_lints_clean() {
    let (set, issues) = RuleSet::load(&[("<default>".into(), DEFAULT_RULES.into())]);
    assert!(issues.is_empty(), "{issues:#?}");
    assert!(set.lint_patterns().is_empty(), "{:#?}", set.lint_patterns());
    assert!(RuleSet::default_rules().issues().is_empty());
    // Linear engine only: no rule of the default set needs backtracking.
    assert_eq!(set.engine_stats().backtracking, 0);
}

/// Rule names defined in the default file, in order, with their keyword.
fn default_definitions() -> Vec<(String, String)> {
    DEFAULT_RULES
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let kw = w.next()?;
            matches!(kw, "header" | "body" | "rawbody" | "uri" | "full" | "meta")
                .then(|| (kw.to_owned(), w.next().unwrap_or("").to_owned()))
        })
        .collect()
}

#[test]
fn default_codes_unique_and_documented() {
    let defs = default_definitions();
    let mut seen = HashSet::new();
    for (_, name) in &defs {
        assert!(seen.insert(name.clone()), "{name} defined twice");
    }
    let set = RuleSet::default_rules();
    let reported: Vec<_> = set.iter().filter(|r| !r.name.starts_with("__")).collect();
    assert!(reported.len() >= 50, "only {} rules", reported.len());
    for r in &reported {
        assert!(!r.description.is_empty(), "{} has no description", r.name);
        assert!(
            DEFAULT_RULES
                .lines()
                .any(|l| l.split_whitespace().take(2).eq(["score", r.name])),
            "{} has no score line",
            r.name
        );
        assert!(r.score != 0.0, "{} scores 0", r.name);
    }
    for kind in [
        RuleKind::Header,
        RuleKind::Body,
        RuleKind::Uri,
        RuleKind::RawBody,
        RuleKind::Meta,
    ] {
        assert!(reported.iter().any(|r| r.kind == kind), "no {kind:?} rule");
    }
}

#[test]
fn prefilter_table_is_current() {
    let fresh = RuleSet::default_rules().prefilter_table();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules/default.prefilter");
    if std::env::var_os("MAILSIFT_UPDATE_PREFILTER").is_some() {
        std::fs::write(&path, &fresh).expect("write table");
        return;
    }
    assert!(
        fresh == DEFAULT_PREFILTER,
        "rules/default.prefilter is stale: run \
         MAILSIFT_UPDATE_PREFILTER=1 cargo test -p mailsift-classifier prefilter_table"
    );
}

#[test]
fn precomputed_and_fresh_prefilters_agree() {
    // The same messages give the same hits whether literals come from the table or not.
    let with_table = RuleSet::default_rules();
    let (fresh, _) = RuleSet::load(&[("<default>".into(), DEFAULT_RULES.into())]);
    let mut fresh = fresh;
    Arc::make_mut(&mut fresh.inner).precomputed = None;
    assert_same_hits_on_fixtures(&with_table, &fresh);
}

/// Both rule sets give the same hits on every rule fixture.
pub(super) fn assert_same_hits_on_fixtures(a: &RuleSet, b: &RuleSet) {
    for f in std::fs::read_dir(fixture_dir())
        .expect("fixtures")
        .flatten()
    {
        let raw = std::fs::read(f.path()).expect("read");
        let v = MessageView::parse(&raw, &Limits::default());
        assert_eq!(
            a.evaluate_all(&v, &ctx()),
            b.evaluate_all(&v, &ctx()),
            "{}",
            f.path().display()
        );
    }
}

#[test]
fn long_lived_prefilter_finds_what_the_index_finds() {
    // The automaton (prepare_now) and the three-byte index report the same literals, case
    // folded, overlapping and at the ends of the text; a literal given twice (in either case:
    // the automaton keeps one pattern for both) is reported under both ids.
    let lits: Vec<Vec<u8>> = [
        "click here",
        "here",
        "viagra",
        "abc",
        "HERE",
        "bcd",
        "xyz",
        "viagra",
    ]
    .iter()
    .map(|l| l.as_bytes().to_vec())
    .collect();
    let index = LitIndex::new(&lits, false);
    let automaton = LitIndex::new(&lits, true);
    assert!(automaton.automaton.is_some() && index.automaton.is_none());
    for hay in [
        "CLICK HERE now",
        "abcd",
        "xyz",
        "ab",
        "",
        "Vi\u{e4}gra viAGRA \u{fc}here",
        "no literal at all",
    ] {
        let mut a = Vec::new();
        index.scan(hay.as_bytes(), |id| a.push(id));
        let mut b = Vec::new();
        automaton.scan(hay.as_bytes(), |id| b.push(id));
        a.sort_unstable();
        a.dedup();
        b.sort_unstable();
        b.dedup();
        assert_eq!(a, b, "{hay:?}");
    }
    // And whole rule sets agree on the fixtures.
    let one_shot = RuleSet::default_rules();
    let long_lived = RuleSet::default_rules();
    long_lived.prepare_now();
    assert_same_hits_on_fixtures(&one_shot, &long_lived);
}

#[derive(serde::Deserialize)]
struct Expect {
    hit: Vec<String>,
    miss: Vec<String>,
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules/fixtures")
}

#[test]
fn default_rules_hit_and_miss_their_fixtures() {
    let manifest: BTreeMap<String, Expect> = toml::from_str(
        &std::fs::read_to_string(fixture_dir().join("manifest.toml")).expect("manifest"),
    )
    .expect("manifest parses");
    let set = RuleSet::default_rules();
    // Every reported rule has at least one positive and one negative fixture.
    for r in set.iter().filter(|r| !r.name.starts_with("__")) {
        let e = manifest
            .get(r.name)
            .unwrap_or_else(|| panic!("{} has no fixtures in manifest.toml", r.name));
        assert!(
            !e.hit.is_empty() && !e.miss.is_empty(),
            "{}: need both",
            r.name
        );
    }
    let mut cache: BTreeMap<(String, bool), Vec<String>> = BTreeMap::new();
    for (rule, e) in &manifest {
        assert!(
            set.get(rule).is_some(),
            "manifest names unknown rule {rule}"
        );
        for (files, expect) in [(&e.hit, true), (&e.miss, false)] {
            for f in files {
                for crlf in [false, true] {
                    let names = cache.entry((f.clone(), crlf)).or_insert_with(|| {
                        let mut raw = std::fs::read(fixture_dir().join(f)).expect("fixture");
                        if crlf {
                            let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
                            for &b in &raw {
                                if b == b'\n' {
                                    out.push(b'\r');
                                }
                                out.push(b);
                            }
                            raw = out;
                        }
                        let v = MessageView::parse(&raw, &Limits::default());
                        set.evaluate_all(&v, &ctx())
                            .into_iter()
                            .map(str::to_owned)
                            .collect()
                    });
                    assert_eq!(
                        names.iter().any(|n| n == rule),
                        expect,
                        "{rule} on {f} (crlf={crlf}): hits {names:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn gtube_is_spam() {
    let raw = std::fs::read(fixture_dir().join("spam-gtube.eml")).expect("fixture");
    let v = MessageView::parse(&raw, &Limits::default());
    let hits = RuleSet::default_rules().evaluate(&v, &ctx());
    assert_eq!(hits[0].name, "GTUBE");
    assert!(hits.iter().map(|h| h.score).sum::<f64>() >= 1000.0);
}

#[test]
fn default_set_is_quiet_on_ham_fixtures() {
    let set = RuleSet::default_rules();
    for f in ["ham-plain.eml", "ham-newsletter.eml", "ham-near-miss.eml"] {
        let raw = std::fs::read(fixture_dir().join(f)).expect("fixture");
        let v = MessageView::parse(&raw, &Limits::default());
        let total: f64 = set.evaluate(&v, &ctx()).iter().map(|h| h.score).sum();
        assert!(total < 1.0, "{f} scores {total}");
    }
}

// ------------------------------------------------------------------------------------------
// Robustness

mod props {
    use super::*;
    use proptest::prelude::*;

    fn with_backtracking() -> RuleSet {
        let extra = "body __BT /(\\w+) \\1/\nbody BT2 /(?<=a)b(?!c)/\n\
                     header BT3 ALL =~ /^(?:.*\\n)*?Subject: (.*)\\n[\\s\\S]*\\1/m\n\
                     meta BT4 __BT + BT2 > 0\n";
        RuleSet::load(&[
            ("<default>".into(), DEFAULT_RULES.into()),
            ("extra.cf".into(), extra.into()),
        ])
        .0
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn evaluate_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let set = with_backtracking();
            let v = MessageView::parse(&bytes, &Limits::default());
            let _ = set.evaluate(&v, &ctx());
            let _ = set.evaluate_all(&v, &ctx());
        }

        #[test]
        fn evaluate_never_panics_on_mail_like_text(
            subject in "[ -~]{0,60}",
            body in "[ -~\\n<>=\"/]{0,600}",
            html in any::<bool>(),
        ) {
            let set = with_backtracking();
            let ct = if html { "text/html" } else { "text/plain" };
            let msg = format!("From: a@b.c\nSubject: {subject}\nContent-Type: {ct}\n\n{body}\n");
            let v = MessageView::parse(msg.as_bytes(), &Limits::default());
            let _ = set.evaluate(&v, &ctx());
        }

        #[test]
        fn rule_files_never_panic_the_loader(text in "[ -~\\n]{0,400}") {
            let (set, _) = RuleSet::load(&[("p.cf".into(), text)]);
            let _ = set.evaluate(&view(MSG), &ctx());
            let _ = set.lint_patterns();
        }
    }
}

#[test]
fn plugins_spamassassin_does_not_load_are_off_here_too() {
    // Debian's .pre files leave FromNameSpoof commented out: SpamAssassin skips these blocks,
    // so rules in them are neither run nor counted as missing (info, not error).
    let text = "ifplugin Mail::SpamAssassin::Plugin::FromNameSpoof\n\
        header A eval:check_fromname_spoof()\nendif\n\
        ifplugin Mail::SpamAssassin::Plugin::FreeMail\nbody B /cheap/i\nendif\n";
    let (set, issues) = load(text);
    assert!(set.get("A").is_none() && set.get("B").is_some());
    let a = issues
        .iter()
        .find(|i| i.rule.as_deref() == Some("A"))
        .expect("A reported");
    assert_eq!(a.severity, Severity::Info, "{a:?}");
    // A `loadplugin` line turns it on, as in SpamAssassin.
    let (set, _) = load(&format!(
        "loadplugin Mail::SpamAssassin::Plugin::FromNameSpoof\n{text}"
    ));
    assert!(set.get("A").is_some());
}

#[path = "tests_evals.rs"]
mod eval_tests;

#[test]
fn rule_file_body_rules_read_spamassassins_rendered_text() {
    // SpamAssassin's body holds all the text its renderer renders, hidden text included.
    let msg = "From: a@b.example\nSubject: s\nContent-Type: text/html\n\n\
               <p>Hello</p><p style=\"color:#ffffff\">To opt out, reply.</p>\n";
    assert!(hit("body A /^To opt out, reply\\./", msg, "A"));
    // Each paragraph on a line of its own.
    assert!(!hit("body A /Hello To opt/", msg, "A"));
}
