//! SpamAssassin's evals over how the message was parsed and laid out: MIMEEval's
//! `check_msg_parse_flags`, `check_for_ascii_text_illegal` and `check_mime_multipart_ratio`,
//! BodyEval's `tvd_vertical_words` and HeaderEval's `check_for_to_in_subject`, each measured
//! as SpamAssassin 4.0.1 measures it.

use super::evals::{Arg, Env, EvalDef, arity};
use super::mimeparts::{MimePart, is_field};
use super::{HeaderTarget, htext};

/// SpamAssassin's limits on a header field's name and value (`MAX_HEADER_KEY_LENGTH`,
/// `MAX_HEADER_VALUE_LENGTH` in its Constants.pm): longer ones are cut, `truncated_header`.
const MAX_KEY: usize = 256;
const MAX_VALUE: usize = 8192;

/// The parse evals, registered beside [`super::evals::EVALS`].
pub(crate) static PARSE_EVALS: &[EvalDef] = &[
    EvalDef {
        name: "check_msg_parse_flags",
        signature: "(flag)",
        doc: "SpamAssassin's parser noted `flag` while splitting the message: \
              `mime_epilogue_exists` (text after a multipart's closing delimiter), \
              `missing_mime_headers` (a delimiter not followed by a header field), \
              `missing_mime_head_body_separator` (a part's header runs into its body), \
              `missing_head_body_separator` (the message's header does not end with an empty \
              line), `truncated_header` (a field name over 256 or value over 8,192 bytes).",
        check: |a| {
            arity(a, 1, 1)?;
            match a[0].0.as_str() {
                "mime_epilogue_exists"
                | "missing_mime_headers"
                | "missing_mime_head_body_separator"
                | "missing_head_body_separator"
                | "truncated_header" => Ok(()),
                f => Err(format!("unknown parse flag '{f}'")),
            }
        },
        run: |e, a| parse_flag(e, a.first().map_or("", |x| x.0.as_str())),
    },
    EvalDef {
        name: "check_for_ascii_text_illegal",
        signature: "()",
        doc: "A text/plain part without a charset (or with us-ascii) has a line with NUL, CR \
              or a byte above 127 in its encoded text, as SpamAssassin's MIMEEval.",
        check: |a| arity(a, 0, 0),
        run: |e, _| ascii_text_illegal(e.parts(), super::evals_mime::crlf_text(&e.view.raw)),
    },
    EvalDef {
        name: "check_abundant_unicode_ratio",
        signature: "(ratio)",
        doc: "Over the lines of the text/plain parts not transfer-encoded (no CTE, 7bit or \
              8bit), the number of `&#xHHHH;` entities per other character is at least \
              `ratio`, as SpamAssassin's MIMEEval (a ratio not written as digits, a dot and \
              1-3 digits never hits).",
        check: |a| {
            arity(a, 1, 1)?;
            let ok = a[0].0.split_once('.').is_some_and(|(i, f)| {
                i.len() <= 3
                    && (1..=3).contains(&f.len())
                    && i.bytes().chain(f.bytes()).all(|b| b.is_ascii_digit())
            });
            if ok {
                Ok(())
            } else {
                Err(format!("expected a ratio like 0.02, got '{}'", a[0].0))
            }
        },
        run: |e, a| unicode_ratio(e.parts()) >= number(a, 0),
    },
    EvalDef {
        name: "check_mime_multipart_ratio",
        signature: "(min, max)",
        doc: "In a message with a multipart/alternative part, the size of the last text/plain \
              part over that of the last text/html part (encoded bytes, attachments not \
              counted) is in [min, max); 1.0 when either is missing.",
        check: two_numbers,
        run: |e, a| {
            let r = multipart_ratio(e.parts());
            r >= number(a, 0) && r < number(a, 1)
        },
    },
    EvalDef {
        name: "tvd_vertical_words",
        signature: "(min, max)",
        doc: "The largest ratio, in whole percent, of spaces to other characters over the \
              body's lines (the Subject and each paragraph, white space squeezed) longer than \
              5 characters is in [min, max) (max 100 or more means 101); -1 without such a \
              line. SpamAssassin's BodyEval.",
        check: two_numbers,
        run: |e, a| {
            let max = number(a, 1);
            let max = if max >= 100.0 { 101.0 } else { max };
            let v = f64::from(vertical_words(e));
            v >= number(a, 0) && v < max
        },
    },
    EvalDef {
        name: "check_for_to_in_subject",
        signature: "(address|user)",
        doc: "The Subject names the first To address (`address`), or its local part as \
              HeaderEval's check_for_to_in_subject reads it (`user`: the whole Subject, a \
              reply to it, or it followed by punctuation).",
        check: |a| {
            arity(a, 1, 1)?;
            match a[0].0.as_str() {
                "address" | "user" => Ok(()),
                t => Err(format!("expected 'address' or 'user', got '{t}'")),
            }
        },
        run: |e, a| to_in_subject(e, a.first().map_or("", |x| x.0.as_str())),
    },
];

