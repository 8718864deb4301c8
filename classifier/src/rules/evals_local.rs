//! The stock rules' local evals that read MIME structure, the body or a header (issue #12),
//! measured as SpamAssassin 4.0.1 measures them:
//!
//! * MIMEEval's `check_base64_length` (the longest line of a base64 part, its line break
//!   counted) and `check_ma_non_text` (a multipart/alternative with a non-text part);
//! * BodyEval's `check_blank_line_ratio` (over the decoded text parts) and `check_stock_info`
//!   (stock-tip field names in the first text/plain part);
//! * HeaderEval's `check_ratware_envelope_from` (an envelope sender built from the recipient's
//!   domain and user name);
//! * the `ok_locales` charset tests `check_for_faraway_charset` and
//!   `check_for_faraway_charset_in_headers` (never with the default `ok_locales all`).
//!
//! Written from SpamAssassin's documented behaviour and source, and checked against
//! `spamassassin -L -t`, not copied.

use std::sync::LazyLock;
use std::sync::OnceLock;

use super::evals::{Arg, Env, EvalDef, arity, no_args};
use super::evals_wlbl::{get_addr, get_text};
use super::mimeparts::{MimePart, param};

/// The per-message measures of these evals, computed on first use.
#[derive(Default)]
pub(crate) struct Measures {
    base64_length: OnceLock<usize>,
    /// (lines, blank lines) of the decoded text.
    blank_lines: OnceLock<(usize, usize)>,
    stock_info: OnceLock<usize>,
}

/// A number argument (`undef` and anything else unreadable are `None`).
fn opt_num(a: &[Arg], i: usize) -> Option<f64> {
    a.get(i).and_then(|x| x.0.trim().parse::<f64>().ok())
}

/// Between `min` and `max` arguments, numbers (`undef` allowed after the first).
fn numbers(a: &[Arg], min: usize, max: usize) -> Result<(), String> {
    arity(a, min, max)?;
    for (i, x) in a.iter().enumerate() {
        if x.0.trim().parse::<f64>().is_err() && !(i > 0 && x.0 == "undef") {
            return Err(format!("expected a number, got '{}'", x.0));
        }
    }
    Ok(())
}

/// The lines of a part's encoded body as SpamAssassin keeps them (`raw()`): each with its
/// line break, the last (before a delimiter, or at the end) without one; a CRLF message's
/// line breaks are LF.
fn raw_line_lengths(body: &str, crlf: bool) -> impl Iterator<Item = usize> + '_ {
    body.split_inclusive('\n').map(move |l| {
        if crlf && l.ends_with("\r\n") {
            l.len() - 1
        } else {
            l.len()
        }
    })
}

/// MIMEEval's `base64_length`: the longest line of any base64 leaf part (not
/// `application/ics`), its line break counted; 0 without one.
fn base64_length(parts: &[MimePart], crlf: bool) -> usize {
    parts
        .iter()
        .filter(|p| !p.container && p.ctype != "application/ics")
        .filter(|p| {
            // The last Content-Transfer-Encoding, exactly `base64` once trimmed.
            p.values("Content-Transfer-Encoding")
                .last()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("base64"))
        })
        .flat_map(|p| raw_line_lengths(&p.body, crlf))
        .max()
        .unwrap_or(0)
}

/// MIMEEval's `check_ma_non_text`: some multipart/alternative has a direct child that is a
/// leaf and neither `text/*`, `application/rtf` nor `multipart/related`.
fn ma_non_text(parts: &[MimePart]) -> bool {
    parts.iter().enumerate().any(|(i, ma)| {
        ma.ctype == "multipart/alternative"
            && parts[i + 1..]
                .iter()
                .take_while(|p| p.depth > ma.depth)
                .filter(|p| p.depth == ma.depth + 1 && !p.container)
                .any(|p| {
                    !p.ctype.starts_with("text/")
                        && p.ctype != "application/rtf"
                        && p.ctype != "multipart/related"
                })
    })
}

/// Perl's `\s` on bytes: ASCII white space, vertical tab included.
fn perl_space(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x0b
}

/// BodyEval's blank-line count over `get_decoded_body_text_array`: every decoded text part
/// in SpamAssassin's pieces of 2-4 KB, each piece's lines (`split /^/m`) counted, a line
/// without a character other than white space blank. (The text parts are SpamAssassin's, so a
/// run of more than 20 blank lines is already cut as `Message::new` cuts it: `saparts`,
/// `mimeparts::cut_blank_runs`.) Returns (lines, blank lines).
fn blank_lines(e: &Env<'_>) -> (usize, usize) {
    let (mut lines, mut blank) = (0, 0);
    for part in e.sa_parts().rawbody_parts() {
        for piece in super::texts::part_pieces(&part.rawbody, part.byte_chars) {
            for line in part.rawbody[piece].split_inclusive('\n') {
                lines += 1;
                if line.bytes().all(perl_space) {
                    blank += 1;
                }
            }
        }
    }
    (lines, blank)
}

