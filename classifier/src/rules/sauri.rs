//! SpamAssassin's URI list (`PerMsgStatus::get_uri_list`), for the `uri` rules of loaded rule
//! files and WLBLEval's `check_uri_host_listed`.
//!
//! SpamAssassin 4.0.1 takes URIs from two places: its rendered body lines (the Subject, then
//! the text parts with HTML rendered, one paragraph a line), read with a hybrid of
//! Thunderbird's and Outlook Express's linkifier (`_tbirdurire`: `http://`, `www.` and `ftp.`
//! starts, addresses, and schemeless host names whose last label is on the rule files'
//! `util_rb_tld` list), and the HTML parser's links (`href`, `src`, `action`, `background`,
//! `<meta refresh>`, resolved against `<base href>`). Each URI is then expanded into the
//! readings `Util::uri_list_canonicalize` gives it (%-escapes decoded, user names dropped,
//! numeric hosts as dotted quads, one level of redirect); a `uri` rule matches each reading.
//! Written from SpamAssassin's documented behaviour and source, not copied.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::evals::Env;

#[path = "sauri_canon.rs"]
mod canon;
#[path = "sauri_html.rs"]
mod html;
use canon::{host_of, is_domain_valid, is_fqdn_valid, readings, url_decode};
pub(crate) use html::{UriDetail, html_uri};

/// SpamAssassin's `MAX_BODY_LINE_LENGTH`: longer body lines are split (at a space if any).
pub(super) const MAX_LINE: usize = 2048;
/// SpamAssassin's `body_part_scan_size` default: a rendered part is cut about here.
const PART_SCAN: usize = 50_000;
/// URIs read per message, at most (a bound for hostile messages; SpamAssassin has none).
const MAX_URIS: usize = 5_000;

/// The URI list of one message.
#[derive(Debug, Default)]
pub(crate) struct SaUris {
    /// Every reading of every URI, sorted, once each: what `uri` rules match.
    pub cleaned: Vec<String>,
    /// The host names (and IP addresses) of the URIs that are not `mailto:`.
    pub hosts: Vec<String>,
    /// A URI was longer than 8,192 bytes and cut (`uri_truncated`; URIEval's
    /// `check_uri_truncated`).
    pub truncated: bool,
}

/// The message's URI list as SpamAssassin builds it.
pub(crate) fn uri_list(e: &Env<'_>) -> SaUris {
    let tlds = &e.conf.valid_tlds;
    // raw URI → (its readings, whether it is a mailto:)
    let mut list: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut hosts: BTreeSet<String> = BTreeSet::new();
    let mut truncated = e.html().iter().any(|h| h.detail.truncated);
    let mut add = |raw: &str, valid_domain: bool| {
        if list.len() >= MAX_URIS {
            return;
        }
        let (readings, cut) = readings(raw, tlds);
        truncated |= cut;
        let found: Vec<String> = readings.iter().filter_map(|r| host_of(r, tlds)).collect();
        if readings.is_empty() || (valid_domain && found.is_empty()) {
            return;
        }
        if !raw
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("mailto:"))
        {
            hosts.extend(found);
        }
        list.entry(raw.to_owned()).or_default().extend(readings);
    };
    for raw in text_uris(e.sa_body_lines(), tlds) {
        add(&raw, true);
    }
    for h in e.html() {
        for raw in &h.uris {
            add(raw, false);
        }
    }
    let cleaned: BTreeSet<String> = list.into_values().flatten().collect();
    SaUris {
        cleaned: cleaned.into_iter().collect(),
        hosts: hosts.into_iter().collect(),
        truncated,
    }
}

/// `RegistryBoundaries::uri_to_domain`: the host of a URI (or host name), when it is an IP
/// address or a valid host name under a listed top-level domain, with its registered domain
/// (`trim_domain`; an IP address is its own domain).
pub(crate) fn uri_to_domain(uri: &str, conf: &super::plugconf::PluginConf) -> Option<String> {
    let host = host_of(uri, &conf.valid_tlds)?;
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Some(host);
    }
    Some(conf.registered_domain(&host))
}

