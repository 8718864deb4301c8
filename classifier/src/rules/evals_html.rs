//! SpamAssassin's own tests that mailsift's first evals did not have: HTMLEval over the HTML
//! parts as SpamAssassin's renderer measures them ([`super::sahtml`]), and HeaderEval's
//! envelope check.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::evals::{Arg, EvalDef, arity};
use super::sahtml::HtmlStats;

/// The HTMLEval tests, registered beside [`super::evals::EVALS`].
pub(crate) static HTML_EVALS: &[EvalDef] = &[
    EvalDef {
        name: "check_for_matching_env_and_hdr_from",
        signature: "()",
        doc: "The envelope sender (EnvelopeFrom: from the last untrusted relay's Received \
              line, else X-Envelope-From, Envelope-Sender or Return-Path above the Received \
              lines) is the From address (`From:addr`, the first address of any From line), \
              ignoring case; two missing addresses match, as in SpamAssassin's HeaderEval.",
        check: |a| arity(a, 0, 0),
        run: |e, _| {
            let env = e.trust.envelope_from().unwrap_or_default();
            // `From:addr`: the first address SpamAssassin's parser finds in any From line
            // (a quoted name may hold a `<`).
            let from = e
                .view
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("From"))
                .find_map(|h| super::htext::first_address(&h.raw))
                .unwrap_or_default();
            env.eq_ignore_ascii_case(&from)
        },
    },
    EvalDef {
        name: "html_image_only",
        signature: "(min_len, max_len)",
        doc: "Some HTML part has an `img` tag (opened or closed) and a length (characters of \
              the decoded HTML, markup included) in (min, max], as SpamAssassin's HTMLEval \
              html_image_only.",
        check: |a| {
            arity(a, 2, 2)?;
            nums(a)
        },
        run: |e, a| {
            let (min, max) = (bound(&a[0]), bound(&a[1]));
            e.html().iter().any(|h| {
                #[allow(clippy::cast_precision_loss)]
                let len = h.length as f64;
                h.inside.contains_key("img") && len > min && len <= max
            })
        },
    },
    EvalDef {
        name: "html_tag_exists",
        signature: "(tag)",
        doc: "Some HTML part has the tag, opened or closed (HTMLEval html_tag_exists, over \
              SpamAssassin's HTML parse).",
        check: |a| {
            arity(a, 1, 1)?;
            tag_name(&a[0])
        },
        run: |e, a| {
            let tag = a[0].0.to_ascii_lowercase();
            e.html().iter().any(|h| h.inside.contains_key(&tag))
        },
    },
    EvalDef {
        name: "html_test",
        signature: "(name)",
        doc: "A flag of SpamAssassin's HTML renderer is set for some HTML part: 'html' (a \
              text/html part: HTML_MESSAGE), 'font_low_contrast' (text in a colour close to its \
              background), 'font_invalid_color', 'font_face_bad' (a `<font face>` that is not a \
              list of plain names), 'form_action_mailto', 'embeds' (`<object>` or `<embed>`).",
        check: |a| {
            arity(a, 1, 1)?;
            match HtmlStats::default().flag(&a[0].0) {
                Some(_) => Ok(()),
                None => Err(format!("html_test('{}') is not emulated", a[0].0)),
            }
        },
        run: |e, a| {
            if a[0].0 == "html" {
                super::evals_mime::html_rendered(e)
            } else {
                e.html().iter().any(|h| h.flag(&a[0].0) == Some(true))
            }
        },
    },
    EvalDef {
        name: "html_range",
        signature: "(name, min, max)",
        doc: "A number of SpamAssassin's HTML renderer is in (min, max] (max 'inf' or missing: \
              above min) for some HTML part: 'length', 'max_size', 'closed_extra_ratio', \
              'bad_tag_ratio', 'non_element_ratio', 'obfuscation_ratio', 'image_area', \
              'non_space_len'. A ratio over no tags is undefined and never in range.",
        check: |a| {
            arity(a, 2, 3)?;
            number_name(&a[0])?;
            nums(&a[1..])
        },
        run: |e, a| {
            let min = bound(&a[1]);
            let max = a.get(2).filter(|m| m.0 != "inf").map(bound);
            e.html().iter().any(|h| {
                h.number(&a[0].0)
                    .is_some_and(|v| v > min && max.is_none_or(|m| v <= m))
            })
        },
    },
    EvalDef {
        name: "html_eval",
        signature: "(name, 'OP N')",
        doc: "A number of SpamAssassin's HTML renderer (as html_range names them) compared \
              with N by OP (<, <=, >, >=, ==, !=) holds for some HTML part.",
        check: |a| {
            arity(a, 2, 2)?;
            number_name(&a[0])?;
            comparison(&a[1].0).map(|_| ())
        },
        run: |e, a| {
            let Ok(cmp) = comparison(&a[1].0) else {
                return false;
            };
            e.html()
                .iter()
                .any(|h| h.number(&a[0].0).is_some_and(|v| cmp.holds(v)))
        },
    },
    EvalDef {
        name: "html_tag_balance",
        signature: "(tag, 'OP N')",
        doc: "For some HTML part that has the tag, its opens minus closes (never below 0, as \
              SpamAssassin counts them) compared with N by OP holds (HTMLEval).",
        check: |a| {
            arity(a, 2, 2)?;
            tag_name(&a[0])?;
            comparison(&a[1].0).map(|_| ())
        },
        run: |e, a| {
            let Ok(cmp) = comparison(&a[1].0) else {
                return false;
            };
            let tag = a[0].0.to_ascii_lowercase();
            e.html().iter().any(|h| {
                #[allow(clippy::cast_precision_loss)]
                h.inside.get(&tag).is_some_and(|&n| cmp.holds(n as f64))
            })
        },
    },
    EvalDef {
        name: "html_text_match",
        signature: "(list, regex)",
        doc: "Some entry of a list SpamAssassin's HTML renderer keeps matches the regex: \
              'comment' (comments as written), 'title' (titles' text), 'anchor' (link texts, \
              `<img>` for an image in a link).",
        check: |a| {
            arity(a, 2, 2)?;
            if HtmlStats::default().list(&a[0].0).is_none() {
                return Err(format!("html_text_match('{}') is not emulated", a[0].0));
            }
            text_regex(&a[1].0).map(|_| ())
        },
        run: |e, a| {
            let Ok(re) = text_regex(&a[1].0) else {
                return false;
            };
            e.html().iter().any(|h| {
                h.list(&a[0].0)
                    .is_some_and(|l| l.iter().any(|s| re.is_match(s).unwrap_or(false)))
            })
        },
    },
    EvalDef {
        name: "html_image_ratio",
        signature: "(min, max)",
        doc: "For some HTML part with images of known area, the rendered text's non-blank \
              characters per pixel of image area is in (min, max] (HTMLEval).",
        check: |a| {
            arity(a, 2, 2)?;
            nums(a)
        },
        run: |e, a| {
            let (min, max) = (bound(&a[0]), bound(&a[1]));
            e.html().iter().any(|h| {
                #[allow(clippy::cast_precision_loss)]
                let r = h.non_space_len as f64 / h.image_area as f64;
                h.image_area > 0 && r > min && r <= max
            })
        },
    },
    EvalDef {
        name: "html_title_subject_ratio",
        signature: "(ratio)",
        doc: "For some HTML part, its longest title (in characters) is more than ratio times \
              as long as the Subject (each Subject header with its line break, as \
              SpamAssassin's `get` returns it: UTF-8 bytes); never without a Subject \
              (HTMLEval).",
        check: |a| {
            arity(a, 1, 1)?;
            nums(a)
        },
        run: |e, a| {
            let subject: usize = e
                .view
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("Subject"))
                // `_decode_header` transcodes encoded words into UTF-8 octets: Perl's
                // `length` counts bytes (a Cyrillic Subject counts twice its letters).
                .map(|h| super::htext::decoded(h).len() + 1)
                .sum();
            if subject == 0 {
                return false;
            }
            let ratio = bound(&a[0]);
            e.html().iter().any(|h| {
                let longest = h
                    .titles
                    .iter()
                    .filter(|t| !t.is_empty() && t.as_str() != "0")
                    .map(|t| t.chars().count())
                    .max()
                    .unwrap_or(0);
                #[allow(clippy::cast_precision_loss)]
                let r = longest as f64 / subject as f64;
                r > ratio
            })
        },
    },
    EvalDef {
        name: "html_charset_faraway",
        signature: "()",
        doc: "An HTML `<meta>` charset outside ok_locales: never, since mailsift's ok_locales \
              is 'all' (SpamAssassin's default), under which SpamAssassin never hits either.",
        check: |a| arity(a, 0, 0),
        run: |_, _| false,
    },
];

