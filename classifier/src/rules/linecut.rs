//! Patterns that relate two header lines, matched on those lines alone.
//!
//! SpamAssassin's costliest header rules compare two lines of the header block with a
//! back-reference: `ALL =~ /\nFrom: ...([^\n\s>]+)>?\n+(?:[^\n]{1,100}\n+)*To: ...\1.../`
//! (`__TO_EQ_FROM_*`, `__SUBJ_HAS_TO_*`, `__SUBJ_HAS_FROM_1`). The backtracking engine walks
//! the whole header block from every line that can start a match, line by line through the
//! loop in the middle, back and forth, although only the lines starting with the two names
//! can take part. [`LineCut`] gives it a text of those lines alone, when the pattern's shape
//! makes the answer the same:
//!
//! * the pattern is `\nNAME1` + P + LOOP + NAME2 + S, with LOOP `(?:[^\n]+\n+)*` or
//!   `(?:[^\n]{1,N}\n+)*` once, outside any group, and no `|` outside a group;
//! * P may end with `\n+`, S with one character class; nothing else in P or S can match a line
//!   break or look past its line (every class excludes `\n`, no `.` under `/s`, no `\s`, `\W`,
//!   `\D`, no look-behind, no `$` or `\z` at the text's end, no inline flags).
//!
//! Then a match starts at a line beginning with NAME1, P stays on that line (and its line
//! breaks), the loop skips whole lines of 1 to N characters (and the empty ones `\n+` takes),
//! and S stays on a line beginning with NAME2 (or on the first line, where P ends without a
//! line break). So the lines the cut keeps are those beginning with either name and, for a
//! bounded loop, every line longer than N bytes (a line the loop cannot skip stays a barrier);
//! the lines left out are each one the loop skips. Keeping a line is always safe, so names are
//! compared without case. A match in the whole text is a match in the cut one (the same lines,
//! fewer loop turns) and back (the left-out lines are loop turns), so the answer is the same.

use std::borrow::Cow;

use super::perlre::Flags;

/// The pattern of the loop over whole lines: `(?:[^\n]+\n+)*`, or bounded as `{1,N}`.
const LOOP_OPEN: &str = "(?:[^\\n]";
const LOOP_CLOSE: &str = "\\n+)*";

/// The cut of a pattern's text (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineCut {
    /// The first line's name (`Received:`), lower-cased.
    first: Vec<u8>,
    /// The second line's name (`Subject: `), lower-cased.
    second: Vec<u8>,
    /// The loop's longest line, when bounded: longer lines are kept.
    max_line: Option<usize>,
}

impl LineCut {
    /// The cut for a translated pattern, if its shape allows one. The flags: under `/x`
    /// spaces are not literal, under `/s` `.` takes a line break, without `/m` `$` reads the
    /// text's end.
    pub(crate) fn of(pattern: &str, f: Flags) -> Option<LineCut> {
        if f.x {
            return None;
        }
        let (at, len, max_line) = find_loop(pattern)?;
        let (p, rest) = (&pattern[..at], &pattern[at + len..]);
        if find_loop(rest).is_some() {
            return None;
        }
        let p = p.strip_prefix("\\n")?;
        let (first, p_rest) = name(p)?;
        let p_rest = p_rest.strip_suffix("\\n+").unwrap_or(p_rest);
        let (second, s_rest) = name(rest)?;
        let s_rest = strip_last_class(s_rest);
        if !line_local(p_rest, f) || !line_local(s_rest, f) || !outer_alternation_free(pattern) {
            return None;
        }
        Some(LineCut {
            first,
            second,
            max_line,
        })
    }

    /// `text` with only the lines a match can use, each whole with its line break, and a
    /// line break first when the first kept line is not the text's first; borrowed when every
    /// line is kept.
    pub(crate) fn cut<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let b = text.as_bytes();
        let mut out = String::new();
        let mut dropped = false;
        let mut start = 0;
        while start < b.len() {
            let end = memchr::memchr(b'\n', &b[start..]).map_or(b.len(), |i| start + i + 1);
            let line = &b[start..end];
            let content = line.len() - usize::from(line.ends_with(b"\n"));
            let keep = starts_with_nocase(line, &self.first)
                || starts_with_nocase(line, &self.second)
                || self.max_line.is_some_and(|n| content > n);
            if keep {
                if out.is_empty() && start > 0 {
                    out.push('\n');
                }
                // Line starts and ends are at ASCII bytes: char boundaries.
                out.push_str(text.get(start..end).unwrap_or_default());
            } else {
                dropped = true;
            }
            start = end;
        }
        if dropped {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(text)
        }
    }
}

/// Whether `line` can start with `name` as the engine reads it: ASCII case folded, or any
/// line whose first characters are not all ASCII (Unicode case folding takes `ſ` for `s` and
/// the Kelvin sign for `k`: such a line is kept).
fn starts_with_nocase(line: &[u8], name: &[u8]) -> bool {
    let head = &line[..line.len().min(name.len() * 4)];
    !head.is_ascii() || line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name)
}

/// The loop's position, length and bound (`None`: unbounded) in `pattern`, outside groups.
fn find_loop(pattern: &str) -> Option<(usize, usize, Option<usize>)> {
    let mut from = 0;
    while let Some(i) = pattern[from..].find(LOOP_OPEN) {
        let at = from + i;
        from = at + 1;
        let after = &pattern[at + LOOP_OPEN.len()..];
        let (bound, rest) = if let Some(r) = after.strip_prefix('+') {
            (None, r)
        } else if let Some(r) = after.strip_prefix("{1,") {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            let n: usize = r[..digits].parse().ok()?;
            (Some(n), r[digits..].strip_prefix('}')?)
        } else {
            continue;
        };
        // Not possessive (`*+`): a loop that gives nothing back is not read here.
        if rest.starts_with(LOOP_CLOSE)
            && !rest[LOOP_CLOSE.len()..].starts_with('+')
            && depth_at(pattern, at) == Some(0)
        {
            let len = pattern.len() - rest.len() + LOOP_CLOSE.len() - at;
            return Some((at, len, bound));
        }
    }
    None
}

