//! An HTML part measured as SpamAssassin's renderer (`Mail::SpamAssassin::HTML` over
//! HTML::Parser) measures it, for HTMLEval's `html_test`, `html_range`, `html_eval`,
//! `html_tag_balance`, `html_text_match` and `html_image_ratio`: which tags were opened and
//! closed, how many of them are HTML 4 elements, words split by tags, the largest font size,
//! image area, comments, titles and link texts, and the font tests (text in a colour close to
//! its background, invalid colours, odd font faces).
//!
//! The tokenizer follows HTML::Parser's reading of real mail HTML: start and end tags with
//! attributes (names lower-cased, values entity-decoded), comments (`<!-- ... -->` and the
//! bogus `<!x>` kind), declarations, processing instructions, and the literal content of
//! `script`, `style`, `xmp`, `textarea` and `title`. Bounded and panic-free on any input.

use std::collections::HashMap;

use super::sahtml_color::{INVALID, css_background_layers, name_to_rgb};
use super::sahtml_entities::decode as decode_entities;

#[path = "sahtml_tokens.rs"]
mod tokens;
use tokens::{Token, preprocess, tokenize};

/// Tags counted per part, at most (the counts saturate beyond).
const MAX_EVENTS: usize = 200_000;

/// HTML 4.01 / XHTML 1.0 elements and a few non-standard ones SpamAssassin accepts.
const ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "area",
    "b",
    "base",
    "bdo",
    "big",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "fieldset",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "html",
    "i",
    "img",
    "input",
    "ins",
    "kbd",
    "label",
    "legend",
    "li",
    "link",
    "map",
    "meta",
    "noscript",
    "object",
    "ol",
    "optgroup",
    "option",
    "p",
    "param",
    "pre",
    "q",
    "samp",
    "script",
    "select",
    "small",
    "span",
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
    "ul",
    "var",
    "applet",
    "basefont",
    "center",
    "dir",
    "font",
    "frame",
    "frameset",
    "iframe",
    "isindex",
    "menu",
    "noframes",
    "s",
    "strike",
    "u",
    "nobr",
    "x-sigsep",
    "x-tab",
];
/// Rendered but not counted as valid elements.
const TRICKS: &[&str] = &["bgsound", "embed", "listing", "plaintext", "xmp"];
/// Elements that change the text style (`marquee` is listed by SpamAssassin but is neither an
/// element nor a trick, so it never gets here).
const TEXT_STYLE: &[&str] = &[
    "body", "font", "table", "tr", "th", "td", "big", "small", "basefont", "span", "p", "div", "a",
];
/// The attributes SpamAssassin reads for the text style, per element.
fn ok_attribute(tag: &str, name: &str) -> bool {
    match tag {
        "basefont" | "font" => matches!(name, "color" | "face" | "size"),
        "body" => matches!(
            name,
            "text" | "bgcolor" | "link" | "alink" | "vlink" | "background"
        ),
        "table" | "td" | "th" | "tr" => matches!(name, "bgcolor" | "style"),
        "span" | "p" | "div" | "a" => name == "style",
        _ => false,
    }
}

