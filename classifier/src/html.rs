//! HTML reduced to the text a reader sees, plus structural signals for rules and tokens.
//!
//! A small forgiving scanner, not a full HTML5 parser: spam HTML is rarely well formed, and all
//! that matters here is which text is visible, which links and images there are, and a few
//! counts. It never fails; unknown or broken markup is skipped.

use crate::url::Url;

/// Structural facts about an HTML part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HtmlSignals {
    /// Tags seen (opening and closing).
    pub tags: u32,
    /// `<img>` tags.
    pub images: u32,
    /// `<a href>` links.
    pub links: u32,
    /// `<font>` tags.
    pub fonts: u32,
    /// `<form>`, `<input>` tags.
    pub forms: u32,
    /// `<script>`, `<iframe>`, `<object>`, `<embed>` tags.
    pub scripts: u32,
    /// HTML comments.
    pub comments: u32,
    /// Characters of visible text.
    pub visible_chars: u32,
    /// Characters of text hidden by style (display:none, visibility:hidden, tiny font, white
    /// text) — the classic way to stuff Bayes-poisoning words into a message.
    pub invisible_chars: u32,
    /// Tags whose name is not a known HTML element (obfuscation like `<xyzzy>` inside words).
    pub unknown_tags: u32,
}

impl HtmlSignals {
    /// Adds another part's counts to these.
    pub fn add(&mut self, o: &HtmlSignals) {
        self.tags += o.tags;
        self.images += o.images;
        self.links += o.links;
        self.fonts += o.fonts;
        self.forms += o.forms;
        self.scripts += o.scripts;
        self.comments += o.comments;
        self.visible_chars += o.visible_chars;
        self.invisible_chars += o.invisible_chars;
        self.unknown_tags += o.unknown_tags;
    }
}

/// The result of reducing one HTML document.
#[derive(Debug, Clone, Default)]
pub struct Reduced {
    /// Visible text, block elements turned into line breaks.
    pub text: String,
    /// Links (`a href`, with their visible text) and image sources.
    pub urls: Vec<Url>,
    /// Structural counts.
    pub signals: HtmlSignals,
}

const KNOWN_TAGS: &[&str] = &[
    "a",
    "abbr",
    "address",
    "area",
    "article",
    "aside",
    "b",
    "base",
    "basefont",
    "bdo",
    "big",
    "blink",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "dfn",
    "dir",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "fieldset",
    "font",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "i",
    "iframe",
    "img",
    "input",
    "ins",
    "kbd",
    "label",
    "legend",
    "li",
    "link",
    "main",
    "map",
    "marquee",
    "menu",
    "meta",
    "nav",
    "nobr",
    "noscript",
    "object",
    "ol",
    "optgroup",
    "option",
    "p",
    "param",
    "pre",
    "q",
    "s",
    "samp",
    "script",
    "section",
    "select",
    "small",
    "span",
    "strike",
    "strong",
    "style",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "wbr",
    "o:p",
    "xml",
    "v:shape",
    "st1:place",
    "st1:city",
    "st1:country-region",
    "svg",
    "path",
    "picture",
    "source",
    "video",
    "audio",
    "figure",
    "figcaption",
    "time",
    "mark",
    "summary",
    "details",
];

const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "br",
    "tr",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "blockquote",
    "hr",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "pre",
    "center",
    "title",
    "td",
    "th",
];

