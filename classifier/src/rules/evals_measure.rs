//! The measurements behind the built-in evals of [`super`]: HTML and quoted-printable
//! properties, word sets of alternative parts, shouting and upper-case ratios, illegal
//! characters, obfuscated words, link-text mismatches and Message-Ids built from queue ids.

use std::collections::HashSet;

use crate::message::{MessageView, TextKind, TransferEncoding};

pub(super) fn has_html(v: &MessageView) -> bool {
    v.text_parts.iter().any(|p| p.kind == TextKind::Html)
}

pub(super) fn html_only(v: &MessageView) -> bool {
    has_html(v)
        && !v
            .text_parts
            .iter()
            .any(|p| p.kind == TextKind::Plain && !p.text.trim().is_empty())
}

pub(super) fn qp_long_line(v: &MessageView) -> bool {
    // The decoded text no longer shows the encoded line lengths; look at the raw message.
    v.text_parts
        .iter()
        .any(|p| p.encoding == TransferEncoding::QuotedPrintable)
        && v.raw
            .lines()
            .skip_while(|l| !l.trim().is_empty())
            .any(|l| l.trim_end().len() > 76 && has_qp_escape(l))
}

/// True if the line holds a quoted-printable escape (`=3D`, `=20`, ...).
fn has_qp_escape(line: &str) -> bool {
    let b = line.as_bytes();
    b.windows(3).any(|w| {
        w[0] == b'='
            && w[1].is_ascii_hexdigit()
            && w[2].is_ascii_hexdigit()
            && !w[1].is_ascii_lowercase()
            && !w[2].is_ascii_lowercase()
    })
}

fn words(s: &str) -> HashSet<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 3)
        .take(20_000)
        .map(str::to_lowercase)
        .collect()
}

pub(super) fn alternative_difference(v: &MessageView) -> Option<f64> {
    let plain: String = v
        .text_parts
        .iter()
        .filter(|p| p.kind == TextKind::Plain)
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let html: String = v
        .text_parts
        .iter()
        .filter(|p| p.kind == TextKind::Html)
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if plain.trim().is_empty() || html.trim().is_empty() {
        return None;
    }
    let p = words(&plain);
    let h = words(&html);
    if h.is_empty() {
        return None;
    }
    let missing = h.iter().filter(|w| !p.contains(*w)).count();
    #[allow(clippy::cast_precision_loss)]
    Some(missing as f64 * 100.0 / h.len() as f64)
}

