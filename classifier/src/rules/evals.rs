//! Built-in eval tests: what a regex cannot express, called from rules as `eval:NAME(args)`.
//!
//! Where SpamAssassin has a function of the same meaning, the same name and arguments are used,
//! so its rule files work unchanged; the others are mailsift's own. Every test is registered once
//! in [`EVALS`], with its signature and documentation (`mailsift rules show` prints them). An
//! eval that a rule file names but this table lacks is reported by lint and the rule is skipped.
//!
//! Ranges follow SpamAssassin: `min <= x < max`; `'undef'` or `'inf'` leaves a side open.

use super::EvalContext;
use crate::message::{MessageView, TransferEncoding};

#[path = "evals_measure.rs"]
mod measure;
pub(crate) use measure::caps_fp_charset;
use measure::{
    alternative_difference, fromname_spoof, has_html, html_only, illegal_chars, link_text_mismatch,
    msgid_from_relay, qp_long_line, sa_illegal_chars, sa_subject_all_caps, shouting, uppercase_pct,
};

/// An argument as written in `eval:name(...)`: quotes removed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg(pub String);

impl Arg {
    /// The argument as a number; `undef`/`inf` give infinity (an open bound).
    fn num(&self) -> Result<f64, String> {
        match self.0.as_str() {
            "undef" | "inf" | "+inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            s => s
                .parse::<f64>()
                .map_err(|_| format!("expected a number, got '{s}'")),
        }
    }
}

/// Everything an eval test sees.
pub(crate) struct Env<'a> {
    pub view: &'a MessageView,
    pub ctx: &'a EvalContext,
    /// The plugin settings of the rule set (address lists, free-mail domains, ...).
    pub conf: &'a super::plugconf::PluginConf,
    /// The Received chain split by trust, computed on first use.
    pub trust: &'a super::trust::LazyTrust<'a>,
    parts: std::sync::OnceLock<Vec<super::mimeparts::MimePart>>,
    sa_parts: std::sync::OnceLock<super::saparts::SaParts<'a>>,
    html: std::sync::OnceLock<Vec<super::sahtml::HtmlStats>>,
    images: std::sync::OnceLock<super::evals_image::Images>,
    sa_uris: std::sync::OnceLock<super::sauri::SaUris>,
    /// Per-message measures that several rules read with different arguments (12
    /// `check_for_shifted_date` rules, 3 `check_for_uppercase`, 9 `check_for_mime`, ...):
    /// computed once, not once per rule.
    once: OnceMeasures,
}

/// The per-message measures [`Env`] keeps after their first use.
#[derive(Default)]
pub(crate) struct OnceMeasures {
    date_diff_sa: std::sync::OnceLock<i64>,
    date_diff: std::sync::OnceLock<i64>,
    uppercase_pct: std::sync::OnceLock<Option<f64>>,
    /// MIMEEval's `uppercase` (check_for_uppercase as SpamAssassin computes it).
    pub(crate) sa_uppercase: std::sync::OnceLock<f64>,
    pub(crate) mime_facts: std::sync::OnceLock<super::evals_mime::Facts>,
    pub(crate) mime_alt_difference: std::sync::OnceLock<Option<(f64, usize, usize)>>,
    /// SpamAssassin's rendered body lines ([`super::sauri::body_lines`]).
    sa_body_lines: std::sync::OnceLock<Vec<String>>,
    /// The same after FreeMail's edits, where it edits them.
    sa_body_lines_edited: std::sync::OnceLock<Vec<String>>,
    /// Whether SpamAssassin's body is a byte string with Latin-1 characters
    /// ([`Env::latin1_body`]).
    latin1_body: std::sync::OnceLock<bool>,
    /// Whether FreeMail parses (and so edits) the body (`evals_freemail::parses_body`).
    pub(crate) freemail_parses_body: std::sync::OnceLock<bool>,
    /// FreeMail's body addresses at free-mail domains (none when the body is not used).
    pub(crate) freemail_body: std::sync::OnceLock<Vec<String>>,
    /// The measures of the local MIME, body and header evals (`evals_local`).
    pub(crate) local: super::evals_local::Measures,
    /// SpamAssassin's `all_from_addrs` and `all_to_addrs` (`evals_wlbl`), read by a dozen
    /// list rules each.
    pub(crate) from_addrs: std::sync::OnceLock<Vec<String>>,
    pub(crate) to_addrs: std::sync::OnceLock<Vec<String>>,
}

