//! SpamAssassin's FreeMail plugin: sender, Reply-To and body addresses at free-mail providers
//! (`freemail_domains` in the rule files; `freemail_welcomelist` exempts addresses or
//! domains), and HEADER_FROM_DIFFERENT_DOMAINS, which SpamAssassin registers with it.
//!
//! As the plugin counts (4.0.1, `_parse_body`, which stops when a count reaches its limit): a body
//! with 5 or more distinct addresses, or 3 or more free-mail ones, is not used (newsletters,
//! lists); the optional regex argument is matched against each free-mail address found.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use super::evals::{Arg, Env, EvalDef, arity};
use super::evals_wlbl::{addr_list, all_from_addrs, get_addr};
use super::pattern::Pattern;
use super::perlre;

/// `freemail_max_body_emails`: the body is not used once this many distinct addresses are
/// found (SpamAssassin counts up to the limit and stops there, so 5 already skip).
const MAX_BODY_EMAILS: usize = 5;
/// `freemail_max_body_freemails`: nor once this many of them are free mail (3 skip).
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
    if e.conf.freemail_welcome.contains(&addr)
        || e.conf.freemail_welcome.contains(&domain)
        || role_address(&addr)
    {
        return false;
    }
    e.conf.freemail_domain(&domain)
}

/// The plugin's own exemptions: role and list addresses (abuse@, support@, sales@, info@,
/// helpdesk@, contact@, kontakt@, postmaster@ and the like, undisclosed...@, Hotmail's
/// request-<16 hex>@, bounce-@ and bounced-@), Gmail's message-id forms (8 hex digits then
/// `.` and 8 more, or a UUID) and forwarding addresses (two `=` in the local part).
fn role_address(addr: &str) -> bool {
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(concat!(
            r"(?i)^(?:",
            r"abuse|support|sales|info|helpdesk|contact|kontakt|(?:post|host|domain)master",
            r"|undisclosed.*|request-[a-f0-9]{16}|bounced?-",
            // Gmail's message ids: 8 hex digits and 8 more, or a UUID.
            r"|[a-f0-9]{8}(?:\.[a-f0-9]{8}|-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})",
            r"|.+=.+=.+",
            r")@",
        ))
        .ok()
    })
    .as_ref()
    .is_some_and(|r| r.is_match(addr))
}

/// The free-mail addresses of the body, or none when the body has too many addresses.
fn body_freemails<'e>(e: &'e Env<'_>) -> &'e [String] {
    e.once()
        .freemail_body
        .get_or_init(|| {
            let addrs = body_addrs(e);
            if addrs.len() >= MAX_BODY_EMAILS {
                return Vec::new();
            }
            let fm: Vec<String> = addrs.into_iter().filter(|a| is_freemail(e, a)).collect();
            if fm.len() >= MAX_BODY_FREEMAILS {
                return Vec::new();
            }
            fm
        })
        .as_slice()
}

/// The body's addresses as FreeMail's `_parse_body` finds them, lower case, once each, at most
/// [`MAX_BODY_EMAILS`] (more are never needed): first the `mailto:` links of `<a>` tags that
/// the text's own URI list does not also hold (`types->{a}` without `types->{parsed}`), then
/// the rendered body lines (the Subject first), each with URLs holding an `@` and addresses
/// quoted as `<addr>` or `addr wrote:` removed. (The plugin's own caps, 20 and 40 addresses,
/// are never reached: it gives up on the body at 5.)
fn body_addrs(e: &Env<'_>) -> Vec<String> {
    let tlds = &e.conf.valid_tlds;
    let lines = e.sa_body_lines();
    let mut out: Vec<String> = Vec::new();
    let add = |out: &mut Vec<String>, a: String| {
        if !out.contains(&a) {
            out.push(a);
        }
        out.len() >= MAX_BODY_EMAILS
    };
    let mailtos: Vec<&String> = e.html().iter().flat_map(|h| &h.a_mailtos).collect();
    if !mailtos.is_empty() {
        let parsed = super::sauri::text_uris(lines, tlds);
        for m in mailtos.into_iter().filter(|m| !parsed.contains(m)) {
            if let Some(end) = email_at(m.as_bytes(), 7, tlds) {
                if add(&mut out, m[7..end].to_ascii_lowercase()) {
                    return out;
                }
            }
        }
    }
    for line in lines {
        let line = strip_quoted_addrs(&strip_urls_with_at(line), tlds);
        let b = line.as_bytes();
        let mut p = 0;
        while p < b.len() {
            let Some(end) = email_at(b, p, tlds) else {
                p += 1;
                continue;
            };
            if add(&mut out, line[p..end].to_ascii_lowercase()) {
                return out;
            }
            p = end;
        }
    }
    out
}

