//! The texts rules match, built per message on first need.

use super::evals::Env;
use super::pattern::Pattern;
use crate::message::MessageView;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// SpamAssassin's rendered body lines before FreeMail's edits (`evals_freemail::edit_body`),
    /// for the rules it runs before its header evals ([`super::Rule::unedited_body`]).
    SaBodyUnedited,
    /// The same without the Subject line.
    SaBodyUneditedNoSubject,
    /// The raw body for the `rawbody` rules of loaded rule files: the same text as
    /// [`Part::RawBody`], matched in SpamAssassin's pieces ([`Texts::sa_lines`]).
    SaRawBody,
    /// The whole message for the `full` rules of loaded rule files: the view's raw text with
    /// each byte that was not UTF-8 one DEL ([`MessageView::raw_bytewise`]), so that a line
    /// keeps its length in bytes, as Perl measures SpamAssassin's byte string (`__LONGLINE`'s
    /// `/^[^\r\n]{998}/m`).
    SaFull,
}

/// The texts rules match, built on first need.
pub(super) struct Texts<'a> {
    view: &'a MessageView,
    env: &'a Env<'a>,
    body: std::sync::OnceLock<String>,
    rawbody: std::sync::OnceLock<String>,
    /// The raw body of SpamAssassin's text parts where they are not the view's
    /// ([`super::saparts`]).
    sa_rawbody: std::sync::OnceLock<String>,
    uris: std::sync::OnceLock<String>,
    /// SpamAssassin's body lines joined, and each line's range in it (its own `\n` included,
    /// the one added to join a line that has none left out).
    sabody: std::sync::OnceLock<(String, Vec<std::ops::Range<usize>>)>,
    /// The same before FreeMail's edits, where it makes them.
    sabody_unedited: std::sync::OnceLock<(String, Vec<std::ops::Range<usize>>)>,
    /// The ranges of SpamAssassin's rawbody pieces in the raw body.
    rawbody_pieces: std::sync::OnceLock<Vec<std::ops::Range<usize>>>,
    body_hay: std::sync::OnceLock<String>,
    rawbody_hay: std::sync::OnceLock<String>,
    /// SpamAssassin's body lines as Perl's bytes, where they are Latin-1 ([`Texts::latin1`]).
    latin1: std::sync::OnceLock<Option<Latin1>>,
    latin1_unedited: std::sync::OnceLock<Option<Latin1>>,
}

/// SpamAssassin's body lines as Perl's bytes ([`Texts::latin1`]), read two ways: in
/// [`super::bytemode`]'s view (one character per byte, for the backtracking engine) and as
/// the bytes themselves (for the linear engines, which read bytes as Perl does).
struct Latin1 {
    view: String,
    view_ranges: Vec<std::ops::Range<usize>>,
    bytes: Vec<u8>,
    byte_ranges: Vec<std::ops::Range<usize>>,
}