pub(super) fn fromname_spoof(v: &MessageView) -> bool {
    let Some(from) = v.from.first() else {
        return false;
    };
    let (Some(name), Some(domain)) = (from.name.as_deref(), from.domain()) else {
        return false;
    };
    let Some(at) = name.find('@') else {
        return false;
    };
    let shown: String = name[at + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect::<String>()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if !shown.contains('.') || name[..at].trim().is_empty() {
        return false;
    }
    crate::url::registrable_domain(&shown) != crate::url::registrable_domain(domain)
}

pub(super) fn shouting(subject: &str) -> bool {
    let letters = subject.chars().filter(|c| c.is_alphabetic()).count();
    let words = subject
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    letters >= 10 && words >= 2 && !subject.chars().any(char::is_lowercase)
}

/// HeaderEval's subject_is_all_caps as SpamAssassin 4.0.1 reads it, for loaded rule files: the
/// decoded Subject, trimmed, without leading `Re:`/`Fwd:`/`Fw:`/`Aw:`/`Antwort:`/`WG:`/`SV:`/
/// `VB:`/`VS:`/`VL:` prefixes, of at least 10 bytes and two words, whose ASCII letters are all
/// upper case; a Subject encoded in a charset likely to look like capitals (`koi`, `jp`, `gb`,
/// `big5`, ... in an encoded word of the raw value) never hits. The built-in SUBJ_ALL_CAPS
/// keeps [`shouting`].
pub(super) fn sa_subject_all_caps(v: &MessageView) -> bool {
    const PREFIXES: [&str; 10] = [
        "re", "fwd", "fw", "aw", "antwort", "wg", "sv", "vb", "vs", "vl",
    ];
    let Some(subject) = v.subject.as_deref() else {
        return false;
    };
    let mut s = subject.trim();
    'strip: loop {
        for p in PREFIXES {
            let b = s.as_bytes();
            if b.len() > p.len()
                && b[..p.len()].eq_ignore_ascii_case(p.as_bytes())
                && b[p.len()] == b':'
            {
                // `p` and `:` are ASCII, so the cut is on a character boundary.
                s = s[p.len() + 1..].trim_start();
                continue 'strip;
            }
        }
        break;
    }
    if !s.contains(char::is_whitespace) || s.len() < 10 {
        return false;
    }
    let raw = v
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Subject"))
        .map(|h| h.raw.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    if caps_like_charset(&raw) {
        return false;
    }
    let mut letters = s.chars().filter(char::is_ascii_alphabetic).peekable();
    letters.peek().is_some() && letters.all(|c| c.is_ascii_uppercase())
}

/// SpamAssassin's CHARSETS_LIKELY_TO_FP_AS_CAPS, matched whole: a charset name (lower case)
/// of letters, digits, `-` and `_` naming a Cyrillic, Japanese, Chinese, Korean, Georgian,
/// Kazakh or Thai encoding, where counting upper-case letters says nothing.
pub(crate) fn caps_fp_charset(c: &str) -> bool {
    const NAMES: [&str; 12] = [
        "koi",
        "jp",
        "jis",
        "euc",
        "gb",
        "big5",
        "isoir",
        "cp1251",
        "windows-1251",
        "georgianps",
        "pt154",
        "tis",
    ];
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && NAMES.iter().any(|n| c.contains(n))
}

/// True when an encoded word of `raw` names a charset of [`caps_fp_charset`].
fn caps_like_charset(raw: &str) -> bool {
    raw.split("=?").skip(1).any(|word| {
        let charset = word.split('?').next().unwrap_or("").to_ascii_lowercase();
        word.contains('?') && caps_fp_charset(&charset)
    })
}

pub(super) fn uppercase_pct(v: &MessageView) -> Option<f64> {
    let mut letters = 0usize;
    let mut upper = 0usize;
    for p in &v.text_parts {
        let (l, u) = letter_counts(&p.text);
        letters += l;
        upper += u;
    }
    #[allow(clippy::cast_precision_loss)]
    (letters >= 200).then(|| upper as f64 * 100.0 / letters as f64)
}

/// The letters of `s` and how many of them are upper case: as a count over its characters
/// (`char::is_alphabetic`, `char::is_uppercase`), bytewise when `s` is ASCII (a third of the
/// character walk's time; corpora/SA-FIDELITY.md, "Session 24").
fn letter_counts(s: &str) -> (usize, usize) {
    if s.is_ascii() {
        let b = s.as_bytes();
        let letters = b.iter().filter(|x| x.is_ascii_alphabetic()).count();
        let upper = b.iter().filter(|x| x.is_ascii_uppercase()).count();
        return (letters, upper);
    }
    let (mut letters, mut upper) = (0, 0);
    for c in s.chars() {
        if c.is_alphabetic() {
            letters += 1;
            if c.is_uppercase() {
                upper += 1;
            }
        }
    }
    (letters, upper)
}

pub(super) fn illegal_chars(v: &MessageView, header: &str, ratio: f64, count: f64) -> bool {
    let text: String = if header == "ALL" {
        v.headers
            .iter()
            .map(|h| h.raw.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        v.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(header))
            .map(|h| h.raw.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    if text.is_empty() {
        return false;
    }
    let bad = text
        .chars()
        .filter(|c| !c.is_ascii() || (c.is_ascii_control() && *c != '\t' && *c != '\n'))
        .count();
    #[allow(clippy::cast_precision_loss)]
    let r = bad as f64 / text.chars().count() as f64;
    #[allow(clippy::cast_precision_loss)]
    let n = bad as f64;
    n >= count && r > ratio
}

/// HeaderEval's check_illegal_chars as SpamAssassin 4.0.1 reads it, for loaded rule files: the
/// raw header (every instance, or `ALL` the whole header block) is exempt when it is valid
/// UTF-8 without C0 controls; otherwise its bytes in `\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\xff`
/// are illegal (one cent, pound or registered sign is forgiven in a Subject), and it hits when
/// they are at least `count` and at least `ratio` of its length. A byte that was not UTF-8 is
/// a U+FFFD in the lossily decoded value and counts as one byte. The built-in HEADER_8BIT keeps
/// [`illegal_chars`] (its hit rates in HITRATES.md were measured with it).
pub(super) fn sa_illegal_chars(v: &MessageView, header: &str, ratio: f64, count: f64) -> bool {
    let all = header == "ALL";
    let fields: Vec<_> = v
        .headers
        .iter()
        .filter(|h| all || h.name.eq_ignore_ascii_case(header))
        .collect();
    let utf8 = fields.iter().all(|h| h.raw_utf8);
    let mut text = String::new();
    for h in &fields {
        if all {
            text.push_str(&h.name);
            text.push(':');
        }
        text.push_str(&h.lead);
        text.push_str(&h.raw);
        text.push('\n');
    }
    if !text.contains(|c: char| !c.is_whitespace()) {
        return false;
    }
    let control = |c: char| matches!(c, '\0'..='\x08' | '\x0b' | '\x0c' | '\x0e'..='\x1f');
    if utf8 && !text.is_ascii() && !text.contains(control) {
        return false;
    }
    // Bytes as SpamAssassin has them: a stand-in U+FFFD was one byte.
    let bytes = |c: char| {
        if !utf8 && c == '\u{fffd}' {
            1
        } else {
            c.len_utf8()
        }
    };
    let (mut illegal, mut length) = (0usize, 0usize);
    for c in text.chars() {
        length += bytes(c);
        if control(c) || c == '\x7f' || !c.is_ascii() {
            illegal += bytes(c);
        }
    }
    if illegal > 0 && header.eq_ignore_ascii_case("subject") {
        // Latin-1 ¢ £ ® survive lossy decoding only as U+FFFD, so only valid UTF-8 ones count.
        let exempt = text.matches(['\u{a2}', '\u{a3}', '\u{ae}']).count();
        if exempt == 1 {
            illegal -= 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let (illegal, length) = (illegal as f64, length as f64);
    illegal / length >= ratio && illegal >= count
}

/// [`obfuscated_word_count`] of the view's body text ([`MessageView::body_text`]: the Subject
/// and each text part, after a line break each) without joining it: a line break ends every
/// word the count looks for, so the joined text's count is the sum of its pieces' (the test
/// `obfuscated_words_add_up_over_lines` checks it). Joined only when the cut at 200,000
/// characters may fall inside it.
pub(super) fn obfuscated_words_in(v: &MessageView) -> u32 {
    let joined = v.subject.as_ref().map_or(0, |s| s.len() + 1)
        + v.text_parts.iter().map(|p| p.text.len() + 2).sum::<usize>();
    if joined > 200_000 {
        return obfuscated_word_count(&v.body_text());
    }
    v.subject
        .iter()
        .map(|s| obfuscated_word_count(s))
        .chain(v.text_parts.iter().map(|p| obfuscated_word_count(&p.text)))
        .sum()
}

/// Counts obfuscated words in the first 200,000 characters of `text`: (a) single letters split
/// by one repeated separator (v.i.a.g.r.a, F R E E M), (b) a word with look-alike digits or
/// `$` between letters (m0rtgage, V1AGRA, ca$h). Walks the text by byte position, decoding a
/// character only where one is not ASCII: every separator, letter and digit it looks for is
/// ASCII (collecting the text's characters first was 17 us of the built-in rules' 170 a
/// message; corpora/SA-FIDELITY.md, "Session 24"). `tests::obfuscated_words_as_by_characters`
/// checks it against that walk.
pub(crate) fn obfuscated_word_count(text: &str) -> u32 {
    let mut text = text;
    if text.len() > 200_000 {
        if let Some((cut, _)) = text.char_indices().nth(200_000) {
            text = &text[..cut];
        }
    }
    let b = text.as_bytes();
    let n = b.len();
    let char_at = |p: usize| text[p..].chars().next();
    let alnum_at = |p: usize| char_at(p).is_some_and(char::is_alphanumeric);
    let word_start = |p: usize| {
        p == 0
            || !text[..p]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
    };
    let mut count = 0u32;
    let mut i = 0;
    while i < n {
        let Some(c) = char_at(i) else { break };
        // (a) Single letters split by one repeated separator: v.i.a.g.r.a, F R E E M
        if c.is_ascii_alphabetic() && word_start(i) && i + 1 < n {
            let sep = b[i + 1];
            if matches!(
                sep,
                b'.' | b'-' | b'*' | b'_' | b'|' | b' ' | b'~' | b'+' | b'='
            ) {
                let mut letters = 1;
                let mut j = i + 1;
                while j + 1 < n && b[j] == sep && b[j + 1].is_ascii_alphabetic() {
                    if j + 2 < n && alnum_at(j + 2) {
                        break;
                    }
                    letters += 1;
                    j += 2;
                }
                let need = if sep == b' ' { 5 } else { 4 };
                if letters >= need {
                    count += 1;
                    i = j;
                    continue;
                }
            }
        }
        // (b) A word with look-alike digits or '$' between letters: m0rtgage, V1AGRA, ca$h.
        if c.is_alphanumeric() && word_start(i) {
            let start = i;
            let mut j = i;
            while j < n && (b[j].is_ascii_alphanumeric() || b[j] == b'$') {
                j += 1;
            }
            if j < n && alnum_at(j) {
                // Non-ASCII letters: not our concern.
                while let Some(d) = char_at(j).filter(|d| d.is_alphanumeric()) {
                    j += d.len_utf8();
                }
                i = j;
                continue;
            }
            if looks_substituted(&b[start..j]) {
                count += 1;
            }
            i = j.max(i + c.len_utf8());
            continue;
        }
        i += c.len_utf8();
    }
    count
}

fn looks_substituted(w: &[u8]) -> bool {
    if w.len() < 5 || w.len() > 20 {
        return false;
    }
    let letters = w.iter().filter(|c| c.is_ascii_alphabetic()).count();
    let subs: Vec<usize> = w
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.is_ascii_alphabetic())
        .map(|(k, _)| k)
        .collect();
    if subs.is_empty() || subs.len() > 2 || letters < 4 {
        return false;
    }
    subs.iter().all(|&k| {
        matches!(w[k], b'0' | b'1' | b'3' | b'$')
            && k > 0
            && k + 1 < w.len()
            && w[k - 1].is_ascii_alphabetic()
            && w[k + 1].is_ascii_alphabetic()
    }) && {
        // Same case on both sides of the word (V1AGRA or m0rtgage, not camelCase0Ids).
        let lower = w.iter().filter(|c| c.is_ascii_lowercase()).count();
        lower == 0 || lower == letters || (lower == letters - 1 && w[0].is_ascii_uppercase())
    }
}

pub(super) fn link_text_mismatch(v: &MessageView) -> bool {
    v.urls.iter().any(|u| {
        let Some(text) = u.link_text.as_deref() else {
            return false;
        };
        if u.scheme != "http" && u.scheme != "https" {
            return false;
        }
        let text = text.trim();
        if text.contains(char::is_whitespace) || !text.contains('.') {
            return false;
        }
        let lower = text.to_ascii_lowercase();
        let shown = if lower.starts_with("http://") || lower.starts_with("https://") {
            crate::url::Url::parse(text)
        } else if lower.starts_with("www.") {
            crate::url::Url::parse(&format!("http://{text}"))
        } else {
            None
        };
        shown.is_some_and(|s| !s.host.is_empty() && s.domain() != u.domain())
    })
}

/// The queue ids (`id X`, X of six or more letters and digits) of the Received headers for mail
/// taken over SMTP (not a local submission), found again in the local part of the Message-Id.
pub(super) fn msgid_from_relay(v: &MessageView) -> bool {
    let Some(mid) = v.header("Message-Id") else {
        return false;
    };
    let local = mid.trim().trim_start_matches('<');
    let local = local.split('@').next().unwrap_or("");
    let tokens: Vec<&str> = local
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| t.len() >= 6)
        .collect();
    if tokens.is_empty() {
        return false;
    }
    v.header_values("Received").any(|r| {
        let lower = r.to_ascii_lowercase();
        if !lower.contains("with esmtp") && !lower.contains("with smtp") {
            return false;
        }
        let mut words = r.split_ascii_whitespace();
        while let Some(w) = words.next() {
            if w.eq_ignore_ascii_case("id") {
                if let Some(id) = words.next() {
                    let id = id.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                    if id.len() >= 6 && tokens.contains(&id) {
                        return true;
                    }
                }
            }
        }
        false
    })
}

#[cfg(test)]
#[path = "evals_measure_tests.rs"]
mod tests;
