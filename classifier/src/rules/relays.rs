//! `Received:` header fields parsed into relays, the way SpamAssassin's trust path reads them
//! (its `Message::Metadata::Received`): for each hop the connecting client's IP address,
//! reverse DNS name (as the receiving MTA recorded it), HELO name, the receiving host (`by`),
//! ident, envelope sender, queue id and the SMTP AUTH method.
//!
//! A field is one of three things: a relay; *skipped* (a local hand-over, a mail fetcher, a
//! field without a `from` part: nothing to learn and nothing wrong); or *unparseable* (it has a
//! `from` part but no recognisable client address), which SpamAssassin counts
//! (`UNPARSEABLE_RELAY`) and which keeps a message from being `ALL_TRUSTED`.
//!
//! MTAs write the client part in many layouts, and some swap the HELO name and the rDNS name,
//! so the client part is matched against a list of known layouts ([`SHAPES`]), most specific
//! first; the first that fits says which bracketed or parenthesised word is which.

use std::net::IpAddr;
use std::sync::OnceLock;

/// A compiled layout. Perl's semantics (look-ahead included) with a step limit: a pattern
/// that runs out of steps is taken as not matching.
struct Regex(fancy_regex::Regex);

impl Regex {
    fn is_match(&self, s: &str) -> bool {
        self.0.is_match(s).unwrap_or(false)
    }

    fn captures<'t>(&self, s: &'t str) -> Option<Captures<'t>> {
        self.0.captures(s).ok().flatten()
    }

    fn find(&self, s: &str) -> Option<std::ops::Range<usize>> {
        self.0.find(s).ok().flatten().map(|m| m.start()..m.end())
    }
}

type Captures<'t> = fancy_regex::Captures<'t, str>;

/// One hop of the Received chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Relay {
    /// The client's IP address (without brackets or an `IPv6:` prefix).
    pub ip: String,
    /// The client's reverse DNS name as the receiving MTA recorded it; empty when none.
    pub rdns: String,
    /// The HELO/EHLO name the client gave.
    pub helo: String,
    /// The receiving host.
    pub by: String,
    /// The ident (RFC 1413) user, if recorded.
    pub ident: String,
    /// The envelope sender, if the field records it.
    pub envfrom: String,
    /// The receiving MTA's queue id.
    pub id: String,
    /// The SMTP AUTH indication (`ESMTPA`, `Postfix`, `Sendmail`, ...); empty when none.
    pub auth: String,
    /// The MTA looked the client's name up and found none (as opposed to a layout that never
    /// records the name).
    pub no_reverse_dns: bool,
    /// The IP address is in a private, loopback or link-local range.
    pub ip_private: bool,
    /// Set by the trust pass: the relay is inside `internal_networks`.
    pub internal: bool,
    /// Set by the trust pass: the relay is an MSA listed in `msa_networks`.
    pub msa: bool,
}

impl Relay {
    /// SpamAssassin's one-line form, as in `X-Spam-Relays-*`:
    /// `[ ip=... rdns=... helo=... by=... ident=... envfrom=... intl=0 id=... auth=... msa=0 ]`.
    pub(crate) fn as_string(&self) -> String {
        format!(
            "[ ip={} rdns={} helo={} by={} ident={} envfrom={} intl={} id={} auth={} msa={} ]",
            self.ip,
            self.rdns,
            self.helo,
            self.by,
            self.ident,
            self.envfrom,
            u8::from(self.internal),
            self.id,
            self.auth,
            u8::from(self.msa)
        )
    }
}

/// What one `Received:` field says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A hop with a client address.
    Relay(Relay),
    /// Nothing to learn: a local hand-over, a fetcher, a field with no client part.
    Skipped,
    /// A client part without a recognisable client address.
    Unparseable,
    /// A mail fetcher's hand-over (`with POP3`, `with IMAP`): the hops above it are the
    /// user's own delivery, so the trust path restarts below it.
    Fetched,
}