/// `RegistryBoundaries::is_domain_valid`: no white space, and a last label on the
/// `util_rb_tld` list.
pub(crate) fn domain_valid(dom: &str, conf: &super::plugconf::PluginConf) -> bool {
    is_domain_valid(dom, &conf.valid_tlds)
}

/// SpamAssassin's rendered body lines (`get_rendered_body_text_array`): the Subject, then the
/// text parts (HTML as its renderer renders it) joined by line breaks, where white space
/// holding two line breaks ends a paragraph and other white space is one space; a paragraph
/// is one line, split at 2,048 bytes (at the last space before, if any).
pub(crate) fn body_lines(e: &Env<'_>) -> Vec<String> {
    body_lines_with(e, &|t| Cow::Borrowed(t))
}

/// [`body_lines`] with `edit` applied to the Subject and to each rendered part (FreeMail's
/// edits of the body array, for the evals that render their own lines).
pub(crate) fn body_lines_with(
    e: &Env<'_>,
    edit: &dyn for<'t> Fn(&'t str) -> Cow<'t, str>,
) -> Vec<String> {
    // No leaf in SpamAssassin's MIME tree (a multipart without parts): `Message`'s
    // `get_body_text_array_common` returns its empty array before adding the Subject.
    if e.parts().iter().all(|p| p.container) {
        return Vec::new();
    }
    let subject = super::HeaderTarget::parse("Subject")
        .ok()
        .and_then(|t| super::htext::header_text(e.view, &t));
    let mut all = subject.map_or_else(|| "\n".to_owned(), |s| format!("{}\n", edit(&s)));
    let mut text = String::new();
    let mut html = e.html().iter();
    let mut parts = e.sa_parts().parts.iter();
    // Every leaf adds a line break once there is text, an image as much as a text part (so
    // a text part's last line is not joined to what follows it by a space).
    for leaf in e.parts().iter().filter(|p| !p.container) {
        if !text.is_empty() {
            text.push('\n');
        }
        if !super::saparts::text_leaf(leaf) {
            continue;
        }
        let Some(part) = parts.next() else {
            break;
        };
        let rendered = if part.html {
            html.next().map_or("", |h| h.rendered.as_str())
        } else if part.rendered {
            &part.text
        } else {
            continue;
        };
        text.push_str(&edit(scan_cut(rendered)));
    }
    all.push_str(&squeeze(&text));
    split_lines(&all)
}

/// Lines split at 2,048 bytes (after the last space before, if any).
pub(super) fn split_lines(all: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in all.split_inclusive('\n') {
        let mut line = line;
        while line.len() > MAX_LINE {
            let mut cut = line.as_bytes()[..=MAX_LINE]
                .iter()
                .rposition(|&c| c == b' ')
                .map_or(MAX_LINE, |i| i + 1);
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                break;
            }
            out.push(line[..cut].to_owned());
            line = &line[cut..];
        }
        out.push(line.to_owned());
    }
    out
}

/// A rendered part cut at `body_part_scan_size`: after the first line break within 1,024
/// past it, else the first space, else right there. Counted in characters: the rendered part
/// is a Perl character string (decoded from its charset), so `length` and `index` count
/// characters, and a Russian or Chinese part is cut that many characters in, not bytes
/// (`corpora/sa-variants`' cyrillic set, message 0565: TRACKER_ID on the line at the cut).
fn scan_cut(s: &str) -> &str {
    if s.len() <= PART_SCAN {
        return s;
    }
    let Some((at, _)) = s.char_indices().nth(PART_SCAN) else {
        return s;
    };
    for c in ['\n', ' '] {
        let found = s[at..]
            .char_indices()
            .enumerate()
            .find(|(_, (_, ch))| *ch == c);
        if let Some((k, (i, _))) = found {
            if k <= 1024 {
                return &s[..at + i + 1];
            }
        }
    }
    &s[..at]
}