/// A character of an address's local part in FreeMail's email regex.
fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&c)
}

/// Where an address FreeMail's email regex accepts, starting at `p`, ends: a local part at a
/// boundary (dot-separated runs of [`is_local`], at most 64 bytes), `@`, one to four host
/// labels and a top-level domain of the rule files' `util_rb_tld` list ending at a boundary
/// (no `util_rb_tld`: no address, as SpamAssassin's `no_tlds_defined`).
fn email_at(b: &[u8], p: usize, tlds: &HashSet<String>) -> Option<usize> {
    if p >= b.len() || !is_local(b[p]) || (p > 0 && is_local(b[p - 1])) {
        return None;
    }
    let mut i = p;
    loop {
        let start = i;
        while i < b.len() && is_local(b[i]) && i - p <= 64 {
            i += 1;
        }
        if i == start || i - p > 64 {
            return None;
        }
        match b.get(i) {
            Some(b'.') => i += 1,
            Some(b'@') => break,
            _ => return None,
        }
    }
    domain_end(b, i + 1, tlds)
}

/// The end of `label.`{1,4} `tld` from `d`, trying four labels first as the regex does.
fn domain_end(b: &[u8], d: usize, tlds: &HashSet<String>) -> Option<usize> {
    let run = |from: usize| {
        b[from.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
            .count()
    };
    // The starts of the labels that can precede a top-level domain.
    let mut after = Vec::with_capacity(4);
    let mut pos = d;
    while after.len() < 4 {
        let n = run(pos);
        let label = &b[pos..pos + n];
        let ok = (1..=61).contains(&n)
            && label[0] != b'-'
            && label[n - 1] != b'-'
            && b.get(pos + n) == Some(&b'.');
        if !ok {
            break;
        }
        pos += n + 1;
        after.push(pos);
    }
    after.iter().rev().find_map(|&t| {
        let n = run(t);
        let tld = std::str::from_utf8(&b[t..t + n]).ok()?.to_ascii_lowercase();
        let next_label =
            b.get(t + n) == Some(&b'.') && b.get(t + n + 1).is_some_and(u8::is_ascii_alphanumeric);
        (n > 0 && !next_label && tlds.contains(&tld)).then_some(t + n)
    })
}

/// A body line with each URL that holds an address (`<?https?://\S{0,255}(?:@|%40)\S{0,255}`)
/// replaced by a space, as FreeMail does before looking for addresses.
fn strip_urls_with_at(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let (mut copied, mut q) = (0, 0);
    while q < line.len() {
        match url_with_at(line, q) {
            Some(end) => {
                out.push_str(&line[copied..q]);
                out.push(' ');
                (copied, q) = (end, end);
            }
            None => q += 1,
        }
    }
    out.push_str(&line[copied..]);
    out
}

/// Where a URL holding an address that starts at byte `q` ends.
fn url_with_at(line: &str, q: usize) -> Option<usize> {
    let b = line.as_bytes();
    let s = q + usize::from(b[q] == b'<');
    let starts = |p: &[u8]| {
        b.get(s..s + p.len())
            .is_some_and(|x| x.eq_ignore_ascii_case(p))
    };
    let tail = s + if starts(b"http://") {
        7
    } else if starts(b"https://") {
        8
    } else {
        return None;
    };
    // The non-space run after the scheme, as far as the pattern can reach (255 + 3 + 255).
    let run: Vec<(usize, char)> = line[tail..]
        .char_indices()
        .take_while(|(_, c)| !is_space(*c))
        .take(520)
        .collect();
    let is = |k: usize, c: char| run.get(k).is_some_and(|x| x.1 == c);
    // The last `@` or `%40` starting within the first 255 characters.
    let (k, len) = (0..=255.min(run.len())).rev().find_map(|k| {
        if is(k, '@') {
            Some((k, 1))
        } else {
            (is(k, '%') && is(k + 1, '4') && is(k + 2, '0')).then_some((k, 3))
        }
    })?;
    let stop = (k + len + 255).min(run.len());
    let run_end = run.last().map_or(0, |(i, c)| i + c.len_utf8());
    Some(tail + run.get(stop).map_or(run_end, |x| x.0))
}

/// Perl's `\s` on SpamAssassin's (byte) text.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// A body line with each address written as `<addr>` or followed by a quote's `word:` (as in
/// `joe@example.com wrote:`; not `fax:`, `tel:`, `phone:`, `mail:` or `e-mail:`) replaced by a
/// space, except addresses right after `mailto:`.
fn strip_quoted_addrs(line: &str, tlds: &HashSet<String>) -> String {
    let b = line.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut q = 0;
    while q < b.len() {
        let e = q + usize::from(b[q] == b'<');
        let after_mailto = e >= 7 && b[e - 7..e].eq_ignore_ascii_case(b"mailto:");
        if let Some(end) = email_at(b, e, tlds).filter(|_| !after_mailto) {
            if let Some(stop) = quote_end(b, end) {
                out.push(b' ');
                q = stop;
                continue;
            }
        }
        out.push(b[q]);
        q += 1;
    }
    // Only ASCII bytes were replaced, so the text stays UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// After an address: `>`, or 1-10 white space characters and a 2-11 letter word with a colon
/// that is not a phone, fax or mail label. Where that ends.
fn quote_end(b: &[u8], end: usize) -> Option<usize> {
    if b.get(end) == Some(&b'>') {
        return Some(end + 1);
    }
    let ws = b[end..]
        .iter()
        .take_while(|c| is_space(char::from(**c)))
        .count();
    let w = end + ws;
    let letters = b[w..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let word = b[w..w + letters].to_ascii_lowercase();
    let label = ["fax", "facsi", "tel", "phone", "mail", "email"]
        .iter()
        .any(|p| word.starts_with(p.as_bytes()));
    ((1..=10).contains(&ws) && (2..=11).contains(&letters) && b.get(w + letters) == Some(&b':'))
        .then_some(w + letters + 1)
        .filter(|_| !label)
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

/// An envelope sender that looks like a list's, a bounce handler's or a no-reply sender's:
/// the plugin then skips `check_freemail_replyto` (`freemail_skip_bulk_envfrom`, on by
/// default). `[._-t]` is a range, as in the plugin's pattern: `donotreply`, `no_reply` and
/// `no.reply` count, `no-reply` does not.
fn bulk_envfrom(addr: &str) -> bool {
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(concat!(
            r"(?i)(?:",
            r"^(?:post|host|domain)master|^double-bounce",
            r"|^(?:sentto|owner|return|(?:gr)?bounced?)-.+",
            r"|-(?:request|bounces?|admin|owner)",
            r"|\b(?:do[._-t]?)?no[._-t]?repl(?:y|ies)",
            r"|.+=.+",
            r")@",
        ))
        .ok()
    })
    .as_ref()
    .is_some_and(|r| r.is_match(addr))
}

/// Where `check_freemail_replyto`'s header tests leave a reading ('replyto' or 'reply').
enum ReplyStage {
    /// Decided without the body.
    Answer(bool),
    /// The body's free-mail addresses are compared with these (so the body is parsed).
    Body(Vec<String>),
}

/// The plugin's header tests: no answer for a list's or bounce handler's envelope sender; a
/// hit for free-mail From and Reply-To that share no address; else ('replyto') a free-mail
/// Reply-To, or ('reply') a free-mail From and no Reply-To other than free mail, goes on to
/// the body with the Reply-To (the From when 'reply' has no free-mail Reply-To).
fn reply_stage(e: &Env<'_>, what: &str) -> ReplyStage {
    if e.trust.envelope_from().is_some_and(|s| bulk_envfrom(&s)) {
        return ReplyStage::Answer(false);
    }
    let from = addr_list(e, "From", false);
    let reply = addr_list(e, "Reply-To", false);
    let from_fm = from.iter().any(|a| is_freemail(e, a));
    let reply_fm = reply.iter().any(|a| is_freemail(e, a));
    if from_fm && reply_fm && !from.iter().any(|f| reply.contains(f)) {
        return ReplyStage::Answer(true);
    }
    let usable = if what == "replyto" {
        reply_fm
    } else {
        (reply.is_empty() || reply_fm) && from_fm
    };
    if !usable {
        return ReplyStage::Answer(false);
    }
    ReplyStage::Body(if what == "replyto" || reply_fm {
        reply
    } else {
        from
    })
}

/// SpamAssassin's `check_freemail_replyto`: [`reply_stage`], then a body free-mail address
/// other than one of the header addresses it leaves.
fn freemail_replyto(e: &Env<'_>, what: &str) -> bool {
    match reply_stage(e, what) {
        ReplyStage::Answer(hit) => hit,
        ReplyStage::Body(check) => body_freemails(e)
            .iter()
            .any(|b| check.iter().any(|c| b != c)),
    }
}

/// Whether SpamAssassin's FreeMail parses the body during the header evals: a loaded
/// `check_freemail_replyto` reading ('replyto' or 'reply') that [`reply_stage`] sends on to
/// the body, decided once per message. See [`edit_body`].
pub(crate) fn parses_body(e: &Env<'_>) -> bool {
    *e.once().freemail_parses_body.get_or_init(|| {
        e.conf
            .freemail_reply_modes
            .iter()
            .filter(|m| *m == "replyto" || *m == "reply")
            .any(|m| matches!(reply_stage(e, m), ReplyStage::Body(_)))
    })
}

/// FreeMail's `_parse_body` edits SpamAssassin's cached body lines in place (`foreach
/// (@$body) { s/.../ /g }`), and it runs among the header evals, before the body rules: so
/// when it runs ([`parses_body`]), every body rule and body eval reads the lines with each URL
/// holding an `@` or `%40`, and each address written `<addr>` or before a quote's `word:`,
/// replaced by a space (corpora/SA-FIDELITY.md, TVD_SPACE_RATIO). The plugin stops at the line
/// where it has found 40 addresses; the lines after it stay as they were.
pub(crate) fn edit_body(e: &Env<'_>, lines: &mut [String]) {
    if !parses_body(e) {
        return;
    }
    let tlds = &e.conf.valid_tlds;
    let mut seen: HashSet<String> = HashSet::new();
    for line in lines.iter_mut() {
        if !may_edit(line) {
            continue;
        }
        let edited = strip_quoted_addrs(&strip_urls_with_at(line), tlds);
        let b = edited.as_bytes();
        let mut p = 0;
        while p < b.len() {
            match email_at(b, p, tlds) {
                Some(end) => {
                    seen.insert(edited[p..end].to_ascii_lowercase());
                    p = end;
                }
                None => p += 1,
            }
        }
        *line = edited;
        if seen.len() >= 40 {
            break;
        }
    }
}

/// Whether [`edit_body`]'s edits can change `text`: both replace only a URL holding an `@` or
/// `%40` and an address (which holds an `@`), so a text with neither stays as it is, and
/// needs no scan byte by byte (the scans were about 0.1 ms a message with the stock rules).
pub(crate) fn may_edit(text: &str) -> bool {
    memchr::memchr(b'@', text.as_bytes()).is_some()
        || memchr::memmem::find(text.as_bytes(), b"%40").is_some()
}

/// [`may_edit`] over the texts the lines were split from: the lines hold those texts whole
/// (white space squeezed, which makes no `%40`), but a line cut at 2,048 bytes can split a
/// `%40` between two lines.
pub(crate) fn lines_may_edit(lines: &[String]) -> bool {
    lines.iter().any(|l| may_edit(l))
        || lines.windows(2).any(|w| {
            let (a, b) = (w[0].as_bytes(), w[1].as_bytes());
            let mut seam = a[a.len().saturating_sub(2)..].to_vec();
            seam.extend_from_slice(&b[..b.len().min(2)]);
            memchr::memmem::find(&seam, b"%40").is_some()
        })
}

/// [`edit_body`] on one text (a rendered part, the Subject), for the evals that render their
/// own lines.
pub(crate) fn edit_text<'t>(e: &Env<'_>, text: &'t str) -> std::borrow::Cow<'t, str> {
    if !parses_body(e) || !may_edit(text) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(strip_quoted_addrs(
        &strip_urls_with_at(text),
        &e.conf.valid_tlds,
    ))
}

/// An address's domain as `check_equal_from_domains` reads it, lower case: the text after its
/// last `@` (`/\@([^@]*)\z/`), cut to its last two labels when it has more
/// (`s/^.+\.([^\.]+\.[^\.]+)$/$1/`: `mail.example.co.uk` is `co.uk`); empty without an `@`.
fn addr_domain(a: &str) -> String {
    let Some((_, d)) = a.rsplit_once('@') else {
        return String::new();
    };
    let labels: Vec<&str> = d.split('.').collect();
    let n = labels.len();
    let cut = n >= 3
        && !labels[n - 1].is_empty()
        && !labels[n - 2].is_empty()
        && !labels[..n - 2].concat().is_empty();
    if cut {
        format!("{}.{}", labels[n - 2], labels[n - 1]).to_ascii_lowercase()
    } else {
        d.to_ascii_lowercase()
    }
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
        run: |e, a| any_freemail(e, all_from_addrs(e), a.first()),
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
        run: |e, a| any_freemail(e, &addr_list(e, &a[0].0, false), a.get(1)),
    },
    EvalDef {
        name: "check_freemail_body",
        signature: "(['regex'])",
        doc: "The body holds a free-mail address (fewer than 5 addresses and fewer than 3 \
              free-mail ones, or the body is not used), matching the regex when one is given \
              (FreeMail).",
        check: |a| {
            arity(a, 0, 1)?;
            check_regex(a.first())
        },
        run: |e, a| any_freemail(e, body_freemails(e), a.first()),
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
#[path = "evals_freemail_tests.rs"]
mod tests;