/// Why a field's `from` part ends the parse without a relay.
enum Stop {
    Skip,
    Fetch,
}

/// An IPv4 address, or an IPv6 one (optionally `IPv6:`-prefixed, with an optional embedded
/// IPv4 tail). Candidates are validated after matching.
pub(crate) const IP: &str = r"(?:(?:[Ii][Pp][Vv]6:)?(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?|\d{1,3}(?:\.\d{1,3}){3})";

#[path = "relays_layouts.rs"]
mod layouts;
use layouts::{
    AUTH_MARKS, By, F, Helo, HeloRdns, Ident, Ip, LOCAL_HANDOVERS, Rdns, SHAPES, SHAPES_LAST,
    SHAPES_LATE, SHAPES_TAIL, SPECIAL, Shape, Skip,
};

struct Compiled {
    special: Vec<(Regex, Vec<[Option<Regex>; 3]>)>,
    shapes: Vec<[Option<Regex>; 3]>,
    late: Vec<[Option<Regex>; 3]>,
    last: Vec<[Option<Regex>; 3]>,
    tail: Vec<[Option<Regex>; 3]>,
    local: Vec<Regex>,
    auth: Vec<Regex>,
    misc: Misc,
}

struct Misc {
    trivial_by: Regex,
    date: Regex,
    id: Regex,
    helo_eq: Regex,
    helo_cmd: Regex,
    by: Regex,
    envfrom: Regex,
    squirrel: Regex,
    aol: Regex,
    exim_bracket: Regex,
    exim_rdns: Regex,
    exim_plain: Regex,
    exim_first: Regex,
    exim_paren: Regex,
    exim_ip: Regex,
    exim_by: Regex,
    hotmail: Regex,
    claiming: Regex,
    bracket_comment: Regex,
    rdns_paren_ip: Regex,
    yahoo: Regex,
    xoip: Regex,
    caps: Regex,
    navgw: Regex,
    paren_local: Regex,
    jqueue: Regex,
    any_ip: Regex,
    leading_word: Regex,
    gmail_auth: Regex,
    gmail_tls: Regex,
    gmx_auth: Regex,
}

fn re(p: &str) -> Regex {
    // The patterns are constants of this file; a test compiles every one.
    let built = fancy_regex::RegexBuilder::new(&p.replace("{IP}", IP))
        .backtrack_limit(100_000)
        .build();
    Regex(built.unwrap_or_else(|e| panic!("bad relay pattern {p}: {e}")))
}

fn opt(p: &str) -> Option<Regex> {
    (!p.is_empty()).then(|| re(p))
}