/// SpamAssassin's white space handling of the rendered text: `s/\n+\s*\n+/\x00/gs` (from the
/// first to the last line break of a run holding two), then `s/\s+/ /gs`, then `tr/\x00/\n/`.
/// So a run with two line breaks becomes one, with a space kept on either side where the run
/// has white space before its first break or after its last (a paragraph that ends in spaces,
/// an indented one); other runs become one space; and a NUL of the text is a line break.
fn squeeze(text: &str) -> String {
    /// A white-space run: line breaks, and white space before the first / after the last.
    #[derive(Default)]
    struct Run {
        breaks: usize,
        before: bool,
        after: bool,
    }
    let mut out = String::with_capacity(text.len());
    let mut run: Option<Run> = None;
    let flush = |out: &mut String, r: Run| {
        if r.breaks >= 2 {
            if r.before {
                out.push(' ');
            }
            out.push('\n');
            if r.after {
                out.push(' ');
            }
        } else {
            out.push(' ');
        }
    };
    for c in text.chars() {
        if c.is_whitespace() {
            let r = run.get_or_insert_with(Run::default);
            if c == '\n' {
                r.breaks += 1;
                r.after = false;
            } else if r.breaks == 0 {
                r.before = true;
            } else {
                r.after = true;
            }
            continue;
        }
        if let Some(r) = run.take() {
            flush(&mut out, r);
        }
        // The text's own NUL characters are line breaks after `tr/\x00/\n/` too, unsqueezed
        // (a ZIP sent as text/richtext: edge set rs/06a1d54f-broken_richtext.eml).
        out.push(if c == '\0' { '\n' } else { c });
    }
    if let Some(r) = run {
        flush(&mut out, r);
    }
    out
}

// The byte classes of `_tbirdurire`, over the UTF-8 bytes SpamAssassin matches.

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Thunderbird's end delimiters (and ESC, and the byte 0xA0).
fn tbird_end(b: u8) -> bool {
    is_space(b) || b"><\"`}]{[|\x1b\xa0".contains(&b)
}

/// End delimiters of an address: also `,`, `(`, `'` and any non-ASCII byte.
fn mail_end(b: u8) -> bool {
    tbird_end(b) || b",('".contains(&b) || b >= 0x80
}

fn tbird_start(b: u8) -> bool {
    is_space(b) || b"><\"'`,{[(|\x1b\xa0".contains(&b)
}

