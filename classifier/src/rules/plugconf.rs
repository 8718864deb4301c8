//! Settings of the SpamAssassin plugins mailsift emulates, read from the rule files: address
//! and host lists (WLBLEval), bounce relays (VBounce), free-mail domains (FreeMail).
//!
//! SpamAssassin's list entries are file globs, not regexes: `*` is any run of characters, `?`
//! one character, everything else literal, case-insensitive, anchored at both ends (FreeMail's
//! domain globs do not let `*` or `?` cross a dot).

use std::collections::{BTreeMap, BTreeSet};

/// Upper bound on entries per list, so a hostile configuration cannot grow memory without end.
const MAX_ENTRIES: usize = 100_000;

/// The plugin settings of one rule set.
#[derive(Debug, Clone, Default)]
pub(crate) struct PluginConf {
    /// `welcomelist_bounce_relays` / `whitelist_bounce_relays`: host globs.
    pub bounce_relays: Vec<String>,
    /// `enlist_addrlist (LIST) glob...`, and the address lists below by their list names.
    pub addrlists: BTreeMap<String, Vec<String>>,
    /// `enlist_uri_host (LIST) host...`: host → listed (`false` for a `!host` exclusion).
    pub uri_hosts: BTreeMap<String, BTreeMap<String, bool>>,
    /// `freemail_domains` without wildcards (lower case).
    pub freemail_exact: BTreeSet<String>,
    /// `freemail_domains` with `*` or `?` (lower case).
    pub freemail_globs: Vec<String>,
    /// `freemail_welcomelist` / `freemail_whitelist`: addresses or domains never free mail.
    pub freemail_welcome: BTreeSet<String>,
    /// `util_rb_tld`: the top-level domains SpamAssassin's URI parser accepts (lower case).
    pub valid_tlds: std::collections::HashSet<String>,
    /// `util_rb_2tld` and `util_rb_3tld`: registries one and two levels below a top-level
    /// domain (`co.uk`, `demon.co.uk`), for SpamAssassin's `split_domain`.
    pub registries: std::collections::HashSet<String>,
    /// A loaded rule file (not the built-in set) has `uri` rules: they read SpamAssassin's URI
    /// list, so the message's list is built.
    pub rule_file_uris: bool,
    /// A loaded rule file has `body` rules: they read SpamAssassin's rendered body.
    pub rule_file_body: bool,
    /// A loaded rule file has `rawbody` rules: they read the raw body of SpamAssassin's text
    /// parts (`saparts`).
    pub rule_file_rawbody: bool,
    /// The readings ('replyto', 'reply') of the loaded rule files' `check_freemail_replyto`
    /// rules: when one of them gets as far as the body, SpamAssassin's FreeMail edits the body
    /// text every body rule reads after it (`evals_freemail::edit_body`).
    pub freemail_reply_modes: BTreeSet<String>,
    /// `ok_locales`: the locales whose charsets are not "far away"; `None` for `all`, the
    /// default (SpamAssassin adds its process's `LANG`; mailsift reads no environment).
    pub ok_locales: Option<Vec<String>>,
    /// `welcomelist_subject` / `whitelist_subject` and `blocklist_subject` /
    /// `blacklist_subject` (WelcomeListSubject): each line one pattern, compiled as
    /// [`subject_pattern`] compiles it.
    pub subject_welcome: Vec<regex::bytes::Regex>,
    pub subject_block: Vec<regex::bytes::Regex>,
}

/// The address lists the WLBLEval evals read, by setting name (old names map to new lists).
const ADDR_SETTINGS: &[(&str, &str)] = &[
    ("welcomelist_from", "WELCOME_FROM"),
    ("whitelist_from", "WELCOME_FROM"),
    ("blocklist_from", "BLOCK_FROM"),
    ("blacklist_from", "BLOCK_FROM"),
    ("def_welcomelist_from", "DEF_WELCOME_FROM"),
    ("def_whitelist_from", "DEF_WELCOME_FROM"),
    ("welcomelist_to", "WELCOME_TO"),
    ("whitelist_to", "WELCOME_TO"),
    ("blocklist_to", "BLOCK_TO"),
    ("blacklist_to", "BLOCK_TO"),
    ("more_spam_to", "MORE_SPAM_TO"),
    ("all_spam_to", "ALL_SPAM_TO"),
];