impl<'a> Env<'a> {
    pub(crate) fn new(
        view: &'a MessageView,
        ctx: &'a EvalContext,
        conf: &'a super::plugconf::PluginConf,
        trust: &'a super::trust::LazyTrust<'a>,
    ) -> Self {
        Env {
            view,
            ctx,
            conf,
            trust,
            parts: std::sync::OnceLock::new(),
            sa_parts: std::sync::OnceLock::new(),
            html: std::sync::OnceLock::new(),
            images: std::sync::OnceLock::new(),
            sa_uris: std::sync::OnceLock::new(),
            once: OnceMeasures::default(),
        }
    }

    /// The per-message measures computed on first use.
    pub(crate) fn once(&self) -> &OnceMeasures {
        &self.once
    }

    /// [`super::dates::date_diff_sa`], computed once per message.
    fn date_diff_sa(&self) -> i64 {
        *self
            .once
            .date_diff_sa
            .get_or_init(|| super::dates::date_diff_sa(self.view))
    }

    /// [`super::dates::date_diff`], computed once per message.
    fn date_diff(&self) -> i64 {
        *self
            .once
            .date_diff
            .get_or_init(|| super::dates::date_diff(self.view))
    }

    /// [`uppercase_pct`], computed once per message.
    fn uppercase_pct(&self) -> Option<f64> {
        *self
            .once
            .uppercase_pct
            .get_or_init(|| uppercase_pct(self.view))
    }

    /// The MIME parts as SpamAssassin walks them, computed on first need.
    pub(crate) fn parts(&self) -> &[super::mimeparts::MimePart] {
        self.parts.get_or_init(|| super::mimeparts::walk(self.view))
    }

    /// The text parts as the rules of loaded SpamAssassin files read them, on first need.
    pub(crate) fn sa_parts(&self) -> &super::saparts::SaParts<'a> {
        self.sa_parts
            .get_or_init(|| super::saparts::sa_parts(self.view, self.parts()))
    }

    /// SpamAssassin's rendered body lines, as the URI list and FreeMail read them, on first
    /// need.
    pub(crate) fn sa_body_lines(&self) -> &[String] {
        self.once
            .sa_body_lines
            .get_or_init(|| super::sauri::body_lines(self))
    }

    /// SpamAssassin's rendered body lines as its body rules and evals read them: after
    /// FreeMail's edits where it makes them ([`super::evals_freemail::edit_body`]).
    pub(crate) fn sa_body_lines_edited(&self) -> &[String] {
        if !super::evals_freemail::parses_body(self) {
            return self.sa_body_lines();
        }
        self.once.sa_body_lines_edited.get_or_init(|| {
            let mut lines = self.sa_body_lines().to_vec();
            super::evals_freemail::edit_body(self, &mut lines);
            lines
        })
    }

    /// Whether SpamAssassin's body rules read the body (after its Subject line) as Latin-1
    /// bytes. `get_body_text_array_common` encodes the joined text as UTF-8 only when one
    /// part's rendered text is a character string: a part `_normalize` decoded
    /// ([`super::saparts::SaPart::decoded`]) or HTML with an entity above U+00FF. Where none
    /// is, the text stays a byte string, and the characters its HTML entities give below
    /// U+0100 (`&eacute;`, `&raquo;`) are one byte each: `V&iacute;agra` is `V\xEDagra` to
    /// `__DRUGS_ERECTILE1`'s `[i1!|l\xEC-\xEF]`, and four `&eacute;` in a row are four bytes
    /// to `__HIGHBITS`, not eight. True only where that reading differs: some character of
    /// the body is above U+007F, none above U+00FF. The Subject line is encoded on its own.
    pub(crate) fn latin1_body(&self) -> bool {
        *self.once.latin1_body.get_or_init(|| {
            let parts = &self.sa_parts().parts;
            if parts.iter().any(|p| (p.rendered || p.html) && p.decoded) {
                return false;
            }
            let body = self.sa_body_lines().get(1..).unwrap_or_default();
            let mut high = false;
            for c in body.iter().flat_map(|l| l.chars()) {
                match u32::from(c) {
                    0x80..=0xff => high = true,
                    0x100.. => return false,
                    _ => {}
                }
            }
            high
        })
    }

    /// The base64 images as SpamAssassin's ImageInfo reads them, on first need.
    pub(crate) fn images(&self) -> &super::evals_image::Images {
        self.images
            .get_or_init(|| super::evals_image::images(self.parts()))
    }

    /// The message's URIs as SpamAssassin lists them, on first need.
    pub(crate) fn sa_uris(&self) -> &super::sauri::SaUris {
        self.sa_uris.get_or_init(|| super::sauri::uri_list(self))
    }

    /// Each HTML part measured as SpamAssassin's HTML renderer measures it, on first need.
    pub(crate) fn html(&self) -> &[super::sahtml::HtmlStats] {
        self.html.get_or_init(|| {
            self.sa_parts()
                .parts
                .iter()
                .filter(|p| p.html)
                .map(|p| super::sahtml::analyse(&p.text))
                .collect()
        })
    }
}

