//! SpamAssassin 4's captured tags (its Conf.pm, "CAPTURING TAGS USING REGEX NAMED CAPTURE
//! GROUPS"). A regex rule with a named group `(?<NAME>...)` sets the tag NAME to the group's
//! text when it hits; a regex rule that writes `%{NAME}` matches the tag's values there, as
//! `(?:v1|v2)` with each value quoted as Perl's `quotemeta` quotes it, and does not run at all
//! while a tag it reads has no value. SpamAssassin runs the capturing rules first (it gives
//! them priority -10000); here they run with the other rules, and the template rules after all
//! of them, each with its regex made for the message's values. A made regex is compiled once
//! and kept ([`TemplateCache`]): a server sees the same recipients again and again.
//!
//! Only the tags rules capture are known: a template naming one of SpamAssassin's own tags
//! (`%{HEADER(From:addr)}`) is refused at load, and the rule is skipped.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::lines;
use super::run::text_part;
use super::texts::{Texts, uris_where};
use super::trust::LazyTrust;
use super::{Pattern, Prepared, Rule, RuleKind, RuleSet, Test, perlre};

/// The regex of a rule that reads captured tags, as written (after `replace_rules`).
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub source: String,
    pub flags: String,
    /// The tags it reads, each once.
    pub names: Vec<String>,
    /// Tags one of whose values every match contains ([`required_tags`]): the rule cannot
    /// match a text holding none of them, so its regex is not made for that message.
    required: Vec<String>,
    /// Whether the regex may match letters in either case (`/i`, or an inline `(?i)`).
    caseless: bool,
}

impl Template {
    pub(crate) fn new(source: String, flags: &str, names: Vec<String>) -> Self {
        let required = required_tags(&source, flags);
        let caseless = flags.contains('i') || inline_caseless(&source);
        Template {
            source,
            flags: flags.to_owned(),
            names,
            required,
            caseless,
        }
    }

    /// Whether the rule can match on a message with these `tags`, judged from `contains`
    /// (whether one of the rule's texts holds a string, in the case given): false only when
    /// a required tag has no value in any text. Case-insensitive regexes are judged on ASCII
    /// values only (Unicode case folding matches `K` to the Kelvin sign): a value with other
    /// characters counts as present.
    fn may_match(
        &self,
        tags: &HashMap<String, Vec<String>>,
        contains: &dyn Fn(&str, bool) -> bool,
    ) -> bool {
        self.required.iter().all(|name| {
            tags.get(name).is_some_and(|values| {
                values
                    .iter()
                    .any(|v| (self.caseless && !v.is_ascii()) || contains(v, self.caseless))
            })
        })
    }
}