/// A WelcomeListSubject pattern: the whole value in lower case, every character but letters,
/// digits, `_`, `*` and `?` literal, `?` any one byte, a run of `*` any bytes (not a line
/// break); unanchored, so the Subject need only contain it. SpamAssassin compiles the same
/// over octets, and lower-cases ASCII letters only.
fn subject_pattern(value: &str) -> Option<regex::bytes::Regex> {
    if value.is_empty() {
        return None;
    }
    let mut re = String::from("(?-u)");
    let mut chars = value.chars().map(|c| c.to_ascii_lowercase()).peekable();
    while let Some(c) = chars.next() {
        match c {
            '?' => re.push('.'),
            '*' => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                re.push_str(".*");
            }
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    regex::bytes::Regex::new(&re).ok()
}

/// `un...` settings: remove entries from a list.
const UNLIST_SETTINGS: &[(&str, &str)] = &[
    ("unwelcomelist_from", "WELCOME_FROM"),
    ("unwhitelist_from", "WELCOME_FROM"),
    ("unblocklist_from", "BLOCK_FROM"),
    ("unblacklist_from", "BLOCK_FROM"),
];

impl PluginConf {
    /// Applies one setting line if it is one of ours: `None` when `kw` is not a plugin
    /// setting handled here, `Some(Err)` when it is but the line is malformed.
    pub(crate) fn setting(&mut self, kw: &str, rest: &str) -> Option<Result<(), String>> {
        let words = || rest.split_whitespace().map(str::to_ascii_lowercase);
        match kw {
            "welcomelist_bounce_relays" | "whitelist_bounce_relays" => {
                push_all(&mut self.bounce_relays, words());
            }
            "freemail_domains" => {
                for w in words() {
                    if w.contains(['*', '?']) {
                        if self.freemail_globs.len() < MAX_ENTRIES {
                            self.freemail_globs.push(w);
                        }
                    } else if self.freemail_exact.len() < MAX_ENTRIES {
                        self.freemail_exact.insert(w);
                    }
                }
            }
            "util_rb_tld" => {
                for w in words() {
                    if self.valid_tlds.len() < MAX_ENTRIES {
                        self.valid_tlds.insert(w);
                    }
                }
            }
            "util_rb_2tld" | "util_rb_3tld" => {
                for w in words() {
                    if self.registries.len() < MAX_ENTRIES {
                        self.registries.insert(w);
                    }
                }
            }
            "ok_locales" => {
                let locales: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
                self.ok_locales = (!locales.iter().any(|l| l == "all")).then_some(locales);
            }
            "clear_util_rb" => {
                self.valid_tlds.clear();
                self.registries.clear();
            }
            "freemail_welcomelist" | "freemail_whitelist" => {
                for w in words() {
                    if self.freemail_welcome.len() < MAX_ENTRIES {
                        self.freemail_welcome.insert(w);
                    }
                }
            }
            "enlist_addrlist" | "delist_addrlist" => {
                let (list, entries) = match list_name(rest) {
                    Ok(x) => x,
                    Err(e) => return Some(Err(format!("{kw}: {e}"))),
                };
                let v = self.addrlists.entry(list).or_default();
                let entries = entries.split_whitespace().map(str::to_ascii_lowercase);
                if kw == "enlist_addrlist" {
                    push_all(v, entries);
                } else {
                    let gone: Vec<String> = entries.collect();
                    v.retain(|e| !gone.contains(e));
                }
            }
            "enlist_uri_host" | "delist_uri_host" => {
                let (list, entries) = match list_name(rest) {
                    Ok(x) => x,
                    Err(e) => return Some(Err(format!("{kw}: {e}"))),
                };
                self.uri_host_entries(kw == "enlist_uri_host", &list, entries);
            }
            "welcomelist_subject"
            | "whitelist_subject"
            | "blocklist_subject"
            | "blacklist_subject" => {
                let list = if kw.starts_with('w') {
                    &mut self.subject_welcome
                } else {
                    &mut self.subject_block
                };
                if let Some(re) = subject_pattern(rest.trim()) {
                    if list.len() < MAX_ENTRIES {
                        list.push(re);
                    }
                }
            }
            "welcomelist_uri_host" | "whitelist_uri_host" => {
                self.uri_host_entries(true, "WELCOME", rest);
            }
            "blocklist_uri_host" | "blacklist_uri_host" => {
                self.uri_host_entries(true, "BLOCK", rest);
            }
            _ => {
                if let Some((_, list)) = ADDR_SETTINGS.iter().find(|(k, _)| *k == kw) {
                    // `welcomelist_from addr...`; a `_rcvd` variant needs the relays and is
                    // a different setting, not handled here.
                    let v = self.addrlists.entry((*list).to_owned()).or_default();
                    push_all(v, words());
                } else if let Some((_, list)) = UNLIST_SETTINGS.iter().find(|(k, _)| *k == kw) {
                    let gone: Vec<String> = words().collect();
                    if let Some(v) = self.addrlists.get_mut(*list) {
                        v.retain(|e| !gone.contains(e));
                    }
                } else {
                    return None;
                }
            }
        }
        Some(Ok(()))
    }

    fn uri_host_entries(&mut self, add: bool, list: &str, entries: &str) {
        let m = self.uri_hosts.entry(list.to_owned()).or_default();
        for e in entries.split_whitespace() {
            let e = e.to_ascii_lowercase();
            let (host, listed) = match e.strip_prefix('!') {
                Some(h) => (h.to_owned(), false),
                None => (e, true),
            };
            if add {
                if m.len() < MAX_ENTRIES {
                    m.insert(host, listed);
                }
            } else {
                m.remove(&host);
            }
        }
    }

    /// Whether the address list `list` has an entry (without one, no address is on it).
    pub(crate) fn has_addrlist(&self, list: &str) -> bool {
        self.addrlists.get(list).is_some_and(|v| !v.is_empty())
    }

    /// True when `addr` matches a glob of the address list `list`.
    pub(crate) fn addr_listed(&self, list: &str, addr: &str) -> bool {
        self.addrlists
            .get(list)
            .is_some_and(|v| v.iter().any(|g| glob_match(g, addr, true)))
    }

    /// True when `domain` is a free-mail domain per `freemail_domains`.
    /// The registered domain of a host name as SpamAssassin's `RegistryBoundaries::split_domain`
    /// gives it: the last two labels, or three or four under a registry of `util_rb_2tld` /
    /// `util_rb_3tld` (and the US locality layouts it knows without a list).
    pub(crate) fn registered_domain(&self, host: &str) -> String {
        let lower = host.to_ascii_lowercase();
        let parts: Vec<&str> = lower
            .trim_matches('.')
            .split('.')
            .filter(|p| !p.is_empty())
            .collect();
        let mut start = 0;
        while parts.len().saturating_sub(start) > 1 {
            let rest = &parts[start..];
            let stop = match rest.len() {
                2 | 3 if rest.len() == 3 && rest[2] == "us" => us_state(rest[1]),
                2 | 3 => self.registries.contains(&rest.join(".")),
                4 => {
                    rest[3] == "us"
                        && ((rest[0] == "pvt" && rest[1] == "k12")
                            || rest[0] == "ci"
                            || rest[0] == "co")
                        && us_state(rest[2])
                }
                _ => false,
            };
            if stop {
                break;
            }
            start += 1;
        }
        // One label in front of the registry (or top-level domain) where there is one.
        parts[start.saturating_sub(1)..].join(".")
    }

    pub(crate) fn freemail_domain(&self, domain: &str) -> bool {
        let d = domain.to_ascii_lowercase();
        self.freemail_exact.contains(&d)
            || self.freemail_globs.iter().any(|g| glob_match(g, &d, false))
    }
}

fn push_all(v: &mut Vec<String>, items: impl Iterator<Item = String>) {
    for i in items {
        if v.len() >= MAX_ENTRIES {
            break;
        }
        if !v.contains(&i) {
            v.push(i);
        }
    }
}

/// `(NAME) rest` → (NAME upper-cased, rest).
fn list_name(rest: &str) -> Result<(String, &str), String> {
    let rest = rest.trim_start();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.split_once(')'))
        .ok_or("expected '(LISTNAME) entries...'")?;
    let name = inner.0.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "'{name}' is not a list name (letters, digits, '_')"
        ));
    }
    Ok((name.to_ascii_uppercase(), inner.1))
}