/// `check_blank_line_ratio(min, max, minlines)`: the percentage of blank lines is in
/// (min, max], or [0, max] for min 0; -1 (so only `min 0` ranges) with fewer than minlines.
fn blank_line_ratio(e: &Env<'_>, a: &[Arg]) -> bool {
    let (lines, blank) = *e.once().local.blank_lines.get_or_init(|| blank_lines(e));
    let min = opt_num(a, 0).unwrap_or(0.0);
    let max = opt_num(a, 1).unwrap_or(0.0);
    let minlines = opt_num(a, 2).filter(|m| *m >= 1.0).unwrap_or(1.0);
    #[allow(clippy::cast_precision_loss)]
    let ratio = if (lines as f64) < minlines {
        -1.0
    } else {
        100.0 * blank as f64 / lines as f64
    };
    ratio <= max && (min == 0.0 || ratio > min)
}

/// A field name at a line start, as `check_stock_info` finds them: 3-30 characters, no colon,
/// then a colon and text (Perl's `\s` on characters, for text decoded from UTF-8).
static FIELD_CHARS: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(r"(?m)^\s*([^:\s][^:\n]{2,29})\s*:\s*\S").ok());

/// The same over bytes read one character each (Perl's `\s` on bytes: ASCII only).
static FIELD_BYTES: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    let s = r"[\t\n\x0B\x0C\r ]";
    regex::Regex::new(&format!(
        r"(?m)^{s}*([^:\t\n\x0B\x0C\r ][^:\n]{{2,29}}){s}*:{s}*[^\t\n\x0B\x0C\r ]"
    ))
    .ok()
});

/// The stock-tip field names, over a name lower-cased and reduced to `a-z` (only the first
/// alternative is anchored at the start, as BodyEval writes it).
static STOCK_FIELD: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?x)(
            ^trad(?:e|ing)date
          | company(?:name)?
          | s\w?(?:t\w?o\w?c\w?k|y\w?m(?:\w?b\w?o\w?l)?)
          | t(?:arget|icker)
          | (?:opening|current)p(?:rice)?
          | p(?:rojected|osition)
          | expectations
          | weeks?high
          | marketperformance
          | (?:year|week|month|day|price)(?:target|estimates?)
          | sector
          | r(?:ecommendation|ating)
        )$",
    )
    .ok()
});

/// The transfer-decoded bytes of a leaf (base64 or quoted-printable; others as they are).
fn decoded_bytes(p: &MimePart, crlf: bool) -> Vec<u8> {
    let body = if crlf {
        std::borrow::Cow::Owned(p.body.replace("\r\n", "\n"))
    } else {
        std::borrow::Cow::Borrowed(p.body.as_str())
    };
    super::evals_mime::transfer_decode(&p.cte, &body)
}

/// The first text/plain part as `rendered()` gives it: decoded from UTF-8 when its charset is
/// US-ASCII or UTF-8 (or none) and the bytes are UTF-8; else bytes, one character each.
/// `true` with the text when it is characters.
fn rendered_plain(e: &Env<'_>) -> Option<(String, bool)> {
    let p = e
        .parts()
        .iter()
        .find(|p| !p.container && p.ctype == "text/plain")?;
    let bytes = decoded_bytes(p, super::evals_mime::crlf_text(&e.view.raw));
    let ct = p.values("Content-Type").last().unwrap_or("");
    let charset = param(ct, "charset").unwrap_or_else(|| "us-ascii".to_owned());
    if charset.eq_ignore_ascii_case("us-ascii") || charset.eq_ignore_ascii_case("utf-8") {
        if let Ok(s) = String::from_utf8(bytes.clone()) {
            return Some((s, true));
        }
    }
    Some((bytes.iter().map(|&b| char::from(b)).collect(), false))
}

/// BodyEval's `stock_info`: the distinct stock-tip field names among the field names of the
/// first text/plain part, matched piece by piece.
fn stock_info(e: &Env<'_>) -> usize {
    let Some((text, chars)) = rendered_plain(e) else {
        return 0;
    };
    let field = if chars { &FIELD_CHARS } else { &FIELD_BYTES };
    let (Some(field), Some(stock)) = (field.as_ref(), STOCK_FIELD.as_ref()) else {
        return 0;
    };
    let mut hits: Vec<String> = Vec::new();
    for piece in super::texts::short_paragraphs(&text) {
        for c in field.captures_iter(&text[piece]) {
            let Some(name) = c.get(1) else { continue };
            let key: String = name
                .as_str()
                .to_lowercase()
                .chars()
                .filter(char::is_ascii_lowercase)
                .collect();
            if let Some(m) = stock.captures(&key).and_then(|c| c.get(1)) {
                if !hits.iter().any(|h| h == m.as_str()) {
                    hits.push(m.as_str().to_owned());
                }
            }
        }
    }
    hits.len()
}

