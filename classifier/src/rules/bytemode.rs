//! Byte semantics for the backtracking engine.
//!
//! SpamAssassin matches its rules against byte strings: to Perl a text's UTF-8 sequence is a
//! run of bytes, `\xd0` is one byte, `.` and `\W` match any byte outside their ASCII classes,
//! and `/i` folds ASCII letters only. The rules built from `replace_tags` (the `FUZZY_*`
//! family: `<A>` is `(?:[aA@\xc0-\xc6...]|[\xd0][\x90\xb0]|...)`) count on it, matching
//! Cyrillic and accented look-alike letters one byte at a time. The linear engine reads texts
//! as bytes already; `fancy-regex`, which the patterns with look-arounds or back-references
//! need, reads characters, so on a non-ASCII text such a pattern could never match a byte of
//! a multi-byte character (FUZZY_XPILL missed `х на каж`, which SpamAssassin hits).
//!
//! For those patterns the text is read through a view where each byte above 0x7f is one
//! character of its own, U+E080-U+E0FF in the Private Use Area (no case, not a word, digit or
//! space character, as the bytes are to Perl), and the pattern names the same characters for
//! those bytes. ASCII stays as it is, so on an ASCII text nothing changes.

use std::borrow::Cow;
use std::cell::RefCell;

/// The first character of the bytes' range: byte `b` (0x80..=0xff) is `BASE + b`.
const BASE: u32 = 0xE000;

/// The pattern for [`view`] texts, when it names bytes above 0x7f (`\xHH`, `\x{HH}` or a
/// literal non-ASCII character, each of whose UTF-8 bytes is one byte to Perl); `None` when it
/// names none (then byte and character readings differ only in classes and case folding on
/// non-ASCII letters, which are left as they are).
pub(super) fn pattern(p: &str) -> Option<String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 16);
    let mut found = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            if chars[i + 1] == 'x' {
                let (value, len) = hex_escape(&chars[i + 2..]);
                if let Some(v) = value.filter(|v| (0x80..=0xff).contains(v)) {
                    push_byte(&mut out, v);
                    found = true;
                    i += 2 + len;
                    continue;
                }
            }
            out.push(c);
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for &b in c.encode_utf8(&mut buf).as_bytes() {
                push_byte(&mut out, u32::from(b));
            }
            found = true;
        }
        i += 1;
    }
    found.then_some(out)
}

/// The value of a `\x` escape's digits (`HH`, one or two hex digits, or `{...}`) and how many
/// characters they take.
pub(super) fn hex_escape(rest: &[char]) -> (Option<u32>, usize) {
    if rest.first() == Some(&'{') {
        let Some(end) = rest.iter().position(|&c| c == '}') else {
            return (None, 0);
        };
        let digits: String = rest[1..end].iter().filter(|c| !c.is_whitespace()).collect();
        return (u32::from_str_radix(&digits, 16).ok(), end + 1);
    }
    let n = rest
        .iter()
        .take(2)
        .take_while(|c| c.is_ascii_hexdigit())
        .count();
    let digits: String = rest[..n].iter().collect();
    (u32::from_str_radix(&digits, 16).ok(), n)
}

/// The escape of a character below U+0100 as two hex digits (`\xe9`), which the engines that
/// read bytes take as a byte, as Perl does (a braced `\x{e9}` is a code point to them: its
/// UTF-8 bytes); any other braced.
pub(super) fn byte_escape(v: u32) -> String {
    if v <= 0xFF {
        format!("\\x{v:02x}")
    } else {
        format!("\\x{{{v:x}}}")
    }
}

/// The value of a braced hex escape's digits starting at `src[pos]` (`{e9}`), when below
/// 0x100, and where the escape ends.
pub(super) fn braced_byte(src: &[char], pos: usize) -> Option<(u32, usize)> {
    if src.get(pos) != Some(&'{') {
        return None;
    }
    let (value, len) = hex_escape(&src[pos..]);
    value.filter(|&v| v <= 0xFF).map(|v| (v, pos + len))
}

fn push_byte(out: &mut String, b: u32) {
    out.push_str(&format!("\\x{{{:X}}}", BASE + b));
}