/// Matches a SpamAssassin file glob against `s`, ASCII case-insensitively. With
/// `cross_dots` false, `*` and `?` do not match a `.` (FreeMail's domains).
pub(crate) fn glob_match(pat: &str, s: &str, cross_dots: bool) -> bool {
    let (p, s) = (pat.as_bytes(), s.as_bytes());
    let (mut pi, mut si) = (0usize, 0usize);
    // The last `*` seen and the text position it is currently taken to end at.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        let c = s[si];
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
            continue;
        }
        if pi < p.len()
            && ((p[pi] == b'?' && (cross_dots || c != b'.')) || p[pi].eq_ignore_ascii_case(&c))
        {
            pi += 1;
            si += 1;
            continue;
        }
        // Let the last star swallow one more character, if it may.
        match star {
            Some((sp, ss)) if cross_dots || s[ss] != b'.' => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            _ => return false,
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// The two-letter codes SpamAssassin's RegistryBoundaries lists as US states and territories.
fn us_state(code: &str) -> bool {
    const STATES: &[&str] = &[
        "ak", "al", "ar", "az", "ca", "co", "ct", "dc", "de", "fl", "ga", "gu", "hi", "ia", "id",
        "il", "in", "ks", "ky", "la", "ma", "md", "me", "mi", "mn", "mo", "ms", "mt", "nc", "nd",
        "ne", "nh", "nj", "nm", "nv", "ny", "oh", "ok", "or", "pa", "pr", "ri", "sc", "sd", "tn",
        "tx", "ut", "va", "vi", "vt", "wa", "wi", "wv", "wy",
    ];
    STATES.contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_spamassassin() {
        assert!(glob_match("*@paypal.com", "service@PayPal.com", true));
        assert!(glob_match("*@*.paypal.com", "a@mail.paypal.com", true));
        assert!(!glob_match("*@*.paypal.com", "a@paypal.com", true));
        assert!(glob_match("a?c", "abc", true));
        assert!(!glob_match("a?c", "abbc", true));
        // FreeMail: wildcards stay inside one label.
        assert!(glob_match("yahoo.*", "yahoo.de", false));
        assert!(!glob_match("yahoo.*", "yahoo.co.uk", false));
        assert!(glob_match("yahoo.*.*", "yahoo.co.uk", false));
        assert!(glob_match("hotmail.co.??", "hotmail.co.uk", false));
    }

    #[test]
    fn settings_fill_lists() {
        let mut c = PluginConf::default();
        assert!(
            c.setting("enlist_addrlist", "(BANKS) *@bank.example")
                .is_some()
        );
        assert!(c.addr_listed("BANKS", "x@bank.example"));
        assert!(!c.addr_listed("BANKS", "x@other.example"));
        assert!(matches!(
            c.setting("enlist_addrlist", "BANKS x"),
            Some(Err(_))
        ));
        c.setting("whitelist_from", "*@friend.example");
        assert!(c.addr_listed("WELCOME_FROM", "me@friend.example"));
        c.setting("unwelcomelist_from", "*@friend.example");
        assert!(!c.addr_listed("WELCOME_FROM", "me@friend.example"));
        c.setting("freemail_domains", "gmail.com yahoo.*");
        assert!(c.freemail_domain("GMail.com") && c.freemail_domain("yahoo.fr"));
        assert!(c.setting("score", "X 1").is_none());
    }

    #[test]
    fn registered_domains_as_split_domain_gives_them() {
        let mut c = PluginConf::default();
        assert_eq!(c.setting("util_rb_2tld", "co.uk com.au"), Some(Ok(())));
        assert_eq!(c.setting("util_rb_3tld", "demon.co.uk"), Some(Ok(())));
        assert_eq!(c.registered_domain("mail.shop.example.com"), "example.com");
        assert_eq!(c.registered_domain("out.shop.co.uk"), "shop.co.uk");
        assert_eq!(c.registered_domain("a.b.demon.co.uk"), "b.demon.co.uk");
        assert_eq!(c.registered_domain("x.town.ny.us"), "x.town.ny.us");
        assert_eq!(c.registered_domain("a.x.town.ny.us"), "x.town.ny.us");
        assert_eq!(c.registered_domain("WWW..Example.COM."), "example.com");
        assert_eq!(c.registered_domain("co.uk"), "co.uk");
        assert_eq!(c.registered_domain("localhost"), "localhost");
        assert_eq!(c.registered_domain(""), "");
        assert_eq!(c.setting("clear_util_rb", ""), Some(Ok(())));
        assert_eq!(c.registered_domain("out.shop.co.uk"), "co.uk");
    }
}