/// Reduces an HTML document to visible text, links and signals.
pub fn reduce(html: &str, max_urls: usize) -> Reduced {
    let mut out = Reduced::default();
    let bytes = html.as_bytes();
    let mut i = 0;
    // Elements whose content is skipped entirely (script, style, head's title is kept).
    let mut skip_until: Option<&'static str> = None;
    // Stack of "hidden" flags for open elements with a hiding style; counted, not matched
    // precisely (closing tags pop when the name matches the top).
    let mut hidden_stack: Vec<(String, bool)> = Vec::new();
    let mut open_link: Option<(Url, usize)> = None;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            // Comment
            if bytes[i..].starts_with(b"<!--") {
                out.signals.comments += 1;
                i = match find(bytes, i + 4, b"-->") {
                    Some(e) => e + 3,
                    None => bytes.len(),
                };
                continue;
            }
            let Some(end) = tag_end(bytes, i + 1) else {
                // A lone '<': text.
                push_text(&mut out, "<", is_hidden(&hidden_stack));
                i += 1;
                continue;
            };
            let inner = &html[i + 1..end];
            i = end + 1;
            let (closing, name, attrs) = split_tag(inner);
            if name.is_empty() || name.starts_with('!') || name.starts_with('?') {
                continue;
            }
            out.signals.tags += 1;
            let lname = name.to_ascii_lowercase();
            if let Some(until) = skip_until {
                if closing && lname == until {
                    skip_until = None;
                }
                continue;
            }
            if !KNOWN_TAGS.contains(&lname.as_str()) {
                out.signals.unknown_tags += 1;
            }
            if BLOCK_TAGS.contains(&lname.as_str()) {
                out.text.push('\n');
            } else if lname == "td" || lname == "th" {
                out.text.push(' ');
            }
            if closing {
                if let Some(pos) = hidden_stack.iter().rposition(|(n, _)| *n == lname) {
                    hidden_stack.truncate(pos);
                }
                if lname == "a" {
                    if let Some((mut u, start)) = open_link.take() {
                        let text = out.text.get(start..).unwrap_or("").trim().to_owned();
                        if !text.is_empty() {
                            u.link_text = Some(text);
                        }
                        if out.urls.len() < max_urls {
                            out.urls.push(u);
                        }
                    }
                }
                continue;
            }
            match lname.as_str() {
                "script" | "style" | "object" | "iframe" | "embed" | "noscript" => {
                    if lname != "style" && lname != "noscript" {
                        out.signals.scripts += 1;
                    }
                    if !self_closing(inner) {
                        skip_until = Some(match lname.as_str() {
                            "script" => "script",
                            "style" => "style",
                            "object" => "object",
                            "iframe" => "iframe",
                            "noscript" => "noscript",
                            _ => "embed",
                        });
                    }
                    continue;
                }
                "img" => {
                    out.signals.images += 1;
                    if let Some(src) = attr(attrs, "src") {
                        if let Some(mut u) = Url::parse(&src) {
                            u.from_html = true;
                            if out.urls.len() < max_urls {
                                out.urls.push(u);
                            }
                        }
                    }
                    if let Some(alt) = attr(attrs, "alt") {
                        push_text(&mut out, &alt, true);
                    }
                }
                "a" => {
                    if let Some(href) = attr(attrs, "href") {
                        out.signals.links += 1;
                        if let Some(mut u) = Url::parse(&href) {
                            u.from_html = true;
                            // An unclosed previous link is flushed without text.
                            if let Some((prev, _)) = open_link.take() {
                                if out.urls.len() < max_urls {
                                    out.urls.push(prev);
                                }
                            }
                            open_link = Some((u, out.text.len()));
                        }
                    }
                }
                "font" => out.signals.fonts += 1,
                "form" | "input" => out.signals.forms += 1,
                _ => {}
            }
            if !self_closing(inner)
                && !matches!(
                    lname.as_str(),
                    "br" | "hr"
                        | "img"
                        | "input"
                        | "meta"
                        | "link"
                        | "wbr"
                        | "col"
                        | "area"
                        | "base"
                        | "param"
                )
            {
                let hides = hides(attrs);
                hidden_stack.push((lname, hides));
                if hidden_stack.len() > 256 {
                    hidden_stack.remove(0);
                }
            }
        } else {
            let next = memchr(b'<', &bytes[i..]).map_or(bytes.len(), |o| i + o);
            if skip_until.is_none() {
                let decoded = decode_entities(&html[i..next]);
                push_text(&mut out, &decoded, is_hidden(&hidden_stack));
            }
            i = next;
        }
    }
    if let Some((u, start)) = open_link.take() {
        let mut u = u;
        let text = out.text.get(start..).unwrap_or("").trim().to_owned();
        if !text.is_empty() {
            u.link_text = Some(text);
        }
        if out.urls.len() < max_urls {
            out.urls.push(u);
        }
    }
    out
}

fn is_hidden(stack: &[(String, bool)]) -> bool {
    stack.iter().any(|(_, h)| *h)
}

fn push_text(out: &mut Reduced, text: &str, hidden: bool) {
    let n = text.chars().filter(|c| !c.is_whitespace()).count() as u32;
    if hidden {
        out.signals.invisible_chars += n;
        return;
    }
    out.signals.visible_chars += n;
    // Collapse runs of whitespace as a browser would.
    let mut last_space = out.text.ends_with([' ', '\n']);
    for c in text.chars() {
        if c.is_whitespace() {
            if !last_space {
                out.text.push(' ');
                last_space = true;
            }
        } else {
            out.text.push(c);
            last_space = false;
        }
    }
}

/// Does this element's style or attributes hide its content?
fn hides(attrs: &str) -> bool {
    let lower = attrs.to_ascii_lowercase();
    let style: String = attr(&lower, "style")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if style.contains("display:none") || style.contains("visibility:hidden") {
        return true;
    }
    for tiny in [
        "font-size:0",
        "font-size:1px",
        "font-size:2px",
        "font-size:1pt",
        "font-size:0.",
    ] {
        if style.contains(tiny) {
            return true;
        }
    }
    let color = attr(&lower, "color").or_else(|| {
        style
            .split(';')
            .find_map(|d| d.strip_prefix("color:").map(str::to_owned))
    });
    if let Some(c) = color {
        if matches!(
            c.trim(),
            "#fff" | "#ffffff" | "white" | "#fffffe" | "#fefefe"
        ) {
            return true;
        }
    }
    if let Some(size) = attr(&lower, "size") {
        if size.trim() == "0" || size.trim() == "-10" {
            return true;
        }
    }
    false
}

fn self_closing(inner: &str) -> bool {
    inner.trim_end().ends_with('/')
}