/// What may come before a schemeless host name.
fn schemeless_start(b: u8) -> bool {
    is_space(b) || b"!\"#$&'()*+,/:;<=>?@[\\]^`{|}~\x1b\xa0".contains(&b)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn starts_ci(b: &[u8], p: usize, lit: &str) -> bool {
    b.len() >= p + lit.len() && b[p..p + lit.len()].eq_ignore_ascii_case(lit.as_bytes())
}

/// Length of the run at `p` of bytes `ok` accepts, looking at most `cap + 1` bytes ahead.
fn run(b: &[u8], p: usize, cap: usize, ok: impl Fn(u8) -> bool) -> usize {
    b[p.min(b.len())..]
        .iter()
        .take(cap + 1)
        .take_while(|&&c| ok(c))
        .count()
}

/// A run of 1..=cap bytes that ends the text or is followed by an `end` byte: its end.
fn bounded(
    b: &[u8],
    p: usize,
    cap: usize,
    ok: impl Fn(u8) -> bool,
    end: fn(u8) -> bool,
) -> Option<usize> {
    let n = run(b, p, cap, ok);
    let q = p + n;
    (n >= 1 && n <= cap && (q == b.len() || end(b[q]))).then_some(q)
}

/// How a match was found: with a scheme or `www.`, an address, or a schemeless host (its end).
enum Kind {
    Scheme,
    Mail,
    Schemeless(usize),
}

/// The `_tbirdurire` match starting at `p`, if any: its end and kind.
fn match_at(b: &[u8], p: usize, tlds: &HashSet<String>) -> Option<(usize, Kind)> {
    let prev = p.checked_sub(1).map(|i| b[i]);
    let boundary = prev.is_some_and(is_word) != b.get(p).copied().is_some_and(is_word);
    let iso = p >= 3 && b[p - 3] == 0x1b && b[p - 2] == b'(';
    if !(boundary || iso || prev.is_some_and(tbird_start)) {
        return None;
    }
    // A known scheme, or www./ftp.
    let prefix = if starts_ci(b, p, "https://") {
        Some(8)
    } else if starts_ci(b, p, "http://") || starts_ci(b, p, "ftp://") {
        Some(if starts_ci(b, p, "ftp://") { 6 } else { 7 })
    } else if starts_ci(b, p, "www") {
        let d = run(b, p + 3, 2, |c| c.is_ascii_digit()).min(2);
        (b.get(p + 3 + d) == Some(&b'.')).then_some(4 + d)
    } else if starts_ci(b, p, "ftp.") {
        Some(4)
    } else {
        None
    };
    if let Some(n) = prefix {
        if let Some(q) = bounded(b, p + n, 2048, |c| !tbird_end(c), tbird_end) {
            return Some((q, Kind::Scheme));
        }
    }
    // An address: mailto:..., or local@domain.
    if starts_ci(b, p, "mailto:") {
        if let Some(q) = bounded(b, p + 7, 2048, |c| !mail_end(c), mail_end) {
            return Some((q, Kind::Mail));
        }
    }
    let local = run(b, p, 251, |c| !mail_end(c) && c != b'@');
    if (1..=251).contains(&local) && b.get(p + local) == Some(&b'@') {
        if let Some(q) = bounded(b, p + local + 1, 251, |c| !mail_end(c), mail_end) {
            return Some((q, Kind::Mail));
        }
    }
    // A schemeless host name ending in a listed top-level domain.
    if !b.get(p).is_some_and(u8::is_ascii_alphanumeric)
        || !(p == 0 || prev.is_some_and(schemeless_start))
    {
        return None;
    }
    let host_chars = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
    let end = p + 1 + run(b, p + 1, usize::MAX - 1, host_chars);
    // Longest host first, as the greedy pattern backtracks.
    for d in (p + 1..end)
        .rev()
        .filter(|&d| b[d] == b'.' && d - p - 1 <= 251)
    {
        let t = d + 1 + run(b, d + 1, 63, |c| c.is_ascii_alphanumeric() || c == b'-');
        let tld = std::str::from_utf8(&b[d + 1..t])
            .unwrap_or("")
            .to_ascii_lowercase();
        if t == d + 1 || !tlds.contains(&tld) {
            continue;
        }
        if let Some(q) = schemeless_tail(b, t) {
            return Some((q, Kind::Schemeless(t)));
        }
    }
    None
}

/// After a schemeless host: an optional `.`, `:port` (1-5 digits) and `/path`, then an end
/// delimiter or the end of the text.
fn schemeless_tail(b: &[u8], t: usize) -> Option<usize> {
    let ends = |q: usize| q == b.len() || tbird_end(b[q]);
    let dots: &[usize] = if b.get(t) == Some(&b'.') {
        &[1, 0]
    } else {
        &[0]
    };
    for &dot in dots {
        let q = t + dot;
        let digits = if b.get(q) == Some(&b':') {
            run(b, q + 1, 5, |c| c.is_ascii_digit()).min(5)
        } else {
            0
        };
        let ports: Vec<usize> = (1..=digits).rev().map(|n| q + 1 + n).chain([q]).collect();
        for q2 in ports {
            if b.get(q2) == Some(&b'/') {
                if let Some(e) = bounded(b, q2 + 1, 2048, |c| !tbird_end(c), tbird_end) {
                    return Some(e);
                }
            }
            if ends(q2) {
                return Some(q2);
            }
        }
    }
    None
}

/// The URIs SpamAssassin reads in its rendered body lines (`_process_text_uri_list`), with
/// the scheme it assumes (`http://`, `ftp://`, `mailto:`), before canonicalisation.
pub(crate) fn text_uris(lines: &[String], tlds: &HashSet<String>) -> Vec<String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for line in lines {
        let b = line.as_bytes();
        let mut p = 0;
        while p < b.len() {
            let Some((end, kind)) = match_at(b, p, tlds) else {
                p += 1;
                continue;
            };
            let raw = String::from_utf8_lossy(&b[p..end]).into_owned();
            let schost = match kind {
                Kind::Schemeless(t) => Some(String::from_utf8_lossy(&b[p..t]).into_owned()),
                _ => None,
            };
            p = end;
            if out.len() >= MAX_URIS {
                return out;
            }
            let raw = trim_text_uri(&raw);
            if !seen.insert(raw.to_owned()) {
                continue;
            }
            if matches!(kind, Kind::Mail) && !raw.contains('@') {
                continue;
            }
            if schost.is_some_and(|h| !is_fqdn_valid(&h)) {
                continue;
            }
            if let Some(uri) = text_uri(raw, tlds) {
                out.push(uri);
            }
        }
    }
    out
}

