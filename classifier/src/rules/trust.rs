//! The trust path: which relays of the Received chain are trusted (they do not forge header
//! data) and which are internal (the site's own MXes and relays), as SpamAssassin splits them.
//!
//! Relays are read from the top (the most recent hop) down. While relays are trusted they
//! stay so; the first untrusted relay ends the trusted part for good, and likewise for
//! internal. With `trusted_networks` configured, a relay is trusted when its IP is in them (or
//! it authenticated); `internal_networks` says which trusted relays are internal (when only one
//! of the two is configured, it serves for both). A relay in `msa_networks` ends the
//! classification: every older relay takes its status. 127.0.0.0/8 and ::1 are always trusted
//! and internal.
//!
//! Without any configuration SpamAssassin *infers* the boundary: a relay from a private
//! address (RFC 1918, loopback, link-local, CGN) or one that authenticated is trusted, and so
//! internal; the first other relay and all after it are untrusted and external.
//!
//! Rules see the result as pseudo-headers: `X-Spam-Relays-Trusted`, `-Untrusted`,
//! `-Internal`, `-External` (each relay in [`Relay::as_string`] form, joined by spaces), and
//! `ALL-TRUSTED`, `ALL-UNTRUSTED`, `ALL-INTERNAL`, `ALL-EXTERNAL` (the header lines added by
//! those relays; the untrusted and external sets include the `Received` line of the boundary).

use std::net::IpAddr;

use super::relays::{Parsed, Relay, parse_received};
use crate::message::MessageView;

/// A set of networks: `IP[/len]`, `a.b.c.` (a partial IPv4 address), `!`-excluded entries.
/// The most specific matching entry decides, as with SpamAssassin's Patricia trie.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetSet {
    /// (network, prefix length on the IPv6-mapped 128-bit form, excluded)
    entries: Vec<(u128, u8, bool)>,
}

/// An address as 128 bits, IPv4 mapped into `::ffff:0:0/96`.
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// Parses an address as written in a relay or a setting: brackets, an `IPv6:` prefix and a
/// `%zone` are dropped.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    // By bytes (a setting's fifth byte may be inside a character); `&s[5..]` then starts
    // after five ASCII bytes.
    let s = if s.len() > 5 && s.as_bytes()[..5].eq_ignore_ascii_case(b"ipv6:") {
        &s[5..]
    } else {
        s
    };
    s.split('%').next()?.parse().ok()
}

impl NetSet {
    /// The set SpamAssassin starts `trusted_networks` and `internal_networks` with.
    fn loopback() -> NetSet {
        let mut n = NetSet::default();
        for e in ["127.0.0.0/8", "::1"] {
            // Constants: always valid.
            let _ = n.add(e);
        }
        n
    }

    /// Adds one entry; an error says what is wrong with it.
    pub fn add(&mut self, entry: &str) -> Result<(), String> {
        let (exclude, spec) = match entry.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, entry),
        };
        let (addr, len) = match spec.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (spec, None),
        };
        let bad =
            || format!("'{entry}' is not a network (write an address, 'a.b.c.d/len', or 'a.b.')");
        let (ip, default_len) = if addr.ends_with('.') && !addr.contains(':') {
            // `10.` `192.168.` `10.0.1`-style partial IPv4 with a trailing dot.
            let octets: Vec<&str> = addr.trim_end_matches('.').split('.').collect();
            if octets.is_empty() || octets.len() > 3 {
                return Err(bad());
            }
            let mut full = octets.clone();
            while full.len() < 4 {
                full.push("0");
            }
            let ip: IpAddr = full.join(".").parse().map_err(|_| bad())?;
            #[allow(clippy::cast_possible_truncation)]
            (ip, 96 + 8 * octets.len() as u8)
        } else if !addr.contains(':') && addr.split('.').count() < 4 && len.is_some() {
            // `10.0.1/24`: missing octets are zero.
            let mut full: Vec<&str> = addr.split('.').collect();
            while full.len() < 4 {
                full.push("0");
            }
            (full.join(".").parse().map_err(|_| bad())?, 128)
        } else {
            let ip = parse_ip(addr).ok_or_else(bad)?;
            (ip, 128)
        };
        let len = match len {
            None => default_len,
            Some(l) => {
                let l: u8 = l.trim().parse().map_err(|_| bad())?;
                match ip {
                    IpAddr::V4(_) if l <= 32 => 96 + l,
                    IpAddr::V6(_) if l <= 128 => l,
                    _ => return Err(bad()),
                }
            }
        };
        self.entries.push((bits(ip) & mask(len), len, exclude));
        Ok(())
    }

    /// Whether the set has any entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the address is in the set: the longest matching entry decides.
    pub fn contains(&self, ip: &str) -> bool {
        let Some(ip) = parse_ip(ip) else {
            return false;
        };
        let b = bits(ip);
        self.entries
            .iter()
            .filter(|(net, len, _)| b & mask(*len) == *net)
            .max_by_key(|(_, len, _)| *len)
            .is_some_and(|(_, _, excluded)| !excluded)
    }
}