/// The tags a regex's every match must contain one value of: templates in the top-level
/// sequence of the regex (outside every group and class), not quantified to allow zero, in a
/// regex without a top-level alternation. Conservative: a regex this reading is unsure of
/// (`\Q` quoting, comments of `/x`) requires none.
fn required_tags(source: &str, flags: &str) -> Vec<String> {
    let b = source.as_bytes();
    let extended = flags.contains('x');
    let mut out: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if b.get(i + 1) == Some(&b'Q') {
                    return Vec::new();
                }
                i += 2;
                continue;
            }
            b'[' => {
                // A class: up to its unescaped `]` (a `]` first, or after `^`, is literal).
                let mut j = i + 1;
                if b.get(j) == Some(&b'^') {
                    j += 1;
                }
                if b.get(j) == Some(&b']') {
                    j += 1;
                }
                while j < b.len() && b[j] != b']' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                i = j + 1;
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'|' if depth == 0 => return Vec::new(),
            b'#' if extended => return Vec::new(),
            b'%' if depth == 0 => {
                if let Some((name, end)) = template_at(source, i) {
                    let mut k = end;
                    while extended && b.get(k).is_some_and(u8::is_ascii_whitespace) {
                        k += 1;
                    }
                    let optional = matches!(b.get(k), Some(b'?' | b'*' | b'{' | b'#'));
                    if !optional && !out.iter().any(|n| n == name) {
                        out.push(name.to_owned());
                    }
                    i = end;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Whether a regex turns on case-insensitive matching inline (`(?i)`, `(?xi:`, `(?^i`).
fn inline_caseless(source: &str) -> bool {
    source.match_indices("(?").any(|(at, _)| {
        source[at + 2..]
            .bytes()
            .take_while(|c| c.is_ascii_alphabetic() || *c == b'^' || *c == b'-')
            .any(|c| c == b'i')
    })
}

/// Whether `hay` holds `needle`, in either ASCII case when `caseless` (then a haystack with
/// other characters counts as holding it: their case folding is Unicode's).
fn holds(hay: &str, needle: &str, caseless: bool) -> bool {
    if !caseless {
        return memchr::memmem::find(hay.as_bytes(), needle.as_bytes()).is_some();
    }
    if !hay.is_ascii() {
        return true;
    }
    // Both lower-cased, so the search stays linear in the text (a long body, a long value).
    let (hay, needle) = (hay.to_ascii_lowercase(), needle.to_ascii_lowercase());
    memchr::memmem::find(hay.as_bytes(), needle.as_bytes()).is_some()
}

/// Compiled template regexes by (made regex, flags, line anchors); cleared when full.
pub(super) type TemplateCache = Arc<Mutex<HashMap<(String, String, bool), Arc<Pattern>>>>;

/// Distinct made regexes kept before the cache starts again: each is one rule's regex with
/// one message's values (the stock rules': five `uri` rules with the To address), tens of KB
/// once compiled and used, so a server that sees many recipients holds a few MB at most and
/// compiles again (about 0.1 ms a rule) when a recipient comes back after the cache cleared.
const CACHE_ENTRIES: usize = 256;

/// Longest made regex (bytes of source) the cache keeps.
const CACHE_SOURCE_BYTES: usize = 4096;

/// The template at byte `i` of `body` (`%{NAME}` or `%{NAME(args)}` not after a backslash,
/// as SpamAssassin's parser finds them): the name and the end of the template.
fn template_at(body: &str, i: usize) -> Option<(&str, usize)> {
    let b = body.as_bytes();
    if !body[i..].starts_with("%{") || (i > 0 && b[i - 1] == b'\\') {
        return None;
    }
    let start = i + 2;
    let mut j = start;
    if !b.get(j).is_some_and(u8::is_ascii_uppercase) {
        return None;
    }
    // NAME: [A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*
    while j < b.len() {
        match b[j] {
            b'A'..=b'Z' | b'0'..=b'9' => j += 1,
            b'_' if b
                .get(j + 1)
                .is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) =>
            {
                j += 1
            }
            _ => break,
        }
    }
    // Optional (args) without ')' or '}'.
    if b.get(j) == Some(&b'(') {
        let close = body[j..].find([')', '}'])? + j;
        if b[close] != b')' {
            return None;
        }
        j = close + 1;
    }
    (b.get(j) == Some(&b'}')).then(|| (&body[start..j], j + 1))
}

/// Replaces each template of `body` by `with(name)`; `None` when `with` gives none for one.
fn replace_templates(body: &str, mut with: impl FnMut(&str) -> Option<String>) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    let mut copied = 0;
    while let Some(off) = body[i..].find("%{") {
        let at = i + off;
        match template_at(body, at) {
            Some((name, end)) => {
                out.push_str(&body[copied..at]);
                out.push_str(&with(name)?);
                copied = end;
                i = end;
            }
            None => i = at + 2,
        }
    }
    out.push_str(&body[copied..]);
    Some(out)
}

/// A regex body's templates: the body SpamAssassin compiles at load (each template's braces
/// escaped, so it reads literally), and the tags read; `Err` for a tag no rule can capture.
pub(crate) fn find_templates(body: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let mut names: Vec<String> = Vec::new();
    let mut bad = None;
    let escaped = replace_templates(body, |name| {
        if name.contains('(') {
            bad.get_or_insert_with(|| name.to_owned());
        } else if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        Some(format!("%\\{{{name}\\}}"))
    })
    .unwrap_or_default();
    if let Some(name) = bad {
        return Err(format!(
            "template %{{{name}}} reads one of SpamAssassin's own tags; mailsift fills only the \
             tags rules capture with named groups"
        ));
    }
    Ok((!names.is_empty()).then_some((escaped, names)))
}

/// Perl's `quotemeta`: every ASCII character but letters, digits and `_` after a backslash.
fn quotemeta(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() && c != '_' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The tags a translated pattern's named groups set (`(?<NAME>` or `(?P<NAME>`, NAME a tag
/// name as SpamAssassin's `set_captures` takes it).
pub(super) fn tags_set(p: &Pattern) -> Vec<&str> {
    let s = &p.translated.pattern;
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find("(?") {
        let at = i + off + 2;
        let rest = &s[at..];
        let rest = rest.strip_prefix('P').unwrap_or(rest);
        if let Some(name) = rest
            .strip_prefix('<')
            .and_then(|r| r.split_once('>'))
            .map(|(n, _)| n)
            && tag_name(name)
            && !out.contains(&name)
        {
            out.push(name);
        }
        i = at;
    }
    out
}

/// Whether rule `r` (not disabled) sets tags when it hits.
pub(super) fn sets_tags(r: &Rule) -> bool {
    match &r.test {
        Test::Header { pattern, .. } | Test::Regex(pattern) if !r.disabled => {
            !tags_set(pattern).is_empty()
        }
        _ => false,
    }
}

/// A tag name as SpamAssassin's `set_captures` accepts it.
fn tag_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.first().is_some_and(u8::is_ascii_uppercase)
        && b.iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
        && !n.ends_with('_')
        && !n.contains("__")
}

/// The named groups of the first `max` matches of `p` in `text`, added to `found`; the
/// number of matches read.
fn capture(p: &Pattern, text: &str, max: u32, found: &mut HashMap<String, Vec<String>>) -> u32 {
    let Some(re) = p.capture_engine() else {
        return 0;
    };
    let mut n = 0;
    for caps in re.captures_iter(text) {
        let Ok(caps) = caps else { break };
        for name in re.capture_names().flatten().filter(|n| tag_name(n)) {
            if let Some(m) = caps.name(name).filter(|m| !m.as_str().is_empty()) {
                found
                    .entry(name.to_owned())
                    .or_default()
                    .push(m.as_str().to_owned());
            }
        }
        n += 1;
        if n >= max {
            break;
        }
    }
    n
}

/// [`capture`] over `texts` in order, until `max` matches in all.
fn capture_each<'t>(
    p: &Pattern,
    texts: impl IntoIterator<Item = &'t str>,
    max: u32,
    found: &mut HashMap<String, Vec<String>>,
) {
    let mut left = max;
    for t in texts {
        left = left.saturating_sub(capture(p, t, left, found));
        if left == 0 {
            break;
        }
    }
}