impl<'a> Texts<'a> {
    pub(super) fn new(env: &'a Env<'a>) -> Self {
        Texts {
            view: env.view,
            env,
            body: std::sync::OnceLock::new(),
            rawbody: std::sync::OnceLock::new(),
            sa_rawbody: std::sync::OnceLock::new(),
            uris: std::sync::OnceLock::new(),
            sabody: std::sync::OnceLock::new(),
            sabody_unedited: std::sync::OnceLock::new(),
            rawbody_pieces: std::sync::OnceLock::new(),
            body_hay: std::sync::OnceLock::new(),
            rawbody_hay: std::sync::OnceLock::new(),
            latin1: std::sync::OnceLock::new(),
            latin1_unedited: std::sync::OnceLock::new(),
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
                if self.edited() {
                    s.push('\n');
                    s.push_str(self.get(Part::SaBodyUnedited));
                }
                s
            }),
            // SpamAssassin's raw body too where its text parts are not the view's.
            Part::RawBody
                if self.env.conf.rule_file_rawbody && !self.env.sa_parts().rawbody_from_view =>
            {
                self.rawbody_hay.get_or_init(|| {
                    let mut s = self.get(Part::RawBody).to_owned();
                    s.push('\n');
                    s.push_str(self.get(Part::SaRawBody));
                    s
                })
            }
            _ => self.get(p),
        }
    }

    /// SpamAssassin's URI list, as its uri rules read it.
    pub(super) fn sa_uris(&self) -> &[String] {
        &self.env.sa_uris().cleaned
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
            Part::SaRawBody if self.env.sa_parts().rawbody_from_view => self.get(Part::RawBody),
            // As `MessageView::raw_body` joins the view's parts.
            Part::SaRawBody => self.sa_rawbody.get_or_init(|| {
                let mut s = String::new();
                for part in self.env.sa_parts().rawbody_parts() {
                    s.push_str(&part.rawbody);
                    s.push('\n');
                }
                s
            }),
            Part::SaBody => &self.sabody_lines().0,
            Part::SaBodyNoSubject => {
                let body = self.get(Part::SaBody);
                body.split_once('\n').map_or("", |(_, rest)| rest)
            }
            Part::SaBodyUnedited => &self.sabody_lines_unedited().0,
            Part::SaBodyUneditedNoSubject => {
                let body = self.get(Part::SaBodyUnedited);
                body.split_once('\n').map_or("", |(_, rest)| rest)
            }
            Part::Full => &self.view.raw,
            // One byte per byte SpamAssassin reads (see `raw_bytewise`).
            // Without an mbox `From ` line: SpamAssassin's pristine message has none.
            Part::SaFull => {
                let full = self.view.raw_bytewise.as_deref().unwrap_or(&self.view.raw);
                let sep = crate::headers::mbox_separator_len(full.as_bytes());
                full.get(sep..).unwrap_or(full)
            }
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
        self.sabody
            .get_or_init(|| joined_lines(self.env.sa_body_lines_edited(), |l| l.into()))
    }

    /// Whether FreeMail edits the body lines ([`Part::SaBodyUnedited`] differs).
    fn edited(&self) -> bool {
        super::evals_freemail::parses_body(self.env)
    }

    fn sabody_lines_unedited(&self) -> &(String, Vec<std::ops::Range<usize>>) {
        if !self.edited() {
            return self.sabody_lines();
        }
        self.sabody_unedited
            .get_or_init(|| joined_lines(self.env.sa_body_lines(), |l| l.into()))
    }

    /// Where SpamAssassin's body rules read the body as Latin-1 bytes
    /// ([`super::evals::Env::latin1_body`]), for `p` one of SpamAssassin's body parts
    /// ([`Part::SaBody`], [`Part::SaBodyUnedited`] and their forms without the Subject): the
    /// lines as [`super::bytemode`]'s patterns read those bytes
    /// (the Subject line's UTF-8 bytes, then each body line's Latin-1 characters, one view
    /// character per byte), joined as [`Texts::sa_lines`] joins them, and their ranges.
    pub(super) fn latin1(&self, p: Part) -> Option<(&str, &[std::ops::Range<usize>])> {
        let (l, skip) = self.latin1_lines(p)?;
        Some((&l.view, l.view_ranges.get(skip..).unwrap_or_default()))
    }

    /// [`Texts::latin1`]'s lines as the bytes themselves (the Subject line's UTF-8 bytes, then
    /// each body line's Latin-1 characters, one byte each), joined the same way.
    pub(super) fn latin1_bytes(&self, p: Part) -> Option<(&[u8], &[std::ops::Range<usize>])> {
        let (l, skip) = self.latin1_lines(p)?;
        Some((&l.bytes, l.byte_ranges.get(skip..).unwrap_or_default()))
    }

    /// The Latin-1 lines of `p` and how many of them (the Subject line) it leaves out.
    fn latin1_lines(&self, p: Part) -> Option<(&Latin1, usize)> {
        let (cell, lines) = match p {
            Part::SaBody | Part::SaBodyNoSubject => (&self.latin1, self.env.sa_body_lines_edited()),
            Part::SaBodyUnedited | Part::SaBodyUneditedNoSubject if self.edited() => {
                (&self.latin1_unedited, self.env.sa_body_lines())
            }
            Part::SaBodyUnedited | Part::SaBodyUneditedNoSubject => {
                (&self.latin1, self.env.sa_body_lines_edited())
            }
            _ => return None,
        };
        let l = cell
            .get_or_init(|| self.env.latin1_body().then(|| latin1_lines(lines)))
            .as_ref()?;
        let skip = usize::from(matches!(
            p,
            Part::SaBodyNoSubject | Part::SaBodyUneditedNoSubject
        ));
        Some((l, skip))
    }

    /// For SpamAssassin's body (`p` is [`Part::SaBody`], [`Part::SaBodyUnedited`] or their
    /// forms without the Subject) and raw body ([`Part::SaRawBody`]): the joined text and the
    /// ranges of the lines (pieces) SpamAssassin matches one by one.
    pub(super) fn sa_lines(&self, p: Part) -> Option<(&str, &[std::ops::Range<usize>])> {
        if let Part::SaRawBody = p {
            let text = self.get(Part::SaRawBody);
            let pieces = self.rawbody_pieces.get_or_init(|| {
                let mut out = Vec::new();
                let mut at = 0;
                // As they are joined: each part's text and a line break, which is in no piece
                // (a piece is a string of its own to SpamAssassin: `$` ends it).
                for part in self.env.sa_parts().rawbody_parts() {
                    let len = part.rawbody.len();
                    let seg = text.get(at..at + len).unwrap_or("");
                    let pieces = part_pieces(seg, part.byte_chars);
                    out.extend(pieces.into_iter().map(|r| r.start + at..r.end + at));
                    at += len + 1;
                }
                out
            });
            return Some((text, pieces));
        }
        // Rendered only for SpamAssassin's body parts: the built-in rules' never need it.
        let (text, ranges) = match p {
            Part::SaBody | Part::SaBodyNoSubject => self.sabody_lines(),
            Part::SaBodyUnedited | Part::SaBodyUneditedNoSubject => self.sabody_lines_unedited(),
            _ => return None,
        };
        let skip = usize::from(matches!(
            p,
            Part::SaBodyNoSubject | Part::SaBodyUneditedNoSubject
        ));
        Some((text, ranges.get(skip..).unwrap_or_default()))
    }
}