/// What SpamAssassin's HTML renderer reports for one HTML part.
#[derive(Debug, Clone, Default)]
pub(crate) struct HtmlStats {
    /// False for an HTML part with no text: SpamAssassin does not parse it (`Node::rendered`
    /// renders HTML only when the decoded text is not empty) and its entry in `html_all` is
    /// undefined, so no HTML eval reads a number or flag of it (`__HTML_LENGTH_384` on an
    /// empty text/html part).
    pub parsed: bool,
    /// Per tag name, opens minus closes (never below 0); a name is present once seen at all.
    pub inside: HashMap<String, i64>,
    /// Characters of the part's text (markup included).
    pub length: usize,
    /// Tags (start and end), element tags, and the same counted once per name while not
    /// inside it.
    pub tags: u64,
    pub elements: u64,
    pub tags_seen: u64,
    pub elements_seen: u64,
    /// End tags without an open one.
    pub closed_extra: u64,
    /// Text that starts a word the previous text ended: a word split by a tag.
    pub obfuscation: u64,
    /// The largest font size used.
    pub max_size: i64,
    /// Image area (width x height, 200 for an unknown side) of `<img>` with both sizes.
    pub image_area: u64,
    /// Comments as written (`<!--` and `-->` included).
    pub comments: Vec<String>,
    /// Titles' text.
    pub titles: Vec<String>,
    /// Link texts (`<img>` inside a link adds `<img>\n`).
    pub anchors: Vec<String>,
    /// Characters of the rendered text that are not white space.
    pub non_space_len: usize,
    pub font_low_contrast: bool,
    pub font_invalid_color: bool,
    pub font_face_bad: bool,
    pub form_action_mailto: bool,
    pub embeds: bool,
    /// The rendered text, visible and invisible (`get_rendered_text()`): what body rules read.
    pub rendered: String,
    /// Links as the parser collects them (`html_uri`), resolved against `<base href>`.
    pub uris: Vec<String>,
    /// The `mailto:` links of `<a>` tags, once each (FreeMail reads them).
    pub a_mailtos: Vec<String>,
    /// The `<base href>` seen so far.
    pub base_href: Option<String>,
    /// Link texts by link, `<iframe src>`, cut links (`uri_detail`, `uri_truncated`).
    pub detail: super::sauri::UriDetail,
}

impl HtmlStats {
    /// The named number as HTMLEval reads `$html->{NAME}`; `None` when SpamAssassin leaves it
    /// undefined (a ratio over no tags, or a name it does not set).
    pub(crate) fn number(&self, name: &str) -> Option<f64> {
        if !self.parsed {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let f = |x: u64| x as f64;
        #[allow(clippy::cast_precision_loss)]
        match name {
            "length" => Some(self.length as f64),
            "max_size" => Some(self.max_size as f64),
            "image_area" => Some(f(self.image_area)),
            "non_space_len" => Some(self.non_space_len as f64),
            "closed_extra_ratio" => (self.tags > 0).then(|| f(self.closed_extra) / f(self.tags)),
            "bad_tag_ratio" => (self.elements > 0 && self.tags > 0)
                .then(|| f(self.tags - self.elements.min(self.tags)) / f(self.tags)),
            "non_element_ratio" => (self.elements_seen > 0 && self.tags_seen > 0).then(|| {
                f(self.tags_seen - self.elements_seen.min(self.tags_seen)) / f(self.tags_seen)
            }),
            "obfuscation_ratio" => {
                (self.tags > 0 && self.obfuscation > 0).then(|| f(self.obfuscation) / f(self.tags))
            }
            _ => None,
        }
    }

    /// The named flag as `html_test` reads it.
    pub(crate) fn flag(&self, name: &str) -> Option<bool> {
        let set = match name {
            "html" => true,
            "font_low_contrast" => self.font_low_contrast,
            "font_invalid_color" => self.font_invalid_color,
            "font_face_bad" => self.font_face_bad,
            "form_action_mailto" => self.form_action_mailto,
            "embeds" => self.embeds,
            _ => return None,
        };
        // Nothing is set for a part SpamAssassin does not parse.
        Some(set && self.parsed)
    }

    /// The named list as `html_text_match` reads it.
    pub(crate) fn list(&self, name: &str) -> Option<&[String]> {
        match name {
            "comment" => Some(&self.comments),
            "title" => Some(&self.titles),
            "anchor" => Some(&self.anchors),
            _ => None,
        }
    }
}

/// The text style in effect (one entry of SpamAssassin's style stack).
#[derive(Debug, Clone)]
struct Style {
    tag: String,
    fg: String,
    bg: String,
    size: i64,
    display: Option<String>,
    visibility: Option<String>,
}

/// The renderer's state.
struct Render {
    s: HtmlStats,
    styles: Vec<Style>,
    basefont: i64,
    /// Rendered pieces with (whitespace, invisible) marks.
    text: Vec<(String, bool, bool)>,
    title_index: Option<usize>,
    events: usize,
}

/// Measures one HTML part's decoded text; an empty one is not parsed (see
/// [`HtmlStats::parsed`]).
pub(crate) fn analyse(raw: &str) -> HtmlStats {
    if raw.is_empty() {
        return HtmlStats::default();
    }
    let mut r = Render {
        s: HtmlStats {
            parsed: true,
            length: raw.chars().count(),
            max_size: 3,
            ..HtmlStats::default()
        },
        styles: vec![Style {
            tag: "default".into(),
            fg: "#000000".into(),
            bg: "#ffffff".into(),
            size: 3,
            display: None,
            visibility: None,
        }],
        basefont: 3,
        text: Vec::new(),
        title_index: None,
        events: 0,
    };
    let text = preprocess(raw);
    tokenize(&text, &mut |t| r.token(t));
    // Unclosed style and script elements are closed at the end, as SpamAssassin does.
    for tag in ["style", "script"] {
        while r.s.inside.get(tag).is_some_and(|&n| n > 0) {
            r.tag(tag, &[], false);
        }
    }
    let rendered: String = r.text.iter().map(|(t, _, _)| t.as_str()).collect();
    r.s.non_space_len = rendered.chars().filter(|c| !c.is_whitespace()).count();
    r.s.rendered = rendered;
    r.s
}

impl Render {
    fn token(&mut self, t: Token<'_>) {
        self.events += 1;
        if self.events > MAX_EVENTS {
            return;
        }
        match t {
            Token::Start(name, attrs) => self.tag(&name, &attrs, true),
            Token::End(name) => self.tag(&name, &[], false),
            Token::Text(t) => self.html_text(&decode_entities(t, true)),
            Token::Comment(c) => self.s.comments.push(c.to_owned()),
            Token::Declaration(d) => {
                // By bytes: a declaration's ninth byte may be inside a character.
                if d.len() >= 9 && d.as_bytes()[..9].eq_ignore_ascii_case(b"<!doctype") {
                    self.s.elements += 1;
                    self.s.tags += 1;
                    self.s.inside.insert("!doctype".into(), 0);
                }
            }
        }
    }