/// HeaderEval's `check_ratware_envelope_from`: the envelope sender holds the recipient's
/// registered domain, one character, then the recipient's user name and `@`
/// (`example.com-jo@...` for `jo@mail.example.com`), and is no SRS address.
fn ratware_envelope_from(e: &Env<'_>) -> bool {
    let to = get_addr(e, "To");
    let from = get_addr(e, "EnvelopeFrom");
    if to.is_empty() || from.is_empty() || srs(&from) {
        return false;
    }
    let Some((user, dom)) = to.split_once('@') else {
        return false;
    };
    if user.is_empty() || dom.is_empty() || dom.contains('\n') {
        return false;
    }
    let dom = e.conf.registered_domain(dom);
    if !super::sauri::domain_valid(&dom, e.conf) {
        return false;
    }
    // `/\bDOM.USER@/i`: `.` is any character but a line break; `\b` before the domain.
    let (from, dom, user) = (from.as_bytes(), dom.as_bytes(), user.as_bytes());
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    (0..from.len()).any(|i| {
        let rest = &from[i..];
        let boundary = match (i.checked_sub(1).map(|j| from[j]), dom.first()) {
            (prev, Some(&d)) => prev.is_some_and(word) != word(d),
            _ => false,
        };
        boundary
            && rest.len() > dom.len() + user.len() + 1
            && rest[..dom.len()].eq_ignore_ascii_case(dom)
            && rest[dom.len()] != b'\n'
            && rest[dom.len() + 1..dom.len() + 1 + user.len()].eq_ignore_ascii_case(user)
            && rest[dom.len() + 1 + user.len()] == b'@'
    })
}

/// `/^SRS\d[=+-]/i`.
fn srs(addr: &str) -> bool {
    let b = addr.as_bytes();
    b.len() >= 5
        && b[..3].eq_ignore_ascii_case(b"srs")
        && b[3].is_ascii_digit()
        && matches!(b[4], b'=' | b'+' | b'-')
}

/// The charsets SpamAssassin's Locales accepts for a locale beyond the ones always accepted
/// (names upper-cased, without punctuation).
const LOCALE_CHARSETS: &[(&str, &str)] = &[
    (
        "ja",
        "EUCJP JISX020119760 JISX020819830 JISX020819900 JISX020819970 JISX021219900 \
         JISX021320001 JISX021320002 SHIFT_JIS SHIFTJIS ISO2022JP SJIS JIS7 JISX0201 JISX0208 \
         JISX0212",
    ),
    ("ko", "EUCKR KSC56011987"),
    ("ru", CYRILLIC),
    ("ka", CYRILLIC),
    ("tg", CYRILLIC),
    ("be", CYRILLIC),
    ("uk", CYRILLIC),
    ("bg", CYRILLIC),
    ("th", "TIS620"),
    (
        "zh",
        "GB1988 GB2312 GB231219800 GB18030 GBK BIG5HKSCS BIG5 EUCTW ISO2022CN",
    ),
];

const CYRILLIC: &str = "KOI8R KOI8U KOI8T ISOIR111 CP1251 GEORGIANPS CP1251 PT154 CP866";

/// Locales' `is_charset_ok_for_locales`: Latin, Unicode and Windows charsets always; others
/// when one of `locales` (two-letter prefixes; `C` is `en`) lists them.
pub(crate) fn charset_ok(charset: &str, locales: &[String]) -> bool {
    let mut cs: String = charset
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    // Broken by quoted-printable: one `3D` in front.
    if let Some(rest) = cs.strip_prefix("3D") {
        cs = rest.to_owned();
    }
    let always = ["USASCII", "ASCII", "IBM852", "XUNKNOWN", "ISO"].contains(&cs.as_str())
        || [
            "ISO8859",
            "ISO10646",
            "UTF",
            "UCS",
            "CP125",
            "WINDOWS",
            "UNICODE11UTF7",
        ]
        .iter()
        .any(|p| cs.starts_with(p))
        || cs.starts_with("UNICODE11UTF8");
    always
        || locales.iter().any(|l| {
            let l = if l == "C" { "en" } else { l.as_str() };
            let two = if l.len() >= 2 && l.as_bytes()[..2].iter().all(u8::is_ascii_lowercase) {
                &l[..2]
            } else {
                l
            };
            LOCALE_CHARSETS
                .iter()
                .any(|(loc, list)| *loc == two && list.split(' ').any(|c| c == cs))
        })
}