fn two_numbers(a: &[Arg]) -> Result<(), String> {
    arity(a, 2, 2)?;
    a.iter().try_for_each(|x| {
        x.0.parse::<f64>()
            .map(|_| ())
            .map_err(|_| format!("expected a number, got '{}'", x.0))
    })
}

fn number(a: &[Arg], i: usize) -> f64 {
    a.get(i).and_then(|x| x.0.parse().ok()).unwrap_or(f64::NAN)
}

fn parse_flag(e: &Env<'_>, flag: &str) -> bool {
    let any = |f: fn(&MimePart) -> bool| e.parts().iter().any(f);
    match flag {
        "mime_epilogue_exists" => any(|p| p.flags.epilogue),
        "missing_mime_headers" => any(|p| p.flags.missing_headers),
        "missing_mime_head_body_separator" => any(|p| p.flags.missing_separator),
        "missing_head_body_separator" => header_flags(&e.view.raw).0,
        "truncated_header" => header_flags(&e.view.raw).1,
        _ => false,
    }
}

/// SpamAssassin's reading of the message's own header (`Message::new`):
/// (`missing_head_body_separator`, `truncated_header`). The header ends at an empty line; it
/// is missing when the text ends first, a line starts with `--` (a MIME delimiter), or a
/// fourth line is not a field (three are skipped).
fn header_flags(raw: &str) -> (bool, bool) {
    let mut lines = raw.split_inclusive('\n').peekable();
    // An mbox `From ` line is not part of the header.
    if lines.peek().is_some_and(|l| l.starts_with("From ")) {
        lines.next();
    }
    let (mut errors, mut truncated) = (0, false);
    let mut field: Option<String> = None;
    let mut check = |f: &str| {
        if let Some((key, value)) = f.split_once(':') {
            let key = key.trim_end_matches([' ', '\t']);
            truncated |= key.len() > MAX_KEY || value.len() > MAX_VALUE;
        }
    };
    for line in lines {
        if line.starts_with([' ', '\t']) {
            field.get_or_insert_with(String::new).push_str(line);
            continue;
        }
        if let Some(f) = field.take() {
            check(&f);
        }
        if line.trim_end_matches(['\r', '\n']).is_empty() {
            return (false, truncated);
        }
        if line.starts_with("--") {
            return (true, truncated);
        }
        if !is_field(line) {
            errors += 1;
            if errors > 3 {
                return (true, truncated);
            }
        }
        field = Some(line.to_owned());
    }
    if let Some(f) = field.take() {
        check(&f);
    }
    (true, truncated)
}

/// MIMEEval's `mime_ascii_text_illegal`: an encoded line of a us-ascii (or charset-less)
/// text/plain part with NUL, CR or a byte above 127, the CR of a line's CRLF aside when the
/// message's lines end in CRLF (`crlf`: `Message::new` then turns them into LF; a CR after
/// the last line break stays).
fn ascii_text_illegal(parts: &[MimePart], crlf: bool) -> bool {
    parts.iter().filter(|p| !p.container).any(|p| {
        let charset = p.charset();
        p.ctype == "text/plain"
            && charset.as_deref().is_none_or(|c| c == "us-ascii")
            && p.body.split_inclusive('\n').any(|l| {
                let l = match l.strip_suffix("\r\n") {
                    Some(l) if crlf => l,
                    _ => l,
                };
                l.bytes().any(|b| b == 0 || b == b'\r' || b >= 0x80)
            })
    })
}

/// MIMEEval's `mime_text_unicode_ratio`: in the text/plain leaves with no transfer encoding
/// (none, 7bit or 8bit), `&#xHHHH;` entities (upper-case hex) per character left on their
/// lines, line breaks counted; 0 without such text.
fn unicode_ratio(parts: &[MimePart]) -> f64 {
    let (mut normal, mut entities) = (0usize, 0usize);
    for p in parts
        .iter()
        .filter(|p| !p.container && p.ctype == "text/plain")
    {
        if !matches!(p.cte.as_str(), "" | "7bit" | "8bit") {
            continue;
        }
        for line in p.body.split_inclusive('\n') {
            let n = count_entities(line);
            entities += n;
            normal += line.len() - 8 * n;
        }
    }
    if normal == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let r = entities as f64 / normal as f64;
    r
}