thread_local! {
    /// The last text viewed on this thread and its view: the rules of one message read the
    /// same few texts one after another.
    static LAST: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
}

/// Calls `f` with `text` as [`pattern`]'s patterns read it: each byte above 0x7f one
/// character U+E080-U+E0FF.
pub(super) fn with_view<R>(text: &str, f: impl FnOnce(&str) -> R) -> R {
    if text.is_ascii() {
        return f(text);
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != text {
            last.0.clear();
            last.0.push_str(text);
            last.1 = view(text).into_owned();
        }
        f(&last.1)
    })
}

/// `text` with each byte above 0x7f as one character U+E080-U+E0FF.
pub(super) fn view(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let mut s = String::with_capacity(text.len() * 2);
    for &b in text.as_bytes() {
        if b.is_ascii() {
            s.push(char::from(b));
        } else {
            s.extend(char::from_u32(BASE + u32::from(b)));
        }
    }
    Cow::Owned(s)
}

/// `text`, a Perl byte string's characters (none above U+00FF), with each character
/// U+0080-U+00FF as the view's character for that byte: how [`pattern`]'s patterns read
/// SpamAssassin's body when no part of it was decoded (`Env::latin1_body`).
pub(super) fn latin1_view(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match u32::from(c) {
                b @ 0x80..=0xff => char::from_u32(BASE + b).unwrap_or(c),
                _ => c,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fancy(p: &str) -> fancy_regex::Regex {
        fancy_regex::Regex::new(p).expect("compiles")
    }

    #[test]
    fn high_byte_escapes_and_literals_name_the_views_characters() {
        assert_eq!(pattern("a\\x41b"), None);
        assert_eq!(
            pattern("\\\\xd0").as_deref(),
            None,
            "an escaped backslash, then 'xd0'"
        );
        assert_eq!(
            pattern("[\\xd0][\\x90\\xb0]").as_deref(),
            Some("[\\x{E0D0}][\\x{E090}\\x{E0B0}]")
        );
        assert_eq!(
            pattern("\\x{e9}|\\x{0441}").as_deref(),
            Some("\\x{E0E9}|\\x{0441}")
        );
        assert_eq!(pattern("é").as_deref(), Some("\\x{E0C3}\\x{E0A9}"));
    }

    #[test]
    fn bytes_match_as_perl_matches_them() {
        // FUZZY_XPILL's shape on `х на каж` (U+0445, U+043D U+0430, U+043A U+0430 U+0436):
        // `\W` takes the bytes of `н`, the single byte \xd0 stands for an N.
        let x = "(?:[xX]|[\\xd1][\\x85]|[\\xd0][\\xb6]){1,2}";
        let a = "(?:[aA]|[\\xd0][\\x90\\xb0]){1,2}";
        let n = "(?:[nN\\xd0]){1,2}";
        let p = format!("(?i)(?!xanax){x}\\W{{0,3}}{a}\\W{{0,3}}{n}\\W{{0,3}}{a}\\W{{0,3}}{x}");
        let text = "1 х на каж 2";
        assert!(
            !fancy(&p).is_match(text).expect("within the limit"),
            "characters: no match"
        );
        let re = fancy(&pattern(&p).expect("names bytes"));
        assert!(with_view(text, |v| re
            .is_match(v)
            .expect("within the limit")));
        assert!(
            !with_view("xanax", |v| re.is_match(v).expect("within the limit")),
            "the look-ahead holds"
        );
        // `/i` folds ASCII letters only: \xd1 is no \xf1.
        let re = fancy(&pattern("(?i)(?=.)\\xd1\\x85").expect("names bytes"));
        assert!(with_view("х", |v| re
            .is_match(v)
            .expect("within the limit")));
        assert!(!with_view("\u{45000}", |v| re
            .is_match(v)
            .expect("within the limit")));
        // The view of one text is reused, of another rebuilt.
        assert!(with_view("ñ", |v| v == "\u{E0C3}\u{E0B1}"));
        assert!(with_view("é", |v| v == "\u{E0C3}\u{E0A9}"));
        assert_eq!(view("abc"), "abc");
    }
}