/// The group depth at byte `at` of `pattern` (escapes and classes skipped); `None` when the
/// pattern is malformed before it.
fn depth_at(pattern: &str, at: usize) -> Option<usize> {
    let b = pattern.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    while i < at {
        match b[i] {
            b'\\' => i += 1,
            b'[' => i = class_end(b, i)?,
            b'(' => depth += 1,
            b')' => depth = depth.checked_sub(1)?,
            _ => {}
        }
        i += 1;
    }
    Some(depth)
}

/// Whether `pattern` has no `|` outside a group.
fn outer_alternation_free(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' => match class_end(b, i) {
                Some(e) => i = e,
                None => return false,
            },
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'|' if depth == 0 => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

/// The index of the `]` closing the class opened at `open`.
fn class_end(b: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if b.get(i) == Some(&b'^') {
        i += 1;
    }
    // A `]` first in the class is a literal.
    if b.get(i) == Some(&b']') {
        i += 1;
    }
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' => return None, // nested or POSIX classes: not read here
            b']' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The literal header name a part starts with (letters, digits, `-`, `_`, `:` and spaces, at
/// least three, none under a quantifier), lower-cased, and the rest of the part.
fn name(part: &str) -> Option<(Vec<u8>, &str)> {
    let b = part.as_bytes();
    let mut n = b
        .iter()
        .take_while(|&&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b':' | b' '))
        .count();
    if matches!(b.get(n), Some(b'?' | b'*' | b'+' | b'{')) {
        n = n.saturating_sub(1);
    }
    (n >= 3).then(|| (b[..n].to_ascii_lowercase(), &part[n..]))
}

/// `part` without a character class that ends it.
fn strip_last_class(part: &str) -> &str {
    let b = part.as_bytes();
    if !part.ends_with(']') {
        return part;
    }
    // The last class's opening: the `[` whose class ends at the last byte.
    (0..b.len())
        .filter(|&i| b[i] == b'[' && (i == 0 || b[i - 1] != b'\\'))
        .find(|&i| class_end(b, i) == Some(b.len() - 1) && depth_at(part, i).is_some())
        .map_or(part, |i| &part[..i])
}

/// Whether nothing in `part` can match a line break or look past its line: see the module
/// documentation. Conservative: anything not known to stay on the line says no.
fn line_local(part: &str, f: Flags) -> bool {
    let b = part.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let Some(&c) = b.get(i + 1) else {
                    return false;
                };
                if c == b'x' {
                    match hex_escape(&b[i..]) {
                        Some((v, len)) if v != u32::from(b'\n') => i += len,
                        _ => return false,
                    }
                    continue;
                }
                if !escape_on_line(c) {
                    return false;
                }
                i += 2;
                continue;
            }
            b'[' => {
                let Some(end) = class_end(b, i) else {
                    return false;
                };
                if !class_on_line(&b[i..=end]) {
                    return false;
                }
                i = end + 1;
                continue;
            }
            // Only non-capturing groups and look-aheads: no look-behind, no inline flags.
            b'(' if b.get(i + 1) == Some(&b'?')
                && !matches!(b.get(i + 2), Some(b':' | b'=' | b'!')) =>
            {
                return false;
            }
            b'.' if f.s => return false,
            b'$' if !f.m => return false,
            b'\n' => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

/// The value and length of a `\xHH` or `\x{H...}` escape at the start of `b`.
fn hex_escape(b: &[u8]) -> Option<(u32, usize)> {
    let rest = b.strip_prefix(b"\\x")?;
    let (digits, len) = if let Some(r) = rest.strip_prefix(b"{") {
        let n = r.iter().position(|&c| c == b'}')?;
        (&r[..n], n + 4)
    } else {
        let n = rest
            .iter()
            .take(2)
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        (&rest[..n], n + 2)
    };
    let v = u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
    Some((v, len))
}

/// Whether the escape `\c` outside a class matches no line break and reads no text end.
fn escape_on_line(c: u8) -> bool {
    matches!(
        c,
        b'd' | b'w' | b'S' | b'b' | b'B' | b't' | b'r' | b'f' | b'e'
    ) || c.is_ascii_digit() && c != b'0'
        || c.is_ascii_punctuation()
}

/// Whether a class (its text, brackets included) excludes the line break.
fn class_on_line(class: &[u8]) -> bool {
    let inner = &class[1..class.len() - 1];
    let (negated, inner) = match inner.strip_prefix(b"^") {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    if inner.contains(&b'\n') {
        return negated;
    }
    if negated {
        // `[^...]` excludes the line break only if it names it.
        return inner.windows(2).any(|w| w == b"\\n");
    }
    // A positive class: only escapes known not to name a line break, and no range that
    // starts below it (ranges of printable characters only).
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == b'\\' {
            let Some(&c) = inner.get(i + 1) else {
                return false;
            };
            if !matches!(c, b'd' | b'w' | b'S' | b't' | b'r') && !c.is_ascii_punctuation() {
                return false;
            }
            i += 2;
            continue;
        }
        if !inner[i].is_ascii_graphic() && inner[i] != b' ' && inner[i].is_ascii() {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
#[path = "linecut_tests.rs"]
mod tests;