fn compile_shapes(list: &[Shape]) -> Vec<[Option<Regex>; 3]> {
    list.iter()
        .map(|s| [opt(s.when), opt(s.unless), Some(re(s.pattern))])
        .collect()
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| Compiled {
        special: SPECIAL
            .iter()
            .map(|(when, list)| (re(when), compile_shapes(list)))
            .collect(),
        shapes: compile_shapes(SHAPES),
        late: compile_shapes(SHAPES_LATE),
        last: compile_shapes(SHAPES_LAST),
        tail: compile_shapes(SHAPES_TAIL),
        local: LOCAL_HANDOVERS.iter().map(|p| re(p)).collect(),
        auth: AUTH_MARKS.iter().map(|(_, p, _)| re(p)).collect(),
        misc: Misc {
            trivial_by: re(r"(?i)^from (\S+) by [^\s;]+ ?;"),
            date: re(r"[\s;]+(?:(?:Mon|T(?:ue|hu)|Wed|Fri|S(?:at|un)), )?\d+ (?:J(?:an|u[nl])|Feb|Ma[ry]|A(?:pr|ug)|Sep|Oct|Nov|Dec) \d+ \d+:\d+(?::\d+)? \S+$"),
            id: re(r" id <?([^\s<>;]{3,})"),
            helo_eq: re(r"\bhelo=([-A-Za-z0-9.^+_&:=?!@%*$\\/]+)(?:[^-A-Za-z0-9.^+_&:=?!@%*$\\/]|$)"),
            helo_cmd: re(r"\b(?:HELO|EHLO) ([-A-Za-z0-9.^+_&:=?!@%*$\\/]+)(?:[^-A-Za-z0-9.^+_&:=?!@%*$\\/]|$)"),
            by: re(r" by (\S+)(?:[^-A-Za-z0-9;.]|$)"),
            envfrom: re(r"(?i)(?:return-path:? |envelope-(?:sender|from)[ =])(\S+)\b"),
            squirrel: re(r"({IP})\b[^.-].{9,79}by (\S+) with HTTP"),
            aol: re(r"({IP}) by (\S+) \({IP}\) with HTTP \(WebMailUI\)"),
            exim_bracket: re(r"^\[({IP})\] \((.*?)\) by (\S+) "),
            exim_rdns: re(r"^(\S+) \(\[({IP})\](.*?)\) by (\S+) "),
            exim_plain: re(r"^(\S+) \[({IP})\](:\d+)? by (\S+) "),
            exim_first: re(r"^(\S+) "),
            exim_paren: re(r" \((\S+)\) "),
            exim_ip: re(r" \[({IP})(?:\.\d+)?\] "),
            exim_by: re(r"by (\S+) "),
            hotmail: re(r"by (\S+\.hotmail\.msn\.com) "),
            claiming: re(r#"^(\S+)\(({IP})\)(?:, claiming to be "(\S+)")? via \S+ by (\S+),"#),
            bracket_comment: re(r"^\[({IP})\] \(([^)]+)\) by (\S+) "),
            rdns_paren_ip: re(r"^(\S+) \((?:\S+@)?({IP})\) by (\S+) with "),
            yahoo: re(r"^(\S+) \((\S+)@({IP}) with login\) by (\S+\.yahoo\.com) with SMTP"),
            xoip: re(r"^X-Originating-IP: ({IP})$"),
            caps: re(r"^(\S+) \((\S+) \[({IP})\]\) BY (\S+) (?:\([^)]+\) WITH SMTP )?ID <?(\S+?)>?(?: FOR <[^>]+>)?$"),
            navgw: re(r"^(\S*) \[({IP})\]\) by (\S+) \(NAVGW .*?\) with "),
            paren_local: re(r"^\S+@localhost\) by \S+ "),
            jqueue: re(r"^[^\s@]+@[^)]+\) by \S+\(jqueuemail\) id [^\s;]+"),
            any_ip: re(r"\[({IP})\]"),
            leading_word: re(r"^(\S+)[^-A-Za-z0-9.]"),
            gmail_auth: re(r" by mx\.google\.com with ESMTPS id [a-z0-9]{1,4}sm[0-9]{2,9}[a-z]{3}\.[0-9]{1,3}\.[0-9]{4}\.(?:[0-6][0-9]\.){4}[0-6][0-9]"),
            gmail_tls: re(r"\(version=([^ ]+) cipher=([^)]+)\)"),
            gmx_auth: re(r"from \S* \((?:HELO|EHLO) (\S*)\) \[({IP})\] by (mail\.gmx\.(?:net|com)) \([^)]+\) with (ESMTP|SMTP)"),
        },
    })
}

/// Working state for one field.
#[derive(Default)]
struct Work {
    ip: String,
    rdns: String,
    helo: String,
    by: String,
    ident: String,
    envfrom: Option<String>,
    id: String,
    auth: String,
    dns: bool,
}

impl Work {
    fn take(&mut self, fields: &[F], caps: &Captures<'_>, dns: bool) {
        for (k, f) in fields.iter().enumerate() {
            let v = caps.get(k + 1).map_or("", |m| m.as_str()).to_owned();
            match f {
                Helo => self.helo = v,
                Rdns => self.rdns = v,
                Ip => self.ip = v,
                By => self.by = v,
                Ident => self.ident = v,
                HeloRdns => {
                    self.helo.clone_from(&v);
                    self.rdns = v;
                }
                Skip => {}
            }
        }
        self.dns = dns;
    }
}

