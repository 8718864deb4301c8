//! Small syntax helpers of the rule-file parser: comments, words, names, `if` conditions,
//! header targets.

use std::borrow::Cow;

use super::super::HeaderTarget;
use super::super::meta;
use super::{EMULATED_VERSION, UNSUPPORTED_RULE_TYPES};

pub(super) fn is_rule_keyword(kw: &str) -> bool {
    matches!(
        kw,
        "header" | "body" | "rawbody" | "uri" | "full" | "meta" | "mimeheader"
    ) || UNSUPPORTED_RULE_TYPES.iter().any(|(k, ..)| *k == kw)
}

pub(super) fn parse_if_unset(tail: &str) -> Result<Option<String>, String> {
    let tail = tail.trim();
    if tail.is_empty() {
        return Ok(None);
    }
    let inner = tail
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .map(str::trim)
        .and_then(|t| t.strip_prefix("if-unset:"));
    match inner {
        Some(v) => Ok(Some(v.trim().to_owned())),
        None => Err(format!("unexpected text after the pattern: '{tail}'")),
    }
}

/// Removes a `#` comment; `\#` is a literal `#` (as in SpamAssassin).
pub(super) fn strip_comment(line: &str) -> Cow<'_, str> {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut has_escape = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b'#') => {
                has_escape = true;
                i += 2;
            }
            b'#' => {
                let kept = &line[..i];
                return if has_escape {
                    Cow::Owned(kept.replace("\\#", "#"))
                } else {
                    Cow::Borrowed(kept)
                };
            }
            _ => i += 1,
        }
    }
    if has_escape {
        Cow::Owned(line.replace("\\#", "#"))
    } else {
        Cow::Borrowed(line)
    }
}

pub(super) fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// Evaluates an `if` condition: `version`, `perl_version`, `can(X)`, `plugin(X)` with `!`,
/// `&&`, `||`, comparisons and parentheses.
#[cfg(test)]
pub(super) fn eval_if(cond: &str) -> Result<bool, String> {
    eval_if_with(cond, &super::read_as_loaded, &|f| {
        super::FEATURES.contains(&f)
    })
}