/// `check_for_faraway_charset`: the message's Content-Type names a charset outside
/// `ok_locales`, and the body text holds more 8-bit characters than others (over 3).
fn faraway_charset(e: &Env<'_>) -> bool {
    let Some(locales) = e.conf.ok_locales.as_deref() else {
        return false;
    };
    let ct = get_text(e, "Content-Type");
    let Some(charset) = ct
        .to_ascii_lowercase()
        .find("charset=")
        .map(|i| ct[i + 8..].split_whitespace().next().unwrap_or(""))
    else {
        return false;
    };
    if charset_ok(charset, locales) {
        return false;
    }
    let body = e.sa_body_lines().concat();
    let high = body.chars().filter(|c| !c.is_ascii()).count();
    let low = body.chars().count() - high;
    low <= high && high > 3
}

/// `check_for_faraway_charset_in_headers`: an encoded word of From or Subject in a charset
/// outside `ok_locales`.
fn faraway_charset_in_headers(e: &Env<'_>) -> bool {
    let Some(locales) = e.conf.ok_locales.as_deref() else {
        return false;
    };
    ["From:raw", "Subject:raw"].iter().any(|h| {
        let raw = get_text(e, h);
        encoded_word_charsets(&raw).any(|cs| !charset_ok(cs, locales))
    })
}

/// The charsets of `=?charset?X?text?=` encoded words, as `/=\?(.+?)\?.\?.*?\?=/g` finds them.
fn encoded_word_charsets(s: &str) -> impl Iterator<Item = &str> + '_ {
    static WORD: LazyLock<Option<regex::Regex>> =
        LazyLock::new(|| regex::Regex::new(r"=\?(.+?)\?.\?.*?\?=").ok());
    WORD.as_ref()
        .into_iter()
        .flat_map(move |r| r.captures_iter(s))
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
}

/// The local MIME, body and header evals.
pub(crate) static LOCAL_EVALS: &[EvalDef] = &[
    EvalDef {
        name: "check_base64_length",
        signature: "(min, max)",
        doc: "The longest line of a base64 part (its line break counted; application/ics \
              parts skipped) is at least min and, with max, at most max (MIMEEval).",
        check: |a| numbers(a, 1, 2),
        run: |e, a| {
            let n = *e.once().local.base64_length.get_or_init(|| {
                base64_length(e.parts(), super::evals_mime::crlf_text(&e.view.raw))
            });
            #[allow(clippy::cast_precision_loss)]
            let n = n as f64;
            opt_num(a, 1).is_none_or(|max| n <= max) && n >= opt_num(a, 0).unwrap_or(0.0)
        },
    },
    EvalDef {
        name: "check_ma_non_text",
        signature: "()",
        doc: "A multipart/alternative holds a part that is neither text/*, application/rtf \
              nor multipart/related (MIMEEval).",
        check: no_args,
        run: |e, _| ma_non_text(e.parts()),
    },
    EvalDef {
        name: "check_blank_line_ratio",
        signature: "(min_pct, max_pct, min_lines)",
        doc: "The percentage of blank lines in the decoded text parts is in (min, max], or \
              [0, max] for min 0; a text of fewer than min_lines lines counts as -1 \
              (BodyEval).",
        check: |a| numbers(a, 2, 3),
        run: blank_line_ratio,
    },
    EvalDef {
        name: "check_stock_info",
        signature: "(min)",
        doc: "The first text/plain part names at least min distinct stock-tip fields at line \
              starts (`Symbol:`, `Current Price:`, `Target:`, `Sector:`, ...); min 0 always \
              hits (BodyEval).",
        check: |a| numbers(a, 1, 1),
        run: |e, a| {
            let min = opt_num(a, 0).unwrap_or(0.0);
            #[allow(clippy::cast_precision_loss)]
            let n = *e.once().local.stock_info.get_or_init(|| stock_info(e)) as f64;
            min == 0.0 || n >= min
        },
    },
    EvalDef {
        name: "check_ratware_envelope_from",
        signature: "()",
        doc: "The envelope sender is made of the To address's registered domain, one \
              character and its user name (`example.com-jo@...` for `jo@example.com`), as \
              ratware writes it (HeaderEval).",
        check: no_args,
        run: |e, _| ratware_envelope_from(e),
    },
    EvalDef {
        name: "check_for_faraway_charset",
        signature: "()",
        doc: "The message's Content-Type names a charset outside `ok_locales` and most of \
              the body text is 8-bit; never with `ok_locales all`, the default (MIMEEval).",
        check: no_args,
        run: |e, _| faraway_charset(e),
    },
    EvalDef {
        name: "check_for_faraway_charset_in_headers",
        signature: "()",
        doc: "A From or Subject encoded word is in a charset outside `ok_locales`; never with \
              `ok_locales all`, the default (HeaderEval).",
        check: no_args,
        run: |e, _| faraway_charset_in_headers(e),
    },
];