/// Tries a list of layouts on the client part; true when one fitted.
fn try_shapes(list: &[[Option<Regex>; 3]], shapes: &[Shape], rest: &str, w: &mut Work) -> bool {
    for (c, s) in list.iter().zip(shapes) {
        if c[0].as_ref().is_some_and(|r| !r.is_match(rest))
            || c[1].as_ref().is_some_and(|r| r.is_match(rest))
        {
            continue;
        }
        if let Some(caps) = c[2].as_ref().and_then(|r| r.captures(rest)) {
            w.take(s.fields, &caps, s.dns);
            // qmail's layouts: `unknown` means the MTA did not look the name up.
            if s.pattern.contains("QMQP") && w.rdns == "unknown" {
                w.rdns.clear();
                w.dns = false;
            }
            // couriertcpd writes `softdnserr` for a failed lookup.
            if s.pattern.ends_with(r"by (\S+)\b") && w.rdns == "softdnserr" {
                w.rdns.clear();
                w.dns = false;
            }
            return true;
        }
    }
    false
}

/// Parses one `Received:` field's value (folded or not).
pub(crate) fn parse_received(value: &str) -> Parsed {
    let c = compiled();
    let m = &c.misc;
    let mut line = value.split_whitespace().collect::<Vec<_>>().join(" ");
    while line.ends_with(';') {
        line.pop();
        let t = line.trim_end().len();
        line.truncate(t);
    }
    let lower_start = line.get(..6).map(str::to_ascii_lowercase);
    if !(lower_start.as_deref() == Some("(from ")
        || line
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("from ")))
    {
        return Parsed::Skipped;
    }
    if line.contains("with local for") {
        return Parsed::Skipped;
    }
    if let Some(caps) = m.trivial_by.captures(&line) {
        let first = &caps[1];
        let bracketed_v4 = first.starts_with('[')
            && first.ends_with(']')
            && first[1..first.len() - 1]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.');
        if !bracketed_v4 {
            return Parsed::Skipped;
        }
    }
    if let Some(d) = m.date.find(&line) {
        line.truncate(d.start);
    }
    let line = line.replace(")by ", ") by ");
    let mut w = Work::default();
    if let Some(caps) = m.id.captures(&line) {
        w.id = caps[1].to_owned();
    }
    if let Some(caps) = m
        .helo_eq
        .captures(&line)
        .or_else(|| m.helo_cmd.captures(&line))
    {
        w.helo = caps[1].to_owned();
    }
    if let Some(caps) = m.by.captures(&line) {
        w.by = caps[1].to_owned();
    }
    w.auth = auth_of(c, &line);
    let done = if let Some(rest) = line.strip_prefix("from ") {
        match from_part(c, rest, &mut w) {
            Ok(done) => done,
            Err(Stop::Skip) => return Parsed::Skipped,
            Err(Stop::Fetch) => return Parsed::Fetched,
        }
    } else if let Some(rest) = line.strip_prefix("FROM ") {
        if let Some(caps) = m.caps.captures(rest) {
            w.take(&[Helo, Rdns, Ip, By], &caps, true);
            w.id = caps[5].to_owned();
            if w.rdns == "unverified" {
                w.rdns.clear();
            }
            true
        } else {
            false
        }
    } else if let Some(rest) = line.strip_prefix("(from ") {
        if let Some(caps) = m.navgw.captures(rest) {
            w.take(&[Helo, Ip, By], &caps, false);
            true
        } else if m.paren_local.is_match(rest) || m.jqueue.is_match(rest) {
            return Parsed::Skipped;
        } else {
            false
        }
    } else {
        false
    };
    if !done {
        if w.ip.is_empty() {
            if let Some(caps) = m.any_ip.captures(&line) {
                w.ip = caps[1].to_owned();
            }
        }
        if w.ip.is_empty() || w.by.is_empty() {
            return Parsed::Unparseable;
        }
    }
    Parsed::Relay(finish(w))
}