/// Lines joined into one text, each as `read` gives it, with each one's range in it (its own
/// `\n` included, the one added to join a line that has none left out).
/// [`Latin1`] of SpamAssassin's body lines: the Subject line's UTF-8 bytes, then each body
/// line's characters (none above U+00FF, [`super::evals::Env::latin1_body`]) one byte each.
fn latin1_lines(lines: &[String]) -> Latin1 {
    let mut k = 0;
    let (view, view_ranges) = joined_lines(lines, |line| {
        k += 1;
        if k == 1 {
            super::bytemode::view(line)
        } else {
            super::bytemode::latin1_view(line)
        }
    });
    let mut bytes = Vec::with_capacity(view.len());
    let mut byte_ranges = Vec::with_capacity(lines.len());
    for (k, line) in lines.iter().enumerate() {
        let start = bytes.len();
        if k == 0 {
            bytes.extend_from_slice(line.as_bytes());
        } else {
            for c in line.chars() {
                match u8::try_from(c) {
                    Ok(b) => bytes.push(b),
                    Err(_) => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
        }
        byte_ranges.push(start..bytes.len());
        if !line.ends_with('\n') {
            bytes.push(b'\n');
        }
    }
    Latin1 {
        view,
        view_ranges,
        bytes,
        byte_ranges,
    }
}

fn joined_lines<'l>(
    lines: &'l [String],
    mut read: impl FnMut(&'l str) -> std::borrow::Cow<'l, str>,
) -> (String, Vec<std::ops::Range<usize>>) {
    let mut s = String::new();
    let mut ranges = Vec::new();
    for line in lines {
        let start = s.len();
        s.push_str(&read(line));
        ranges.push(start..s.len());
        if !line.ends_with('\n') {
            s.push('\n');
        }
    }
    (s, ranges)
}

/// SpamAssassin's `split_into_array_of_short_paragraphs`, the pieces its `rawbody` rules
/// match one by one: a text over 2,048 bytes is cut after the first line break (else `>`,
/// else space) at least 2,048 bytes into the piece, so that pieces are 2-4 KB, or at 2,049
/// bytes when none is near (moved on to a character boundary here).
pub(super) fn short_paragraphs(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut end = |mut e: usize| {
        while !text.is_char_boundary(e) {
            e += 1;
        }
        e
    };
    cuts(text.as_bytes(), &mut end).into_iter()
}

/// [`short_paragraphs`] of a part's raw body, measured as SpamAssassin measures the part's
/// bytes: where each character stands for one byte (a single-byte charset, see
/// [`super::saparts::SaPart::byte_chars`]) in characters, else in UTF-8 bytes. A Latin-1 part of
/// 6 KB with accented letters was cut elsewhere than SpamAssassin cuts it (hard-ham-1/00235:
/// `__FR_SPACING_8` across a run of blank lines).
pub(super) fn part_pieces(text: &str, byte_chars: bool) -> Vec<std::ops::Range<usize>> {
    if !byte_chars || text.is_ascii() {
        return short_paragraphs(text).collect();
    }
    // The same cuts over one character per unit, mapped back to byte offsets.
    let at: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let units: Vec<u8> = text
        .chars()
        .map(|c| u8::try_from(c).unwrap_or(0x80))
        .collect();
    let byte = |u: usize| at.get(u).copied().unwrap_or(text.len());
    cuts(&units, &mut |u| u)
        .into_iter()
        .map(|r| byte(r.start)..byte(r.end))
        .collect()
}

/// `split_into_array_of_short_paragraphs`' cuts of `b`, as ranges of it; `end` moves a cut
/// onto a unit's boundary.
fn cuts(b: &[u8], end: &mut dyn FnMut(usize) -> usize) -> Vec<std::ops::Range<usize>> {
    const MAX: usize = super::sauri::MAX_LINE;
    let find = |c: u8, from: usize| {
        b.get(from..)?
            .iter()
            .position(|&x| x == c)
            .map(|i| i + from)
    };
    let mut out = Vec::new();
    let mut ofs = 0;
    while ofs < b.len() {
        let start = ofs;
        if b.len() - start <= 2 * MAX {
            out.push(start..b.len());
            break;
        }
        let fits = |j: &usize| j - start < 2 * MAX;
        let j = find(b'\n', start + MAX)
            .filter(fits)
            .or_else(|| find(b'>', start + MAX).filter(fits))
            .or_else(|| find(b' ', start + MAX).filter(fits))
            .unwrap_or(start + MAX);
        ofs = end(j + 1);
        out.push(start..ofs);
    }
    out
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

/// How many of the URIs a `uri` rule reads hold for `f` in one of their readings, up to
/// `max`: for the built-in rules (`sa_list` false) the message's links (a link without a
/// scheme read also with its scheme), as the built-in rules were scored; for the rules of
/// loaded files every reading of SpamAssassin's URI list.
pub(super) fn uris_where(
    texts: &Texts<'_>,
    sa_list: bool,
    max: u32,
    f: impl Fn(&str) -> bool,
) -> u32 {
    if sa_list {
        return count_up_to(texts.env.sa_uris().cleaned.iter().map(|u| f(u)), max);
    }
    count_up_to(
        texts.view.urls.iter().map(|u| {
            f(&u.url)
                || (!u.url.contains("://")
                    && u.scheme != "mailto"
                    && f(&format!("{}://{}", u.scheme, u.url)))
        }),
        max,
    )
}

/// The number of `true`s in `hits`, reading no further once it reaches `max`.
fn count_up_to(hits: impl Iterator<Item = bool>, max: u32) -> u32 {
    let mut n = 0;
    for hit in hits {
        if hit {
            n += 1;
            if n >= max {
                break;
            }
        }
    }
    n
}

/// How many URIs the pattern matches, up to `max` ([`uris_where`]).
pub(super) fn uri_count(p: &Pattern, texts: &Texts<'_>, max: u32, sa_list: bool) -> u32 {
    uris_where(texts, sa_list, max, |u| p.is_match(u))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rawbody_pieces_as_spamassassin_cuts_them() {
        let cut = |t: &str| super::short_paragraphs(t).collect::<Vec<_>>();
        let short = "x".repeat(4096);
        assert_eq!(
            cut(&short),
            vec![std::ops::Range {
                start: 0,
                end: 4096
            }]
        );
        // Past 4 KB: cut after the first line break at least 2,048 bytes in.
        let lines = "abc\n".repeat(1500);
        let pieces = cut(&lines);
        assert_eq!(pieces[0], 0..2052);
        assert!(pieces.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(pieces.last().map(|r| r.end), Some(lines.len()));
        // No break, `>` or space: 2,049 bytes, moved to a character boundary.
        let wide = "é".repeat(3000);
        let pieces = cut(&wide);
        assert_eq!(pieces[0], 0..2050);
        assert!(
            pieces
                .iter()
                .all(|r| wide.is_char_boundary(r.start) && wide.is_char_boundary(r.end))
        );
        // Decoded from Latin-1, each letter was one byte to SpamAssassin: the first line break
        // (2,100 letters in) ends the first piece, not the 2,049th byte.
        let latin = format!("{}\nabc\n{}", "é".repeat(2100), "x".repeat(3000));
        let pieces = super::part_pieces(&latin, true);
        assert_eq!(pieces[0], 0..4201);
        assert_eq!(pieces.last().map(|r| r.end), Some(latin.len()));
        assert_eq!(super::part_pieces(&latin, false)[0], 0..2050);
        assert_eq!(super::part_pieces(&lines, true), cut(&lines));
    }

    /// An all-ASCII HTML body's Latin-1 entities are one byte each to SpamAssassin's body
    /// rules, unless a part was decoded or an entity is above U+00FF; the Subject line is
    /// UTF-8 either way. Each hit set is SpamAssassin 4.0.1's (`spamassassin -L -t --cf`).
    #[test]
    fn latin1_bodies_are_bytes() {
        let rules = "body ZZ_HB /(?:[\\x80-\\xff].?){4}/\n\
                     body ZZ_E9 /\\xe9/\n\
                     body ZZ_C3 /\\xc3\\xa9/\n\
                     body ZZ_VIA /V[_\\W]{0,3}[i1!|l\\xEC\\xED\\xEE\\xEF][_\\W]{0,3}agra/i\n\
                     body ZZ_DOT /caf.\\s/\n";
        let hits = |subject: &str, charset: &str, html: &str| {
            let raw = format!(
                "From: a@b.example\nSubject: {subject}\nContent-Type: text/html; \
                 charset={charset}\n\n<html><body><p>{html}</p></body></html>\n"
            );
            let mut h = crate::rules::tests::hits_now(rules, &raw);
            h.sort();
            h
        };
        let four = "caf&eacute;&eacute;&eacute;&eacute; and more &eacute; x &eacute; &eacute;";
        assert_eq!(hits("hello", "us-ascii", four), ["ZZ_E9", "ZZ_HB"]);
        // An entity above U+00FF (&trade;) or a decoded part: UTF-8.
        let tm = "caf&eacute;&eacute;&eacute;&eacute; &trade;";
        assert_eq!(hits("hello", "us-ascii", tm), ["ZZ_C3", "ZZ_HB"]);
        assert_eq!(
            hits(
                "hello",
                "iso-2022-jp",
                "caf&eacute;&eacute;&eacute;&eacute;"
            ),
            ["ZZ_C3", "ZZ_HB"]
        );
        assert_eq!(
            hits("hello", "iso-8859-1", "Buy V&iacute;agra now"),
            ["ZZ_VIA"]
        );
        // The Subject's UTF-8 beside the body's Latin-1; `.` is one byte of either.
        assert_eq!(
            hits("=?utf-8?B?w6nDqcOpw6k=?=", "us-ascii", "caf&eacute; x"),
            ["ZZ_C3", "ZZ_DOT", "ZZ_E9", "ZZ_HB"]
        );
        // The linear patterns read the bytes (`Pattern::count_bytes`), the look-arounds the
        // backtracking engine's view: the same classes either way (a Latin-1 letter's byte is
        // no word character, so no `\b` after it).
        let classes = "body ZZ_CW /caf\\w/\n\
                       body ZZ_CNW /caf\\W\\s/\n\
                       body ZZ_EE /x\\s\\xe9{2}\\sy/\n\
                       body ZZ_NB /x\\s\\xe9\\b/\n\
                       body ZZ_LA /caf(?=\\xe9)/\n\
                       body ZZ_LB /(?<=\\xe9)\\xe9/\n";
        let raw = "From: a@b.example\nSubject: hello\nContent-Type: text/html; \
                   charset=us-ascii\n\n<html><body><p>caf&eacute; x &eacute;&eacute; y</p>\
                   </body></html>\n";
        let mut h = crate::rules::tests::hits_now(classes, raw);
        h.sort();
        assert_eq!(h, ["ZZ_CNW", "ZZ_EE", "ZZ_LA", "ZZ_LB"]);
    }
}
