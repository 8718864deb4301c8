//! The readings of one URI (`Util::uri_list_canonicalize`) and its host as
//! `RegistryBoundaries::uri_to_domain` finds it.

use std::collections::{BTreeSet, HashSet};

/// SpamAssassin's `MAX_URI_LENGTH`.
pub(super) const MAX_URI_LENGTH: usize = 8192;
/// Readings (redirect targets included) per URI, at most.
const MAX_READINGS: usize = 64;

/// Every reading of `uri` SpamAssassin's `uri` rules match, the URI itself included.
#[cfg(test)]
pub(super) fn canonicalize(uri: &str, tlds: &HashSet<String>) -> Vec<String> {
    readings(uri, tlds).0
}

/// Every reading of `uri` SpamAssassin's `uri` rules match, the URI itself included, each cut
/// to 8,192 bytes; and whether one was cut (`add_uri_detail_list` then sets `uri_truncated`).
pub(super) fn readings(uri: &str, tlds: &HashSet<String>) -> (Vec<String>, bool) {
    let mut uris: Vec<String> = vec![uri.to_owned()];
    let mut nuris: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uris.len() && uris.len() + nuris.len() < MAX_READINGS {
        let u: String = uris[i]
            .chars()
            .filter(|&c| c != '\n' && c != '\r')
            .collect();
        let u = u
            .trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b')
            .to_owned();
        uris[i].clone_from(&u);
        i += 1;
        if u.len() <= 1
            || u.starts_with(['#', '?', '&'])
            || (u.starts_with('/') && !u.starts_with("//"))
        {
            continue;
        }
        let lower = u.to_ascii_lowercase();
        if lower.starts_with("mailto:") || u.split(':').next().unwrap_or("").contains('@') {
            mail_readings(&u, &mut nuris);
            continue;
        }
        let mut n = u.replace('\\', "/");
        if let Some(rest) = strip_http_slashes(&n) {
            n = rest;
        }
        if super::has_escape(&n) {
            n = url_decode(&n);
        }
        let scheme_len = n
            .bytes()
            .take_while(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            .count();
        if scheme_len == 0 || n.as_bytes().get(scheme_len) != Some(&b':') {
            n = if n.starts_with("ftp.") {
                format!("ftp://{n}")
            } else {
                format!("http://{n}")
            };
        }
        n = slash_before_query(&n);
        n = decode_char_refs(&n);
        if n != u {
            nuris.push(n.clone());
        }
        http_readings(&n, tlds, &mut uris, &mut nuris);
    }
    let mut cut = false;
    let all: BTreeSet<String> = uris
        .into_iter()
        .chain(nuris)
        .map(|mut s| {
            if s.len() > MAX_URI_LENGTH {
                cut = true;
                let mut end = MAX_URI_LENGTH;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
            }
            s
        })
        .collect();
    (all.into_iter().collect(), cut)
}

/// `mailto:` readings: without `?...` or `&...`, without `%20`s, the `<address>` inside.
fn mail_readings(u: &str, out: &mut Vec<String>) {
    if let Some(at) = u.find('@').filter(|&a| a > 0) {
        let after = &u[at + 1..];
        if let Some(q) = after.find('?').filter(|&q| q > 0) {
            out.push(u[..at + 1 + q].to_owned());
        }
        if let Some(q) = after
            .find(['?', '&'])
            .filter(|&q| q > 0 && after.as_bytes()[q] == b'&')
        {
            out.push(u[..at + 1 + q].to_owned());
        }
    }
    if u.contains("%20") {
        let mut s = u.strip_prefix("mailto:").unwrap_or(u);
        while let Some(r) = s.strip_prefix("%20") {
            s = r;
        }
        if let Some(at) = s.find('@').filter(|&a| a > 0) {
            let host: String = s[at + 1..]
                .chars()
                .take_while(|c| !"?&%".contains(*c))
                .collect();
            if !host.is_empty() {
                out.push(format!("mailto:{}@{host}", &s[..at]));
            }
        }
    }
    let head = &u[..u.find(['?', '&']).unwrap_or(u.len())];
    for (lt, _) in head.rmatch_indices('<') {
        let inner = &u[lt + 1..];
        let Some(gt) = inner.find('>') else {
            continue;
        };
        let addr = &inner[..gt];
        if addr
            .find('@')
            .is_some_and(|at| at > 0 && at + 1 < addr.len())
        {
            out.push(format!("mailto:{addr}"));
            break;
        }
    }
}

/// `http:x`, `http:/x` → `http://x` (any case of the scheme kept).
fn strip_http_slashes(n: &str) -> Option<String> {
    let lower = n.to_ascii_lowercase();
    let scheme = if lower.starts_with("https:") {
        6
    } else if lower.starts_with("http:") {
        5
    } else {
        return None;
    };
    let rest = n[scheme..].trim_start_matches('/');
    let slashes = n.len() - scheme - rest.len();
    // `/{0,2}`: a third slash stays part of the rest.
    let rest = &n[scheme + slashes.min(2)..];
    Some(format!("{}//{rest}", &n[..scheme]))
}

/// `http://host?x` → `http://host/?x` (and `#`).
fn slash_before_query(n: &str) -> String {
    let lower = n.to_ascii_lowercase();
    let start = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return n.to_owned();
    };
    let host_len = n[start..].find(['/', '?', '#']).unwrap_or(n.len() - start);
    let at = start + host_len;
    if host_len > 0 && n[at..].starts_with(['?', '#']) {
        format!("{}/{}", &n[..at], &n[at..])
    } else {
        n.to_owned()
    }
}

