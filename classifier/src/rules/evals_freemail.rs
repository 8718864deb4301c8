//! SpamAssassin's FreeMail plugin: sender, Reply-To and body addresses at free-mail providers
//! (`freemail_domains` in the rule files; `freemail_welcomelist` exempts addresses or
//! domains), and HEADER_FROM_DIFFERENT_DOMAINS, which SpamAssassin registers with it.
//!
//! As the plugin documents: a body with more than 5 addresses, or more than 3 free-mail ones,
//! is not used (newsletters, lists); the optional regex argument is matched against each
//! free-mail address found.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::evals::{Arg, Env, EvalDef, arity};
use super::evals_wlbl::{addrs_in, all_from_addrs, get_addr, get_text, header_addrs};
use super::pattern::Pattern;
use super::perlre;

/// `freemail_max_body_emails`: more distinct addresses in the body, and the body is not used.
const MAX_BODY_EMAILS: usize = 5;
/// `freemail_max_body_freemails`: more free-mail addresses in the body, and it is not used.
const MAX_BODY_FREEMAILS: usize = 3;

/// True for an address at a free-mail domain that is not welcomelisted.
fn is_freemail(e: &Env<'_>, addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || !domain.contains('.') {
        return false;
    }
    let (addr, domain) = (addr.to_ascii_lowercase(), domain.to_ascii_lowercase());
    if e.conf.freemail_welcome.contains(&addr) || e.conf.freemail_welcome.contains(&domain) {
        return false;
    }
    e.conf.freemail_domain(&domain)
}

/// The free-mail addresses of the body, or none when the body has too many addresses.
fn body_freemails(e: &Env<'_>) -> Vec<String> {
    let text: Vec<&str> = e.view.text_parts.iter().map(|p| p.text.as_str()).collect();
    let mut all = addrs_in(&text.join("\n"));
    // Addresses of mailto: links count too, visible or not.
    for u in e.view.urls.iter().filter(|u| u.scheme == "mailto") {
        let target = u.url.split_once(':').map_or("", |(_, r)| r);
        for a in addrs_in(target.split('?').next().unwrap_or("")) {
            if !all.contains(&a) {
                all.push(a);
            }
        }
    }
    if all.len() > MAX_BODY_EMAILS {
        return Vec::new();
    }
    let fm: Vec<String> = all.into_iter().filter(|a| is_freemail(e, a)).collect();
    if fm.len() > MAX_BODY_FREEMAILS {
        return Vec::new();
    }
    fm
}

/// A regex argument, compiled once per process (rule files hold a handful).
fn regex_arg(src: &str) -> Option<Arc<Pattern>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<Pattern>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut m = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(p) = m.get(src) {
        return p.clone();
    }
    let p = perlre::translate(src, "")
        .ok()
        .map(|t| Arc::new(Pattern::new(t, false)));
    if m.len() < 1024 {
        m.insert(src.to_owned(), p.clone());
    }
    p
}

fn check_regex(a: Option<&Arg>) -> Result<(), String> {
    match a {
        Some(x) => perlre::translate(&x.0, "").map(|_| ()),
        None => Ok(()),
    }
}

/// Some of `addrs` is free mail and, with a regex, matches it.
fn any_freemail(e: &Env<'_>, addrs: &[String], re: Option<&Arg>) -> bool {
    let re = match re {
        Some(r) => match regex_arg(&r.0) {
            Some(p) => Some(p),
            None => return false,
        },
        None => None,
    };
    addrs
        .iter()
        .any(|a| is_freemail(e, a) && re.as_ref().is_none_or(|p| p.is_match(a)))
}

fn freemail_replyto(e: &Env<'_>, what: &str) -> bool {
    let from = get_addr(e, "From");
    let reply = get_addr(e, "Reply-To");
    let from_fm = is_freemail(e, &from);
    let reply_fm = is_freemail(e, &reply);
    if what == "replyto" {
        if !reply_fm {
            return false;
        }
    } else if !reply_fm && (!reply.is_empty() || !from_fm) {
        return false;
    }
    if from_fm && reply_fm && from != reply {
        return true;
    }
    let check = if reply.is_empty() { &from } else { &reply };
    body_freemails(e).iter().any(|b| b != check)
}

/// The registrable domain of an address (empty without one).
fn addr_domain(a: &str) -> String {
    a.rsplit_once('@')
        .filter(|(l, d)| !l.is_empty() && d.contains('.'))
        .map(|(_, d)| crate::url::registrable_domain(d.trim_end_matches('.')).to_ascii_lowercase())
        .unwrap_or_default()
}