    fn tag(&mut self, tag: &str, attrs: &[(String, String)], open: bool) {
        let namespace = is_namespace(tag);
        let element = ELEMENTS.contains(&tag);
        let seen = self.s.inside.contains_key(tag);
        if element || namespace {
            self.s.elements += 1;
            self.s.elements_seen += u64::from(!seen);
        }
        self.s.tags += 1;
        self.s.tags_seen += u64::from(!seen);
        let n = self.s.inside.entry(tag.to_owned()).or_insert(0);
        *n += if open { 1 } else { -1 };
        if *n < 0 {
            *n = 0;
            self.s.closed_extra += 1;
        }
        if namespace || !(element || TRICKS.contains(&tag)) {
            return;
        }
        if TEXT_STYLE.contains(&tag) {
            self.text_style(tag, attrs, open);
        }
        self.whitespace(tag);
        if open {
            super::sauri::html_uri(
                &mut self.s.uris,
                &mut self.s.a_mailtos,
                &mut self.s.base_href,
                &mut self.s.detail,
                tag,
                attrs,
            );
            self.tests(tag, attrs);
        }
    }

    fn whitespace(&mut self, tag: &str) {
        let ws = match tag {
            "br" | "div" => "\n",
            "li" | "th" | "td" | "dt" | "dd" | "embed" | "h1" | "h2" | "h3" | "h4" | "h5"
            | "h6" => " ",
            "p" | "hr" | "blockquote" | "pre" | "listing" | "plaintext" | "xmp" | "title" => "\n\n",
            _ => return,
        };
        self.display(ws, true, false);
    }