/// `)` ends a URI unless a `(` came first; trailing punctuation is not part of it.
fn trim_text_uri(raw: &str) -> &str {
    let open = raw.find('(').unwrap_or(raw.len());
    let raw = raw[..open].rfind(')').map_or(raw, |i| &raw[..i]);
    raw.trim_end_matches(|c: char| "-~!@#^&*()_+=:;'?,.".contains(c))
}

/// One URI found in text with its scheme added, or `None` when SpamAssassin drops it.
fn text_uri(raw: &str, tlds: &HashSet<String>) -> Option<String> {
    let lower = raw.to_ascii_lowercase();
    if lower.starts_with("cid:") || lower.starts_with("mid:") {
        return None;
    }
    // `\w+:/{0,2}` and nothing else: an empty URI.
    if let Some((scheme, rest)) = lower.split_once(':') {
        if !scheme.is_empty()
            && scheme.bytes().all(is_word)
            && rest.len() <= 2
            && rest.bytes().all(|c| c == b'/')
        {
            return None;
        }
    }
    let mut uri = raw.to_owned();
    let schemed = ["http:", "https:", "ftp:", "mailto:"]
        .iter()
        .any(|s| lower.starts_with(s));
    if !schemed {
        let www = lower.starts_with("www")
            && lower[3..]
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .starts_with('.')
            && lower[3..].bytes().take_while(u8::is_ascii_digit).count() <= 2;
        let slash_before_at = lower.find('/').is_some_and(|s| {
            lower[s + 1..]
                .char_indices()
                .any(|(i, c)| c == '@' && i > 0)
        });
        if lower.starts_with("ftp.") {
            uri = format!("ftp://{raw}");
        } else if www || slash_before_at {
            uri = format!("http://{raw}");
        } else if let Some(at) = raw.find('@') {
            // A dot somewhere after the @ and the first character after it.
            if !raw[at + 1..].chars().skip(1).any(|c| c == '.') || raw.contains("&nbsp;") {
                return None;
            }
            uri = format!("mailto:{}", strip_mail_prefix(raw));
        } else {
            if !raw.contains('.') {
                return None;
            }
            uri = format!("http://{raw}");
        }
    }
    if uri
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("mailto:"))
    {
        if has_escape(&uri) {
            uri = url_decode(&uri);
        }
        let at = uri.find('@')?;
        let host = uri[at + 1..].split(['?', '&', '>']).next().unwrap_or("");
        let mut host = host;
        while let Some(h) = host.strip_suffix("%20") {
            host = h;
        }
        if !is_domain_valid(host, tlds) {
            return None;
        }
    }
    Some(uri)
}

/// `(skype|e?-?mail)?:+` at the start of an address, removed.
fn strip_mail_prefix(s: &str) -> &str {
    let lower = s.to_ascii_lowercase();
    for p in ["skype", "e-mail", "email", "-mail", "mail", ""] {
        if let Some(rest) = lower.strip_prefix(p) {
            let colons = rest.bytes().take_while(|&c| c == b':').count();
            if colons > 0 {
                return &s[p.len() + colons..];
            }
        }
    }
    s
}

/// Whether the text has a `%` followed by two hex digits.
pub(super) fn has_escape(s: &str) -> bool {
    s.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

#[cfg(test)]
#[path = "sauri_tests.rs"]
mod tests;
