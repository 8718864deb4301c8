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
                // Copy the class verbatim (translated classes escape every inner '[' except
                // POSIX names).
                let start = i;
                i += 1;
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
                let end = (i + 1).min(c.len());
                out.extend(&c[start..end]);
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