type Check = fn(&[Arg]) -> Result<(), String>;
type Run = fn(&Env<'_>, &[Arg]) -> bool;

/// One built-in eval test.
pub(crate) struct EvalDef {
    /// The name used after `eval:`.
    pub name: &'static str,
    /// Argument list as documented, e.g. `(min_hours, max_hours)`.
    pub signature: &'static str,
    /// What it tests.
    pub doc: &'static str,
    pub(crate) check: Check,
    pub(crate) run: Run,
}

impl EvalDef {
    /// Validates arguments at load time.
    pub(crate) fn check(&self, args: &[Arg]) -> Result<(), String> {
        (self.check)(args)
    }

    /// Runs the test.
    pub(crate) fn run(&self, env: &Env<'_>, args: &[Arg]) -> bool {
        (self.run)(env, args)
    }
}

impl std::fmt::Debug for EvalDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Looks up a built-in eval by name.
pub(crate) fn find(name: &str) -> Option<&'static EvalDef> {
    all().find(|e| e.name == name)
}

/// [`find`] for a rule of `kind`: an eval that reads the text SpamAssassin passes it reads
/// another text as a `rawbody` rule.
pub(crate) fn find_for(name: &str, kind: super::RuleKind) -> Option<&'static EvalDef> {
    match (name, kind) {
        ("image_to_text_ratio", super::RuleKind::RawBody) => {
            Some(&super::evals_image::RAWBODY_IMAGE_TO_TEXT_RATIO)
        }
        _ => find(name),
    }
}

/// Every built-in eval test, in registry order.
pub(crate) fn all() -> impl Iterator<Item = &'static EvalDef> {
    EVALS
        .iter()
        .chain(super::evals_html::HTML_EVALS.iter())
        .chain(super::evals_mime::MIME_EVALS.iter())
        .chain(super::plugin_evals())
        .chain(super::evals_trust::TRUST_EVALS.iter())
        .chain(super::evals_rcvd::RCVD_EVALS.iter())
        .chain(super::evals_parse::PARSE_EVALS.iter())
        .chain(super::evals_image::IMAGE_EVALS.iter())
        .chain(super::evals_uri::URI_EVALS.iter())
}

/// Parses `name(arg, 'arg', "arg")` into the name and arguments.
pub(crate) fn parse_call(s: &str) -> Result<(String, Vec<Arg>), String> {
    let s = s.trim();
    let open = s
        .find('(')
        .ok_or_else(|| format!("eval call '{s}' has no argument list"))?;
    let name = s[..open].trim();
    let Some(inner) = s[open + 1..].trim_end().strip_suffix(')') else {
        return Err(format!("eval call '{s}' has no closing ')'"));
    };
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut had_any = false;
    for c in inner.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                had_any = true;
            }
            (None, ',') => {
                args.push(Arg(cur.trim().to_owned()));
                cur.clear();
                had_any = false;
            }
            (None, c) => {
                if !c.is_whitespace() {
                    had_any = true;
                }
                cur.push(c);
            }
        }
    }
    if quote.is_some() {
        return Err(format!("eval call '{s}' has an unclosed quote"));
    }
    if had_any || !args.is_empty() {
        args.push(Arg(cur.trim().to_owned()));
    }
    Ok((name.to_owned(), args))
}

/// SpamAssassin's check_illegal_chars on `v` (for tests).
#[cfg(test)]
pub(crate) fn illegal_chars_hits(v: &MessageView, header: &str, ratio: f64, count: f64) -> bool {
    sa_illegal_chars(v, header, ratio, count)
}

/// check_illegal_chars' arguments: a header name, a ratio and a count.
fn illegal_chars_args(a: &[Arg]) -> Result<(), String> {
    arity(a, 3, 3)?;
    a[1].num()?;
    a[2].num().map(|_| ())
}

