//! The linear approximation of a pattern that needs backtracking (see [`linear_approximation`]).

/// A linear-time superset of a translated pattern that needs backtracking: look-arounds are
/// dropped, back-references become `(?s:.*?)`, atomic groups plain groups, possessive
/// quantifiers greedy ones. Whatever the original matches, this matches too, so it can rule a
/// message out cheaply (and give the prefilter its literals) before the backtracking engine runs.
pub(crate) fn linear_approximation(pattern: &str) -> String {
    let c: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    // For each open group: Some(out length at its start) for a dropped look-around.
    let mut stack: Vec<Option<usize>> = Vec::new();
    let mut i = 0;
    let mut prev_quant = false;
    while i < c.len() {
        let ch = c[i];
        let quant_before = prev_quant;
        prev_quant = false;
        match ch {
            '\\' => {
                match c.get(i + 1) {
                    Some(d) if d.is_ascii_digit() && *d != '0' => {
                        out.push_str("(?s:.*?)");
                        i += 2;
                        while c.get(i).is_some_and(char::is_ascii_digit) {
                            i += 1;
                        }
                        continue;
                    }
                    Some('G' | 'K') => {}
                    Some(d) => {
                        out.push('\\');
                        out.push(*d);
                    }
                    None => out.push('\\'),
                }
                i += 2;
                continue;
            }
            '[' => {
                // Copy the class verbatim.
                let end = class_end(&c, i);
                out.extend(&c[i..end]);
                i = end;
                continue;
            }
            '(' => {
                let rest: String = c[i..c.len().min(i + 4)].iter().collect();
                if ["(?=", "(?!", "(?<=", "(?<!"]
                    .iter()
                    .any(|p| rest.starts_with(p))
                {
                    stack.push(Some(out.len()));
                    i += if rest.starts_with("(?<") { 4 } else { 3 };
                    continue;
                }
                stack.push(None);
                if rest.starts_with("(?>") {
                    out.push_str("(?:");
                    i += 3;
                    continue;
                }
                out.push('(');
                if c.get(i + 1) == Some(&'?') {
                    out.push('?');
                    i += 2;
                    continue;
                }
            }
            ')' => {
                if let Some(Some(len)) = stack.pop() {
                    out.truncate(len);
                    i += 1;
                    // A quantifier on a dropped assertion goes too.
                    if matches!(c.get(i), Some('*' | '?')) {
                        i += 1;
                    }
                    continue;
                }
                out.push(')');
            }
            '*' | '+' | '?' | '}' => {
                if ch == '+' && quant_before {
                    i += 1;
                    continue;
                }
                out.push(ch);
                prev_quant = ch != '?' || !quant_before;
            }
            _ => out.push(ch),
        }
        i += 1;
    }
    out
}

/// The position just past the class that opens at `c[start]` (`[`): translated classes escape
/// every inner `[` except POSIX names.
fn class_end(c: &[char], start: usize) -> usize {
    let mut i = start + 1;
    if c.get(i) == Some(&'^') {
        i += 1;
    }
    while i < c.len() && c[i] != ']' {
        if c[i] == '\\' {
            i += 1;
        } else if c[i] == '[' && c.get(i + 1) == Some(&':') {
            while i < c.len() && !(c[i] == ':' && c.get(i + 1) == Some(&']')) {
                i += 1;
            }
            i += 1;
        }
        i += 1;
    }
    (i + 1).min(c.len())
}

/// `pattern` (a linear pattern, as [`linear_approximation`] gives) with every counted
/// repetition whose upper bound is over [`WIDEN_OVER`] made open (`{n,m}` becomes `{n,}`): a
/// superset again, for a guard whose counted runs make an automaton over the size limit
/// (`__SPOOFED_URL`'s `[^>]{0,2048}`, `{0,1024}` and `{0,99}` of a group).
pub(crate) fn widen_counted(pattern: &str) -> String {
    widen_counted_over(pattern, WIDEN_OVER)
}

/// [`widen_counted`] with the bound `over`: counted repetitions up to `over` stay counted.
pub(crate) fn widen_counted_over(pattern: &str, over: u32) -> String {
    let c: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\\' => {
                out.extend(&c[i..(i + 2).min(c.len())]);
                i += 2;
            }
            '[' => {
                let end = class_end(&c, i);
                out.extend(&c[i..end]);
                i = end;
            }
            '{' => {
                let close = c[i..].iter().position(|&x| x == '}').map(|k| i + k);
                let body: String = close.map_or_else(String::new, |e| c[i + 1..e].iter().collect());
                let widened = body.split_once(',').and_then(|(lo, hi)| {
                    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                    (digits(lo) && digits(hi) && hi.parse::<u32>().ok()? > over)
                        .then(|| format!("{{{lo},}}"))
                });
                match (widened, close) {
                    (Some(w), Some(e)) => {
                        out.push_str(&w);
                        i = e + 1;
                    }
                    _ => {
                        out.push('{');
                        i += 1;
                    }
                }
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// Counted repetitions up to this many stay counted in [`widen_counted`]: a guard keeps them
/// exact where they are small.
const WIDEN_OVER: u32 = 32;

/// Counted runs up to this many stay counted in `Pattern::open_guard`. 8, not the 32 of
/// [`widen_counted`]: the body guards' `(?:\w{1,15}\s){0,10}` and `[\d.,\sOo]{5,20}` open
/// too (`__PCT_FOR_YOU_3`'s check 201 -> 78 ms over 7,792 texts), and all the guards together
/// ruled out 18 texts fewer of 546,008 (corpora/SA-FIDELITY.md, "Session 38").
pub(crate) const OPEN_OVER: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widens_only_large_counted_runs() {
        assert_eq!(widen_counted("a[^>]{0,2048}b"), "a[^>]{0,}b");
        assert_eq!(widen_counted("(?:x{1,1024}y){0,99}"), "(?:x{1,}y){0,}");
        // Small bounds, exact counts and open ones stay; braces in classes and escaped ones
        // are not repetitions.
        assert_eq!(widen_counted("a{2,5}b{3}c{4,}"), "a{2,5}b{3}c{4,}");
        assert_eq!(widen_counted("[{0,99}]\\{0,99}"), "[{0,99}]\\{0,99}");
        assert_eq!(widen_counted("x{0,"), "x{0,");
        // With a smaller bound, the runs over it open and those up to it stay.
        assert_eq!(
            widen_counted_over("(?:\\w{1,15}\\s){0,10}x{2,8}", 8),
            "(?:\\w{1,}\\s){0,}x{2,8}"
        );
        assert_eq!(
            widen_counted("(?:\\w{1,15}\\s){0,10}"),
            "(?:\\w{1,15}\\s){0,10}"
        );
    }
}
