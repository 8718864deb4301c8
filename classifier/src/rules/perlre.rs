//! Perl regular expressions, as SpamAssassin rule files write them, translated for Rust engines.
//!
//! SpamAssassin rules are Perl `m/.../flags` patterns. Most of Perl's syntax maps one to one onto
//! the `regex` crate; the differences handled here are:
//!
//! * delimiters (`/re/`, `m{re}`, `m!re!`, ...) and flags (`i m s x`; `g o` are meaningless for
//!   a match and dropped);
//! * Perl's looser literal rules: a `{` that does not start a quantifier, escaped punctuation
//!   that Rust gives a meaning to (`\<`, `\>`), `[` and `&&`/`--`/`~~` inside classes, a `-`
//!   after a class escape (`[\w-.]`);
//! * escapes Rust lacks: `\h`, `\v`, `\R`, `\e`, `\Z`, octal `\012`, `\Q..\E`, `\N`.
//!
//! Patterns that need backtracking (look-around, back-references, atomic groups, possessive
//! quantifiers) are marked so the caller can use the bounded `fancy-regex` engine. Features no
//! Rust engine has (embedded code `(?{..})`, recursion, conditionals, case-changing escapes) are
//! reported as unsupported and the rule is skipped.
//!
//! Character classes, `\w`, `\d`, `\s` and `\b` are ASCII, as they are for SpamAssassin's byte
//! strings: this also keeps the lazy DFA fast (a Unicode `\b` makes it give up on non-ASCII text).

/// Regex flags that survive translation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    /// `i`: case-insensitive.
    pub i: bool,
    /// `m`: `^`/`$` match at line boundaries.
    pub m: bool,
    /// `s`: `.` matches a newline.
    pub s: bool,
    /// `x`: extended syntax (whitespace and comments ignored).
    pub x: bool,
}

/// A Perl pattern translated to Rust syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Translated {
    /// The pattern body in Rust `regex` syntax, without flags.
    pub pattern: String,
    /// The flags given after the closing delimiter.
    pub flags: Flags,
    /// True when the pattern needs a backtracking engine (look-around, back-references...).
    pub needs_backtracking: bool,
}

/// Splits `text` that starts with a delimited pattern (`/re/flags`, `m{re}flags`, `m!re!`) into
/// the pattern body, its flags and whatever follows.
pub(crate) fn split_delimited(text: &str) -> Result<(&str, &str, &str), String> {
    let text = text.trim_start();
    let (open_at, open) = if let Some(rest) = text.strip_prefix('m') {
        match rest.chars().next() {
            Some(c) if !c.is_alphanumeric() && !c.is_whitespace() => (1, c),
            _ => return Err("expected a pattern like /regex/ or m{regex}".to_owned()),
        }
    } else if text.starts_with('/') {
        (0, '/')
    } else {
        return Err("expected a pattern like /regex/ or m{regex}".to_owned());
    };
    let close = match open {
        '{' => '}',
        '(' => ')',
        '[' => ']',
        '<' => '>',
        c => c,
    };
    let body_start = open_at + open.len_utf8();
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = body_start;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if open != close && c as char == open {
            depth += 1;
        } else if c as char == close {
            if depth == 0 {
                let body = &text[body_start..i];
                let after = &text[i + 1..];
                let flags_len = after
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(after.len());
                return Ok((body, &after[..flags_len], &after[flags_len..]));
            }
            depth -= 1;
        }
        i += 1;
    }
    Err(format!("pattern has no closing '{close}'"))
}

/// Parses Perl flags; `g` and `o` are accepted and ignored.
pub(crate) fn parse_flags(flags: &str) -> Result<Flags, String> {
    let mut f = Flags::default();
    for c in flags.chars() {
        match c {
            'i' => f.i = true,
            'm' => f.m = true,
            's' => f.s = true,
            'x' => f.x = true,
            'g' | 'o' => {}
            other => return Err(format!("unsupported regex flag '{other}'")),
        }
    }
    Ok(f)
}