pub(crate) fn arity(args: &[Arg], min: usize, max: usize) -> Result<(), String> {
    if args.len() < min || args.len() > max {
        return Err(if min == max {
            format!("takes {min} argument(s), got {}", args.len())
        } else {
            format!("takes {min} to {max} arguments, got {}", args.len())
        });
    }
    Ok(())
}

pub(crate) fn no_args(args: &[Arg]) -> Result<(), String> {
    arity(args, 0, 0)
}

fn range_args(args: &[Arg]) -> Result<(), String> {
    arity(args, 1, 2)?;
    for a in args {
        a.num()?;
    }
    Ok(())
}

fn one_num(args: &[Arg]) -> Result<(), String> {
    arity(args, 1, 1)?;
    args[0].num().map(|_| ())
}

/// `min <= x < max`, with a missing max open.
fn in_range(x: f64, args: &[Arg], first: usize) -> bool {
    let lo = args.get(first).and_then(|a| a.num().ok()).unwrap_or(0.0);
    let lo = if lo == f64::INFINITY {
        f64::NEG_INFINITY
    } else {
        lo
    };
    let hi = args
        .get(first + 1)
        .and_then(|a| a.num().ok())
        .unwrap_or(f64::INFINITY);
    x >= lo && x < hi
}

fn num(args: &[Arg], i: usize) -> f64 {
    args.get(i).and_then(|a| a.num().ok()).unwrap_or(0.0)
}

const MIME_FLAGS: &[&str] = &[
    "mime_base64_encoded_text",
    "mime_attachment",
    "mime_html",
    "mime_html_only",
    "mime_qp_long_line",
];

const HTML_SIGNALS: &[&str] = &[
    "tags",
    "images",
    "links",
    "fonts",
    "forms",
    "scripts",
    "comments",
    "visible_chars",
    "invisible_chars",
    "unknown_tags",
];

/// File name extensions that run code when opened on common desktops.
const RISKY_EXTENSIONS: &[&str] = &[
    "exe", "scr", "pif", "com", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh", "hta",
    "cpl", "msi", "msp", "lnk", "reg", "jar", "ps1", "iso", "img", "chm", "shs",
];