/// A numeric argument (checked at load).
fn bound(a: &Arg) -> f64 {
    a.0.trim().parse::<f64>().unwrap_or(0.0)
}

fn nums(a: &[Arg]) -> Result<(), String> {
    for x in a {
        if x.0 != "inf" {
            x.0.trim()
                .parse::<f64>()
                .map_err(|_| format!("expected a number, got '{}'", x.0))?;
        }
    }
    Ok(())
}

fn tag_name(a: &Arg) -> Result<(), String> {
    if a.0.is_empty() || !a.0.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("'{}' is not a tag name", a.0));
    }
    Ok(())
}

fn number_name(a: &Arg) -> Result<(), String> {
    let parsed = HtmlStats {
        parsed: true,
        ..HtmlStats::default()
    };
    match parsed.number(&a.0) {
        Some(_) => Ok(()),
        // The ratios are undefined on an empty part; the names are still known.
        None if matches!(
            a.0.as_str(),
            "closed_extra_ratio" | "bad_tag_ratio" | "non_element_ratio" | "obfuscation_ratio"
        ) =>
        {
            Ok(())
        }
        None => Err(format!("HTML number '{}' is not emulated", a.0)),
    }
}

/// `OP N` as HTMLEval evaluates `$val OP N` (only these forms; others are rejected at load).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Comparison {
    op: &'static str,
    n: f64,
}

