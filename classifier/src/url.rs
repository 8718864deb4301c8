//! URLs found in plain text and HTML, with their hosts.

/// A URL seen in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The URL as written (capped at 2 KiB).
    pub url: String,
    /// The scheme, lower-cased (`http`, `https`, `mailto`, ...); `http` for bare `www.` links.
    pub scheme: String,
    /// The host, lower-cased, without port or user info; may be an IP address.
    pub host: String,
    /// The path (and query) after the host, possibly empty.
    pub path: String,
    /// For HTML links: the visible link text.
    pub link_text: Option<String>,
    /// True for URLs from HTML attributes (`href`, `src`), false for URLs in text.
    pub from_html: bool,
}

impl Url {
    /// Parses a URL-ish string. Returns `None` when no host can be found.
    pub fn parse(raw: &str) -> Option<Url> {
        let raw = raw.trim();
        let capped = cap(raw, 2048);
        let (scheme, rest) = match capped.find("://") {
            Some(i)
                if i > 0
                    && capped[..i].bytes().all(|b| {
                        b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.'
                    }) =>
            {
                (capped[..i].to_ascii_lowercase(), &capped[i + 3..])
            }
            _ => {
                if let Some(rest) = strip_prefix_ci(capped, "mailto:") {
                    let host = rest.rsplit_once('@')?.1;
                    let host = host.split(['?', '>', ' ']).next()?.to_ascii_lowercase();
                    return (!host.is_empty()).then(|| Url {
                        url: capped.to_owned(),
                        scheme: "mailto".to_owned(),
                        host,
                        path: String::new(),
                        link_text: None,
                        from_html: false,
                    });
                }
                if strip_prefix_ci(capped, "www.").is_some() {
                    ("http".to_owned(), capped)
                } else {
                    return None;
                }
            }
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let path = rest[end..].to_owned();
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if hostport.starts_with('[') {
            hostport
                .split(']')
                .next()
                .unwrap_or("")
                .trim_start_matches('[')
        } else {
            hostport.split(':').next().unwrap_or("")
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty()
            || !host.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || b == b'.'
                    || b == b'-'
                    || b == b'_'
                    || b == b':'
                    || b >= 0x80
            })
        {
            return None;
        }
        Some(Url {
            url: capped.to_owned(),
            scheme,
            host,
            path,
            link_text: None,
            from_html: false,
        })
    }

    /// True when the host is a literal IPv4 or IPv6 address (or a decimal/hex-encoded IPv4).
    pub fn host_is_ip(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_ok()
            || (self.host.contains(':')
                && self
                    .host
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':'))
            || (!self.host.is_empty()
                && self.host.bytes().all(|b| b.is_ascii_digit())
                && self.host.len() >= 8)
            || (self.host.starts_with("0x")
                && self.host[2..].bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// The registrable-ish domain: the last two labels, or three when the second-to-last is a
    /// short label (`co.uk`, `com.au`). A heuristic, not the public suffix list.
    pub fn domain(&self) -> &str {
        registrable_domain(&self.host)
    }
}

/// The last two labels of a host, or three when the second-level label is short (`co.uk`).
pub fn registrable_domain(host: &str) -> &str {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host;
    }
    let dots: Vec<usize> = host.match_indices('.').map(|(i, _)| i).collect();
    if dots.len() < 2 {
        return host;
    }
    let last = dots[dots.len() - 1];
    let second = dots[dots.len() - 2];
    let sld = &host[second + 1..last];
    let tld = &host[last + 1..];
    if tld.len() == 2 && sld.len() <= 3 && dots.len() >= 3 {
        &host[dots[dots.len() - 3] + 1..]
    } else if tld.len() == 2 && sld.len() <= 3 && dots.len() == 2 {
        host
    } else {
        &host[second + 1..]
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Finds `scheme://...`, `www....` and `mailto:` URLs in plain text; at most `max` of them.
pub fn find_in_text(text: &str, max: usize) -> Vec<Url> {
    let mut out = Vec::new();
    if max == 0 {
        return out;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() && out.len() < max {
        // Find a candidate start: "://", "www." or "mailto:" at a word start.
        let Some(off) = memchr_any(&bytes[i..]) else {
            break;
        };
        let pos = i + off;
        let start = if bytes[pos] == b':' {
            // Walk back over the scheme.
            let mut s = pos;
            while s > 0
                && (bytes[s - 1].is_ascii_alphanumeric()
                    || bytes[s - 1] == b'+'
                    || bytes[s - 1] == b'-'
                    || bytes[s - 1] == b'.')
            {
                s -= 1;
            }
            if s == pos || !bytes[pos..].starts_with(b"://") {
                i = pos + 1;
                continue;
            }
            s
        } else {
            if pos > 0
                && (bytes[pos - 1].is_ascii_alphanumeric()
                    || bytes[pos - 1] == b'/'
                    || bytes[pos - 1] == b'.')
            {
                i = pos + 1;
                continue;
            }
            pos
        };
        let mut end = pos;
        while end < bytes.len() && !is_url_stop(bytes[end]) {
            end += 1;
        }
        let candidate = text.get(start..end).unwrap_or("");
        let candidate = candidate.trim_end_matches(['.', ',', ';', ':', ')', '!', '?', '\'', '"']);
        if let Some(u) = Url::parse(candidate) {
            out.push(u);
        }
        i = end.max(pos + 1);
    }
    out
}

fn is_url_stop(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'<' | b'>' | b'"' | b'\'' | b'`' | b'{' | b'}' | b'|' | b'\\' | b'^' | b'[' | b']'
        )
}

/// Position of the next ':' (for "://"), "www." or "mailto:" (case-insensitive).
fn memchr_any(hay: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < hay.len() {
        let b = hay[i];
        if b == b':' {
            return Some(i);
        }
        if (b == b'w' || b == b'W')
            && hay.len() - i >= 4
            && hay[i..i + 4].eq_ignore_ascii_case(b"www.")
        {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        let u = Url::parse("HTTP://User@Www.Example.COM:8080/a/b?c=d").expect("url");
        assert_eq!(u.host, "www.example.com");
        assert_eq!(u.scheme, "http");
        assert_eq!(u.path, "/a/b?c=d");
        assert_eq!(u.domain(), "example.com");
        assert!(Url::parse("http://192.168.1.1/x").expect("ip").host_is_ip());
        assert!(Url::parse("not a url").is_none());
    }

    #[test]
    fn finds_urls_in_text() {
        let urls = find_in_text(
            "see http://a.example.com/x, or www.b.example.org. mail me: mailto:x@c.example.net",
            10,
        );
        let hosts: Vec<&str> = urls.iter().map(|u| u.host.as_str()).collect();
        assert_eq!(hosts, ["a.example.com", "www.b.example.org"]);
        assert_eq!(
            find_in_text("http://a.example http://b.example", 1).len(),
            1
        );
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable_domain("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(registrable_domain("mail.example.com"), "example.com");
        assert_eq!(registrable_domain("localhost"), "localhost");
    }
}
