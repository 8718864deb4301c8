//! The texts rules match, built per message on first need.

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
}

/// The texts rules match, built on first need.
pub(super) struct Texts<'a> {
    view: &'a MessageView,
    body: std::cell::OnceCell<String>,
    rawbody: std::cell::OnceCell<String>,
    uris: std::cell::OnceCell<String>,
}

impl<'a> Texts<'a> {
    pub(super) fn new(view: &'a MessageView) -> Self {
        Texts {
            view,
            body: std::cell::OnceCell::new(),
            rawbody: std::cell::OnceCell::new(),
            uris: std::cell::OnceCell::new(),
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
            Part::Full => &self.view.raw,
            Part::Uri => self.uris.get_or_init(|| {
                let mut s = String::new();
                for u in &self.view.urls {
                    s.push_str(&u.url);
                    s.push('\n');
                }
                s
            }),
        }
    }
}

/// SpamAssassin's `body` form: the Subject, then each paragraph of visible text on one line.
fn body_paragraphs(view: &MessageView) -> String {
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

pub(super) fn uri_count(p: &Pattern, view: &MessageView, max: u32) -> u32 {
    let mut n = 0;
    for u in &view.urls {
        let hit = if u.url.contains("://") || u.scheme == "mailto" {
            p.is_match(&u.url)
        } else {
            p.is_match(&u.url) || p.is_match(&format!("{}://{}", u.scheme, u.url))
        };
        if hit {
            n += 1;
            if n >= max {
                break;
            }
        }
    }
    n
}