impl Comparison {
    fn holds(self, v: f64) -> bool {
        match self.op {
            "<" => v < self.n,
            "<=" => v <= self.n,
            ">" => v > self.n,
            ">=" => v >= self.n,
            "==" => v == self.n,
            _ => v != self.n,
        }
    }
}

fn comparison(expr: &str) -> Result<Comparison, String> {
    let e = expr.trim();
    let op = ["<=", ">=", "==", "!=", "<", ">"]
        .into_iter()
        .find(|op| e.starts_with(op))
        .ok_or_else(|| format!("'{expr}' is not OP N"))?;
    let n = e[op.len()..].trim();
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{expr}' is not OP N"));
    }
    Ok(Comparison {
        op,
        n: n.parse::<f64>().map_err(|e| e.to_string())?,
    })
}

/// html_text_match's regex (Perl syntax, no delimiters), compiled once per pattern.
fn text_regex(p: &str) -> Result<fancy_regex::Regex, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, fancy_regex::Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(r) = map.get(p) {
        return Ok(r.clone());
    }
    let re = fancy_regex::RegexBuilder::new(p)
        .backtrack_limit(100_000)
        .build()
        .map_err(|e| format!("bad regex '{p}': {e}"))?;
    if map.len() < 256 {
        map.insert(p.to_owned(), re.clone());
    }
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_as_htmleval_evaluates_them() {
        assert!(comparison("!= 0").is_ok_and(|c| c.holds(1.0) && !c.holds(0.0)));
        assert!(comparison("< 512").is_ok_and(|c| c.holds(511.0) && !c.holds(512.0)));
        assert!(comparison(">=2").is_ok_and(|c| c.holds(2.0)));
        assert!(comparison("=~ 1").is_err());
        assert!(comparison("< 1 + 1").is_err());
    }

    #[test]
    fn the_subject_is_measured_in_utf8_bytes() {
        // `Привет мир`: 10 characters, 19 bytes; a title of 40 is 3.6 times the first (with
        // the line break) and 2 times the second: SpamAssassin's `length` counts the bytes.
        let rules = "body T eval:html_title_subject_ratio('3.5')\n";
        let (set, _) = super::super::RuleSet::load(&[("t.cf".into(), rules.into())]);
        let msg = |subject: &str| {
            format!(
                "Subject: {subject}\nContent-Type: text/html\n\n<title>{}</title>x\n",
                "a".repeat(40)
            )
        };
        let hits = |m: &str| {
            let v = crate::message::MessageView::parse(m.as_bytes(), &crate::Limits::default());
            set.evaluate_all(&v, &super::super::EvalContext::default())
                .contains(&"T")
        };
        assert!(!hits(&msg("=?utf-8?B?0J/RgNC40LLQtdGCINC80LjRgA==?=")));
        assert!(hits(&msg("Privet mir")));
    }
}
