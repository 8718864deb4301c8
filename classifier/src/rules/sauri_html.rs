//! The HTML parser's links (`HTML::html_uri`, `push_uri`, `canon_uri`, `target_uri`): which
//! attributes of which start tags are links, and how they resolve against `<base href>`.

use std::collections::BTreeMap;

use super::canon::MAX_URI_LENGTH;

/// Links collected per part, at most.
const MAX_LINKS: usize = 10_000;

/// What the HTML parser's `uri_detail` holds beyond the links, for URIEval, HTTPSMismatch and
/// HTMLEval's `check_iframe_src`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UriDetail {
    /// Per `<a>` link as written (`canon_uri` of its `href`, `""` without one), the text of
    /// each `<a>` with that link (`<img>` inside adds `<img>\n`).
    pub anchors: BTreeMap<String, Vec<String>>,
    /// The link of the last `<a>` (`anchor_last`), whose text grows while inside an `<a>`.
    last: Option<String>,
    /// An `<iframe src>` gave a link (`types->{iframe}`).
    pub iframe_src: bool,
    /// A link was longer than 8,192 bytes and cut (`uri_truncated`).
    pub truncated: bool,
}

impl UriDetail {
    /// Adds to the text of the last `<a>`.
    pub(crate) fn anchor_text(&mut self, text: &str) {
        let Some(last) = &self.last else { return };
        if let Some(t) = self.anchors.get_mut(last).and_then(|v| v.last_mut()) {
            t.push_str(text);
        }
    }

    /// A new `<a>` with the link `key`.
    fn open_anchor(&mut self, key: String) {
        if self.anchors.len() >= MAX_LINKS && !self.anchors.contains_key(&key) {
            self.last = None;
            return;
        }
        self.anchors
            .entry(key.clone())
            .or_default()
            .push(String::new());
        self.last = Some(key);
    }
}

/// An HTML part's links, collected as `HTML::html_uri` collects them on a start tag; the
/// `mailto:` links of `<a>` tags (SpamAssassin's `types->{a}`, which FreeMail reads) also go to
/// `a_mailtos`; `detail` records `<a>` links, `<iframe src>` and cut links.
pub(crate) fn html_uri(
    uris: &mut Vec<String>,
    a_mailtos: &mut Vec<String>,
    base: &mut Option<String>,
    detail: &mut UriDetail,
    tag: &str,
    attrs: &[(String, String)],
) {
    let get = |name: &str| {
        attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // `xx/href` and `xx/src` attribute names of broken HTML count as the attribute.
    let slashed = |name: &str| {
        let needle = format!("/{name}");
        attrs
            .iter()
            .find(|(k, _)| {
                k.match_indices(&needle)
                    .any(|(s, _)| s > 0 && super::is_word(k.as_bytes()[s - 1]))
            })
            .map(|(_, v)| v.as_str())
    };
    let truncated = &mut detail.truncated;
    let mut push = |u: &str| push_uri(uris, base.as_deref(), u, truncated);
    match tag {
        "body" | "table" | "tr" | "td" => {
            if let Some(v) = get("background") {
                push(v);
            }
        }
        "a" | "area" | "link" => {
            let mut found = Vec::new();
            let href = slashed("href")
                .or_else(|| get("href"))
                .map(|v| v.replace('\u{feff}', ""));
            if let Some(v) = &href {
                found.extend(push(v));
            }
            if let Some(v) = get("data-saferedirecturl") {
                found.extend(push(v));
            }
            if tag == "a" {
                // HTML::html_tests keys the anchor text by the link as written.
                let key = href.map_or_else(String::new, |v| canon_uri(&v, &mut detail.truncated));
                // The anchor text's entry in `HTML::{uri}` is keyed by the link as written, so
                // `_process_html_uri_list` lists that form too, beside its `<base href>`
                // resolution (spam-1/00412's `/mhg/?aid=...`: `__UPPERCASE_URI`).
                if !key.is_empty() && uris.len() < MAX_LINKS && !uris.contains(&key) {
                    uris.push(key.clone());
                }
                detail.open_anchor(key);
                for t in found {
                    let mailto = t
                        .get(..7)
                        .is_some_and(|p| p.eq_ignore_ascii_case("mailto:"));
                    if mailto && a_mailtos.len() < MAX_LINKS && !a_mailtos.contains(&t) {
                        a_mailtos.push(t);
                    }
                }
            }
        }
        "img" | "frame" | "iframe" | "embed" | "script" | "bgsound" => {
            if let Some(v) = slashed("src").or_else(|| get("src")) {
                let pushed = push(v).is_some();
                detail.iframe_src |= pushed && tag == "iframe";
            }
        }
        "form" => {
            if let Some(v) = get("action") {
                push(v);
            }
        }
        "base" => {
            let Some(v) = get("href").filter(|v| !v.is_empty() && *v != "0") else {
                return;
            };
            let mut cut = false;
            let uri = canon_uri(v, &mut cut);
            push(&uri);
            detail.truncated |= cut;
            let lower = uri.to_ascii_lowercase();
            if lower.starts_with("http:")
                || lower.starts_with("https:")
                || lower.starts_with("ftp:")
            {
                *base = Some(base_dir(&uri));
            }
        }
        "meta" => {
            let (Some(equiv), Some(content)) = (get("http-equiv"), get("content")) else {
                return;
            };
            let lc = content.to_ascii_lowercase();
            if !equiv.to_ascii_lowercase().contains("refresh") {
                return;
            }
            let Some(at) = url_assignment(&lc) else {
                return;
            };
            let mut uri = content[at..].trim_start();
            if let Some(semi) = uri.find(';') {
                uri = uri[..semi].trim_end();
            }
            push(uri);
        }
        _ => {}
    }
}

/// After the last `url\s*=` (a word boundary before `url`): where the value starts.
fn url_assignment(lc: &str) -> Option<usize> {
    let b = lc.as_bytes();
    let mut found = None;
    for (i, _) in lc.match_indices("url") {
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
            continue;
        }
        let mut j = i + 3;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if b.get(j) == Some(&b'=') {
            found = Some(j + 1);
        }
    }
    found
}