/// `&#NN;` and `&#xHH;` for printable ASCII, and the character references of other dots.
fn decode_char_refs(n: &str) -> String {
    if !n.contains("&#") {
        return n.to_owned();
    }
    let mut out = String::with_capacity(n.len());
    let mut rest = n;
    while let Some(i) = rest.find("&#") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 2..];
        let Some(semi) = tail.find(';').filter(|&s| s <= 12) else {
            out.push_str("&#");
            rest = tail;
            continue;
        };
        let body = &tail[..semi];
        let lower = body.to_ascii_lowercase();
        let value = match body.strip_prefix('x') {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|c| c.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex.trim_start_matches('0'), 16)
                    .ok()
                    .or(Some(0))
            }
            None if !body.is_empty() && body.bytes().all(|c| c.is_ascii_digit()) => {
                body.trim_start_matches('0').parse().ok().or(Some(0))
            }
            _ => None,
        };
        let dot =
            ["x2e", "12290", "x3002", "65294", "xff0e", "65377", "xff61"].contains(&lower.as_str());
        let printable = value.filter(|v| {
            let decimal_ok = (33..=126).contains(v);
            let hex_ok = (0x21..=0x29).contains(v) || (0x30..=0x7e).contains(v);
            if body.starts_with('x') {
                hex_ok
            } else {
                decimal_ok
            }
        });
        match (printable, dot) {
            (Some(v), _) => out.push(char::from_u32(v).unwrap_or('?')),
            (None, true) => out.push('.'),
            _ => {
                out.push_str("&#");
                rest = tail;
                continue;
            }
        }
        rest = &tail[semi + 1..];
    }
    out.push_str(rest);
    out
}

/// The readings of an `http(s)://` URI: default port dropped, user name dropped, odd
/// characters after the host dropped, numeric hosts as dotted quads, `http://name` as
/// `http://www.name.com`, and a URI after the host (a redirect) read as a URI of its own.
fn http_readings(n: &str, tlds: &HashSet<String>, uris: &mut Vec<String>, nuris: &mut Vec<String>) {
    let lower = n.to_ascii_lowercase();
    let plen = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return;
    };
    let proto = &n[..plen];
    let after = &n[plen..];
    let stop = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (auth, hostpart) = match after[..stop].find('@') {
        Some(a) => (&after[..=a], &after[a + 1..]),
        None => ("", after),
    };
    let host_len = hostpart
        .find(['/', '?', '#', ':'])
        .unwrap_or(hostpart.len());
    if host_len == 0 {
        return;
    }
    let mut host = hostpart[..host_len].to_owned();
    let rest = &hostpart[host_len..];
    let port_digits: Option<&str> = rest
        .strip_prefix(':')
        .map(|r| &r[..r.bytes().take_while(u8::is_ascii_digit).count()]);
    let mut port = port_digits.unwrap_or("").to_owned();
    if port.is_empty() {
        port = if proto == "http://" {
            "80".into()
        } else {
            "443".into()
        };
    } else {
        let strip = |p: &str| {
            rest.strip_prefix(p)
                .filter(|r| !r.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
        };
        if proto == "http://" {
            if let Some(r) = strip(":80") {
                nuris.push(format!("{proto}{host}{r}"));
            }
        } else if let Some(r) = strip(":443") {
            nuris.push(format!("{proto}{host}{r}"));
        }
    }
    // A host in Unicode is added in its ASCII form (`idn_to_ascii`), with and without a
    // default port, and read in that form from here on.
    if !host.is_ascii() {
        let ace = idn_to_ascii(&host);
        if ace != host.to_lowercase() {
            nuris.push(format!("{proto}{ace}{rest}"));
            if let Some(digits) = port_digits.filter(|d| !d.is_empty()) {
                let default = if proto == "http://" { "80" } else { "443" };
                let noport = if digits == default {
                    &rest[1 + digits.len()..]
                } else {
                    rest
                };
                // Perl's `if $rest_noport`: not when nothing is left.
                if !noport.is_empty() {
                    nuris.push(format!("{proto}{ace}{noport}"));
                }
            }
            host = ace;
        }
    }
    let nhost = host.to_ascii_lowercase();
    if host.bytes().any(|c| c <= 0x20) {
        host.retain(|c| c > ' ');
        nuris.push(format!("{proto}{host}{rest}"));
    }
    // One level of redirect, found by the generic `https?:/{0,2}` test.
    let rest_lower = rest.to_ascii_lowercase();
    for (i, _) in rest_lower.match_indices("http") {
        let rl = &rest_lower[i..];
        let scheme = if rl.starts_with("https:") {
            6
        } else if rl.starts_with("http:") {
            5
        } else {
            0
        };
        if scheme == 0 {
            continue;
        }
        let r = &rest[i..];
        let target = &r[..r.find(['&', '#']).unwrap_or(r.len())];
        if target.len() > scheme && target.contains('.') {
            uris.push(target.to_owned());
        }
        break;
    }
    if let Some(a) = host.find('@').filter(|&a| a > 0) {
        host = host[a + 1..].to_owned();
        nuris.push(format!("{proto}{host}{rest}"));
    }
    let trimmed = host
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .len();
    if trimmed < host.len() {
        host.truncate(trimmed);
        nuris.push(format!("{proto}{host}{rest}"));
    }
    if let Some(ip) = numeric_host(&host) {
        nuris.push(format!("{proto}{ip}{rest}"));
    } else if proto == "http://" && auth.is_empty() && nhost != "localhost" && port == "80" {
        let name = nhost.strip_prefix("www.").unwrap_or(&nhost);
        if !name.is_empty() && !name.contains('.') && !is_domain_valid(&nhost, tlds) {
            nuris.push(format!("{proto}www.{name}.com{rest}"));
        }
    }
}

