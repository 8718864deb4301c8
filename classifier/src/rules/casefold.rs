//! Case folding of the Latin-1 bytes that a `/i` pattern names.
//!
//! SpamAssassin compiles its rules with `/aa` (`Util::compile_regexp`, Bug 6802): `\w`, `\d`,
//! `\s` and `\b` stay ASCII, but `/i` folds by Unicode's rules, and a byte string's bytes are
//! the code points U+0080-U+00FF to Perl. So under `/i` the byte `\xE9` (é) also matches
//! `\xC9` (É), in every text SpamAssassin matches (all byte strings: a UTF-8 body's bytes
//! fold too, `/caf\xE3/i` matching the `\xC3` of `café`). `/aa` keeps ASCII and non-ASCII
//! apart (no `ß` for `ss`, no Kelvin sign for `k`), which leaves the 60 one-to-one pairs
//! U+00C0-U+00DE and U+00E0-U+00FE (not × and ÷). The engines here fold ASCII only when they
//! read bytes, so [`fold_latin1`] writes each such byte's other case into the pattern.

/// The other case of a Latin-1 letter's byte, if it has one that is a byte.
fn other_case(b: u32) -> Option<u32> {
    match b {
        0xC0..=0xDE if b != 0xD7 => Some(b + 0x20),
        0xE0..=0xFE if b != 0xF7 => Some(b - 0x20),
        _ => None,
    }
}

