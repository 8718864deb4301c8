//! SpamAssassin's own tests that mailsift's first evals did not have: HTMLEval over the HTML
//! parts' markup, and HeaderEval's envelope check.

use super::evals::{Arg, Env, EvalDef, arity};
use crate::message::TextKind;

/// The HTMLEval tests, registered beside [`super::evals::EVALS`].
pub(crate) static HTML_EVALS: &[EvalDef] = &[
    EvalDef {
        name: "check_for_matching_env_and_hdr_from",
        signature: "()",
        doc: "The envelope sender (EnvelopeFrom: X-Envelope-From, Envelope-Sender or \
              Return-Path above the Received lines) is the From address, ignoring case; two \
              missing addresses match, as in SpamAssassin's HeaderEval.",
        check: |a| arity(a, 0, 0),
        run: |e, _| {
            let env = super::htext::envelope_from(e.view).unwrap_or_default();
            let from = e
                .view
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("From"))
                .and_then(|h| super::htext::first_mailbox(&h.raw))
                .map(|(_, a)| a)
                .unwrap_or_default();
            env.eq_ignore_ascii_case(&from)
        },
    },
    EvalDef {
        name: "html_image_only",
        signature: "(min_len, max_len)",
        doc: "Some HTML part has an image (`<img`) and a source length (characters of the \
              decoded HTML, markup included) in (min, max], as SpamAssassin's HTMLEval \
              html_image_only.",
        check: |a| {
            arity(a, 2, 2)?;
            for x in a {
                x.0.parse::<f64>()
                    .map_err(|_| format!("expected a number, got '{}'", x.0))?;
            }
            Ok(())
        },
        run: |e, a| image_only(e, a),
    },
    EvalDef {
        name: "html_tag_exists",
        signature: "(tag)",
        doc: "Some HTML part opens the tag (`<tag` followed by a space, `>` or `/`, any case), as \
          SpamAssassin's HTMLEval html_tag_exists.",
        check: |a| {
            arity(a, 1, 1)?;
            if a[0].0.is_empty() || !a[0].0.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("'{}' is not a tag name", a[0].0));
            }
            Ok(())
        },
        run: |e, a| tag_exists(e, a),
    },
];

fn image_only(e: &Env<'_>, a: &[Arg]) -> bool {
    let bound = |i: usize| {
        a.get(i)
            .and_then(|x| x.0.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (min, max) = (bound(0), bound(1));
    e.view
        .text_parts
        .iter()
        .filter(|p| p.kind == TextKind::Html && opens_tag(&p.raw, b"img"))
        .any(|p| {
            #[allow(clippy::cast_precision_loss)]
            let len = p.raw.chars().count() as f64;
            len > min && len <= max
        })
}

fn tag_exists(e: &Env<'_>, a: &[Arg]) -> bool {
    let tag = a[0].0.to_ascii_lowercase();
    e.view
        .text_parts
        .iter()
        .filter(|p| p.kind == TextKind::Html)
        .any(|p| opens_tag(&p.raw, tag.as_bytes()))
}

/// True when `html` contains `<tag` followed by whitespace, `>` or `/` (case-insensitive).
fn opens_tag(html: &str, tag: &[u8]) -> bool {
    let b = html.as_bytes();
    memchr::memchr_iter(b'<', b).any(|i| {
        let rest = &b[i + 1..];
        rest.len() > tag.len()
            && rest[..tag.len()].eq_ignore_ascii_case(tag)
            && matches!(rest[tag.len()], b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')
    }) || (b.len() > tag.len() && {
        // `<tag` at the very end of the text.
        let end = &b[b.len() - tag.len() - 1..];
        end[0] == b'<' && end[1..].eq_ignore_ascii_case(tag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_opened_tags_only() {
        assert!(opens_tag("<HTML><body>", b"html"));
        assert!(opens_tag("x <html lang=en>", b"html"));
        assert!(!opens_tag("<htmlx> </html>", b"html"));
        assert!(!opens_tag("plain text", b"html"));
    }
}
