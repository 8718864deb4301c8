//! The texts rules match, built per message on first need.

use super::evals::Env;
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
    /// SpamAssassin's rendered body lines (its HTML renderer's text, visible and invisible),
    /// for the `body` rules of loaded rule files.
    SaBody,
    /// The same without the Subject line.
    SaBodyNoSubject,
}

/// The texts rules match, built on first need.
pub(super) struct Texts<'a> {
    view: &'a MessageView,
    env: &'a Env<'a>,
    body: std::cell::OnceCell<String>,
    rawbody: std::cell::OnceCell<String>,
    uris: std::cell::OnceCell<String>,
    /// SpamAssassin's body lines joined, and each line's range in it (its own `\n` included,
    /// the one added to join a line that has none left out).
    sabody: std::cell::OnceCell<(String, Vec<std::ops::Range<usize>>)>,
    body_hay: std::cell::OnceCell<String>,
}

impl<'a> Texts<'a> {
    pub(super) fn new(env: &'a Env<'a>) -> Self {
        Texts {
            view: env.view,
            env,
            body: std::cell::OnceCell::new(),
            rawbody: std::cell::OnceCell::new(),
            uris: std::cell::OnceCell::new(),
            sabody: std::cell::OnceCell::new(),
            body_hay: std::cell::OnceCell::new(),
        }
    }

    /// The text a prefilter scans for the rules that read `p`: for the body, the built-in
    /// form and, when a loaded rule file has `body` rules, SpamAssassin's too.
    pub(super) fn haystack(&self, p: Part) -> &str {
        match p {
            Part::Body if self.env.conf.rule_file_body => self.body_hay.get_or_init(|| {
                let mut s = self.get(Part::Body).to_owned();
                s.push('\n');
                s.push_str(self.get(Part::SaBody));
                s
            }),
            _ => self.get(p),
        }
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
            Part::SaBody => &self.sabody_lines().0,
            Part::SaBodyNoSubject => {
                let body = self.get(Part::SaBody);
                body.split_once('\n').map_or("", |(_, rest)| rest)
            }
            Part::Full => &self.view.raw,
            // Every URI any `uri` rule may read: the built-in rules' links, and SpamAssassin's
            // list when a loaded rule file has `uri` rules.
            Part::Uri => self.uris.get_or_init(|| {
                let mut s = String::new();
                for u in &self.view.urls {
                    s.push_str(&u.url);
                    s.push('\n');
                }
                if self.env.conf.rule_file_uris {
                    for u in &self.env.sa_uris().cleaned {
                        s.push_str(u);
                        s.push('\n');
                    }
                }
                s
            }),
        }
    }
}

impl Texts<'_> {
    fn sabody_lines(&self) -> &(String, Vec<std::ops::Range<usize>>) {
        self.sabody.get_or_init(|| {
            let mut s = String::new();
            let mut ranges = Vec::new();
            for line in super::sauri::body_lines(self.env) {
                let start = s.len();
                s.push_str(&line);
                ranges.push(start..s.len());
                if !line.ends_with('\n') {
                    s.push('\n');
                }
            }
            (s, ranges)
        })
    }

    /// For SpamAssassin's body (`p` is [`Part::SaBody`] or [`Part::SaBodyNoSubject`]): the
    /// joined text and the ranges of the lines SpamAssassin matches one by one.
    pub(super) fn sa_lines(&self, p: Part) -> Option<(&str, &[std::ops::Range<usize>])> {
        let (text, ranges) = self.sabody_lines();
        match p {
            Part::SaBody => Some((text, ranges)),
            Part::SaBodyNoSubject => Some((text, ranges.get(1..).unwrap_or_default())),
            _ => None,
        }
    }
}

/// SpamAssassin's `body` form: the Subject, then each paragraph of visible text on one line,
/// a line longer than 2,048 bytes split after its last space before that (or at it), as
/// SpamAssassin's `split_into_array_of_short_lines` splits it.
pub(super) fn body_paragraphs(view: &MessageView) -> String {
    let text = paragraphs(view);
    if !text
        .split('\n')
        .any(|l| l.len() + 1 > super::sauri::MAX_LINE)
    {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for piece in super::sauri::split_lines(&text) {
        out.push_str(&piece);
        if !piece.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The Subject, then each paragraph of visible text on one line (no line split).
pub(super) fn paragraphs(view: &MessageView) -> String {
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

/// How many URIs the pattern matches, up to `max`: for the built-in rules (`sa_list`
/// false) the message's links, as the built-in rules were scored; for the rules of loaded
/// files every reading of SpamAssassin's URI list.
pub(super) fn uri_count(p: &Pattern, texts: &Texts<'_>, max: u32, sa_list: bool) -> u32 {
    let mut n = 0;
    if sa_list {
        for u in &texts.env.sa_uris().cleaned {
            if p.is_match(u) {
                n += 1;
                if n >= max {
                    break;
                }
            }
        }
        return n;
    }
    for u in &texts.view.urls {
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
    n
}
