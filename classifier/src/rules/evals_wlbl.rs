//! SpamAssassin's WLBLEval (welcome- and blocklists of addresses and URI hosts) and VBounce
//! (bounce relays) evals, over the lists the rule files set (see [`super::plugconf`]).
//!
//! Only what needs no trust path: `welcomelist_from_rcvd`, `def_welcomelist_auth` and the SPF
//! and DKIM welcomelists depend on relays or authentication results, so the evals here do not
//! read them (with no such lines configured, as in the stock rules, this changes nothing).

use super::evals::{Arg, Env, EvalDef, arity, no_args};
use super::{HeaderTarget, htext};

/// `X:addr` as SpamAssassin's `get` returns it (empty when missing).
pub(crate) fn get_addr(e: &Env<'_>, field: &str) -> String {
    HeaderTarget::parse(&format!("{field}:addr"))
        .ok()
        .and_then(|t| e.trust.header_text(&t))
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A header's text as a header rule sees it (several instances joined by newlines).
pub(crate) fn get_text(e: &Env<'_>, field: &str) -> String {
    HeaderTarget::parse(field)
        .ok()
        .and_then(|t| e.trust.header_text(&t))
        .unwrap_or_default()
}

/// WelcomeListSubject's test: the Subject as `get('Subject')` gives it, ASCII lower case,
/// contains one of the patterns (SpamAssassin's Perl matches octets).
fn subject_listed(e: &Env<'_>, list: &[regex::bytes::Regex]) -> bool {
    if list.is_empty() {
        return false;
    }
    let subject = get_text(e, "Subject").to_ascii_lowercase();
    !subject.is_empty() && list.iter().any(|r| r.is_match(subject.as_bytes()))
}

/// The addresses of an address-list header text (several fields joined by newlines): each
/// mailbox's address, never an address-looking display name; lower case, without duplicates.
pub(crate) fn header_addrs(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        // Mailboxes one by one: first_mailbox takes the first, then skip past its comma.
        while !rest.trim().is_empty() && out.len() < 1000 {
            let Some((_, addr)) = htext::first_mailbox(rest) else {
                break;
            };
            let a = addr.trim().to_ascii_lowercase();
            if valid_addr(&a) && !out.contains(&a) {
                out.push(a);
            }
            match htext::top_level_comma(rest) {
                Some(i) => rest = &rest[i + 1..],
                None => break,
            }
        }
    }
    out
}