/// The trust-path settings: `trusted_networks`, `internal_networks`, `msa_networks` and their
/// `clear_*` forms, from rule files or mailsift's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networks {
    trusted: NetSet,
    internal: NetSet,
    msa: NetSet,
    trusted_configured: bool,
    internal_configured: bool,
    /// `originating_ip_headers`: single-line headers (X-Originating-IP, ...) whose address
    /// counts as the oldest relay (webmail services record the user's address there).
    originating: Vec<String>,
}

impl Default for Networks {
    fn default() -> Self {
        Networks {
            trusted: NetSet::loopback(),
            internal: NetSet::loopback(),
            msa: NetSet::default(),
            trusted_configured: false,
            internal_configured: false,
            originating: Vec::new(),
        }
    }
}

impl Networks {
    /// Applies one setting line: `trusted_networks`, `internal_networks` or `msa_networks`
    /// with space-separated entries, or `clear_trusted_networks` (and the others). Returns
    /// `Ok(false)` for a keyword that is not one of these.
    pub fn apply(&mut self, keyword: &str, value: &str) -> Result<bool, String> {
        let set = match keyword {
            "trusted_networks" => {
                self.trusted_configured = true;
                &mut self.trusted
            }
            "internal_networks" => {
                self.internal_configured = true;
                &mut self.internal
            }
            "msa_networks" => &mut self.msa,
            "clear_trusted_networks" => {
                self.trusted = NetSet::loopback();
                self.trusted_configured = false;
                return Ok(true);
            }
            "clear_internal_networks" => {
                self.internal = NetSet::loopback();
                self.internal_configured = false;
                return Ok(true);
            }
            "clear_msa_networks" => {
                self.msa = NetSet::default();
                return Ok(true);
            }
            "originating_ip_headers" => {
                for name in value.split_whitespace() {
                    if !self
                        .originating
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(name))
                    {
                        self.originating.push(name.to_owned());
                    }
                }
                return Ok(true);
            }
            "clear_originating_ip_headers" => {
                self.originating.clear();
                return Ok(true);
            }
            _ => return Ok(false),
        };
        for entry in value.split_whitespace() {
            set.add(entry)?;
        }
        Ok(true)
    }

    /// Whether neither trusted nor internal networks are configured (the boundary is
    /// inferred).
    pub fn inferred(&self) -> bool {
        !self.trusted_configured && !self.internal_configured
    }
}

/// The Received chain of one message, split by trust.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trust {
    pub trusted: Vec<Relay>,
    pub untrusted: Vec<Relay>,
    pub internal: Vec<Relay>,
    pub external: Vec<Relay>,
    /// Fields with a `from` part but no recognisable client.
    pub unparseable: usize,
    /// Index (among the Received fields, from the top) of the last trusted one; -1: none.
    pub last_trusted: i64,
    /// Likewise for internal.
    pub last_internal: i64,
}

