//! Splitting a pattern on its main alternation (see `Pattern::alternatives`).

/// Finds the alternation to split a pattern (Rust `regex` syntax, not `x` mode) on: its
/// top-level `|`s, else those directly inside the first unquantified top-level group that has
/// any. Returns (prefix, alternatives, suffix); `None` for fewer than two alternatives, for
/// unbalanced input, or when the pattern has a `(?` group other than `(?:` (flags).
pub(super) fn split_alternation(p: &str) -> Option<(&str, Vec<&str>, &str)> {
    let b = p.as_bytes();
    let mut depth = 0usize;
    let mut class = 0usize;
    let mut top: Vec<usize> = Vec::new();
    // (group open index, content start, `|` positions directly inside) per top-level group.
    let mut open: Option<(usize, usize, Vec<usize>)> = None;
    let mut chosen: Option<(usize, usize, Vec<usize>, usize)> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if class > 0 {
            match c {
                b'[' => class += 1,
                b']' => class -= 1,
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'[' => {
                class = 1;
                // A `]` right after `[` or `[^` is a literal.
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b'(' => {
                let content = if b.get(i + 1) == Some(&b'?') {
                    if b.get(i + 2) != Some(&b':') {
                        return None;
                    }
                    i + 3
                } else {
                    i + 1
                };
                if depth == 0 {
                    open = Some((i, content, Vec::new()));
                }
                depth += 1;
                i = content;
                continue;
            }
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let (start, content, bars) = open.take()?;
                    let quantified = matches!(b.get(i + 1), Some(b'?' | b'*' | b'+' | b'{'));
                    if chosen.is_none() && !bars.is_empty() && !quantified {
                        chosen = Some((start, content, bars, i));
                    }
                }
            }
            b'|' if depth == 0 => top.push(i),
            b'|' if depth == 1 => {
                if let Some((_, _, bars)) = open.as_mut() {
                    bars.push(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    if depth != 0 || class != 0 {
        return None;
    }
    let cut = |from: usize, bars: &[usize], to: usize| -> Vec<&str> {
        let mut out = Vec::with_capacity(bars.len() + 1);
        let mut s = from;
        for &x in bars {
            out.push(&p[s..x]);
            s = x + 1;
        }
        out.push(&p[s..to]);
        out
    };
    if !top.is_empty() {
        return Some(("", cut(0, &top, p.len()), ""));
    }
    let (start, content, bars, close) = chosen?;
    Some((&p[..start], cut(content, &bars, close), &p[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::super::pattern::Pattern;
    use super::super::perlre::translate;
    use super::*;

    #[test]
    fn splits_alternations_where_exact() {
        assert_eq!(
            split_alternation(r"\b(?:a|b[|)]c|(?:d|e))\b"),
            Some((r"\b", vec!["a", "b[|)]c", "(?:d|e)"], r"\b"))
        );
        assert_eq!(
            split_alternation(r"x\||y"),
            Some(("", vec![r"x\|", "y"], ""))
        );
        assert_eq!(
            split_alternation("(?:a|b)+c|d"),
            Some(("", vec!["(?:a|b)+c", "d"], ""))
        );
        // Quantified group, flag group, no alternation, unbalanced: not split.
        assert_eq!(split_alternation("(?:a|b)*c"), None);
        assert_eq!(split_alternation("(?i:a|b)"), None);
        assert_eq!(split_alternation("abc"), None);
        assert_eq!(split_alternation("(a|b"), None);
        // Each alternative matches exactly what the whole does, alternative by alternative.
        let whole = Pattern::new(translate(r"\bbuy (?:cheap|now)\b", "i").expect("ok"), false);
        let alts = whole.alternatives().expect("splits");
        for text in [
            "Buy now!",
            "buy cheap",
            "buy nowhere",
            "abuy now",
            "nothing",
        ] {
            let any = alts.iter().any(|a| a.is_match(text));
            assert_eq!(any, whole.is_match(text), "{text}");
        }
        assert!(alts.iter().any(|a| a.is_match("BUY CHEAP")));
    }
}