    fn text_style(&mut self, tag: &str, attrs: &[(String, String)], open: bool) {
        let tag = if tag == "th" { "td" } else { tag };
        if !open {
            if tag != "body" && self.styles.iter().any(|s| s.tag == tag) {
                while let Some(top) = self.styles.pop() {
                    if top.tag == tag {
                        break;
                    }
                }
            }
            return;
        }
        if tag == "basefont" {
            if let Some(n) = attr(attrs, "size").and_then(|v| leading_int(v, false)) {
                self.basefont = n;
                return;
            }
        }
        if (tag == "td" || tag == "tr") && self.styles.iter().any(|s| s.tag == tag) {
            while let Some(top) = self.styles.last() {
                let pop = match tag {
                    "td" => top.tag == "font" || top.tag == "td",
                    _ => matches!(top.tag.as_str(), "font" | "td" | "tr"),
                };
                if !pop || self.styles.len() == 1 {
                    break;
                }
                self.styles.pop();
            }
        }
        let Some(parent) = self.styles.last().cloned() else {
            return;
        };
        let mut new = Style {
            tag: tag.to_owned(),
            ..parent.clone()
        };
        if tag == "big" || tag == "small" {
            new.size += if tag == "big" { 1 } else { -1 };
            self.styles.push(new);
            return;
        }
        let mut any = false;
        for (name, value) in attrs {
            if !ok_attribute(tag, name) {
                continue;
            }
            any = true;
            match name.as_str() {
                "text" | "color" => new.fg = name_to_rgb(value),
                "size" => {
                    if let Some(rel) = leading_int(value, true) {
                        new.size = self.basefont + rel;
                    } else if let Some(abs) = leading_int(value, false) {
                        new.size = abs;
                    }
                }
                "style" => style_attr(&mut new, &parent, value),
                _ => {}
            }
        }
        if any {
            self.s.max_size = self.s.max_size.max(new.size);
        }
        self.styles.push(new);
    }

    fn tests(&mut self, tag: &str, attrs: &[(String, String)]) {
        if tag == "font" {
            if let Some(face) = attr(attrs, "face") {
                self.s.font_face_bad |= !good_face(face);
            }
        }
        if tag == "img" && self.s.inside.get("a").is_some_and(|&n| n > 0) {
            if let Some(last) = self.s.anchors.last_mut() {
                last.push_str("<img>\n");
            }
            self.s.detail.anchor_text("<img>\n");
        }
        if tag == "img" {
            if let (Some(w), Some(h)) = (attr(attrs, "width"), attr(attrs, "height")) {
                let side = |v: &str, pct: u64| {
                    let (digits, percent) = v.strip_suffix('%').map_or((v, false), |d| (d, true));
                    let n = if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
                        digits.parse::<u64>().unwrap_or(u64::MAX / 1_000_000)
                    } else {
                        0
                    };
                    let n = if percent { n.saturating_mul(pct) } else { n };
                    if n == 0 { 200 } else { n }
                };
                let area = side(w, 8).saturating_mul(side(h, 6));
                self.s.image_area = self.s.image_area.saturating_add(area);
            }
        }
        if tag == "form" {
            if let Some(a) = attr(attrs, "action") {
                self.s.form_action_mailto |= a.to_ascii_lowercase().contains("mailto:");
            }
        }
        if tag == "object" || tag == "embed" {
            self.s.embeds = true;
        }
        if tag == "a" {
            self.s.anchors.push(String::new());
        }
        if tag == "title" {
            self.s.titles.push(String::new());
            self.title_index = Some(self.s.titles.len() - 1);
        }
    }