impl Trust {
    /// Splits the message's Received chain.
    pub(crate) fn of(view: &MessageView, nets: &Networks) -> Trust {
        let mut out = Trust {
            last_trusted: -1,
            last_internal: -1,
            ..Trust::default()
        };
        let (trusted, internal) = match (nets.trusted_configured, nets.internal_configured) {
            (true, false) => (&nets.trusted, &nets.trusted),
            (false, true) => (&nets.internal, &nets.internal),
            _ => (&nets.trusted, &nets.internal),
        };
        let inferred = nets.inferred();
        let (mut in_trusted, mut in_internal, mut found_msa) = (true, true, false);
        // A fetcher's marker inside the trusted part restarts the path: what was above it
        // was the user's own delivery from the mailbox.
        let mut allow_fetch_marker = true;
        let mut fields: Vec<std::borrow::Cow<'_, str>> = view
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("Received"))
            .map(|h| std::borrow::Cow::Borrowed(h.raw.as_str()))
            .collect();
        // The originating-IP headers become the oldest hops, as SpamAssassin adds them.
        for name in &nets.originating {
            let first = view
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name));
            if let Some(ip) = first.and_then(|h| first_ip(&h.raw)) {
                fields.push(std::borrow::Cow::Owned(format!(
                    "from X-Originating-IP: {ip}"
                )));
            }
        }
        for field in &fields {
            let mut relay = match parse_received(field) {
                Parsed::Relay(r) => r,
                other => {
                    if other == Parsed::Unparseable {
                        out.unparseable += 1;
                    }
                    if other == Parsed::Fetched && allow_fetch_marker {
                        out.trusted.clear();
                        out.internal.clear();
                        out.external.clear();
                    }
                    out.last_trusted += i64::from(in_trusted);
                    out.last_internal += i64::from(in_internal);
                    continue;
                }
            };
            if in_trusted && !found_msa {
                if inferred {
                    if !relay.ip_private && relay.auth.is_empty() {
                        in_trusted = false;
                        in_internal = false;
                    }
                } else if relay.auth.is_empty() && !trusted.contains(&relay.ip) {
                    in_trusted = false;
                    in_internal = false;
                } else {
                    if in_internal && relay.auth.is_empty() && !internal.contains(&relay.ip) {
                        in_internal = false;
                    }
                    if nets.msa.contains(&relay.ip) {
                        found_msa = true;
                        relay.msa = true;
                    }
                }
            }
            relay.internal = in_internal;
            allow_fetch_marker = in_trusted;
            if in_trusted {
                out.last_trusted += 1;
                out.trusted.push(relay.clone());
            } else {
                out.untrusted.push(relay.clone());
            }
            if in_internal {
                out.last_internal += 1;
                out.internal.push(relay);
            } else {
                out.external.push(relay);
            }
        }
        out
    }

    /// The text of a trust pseudo-header, or `None` when `name` is not one.
    pub(crate) fn pseudo_header(&self, view: &MessageView, name: &str) -> Option<String> {
        let join = |v: &[Relay]| v.iter().map(Relay::as_string).collect::<Vec<_>>().join(" ");
        let n = name.to_ascii_lowercase();
        Some(match n.as_str() {
            "x-spam-relays-trusted" => join(&self.trusted),
            "x-spam-relays-untrusted" => join(&self.untrusted),
            "x-spam-relays-internal" => join(&self.internal),
            "x-spam-relays-external" => join(&self.external),
            "all-trusted" => header_range(view, None, Some(self.last_trusted + 1)),
            "all-internal" => header_range(view, None, Some(self.last_internal + 1)),
            "all-untrusted" => header_range(view, Some(self.last_trusted + 1), None),
            "all-external" => header_range(view, Some(self.last_internal + 1), None),
            _ => return None,
        })
    }
}

/// A message's [`Trust`], computed when a rule first needs it.
pub(crate) struct LazyTrust<'a> {
    view: &'a MessageView,
    nets: &'a Networks,
    cell: std::sync::OnceLock<Trust>,
    envelope: std::sync::OnceLock<Option<String>>,
}