/// `local@domain.tld` with the characters addresses use in practice.
fn valid_addr(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else {
        return false;
    };
    let ok_local = |c: char| c.is_ascii_alphanumeric() || "._=+-'/".contains(c);
    !local.is_empty()
        && local.chars().all(ok_local)
        && domain.contains('.')
        && !domain.starts_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// Every address of a header as SpamAssassin's `get("NAME:addr")` gives it in list context
/// (every mailbox of every instance that looks like an address; `first` = `NAME:first:addr`),
/// lower case, once each. `EnvelopeFrom` is the envelope sender.
pub(crate) fn addr_list(e: &Env<'_>, field: &str, first: bool) -> Vec<String> {
    let Ok(mut t) = HeaderTarget::parse(&format!("{field}:addr")) else {
        return Vec::new();
    };
    t.every = true;
    t.first = first;
    let mut out: Vec<String> = Vec::new();
    for a in e.trust.header_text(&t).unwrap_or_default().lines() {
        let a = a.trim().to_ascii_lowercase();
        if !a.is_empty() && !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// SpamAssassin's `all_from_addrs`: the addresses of the first Resent-From when there is one,
/// else every address of From, Envelope-Sender, Resent-Sender, X-Envelope-From and the
/// envelope sender, with runs of dots squeezed (`a@yahoo..com` is `a@yahoo.com`).
///
/// Computed once a message (`from_in` runs it for each of the stock rules' dozen lists).
pub(crate) fn all_from_addrs<'e>(e: &'e Env<'_>) -> &'e [String] {
    e.once().from_addrs.get_or_init(|| from_addrs(e))
}

fn from_addrs(e: &Env<'_>) -> Vec<String> {
    let resent = addr_list(e, "Resent-From", true);
    if !resent.is_empty() {
        return resent;
    }
    let mut out: Vec<String> = Vec::new();
    for f in [
        "From",
        "Envelope-Sender",
        "Resent-Sender",
        "X-Envelope-From",
        "EnvelopeFrom",
    ] {
        for a in addr_list(e, f, false) {
            let mut a2 = String::with_capacity(a.len());
            for c in a.chars() {
                if !(c == '.' && a2.ends_with('.')) {
                    a2.push(c);
                }
            }
            if !out.contains(&a2) {
                out.push(a2);
            }
        }
    }
    out
}

/// SpamAssassin's `all_to_addrs`: Resent-To and Resent-Cc when present, else the recipient
/// headers. Computed once a message.
fn all_to_addrs<'e>(e: &'e Env<'_>) -> &'e [String] {
    e.once().to_addrs.get_or_init(|| to_addrs(e))
}

fn to_addrs(e: &Env<'_>) -> Vec<String> {
    let resent = format!("{}\n{}", get_text(e, "Resent-To"), get_text(e, "Resent-Cc"));
    if !resent.trim().is_empty() {
        return header_addrs(&resent);
    }
    let fields = [
        "To",
        "Cc",
        "Apparently-To",
        "Delivered-To",
        "Envelope-Recipients",
        "Apparently-Resent-To",
        "X-Envelope-To",
        "Envelope-To",
        "X-Delivered-To",
        "X-Original-To",
        "X-Rcpt-To",
        "X-Real-To",
    ];
    let text: Vec<String> = fields.iter().map(|f| get_text(e, f)).collect();
    header_addrs(&text.join("\n"))
}

fn list_arg(a: &[Arg]) -> Result<(), String> {
    arity(a, 1, 1)?;
    if a[0].0.is_empty() {
        return Err("needs a list name".into());
    }
    Ok(())
}

fn from_in(e: &Env<'_>, list: &str) -> bool {
    e.conf.has_addrlist(list)
        && all_from_addrs(e)
            .iter()
            .any(|a| e.conf.addr_listed(list, a))
}

fn to_in(e: &Env<'_>, list: &str) -> bool {
    e.conf.has_addrlist(list) && all_to_addrs(e).iter().any(|a| e.conf.addr_listed(list, a))
}

/// Whether a URI host of the message (SpamAssassin's URI list, `mailto:` left out) is on the
/// `enlist_uri_host` list: the most specific entry among the host and its parent domains
/// decides (`!host` excludes).
fn uri_host_listed(e: &Env<'_>, list: &str) -> bool {
    let Some(m) = e.conf.uri_hosts.get(list) else {
        return false;
    };
    e.sa_uris().hosts.iter().any(|host| {
        let mut h = host.trim_end_matches('.');
        loop {
            if let Some(&listed) = m.get(h) {
                return listed;
            }
            match h.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => h = parent,
                _ => return false,
            }
        }
    })
}

/// The bounced message's Received lines, quoted in the body: a host on the bounce relays.
fn bounce_relay_found(e: &Env<'_>) -> bool {
    if e.conf.bounce_relays.is_empty() {
        return false;
    }
    let body = e.view.raw_body();
    let mut in_rcvd = false;
    for line in body.lines() {
        let is_start = line
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("received:"));
        if is_start {
            in_rcvd = true;
        } else if !(in_rcvd && line.starts_with([' ', '\t'])) {
            in_rcvd = false;
            continue;
        }
        let hit = line
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .filter(|w| w.contains('.'))
            .any(|w| {
                e.conf
                    .bounce_relays
                    .iter()
                    .any(|g| super::plugconf::glob_match(g, w, true))
            });
        if hit {
            return true;
        }
    }
    false
}

macro_rules! list_eval {
    ($name:expr, $doc:expr, $f:expr) => {
        EvalDef {
            name: $name,
            signature: "()",
            doc: $doc,
            check: no_args,
            run: $f,
        }
    };
}

/// The WLBLEval and VBounce evals, registered beside [`super::evals::EVALS`].
pub(crate) static WLBL_EVALS: &[EvalDef] = &[
    list_eval!(
        "check_subject_in_welcomelist",
        "The Subject (decoded, ASCII letters in lower case) contains a pattern of \
         `welcomelist_subject` (`*` any text, `?` any one character), as \
         WelcomeListSubject reads it; never for an empty Subject.",
        |e, _| subject_listed(e, &e.conf.subject_welcome)
    ),
    list_eval!(
        "check_subject_in_whitelist",
        "The old name of check_subject_in_welcomelist (SpamAssassin 4.0 keeps both).",
        |e, _| subject_listed(e, &e.conf.subject_welcome)
    ),
    list_eval!(
        "check_subject_in_blocklist",
        "The Subject (decoded, ASCII letters in lower case) contains a pattern of \
         `blocklist_subject` (`*` any text, `?` any one character), as \
         WelcomeListSubject reads it; never for an empty Subject.",
        |e, _| subject_listed(e, &e.conf.subject_block)
    ),
    list_eval!(
        "check_subject_in_blacklist",
        "The old name of check_subject_in_blocklist (SpamAssassin 4.0 keeps both).",
        |e, _| subject_listed(e, &e.conf.subject_block)
    ),
    EvalDef {
        name: "check_from_in_list",
        signature: "('LIST')",
        doc: "A sender address (SpamAssassin's all_from_addrs: Resent-From, else From, \
              Envelope-Sender, Resent-Sender, X-Envelope-From, the envelope sender) matches a \
              glob of `enlist_addrlist (LIST)` (WLBLEval).",
        check: list_arg,
        run: |e, a| from_in(e, &a[0].0.to_ascii_uppercase()),
    },
    EvalDef {
        name: "check_to_in_list",
        signature: "('LIST')",
        doc: "A recipient address (To, Cc and the other recipient headers) matches a glob of \
              `enlist_addrlist (LIST)` (WLBLEval).",
        check: list_arg,
        run: |e, a| to_in(e, &a[0].0.to_ascii_uppercase()),
    },
    EvalDef {
        name: "check_replyto_in_list",
        signature: "('LIST')",
        doc: "An address of the Reply-To header matches a glob of `enlist_addrlist (LIST)` \
              (WLBLEval).",
        check: list_arg,
        run: |e, a| {
            let list = a[0].0.to_ascii_uppercase();
            header_addrs(&get_text(e, "Reply-To"))
                .iter()
                .any(|x| e.conf.addr_listed(&list, x))
        },
    },
    EvalDef {
        name: "check_uri_host_listed",
        signature: "('LIST')",
        doc: "A link's host, or a parent domain of it, is on `enlist_uri_host (LIST)`; the most \
              specific entry decides, `!host` excludes (WLBLEval).",
        check: list_arg,
        run: |e, a| uri_host_listed(e, &a[0].0.to_ascii_uppercase()),
    },
    list_eval!(
        "check_uri_host_in_blocklist",
        "A link's host is on `blocklist_uri_host` (the BLOCK host list).",
        |e, _| uri_host_listed(e, "BLOCK")
    ),
    list_eval!(
        "check_uri_host_in_blacklist",
        "Old name of check_uri_host_in_blocklist.",
        |e, _| uri_host_listed(e, "BLOCK")
    ),
    list_eval!(
        "check_uri_host_in_welcomelist",
        "A link's host is on `welcomelist_uri_host` (the WELCOME host list).",
        |e, _| uri_host_listed(e, "WELCOME")
    ),
    list_eval!(
        "check_uri_host_in_whitelist",
        "Old name of check_uri_host_in_welcomelist.",
        |e, _| uri_host_listed(e, "WELCOME")
    ),
    list_eval!(
        "check_from_in_blocklist",
        "A sender address matches `blocklist_from` (less `unblocklist_from`).",
        |e, _| from_in(e, "BLOCK_FROM")
    ),
    list_eval!(
        "check_from_in_blacklist",
        "Old name of check_from_in_blocklist.",
        |e, _| from_in(e, "BLOCK_FROM")
    ),
    list_eval!(
        "check_from_in_welcomelist",
        "A sender address matches `welcomelist_from` (less `unwelcomelist_from`; the \
         `_rcvd` variant needs the trust path and is not read).",
        |e, _| from_in(e, "WELCOME_FROM")
    ),
    list_eval!(
        "check_from_in_whitelist",
        "Old name of check_from_in_welcomelist.",
        |e, _| from_in(e, "WELCOME_FROM")
    ),
    list_eval!(
        "check_from_in_default_welcomelist",
        "A sender address matches `def_welcomelist_from` (the `_rcvd` and `_auth` variants \
         need the trust path or authentication results and are not read).",
        |e, _| from_in(e, "DEF_WELCOME_FROM")
    ),
    list_eval!(
        "check_from_in_default_whitelist",
        "Old name of check_from_in_default_welcomelist.",
        |e, _| from_in(e, "DEF_WELCOME_FROM")
    ),
    list_eval!(
        "check_to_in_blocklist",
        "A recipient address matches `blocklist_to`.",
        |e, _| to_in(e, "BLOCK_TO")
    ),
    list_eval!(
        "check_to_in_blacklist",
        "Old name of check_to_in_blocklist.",
        |e, _| to_in(e, "BLOCK_TO")
    ),
    list_eval!(
        "check_to_in_welcomelist",
        "A recipient address matches `welcomelist_to`.",
        |e, _| to_in(e, "WELCOME_TO")
    ),
    list_eval!(
        "check_to_in_whitelist",
        "Old name of check_to_in_welcomelist.",
        |e, _| to_in(e, "WELCOME_TO")
    ),
    list_eval!(
        "check_to_in_more_spam",
        "A recipient address matches `more_spam_to`.",
        |e, _| to_in(e, "MORE_SPAM_TO")
    ),
    list_eval!(
        "check_to_in_all_spam",
        "A recipient address matches `all_spam_to`.",
        |e, _| to_in(e, "ALL_SPAM_TO")
    ),
    list_eval!(
        "have_any_bounce_relays",
        "Some `welcomelist_bounce_relays` host is configured (VBounce).",
        |e, _| !e.conf.bounce_relays.is_empty()
    ),
    list_eval!(
        "check_welcomelist_bounce_relays",
        "A Received line quoted in the body (the bounced message's header) names a host of \
         `welcomelist_bounce_relays`: a bounce of mail this site really sent (VBounce).",
        |e, _| bounce_relay_found(e)
    ),
    list_eval!(
        "check_whitelist_bounce_relays",
        "Old name of check_welcomelist_bounce_relays.",
        |e, _| bounce_relay_found(e)
    ),
    list_eval!(
        "check_mailfrom_matches_rcvd",
        "The envelope sender's registered domain is the rDNS domain of the first untrusted \
         relay (with no untrusted relay, of a trusted one): the sender's own server handed the \
         message over (WLBLEval, __RP_MATCHES_RCVD).",
        |e, _| mailfrom_matches_rcvd(e)
    ),
];

/// WLBLEval's `check_mailfrom_matches_rcvd`.
fn mailfrom_matches_rcvd(e: &Env<'_>) -> bool {
    let sender = get_addr(e, "EnvelopeFrom");
    // `/ \@ ( [^\@]+ \. [^\@]+ ) \z/x`: a dotted domain after the last `@`.
    let Some((_, domain)) = sender.rsplit_once('@') else {
        return false;
    };
    if domain.is_empty() || !domain.contains('.') {
        return false;
    }
    let trust = e.trust.get();
    let relays: &[super::relays::Relay] = match (trust.untrusted.first(), trust.trusted.is_empty())
    {
        (Some(first), _) => std::slice::from_ref(first),
        (None, false) => &trust.trusted,
        (None, true) => return false,
    };
    let wanted = e.conf.registered_domain(domain);
    relays
        .iter()
        .filter(|r| !r.rdns.is_empty())
        .any(|r| e.conf.registered_domain(&r.rdns) == wanted)
}

#[cfg(test)]
mod tests {

    use crate::rules::tests::hits_now as hits;

    const RULES: &str = "util_rb_tld example top\n\
        enlist_addrlist (BANKS) *@bank.example *@*.bank.example\n\
        header FROM_BANK eval:check_from_in_list('BANKS')\n\
        header REPLY_BANK eval:check_replyto_in_list('BANKS')\n\
        enlist_uri_host (SUSP) top !good.top\n\
        header URI_SUSP eval:check_uri_host_listed('SUSP')\n\
        welcomelist_from *@friend.example\n\
        header WL eval:check_from_in_welcomelist()\n\
        blocklist_to victim@*\n\
        header BL_TO eval:check_to_in_blocklist()\n\
        body HAVE_RELAYS eval:have_any_bounce_relays()\n\
        body MY_RELAY eval:check_welcomelist_bounce_relays()\n";

    #[test]
    fn address_and_host_lists() {
        let h = hits(
            RULES,
            "From: Bank <alerts@mail.bank.example>\nTo: victim@x.example\n\
             Subject: s\n\nsee http://login.evil.top/ now\n",
        );
        assert!(h.contains(&"FROM_BANK".to_owned()), "{h:?}");
        assert!(h.contains(&"URI_SUSP".to_owned()), "{h:?}");
        assert!(h.contains(&"BL_TO".to_owned()), "{h:?}");
        assert!(!h.contains(&"WL".to_owned()) && !h.contains(&"REPLY_BANK".to_owned()));
        assert!(!h.contains(&"HAVE_RELAYS".to_owned()));
        let h = hits(
            RULES,
            "From: a@friend.example\nReply-To: x <y@bank.example>\nSubject: s\n\n\
             http://www.good.top/\n",
        );
        assert!(h.contains(&"WL".to_owned()) && h.contains(&"REPLY_BANK".to_owned()));
        assert!(
            !h.contains(&"URI_SUSP".to_owned()),
            "!good.top excludes: {h:?}"
        );
    }

    #[test]
    fn bounce_relays_in_the_quoted_header() {
        let rules = format!("{RULES}welcomelist_bounce_relays mx*.mine.example\n");
        let bounce = "From: MAILER-DAEMON@x.example\nSubject: failure\n\n\
                      ------ original message ------\n\
                      Received: from out.example\n\tby mx2.mine.example (Postfix)\n\n";
        let h = hits(&rules, bounce);
        assert!(h.contains(&"HAVE_RELAYS".to_owned()) && h.contains(&"MY_RELAY".to_owned()));
        let h = hits(
            &rules,
            "From: a@b.example\nSubject: s\n\nmx2.mine.example\n",
        );
        assert!(
            !h.contains(&"MY_RELAY".to_owned()),
            "not in a Received line: {h:?}"
        );
    }
}

#[cfg(test)]
mod rcvd_tests {
    use crate::rules::tests::hits_now as hits;

    #[test]
    fn envelope_sender_against_the_first_untrusted_relay() {
        let rules = "util_rb_2tld co.uk\nheader RP_RCVD eval:check_mailfrom_matches_rcvd()\n";
        let msg = |rp: &str, rdns: &str| {
            format!(
                "Return-Path: <{rp}>\nReceived: from {rdns} ({rdns} [81.2.69.160]) by \
                 mx.example.net (Postfix) with ESMTP id 4A1; Tue, 1 Dec 2026 10:00:00 +0000\n\
                 From: news@shop.co.uk\nSubject: s\n\nhello\n"
            )
        };
        let hit = |m: String| hits(rules, &m).contains(&"RP_RCVD".to_owned());
        assert!(hit(msg("bounce@mail.shop.co.uk", "out.shop.co.uk")));
        assert!(!hit(msg("bounce@other.co.uk", "out.shop.co.uk")));
        assert!(!hit(msg("bounce@mail.shop.co.uk", "unknown")), "no rDNS");
        assert!(!hit(msg("nodomain", "out.shop.co.uk")));
    }
}

#[cfg(test)]
mod address_tests {
    #[test]
    fn header_addresses_are_mailboxes_not_display_names() {
        assert_eq!(
            super::header_addrs("\"x1@free.example\" <real@corp.example>, b@c.example (B)"),
            ["real@corp.example", "b@c.example"]
        );
        assert!(super::header_addrs("\"Odd\" <\"\"@NODOMAIN>").is_empty());
        assert!(super::header_addrs("odd%CUSTOM@yahoo.com").is_empty());
    }
}