/// A host of four numeric parts (decimal, octal or hex), one hex number or one decimal number,
/// written as SpamAssassin writes it.
fn numeric_host(host: &str) -> Option<String> {
    let lower = host.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('.').collect();
    let numeric = |p: &str| {
        !p.is_empty()
            && (p.bytes().all(|c| c.is_ascii_digit())
                || p.strip_prefix("0x")
                    .is_some_and(|h| !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit())))
    };
    if parts.len() == 4 && parts.iter().all(|p| numeric(p)) {
        let octets: Vec<String> = parts.iter().map(|p| octet(p)).collect();
        return Some(octets.join("."));
    }
    if let Some(h) = lower
        .strip_prefix("0x")
        .filter(|h| !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()))
    {
        let last8 = &h[h.len().saturating_sub(8)..];
        return Some(ulong_to_ip(u64::from_str_radix(last8, 16).unwrap_or(0)));
    }
    if !lower.is_empty() && lower.bytes().all(|c| c.is_ascii_digit()) {
        return Some(ulong_to_ip(lower.parse::<u64>().unwrap_or(u64::MAX)));
    }
    None
}

/// One part of a numeric host: hex to decimal, a leading-zero octal number to decimal, then
/// leading zeros removed (a lone `0` becomes empty, as in SpamAssassin).
fn octet(p: &str) -> String {
    let mut s = match p.strip_prefix("0x") {
        Some(h) => u128::from_str_radix(&h[h.len().saturating_sub(30)..], 16)
            .map_or_else(|_| h.to_owned(), |v| v.to_string()),
        None => p.to_owned(),
    };
    let zeros = s.bytes().take_while(|&c| c == b'0').count();
    if zeros > 0 {
        let digits = &s[zeros..];
        let oct_len = match digits.as_bytes().first() {
            Some(b'1'..=b'3') => {
                1 + digits[1..]
                    .bytes()
                    .take(2)
                    .take_while(|c| (b'0'..=b'7').contains(c))
                    .count()
            }
            Some(b'4'..=b'7') => {
                1 + digits[1..]
                    .bytes()
                    .take(1)
                    .take_while(|c| (b'0'..=b'7').contains(c))
                    .count()
            }
            _ => 0,
        };
        // `\b` after the octal digits: the next byte must not be a word character.
        if oct_len > 0
            && !digits
                .as_bytes()
                .get(oct_len)
                .is_some_and(u8::is_ascii_alphanumeric)
        {
            let v = u32::from_str_radix(&digits[..oct_len], 8).unwrap_or(0);
            s = format!("{v}{}", &digits[oct_len..]);
        }
    }
    s.trim_start_matches('0').to_owned()
}

/// `decode_ulong_to_ip`: the first four bytes of the number's hex form (at least 8 digits).
fn ulong_to_ip(v: u64) -> String {
    let hex = format!("{v:08x}");
    let byte =
        |i: usize| u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("0"), 16).unwrap_or(0);
    format!("{}.{}.{}.{}", byte(0), byte(1), byte(2), byte(3))
}