/// [`eval_if`] with the given plugin and feature tests (to ask what SpamAssassin itself, with
/// its plugins, would do).
pub(super) fn eval_if_with(
    cond: &str,
    plugin: &dyn Fn(&str) -> bool,
    can: &dyn Fn(&str) -> bool,
) -> Result<bool, String> {
    let mut s = String::with_capacity(cond.len());
    let mut rest = cond;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("perl_version") {
            s.push_str("5.036");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("version") {
            s.push_str(&format!("{EMULATED_VERSION:.6}"));
            rest = r;
        } else if let Some(r) = rest
            .strip_prefix("can(")
            .or_else(|| rest.strip_prefix("plugin("))
        {
            let is_can = rest.starts_with("can(");
            let end = r.find(')').ok_or("missing ')'")?;
            let arg = r[..end].trim();
            let short = arg.rsplit("::").next().unwrap_or(arg);
            let yes = if is_can { can(short) } else { plugin(short) };
            s.push_str(if yes { "1" } else { "0" });
            rest = &r[end + 1..];
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            s.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    let e = meta::parse(&s)?;
    let mut bad = None;
    let mut e2 = e.clone();
    e2.for_each_ref_mut(&mut |n, _| bad = Some(n.to_owned()));
    if let Some(n) = bad {
        return Err(format!("unknown term '{n}'"));
    }
    Ok(e.eval(&|_| 0.0) != 0.0)
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Parses `exists:`-free header targets: `Subject`, `From:addr`, `ALL`, `ToCc:raw`.
impl HeaderTarget {
    pub(crate) fn parse(field: &str) -> Result<HeaderTarget, String> {
        let mut parts = field.split(':');
        let name = parts.next().unwrap_or("").to_owned();
        if name.is_empty() {
            return Err("header rule needs a field name".into());
        }
        let mut t = HeaderTarget {
            key: field.to_owned(),
            name,
            raw: false,
            addr: false,
            display_name: false,
            host: false,
            domain: false,
            first: false,
            last: false,
            every: false,
            lossy: false,
            newline: false,
        };
        for m in parts {
            match m {
                "raw" => t.raw = true,
                "addr" => t.addr = true,
                "name" => t.display_name = true,
                "host" => t.host = true,
                "domain" => t.domain = true,
                "first" => t.first = true,
                "last" => t.last = true,
                other => return Err(format!("header modifier ':{other}' is not supported")),
            }
        }
        Ok(t)
    }

    /// This target as the built-in rules read it ([`HeaderTarget::lossy`]), cached apart.
    pub(crate) fn builtin_reading(&mut self) {
        self.lossy = true;
        self.key.push_str("|lossy");
    }

    /// This target as a header rule of a loaded file reads it: a header's values end with
    /// their newline ([`HeaderTarget::newline`]), cached apart.
    pub(crate) fn sa_reading(&mut self) {
        self.newline = true;
        self.key.push_str("|nl");
    }
}

/// Perl's `$` without `/m` (the end of the text, or before a newline that ends it) in a
/// translated pattern matched against a text that ends with a newline, as SpamAssassin's
/// header values do: every `$` outside a class becomes `(?:\n?\z)`, which matches where Perl's
/// does (it takes the newline too, which no rule's match result depends on). `None` when the
/// pattern has no such `$`, or turns `m` on inline (then it is left as it is).
pub(crate) fn perl_end_dollar(pattern: &str) -> Option<String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut class = 0usize;
    let mut changed = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                out.extend(chars.next());
            }
            '[' => {
                class += 1;
                out.push(c);
                // A `]` first in a class (after an optional `^`) is literal.
                if chars.peek() == Some(&'^') {
                    out.extend(chars.next());
                }
                if chars.peek() == Some(&']') {
                    out.extend(chars.next());
                }
            }
            ']' if class > 0 => {
                class -= 1;
                out.push(c);
            }
            '(' if class == 0 && chars.peek() == Some(&'?') => {
                out.push(c);
                let flags: String = chars
                    .clone()
                    .skip(1)
                    .take_while(|f| f.is_ascii_alphabetic() || *f == '-')
                    .collect();
                if flags.split('-').next().is_some_and(|on| on.contains('m')) {
                    return None;
                }
            }
            '$' if class == 0 => {
                out.push_str("(?:\\n?\\z)");
                changed = true;
            }
            c => out.push(c),
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::perl_end_dollar;

    #[test]
    fn perl_end_dollar_rewrites_only_anchors() {
        assert_eq!(perl_end_dollar("^a$").as_deref(), Some("^a(?:\\n?\\z)"));
        assert_eq!(
            perl_end_dollar("a$|b$").as_deref(),
            Some("a(?:\\n?\\z)|b(?:\\n?\\z)")
        );
        // Escaped dollars, dollars in classes (a `]` first in a class included) stay.
        assert_eq!(perl_end_dollar("a\\$"), None);
        assert_eq!(perl_end_dollar("[$]"), None);
        assert_eq!(perl_end_dollar("[]$]x"), None);
        assert_eq!(
            perl_end_dollar("[^]$]x$").as_deref(),
            Some("[^]$]x(?:\\n?\\z)")
        );
        assert_eq!(
            perl_end_dollar("[[:alpha:]$]$").as_deref(),
            Some("[[:alpha:]$](?:\\n?\\z)")
        );
        // `m` turned on inline: left as it is.
        assert_eq!(perl_end_dollar("(?m)^a$"), None);
        assert_eq!(perl_end_dollar("(?im:a$)"), None);
        assert_eq!(
            perl_end_dollar("(?i-m:a$)").as_deref(),
            Some("(?i-m:a(?:\\n?\\z))")
        );
        assert_eq!(perl_end_dollar("abc"), None);
    }
}