/// A base URI without its trailing file name (`name.ext`, ext of 2-4 characters), ending in `/`.
fn base_dir(uri: &str) -> String {
    let mut u = uri.to_owned();
    let after_scheme = u.find(':').map_or(0, |c| c + 1);
    let slashes = u[after_scheme..]
        .bytes()
        .take(2)
        .take_while(|&c| c == b'/')
        .count();
    let host_start = after_scheme + slashes;
    if let Some(h) = u[host_start..].find('/').filter(|&h| h > 0) {
        let dir_end = host_start + h + 1;
        let tail = &u[dir_end..];
        if let Some(dot) = tail.rfind('.') {
            let ext = &tail[dot + 1..];
            let stem = tail[..dot].rfind(['/', '.']).map_or(0, |i| i + 1);
            if (2..=4).contains(&ext.len()) && !ext.contains('/') && stem < dot {
                u.truncate(dir_end + stem);
            }
        }
    }
    if !u.ends_with('/') {
        u.push('/');
    }
    u
}

/// `canon_uri`: white space (and no-break spaces) trimmed, 8,192 bytes at most (`truncated`
/// set when cut).
fn canon_uri(u: &str, truncated: &mut bool) -> String {
    let t = u.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{a0}' || c == '\x0b');
    *truncated |= t.len() > MAX_URI_LENGTH;
    let mut end = t.len().min(MAX_URI_LENGTH);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    t[..end].to_owned()
}

/// Adds a link to `uris` (once); returns its target.
fn push_uri(
    uris: &mut Vec<String>,
    base: Option<&str>,
    u: &str,
    truncated: &mut bool,
) -> Option<String> {
    let u = canon_uri(u, truncated);
    if u.is_empty() || uris.len() >= MAX_LINKS {
        return None;
    }
    let lower = u.to_ascii_lowercase();
    let target = if ["data:", "mailto:", "file:", "cid:", "tel:"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        u
    } else {
        target_uri(base.unwrap_or(""), &u)
    };
    if target.is_empty() {
        return None;
    }
    if !uris.contains(&target) {
        uris.push(target.clone());
    }
    Some(target)
}

#[derive(Default)]
struct Parts<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

