//! The texts rules match, built per message on first need.

use super::pattern::Pattern;
use crate::message::MessageView;

#[derive(Clone, Copy)]
pub(super) enum Part {
    Body,
    /// The body without its first line, the Subject (`tflags nosubject`).
    BodyNoSubject,
    RawBody,
    Full,
    Uri,
}

/// The texts rules match, built on first need.
pub(super) struct Texts<'a> {
    view: &'a MessageView,
    body: std::cell::OnceCell<String>,
    rawbody: std::cell::OnceCell<String>,
    uris: std::cell::OnceCell<String>,
    mails: std::cell::OnceCell<Vec<String>>,
}

impl<'a> Texts<'a> {
    pub(super) fn new(view: &'a MessageView) -> Self {
        Texts {
            view,
            body: std::cell::OnceCell::new(),
            rawbody: std::cell::OnceCell::new(),
            uris: std::cell::OnceCell::new(),
            mails: std::cell::OnceCell::new(),
        }
    }

    /// The addresses of the text as `mailto:` URIs that the message's links lack.
    fn mail_uris(&self) -> &[String] {
        self.mails.get_or_init(|| {
            let mut m = mail_uris(self.view);
            m.retain(|m| !self.view.urls.iter().any(|u| u.url.eq_ignore_ascii_case(m)));
            m
        })
    }

    pub(super) fn get(&self, p: Part) -> &str {
        match p {
            Part::Body => self.body.get_or_init(|| body_paragraphs(self.view)),
            Part::BodyNoSubject => {
                let body = self.get(Part::Body);
                match self.view.subject {
                    Some(_) => body.split_once('\n').map_or("", |(_, rest)| rest),
                    None => body,
                }
            }
            Part::RawBody => self.rawbody.get_or_init(|| self.view.raw_body()),
            Part::Full => &self.view.raw,
            Part::Uri => self.uris.get_or_init(|| {
                let mut s = String::new();
                for u in &self.view.urls {
                    s.push_str(&u.url);
                    s.push('\n');
                }
                for m in mail_uris(self.view) {
                    if !self
                        .view
                        .urls
                        .iter()
                        .any(|u| u.url.eq_ignore_ascii_case(&m))
                    {
                        s.push_str(&m);
                        s.push('\n');
                    }
                }
                s
            }),
        }
    }
}

/// SpamAssassin's `body` form: the Subject, then each paragraph of visible text on one line.
pub(super) fn body_paragraphs(view: &MessageView) -> String {
    let mut out = String::new();
    if let Some(s) = &view.subject {
        out.push_str(s.trim());
        out.push('\n');
    }
    for part in &view.text_parts {
        let mut in_para = false;
        for line in part.text.lines() {
            let line = line.trim();
            if line.is_empty() {
                if in_para {
                    out.push('\n');
                    in_para = false;
                }
                continue;
            }
            if in_para {
                out.push(' ');
            }
            out.push_str(line);
            in_para = true;
        }
        if in_para {
            out.push('\n');
        }
    }
    out
}

/// Characters that end an e-mail address in text for SpamAssassin's URI parser (its
/// Thunderbird-like end delimiters for mail, plus any non-ASCII character).
fn ends_mail(c: char) -> bool {
    !c.is_ascii()
        || c.is_ascii_whitespace()
        || matches!(
            c,
            '>' | '<' | '"' | '`' | '}' | ']' | '{' | '[' | '|' | ',' | '(' | '\'' | '\x1b'
        )
}

/// Addresses written in the visible text, as `mailto:` URIs, the way SpamAssassin's URI list
/// adds them (it linkifies `user@host.tld` as a mail client would): trailing punctuation
/// dropped, a `/` before the `@` makes it a web address (not taken here), the host must have a
/// dot and a top-level domain of letters, `mail:`/`email:`/`skype:` prefixes removed. At most
/// 1,000 per message.
fn mail_uris(view: &MessageView) -> Vec<String> {
    const MAX: usize = 1000;
    let mut out: Vec<String> = Vec::new();
    for part in &view.text_parts {
        for run in part.text.split(ends_mail) {
            if out.len() >= MAX {
                return out;
            }
            if !run.contains('@') {
                continue;
            }
            // `)` ends it unless a `(` came before (none can: `(` is a delimiter).
            let run = run.split(')').next().unwrap_or("");
            let run = run.trim_end_matches(|c: char| "-~!@#^&*()_+=:;'?,.".contains(c));
            let lower = run.to_ascii_lowercase();
            if !run.contains('@')
                || lower.starts_with("mailto:")
                || lower.starts_with("http:")
                || lower.starts_with("https:")
                || lower.starts_with("ftp:")
                || lower.starts_with("ftp.")
                || lower.starts_with("www")
                || lower.starts_with("cid:")
                || lower.starts_with("mid:")
                || run.contains("&nbsp;")
            {
                continue;
            }
            let (local, host) = run.split_once('@').unwrap_or(("", ""));
            if local.contains('/') || !host.contains('.') {
                continue;
            }
            let local = strip_mail_prefix(local);
            let host_only = host.split(['?', '&', '>']).next().unwrap_or("");
            let tld = host_only.rsplit('.').next().unwrap_or("");
            if local.is_empty() || tld.len() < 2 || !tld.bytes().all(|b| b.is_ascii_alphabetic()) {
                continue;
            }
            let uri = format!("mailto:{local}@{host}");
            if !out.contains(&uri) {
                out.push(uri);
            }
        }
    }
    out
}

/// `skype:`, `mail:`, `e-mail:`, `email:` (any case, colons repeated) before an address.
fn strip_mail_prefix(local: &str) -> &str {
    let lower = local.to_ascii_lowercase();
    for p in ["skype", "e-mail", "email", "e-mail", "mail", ""] {
        if let Some(rest) = lower.strip_prefix(p) {
            let colons = rest.bytes().take_while(|&b| b == b':').count();
            if colons > 0 {
                return &local[p.len() + colons..];
            }
        }
    }
    local
}

/// How many URIs (links, then with `text_addresses` the text's addresses as `mailto:`, which
/// SpamAssassin's rules see and the built-in rules were scored without) the pattern matches,
/// up to `max`.
pub(super) fn uri_count(p: &Pattern, texts: &Texts<'_>, max: u32, text_addresses: bool) -> u32 {
    let view = texts.view;
    let mut n = 0;
    for u in &view.urls {
        let hit = if u.url.contains("://") || u.scheme == "mailto" {
            p.is_match(&u.url)
        } else {
            p.is_match(&u.url) || p.is_match(&format!("{}://{}", u.scheme, u.url))
        };
        if hit {
            n += 1;
            if n >= max {
                return n;
            }
        }
    }
    if !text_addresses {
        return n;
    }
    for m in texts.mail_uris() {
        if p.is_match(m) {
            n += 1;
            if n >= max {
                break;
            }
        }
    }
    n
}