/// The text a header rule reads, as `run_others` reads it.
fn header_value<'a>(trust: &LazyTrust<'_>, r: &'a Rule) -> Option<(Cow<'a, str>, bool)> {
    let Test::Header {
        target,
        negate,
        if_unset,
        ..
    } = &r.test
    else {
        return None;
    };
    let v = match (trust.header_text(target), if_unset) {
        (Some(v), _) => Cow::Owned(v),
        (None, Some(u)) => Cow::Borrowed(u.as_str()),
        (None, None) => Cow::Borrowed(""),
    };
    Some((v, *negate))
}

/// The tags the capturing rules that hit set on this message, in definition order (a later
/// rule's value of a tag replaces an earlier one's, as `set_tag` does).
fn captured_tags(
    set: &RuleSet,
    prep: &Prepared,
    texts: &Texts<'_>,
    trust: &LazyTrust<'_>,
    counts: &[u32],
) -> HashMap<String, Vec<String>> {
    let mut tags = HashMap::new();
    for &i in &prep.capturing {
        if counts[i] == 0 {
            continue;
        }
        let r = &set.inner.rules[i];
        let max = r.max_hits.max(1);
        let mut found = HashMap::new();
        match &r.test {
            Test::Header { pattern, .. } => {
                if let Some((v, false)) = header_value(trust, r) {
                    capture(pattern, &v, max, &mut found);
                }
            }
            Test::Regex(p) if r.kind == RuleKind::Uri => {
                capture_each(
                    p,
                    texts.sa_uris().iter().map(String::as_str),
                    max,
                    &mut found,
                );
            }
            Test::Regex(p) => {
                let Some(part) = text_part(r) else { continue };
                match texts.sa_lines(part) {
                    Some((joined, ranges)) => {
                        let lines = ranges.iter().map(|range| &joined[range.clone()]);
                        capture_each(p, lines, max, &mut found);
                    }
                    None => capture_each(p, [texts.get(part)], max, &mut found),
                }
            }
            _ => {}
        }
        for (name, mut values) in found {
            let mut seen = std::collections::HashSet::new();
            values.retain(|v| seen.insert(v.clone()));
            tags.insert(name, values);
        }
    }
    tags
}