/// The `&#xHHHH;` entities of a line (four upper-case hex digits), not overlapping.
fn count_entities(line: &str) -> usize {
    let b = line.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i + 8 <= b.len() {
        if b[i..].starts_with(b"&#x")
            && b[i + 3..i + 7]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
            && b[i + 7] == b';'
        {
            n += 1;
            i += 8;
        } else {
            i += 1;
        }
    }
    n
}

/// MIMEEval's `mime_multipart_ratio`: once a multipart/alternative part has been seen, the
/// bytes of each later text/plain or text/html leaf that is not an attachment are counted;
/// the ratio is the last text/plain part's over the last text/html part's (1.0 when either
/// is missing or the HTML is empty).
fn multipart_ratio(parts: &[MimePart]) -> f64 {
    let mut alternative = false;
    // (type, bytes) of each leaf that is not an attachment.
    let mut leaves: Vec<(&str, usize)> = Vec::new();
    for p in parts {
        if p.ctype == "multipart/alternative" {
            alternative = true;
        }
        if p.container {
            continue;
        }
        let cd = p
            .values("Content-Disposition")
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if cd.contains("attachment") {
            continue;
        }
        let counted = alternative && (p.ctype == "text/plain" || p.ctype == "text/html");
        leaves.push((&p.ctype, if counted { p.body.len() } else { 0 }));
    }
    if !alternative {
        return 1.0;
    }
    let last = |t: &str| leaves.iter().rev().find(|(c, _)| *c == t).map(|(_, n)| *n);
    match (last("text/plain"), last("text/html")) {
        #[allow(clippy::cast_precision_loss)]
        (Some(text), Some(html)) if html > 0 => text as f64 / html as f64,
        _ => 1.0,
    }
}

/// BodyEval's `tvd_vertical_words` value over SpamAssassin's rendered body lines
/// ([`super::sauri::body_lines_with`], with FreeMail's edits, which run first): the largest
/// ratio of any line. Lengths are in bytes of UTF-8: with `normalize_charset` (on by default)
/// SpamAssassin decodes every text part to characters and encodes the joined text as UTF-8
/// (`Message::get_body_text_array_common`), so a big5 character counts 3, not its 2 bytes.
fn vertical_words(e: &Env<'_>) -> i32 {
    let max = |lines: &[String]| lines.iter().map(|l| line_ratio(l)).max().unwrap_or(-1);
    let lines = e.sa_body_lines();
    if !super::evals_freemail::parses_body(e) || !super::evals_freemail::lines_may_edit(lines) {
        // No edits (FreeMail off, or nothing in the text it edits): the lines are the body
        // rules' (cached), not rendered again (about 0.1 ms a message with the stock rules).
        return max(lines);
    }
    max(&super::sauri::body_lines_with(e, &|t| {
        super::evals_freemail::edit_text(e, t)
    }))
}

/// The whole percentage of spaces to other bytes of one body line (its line break
/// included), -1 for a line of 5 bytes or fewer.
fn line_ratio(line: &str) -> i32 {
    let len = line.len();
    let spaces = line.bytes().filter(|&b| b == b' ').count();
    if len <= 5 {
        return -1;
    }
    let others = len - spaces;
    if spaces > others || others == 0 {
        100
    } else {
        i32::try_from(100 * spaces / others).unwrap_or(100)
    }
}

/// HeaderEval's `check_for_to_in_subject`.
fn to_in_subject(e: &Env<'_>, test: &str) -> bool {
    let get = |f: &str| {
        HeaderTarget::parse(f)
            .ok()
            .and_then(|t| htext::header_text(e.view, &t))
            .unwrap_or_default()
    };
    let to = get("To:addr");
    if to.is_empty() {
        return false;
    }
    let subject = get("Subject");
    if test == "user" && subject.is_ascii() {
        let user = to.split('@').next().unwrap_or("");
        if user.is_ascii() {
            return user_in_subject_ascii(subject.as_bytes(), user.as_bytes());
        }
    }
    let pattern = match test {
        "address" => format!(r"(?i)\b{}\b", regex::escape(&to)),
        "user" => {
            let user = regex::escape(to.split('@').next().unwrap_or(""));
            // As SpamAssassin: the untrimmed Subject; `$` also before a final line break.
            format!(
                r"(?i)^(?:(?:re|fw):\s*(?:\w+\s+)?{user}\n?$|(?-i:{user})\s*[,:;!?-](?:\n?$|\s)|{user}\n?$|,\s*{user}[,:;!?-]\n?$)"
            )
        }
        _ => return false,
    };
    regex::Regex::new(&pattern).is_ok_and(|r| r.is_match(&subject))
}