/// The registry of built-in eval tests.
pub(crate) static EVALS: &[EvalDef] = &[
    EvalDef {
        name: "check_bayes",
        signature: "(min, max)",
        doc: "The Bayes spam probability is in [min, max). SpamAssassin's BAYES_xx rules use it. \
              Never hits when there is no Bayes result.",
        check: |a| {
            arity(a, 2, 2)?;
            range_args(a)
        },
        run: |e, a| {
            e.ctx.bayes_probability.is_some_and(|p| {
                p >= num(a, 0) && (p < num(a, 1) || (num(a, 1) >= 1.0 && p <= 1.0))
            })
        },
    },
    EvalDef {
        name: "mailsift_mime",
        signature: "('flag')",
        doc: "mailsift's own reading of a MIME property (SpamAssassin's check_for_mime \
              measures otherwise; see evals_mime.rs): 'mime_base64_encoded_text' (a text part sent as base64, which \
              hides words from simple filters), 'mime_attachment' (any non-text part), \
              'mime_html' (any HTML part), 'mime_html_only' (HTML parts and no plain text), \
              'mime_qp_long_line' (a quoted-printable part with a line over 76 characters).",
        check: |a| {
            arity(a, 1, 1)?;
            if MIME_FLAGS.contains(&a[0].0.as_str()) {
                Ok(())
            } else {
                Err(format!("unsupported flag '{}'", a[0].0))
            }
        },
        run: |e, a| match a[0].0.as_str() {
            "mime_base64_encoded_text" => e
                .view
                .text_parts
                .iter()
                .any(|p| p.encoding == TransferEncoding::Base64),
            "mime_attachment" => !e.view.attachments.is_empty(),
            "mime_html" => has_html(e.view),
            "mime_html_only" => html_only(e.view),
            "mime_qp_long_line" => qp_long_line(e.view),
            _ => false,
        },
    },
    EvalDef {
        name: "mailsift_html_only",
        signature: "()",
        doc: "The message has HTML parts and no plain-text alternative with text in it \
              (SpamAssassin's check_for_mime_html_only counts empty text parts too).",
        check: no_args,
        run: |e, _| html_only(e.view),
    },
    EvalDef {
        name: "html_image_visible_text",
        signature: "(min_chars, max_chars)",
        doc: "HTML with at least one image and between min and max characters of visible text: \
              a picture of the pitch with little text for a filter to read. (SpamAssassin's \
              html_image_only measures the HTML source instead.)",
        check: range_args,
        run: |e, a| {
            let s = e.view.html_signals();
            s.images > 0 && has_html(e.view) && in_range(f64::from(s.visible_chars), a, 0)
        },
    },
    EvalDef {
        name: "mailsift_alternative_difference",
        signature: "(min_pct, max_pct)",
        doc: "mailsift's own text/HTML mismatch (SpamAssassin's \
              multipart_alternative_difference counts words otherwise): the percentage of distinct words of the HTML part that \
              are missing from the plain-text part is in [min, max]. Only for messages with \
              both a plain and an HTML part.",
        check: range_args,
        run: |e, a| {
            alternative_difference(e.view).is_some_and(|d| {
                d >= num(a, 0) && (d < num(a, 1) || (d == 100.0 && num(a, 1) >= 100.0))
            })
        },
    },
    EvalDef {
        name: "check_for_shifted_date",
        signature: "(min_hours, max_hours)",
        doc: "The Date header is between min and max hours after the time the message was \
              received, as SpamAssassin measures it: the smallest difference between the Date \
              and any Received header's time (0 without either), both read by SpamAssassin's \
              date parser (no zone, or one it cannot read, is UTC); negative hours mean a date \
              in the past.",
        check: range_args,
        run: |e, a| shifted(e.date_diff_sa(), a),
    },
    EvalDef {
        name: "mailsift_shifted_date",
        signature: "(min_hours, max_hours)",
        doc: "As check_for_shifted_date, with the dates read by mail-parser (a Date without a \
              readable zone is not taken as UTC): mailsift's own DATE_IN_FUTURE.",
        check: range_args,
        run: |e, a| shifted(e.date_diff(), a),
    },
    EvalDef {
        name: "date_unparseable",
        signature: "()",
        doc: "A Date header is present but is not a valid RFC 5322 date.",
        check: no_args,
        run: |e, _| e.view.has_header("Date") && e.view.date.is_none(),
    },
    EvalDef {
        name: "check_fromname_spoof",
        signature: "()",
        doc: "The From display name shows an email address whose domain differs from the \
              real sender's domain (\"paypal.com <x@evil.example>\").",
        check: no_args,
        run: |e, _| fromname_spoof(e.view),
    },
    EvalDef {
        name: "subject_is_all_caps",
        signature: "()",
        doc: "As SpamAssassin: the Subject without Re:/Fwd: prefixes has two words and ten \
              bytes, and its ASCII letters are all upper case.",
        check: no_args,
        run: |e, _| sa_subject_all_caps(e.view),
    },
    EvalDef {
        name: "mailsift_subject_all_caps",
        signature: "()",
        doc: "A shouting Subject: at least two words and ten letters, none of them lower case \
              (the built-in SUBJ_ALL_CAPS's reading).",
        check: no_args,
        run: |e, _| e.view.subject.as_deref().is_some_and(shouting),
    },
    EvalDef {
        name: "mailsift_uppercase",
        signature: "(min_pct, max_pct)",
        doc: "The percentage of upper-case letters among the letters of the visible body \
              (not the Subject) is in [min, max]. Bodies under 200 letters never hit (the \
              built-in BODY_SHOUTING's reading; SpamAssassin's is check_for_uppercase).",
        check: range_args,
        run: |e, a| {
            e.uppercase_pct().is_some_and(|p| {
                p >= num(a, 0) && p <= a.get(1).and_then(|x| x.num().ok()).unwrap_or(f64::INFINITY)
            })
        },
    },
    EvalDef {
        name: "recipient_count",
        signature: "(min, max)",
        doc: "The number of To and Cc addresses is in [min, max): mail to many visible \
              recipients is typical of bulk senders.",
        check: range_args,
        run: |e, a| {
            #[allow(clippy::cast_precision_loss)]
            let n = (e.view.to.len() + e.view.cc.len()) as f64;
            in_range(n, a, 0)
        },
    },
    EvalDef {
        name: "msgid_from_relay",
        signature: "()",
        doc: "The Message-Id carries a queue id that a Received header for SMTP names (`id X`): a \
              relay made it up because the sending program wrote none.",
        check: no_args,
        run: |e, _| msgid_from_relay(e.view),
    },
    EvalDef {
        name: "check_header_count_range",
        signature: "('Header', min, max)",
        doc: "The header field occurs between min and max times (inclusive).",
        check: |a| {
            arity(a, 2, 3)?;
            a[1..].iter().try_for_each(|x| x.num().map(|_| ()))
        },
        run: |e, a| {
            #[allow(clippy::cast_precision_loss)]
            let n = e.view.header_values(&a[0].0).count() as f64;
            n >= num(a, 1) && n <= a.get(2).and_then(|x| x.num().ok()).unwrap_or(f64::INFINITY)
        },
    },
    EvalDef {
        name: "check_illegal_chars",
        signature: "('Header' or 'ALL', ratio, count)",
        doc: "As SpamAssassin: the raw header (or all headers), unless valid UTF-8 without \
              control characters, holds at least count 8-bit or control bytes making up at \
              least ratio of its length: unencoded binary in headers.",
        check: illegal_chars_args,
        run: |e, a| sa_illegal_chars(e.view, &a[0].0, num(a, 1), num(a, 2)),
    },
    EvalDef {
        name: "mailsift_illegal_chars",
        signature: "('Header' or 'ALL', ratio, count)",
        doc: "The header (or all headers) holds at least count non-ASCII or control characters \
              making up more than ratio of its length, valid UTF-8 or not (the built-in \
              HEADER_8BIT's reading).",
        check: illegal_chars_args,
        run: |e, a| illegal_chars(e.view, &a[0].0, num(a, 1), num(a, 2)),
    },
    EvalDef {
        name: "obfuscated_words",
        signature: "(min)",
        doc: "At least min words are written to dodge word filters: letters split by a \
              repeated separator (v.i.a.g.r.a, F R E E M E), or digits and '$' standing in for \
              letters inside a word (m0rtgage, ca$h).",
        check: one_num,
        run: |e, a| f64::from(measure::obfuscated_words_in(e.view)) >= num(a, 0),
    },
    EvalDef {
        name: "uri_ip_host",
        signature: "()",
        doc: "A web link points at a bare IP address (or a decimal/hex-encoded one) rather \
              than a host name.",
        check: no_args,
        run: |e, _| {
            e.view
                .urls
                .iter()
                .any(|u| (u.scheme == "http" || u.scheme == "https") && u.host_is_ip())
        },
    },
    EvalDef {
        name: "uri_text_mismatch",
        signature: "()",
        doc: "An HTML link's visible text is itself a web address, but on a different domain \
              from where the link really goes: the phishing shape.",
        check: no_args,
        run: |e, _| link_text_mismatch(e.view),
    },
    EvalDef {
        name: "html_invisible_text",
        signature: "(min_chars)",
        doc: "At least min characters of HTML text are hidden from the reader (display:none, \
              tiny or white fonts): typical Bayes poison.",
        check: one_num,
        run: |e, a| f64::from(e.view.html_signals().invisible_chars) >= num(a, 0),
    },
    EvalDef {
        name: "html_signal",
        signature: "('signal', min, max)",
        doc: "An HTML count summed over HTML parts is in [min, max). Signals: tags, images, \
              links, fonts, forms, scripts, comments, visible_chars, invisible_chars, \
              unknown_tags.",
        check: |a| {
            arity(a, 2, 3)?;
            if !HTML_SIGNALS.contains(&a[0].0.as_str()) {
                return Err(format!(
                    "unknown signal '{}' (one of {})",
                    a[0].0,
                    HTML_SIGNALS.join(", ")
                ));
            }
            a[1..].iter().try_for_each(|x| x.num().map(|_| ()))
        },
        run: |e, a| {
            let s = e.view.html_signals();
            let v = match a[0].0.as_str() {
                "tags" => s.tags,
                "images" => s.images,
                "links" => s.links,
                "fonts" => s.fonts,
                "forms" => s.forms,
                "scripts" => s.scripts,
                "comments" => s.comments,
                "visible_chars" => s.visible_chars,
                "invisible_chars" => s.invisible_chars,
                "unknown_tags" => s.unknown_tags,
                _ => return false,
            };
            has_html(e.view) && in_range(f64::from(v), a, 1)
        },
    },
    EvalDef {
        name: "risky_attachment",
        signature: "()",
        doc: "An attachment whose file name ends in an extension that runs code when opened \
              (.exe, .scr, .pif, .bat, .vbs, .js, .lnk, ...), or hides one behind a double \
              extension (invoice.pdf.exe).",
        check: no_args,
        run: |e, _| {
            e.view.attachments.iter().any(|a| {
                a.name.as_deref().is_some_and(|n| {
                    let n = n
                        .trim()
                        .trim_end_matches(['"', '.', ' '])
                        .to_ascii_lowercase();
                    n.rsplit_once('.')
                        .is_some_and(|(_, ext)| RISKY_EXTENSIONS.contains(&ext))
                })
            })
        },
    },
    EvalDef {
        name: "check_for_missing_to_header",
        signature: "()",
        doc: "Neither To nor Apparently-To is present.",
        check: no_args,
        run: |e, _| !e.view.has_header("To") && !e.view.has_header("Apparently-To"),
    },
];