/// The regex of a template rule (its pattern `p`) for these tags, from the cache or made now;
/// `None` when a tag it reads has no value (SpamAssassin then does not run the rule).
fn made_pattern(
    prep: &Prepared,
    p: &Pattern,
    tags: &HashMap<String, Vec<String>>,
) -> Option<Arc<Pattern>> {
    let t = p.template.as_deref()?;
    let body = replace_templates(&t.source, |name| {
        let values = tags.get(name).filter(|v| !v.is_empty())?;
        let quoted: Vec<String> = values.iter().map(|v| quotemeta(v)).collect();
        Some(format!("(?:{})", quoted.join("|")))
    })?;
    let key = (body, t.flags.clone(), p.line_anchors);
    let mut cache = prep
        .template_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(made) = cache.get(&key) {
        return Some(made.clone());
    }
    let translated = perlre::translate(&key.0, &t.flags).ok()?;
    let made = Arc::new(Pattern::new(translated, p.line_anchors));
    // A regex made from long captured text (a rule of the site's capturing a whole line) is
    // used once and not kept, so the cache stays small whatever the messages hold.
    if key.0.len() > CACHE_SOURCE_BYTES {
        return Some(made);
    }
    if cache.len() >= CACHE_ENTRIES {
        cache.clear();
    }
    cache.insert(key, made.clone());
    Some(made)
}