/// Splits the inside of a tag into (closing?, name, rest).
fn split_tag(inner: &str) -> (bool, &str, &str) {
    let inner = inner.trim_start();
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, inner),
    };
    let name_end = inner
        .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .unwrap_or(inner.len());
    (closing, &inner[..name_end], &inner[name_end..])
}

/// Finds the '>' that ends a tag starting at `from`, honouring quoted attribute values.
/// Returns `None` when the next thing is not a tag (e.g. "a < b").
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let first = *bytes.get(from)?;
    if !(first.is_ascii_alphabetic() || first == b'/' || first == b'!' || first == b'?') {
        return None;
    }
    let mut quote: Option<u8> = None;
    let limit = bytes.len().min(from + 8192);
    let mut i = from;
    while i < limit {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i),
            None => {}
        }
        i += 1;
    }
    // Unterminated quote: fall back to the first '>'.
    memchr(b'>', &bytes[from..limit]).map(|o| from + o)
}

/// Extracts an attribute value (case-insensitive name), entity-decoded.
fn attr(attrs: &str, name: &str) -> Option<String> {
    let lower = attrs.to_ascii_lowercase();
    let mut search = 0;
    while let Some(pos) = lower[search..].find(name) {
        let start = search + pos;
        let before_ok = start == 0
            || !lower.as_bytes()[start - 1].is_ascii_alphanumeric()
                && lower.as_bytes()[start - 1] != b'-';
        let rest = lower[start + name.len()..].trim_start();
        if before_ok && rest.starts_with('=') {
            let vstart = attrs.len() - rest.len() + 1;
            let v = attrs[vstart..].trim_start();
            let value = if let Some(q) = v.strip_prefix('"') {
                q.split('"').next().unwrap_or("")
            } else if let Some(q) = v.strip_prefix('\'') {
                q.split('\'').next().unwrap_or("")
            } else {
                v.split(|c: char| c.is_whitespace() || c == '>')
                    .next()
                    .unwrap_or("")
            };
            return Some(decode_entities(value));
        }
        search = start + name.len();
    }
    None
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Decodes the common named entities and all numeric ones, each ending in `;`.
pub fn decode_entities(s: &str) -> String {
    replace_references(s, |after| {
        let e = after.bytes().take(11).position(|b| b == b';')?;
        let ent = &after[..e];
        let c = if let Some(num) = ent.strip_prefix('#') {
            let v = if let Some(hex) = num.strip_prefix(['x', 'X']) {
                u32::from_str_radix(hex, 16).ok()
            } else {
                num.parse::<u32>().ok()
            };
            v.and_then(char::from_u32)
        } else {
            match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                "copy" => Some('©'),
                "reg" => Some('®'),
                "trade" => Some('™'),
                "euro" => Some('€'),
                "pound" => Some('£'),
                "cent" => Some('¢'),
                "yen" => Some('¥'),
                "mdash" => Some('—'),
                "ndash" => Some('–'),
                "hellip" => Some('…'),
                "laquo" => Some('«'),
                "raquo" => Some('»'),
                "rsquo" | "lsquo" => Some('\''),
                "rdquo" | "ldquo" => Some('"'),
                "bull" => Some('•'),
                "middot" => Some('·'),
                _ => None,
            }
        };
        c.map(|c| (c, e + 1))
    })
}

/// `s` with each `&` that `reference` reads as a character reference replaced: `reference`
/// gets the text after the `&` and gives the character and how many bytes of that text the
/// reference takes; any other `&` stays as written.
pub(crate) fn replace_references(
    s: &str,
    reference: impl Fn(&str) -> Option<(char, usize)>,
) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp + 1..];
        match reference(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => out.push('&'),
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_and_links() {
        let r = reduce(
            "<html><head><style>p{color:red}</style><title>T</title></head><body>\
             <p>Hello &amp; welcome</p><a href='http://evil.example.com/x'>http://bank.example.com</a>\
             <div style=\"display: none\">hidden words</div><img src=\"http://img.example.net/a.gif\">\
             <!-- c --><xyzzy>Bu<b></b>y</body></html>",
            100,
        );
        assert!(r.text.contains("Hello & welcome"), "{}", r.text);
        assert!(!r.text.contains("hidden"));
        assert!(!r.text.contains("color:red"));
        assert_eq!(r.signals.invisible_chars, "hiddenwords".len() as u32);
        assert_eq!(r.signals.images, 1);
        assert_eq!(r.signals.links, 1);
        assert_eq!(r.signals.comments, 1);
        assert_eq!(r.signals.unknown_tags, 1);
        let link = r
            .urls
            .iter()
            .find(|u| u.host == "evil.example.com")
            .expect("link");
        assert_eq!(link.link_text.as_deref(), Some("http://bank.example.com"));
        assert!(r.urls.iter().any(|u| u.host == "img.example.net"));
    }

    #[test]
    fn broken_markup_is_text() {
        let r = reduce("a < b and <unterminated", 10);
        assert!(r.text.contains("a < b"));
        assert_eq!(decode_entities("&#65;&#x42;&bogus;&"), "AB&bogus;&");
    }
}
