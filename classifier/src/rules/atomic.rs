//! Exact rewriting of backtracking patterns for cheaper anchored attempts.

/// The pattern with every greedy run of `[^\n]` that a `\n` must follow made atomic:
/// `[^\n]+\n` becomes `(?>[^\n]+)\n` (likewise `*`, `{m,n}`, `{m,}`; the `\n` may repeat but
/// not be optional). Exact: such a run can only end at the first line break after its start
/// (every character it takes is not one, and the next must be), so only the longest run can be
/// part of a match, and giving back characters, which the backtracking engine otherwise tries
/// one by one for every line of `(?:[^\n]+\n+)*`, never helps. Perl's regex optimiser does the
/// same ("auto-possessification"). Anything else, classes included, is copied as it is. `None`
/// when nothing changes.
pub(super) fn atomic_line_runs(p: &str) -> Option<String> {
    const RUN: &str = "[^\\n]";
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len() + 16);
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let end = (i + 2).min(b.len());
                out.push_str(p.get(i..end)?);
                i = end;
            }
            b'[' if p[i..].starts_with(RUN) => {
                let q = i + RUN.len();
                let qend = quantifier_end(b, q);
                let follows_break = qend.is_some_and(|e| {
                    p[e..].starts_with("\\n")
                        && !matches!(b.get(e + 2), Some(b'?' | b'*'))
                        && !p[e + 2..].starts_with("{0")
                        && !matches!(b.get(e), Some(b'?' | b'+'))
                });
                match qend {
                    Some(e) if follows_break && !matches!(b.get(e), Some(b'?' | b'+')) => {
                        out.push_str("(?>");
                        out.push_str(&p[i..e]);
                        out.push(')');
                        changed = true;
                        i = e;
                    }
                    _ => {
                        out.push_str(RUN);
                        i = q;
                    }
                }
            }
            b'[' => {
                // Copy a class whole (a ']' first is a member; escapes and [:name:] inside).
                let start = i;
                i += 1;
                if b.get(i) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i) == Some(&b']') {
                    i += 1;
                }
                while i < b.len() && b[i] != b']' {
                    if b[i] == b'\\' {
                        i += 1;
                    } else if b[i] == b'[' && b.get(i + 1) == Some(&b':') {
                        while i < b.len() && !(b[i] == b':' && b.get(i + 1) == Some(&b']')) {
                            i += 1;
                        }
                        i += 1;
                    }
                    i += 1;
                }
                let end = (i + 1).min(b.len());
                out.push_str(p.get(start..end)?);
                i = end;
            }
            _ => {
                let ch = p[i..].chars().next()?;
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    changed.then_some(out)
}

/// The end of a greedy-or-not quantifier `*`, `+`, `{m,n}` or `{m,}` starting at `i` (not `?`,
/// nor the exact `{m}`, where there is nothing to give back); `None` when there is none.
fn quantifier_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'*' | b'+' => Some(i + 1),
        b'{' => {
            let close = i + b[i..].iter().position(|&c| c == b'}')?;
            let inner = std::str::from_utf8(&b[i + 1..close]).ok()?;
            let (lo, hi) = inner.split_once(',')?;
            let ok = !lo.is_empty()
                && lo.bytes().all(|c| c.is_ascii_digit())
                && hi.bytes().all(|c| c.is_ascii_digit());
            ok.then_some(close + 1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_runs_before_a_line_break_become_atomic() {
        assert_eq!(
            atomic_line_runs(r"\nTo: (?:[^\n]{1,100}\n+)*From: [^\n]+@\1[>\n]").as_deref(),
            Some(r"\nTo: (?:(?>[^\n]{1,100})\n+)*From: [^\n]+@\1[>\n]")
        );
        assert_eq!(
            atomic_line_runs(r"a[^\n]*\nb[^\n]+\n").as_deref(),
            Some(r"a(?>[^\n]*)\nb(?>[^\n]+)\n")
        );
        // Not followed by a required line break, lazy, possessive, exact or in a class: kept.
        for p in [
            r"[^\n]+\n?x",
            r"[^\n]+\n*x",
            r"[^\n]+\n{0,2}x",
            r"[^\n]+?\n",
            r"[^\n]++\n",
            r"[^\n]{3}\n",
            r"[^\n]+x\n",
            r"[a[^\n]+\n",
            r"\[^\n]+\n",
            r"[^\n]+",
        ] {
            assert_eq!(atomic_line_runs(p), None, "{p}");
        }
        // The same matches, captures included, on texts where backtracking matters.
        let text = "Subject: hi\nTo: a@b\nX: 1\n\nFrom: c <a@b>\n";
        let p = r"(?m)^To: ([^\n@]+)@(?:[^\n]+\n+)*From: [^\n]*\1@";
        let a = fancy_regex::Regex::new(p).expect("compiles");
        let b = fancy_regex::Regex::new(&atomic_line_runs(p).expect("rewritten")).expect("ok");
        let (ca, cb) = (
            a.captures(text).expect("runs"),
            b.captures(text).expect("runs"),
        );
        assert_eq!(ca.map(|c| c[0].to_owned()), cb.map(|c| c[0].to_owned()));
        assert!(b.is_match(text).expect("runs"));
    }
}