/// The AUTH indication of a field, or empty.
fn auth_of(c: &Compiled, line: &str) -> String {
    let m = &c.misc;
    for (k, ((when, _, name), pat)) in AUTH_MARKS.iter().zip(&c.auth).enumerate() {
        // GMail (which does not say ESMTPSA) and GMX (which says nothing) are recognised
        // by their own layouts, in SpamAssassin's order among the marks.
        if k == 1 && m.gmail_auth.is_match(line) {
            if let Some(t) = m.gmail_tls.captures(line) {
                return format!("GMail - transport={} cipher={}", &t[1], &t[2]);
            }
        }
        if k == 3 {
            if let Some(g) = m.gmx_auth.captures(line) {
                return format!("GMX ({} / {})", &g[4], &g[3]);
            }
        }
        if !line.contains(when) {
            continue;
        }
        if let Some(caps) = pat.captures(line) {
            return match *name {
                "" => caps[1].to_owned(),
                "postfix" => {
                    let sw = &caps[1];
                    if sw == "Postfix" {
                        sw.to_owned()
                    } else {
                        format!("Postfix ({sw})")
                    }
                }
                n => n.to_owned(),
            };
        }
    }
    String::new()
}

/// The part after `from `: `Ok(true)` when a layout fitted, `Ok(false)` when none did
/// (the generic fallback follows), `None` when the field is to be skipped.
fn from_part(c: &Compiled, rest: &str, w: &mut Work) -> Result<bool, Stop> {
    let m = &c.misc;
    if let Some(caps) = m.envfrom.captures(rest) {
        w.envfrom = Some(caps[1].to_owned());
    }
    if rest.contains(" (SquirrelMail authenticated user ")
        || rest.contains(" (NaSMail authenticated user ")
    {
        if let Some(caps) = m.squirrel.captures(rest) {
            w.ip = caps[1].to_owned();
            w.by = caps[2].to_owned();
            return Ok(true);
        }
    }
    if rest.contains("aol.com") && rest.contains("with HTTP (WebMailUI)") {
        if let Some(caps) = m.aol.captures(rest) {
            w.ip = caps[1].to_owned();
            w.by = caps[2].to_owned();
            return Ok(true);
        }
    }
    if let Some(k) = c.special.iter().position(|(when, _)| when.is_match(rest)) {
        let (marker, list) = SPECIAL[k];
        if marker == " SMTPSVC"
            && rest.starts_with("mail pickup service by ")
            && rest.ends_with(" with Microsoft SMTPSVC")
        {
            return Err(Stop::Skip);
        }
        if marker == "Exim" {
            if let Some(r) = exim(m, rest, w) {
                return r.ok_or(Stop::Skip);
            }
        } else if try_shapes(&c.special[k].1, list, rest, w) {
            if marker.contains("Microsoft SMTP Server") {
                w.id.clear();
            }
            return Ok(true);
        }
    }
    if let Some(caps) = m.hotmail.captures(rest) {
        w.by = caps[1].to_owned();
        if let Some(ip) = rest
            .split(' ')
            .next()
            .filter(|t| t.parse::<IpAddr>().is_ok())
        {
            w.ip = ip.to_owned();
        }
        return Ok(true);
    }
    if try_shapes(&c.shapes, SHAPES, rest, w) {
        return Ok(true);
    }
    if rest.contains("with POP3") || rest.contains("with IMAP") {
        return Err(Stop::Fetch);
    }
    if try_shapes(&c.late, SHAPES_LATE, rest, w) {
        return Ok(true);
    }
    if rest.contains(" with BSMTP") && rest.split(' ').nth(1) == Some("by") {
        return Err(Stop::Skip);
    }
    if try_shapes(&c.last, SHAPES_LAST, rest, w) {
        return Ok(true);
    }
    if rest.contains("(Content Technologies ") && rest.split(' ').nth(2) == Some("by") {
        return Err(Stop::Skip);
    }
    if try_shapes(&c.tail, SHAPES_TAIL, rest, w) {
        return Ok(true);
    }
    // `[ip] (helo=x ident=y) by host`: the comment holds the other fields, if any.
    if let Some(caps) = m.bracket_comment.captures(rest) {
        w.ip = caps[1].to_owned();
        w.by = caps[3].to_owned();
        for part in caps[2].split_whitespace() {
            if let Some(h) = part.strip_prefix("helo=") {
                w.helo = h.to_owned();
            } else if let Some(i) = part.strip_prefix("ident=") {
                w.ident = i.to_owned();
            }
        }
        return Ok(true);
    }
    if let Some(caps) = m.rdns_paren_ip.captures(rest) {
        w.take(&[Rdns, Ip, By], &caps, false);
        return Ok(true);
    }
    if let Some(caps) = m.claiming.captures(rest) {
        w.take(&[Rdns, Ip, Helo, By], &caps, caps[1] != *"UNKNOWN");
        return Ok(true);
    }
    if let Some(caps) = m.yahoo.captures(rest) {
        w.take(&[Helo, Skip, Ip, By], &caps, false);
        return Ok(true);
    }
    if let Some(caps) = m.xoip.captures(rest) {
        w.ip = caps[1].to_owned();
        w.by.clear();
        return Ok(true);
    }
    if c.local.iter().any(|r| r.is_match(rest)) {
        return Err(Stop::Skip);
    }
    if w.helo.is_empty() {
        if let Some(caps) = m.leading_word.captures(rest) {
            w.helo = caps[1].to_owned();
        }
    }
    Ok(false)
}

