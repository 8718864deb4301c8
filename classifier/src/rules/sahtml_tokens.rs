//! The tokenizer behind [`super`]: HTML split into start and end tags (names lower-cased,
//! attributes entity-decoded), text, comments and declarations the way HTML::Parser reports
//! them to SpamAssassin, after SpamAssassin's own rewrites (`&nbsp;`, `<tag/>`, curly quotes).

use super::super::sahtml_entities::decode as decode_entities;

/// Elements whose content HTML::Parser (3.81) reports as literal text, up to their end tag; a
/// `plaintext` element's runs to the end of the document, its end tag included.
const LITERAL: &[&str] = &[
    "script",
    "style",
    "xmp",
    "textarea",
    "title",
    "iframe",
    "plaintext",
];

/// A start tag's attributes: (lower-case name, decoded value), first of each name.
pub(super) type Attrs = Vec<(String, String)>;

/// One token of the HTML.
pub(super) enum Token<'a> {
    Start(String, Attrs),
    End(String),
    Text(&'a str),
    Comment(&'a str),
    Declaration(&'a str),
}

/// `&nbsp;` to a space, `<tag/>` to `<tag>`, curly double quotes to `"`.
pub(super) fn preprocess(raw: &str) -> String {
    let s = raw
        .replace("&nbsp;", " ")
        .replace(['\u{201C}', '\u{201D}'], "\"");
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'<', &b[i..]) {
        let start = i + off;
        let name = b[start + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        i = start + 1;
        if name == 0 {
            continue;
        }
        let mut j = start + 1 + name;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if b.get(j) == Some(&b'/') && b.get(j + 1) == Some(&b'>') {
            out.push_str(&s[last..start + 1 + name]);
            out.push('>');
            last = j + 2;
            i = last;
        }
    }
    out.push_str(&s[last..]);
    out
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':')
}

/// Splits `s` into tokens, HTML::Parser's way.
pub(super) fn tokenize<'a>(s: &'a str, emit: &mut dyn FnMut(Token<'a>)) {
    let b = s.as_bytes();
    let mut i = 0;
    let mut text_from = 0;
    let flush = |emit: &mut dyn FnMut(Token<'a>), from: usize, to: usize| {
        if to > from {
            emit(Token::Text(&s[from..to]));
        }
    };
    while let Some(off) = memchr::memchr(b'<', &b[i..]) {
        let lt = i + off;
        let next = b.get(lt + 1).copied().unwrap_or(0);
        if next.is_ascii_alphabetic() {
            let Some((name, attrs, end)) = start_tag(s, lt + 1) else {
                return unterminated(s, text_from, lt, emit);
            };
            flush(emit, text_from, lt);
            let literal = LITERAL.contains(&name.as_str());
            let lname = name.clone();
            emit(Token::Start(name, attrs));
            i = end;
            text_from = end;
            if literal {
                // The content up to the matching end tag is text.
                let close = match lname.as_str() {
                    "plaintext" => b.len(),
                    _ => find_ci(&b[end..], format!("</{lname}").as_bytes())
                        .map_or(b.len(), |k| end + k),
                };
                flush(emit, end, close);
                i = close;
                text_from = close;
            }
        } else if next == b'/' && b.get(lt + 2).is_some_and(u8::is_ascii_alphabetic) {
            let n = b[lt + 2..].iter().take_while(|c| is_name_char(**c)).count();
            let Some(gt) = memchr::memchr(b'>', &b[lt + 2 + n..]) else {
                return unterminated(s, text_from, lt, emit);
            };
            flush(emit, text_from, lt);
            emit(Token::End(s[lt + 2..lt + 2 + n].to_ascii_lowercase()));
            i = lt + 2 + n + gt + 1;
            text_from = i;
        } else if next == b'!' {
            let end = if b[lt..].starts_with(b"<!--") {
                // A comment that `-->` never closes ends at the first `>`, as HTML::Parser
                // reads it at the end of the document.
                find_ci(&b[lt + 4..], b"-->")
                    .map(|k| lt + 4 + k + 3)
                    .or_else(|| memchr::memchr(b'>', &b[lt + 4..]).map(|k| lt + 4 + k + 1))
            } else {
                memchr::memchr(b'>', &b[lt..]).map(|k| lt + k + 1)
            };
            let Some(end) = end else {
                return unterminated(s, text_from, lt, emit);
            };
            flush(emit, text_from, lt);
            let whole = &s[lt..end];
            if b.get(lt + 2).is_some_and(u8::is_ascii_alphabetic) {
                emit(Token::Declaration(whole));
            } else if b[lt..].starts_with(b"<![") {
                // A marked section: its content is text.
                let inner = whole.trim_start_matches("<![");
                let inner = inner.split_once('[').map_or("", |(_, r)| r);
                let inner = inner.trim_end_matches('>').trim_end_matches("]]");
                emit(Token::Text(inner));
            } else {
                emit(Token::Comment(whole));
            }
            i = end;
            text_from = end;
        } else if next == b'?' {
            let Some(k) = memchr::memchr(b'>', &b[lt..]) else {
                return unterminated(s, text_from, lt, emit);
            };
            flush(emit, text_from, lt);
            i = lt + k + 1;
            text_from = i;
        } else {
            i = lt + 1;
        }
    }
    flush(emit, text_from, b.len());
}

/// Markup that nothing closes before the end of the document: HTML::Parser reports the text
/// before it and then the rest, markup and all, as one comment (never as text).
fn unterminated<'a>(s: &'a str, text_from: usize, lt: usize, emit: &mut dyn FnMut(Token<'a>)) {
    if lt > text_from {
        emit(Token::Text(&s[text_from..lt]));
    }
    emit(Token::Comment(&s[lt..]));
}

/// Case-insensitive search.
fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&k| hay[k..k + needle.len()].eq_ignore_ascii_case(needle))
}

/// A start tag from its name (at `at`): name, attributes and the index after its `>`; `None`
/// when no `>` ends it.
fn start_tag(s: &str, at: usize) -> Option<(String, Attrs, usize)> {
    let b = s.as_bytes();
    let n = b[at..].iter().take_while(|c| is_name_char(**c)).count();
    let name = s[at..at + n].to_ascii_lowercase();
    let mut i = at + n;
    let mut attrs = Vec::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        match b.get(i) {
            None => return None,
            Some(b'>') => return Some((name, attrs, i + 1)),
            _ => {}
        }
        let k = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>') {
            i += 1;
        }
        if i == k {
            // A stray `=`: skip it.
            i += 1;
            continue;
        }
        let key = s[k..i].to_ascii_lowercase();
        let mut j = i;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        let value = if b.get(j) == Some(&b'=') {
            j += 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            match b.get(j) {
                Some(&q @ (b'"' | b'\'')) => {
                    let end = memchr::memchr(q, &b[j + 1..]).map_or(b.len(), |e| j + 1 + e);
                    let v = &s[j + 1..end];
                    i = (end + 1).min(b.len());
                    v
                }
                _ => {
                    let e = b[j..]
                        .iter()
                        .position(|c| c.is_ascii_whitespace() || *c == b'>')
                        .map_or(b.len(), |e| j + e);
                    let v = &s[j..e];
                    i = e;
                    v
                }
            }
        } else {
            key.as_str()
        };
        let value = decode_entities(value, false);
        if !attrs.iter().any(|(k2, _)| *k2 == key) {
            attrs.push((key, value));
        }
    }
}