/// The FreeMail evals, registered beside [`super::evals::EVALS`].
pub(crate) static FREEMAIL_EVALS: &[EvalDef] = &[
    EvalDef {
        name: "check_freemail_from",
        signature: "(['regex'])",
        doc: "A sender address (SpamAssassin's all_from_addrs) is at a free-mail domain \
              (`freemail_domains`), and matches the regex when one is given (FreeMail).",
        check: |a| {
            arity(a, 0, 1)?;
            check_regex(a.first())
        },
        run: |e, a| any_freemail(e, &all_from_addrs(e), a.first()),
    },
    EvalDef {
        name: "check_freemail_header",
        signature: "('Header' [, 'regex'])",
        doc: "An address in the header (EnvelopeFrom and the other pseudo-headers work) is \
              free mail, and matches the regex when one is given (FreeMail).",
        check: |a| {
            arity(a, 1, 2)?;
            check_regex(a.get(1))
        },
        run: |e, a| any_freemail(e, &header_addrs(&get_text(e, &a[0].0)), a.get(1)),
    },
    EvalDef {
        name: "check_freemail_body",
        signature: "(['regex'])",
        doc: "The body holds a free-mail address (at most 5 addresses, 3 of them free mail, \
              or the body is not used), matching the regex when one is given (FreeMail).",
        check: |a| {
            arity(a, 0, 1)?;
            check_regex(a.first())
        },
        run: |e, a| any_freemail(e, &body_freemails(e), a.first()),
    },
    EvalDef {
        name: "check_freemail_replyto",
        signature: "(['replyto' | 'reply'])",
        doc: "'replyto' (default): the Reply-To is free mail and the From (also free mail) or a \
              free-mail address of the body differs from it. 'reply': the same, and without a \
              Reply-To a free-mail From differing from a free-mail body address (FreeMail).",
        check: |a| {
            arity(a, 0, 1)?;
            match a.first().map(|x| x.0.as_str()) {
                None | Some("replyto" | "reply") => Ok(()),
                Some(o) => Err(format!("option '{o}' is neither 'replyto' nor 'reply'")),
            }
        },
        run: |e, a| freemail_replyto(e, a.first().map_or("replyto", |x| x.0.as_str())),
    },
    EvalDef {
        name: "check_equal_from_domains",
        signature: "()",
        doc: "The From address and the envelope sender are both present and their registrable \
              domains differ (HEADER_FROM_DIFFERENT_DOMAINS, registered by FreeMail).",
        check: |a| arity(a, 0, 0),
        run: |e, _| {
            let from = addr_domain(&get_addr(e, "From"));
            let env = addr_domain(&get_addr(e, "EnvelopeFrom"));
            !from.is_empty() && !env.is_empty() && from != env
        },
    },
];

#[cfg(test)]
mod tests {

    const RULES: &str = "freemail_domains gmail.com yahoo.* hotmail.co.??\n\
        freemail_welcomelist friend@gmail.com\n\
        header FM_FROM eval:check_freemail_from()\n\
        header FM_FROM_DIGIT eval:check_freemail_from('\\d@')\n\
        header FM_REPLYTO eval:check_freemail_replyto('replyto')\n\
        header FM_REPLY eval:check_freemail_replyto('reply')\n\
        header FM_HDR_RT eval:check_freemail_header('Reply-To')\n\
        header FROM_DIFF eval:check_equal_from_domains()\n";

    fn hits(raw: &str) -> Vec<String> {
        crate::rules::tests::hits_now(RULES, raw)
    }

    fn has(h: &[String], r: &str) -> bool {
        h.iter().any(|x| x == r)
    }

    #[test]
    fn from_and_reply_to() {
        let h = hits("From: Joe <joe77@yahoo.fr>\nReply-To: other@gmail.com\nSubject: s\n\nhi\n");
        assert!(has(&h, "FM_FROM") && has(&h, "FM_FROM_DIGIT") && has(&h, "FM_HDR_RT"));
        assert!(has(&h, "FM_REPLYTO") && has(&h, "FM_REPLY"), "{h:?}");
        // A welcomelisted address is not free mail; a company address never is.
        let h = hits("From: friend@gmail.com\nSubject: s\n\nhi\n");
        assert!(!has(&h, "FM_FROM"), "{h:?}");
        let h = hits("From: a@corp.example\nReply-To: a@corp.example\nSubject: s\n\nhi\n");
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn reply_compares_from_with_body_without_reply_to() {
        let raw = "From: joe@gmail.com\nSubject: s\n\nwrite to me at joe.private@yahoo.com\n";
        let h = hits(raw);
        assert!(has(&h, "FM_REPLY") && !has(&h, "FM_REPLYTO"), "{h:?}");
        // Too many addresses: a newsletter, the body is not used.
        let many = "From: joe@gmail.com\nSubject: s\n\na@yahoo.com b@x.example c@x.example \
                    d@x.example e@x.example f@x.example\n";
        assert!(!has(&hits(many), "FM_REPLY"));
        // A mailto: link counts as a body address even when its text does not show it.
        let html = "From: joe@gmail.com\nReply-To: joe@gmail.com\nSubject: s\n\
                    Content-Type: text/html\n\n<a href=\"mailto:abuse@yahoo.com?s=x\">here</a>\n";
        assert!(has(&hits(html), "FM_REPLYTO"), "{:?}", hits(html));
    }

    #[test]
    fn from_and_envelope_domains() {
        let h = hits("Return-Path: <b@bounce.mailer.example>\nFrom: a@shop.example\n\nx\n");
        assert!(has(&h, "FROM_DIFF"), "{h:?}");
        let h = hits("Return-Path: <b@news.shop.example>\nFrom: a@shop.example\n\nx\n");
        assert!(!has(&h, "FROM_DIFF"), "same registrable domain: {h:?}");
        // A From without a real domain has no domain to differ.
        let h = hits("Return-Path: <b@yahoo.com>\nFrom: \"A\" <\"\"@NODOMAIN>\n\nx\n");
        assert!(!has(&h, "FROM_DIFF"), "{h:?}");
    }
}