/// Exim's layouts: `Some(r)` when decided, `None` to go on with the common layouts.
fn exim(m: &Misc, rest: &str, w: &mut Work) -> Option<Option<bool>> {
    if rest.contains("with local ") || rest.contains(" with local-") {
        let local = regex_lite_local(rest);
        if local {
            return Some(None);
        }
    }
    let sub_fields = |sub: &str, w: &mut Work| {
        for part in sub.split_whitespace() {
            if let Some(h) = part.strip_prefix("helo=") {
                w.helo = h.to_owned();
            } else if let Some(i) = part.strip_prefix("ident=") {
                w.ident = i.to_owned();
            }
        }
    };
    if let Some(caps) = m.exim_bracket.captures(rest) {
        w.ip = caps[1].to_owned();
        w.by = caps[3].to_owned();
        let sub = caps[2].to_owned();
        sub_fields(&sub, w);
        return Some(Some(true));
    }
    if let Some(caps) = m.exim_rdns.captures(rest) {
        w.rdns = caps[1].to_owned();
        w.ip = caps[2].to_owned();
        w.by = caps[4].to_owned();
        w.helo.clone_from(&w.rdns);
        let sub = caps[3].to_owned();
        sub_fields(&sub, w);
        return Some(Some(true));
    }
    if let Some(caps) = m.exim_plain.captures(rest) {
        w.rdns = caps[1].to_owned();
        w.helo = caps[1].to_owned();
        w.ip = caps[2].to_owned();
        w.by = caps[4].to_owned();
        return Some(Some(true));
    }
    if let Some(caps) = m.exim_first.captures(rest) {
        w.rdns = caps[1].to_owned();
    }
    if let Some(caps) = m.exim_paren.captures(rest) {
        w.helo = caps[1].to_owned();
    }
    if let Some(caps) = m.exim_ip.captures(rest) {
        w.ip = caps[1].to_owned();
    }
    if let Some(caps) = m.exim_by.captures(rest) {
        w.by = caps[1].to_owned();
        if !w.ip.is_empty() {
            return Some(Some(true));
        }
    }
    None
}

