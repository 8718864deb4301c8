//! The evals over the message's links that SpamAssassin 4.0.1 runs by default: URIEval
//! (`check_https_ip_mismatch`, `check_uri_truncated`, `check_for_http_redirector`),
//! HTTPSMismatch (`check_https_http_mismatch`) and HTMLEval's `check_iframe_src`. They read
//! the HTML parser's `uri_detail` of each HTML part (the link texts by link as written,
//! [`super::sauri::UriDetail`]) and the URI list the `uri` rules read ([`super::sauri`]).
//! Written from the plugins' documented behaviour and source, not copied.

use std::sync::OnceLock;

use regex::Regex;

use super::evals::{Arg, Env, EvalDef, arity};

/// The link evals, registered beside [`super::evals::EVALS`].
pub(crate) static URI_EVALS: &[EvalDef] = &[
    EvalDef {
        name: "check_https_ip_mismatch",
        signature: "()",
        doc: "Some HTML part links to an IP address over http or https (`<a href=\"http://\
              1.2.3.4/...\">`) with a link text that names an `https:` address other than an \
              IP address, as URIEval's check_https_ip_mismatch reads the HTML parser's link \
              texts.",
        check: |a| arity(a, 0, 0),
        run: |e, _| https_ip_mismatch(e),
    },
    EvalDef {
        name: "check_uri_truncated",
        signature: "()",
        doc: "A link of an HTML part, or a reading of a URI of the message's URI list, was \
              longer than 8,192 bytes and cut (SpamAssassin's `uri_truncated`, URIEval's \
              check_uri_truncated).",
        check: |a| arity(a, 0, 0),
        run: |e, _| e.html().iter().any(|h| h.detail.truncated) || e.sa_uris().truncated,
    },
    EvalDef {
        name: "check_for_http_redirector",
        signature: "()",
        doc: "A URI of the message's URI list holds a second http(s) address on another \
              domain (`http://a.example/r?u=http://b.example/`), as URIEval's \
              check_for_http_redirector compares the registered domains.",
        check: |a| arity(a, 0, 0),
        run: |e, _| http_redirector(e),
    },
    EvalDef {
        name: "check_https_http_mismatch",
        signature: "(min_anchors, max_anchors)",
        doc: "In some HTML part a link to a host name (not an IP address) has a link text \
              naming `https://` and another registered domain, and the part's links with text \
              to valid host names number at least min_anchors (1 when 0 or empty) and fewer \
              than max_anchors (no limit when absent), as HTTPSMismatch reads them.",
        check: |a| {
            arity(a, 0, 2)?;
            a.iter().try_for_each(|x| num(x).map(|_| ()))
        },
        run: |e, a| {
            let min = a.first().and_then(|x| num(x).ok()).filter(|&m| m != 0.0);
            let max = a.get(1).and_then(|x| num(x).ok());
            https_http_mismatch(e, min.unwrap_or(1.0), max)
        },
    },
    EvalDef {
        name: "check_iframe_src",
        signature: "()",
        doc: "Some HTML part has an `<iframe>` whose `src` gives a link (resolved against \
              `<base href>`, not empty), as HTMLEval's check_iframe_src reads the parser's \
              `types->{iframe}`.",
        check: |a| arity(a, 0, 0),
        run: |e, _| e.html().iter().any(|h| h.detail.iframe_src),
    },
];

fn num(a: &Arg) -> Result<f64, String> {
    a.0.trim()
        .parse::<f64>()
        .map_err(|_| format!("expected a number, got '{}'", a.0))
}

fn regex(cell: &'static OnceLock<Option<Regex>>, re: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(re).ok()).as_ref()
}

/// URIEval's check_https_ip_mismatch.
fn https_ip_mismatch(e: &Env<'_>) -> bool {
    static LINK: OnceLock<Option<Regex>> = OnceLock::new();
    static TEXT: OnceLock<Option<Regex>> = OnceLock::new();
    let (Some(link), Some(text)) = (
        regex(
            &LINK,
            r"(?i)^https?:/*(?:[^@/]+@)?[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+",
        ),
        regex(
            &TEXT,
            r"(?i)^https:/*(?:[^@/]+@)?[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+",
        ),
    ) else {
        return false;
    };
    e.html().iter().any(|h| {
        h.detail.anchors.iter().any(|(k, texts)| {
            link.is_match(k)
                && texts
                    .iter()
                    .any(|t| !text.is_match(t) && t.to_ascii_lowercase().contains("https:"))
        })
    })
}

/// HTTPSMismatch's check_https_http_mismatch: per HTML part, whether a link's text names
/// another `https://` domain, and how many links to valid host names have text.
fn https_http_mismatch(e: &Env<'_>, min: f64, max: Option<f64>) -> bool {
    static LINK: OnceLock<Option<Regex>> = OnceLock::new();
    static TEXT: OnceLock<Option<Regex>> = OnceLock::new();
    let (Some(link), Some(text)) = (
        regex(&LINK, r"(?i)^https?://([^/:?#]+)"),
        regex(&TEXT, r"(?i)https://([^\s/:?#]+)"),
    ) else {
        return false;
    };
    let is_ip = |h: &str| h.parse::<std::net::IpAddr>().is_ok();
    e.html().iter().any(|h| {
        let mut hit = false;
        let mut anchors = 0_u32;
        for (k, texts) in &h.detail.anchors {
            let Some(host) = texts
                .first()
                .and(link.captures(k))
                .and_then(|c| c.get(1))
                .map(|m| m.as_str())
                .filter(|h| !is_ip(h))
            else {
                continue;
            };
            let uri = e.conf.registered_domain(host);
            if super::sauri::uri_to_domain(&uri, e.conf)
                .is_none_or(|d| !super::sauri::domain_valid(&d, e.conf))
            {
                continue;
            }
            anchors += 1;
            hit |= texts.iter().any(|t| {
                let Some(https) = text.captures(t).and_then(|c| c.get(1)).map(|m| m.as_str())
                else {
                    return false;
                };
                let https = if is_ip(https) {
                    https.to_owned()
                } else {
                    let d = e.conf.registered_domain(https);
                    if !super::sauri::domain_valid(&d, e.conf) {
                        return false;
                    }
                    d
                };
                !https.is_empty() && https != "0" && https != uri
            });
        }
        hit && f64::from(anchors) >= min && max.is_none_or(|m| f64::from(anchors) < m)
    })
}

/// URIEval's check_for_http_redirector: a URI whose tail, from a second `http(s):`, names a
/// registered domain other than the first (each tail taken in turn).
fn http_redirector(e: &Env<'_>) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(re) = regex(
        &RE,
        r"(?i)^https?://([^/:?]+).+?(https?:/{0,2}?([^/:?]+).*)$",
    ) else {
        return false;
    };
    let domain = |h: &str| super::sauri::uri_to_domain(h, e.conf).unwrap_or_else(|| h.to_owned());
    e.sa_uris().cleaned.iter().any(|u| {
        let mut cur = u.clone();
        while let Some(c) = re.captures(&cur) {
            let (Some(redir), Some(tail), Some(dest)) = (c.get(1), c.get(2), c.get(3)) else {
                return false;
            };
            if domain(redir.as_str()) != domain(dest.as_str()) {
                return true;
            }
            cur = tail.as_str().to_owned();
        }
        false
    })
}

#[cfg(test)]
#[path = "evals_uri_tests.rs"]
mod tests;