/// SpamAssassin's `url_encode` (which decodes): `%XX` of a printable character other than
/// those it keeps escaped is decoded; control, space, non-ASCII, `"`, `%`, `<`, `>` are escaped.
pub(super) fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let (h, l) = (b[i + 1].to_ascii_lowercase(), b[i + 2].to_ascii_lowercase());
            // `(20|7f|[0189a-f][0-9a-f])` anywhere in `%XY` keeps the escape.
            let keep =
                (h, l) == (b'2', b'0') || (h, l) == (b'7', b'f') || !(b'2'..=b'7').contains(&h);
            if keep {
                out.extend_from_slice(&b[i..i + 3]);
            } else {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            }
            i += 3;
            continue;
        }
        let c = b[i];
        if c <= 0x20 || c >= 0x7f || matches!(c, b'"' | b'%' | b'<' | b'>') {
            out.extend_from_slice(format!("%{c:02x}").as_bytes());
        } else {
            out.push(c);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host `RegistryBoundaries::uri_to_domain` finds in a reading, when it is an IP address
/// or a valid host name under a listed top-level domain.
pub(super) fn host_of(uri: &str, tlds: &HashSet<String>) -> Option<String> {
    let lower = uri.to_ascii_lowercase();
    if ["javascript:", "cid:", "file:"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return None;
    }
    let host: &str = if let Some(m) = lower.strip_prefix("mailto:") {
        let m = m.split('?').next().unwrap_or("");
        if m.matches('@').count() > 1 {
            return None;
        }
        m.split_once('@')?.1
    } else {
        let letters = lower.bytes().take_while(u8::is_ascii_lowercase).count();
        let mut h = lower.as_str();
        if letters > 0 && lower.as_bytes().get(letters) == Some(&b':') {
            h = &h[letters + 1..];
            let slashes = h.bytes().take(2).take_while(|&c| c == b'/').count();
            h = &h[slashes..];
        }
        h = &h[..h.find(['/', '?', '#']).unwrap_or(h.len())];
        if let Some(a) = h.rfind('@') {
            h = &h[a + 1..];
        }
        if let Some(c) = h.rfind(':') {
            if h[c + 1..].bytes().all(|d| d.is_ascii_digit()) {
                h = &h[..c];
            }
        }
        h
    };
    let hb = host.as_bytes();
    let encoded = hb.windows(3).any(|w| {
        w[0] == b'%'
            && matches!((w[1], w[2]), (b'2', b'1'..=b'9' | b'a'..=b'f') | (b'3'..=b'6', b'0'..=b'9' | b'a'..=b'f') | (b'7', b'0'..=b'9' | b'a'..=b'e'))
    });
    if encoded {
        return None;
    }
    // `uri_to_domain` reads the host through `idn_to_ascii`.
    let ace;
    let host = if host.is_ascii() {
        host
    } else {
        ace = idn_to_ascii(host);
        if !ace.is_ascii() {
            return None;
        }
        ace.as_str()
    };
    if host.parse::<std::net::Ipv4Addr>().is_ok() || host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some(host.to_owned());
    }
    (is_fqdn_valid(host) && is_domain_valid(host, tlds)).then(|| host.to_owned())
}

/// SpamAssassin's `idn_to_ascii` for a host with characters beyond ASCII: the ideographic
/// and full-width full stops read as dots, then the UTS #46 ASCII form (Net::LibIDN2,
/// non-transitional), lower case; the host as it is (dots read) when that fails.
pub(super) fn idn_to_ascii(host: &str) -> String {
    let dotted: String = host
        .chars()
        .map(|c| match c {
            '\u{3002}' | '\u{ff0e}' | '\u{ff61}' => '.',
            c => c,
        })
        .collect();
    idna::domain_to_ascii(&dotted).unwrap_or(dotted)
}

/// `is_fqdn_valid`: at least two labels of 1-63 letters, digits, `-` (not at an end) and `_`
/// (not in the last two labels), 253 characters at most.
pub(super) fn is_fqdn_valid(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    if host.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    n > 1
        && labels.iter().enumerate().all(|(i, l)| {
            let b = l.as_bytes();
            let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_';
            !b.is_empty()
                && b.len() <= 63
                && ok(&b[0])
                && ok(&b[b.len() - 1])
                && b.iter().all(|c| ok(c) || *c == b'-')
                && (i + 2 < n || !l.contains('_'))
        })
}

/// `is_domain_valid`: no white space, a dot, and a last label on the `util_rb_tld` list.
pub(super) fn is_domain_valid(dom: &str, tlds: &HashSet<String>) -> bool {
    let dom = dom.to_ascii_lowercase();
    if dom.chars().any(char::is_whitespace) {
        return false;
    }
    dom.rsplit_once('.')
        .is_some_and(|(_, tld)| !tld.is_empty() && tlds.contains(tld))
}