/// `^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?`
fn parse_uri(u: &str) -> Parts<'_> {
    let mut p = Parts::default();
    let mut rest = u;
    if let Some(c) = rest
        .find([':', '/', '?', '#'])
        .filter(|&c| c > 0 && rest.as_bytes()[c] == b':')
    {
        p.scheme = Some(&rest[..c]);
        rest = &rest[c + 1..];
    }
    if let Some(r) = rest.strip_prefix("//") {
        let e = r.find(['/', '?', '#']).unwrap_or(r.len());
        p.authority = Some(&r[..e]);
        rest = &r[e..];
    }
    let e = rest.find(['?', '#']).unwrap_or(rest.len());
    p.path = &rest[..e];
    rest = &rest[e..];
    if let Some(r) = rest.strip_prefix('?') {
        let e = r.find('#').unwrap_or(r.len());
        p.query = Some(&r[..e]);
        rest = &r[e..];
    }
    if let Some(r) = rest.strip_prefix('#') {
        p.fragment = Some(r.split('\n').next().unwrap_or(""));
    }
    p
}

fn remove_dot_segments(input: &str) -> String {
    let mut input = if input.starts_with("./") || input.starts_with("../") {
        format!("/{}", &input[input.find('/').map_or(0, |i| i + 1)..])
    } else {
        input.to_owned()
    };
    let mut out = String::new();
    while !input.is_empty() && input != "0" {
        if input == "/." || input.starts_with("/./") {
            input.replace_range(..2, "");
            if input.is_empty() {
                input.push('/');
            }
        } else if input == "/.." || input.starts_with("/../") {
            input.replace_range(..3, "");
            if input.is_empty() {
                input.push('/');
            }
            let cut = out.rfind('/').unwrap_or(0);
            out.truncate(cut);
        } else {
            let skip = usize::from(input.starts_with('/'));
            let end = input[skip..].find('/').map_or(input.len(), |i| i + skip);
            out.push_str(&input[..end]);
            input.replace_range(..end, "");
        }
    }
    out
}

fn merge_uri(base_authority: Option<&str>, base_path: &str, r_path: &str) -> String {
    if base_authority.is_some() && base_path.is_empty() {
        return format!("/{r_path}");
    }
    let dir = base_path.rfind('/').map_or("", |i| &base_path[..=i]);
    format!("{dir}{r_path}")
}

/// `target_uri`: `r` resolved against `base` (a scheme equal to the base's counts as none).
fn target_uri(base: &str, r: &str) -> String {
    let mut rp = parse_uri(r);
    let bp = parse_uri(base);
    if rp.scheme.is_some() && rp.scheme == bp.scheme {
        rp.scheme = None;
    }
    let (scheme, authority, path, query);
    if rp.scheme.is_some() {
        (scheme, authority, path, query) = (
            rp.scheme,
            rp.authority,
            remove_dot_segments(rp.path),
            rp.query,
        );
    } else {
        if rp.authority.is_some() {
            (authority, path, query) = (rp.authority, remove_dot_segments(rp.path), rp.query);
        } else {
            if rp.path.is_empty() {
                path = bp.path.to_owned();
                query = rp.query.or(bp.query);
            } else {
                path = if rp.path.starts_with('/') {
                    remove_dot_segments(rp.path)
                } else {
                    remove_dot_segments(&merge_uri(bp.authority, bp.path, rp.path))
                };
                query = rp.query;
            }
            authority = bp.authority;
        }
        scheme = bp.scheme;
    }
    let mut out = String::new();
    match scheme.filter(|s| !s.is_empty() && *s != "0") {
        Some(s) => {
            out.push_str(s);
            out.push(':');
        }
        None => {
            if let Some(a) = authority {
                let l = a.to_ascii_lowercase();
                let digits_dot = |p: &str| {
                    l.strip_prefix(p).is_some_and(|r| {
                        r.trim_start_matches(|c: char| c.is_ascii_digit())
                            .starts_with('.')
                    })
                };
                if digits_dot("www") {
                    out.push_str("http:");
                } else if digits_dot("ftp") {
                    out.push_str("ftp:");
                }
            }
        }
    }
    if let Some(a) = authority {
        out.push_str("//");
        out.push_str(a);
    }
    out.push_str(&path);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = rp.fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}