    fn html_text(&mut self, text: &str) {
        let inside = |r: &Self, t: &str| r.s.inside.get(t).is_some_and(|&n| n > 0);
        if inside(self, "script") || inside(self, "style") {
            return;
        }
        if inside(self, "a") {
            if let Some(last) = self.s.anchors.last_mut() {
                last.push_str(text);
            }
            self.s.detail.anchor_text(text);
        }
        if inside(self, "title") {
            if let Some(t) = self.title_index.and_then(|k| self.s.titles.get_mut(k)) {
                t.push_str(text);
            }
        }
        let visible_chars = text
            .chars()
            .any(|c| !matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c' | '\x0b'));
        let invisible = visible_chars && self.font_invisible();
        if let Some((prev, _, _)) = self.text.last() {
            let word = |c: char| !c.is_whitespace() && !c.is_ascii_punctuation();
            if text.chars().next().is_some_and(word) && prev.chars().last().is_some_and(word) {
                self.s.obfuscation += 1;
            }
        }
        self.display(text, false, invisible);
    }

    /// SpamAssassin's `html_font_invisible`: records the font tests and says whether the text
    /// is hidden.
    fn font_invisible(&mut self) -> bool {
        let Some(top) = self.styles.last() else {
            return false;
        };
        let tail = |s: &str| s.chars().rev().take(6).collect::<String>();
        if tail(&top.fg) == tail(&top.bg) {
            self.s.font_low_contrast = true;
            return true;
        }
        if let (Some(f), Some(b)) = (rgb(&top.fg), rgb(&top.bg)) {
            let d = |i: usize| f64::from(f[i]) - f64::from(b[i]);
            let dist =
                ((0.2126 * d(0)).powi(2) + (0.7152 * d(1)).powi(2) + (0.0722 * d(2)).powi(2))
                    .sqrt();
            if dist < 12.0 {
                self.s.font_low_contrast = true;
                return true;
            }
        }
        if top.fg == INVALID || top.bg == INVALID {
            self.s.font_invalid_color = true;
            return true;
        }
        top.size <= 1
            || top
                .display
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case("none"))
            || top
                .visibility
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("hidden"))
    }

    fn display(&mut self, text: &str, whitespace: bool, invisible: bool) {
        let mut text = text.to_owned();
        if whitespace {
            if let Some((prev, ws, inv)) = self.text.last_mut() {
                if !*ws && !*inv && prev.ends_with(' ') {
                    prev.pop();
                }
            }
        } else {
            let mut out = String::with_capacity(text.len());
            let mut blank = false;
            for c in text.chars() {
                if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c' | '\x0b') {
                    if !blank {
                        out.push(' ');
                    }
                    blank = true;
                } else {
                    out.push(c);
                    blank = false;
                }
            }
            text = out;
            if !invisible && self.text.last().is_some_and(|(_, ws, _)| *ws) && text.starts_with(' ')
            {
                text.remove(0);
            }
        }
        self.text.push((text, whitespace, invisible));
    }
}