/// Exim's `with local` / `with local-esmtp` hand-overs (`\bwith local(?:-\S+)? `).
fn regex_lite_local(rest: &str) -> bool {
    rest.match_indices("with local").any(|(i, _)| {
        let before_ok = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        let after = &rest[i + "with local".len()..];
        let after_ok = after.starts_with(' ')
            || (after.starts_with('-')
                && after[1..]
                    .find(' ')
                    .is_some_and(|sp| sp > 0 && !after[1..1 + sp].contains(char::is_whitespace)));
        before_ok && after_ok
    })
}

/// Normalises the fields of a matched relay.
fn finish(w: Work) -> Relay {
    let mut rdns = w.rdns.trim_end_matches('.').to_owned();
    if rdns.eq_ignore_ascii_case("unknown") || rdns.starts_with('[') {
        rdns.clear();
    }
    // sendmail's ident lookups: `IDENT:user@host` or `user@host`.
    let mut ident = w.ident;
    if let Some(r) = rdns.strip_prefix("IDENT:") {
        if let Some((user, host)) = r.split_once('@') {
            ident = user.to_owned();
            rdns = host.to_owned();
        }
    } else if let Some((user, host)) = rdns.split_once('@') {
        ident = user.to_owned();
        rdns = host.to_owned();
    }
    let mut ip = w.ip;
    if ip.len() > 5 && ip.as_bytes()[..5].eq_ignore_ascii_case(b"ipv6:") {
        ip.drain(..5);
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip = ip.split('%').next().unwrap_or("");
    let ip = mapped_v4(ip).unwrap_or(ip).to_owned();
    let by = w.by.trim_end_matches(';').to_owned();
    let envfrom = w
        .envfrom
        .map(|e| {
            strip_chars(
                e.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .trim(),
            )
        })
        .unwrap_or_default();
    let no_reverse_dns = rdns.is_empty() && w.dns;
    Relay {
        ip_private: is_private(&ip),
        ip: strip_chars(&ip),
        rdns: strip_chars(&rdns),
        helo: strip_chars(&w.helo),
        by: strip_chars(&by),
        ident: strip_chars(&ident),
        envfrom,
        id: w.id,
        auth: w.auth,
        no_reverse_dns,
        internal: false,
        msa: false,
    }
}

/// `::ffff:1.2.3.4` (any zero-padded spelling) → `1.2.3.4`.
fn mapped_v4(ip: &str) -> Option<&str> {
    let lower = ip.to_ascii_lowercase();
    let pos = lower.rfind(":ffff:")?;
    let head = &lower[..pos];
    if !head.split(':').all(|g| g.chars().all(|c| c == '0')) {
        return None;
    }
    let tail = &ip[pos + 6..];
    tail.parse::<std::net::Ipv4Addr>().ok().map(|_| tail)
}

/// Replaces the characters that would break the one-line relay format with `!`.
fn strip_chars(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_whitespace()
                || matches!(c, '\0' | '#' | '[' | ']' | '(' | ')' | '<' | '>' | '|')
            {
                '!'
            } else {
                c
            }
        })
        .collect()
}

/// Private, loopback, link-local and shared (CGN) ranges, as SpamAssassin counts them: a
/// relay from one of these is not on the public internet.
pub(crate) fn is_private(ip: &str) -> bool {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => private_v4(v4),
        Ok(IpAddr::V6(v6)) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private_v4(v4);
            }
            let seg = v6.segments();
            v6.is_loopback() || (seg[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

fn private_v4(v4: std::net::Ipv4Addr) -> bool {
    let o = v4.octets();
    o[0] == 10
        || o[0] == 127
        || (o[0] == 169 && o[1] == 254)
        || (o[0] == 172 && (16..=31).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..=127).contains(&o[1]))
}

#[cfg(test)]
#[path = "relays_tests.rs"]
mod tests;