/// Translates a Perl pattern body (between the delimiters) with the given delimiter-free flags.
pub(crate) fn translate(body: &str, flags: &str) -> Result<Translated, String> {
    let flags = parse_flags(flags)?;
    let mut t = Translator {
        src: body.chars().collect(),
        pos: 0,
        out: String::with_capacity(body.len() + 8),
        needs_backtracking: false,
    };
    t.run()?;
    // `/i` (or an inline `(?i)`) folds the Latin-1 letters' bytes too (SpamAssassin's `/aa`).
    let pattern = super::casefold::fold_latin1(&t.out, flags.i).unwrap_or(t.out);
    Ok(Translated {
        pattern,
        flags,
        needs_backtracking: t.needs_backtracking,
    })
}

struct Translator {
    src: Vec<char>,
    pos: usize,
    out: String,
    needs_backtracking: bool,
}

/// Characters that are special outside a class in Rust's syntax and keep their escape.
const META: &str = "\\.+*?()|[]{}^$#&-~";

impl Translator {
    fn peek(&self, off: usize) -> Option<char> {
        self.src.get(self.pos + off).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.peek(k) == Some(c))
    }

    fn push_literal(&mut self, c: char) {
        if META.contains(c) || c.is_whitespace() {
            self.out.push_str(&format!("\\x{{{:x}}}", c as u32));
        } else {
            self.out.push(c);
        }
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some(c) = self.peek(0) {
            match c {
                '\\' => self.escape_outside()?,
                '[' => self.class()?,
                '(' => self.group()?,
                '{' => {
                    if let Some(len) = self.quantifier_len() {
                        for _ in 0..len {
                            let ch = self.src[self.pos];
                            self.out.push(ch);
                            self.pos += 1;
                        }
                        self.after_quantifier();
                    } else {
                        self.out.push_str("\\{");
                        self.pos += 1;
                    }
                }
                '}' => {
                    self.out.push_str("\\}");
                    self.pos += 1;
                }
                '*' | '+' | '?' => {
                    self.out.push(c);
                    self.pos += 1;
                    self.after_quantifier();
                }
                _ => {
                    self.out.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(())
    }

    /// After a quantifier: a lazy `?` is kept, a possessive `+` needs backtracking.
    fn after_quantifier(&mut self) {
        match self.peek(0) {
            Some('?') => {
                self.out.push('?');
                self.pos += 1;
            }
            Some('+') => {
                self.out.push('+');
                self.pos += 1;
                self.needs_backtracking = true;
            }
            _ => {}
        }
    }

    /// Length of a `{n}`, `{n,}` or `{n,m}` quantifier at the cursor, if there is one.
    fn quantifier_len(&self) -> Option<usize> {
        let mut k = 1;
        let digits = |k: &mut usize| {
            let start = *k;
            while self.peek(*k).is_some_and(|c| c.is_ascii_digit()) {
                *k += 1;
            }
            *k > start
        };
        if !digits(&mut k) {
            return None;
        }
        if self.peek(k) == Some(',') {
            k += 1;
            digits(&mut k);
        }
        (self.peek(k) == Some('}')).then_some(k + 1)
    }

    /// At the digits after `\N` (N read): whether `\N...` is Perl's octal escape rather than
    /// a back-reference: two or more digits, more than the capture groups opened before.
    fn octal_not_group(&self) -> bool {
        let at = self.pos - 1;
        let digits: String = self.src[at..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let opened = (0..at.saturating_sub(1))
            .filter(|&k| self.src[k] == '(' && self.src.get(k + 1) != Some(&'?'))
            .filter(|&k| k == 0 || self.src[k - 1] != '\\')
            .count();
        digits.len() >= 2 && digits.parse::<usize>().is_ok_and(|n| n > opened)
    }

    fn octal(&mut self) -> u32 {
        let mut v = 0u32;
        let mut n = 0;
        while n < 3 {
            match self.peek(0) {
                Some(c @ '0'..='7') => {
                    v = v * 8 + (c as u32 - '0' as u32);
                    self.pos += 1;
                    n += 1;
                }
                _ => break,
            }
        }
        v
    }

    /// After `\x`: a braced escape of a character below U+0100, written as
    /// [`super::bytemode::byte_escape`] writes it; false, with nothing read, for any other.
    fn braced_byte(&mut self) -> bool {
        let Some((v, end)) = super::bytemode::braced_byte(&self.src, self.pos) else {
            return false;
        };
        self.out.push_str(&super::bytemode::byte_escape(v));
        self.pos = end;
        true
    }

    fn escape_outside(&mut self) -> Result<(), String> {
        self.pos += 1; // the backslash
        let Some(c) = self.peek(0) else {
            return Err("pattern ends with a lone backslash".to_owned());
        };
        self.pos += 1;
        match c {
            'd' | 'D' | 'w' | 'W' | 's' | 'S' | 'b' | 'B' | 'A' | 'z' | 'n' | 'r' | 't' | 'f'
            | 'a' => {
                self.out.push('\\');
                self.out.push(c);
            }
            'Z' => self.out.push_str("(?:\\n?\\z)"),
            'h' => self.out.push_str("[\\t\\x20]"),
            'H' => self.out.push_str("[^\\t\\x20]"),
            'v' => self.out.push_str("[\\n\\x0B\\x0C\\r]"),
            'V' => self.out.push_str("[^\\n\\x0B\\x0C\\r]"),
            'R' => self.out.push_str("(?:\\r\\n|[\\n\\x0B\\x0C\\r])"),
            'N' if self.peek(0) != Some('{') => self.out.push_str("[^\\n]"),
            'e' => self.out.push_str("\\x1B"),
            'x' if self.braced_byte() => {}
            'x' | 'p' | 'P' => {
                self.out.push('\\');
                self.out.push(c);
                if self.peek(0) == Some('{') {
                    while let Some(ch) = self.peek(0) {
                        self.out.push(ch);
                        self.pos += 1;
                        if ch == '}' {
                            break;
                        }
                    }
                } else {
                    let n = if c == 'x' { 2 } else { 1 };
                    for _ in 0..n {
                        match self.peek(0) {
                            Some(ch) if c != 'x' || ch.is_ascii_hexdigit() => {
                                self.out.push(ch);
                                self.pos += 1;
                            }
                            _ => {}
                        }
                    }
                    if c == 'x' && self.out.ends_with("\\x") {
                        self.out.push_str("00");
                    }
                }
            }
            'c' => {
                let Some(ch) = self.peek(0) else {
                    return Err("\\c at end of pattern".to_owned());
                };
                self.pos += 1;
                let v = (ch.to_ascii_uppercase() as u32) ^ 0x40;
                self.out.push_str(&format!("\\x{{{v:x}}}"));
            }
            '0' => {
                self.pos -= 1;
                let v = self.octal();
                self.out.push_str(&super::bytemode::byte_escape(v));
            }
            // Perl: `\10` and above is an octal escape (`\351`) unless that many groups opened
            // before it.
            '1'..='7' if self.octal_not_group() => {
                self.pos -= 1;
                let v = self.octal();
                self.out.push_str(&super::bytemode::byte_escape(v));
            }
            '1'..='9' => {
                self.out.push('\\');
                self.out.push(c);
                while let Some(d) = self.peek(0).filter(char::is_ascii_digit) {
                    self.out.push(d);
                    self.pos += 1;
                }
                self.needs_backtracking = true;
            }
            'G' | 'K' => {
                self.out.push('\\');
                self.out.push(c);
                self.needs_backtracking = true;
            }
            'Q' => {
                while self.pos < self.src.len() && !self.starts_with("\\E") {
                    let ch = self.src[self.pos];
                    self.push_literal(ch);
                    self.pos += 1;
                }
                if self.starts_with("\\E") {
                    self.pos += 2;
                }
            }
            'E' => {}
            'l' | 'u' | 'L' | 'U' | 'X' | 'C' | 'g' | 'k' | 'N' => {
                return Err(format!("Perl-only regex escape \\{c}"));
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(format!("unknown regex escape \\{c}"));
            }
            c => self.push_literal(c),
        }
        Ok(())
    }

    fn group(&mut self) -> Result<(), String> {
        self.pos += 1; // '('
        if self.peek(0) != Some('?') {
            if self.peek(0) == Some('*') {
                return Err("Perl backtracking verbs like (*FAIL) are not supported".to_owned());
            }
            self.out.push('(');
            return Ok(());
        }
        let rest: String = self.src[self.pos..self.src.len().min(self.pos + 4)]
            .iter()
            .collect();
        if rest.starts_with("?#") {
            while let Some(c) = self.peek(0) {
                self.pos += 1;
                if c == ')' {
                    break;
                }
            }
            return Ok(());
        }
        for bt in ["?<=", "?<!", "?=", "?!", "?>"] {
            if rest.starts_with(bt) {
                self.needs_backtracking = true;
                self.out.push('(');
                self.out.push_str(bt);
                self.pos += bt.chars().count();
                return Ok(());
            }
        }
        if rest.starts_with("?:") {
            self.out.push_str("(?:");
            self.pos += 2;
            return Ok(());
        }
        if rest.starts_with("?P<") || rest.starts_with("?<") {
            self.out.push('(');
            return Ok(());
        }
        if rest.starts_with("?'") {
            self.pos += 2;
            self.out.push_str("(?<");
            while let Some(c) = self.peek(0) {
                self.pos += 1;
                if c == '\'' {
                    break;
                }
                self.out.push(c);
            }
            self.out.push('>');
            return Ok(());
        }
        // Inline flags: (?imsx-imsx) or (?imsx-imsx: ...); Perl's caret and a d l u p n.
        let mut k = 1;
        let mut on = String::new();
        let mut off = String::new();
        let mut negate = false;
        loop {
            match self.peek(k) {
                Some('^') => {
                    off.push_str("imsx");
                }
                Some('-') => negate = true,
                Some(c @ ('i' | 'm' | 's' | 'x')) => {
                    if negate {
                        off.push(c);
                    } else {
                        on.push(c);
                        off.retain(|o| o != c);
                    }
                }
                Some('a' | 'd' | 'l' | 'u' | 'p' | 'n' | 'o') => {}
                Some(end @ (')' | ':')) => {
                    self.pos += k + 1;
                    self.out.push_str("(?");
                    self.out.push_str(&on);
                    if !off.is_empty() {
                        self.out.push('-');
                        self.out.push_str(&off);
                    }
                    if on.is_empty() && off.is_empty() {
                        // "(?)" or "(?:" with only ignorable flags.
                        if end == ':' {
                            self.out.push(':');
                        } else {
                            self.out.pop();
                            self.out.pop();
                        }
                    } else {
                        self.out.push(end);
                    }
                    return Ok(());
                }
                _ => {
                    return Err(format!(
                        "Perl-only group syntax ({}…)",
                        rest.chars().take(3).collect::<String>()
                    ));
                }
            }
            k += 1;
        }
    }

    fn class(&mut self) -> Result<(), String> {
        self.pos += 1; // '['
        self.out.push('[');
        if self.peek(0) == Some('^') {
            self.out.push('^');
            self.pos += 1;
        }
        if self.peek(0) == Some(']') {
            self.out.push_str("\\]");
            self.pos += 1;
        }
        // Whether the previous item can start a range (a single char) — after a class escape
        // like \w a '-' is literal in Perl.
        let mut prev_is_char = false;
        let mut at_start = true;
        loop {
            let Some(c) = self.peek(0) else {
                return Err("unterminated character class".to_owned());
            };
            match c {
                ']' => {
                    self.out.push(']');
                    self.pos += 1;
                    return Ok(());
                }
                '[' => {
                    if self.peek(1) == Some(':') {
                        // POSIX class [:name:]
                        let mut k = 2;
                        while self
                            .peek(k)
                            .is_some_and(|c| c.is_ascii_alphabetic() || c == '^')
                        {
                            k += 1;
                        }
                        if self.peek(k) == Some(':') && self.peek(k + 1) == Some(']') {
                            for _ in 0..k + 2 {
                                let ch = self.src[self.pos];
                                self.out.push(ch);
                                self.pos += 1;
                            }
                            prev_is_char = false;
                            at_start = false;
                            continue;
                        }
                    }
                    self.out.push_str("\\[");
                    self.pos += 1;
                    prev_is_char = true;
                }
                '-' => {
                    let next = self.peek(1);
                    if at_start || !prev_is_char || next == Some(']') || next == Some('-') {
                        self.out.push_str("\\-");
                        prev_is_char = true;
                    } else {
                        self.out.push('-');
                        // The range end follows; it is a char, and what follows it is not a
                        // range start.
                        prev_is_char = false;
                        self.pos += 1;
                        self.class_atom()?;
                        at_start = false;
                        continue;
                    }
                    self.pos += 1;
                }
                _ => {
                    prev_is_char = self.class_atom()?;
                }
            }
            at_start = false;
        }
    }

    /// One class member at the cursor; returns true if it is a single character.
    fn class_atom(&mut self) -> Result<bool, String> {
        let Some(c) = self.peek(0) else {
            return Err("unterminated character class".to_owned());
        };
        self.pos += 1;
        if c != '\\' {
            match c {
                '&' | '~' | '[' | '^' | '-' => {
                    self.out.push('\\');
                    self.out.push(c);
                }
                ' ' => self.out.push_str("\\x20"),
                '#' => self.out.push_str("\\#"),
                _ => self.out.push(c),
            }
            return Ok(true);
        }
        let Some(e) = self.peek(0) else {
            return Err("pattern ends with a lone backslash".to_owned());
        };
        self.pos += 1;
        match e {
            'd' | 'D' | 'w' | 'W' | 's' | 'S' => {
                self.out.push('\\');
                self.out.push(e);
                Ok(false)
            }
            'n' | 'r' | 't' | 'f' | 'a' => {
                self.out.push('\\');
                self.out.push(e);
                Ok(true)
            }
            'h' => {
                self.out.push_str("\\t\\x20");
                Ok(false)
            }
            'v' => {
                self.out.push_str("\\n\\x0B\\x0C\\r");
                Ok(false)
            }
            'e' => {
                self.out.push_str("\\x1B");
                Ok(true)
            }
            'b' => {
                self.out.push_str("\\x08");
                Ok(true)
            }
            '0'..='7' => {
                self.pos -= 1;
                let v = self.octal();
                self.out.push_str(&super::bytemode::byte_escape(v));
                Ok(true)
            }
            'x' if self.braced_byte() => Ok(true),
            'x' | 'p' | 'P' => {
                self.out.push('\\');
                self.out.push(e);
                if self.peek(0) == Some('{') {
                    while let Some(ch) = self.peek(0) {
                        self.out.push(ch);
                        self.pos += 1;
                        if ch == '}' {
                            break;
                        }
                    }
                } else if e == 'x' {
                    let mut n = 0;
                    while n < 2 && self.peek(0).is_some_and(|c| c.is_ascii_hexdigit()) {
                        let ch = self.src[self.pos];
                        self.out.push(ch);
                        self.pos += 1;
                        n += 1;
                    }
                    if n == 0 {
                        self.out.push_str("00");
                    }
                } else if let Some(ch) = self.peek(0) {
                    self.out.push(ch);
                    self.pos += 1;
                }
                Ok(e == 'x')
            }
            'c' => {
                let Some(ch) = self.peek(0) else {
                    return Err("\\c at end of pattern".to_owned());
                };
                self.pos += 1;
                let v = (ch.to_ascii_uppercase() as u32) ^ 0x40;
                self.out.push_str(&format!("\\x{{{v:x}}}"));
                Ok(true)
            }
            e if e.is_ascii_alphanumeric() => Err(format!("unsupported escape \\{e} in a class")),
            e => {
                if e.is_whitespace() || "\\]^-[&~#".contains(e) {
                    self.out.push_str(&format!("\\x{{{:x}}}", e as u32));
                } else {
                    self.out.push(e);
                }
                Ok(true)
            }
        }
    }
}

pub(crate) use super::approx::linear_approximation;

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(s: &str) -> String {
        translate(s, "").expect("translates").pattern
    }

    #[test]
    fn splits_delimiters_and_flags() {
        assert_eq!(
            split_delimited("/a\\/b/i rest"),
            Ok(("a\\/b", "i", " rest"))
        );
        assert_eq!(split_delimited("m{a{2}b}is"), Ok(("a{2}b", "is", "")));
        assert_eq!(split_delimited("m!x!"), Ok(("x", "", "")));
        assert!(split_delimited("/unterminated").is_err());
        assert!(split_delimited("plain").is_err());
    }

    #[test]
    fn translates_perl_literals() {
        assert_eq!(tr("a{b"), "a\\{b");
        assert_eq!(tr("a{2,3}"), "a{2,3}");
        assert_eq!(tr("\\<b\\>"), "<b>");
        assert_eq!(tr("\\/"), "/");
        assert_eq!(tr("[\\w-.]"), "[\\w\\-.]");
        assert_eq!(tr("[[]"), "[\\[]");
        assert_eq!(tr("[]a]"), "[\\]a]");
        assert_eq!(tr("[a&&b]"), "[a\\&\\&b]");
        assert_eq!(tr("\\012"), "\\x0a");
        assert_eq!(tr("(?#comment)x"), "x");
        assert_eq!(tr("\\Qa.b\\E"), "a\\x{2e}b");
        assert_eq!(tr("(?^i:x)"), "(?i-msx:x)");
    }

    #[test]
    fn linear_approximations() {
        assert_eq!(linear_approximation("foo(?!bar)baz"), "foobaz");
        assert_eq!(linear_approximation("(?<![a-z])x(?=y(z))"), "x");
        assert_eq!(linear_approximation("(a)\\1"), "(a)(?s:.*?)");
        assert_eq!(linear_approximation("(?>ab)c++d"), "(?:ab)c+d");
        assert_eq!(linear_approximation("[(?=]x"), "[(?=]x");
        assert_eq!(linear_approximation("(?i)a+?b"), "(?i)a+?b");
    }

    #[test]
    fn marks_backtracking_and_rejects_perl_only() {
        assert!(translate("a(?=b)", "").expect("ok").needs_backtracking);
        assert!(translate("(a)\\1", "").expect("ok").needs_backtracking);
        assert!(translate("a++", "").expect("ok").needs_backtracking);
        assert!(!translate("a+?", "").expect("ok").needs_backtracking);
        assert!(translate("(?{ code })", "").is_err());
        assert!(translate("\\Uabc", "").is_err());
        assert!(translate("x", "q").is_err());
    }

    /// `\x{e9}` and `\351` are the byte 0xE9 to Perl, as `\xe9` is; `\12` is octal unless
    /// twelve groups opened before it. Hit sets: SpamAssassin 4.0.1's (`spamassassin -L -t
    /// --cf`), on a Latin-1 body (`caf&eacute;`) and a UTF-8 one (`caf\xC3\xA9`).
    #[test]
    fn braced_and_octal_escapes_are_bytes() {
        let t = |p: &str| translate(p, "").map(|t| t.pattern);
        assert_eq!(
            t(r"caf\x{e9}\351\x{2019}[\x{e9}\351]").as_deref(),
            Ok(r"caf\xe9\xe9\x{2019}[\xe9\xe9]")
        );
        assert_eq!(t(r"(a)\1\12").as_deref(), Ok(r"(a)\1\x0a"));
        let rules = "body ZZ_B1 /caf\\x{e9}/\nbody ZZ_B2 /caf\\x{c3}\\x{a9}/\n\
                     body ZZ_B3 /caf\\351/\nbody ZZ_B4 /caf\\303\\251/\n";
        let hits = |head: &str, body: &str| {
            let raw = format!("From: a@b.example\nSubject: hello\n{head}\n\n{body}\n");
            let mut h = crate::rules::tests::hits_now(rules, &raw);
            h.sort();
            h
        };
        let latin1 = "Content-Type: text/html; charset=us-ascii";
        assert_eq!(hits(latin1, "<p>caf&eacute; x</p>"), ["ZZ_B1", "ZZ_B3"]);
        let utf8 = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit";
        assert_eq!(hits(utf8, "caf\u{e9} x"), ["ZZ_B2", "ZZ_B4"]);
    }
}