/// `pattern` (Rust `regex` syntax, as [`super::perlre::translate`] writes it) with every byte
/// escape `\xHH` / `\x{HH}` of a Latin-1 letter that `/i` reads matching its other case too:
/// outside a class `[\xe9\xc9]`, inside one the other cases of its members and ranges added
/// before its `]`. `/i` holds where `fold` (the rule's flag) says, changed by inline flags:
/// `(?i:...)` and `(?-i:...)` for their group, `(?i)` and `(?-i)` for the rest of theirs.
/// `None` when nothing changed.
pub(super) fn fold_latin1(pattern: &str, fold: bool) -> Option<String> {
    let c: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut changed = false;
    let mut fold = fold;
    // The state to go back to at each open group's `)`.
    let mut groups: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\\' if c.get(i + 1) == Some(&'x') => {
                let (value, end) = hex_escape(&c, i + 2);
                match value.and_then(other_case).filter(|_| fold) {
                    Some(w) => {
                        let v = value.unwrap_or_default();
                        out.push_str(&format!("[\\x{v:02x}\\x{w:02x}]"));
                        changed = true;
                    }
                    None => out.extend(&c[i..end]),
                }
                i = end;
            }
            '\\' => {
                let end = escape_end(&c, i);
                out.extend(&c[i..end]);
                i = end;
            }
            '[' => {
                let (end, added) = class(&c, i, &mut out, fold);
                changed |= added;
                i = end;
            }
            '(' => {
                let (end, inline) = inline_flags(&c, i);
                out.extend(&c[i..end]);
                match (inline, c.get(end.wrapping_sub(1))) {
                    // `(?i)`: the rest of the enclosing group.
                    (Some(f), Some(')')) => fold = f,
                    (Some(f), _) => {
                        groups.push(fold);
                        fold = f;
                    }
                    (None, _) => groups.push(fold),
                }
                i = end;
            }
            ')' => {
                fold = groups.pop().unwrap_or(fold);
                out.push(')');
                i += 1;
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

/// At a `(`: where its flag group ends (after the `:` of `(?i-s:` or the `)` of `(?i)`) and
/// whether it turns `i` on or off; just past the `(` and `None` for any other group, or flags
/// that leave `i` as it is.
fn inline_flags(c: &[char], at: usize) -> (usize, Option<bool>) {
    if c.get(at + 1) != Some(&'?') {
        return (at + 1, None);
    }
    let mut k = at + 2;
    let mut on = true;
    let mut fold = None;
    while let Some(&ch) = c.get(k) {
        match ch {
            '-' => on = false,
            'i' => fold = Some(on),
            ':' | ')' if k > at + 2 => return (k + 1, fold),
            ch if ch.is_ascii_alphabetic() => {}
            _ => break,
        }
        k += 1;
    }
    (at + 1, None)
}

/// Copies the class starting at `c[start]` (`[`) to `out`, with (if `fold`) the other cases of
/// its Latin-1 letters' bytes added before its `]`; returns where it ends and whether any was
/// added.
fn class(c: &[char], start: usize, out: &mut String, fold: bool) -> (usize, bool) {
    let mut i = start + 1;
    out.push('[');
    if c.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    // The values of the members that are one character, and of the ranges.
    let mut spans: Vec<(u32, u32)> = Vec::new();
    let mut last: Option<u32> = None;
    let mut first = true;
    while i < c.len() {
        let ch = c[i];
        if ch == ']' && !first {
            break;
        }
        first = false;
        if ch == '[' && c.get(i + 1) == Some(&':') {
            // A POSIX class: `[:alpha:]`.
            let end = (i + 2..c.len().saturating_sub(1))
                .find(|&k| c[k] == ':' && c[k + 1] == ']')
                .map_or(c.len(), |k| k + 2);
            out.extend(&c[i..end]);
            i = end;
            last = None;
            continue;
        }
        if ch == '-' && last.is_some() && c.get(i + 1).is_some_and(|&n| n != ']') {
            let (hi, end) = member(c, i + 1);
            out.extend(&c[i..end]);
            if let (Some(lo), Some(hi)) = (last, hi) {
                spans.pop();
                spans.push((lo, hi));
            }
            last = None;
            i = end;
            continue;
        }
        let (value, end) = member(c, i);
        out.extend(&c[i..end]);
        if let Some(v) = value {
            spans.push((v, v));
        }
        last = value;
        i = end;
    }
    let mut added = false;
    for &(lo, hi) in spans.iter().filter(|_| fold) {
        for b in lo.max(0xC0)..=hi.min(0xFE) {
            if let Some(w) =
                other_case(b).filter(|w| !spans.iter().any(|&(l, h)| (l..=h).contains(w)))
            {
                out.push_str(&format!("\\x{w:02x}"));
                added = true;
            }
        }
    }
    if i < c.len() {
        out.push(']');
        i += 1;
    }
    (i, added)
}

/// One class member at `c[i]`: its value when it is one character, and where it ends.
fn member(c: &[char], i: usize) -> (Option<u32>, usize) {
    match c[i] {
        '\\' if c.get(i + 1) == Some(&'x') => hex_escape(c, i + 2),
        '\\' => {
            let end = escape_end(c, i);
            let value = match c.get(i + 1) {
                Some(&e) if end == i + 2 && !e.is_ascii_alphanumeric() => Some(u32::from(e)),
                Some('n') => Some(0x0A),
                Some('r') => Some(0x0D),
                Some('t') => Some(0x09),
                Some('f') => Some(0x0C),
                Some('a') => Some(0x07),
                _ => None,
            };
            (value, end)
        }
        ch => (Some(u32::from(ch)), i + 1),
    }
}

/// [`super::bytemode::hex_escape`] on the digits starting at `c[i]`: their value, and where
/// the escape ends.
fn hex_escape(c: &[char], i: usize) -> (Option<u32>, usize) {
    let (value, len) = super::bytemode::hex_escape(c.get(i..).unwrap_or_default());
    (value, i + len)
}

/// Where the escape starting at `c[i]` (a backslash) ends: `\p{..}` and `\P{..}` with their
/// braces, anything else with its one character.
fn escape_end(c: &[char], i: usize) -> usize {
    match c.get(i + 1) {
        Some('p' | 'P') if c.get(i + 2) == Some(&'{') => (i + 3..c.len())
            .find(|&k| c[k] == '}')
            .map_or(c.len(), |k| k + 1),
        Some(_) => i + 2,
        None => i + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::fold_latin1;

    #[test]
    fn latin1_letters_gain_their_other_case() {
        let fold_latin1 = |p: &str| fold_latin1(p, true);
        assert_eq!(fold_latin1(r"caf\xe9"), Some(r"caf[\xe9\xc9]".to_owned()));
        assert_eq!(fold_latin1(r"\x{C9}+"), Some(r"[\xc9\xe9]+".to_owned()));
        // Not letters, or no byte for the other case: left as they are.
        assert_eq!(fold_latin1(r"\xd7\xf7\xb5\xff\xdf\x41"), None);
        assert_eq!(
            fold_latin1(r"[i1!|l\xEC-\xEF]"),
            Some(r"[i1!|l\xEC-\xEF\xcc\xcd\xce\xcf]".to_owned())
        );
        // Both cases there already; a negated class excludes both.
        assert_eq!(fold_latin1(r"[\xe9\xc9]"), None);
        assert_eq!(fold_latin1(r"[^\x{e0}]"), Some(r"[^\x{e0}\xc0]".to_owned()));
        // A range across the letters, escapes and POSIX classes kept.
        assert_eq!(
            fold_latin1(r"[[:alpha:]\]\xde-\xe1]\p{L}"),
            Some(r"[[:alpha:]\]\xde-\xe1\xfe\xc0\xc1]\p{L}".to_owned())
        );
        assert_eq!(fold_latin1(r"[\x80-\xbf]\w\x{2019}"), None);
        // Inline flags: for their group, or for the rest of the enclosing one.
        assert_eq!(
            super::fold_latin1(r"\xe9(?i:a\xe9(?-i:\xe9)\xe9)\xe9", false),
            Some(r"\xe9(?i:a[\xe9\xc9](?-i:\xe9)[\xe9\xc9])\xe9".to_owned())
        );
        assert_eq!(
            super::fold_latin1(r"(\xe9(?i)\xe9)\xe9(?-i)\xe9", false),
            Some(r"(\xe9(?i)[\xe9\xc9])\xe9(?-i)\xe9".to_owned())
        );
        assert_eq!(super::fold_latin1(r"(?:\xe9)(?=\xe9)", false), None);
    }

    /// SpamAssassin 4.0.1's hits (`spamassassin -L -t --cf`): a UTF-8 body's bytes fold
    /// (`é` is `\xC3\xA9`, so `/caf\xE3/i` matches), the byte after them does not, and a
    /// Latin-1 body's `\xE9` matches `/CAF\xC9/i`, and an inline `(?i)` as well.
    #[test]
    fn rules_fold_the_bytes_they_read() {
        let rules = "body ZZ_U1 /caf\\xE3/i\nbody ZZ_U2 /caf\\xC3/i\n\
                     body ZZ_U3 /caf\\xC3\\x89/i\nrawbody ZZ_R1 /caf\\xE3/i\n\
                     body ZZ_CASE /caf\\xE3/\n";
        let utf8 = "From: a@b.example\nSubject: hello\nContent-Type: text/plain; charset=utf-8\n\
                    Content-Transfer-Encoding: 8bit\n\ncaf\u{e9} x\n";
        let mut h = crate::rules::tests::hits_now(rules, utf8);
        h.sort();
        assert_eq!(h, ["ZZ_R1", "ZZ_U1", "ZZ_U2"]);
        let latin1 = "From: a@b.example\nSubject: hello\nContent-Type: text/html; \
                      charset=us-ascii\n\n<html><body><p>caf&eacute; x</p></body></html>\n";
        let h = crate::rules::tests::hits_now("body ZZ_IE /CAF\\xC9/i\n", latin1);
        assert_eq!(h, ["ZZ_IE"]);
        let inline = "body ZZ_I1 /caf(?i:\\xC9)/\nbody ZZ_I2 /caf(?i)\\xC9/\n\
                      body ZZ_I3 /caf(?-i:\\xC9)/i\nbody ZZ_I4 /caf\\xC9/\n";
        let mut h = crate::rules::tests::hits_now(inline, latin1);
        h.sort();
        assert_eq!(h, ["ZZ_I1", "ZZ_I2"]);
    }
}