/// Whether a date difference in seconds is in [min, max) hours.
fn shifted(diff: i64, a: &[Arg]) -> bool {
    #[allow(clippy::cast_precision_loss)]
    let hours = diff as f64 / 3600.0;
    let lo = args_lo(a);
    let hi = a.get(1).and_then(|x| x.num().ok()).unwrap_or(f64::INFINITY);
    hours >= lo && hours < hi
}

fn args_lo(a: &[Arg]) -> f64 {
    match a.first().map(Arg::num) {
        Some(Ok(x)) if x == f64::INFINITY => f64::NEG_INFINITY,
        Some(Ok(x)) => x,
        _ => f64::NEG_INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::measure::obfuscated_word_count;
    use super::*;

    #[test]
    fn parses_calls() {
        assert_eq!(
            parse_call("check_for_shifted_date('96', 'undef')"),
            Ok((
                "check_for_shifted_date".to_owned(),
                vec![Arg("96".into()), Arg("undef".into())]
            ))
        );
        assert_eq!(parse_call("f()"), Ok(("f".to_owned(), vec![])));
        assert_eq!(
            parse_call("f(1, \"a,b\")"),
            Ok(("f".to_owned(), vec![Arg("1".into()), Arg("a,b".into())]))
        );
        assert!(parse_call("f('x)").is_err());
        assert!(parse_call("f").is_err());
    }

    #[test]
    fn registry_names_unique_and_documented() {
        let mut names: Vec<&str> = all().map(|e| e.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
        assert!(all().all(|e| e.doc.len() > 20));
    }

    #[test]
    fn obfuscation_counter() {
        assert_eq!(obfuscated_word_count("buy v.i.a.g.r.a now"), 1);
        assert_eq!(obfuscated_word_count("F R E E M O N E Y offer"), 1);
        assert_eq!(obfuscated_word_count("F R E E offer"), 0);
        assert_eq!(obfuscated_word_count("cheap m0rtgage and ca$hback"), 2);
        assert_eq!(
            obfuscated_word_count("the U.S.A. uses win32 mp3 and IPv4, a b c"),
            0
        );
    }

    #[test]
    fn shouting_subjects() {
        assert!(shouting("MAKE MONEY FAST NOW"));
        assert!(!shouting("Make money fast"));
        assert!(!shouting("RE: FYI"));
    }

    #[test]
    fn msgid_from_relay_needs_an_smtp_relay_id() {
        let msg = |rcvd: &str, mid: &str| {
            let raw = format!("Received: {rcvd}\nMessage-Id: {mid}\nSubject: x\n\nbody\n");
            MessageView::parse(raw.as_bytes(), &crate::limits::Limits::default())
        };
        let relay = "from a.example (a.example [192.0.2.1]) by mx.example (8.11.6/8.11.6) \
                     with ESMTP id g7UJK2a12345; Fri, 30 Aug 2002 19:20:00 +0000";
        let local = "(from user@localhost) by mx.example (8.12.5/8.12.5/Submit) \
                     id g7UJK2a12345; Fri, 30 Aug 2002 19:20:00 +0000";
        let made_up = "<200208301920.g7UJK2a12345@mx.example>";
        assert!(msgid_from_relay(&msg(relay, made_up)));
        // A local submission's id in the Message-Id is how sendmail's own `mail` writes it.
        assert!(!msgid_from_relay(&msg(local, made_up)));
        // A client's own Message-Id does not name the relay's queue id.
        assert!(!msgid_from_relay(&msg(
            relay,
            "<3D99A1B2.5060708@a.example>"
        )));
    }
}