/// `o:p`, `st1:place` and similar Office namespace tags.
fn is_namespace(tag: &str) -> bool {
    let rest = if let Some(r) = tag.strip_prefix("o:") {
        r
    } else if let Some(r) = tag.strip_prefix("st") {
        let mut c = r.chars();
        if !c.next().is_some_and(|d| d.is_ascii_digit()) || !r[1..].starts_with(':') {
            return false;
        }
        &r[2..]
    } else {
        return false;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The integer at the start of `v` after blanks: signed (`+2`, `-1`) when `signed`, else
/// unsigned digits.
fn leading_int(v: &str, signed: bool) -> Option<i64> {
    let v = v.trim_start();
    let (sign, digits) = if signed {
        match v.as_bytes().first() {
            Some(b'+') => (1, &v[1..]),
            Some(b'-') => (-1, &v[1..]),
            _ => return None,
        }
    } else {
        (1, v)
    };
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    (n > 0).then(|| sign * digits[..n.min(15)].parse::<i64>().unwrap_or(0))
}

/// `#rrggbb` (the `#` optional) as three bytes.
fn rgb(c: &str) -> Option<[u8; 3]> {
    let h = c.strip_prefix('#').unwrap_or(c);
    if h.len() != 6
        || !h
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let p = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some([p(0)?, p(2)?, p(4)?])
}

/// A `style` attribute applied to the new text style (SpamAssassin's reading: colours,
/// `background`, and the other properties by name).
fn style_attr(new: &mut Style, parent: &Style, value: &str) {
    for part in value.split(';') {
        let t = part.trim_start();
        let lower = t.to_ascii_lowercase();
        let (is_bg, rest) = if let Some(r) = lower.strip_prefix("background-color:") {
            (true, Some(r))
        } else {
            (false, lower.strip_prefix("color:"))
        };
        if let Some(r) = rest {
            // `(.+?)\s*$` (not `/s`): a value holding a line break is not read, and neither
            // property applies (TRAIN_02649 of CSDMC2010: a `style="...; background-color:`
            // left open until the next quote).
            let v = r.trim();
            if v.is_empty() || v.contains('\n') {
                continue;
            }
            let mut v = v.to_owned();
            if let Some(k) = v.rfind('!') {
                if v[k + 1..].trim_start() == "important" {
                    v.truncate(k);
                    v.truncate(v.trim_end().len());
                }
            }
            let c = if v.contains("rgb") {
                let digits: String = v
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == ',')
                    .collect();
                let mut n = digits.split(',').map(|x| {
                    x.parse::<u64>()
                        .map_or(0, |n| if n > 255 { 255 } else { n })
                });
                let (r, g, b) = (
                    n.next().unwrap_or(0),
                    n.next().unwrap_or(0),
                    n.next().unwrap_or(0),
                );
                Some(format!("#{r:02x}{g:02x}{b:02x}"))
            } else if v == "inherit" {
                None
            } else if v == "transparent" {
                Some(v)
            } else {
                Some(name_to_rgb(&v))
            };
            if let Some(c) = c {
                if is_bg {
                    new.bg = c;
                } else {
                    new.fg = c;
                }
            }
        } else if let Some(r) = t.strip_prefix("background:") {
            if r.trim().is_empty() || r.trim().contains('\n') {
                continue;
            }
            let layers = css_background_layers(&r.trim().to_lowercase());
            if let Some(last) = layers.last() {
                if let Some(c) = last.iter().map(|v| name_to_rgb(v)).find(|c| c != INVALID) {
                    new.bg = c;
                }
            }
        } else if let Some((name, val)) = t.split_once(':') {
            let name = name.trim_end();
            let val = val.trim();
            if !name.is_empty()
                && !val.is_empty()
                && !val.contains('\n')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-')
            {
                match name {
                    "display" => new.display = Some(val.to_owned()),
                    "visibility" => new.visibility = Some(val.to_owned()),
                    _ => {}
                }
            }
        }
    }
    if new.bg == "transparent" {
        new.bg.clone_from(&parent.bg);
    }
    if new.fg == "transparent" {
        new.fg.clone_from(&new.bg);
    }
}

/// SpamAssassin's accepted `<font face>` lists: names of letters, spaces and dashes (a digit
/// may end one), optionally quoted, comma-separated, an optional final `;`.
fn good_face(face: &str) -> bool {
    let b = face.trim_start().as_bytes();
    let mut i = 0;
    let mut first = true;
    loop {
        if !first {
            if b.get(i) != Some(&b',') {
                break;
            }
            i += 1;
            while b.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'"' | b'\'')) || (first && b.get(i) == Some(&b'.')) {
            i += 1;
        }
        // A name: a letter (or a space, for the first), then letters, spaces and dashes, a
        // letter, and an optional digit. Backtracking over the trailing run is needed for
        // the last letter; take the longest run of [a-z -] and require it to end in a letter.
        let start = i;
        let first_ok = |c: u8| c.is_ascii_alphabetic() || (first && c == b' ');
        if !b.get(i).copied().is_some_and(first_ok) {
            return false;
        }
        i += 1;
        let run_end = i + b[i..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic() || **c == b' ' || **c == b'-')
            .count();
        // The name must end with a letter; back off to the last letter of the run.
        let Some(last_letter) = (start + 1..run_end)
            .rev()
            .find(|&k| b[k].is_ascii_alphabetic())
        else {
            return false;
        };
        i = last_letter + 1;
        if b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if matches!(b.get(i), Some(b'"' | b'\'')) {
            i += 1;
        }
        first = false;
        if i < b.len() && b[i] != b',' {
            // Characters between the last letter and the end of the run (spaces, dashes)
            // make the list not match unless only `;` follows.
            break;
        }
    }
    let rest = &b[i..];
    rest.is_empty() || rest == b";"
}

#[cfg(test)]
#[path = "sahtml_tests.rs"]
mod tests;