impl<'a> LazyTrust<'a> {
    pub(crate) fn new(view: &'a MessageView, nets: &'a Networks) -> Self {
        LazyTrust {
            view,
            nets,
            cell: std::sync::OnceLock::new(),
            envelope: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn get(&self) -> &Trust {
        self.cell.get_or_init(|| Trust::of(self.view, self.nets))
    }

    /// The text of a trust pseudo-header, or `None` when `name` is not one.
    pub(crate) fn pseudo_header(&self, name: &str) -> Option<String> {
        if !is_pseudo_header(name) {
            return None;
        }
        self.get().pseudo_header(self.view, name)
    }

    /// The envelope sender as SpamAssassin's `get_envelope_from` finds it (no
    /// `envelope_sender_header` configured): the envelope sender a Received line recorded
    /// for the last untrusted relay (or, with none, the first trusted one) when it has an `@`
    /// after its first character; else the headers ([`super::htext::envelope_from`]).
    pub(crate) fn envelope_from(&self) -> Option<String> {
        self.envelope
            .get_or_init(|| {
                let t = self.get();
                let hop = t.untrusted.first().or_else(|| t.trusted.last());
                match hop {
                    Some(r) if r.envfrom.find('@').is_some_and(|i| i > 0) => {
                        Some(r.envfrom.clone())
                    }
                    _ => super::htext::envelope_from(self.view),
                }
            })
            .clone()
    }

    /// The text a header rule's target matches: a trust pseudo-header, `EnvelopeFrom` from
    /// [`Self::envelope_from`], or the message's own header ([`super::htext::header_text`]).
    pub(crate) fn header_text(&self, t: &super::HeaderTarget) -> Option<String> {
        if let Some(p) = self.pseudo_header(&t.name) {
            return Some(p);
        }
        if t.name.eq_ignore_ascii_case("EnvelopeFrom") {
            return super::htext::envelope_text(self.envelope_from(), t);
        }
        super::htext::header_text(self.view, t)
    }
}

/// The first IPv4 address (or bracketed IPv6 one) in a header value.
fn first_ip(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    for (i, _) in v.char_indices() {
        let at_boundary = i == 0 || !bytes[i - 1].is_ascii_digit() && bytes[i - 1] != b'.';
        if !at_boundary || !bytes[i].is_ascii_digit() {
            continue;
        }
        let end = v[i..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .map_or(v.len(), |e| i + e);
        let cand = v[i..end].trim_end_matches('.');
        if cand.parse::<std::net::Ipv4Addr>().is_ok() {
            return Some(cand.to_owned());
        }
    }
    v.split(['[', ']'])
        .find(|p| p.contains(':') && parse_ip(p).is_some())
        .map(|p| parse_ip(p).map_or_else(String::new, |ip| ip.to_string()))
}

/// Whether a header name is one of the trust pseudo-headers.
pub(crate) fn is_pseudo_header(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "X-Spam-Relays-Trusted",
        "X-Spam-Relays-Untrusted",
        "X-Spam-Relays-Internal",
        "X-Spam-Relays-External",
        "ALL-TRUSTED",
        "ALL-UNTRUSTED",
        "ALL-INTERNAL",
        "ALL-EXTERNAL",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// The header lines (`Name: value\n`) from the `start`-th Received field to the `end`-th
/// (0-based from the top, both included; `None`: open), as SpamAssassin collects them for
/// `ALL-TRUSTED` and friends. An `end` below 0 gives nothing.
fn header_range(view: &MessageView, start: Option<i64>, end: Option<i64>) -> String {
    let mut out = String::new();
    if end.is_some_and(|e| e < 0) {
        return out;
    }
    let mut index = -1i64;
    for h in &view.headers {
        if h.name.eq_ignore_ascii_case("Received") {
            index += 1;
        }
        let after_start = start.is_none_or(|s| s <= index);
        let line = format!("{}: {}\n", h.name, super::htext::decoded(h));
        match end {
            Some(e) if index == e && h.name.eq_ignore_ascii_case("Received") => {
                if after_start {
                    out.push_str(&line);
                }
                break;
            }
            Some(e) if index >= e => break,
            _ => {}
        }
        if after_start {
            out.push_str(&line);
        }
    }
    out
}

#[cfg(test)]
#[path = "trust_tests.rs"]
mod tests;