impl RuleSet {
    /// Sets the counts of the template rules (`prep.templates`), once every other direct rule
    /// has its count.
    pub(super) fn run_templates(
        &self,
        prep: &Prepared,
        wanted: &dyn Fn(usize) -> bool,
        texts: &Texts<'_>,
        trust: &LazyTrust<'_>,
        counts: &mut [u32],
    ) {
        if !prep.templates.iter().any(|&i| wanted(i)) {
            return;
        }
        let tags = captured_tags(self, prep, texts, trust, counts);
        for &i in &prep.templates {
            if !wanted(i) {
                continue;
            }
            let r = &self.inner.rules[i];
            let (Test::Header { pattern: p, .. } | Test::Regex(p)) = &r.test else {
                continue;
            };
            let Some(t) = p.template.as_deref() else {
                continue;
            };
            // A tag without a value: SpamAssassin does not run the rule.
            if !t
                .names
                .iter()
                .all(|n| tags.get(n).is_some_and(|v| !v.is_empty()))
            {
                counts[i] = 0;
                continue;
            }
            let header = match &r.test {
                Test::Header { .. } => header_value(trust, r),
                _ => None,
            };
            let sa_list = r.origin != "<default>";
            let present = |v: &str, caseless: bool| match &r.test {
                Test::Header { .. } => header.as_ref().is_some_and(|(h, _)| holds(h, v, caseless)),
                _ if r.kind == RuleKind::Uri => {
                    uris_where(texts, sa_list, 1, |u| holds(u, v, caseless)) > 0
                }
                _ => text_part(r).is_some_and(|part| {
                    let text = texts.sa_lines(part).map_or(texts.get(part), |(j, _)| j);
                    holds(text, v, caseless)
                }),
            };
            // No text holds a value the regex needs: it cannot match, and is not made.
            if !t.may_match(&tags, &present) {
                counts[i] = header.map_or(0, |(_, negate)| u32::from(negate));
                continue;
            }
            let Some(made) = made_pattern(prep, p, &tags) else {
                counts[i] = 0;
                continue;
            };
            let max = r.max_hits.max(1);
            counts[i] = match &r.test {
                Test::Header { .. } => match header {
                    Some((v, negate)) => {
                        u32::from(made.is_match_with(&v, prep.long_lived) != negate)
                    }
                    None => 0,
                },
                // Each match holds a value of every required tag: a URI holding none is
                // not tried (the stock rules' GB_CUSTOM_HTM_URI* on a newsletter whose every
                // link carries the recipient's address: 79 -> 65 us a message on the first
                // 1,200 SpamAssassin-corpus messages).
                _ if r.kind == RuleKind::Uri => uris_where(texts, sa_list, max, |u| {
                    t.may_match(&tags, &|v, caseless| holds(u, v, caseless)) && made.is_match(u)
                }),
                _ => match text_part(r) {
                    Some(part) => match texts.sa_lines(part) {
                        Some((joined, ranges)) => {
                            lines::count_by_line(&made, joined, ranges, max, prep.long_lived)
                        }
                        None if max > 1 => made.count(texts.get(part), max),
                        None => u32::from(made.is_match_with(texts.get(part), prep.long_lived)),
                    },
                    None => 0,
                },
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_found_as_spamassassins_parser_finds_them() {
        let (escaped, names) = find_templates(r"^https?://.{4}\#%{GB_TO_ADDR}|%{A1}x%{GB_TO_ADDR}")
            .expect("ok")
            .expect("templates");
        assert_eq!(names, ["GB_TO_ADDR", "A1"]);
        assert_eq!(
            escaped,
            r"^https?://.{4}\#%\{GB_TO_ADDR\}|%\{A1\}x%\{GB_TO_ADDR\}"
        );
        // Escaped, lower-case, or not a tag name: no template.
        assert!(
            find_templates(r"\%{FOO} %{foo} %{_X} %{A__B} 100%")
                .expect("ok")
                .is_none()
        );
        // One of SpamAssassin's own tags: refused.
        assert!(find_templates("www\\.%{HEADER(From:addr:domain)}/").is_err());
    }

    #[test]
    fn values_are_quoted_as_perl_quotes_them() {
        assert_eq!(quotemeta("a.b+c@d-e_f g"), r"a\.b\+c\@d\-e_f\ g");
        assert_eq!(quotemeta("café"), "café");
        let made = replace_templates(r"x%{T}y", |_| Some("(?:a\\.b|c)".into()));
        assert_eq!(made.as_deref(), Some(r"x(?:a\.b|c)y"));
        assert_eq!(replace_templates(r"x%{T}y", |_| None), None);
    }

    const RULES: &str = "util_rb_tld biz\n\
        header __TO_ADDR To:addr =~ /(?<TO_ADDR>.*)/\n\
        uri URI_TO_ADDR m|^https?://.{4,64}\\#%{TO_ADDR}|i\n\
        body BODY_TO /mail for %{TO_ADDR} today/i\n\
        header FROM_IS_TO From:addr =~ /^%{TO_ADDR}$/\n\
        body UNSET /%{NO_SUCH_TAG}/\n";

    fn message(to: &str) -> String {
        format!(
            "From: alice@example.org\nTo: {to}\nSubject: hi\n\n\
             Mail for BOB@example.com today: http://shop.example.biz/page#bob@example.com\n\
             %{{NO_SUCH_TAG}} %{{TO_ADDR}}\n"
        )
    }

    #[test]
    fn rules_read_the_tags_other_rules_capture() {
        // Each case checked with SpamAssassin 4.0.1 (`spamassassin -L -t`, these rules in a
        // site .cf): BODY_TO and URI_TO_ADDR for Bob, nothing for Carol or without To.
        let hits = crate::rules::tests::hits_now(RULES, &message("Bob <bob@example.com>"));
        for name in ["__TO_ADDR", "URI_TO_ADDR", "BODY_TO"] {
            assert!(hits.iter().any(|h| h == name), "{name} in {hits:?}");
        }
        // A tag no rule captures leaves its rule unrun (the text holds the template, which
        // the rule's load-time regex reads literally).
        assert!(
            !hits.iter().any(|h| h == "UNSET" || h == "FROM_IS_TO"),
            "{hits:?}"
        );
        // The tag is another address: the templates do not match.
        let hits = crate::rules::tests::hits_now(RULES, &message("carol@example.net"));
        assert!(hits.iter().any(|h| h == "__TO_ADDR"), "{hits:?}");
        for name in ["URI_TO_ADDR", "BODY_TO", "FROM_IS_TO", "UNSET"] {
            assert!(!hits.iter().any(|h| h == name), "{name} in {hits:?}");
        }
        // No To: the capture is empty, so no tag, and no template rule runs.
        let raw = message("x").replace("To: x\n", "");
        let hits = crate::rules::tests::hits_now(RULES, &raw);
        assert!(
            !hits.iter().any(|h| h == "URI_TO_ADDR" || h == "BODY_TO"),
            "{hits:?}"
        );
    }

    #[test]
    fn a_scored_template_rule_runs_the_unscored_rule_that_captures_its_tag() {
        // Normal scoring evaluates only the rules a reported rule needs; the capturing rule
        // is needed by the template rule though no meta names it.
        let (set, _) = RuleSet::load(&[(
            "t.cf".to_owned(),
            "header __TO_ADDR To:addr =~ /(?<TO_ADDR>.*)/\n\
             body BODY_TO /mail for %{TO_ADDR} today/i\nscore BODY_TO 1.5\n"
                .to_owned(),
        )]);
        let raw = message("bob@example.com");
        let view = crate::MessageView::parse(raw.as_bytes(), &crate::Limits::default());
        let hits = set.evaluate(&view, &crate::rules::EvalContext::default());
        assert!(hits.iter().any(|h| h.name == "BODY_TO"), "{hits:?}");
    }

    #[test]
    fn a_template_of_spamassassins_own_tags_is_refused_at_load() {
        let (_, issues) = RuleSet::load(&[(
            "t.cf".to_owned(),
            "body A m{www\\.%{HEADER(From:addr:domain)}/}\nbody B /%{NOBODY}/\n".to_owned(),
        )]);
        let has = |severity, rule: &str, text: &str| {
            issues.iter().any(|i| {
                i.severity == severity
                    && i.rule.as_deref() == Some(rule)
                    && i.message.contains(text)
            })
        };
        use crate::rules::Severity;
        assert!(
            has(Severity::Error, "A", "SpamAssassin's own tags"),
            "{issues:?}"
        );
        assert!(
            has(Severity::Warning, "B", "no loaded rule captures"),
            "{issues:?}"
        );
    }

    #[test]
    fn a_template_is_required_only_in_the_top_level_sequence() {
        let req = |re: &str, flags: &str| required_tags(re, flags);
        // The stock rules' shapes.
        assert_eq!(
            req(
                r"^https?://.{10,128}(?:\.html?|\.php|\/)?(?:\#|\?&e=)%{GB_TO_ADDR}",
                "i"
            ),
            ["GB_TO_ADDR"]
        );
        assert_eq!(req(r"^https?://.{4,64}\#%{A}x%{B}+%{A}", ""), ["A", "B"]);
        // An alternation at the top, a group, a class, a quantifier allowing none, `\Q`
        // quoting, an `/x` comment: not required.
        for re in [
            r"a|%{X}",
            r"(?:%{X})",
            r"(%{X}|y)",
            r"[%{X}]",
            r"a%{X}?",
            r"a%{X}*",
            r"a%{X}{0,2}",
            r"\Q%{X}\E",
        ] {
            assert!(req(re, "").is_empty(), "{re}");
        }
        assert!(req("a%{X} ?", "x").is_empty());
        assert!(req("a # %{X}", "x").is_empty());
        assert_eq!(req("a%{X} +", "x"), ["X"]);
        // An escaped bracket or parenthesis is a literal.
        assert_eq!(req(r"\[\(%{X}\)", ""), ["X"]);
        assert!(inline_caseless("(?i)a%{X}") && inline_caseless("x(?^si:a)"));
        assert!(!inline_caseless("(?:a)(?<N>b)(?P<M>c)(?s)"));
    }

    #[test]
    fn a_value_is_looked_for_in_the_case_the_regex_matches() {
        assert!(holds("x#BOB@EXAMPLE.COM", "bob@example.com", true));
        assert!(!holds("x#BOB@EXAMPLE.COM", "bob@example.com", false));
        assert!(!holds("x#carol@example.com", "bob@example.com", true));
        // Non-ASCII text: Unicode case folding (the Kelvin sign is a `k`), so it may hold it.
        assert!(holds("x#\u{212a}", "k", true));
        assert!(!holds("x#\u{212a}", "k", false));
    }

    #[test]
    fn a_uri_template_rule_is_tried_on_the_uris_that_hold_a_value() {
        // The value in one URI that the regex does not match, and in another that it does,
        // or not: only the second decides. Checked with SpamAssassin 4.0.1 (`spamassassin -L
        // -t`, these rules in a site .cf): a hit for the first message, none for the second.
        let rules = "util_rb_tld biz\n\
            header __TO_ADDR To:addr =~ /(?<TO_ADDR>.*)/\n\
            uri URI_TO m|^https?://.{4,64}\\#%{TO_ADDR}|i\n";
        let raw = |second: &str| {
            format!(
                "From: alice@example.org\nTo: Bob <bob@example.com>\nSubject: hi\n\n\
                 See http://a.example.biz/x?u=bob@example.com and {second}\n"
            )
        };
        let hits =
            crate::rules::tests::hits_now(rules, &raw("http://shop.example.biz/p#BOB@example.com"));
        assert!(hits.iter().any(|h| h == "URI_TO"), "{hits:?}");
        let hits = crate::rules::tests::hits_now(
            rules,
            &raw("http://shop.example.biz/p#carol@example.com"),
        );
        assert!(!hits.iter().any(|h| h == "URI_TO"), "{hits:?}");
    }

    #[test]
    fn a_template_rule_whose_value_is_absent_is_decided_without_its_regex() {
        // Checked with SpamAssassin 4.0.1 (`spamassassin -L -t`, these rules in a site .cf):
        // URI_TO_CI, FROM_NOT_TO and BODY_OPT hit; URI_TO_CS and FROM_IS_TO do not.
        let rules = "util_rb_tld biz\n\
            header __TO_ADDR To:addr =~ /(?<TO_ADDR>.*)/\n\
            uri URI_TO_CI m|^https?://.{4,64}\\#%{TO_ADDR}|i\n\
            uri URI_TO_CS m|^https?://.{4,64}\\#%{TO_ADDR}|\n\
            header FROM_NOT_TO From:addr !~ /^%{TO_ADDR}$/\n\
            header FROM_IS_TO From:addr =~ /^%{TO_ADDR}$/\n\
            body BODY_OPT /mail for x(?:%{TO_ADDR})?y today/\n";
        let raw = "From: alice@example.org\nTo: Bob <bob@example.com>\nSubject: hi\n\n\
            Mail for nobody today: http://shop.example.biz/page#BOB@EXAMPLE.COM\n\
            mail for xy today\n";
        let hits = crate::rules::tests::hits_now(rules, raw);
        for name in ["URI_TO_CI", "FROM_NOT_TO", "BODY_OPT"] {
            assert!(hits.iter().any(|h| h == name), "{name} in {hits:?}");
        }
        for name in ["URI_TO_CS", "FROM_IS_TO"] {
            assert!(!hits.iter().any(|h| h == name), "{name} in {hits:?}");
        }
        // The regexes made: only those whose value occurs (URI_TO_CI's; BODY_OPT's template
        // is optional, so it is made too).
        let set = RuleSet::load(&[("t.cf".to_owned(), rules.to_owned())]).0;
        set.prepare_now();
        let view = crate::MessageView::parse(raw.as_bytes(), &crate::Limits::default());
        set.evaluate(&view, &crate::rules::EvalContext::default());
        let cache = set.prepared().template_cache.lock().expect("lock").len();
        assert_eq!(cache, 2);
    }

    #[test]
    fn tag_setting_groups_are_upper_case_named_groups() {
        let p = |re: &str| Pattern::new(perlre::translate(re, "").expect("translates"), false);
        assert_eq!(tags_set(&p("(?<GB_TO_ADDR>.*)")), ["GB_TO_ADDR"]);
        assert_eq!(tags_set(&p("x(?P<AB>y)(?<C2>z)")), ["AB", "C2"]);
        assert!(tags_set(&p("(?<lower>y)")).is_empty());
        assert!(tags_set(&p("(?<=a)b(?<!c)")).is_empty());
        assert!(tag_name("GB_TO_ADDR") && tag_name("A1"));
        assert!(!tag_name("a") && !tag_name("A__B") && !tag_name("A_"));
    }
}