/// `check_for_to_in_subject('user')` on an ASCII Subject and local part, without compiling
/// the regex above for each message (its compile was most of this eval's cost): the same four
/// alternatives, each anchored at the Subject's start and at its end (`\n?$`). On ASCII text the
/// regex's Unicode `\s`, `\w` and case folding are the ASCII ones (no Kelvin sign, no long s).
fn user_in_subject_ascii(s: &[u8], user: &[u8]) -> bool {
    let ws = |b: u8| matches!(b, b'\t'..=b'\r' | b' ');
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let punct = |b: u8| b",:;!?-".contains(&b);
    let ci = |a: &[u8], b: &[u8]| a.eq_ignore_ascii_case(b);
    // `X\n?$` at the end: the positions where `X` can end.
    let ends = |len: usize| [Some(len), len.checked_sub(1).filter(|&l| s[l] == b'\n')];
    let n = user.len();
    // 1. `(?:re|fw):\s*(?:\w+\s+)?USER\n?$`
    let alt1 = s.len() >= 3
        && (ci(&s[..3], b"re:") || ci(&s[..3], b"fw:"))
        && ends(s.len()).into_iter().flatten().any(|e| {
            e >= 3 + n && ci(&s[e - n..e], user) && {
                let mid = &s[3..e - n];
                let rest = &mid[mid.iter().take_while(|&&b| ws(b)).count()..];
                let w = rest.iter().take_while(|&&b| word(b)).count();
                rest.is_empty() || (w > 0 && w < rest.len() && rest[w..].iter().all(|&b| ws(b)))
            }
        });
    // 2. `(?-i:USER)\s*[,:;!?-](?:\n?$|\s)`
    let alt2 = s.starts_with(user) && {
        let rest = &s[n..];
        let rest = &rest[rest.iter().take_while(|&&b| ws(b)).count()..];
        rest.first().is_some_and(|&b| punct(b)) && (rest.len() == 1 || ws(rest[1]))
    };
    // 3. `USER\n?$`
    let alt3 = ends(s.len())
        .into_iter()
        .flatten()
        .any(|e| e == n && ci(&s[..n], user));
    // 4. `,\s*USER[,:;!?-]\n?$`
    let alt4 = s.first() == Some(&b',')
        && ends(s.len()).into_iter().flatten().any(|e| {
            e >= 2 + n && punct(s[e - 1]) && ci(&s[e - 1 - n..e - 1], user) && {
                s[1..e - 1 - n].iter().all(|&b| ws(b))
            }
        });
    alt1 || alt2 || alt3 || alt4
}

#[cfg(test)]
mod tests {
    /// The regex `to_in_subject` compiles for 'user', as a reference.
    fn by_regex(user: &str) -> regex::Regex {
        let user = regex::escape(user);
        regex::Regex::new(&format!(
            r"(?i)^(?:(?:re|fw):\s*(?:\w+\s+)?{user}\n?$|(?-i:{user})\s*[,:;!?-](?:\n?$|\s)|{user}\n?$|,\s*{user}[,:;!?-]\n?$)"
        ))
        .expect("the reference regex compiles")
    }

    #[test]
    fn user_in_subject_without_a_regex_agrees_with_the_regex() {
        let users = ["bob", "Bob", "b.o+b", "", "a b", "re"];
        let pieces = [
            "", "bob", "BOB", "re:", "Fw:", "fwd:", " ", "\t", "\n", "\x0b", ",", ":", "!", "-",
            "hello", "hi_2", "b.o+b", "a b", ".", "re",
        ];
        let mut n = 0;
        for user in users {
            let re = by_regex(user);
            for a in pieces {
                for b in pieces {
                    for c in pieces {
                        for d in ["", "\n", "!", " "] {
                            let s = format!("{a}{b}{c}{d}");
                            let want = re.is_match(&s);
                            assert_eq!(
                                super::user_in_subject_ascii(s.as_bytes(), user.as_bytes()),
                                want,
                                "subject {s:?}, user {user:?}"
                            );
                            n += usize::from(want);
                        }
                    }
                }
            }
        }
        assert!(n > 1000, "the cases hit {n} times");
    }
}
