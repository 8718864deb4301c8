//! The tokenizer: a [`MessageView`] becomes a set of namespaced tokens, hashed to 64 bits.
//!
//! Tokens are namespaced by where they came from, so "free" in a Subject and "free" in the body
//! are different evidence: `subj:`, `from:`, `to:`, `rt:`, `rcpt:` and `rcpt|` (recipients and
//! their pairing with the sender or list, see [`crate::recipients`]), `rcvd:`, `ip:`, `ct:`, `mailer:`,
//! `mid:`, `hdr:` (header presence), `url:` and `urlp:` (URL hosts and path pieces), `html:`,
//! `att:`, `meta:`; body words have no prefix, and word pairs are `a b` (adjacent) or
//! `a ~N b` (orthogonal sparse bigrams, N words apart).
//!
//! Text written without spaces (Han, Kana, Hangul, Thai, Lao, Khmer, Myanmar) yields character
//! bigrams, since Unicode word segmentation alone gives one ideograph per word (too common to
//! be evidence) or one word per Thai sentence (too rare).
//!
//! Every change to what this module emits must bump [`TOKENIZER_VERSION`]: the token store
//! records the version it was trained with and refuses to mix them, except that versions 5
//! and 6 only add tokens to version 4 and version 7 computes version 6's copy tokens another
//! way, so an older store learns its own stream, derived from the current one
//! ([`Tokens::as_version`]).

use unicode_segmentation::UnicodeSegmentation;
use xxhash_rust::xxh3::xxh3_64;

use crate::message::{Mailbox, MessageView, TextKind, TransferEncoding};
use crate::url::registrable_domain;

mod ascii;
mod config;
mod duplicates;
mod tokens;

pub use config::{Pairs, TokenizerConfig};

pub use tokens::{OLDEST_TOKENIZER_VERSION, Tokens};

/// The version of the token stream. Stored in the database; bump on every change. A new store
/// records this one; a store of version [`OLDEST_TOKENIZER_VERSION`] or later is still read
/// and trained with its own stream ([`Tokens::as_version`]). 5: the recipient-name pairs
/// (corpora/EXPERIMENTS.md E46); 6: the copy tokens (E47; [`Tokens::content`]); 7: the copy
/// tokens tell a body by its words (E48).
pub const TOKENIZER_VERSION: u32 = 7;

/// A token's text, whether it is namespaced, the hash of the block line it came from (`None`
/// outside blocks) and whether it is a recipient-name pair, which only tokenizer version 5
/// emits ([`Tokens::as_version`]).
type PooledSink<'a> = dyn FnMut(&str, bool, Option<u64>, bool) + 'a;

/// Hashes one token string. Stable across platforms and releases (XXH3-64, seed 0).
pub fn hash_token(token: &str) -> u64 {
    xxh3_64(token.as_bytes())
}

/// With [`TokenizerConfig::mark_pools`], the top bit of a token hash says which pool it is in:
/// set for namespaced tokens (headers, URLs, structure), clear for body words and pairs.
pub const HEADER_POOL_BIT: u64 = 1 << 63;

fn pooled_hash(token: &str, namespaced: bool, mark: bool) -> u64 {
    let h = hash_token(token);
    match (mark, namespaced) {
        (false, _) => h,
        (true, true) => h | HEADER_POOL_BIT,
        (true, false) => h & !HEADER_POOL_BIT,
    }
}

/// Turns a view into tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokenizer {
    config: TokenizerConfig,
}

impl Tokenizer {
    /// A tokenizer with the given settings.
    pub fn new(config: TokenizerConfig) -> Self {
        Tokenizer { config }
    }

    /// The settings.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// The distinct token hashes of a message, at most `max_tokens` of them.
    pub fn tokens(&self, view: &MessageView, max_tokens: usize) -> Tokens {
        let mut hashes = Vec::with_capacity(1024);
        let mark = self.config.mark_pools;
        // With blocks: (token, block) for every token emitted inside a block line.
        let mut inside: Vec<(u64, u64)> = Vec::new();
        let mut pairs = Vec::new();
        let mut recipient_pairs = Vec::new();
        // The recipient-name pairs (version 5's own tokens), apart until `hashes` is sorted.
        let mut v5_only = Vec::new();
        self.emit_pooled(view, &mut |t: &str,
                                     ns: bool,
                                     block: Option<u64>,
                                     v5: bool| {
            let h = pooled_hash(t, ns, mark);
            if crate::recipients::is_sender_pair(t) {
                pairs.push(h);
            }
            if crate::recipients::is_recipient_pair(t) {
                recipient_pairs.push(h);
            }
            if v5 {
                v5_only.push(h);
                return;
            }
            match block {
                Some(b) => inside.push((h, b)),
                None => hashes.push(h),
            }
        });
        // `hashes` holds the tokens emitted outside blocks (and the block tokens themselves).
        hashes.sort_unstable();
        hashes.dedup();
        let blocks = crate::blocks::collect(&hashes, &mut inside);
        if !inside.is_empty() {
            hashes.extend(inside.iter().map(|&(h, _)| h));
            hashes.sort_unstable();
            hashes.dedup();
        }
        // A name pair that some other part of the stream emits too is not version 5's own.
        v5_only.sort_unstable();
        v5_only.dedup();
        v5_only.retain(|h| hashes.binary_search(h).is_err());
        if !v5_only.is_empty() {
            hashes.extend(&v5_only);
            hashes.sort_unstable();
        }
        let past_limit = if hashes.len() > max_tokens && !v5_only.is_empty() {
            let end = hashes.len().min(max_tokens + v5_only.len());
            hashes[max_tokens..end].to_vec()
        } else {
            Vec::new()
        };
        hashes.truncate(max_tokens);
        // Past the limit: they take no other token's place.
        let (content, content_rcpt, v6_copies) = if self.config.copies {
            let ((c, r), v6) = duplicates::add(view, mark, self.config.copy_text, &mut hashes);
            (Some(c), r, v6)
        } else {
            (None, Vec::new(), None)
        };
        pairs.sort_unstable();
        pairs.dedup();
        recipient_pairs.sort_unstable();
        recipient_pairs.dedup();
        Tokens {
            hashes,
            blocks,
            pairs,
            v5_only,
            past_limit,
            content,
            content_rcpt,
            v6_copies,
            recipient_pairs,
        }
    }

    /// The distinct tokens with their text, sorted by hash (for `explain`).
    pub fn tokens_with_text(&self, view: &MessageView, max_tokens: usize) -> Vec<(u64, String)> {
        let mut out: Vec<(u64, String)> = Vec::with_capacity(1024);
        let mark = self.config.mark_pools;
        self.emit_pooled(view, &mut |t: &str, ns: bool, _, _| {
            out.push((pooled_hash(t, ns, mark), t.to_owned()))
        });
        out.sort_unstable_by_key(|(h, _)| *h);
        out.dedup_by_key(|(h, _)| *h);
        out.truncate(max_tokens);
        if self.config.copies {
            let (content, by_recipient) = duplicates::texts(view, self.config.copy_text);
            for t in std::iter::once(content).chain(by_recipient) {
                out.push((pooled_hash(&t, true, mark), t));
            }
            out.sort_unstable_by_key(|(h, _)| *h);
            out.dedup_by_key(|(h, _)| *h);
        }
        out
    }

    /// Calls `sink` with every token of the message (with repeats).
    pub fn emit(&self, view: &MessageView, sink: &mut dyn FnMut(&str)) {
        self.emit_pooled(view, &mut |t: &str, _, _, _| sink(t));
    }

    /// Like [`Tokenizer::emit`], also saying ([`PooledSink`]) whether each token is
    /// namespaced, with blocks on the hash of the block line it came from, and whether only
    /// tokenizer version 5 emits it.
    fn emit_pooled(&self, view: &MessageView, sink: &mut PooledSink<'_>) {
        let mut buf = String::with_capacity(128);
        let url_body = self.config.urls_in_body_pool;
        let mark = self.config.mark_pools;
        let mut emit4 = |prefix: &str, value: &str, block: Option<u64>, v5: bool| {
            buf.clear();
            buf.push_str(prefix);
            buf.push_str(value);
            let body = prefix.is_empty() || (url_body && prefix.starts_with("url"));
            sink(&buf, !body, block, v5);
        };
        self.headers(view, &mut |p: &str, v: &str| emit4(p, v, None, false));
        if self.config.recipients {
            crate::recipients::recipient_tokens(
                view,
                self.config.recipient_lists,
                self.config.recipient_names,
                &mut |p: &str, v: &str, v5: bool| emit4(p, v, None, v5),
            );
        }
        if self.config.urls {
            self.urls(view, &mut |p: &str, v: &str| emit4(p, v, None, false));
        }
        if self.config.structure {
            self.structure(view, &mut |p: &str, v: &str| emit4(p, v, None, false));
        }
        let mut words: Vec<String> = Vec::with_capacity(512);
        for part in &view.text_parts {
            words.clear();
            if self.config.blocks {
                let mut lines: Vec<Option<u64>> = Vec::with_capacity(512);
                for line in part.text.split('\n') {
                    let mut toks: Vec<(String, bool)> = Vec::new();
                    self.segment(line, &mut |w: &str, spaced: bool| {
                        toks.push((w.to_owned(), spaced))
                    });
                    let spaced: Vec<&str> =
                        toks.iter().filter(|t| t.1).map(|t| t.0.as_str()).collect();
                    let block = (spaced.len() >= self.config.block_min_words.max(1)).then(|| {
                        let name = crate::blocks::block_token(&spaced);
                        emit4("", &name, None, false);
                        pooled_hash(&name, false, mark)
                    });
                    for (w, is_spaced) in toks {
                        emit4("", &w, block, false);
                        if is_spaced {
                            words.push(w);
                            lines.push(block);
                        }
                    }
                }
                // A pair is inside blocks when both its words are in block lines: it belongs
                // to both lines' blocks (so it is left out only when both are repeated).
                self.pairs(&words, &mut |pair: &str, i: usize, j: usize| {
                    let first = lines.get(i).copied().flatten();
                    let second = lines.get(j).copied().flatten();
                    match (first, second) {
                        (Some(a), Some(b)) => {
                            emit4("", pair, Some(a), false);
                            if b != a {
                                emit4("", pair, Some(b), false);
                            }
                        }
                        _ => emit4("", pair, None, false),
                    }
                });
            } else {
                self.words(&part.text, &mut words, &mut |p: &str, v: &str| {
                    emit4(p, v, None, false)
                });
                self.pairs(&words, &mut |pair: &str, _, _| emit4("", pair, None, false));
            }
        }
    }

    fn headers(&self, view: &MessageView, emit: &mut dyn FnMut(&str, &str)) {
        let mut words = Vec::new();
        if let Some(subject) = &view.subject {
            self.words_prefixed(subject, "subj:", &mut words, emit);
            for pair in words.windows(2) {
                emit("subj:", &format!("{} {}", pair[0], pair[1]));
            }
            if subject.trim().is_empty() {
                emit("subj:", "<empty>");
            }
        } else {
            emit("subj:", "<none>");
        }
        mailbox_tokens("from:", &view.from, emit);
        mailbox_tokens("rt:", &view.reply_to, emit);
        for mb in view.from.iter().take(4) {
            if let Some(name) = &mb.name {
                words.clear();
                self.words_prefixed(name, "fromname:", &mut words, emit);
            }
        }
        let recipients = view.to.len() + view.cc.len();
        emit("to:count:", bucket(recipients));
        for mb in view.to.iter().chain(view.cc.iter()).take(32) {
            if let Some(domain) = mb.domain() {
                emit("to:@", domain);
            }
            if let Some(addr) = &mb.address {
                emit("to:", addr);
            }
        }
        for hop in view.received.iter().take(self.config.received_hops) {
            for host in [&hop.from_host, &hop.by_host].into_iter().flatten() {
                emit("rcvd:", registrable_domain(host));
            }
            if let Some(ip) = &hop.from_ip {
                if let Some((net, _)) = ip.rsplit_once('.') {
                    emit("ip:", net);
                    if let Some((net16, _)) = net.rsplit_once('.') {
                        emit("ip:", net16);
                    }
                } else {
                    emit("ip:", ip);
                }
            }
        }
        if let Some(id) = &view.message_id {
            match id.rsplit_once('@') {
                Some((_, domain)) => emit("mid:", &domain.to_ascii_lowercase()),
                None => emit("mid:", "<nodomain>"),
            }
        } else {
            emit("mid:", "<none>");
        }
        for field in view
            .mbox_line
            .iter()
            .chain(&view.headers)
            .chain(&view.after_header)
        {
            let name = field.name.to_ascii_lowercase();
            if self.config.header_presence {
                emit("hdr:", &name);
            }
            match name.as_str() {
                "content-type" => {
                    let ct = field
                        .decoded
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase();
                    emit("ct:", &ct);
                }
                "x-mailer" | "user-agent" => {
                    words.clear();
                    self.words_prefixed(&field.decoded, "mailer:", &mut words, emit);
                }
                "subject" | "from" | "to" | "cc" | "reply-to" | "received" | "message-id"
                | "date" | "x-spam-status" => {}
                _ if self.config.all_headers && field.decoded.len() < 2048 => {
                    let prefix = format!("h:{}:", truncate_chars(&name, 32));
                    words.clear();
                    self.words_prefixed(&field.decoded, &prefix, &mut words, emit);
                }
                _ => {}
            }
        }
    }

    fn urls(&self, view: &MessageView, emit: &mut dyn FnMut(&str, &str)) {
        for url in &view.urls {
            emit("url:", &url.host);
            let domain = registrable_domain(&url.host);
            if domain != url.host {
                emit("url:", domain);
            }
            if url.host_is_ip() {
                emit("url:", "<ip>");
            }
            emit("urls:", &url.scheme);
            for piece in url
                .path
                .split(['/', '?', '&', '=', '.', '-', '_', '#', '%', '+'])
            {
                if (2..=30).contains(&piece.len()) {
                    emit("urlp:", &piece.to_lowercase());
                }
            }
            if let Some(text) = &url.link_text {
                if text.contains("://") || text.starts_with("www.") {
                    emit("url:", "<text-is-url>");
                }
            }
        }
        emit("url:count:", bucket(view.urls.len()));
    }

    fn structure(&self, view: &MessageView, emit: &mut dyn FnMut(&str, &str)) {
        for part in &view.text_parts {
            emit(
                "meta:part:",
                match (part.kind, part.encoding) {
                    (TextKind::Plain, TransferEncoding::Plain) => "plain",
                    (TextKind::Plain, TransferEncoding::QuotedPrintable) => "plain-qp",
                    (TextKind::Plain, TransferEncoding::Base64) => "plain-b64",
                    (TextKind::Html, TransferEncoding::Plain) => "html",
                    (TextKind::Html, TransferEncoding::QuotedPrintable) => "html-qp",
                    (TextKind::Html, TransferEncoding::Base64) => "html-b64",
                },
            );
            if let Some(cs) = &part.charset {
                emit("meta:charset:", cs);
            }
        }
        let html = view.html_signals();
        if html.tags > 0 {
            emit("html:images:", bucket(html.images as usize));
            emit("html:links:", bucket(html.links as usize));
            emit("html:fonts:", bucket(html.fonts as usize));
            if html.invisible_chars > 0 {
                emit("html:", "invisible");
            }
            if html.forms > 0 {
                emit("html:", "form");
            }
            if html.scripts > 0 {
                emit("html:", "script");
            }
            if html.unknown_tags > 0 {
                emit("html:", "unknown-tags");
            }
            if html.comments > 0 {
                emit("html:", "comments");
            }
        }
        for att in &view.attachments {
            emit("att:type:", &att.content_type);
            if let Some(name) = &att.name {
                if let Some((_, ext)) = name.rsplit_once('.') {
                    emit("att:ext:", &truncate_chars(&ext.to_lowercase(), 8));
                }
            }
        }
        emit("meta:parts:", bucket(view.part_count));
        if view.encoding_problem {
            emit("meta:", "encoding-problem");
        }
        if view.unparsed {
            emit("meta:", "unparsed");
        }
    }

    /// Body words: pushed to `words` (for pairs) and emitted.
    fn words(&self, text: &str, words: &mut Vec<String>, emit: &mut dyn FnMut(&str, &str)) {
        self.segment(text, &mut |w: &str, spaced: bool| {
            emit("", w);
            if spaced {
                words.push(w.to_owned());
            }
        });
    }

    fn words_prefixed(
        &self,
        text: &str,
        prefix: &str,
        words: &mut Vec<String>,
        emit: &mut dyn FnMut(&str, &str),
    ) {
        self.segment(text, &mut |w: &str, spaced: bool| {
            emit(prefix, w);
            if spaced {
                words.push(w.to_owned());
            }
        });
    }

    /// Segments text into lower-cased word tokens. `spaced` is false for character bigrams of
    /// unspaced scripts and for `skip:` tokens, which do not take part in word pairs.
    fn segment(&self, text: &str, out: &mut dyn FnMut(&str, bool)) {
        let mut lower = String::with_capacity(64);
        if text.is_ascii() {
            ascii::words(text, |_, word| self.word(word, &mut lower, out));
            return;
        }
        // A run of adjacent unspaced-script words (UAX #29 gives one ideograph, or one Thai
        // cluster, per word): (start, end) byte offsets in `text`.
        let mut run: Option<(usize, usize)> = None;
        for (at, word) in text.unicode_word_indices() {
            if word.chars().any(is_unspaced) {
                run = match run {
                    Some((s, e)) if e == at => Some((s, at + word.len())),
                    Some((s, e)) => {
                        char_bigrams(&text[s..e], out);
                        Some((at, at + word.len()))
                    }
                    None => Some((at, at + word.len())),
                };
                continue;
            }
            if let Some((s, e)) = run.take() {
                char_bigrams(&text[s..e], out);
            }
            self.word(word, &mut lower, out);
        }
        if let Some((s, e)) = run {
            char_bigrams(&text[s..e], out);
        }
    }

    /// One word of [`Tokenizer::segment`]: lower-cased into `lower` (a buffer), then emitted
    /// as itself, as a `skip:` or `num:` token, or not at all (too short).
    fn word(&self, word: &str, lower: &mut String, out: &mut dyn FnMut(&str, bool)) {
        lower.clear();
        if self.config.keep_case {
            lower.push_str(word);
        } else {
            for c in word.chars() {
                lower.extend(c.to_lowercase());
            }
        }
        let n = lower.chars().count();
        if n < self.config.min_word_chars {
            return;
        }
        if n > self.config.max_word_chars {
            let first = lower.chars().next().unwrap_or('?');
            out(&format!("skip:{first}{}", n / 10 * 10), false);
            return;
        }
        if lower.bytes().all(|b| b.is_ascii_digit()) && lower.len() > 6 {
            out(&format!("num:{}", lower.len()), false);
            return;
        }
        out(lower, true);
    }

    /// Word pairs of `words`, each emitted with the indices of its two words.
    fn pairs(&self, words: &[String], emit: &mut dyn FnMut(&str, usize, usize)) {
        let mut buf = String::with_capacity(96);
        match self.config.pairs {
            Pairs::None => {}
            Pairs::Bigrams => {
                for (i, w) in words.windows(2).enumerate() {
                    buf.clear();
                    buf.push_str(&w[0]);
                    buf.push(' ');
                    buf.push_str(&w[1]);
                    emit(&buf, i, i + 1);
                }
            }
            Pairs::Osb { window } => {
                for i in 0..words.len() {
                    for d in 1..window.max(2) {
                        let Some(next) = words.get(i + d) else { break };
                        buf.clear();
                        buf.push_str(&words[i]);
                        if d == 1 {
                            buf.push(' ');
                        } else {
                            buf.push_str(" ~");
                            buf.push(char::from(b'0' + d.min(9) as u8));
                            buf.push(' ');
                        }
                        buf.push_str(next);
                        emit(&buf, i, i + d);
                    }
                }
            }
        }
    }
}

fn mailbox_tokens(prefix: &str, boxes: &[Mailbox], emit: &mut dyn FnMut(&str, &str)) {
    if boxes.is_empty() {
        emit(prefix, "<none>");
    }
    for mb in boxes.iter().take(4) {
        match &mb.address {
            Some(addr) => {
                emit(prefix, addr);
                if let Some((_, domain)) = addr.rsplit_once('@') {
                    emit(&format!("{prefix}@"), domain);
                    emit(&format!("{prefix}@"), registrable_domain(domain));
                }
            }
            None => emit(prefix, "<noaddr>"),
        }
    }
}

/// Scripts written without spaces between words.
fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF      // Thai, Lao
        | 0x1000..=0x109F    // Myanmar
        | 0x1780..=0x17FF    // Khmer
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FFFF) // CJK extensions B+
}

/// Grapheme bigrams of a run of unspaced script (a lone grapheme is emitted as itself).
fn char_bigrams(run: &str, out: &mut dyn FnMut(&str, bool)) {
    let starts: Vec<usize> = run
        .grapheme_indices(true)
        .map(|(o, _)| o)
        .take(4096)
        .collect();
    if starts.len() <= 1 {
        out(run, false);
        return;
    }
    for i in 0..starts.len() - 1 {
        let end = starts.get(i + 2).copied().unwrap_or(run.len());
        out(&run[starts[i]..end], false);
    }
}

/// A coarse count bucket, so counts become a handful of tokens.
fn bucket(n: usize) -> &'static str {
    match n {
        0 => "0",
        1 => "1",
        2 => "2",
        3..=5 => "3-5",
        6..=10 => "6-10",
        11..=30 => "11-30",
        _ => "31+",
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn texts(msg: &str) -> Vec<String> {
        let view = MessageView::parse(msg.as_bytes(), &Limits::default());
        Tokenizer::default()
            .tokens_with_text(&view, usize::MAX)
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    #[test]
    fn namespaces_headers_and_body() {
        let t = texts(
            "From: Bob <bob@mail.example.com>\nSubject: Cheap Pills\nX-Mailer: FooMail 2\n\
             Message-ID: <1@example.com>\n\nBuy cheap pills at http://pills.example.biz/order/now\n",
        );
        for expected in [
            "subj:cheap",
            "subj:cheap pills",
            "from:bob@mail.example.com",
            "from:@example.com",
            "fromname:bob",
            "mailer:foomail",
            "mid:example.com",
            "buy",
            "cheap pills",
            "url:pills.example.biz",
            "url:example.biz",
            "urlp:order",
            "hdr:x-mailer",
        ] {
            assert!(
                t.iter().any(|x| x == expected),
                "missing {expected:?} in {t:?}"
            );
        }
    }

    #[test]
    fn unspaced_scripts_give_bigrams() {
        let t = texts("Subject: x\n\n今日は良い天気 สวัสดีครับ\n");
        assert!(t.iter().any(|x| x == "良い"), "{t:?}");
        assert!(t.iter().any(|x| x == "สวั"), "{t:?}");
        assert!(t.iter().any(|x| x == "天気"), "{t:?}");
    }

    #[test]
    fn long_words_and_numbers_are_bucketed() {
        let t = texts(&format!("Subject: x\n\n{} 12345678901\n", "a".repeat(60)));
        assert!(t.iter().any(|x| x == "skip:a60"));
        assert!(t.iter().any(|x| x == "num:11"));
    }

    #[test]
    fn hashes_carry_their_pool() {
        let view = MessageView::parse(
            b"Subject: hello there\n\nbody words here\n",
            &Limits::default(),
        );
        let tok = Tokenizer::default();
        let with_text = tok.tokens_with_text(&view, usize::MAX);
        assert!(!with_text.is_empty());
        let body = ["body", "words", "here", "body words", "words here"];
        for (h, t) in &with_text {
            assert_eq!(
                h & HEADER_POOL_BIT == 0,
                body.contains(&t.as_str()),
                "{t:?}"
            );
        }
        let hashes: Vec<u64> = with_text.iter().map(|(h, _)| *h).collect();
        assert_eq!(tok.tokens(&view, usize::MAX).hashes, hashes);
        let unmarked = Tokenizer::new(TokenizerConfig {
            mark_pools: false,
            ..TokenizerConfig::default()
        });
        let plain = unmarked.tokens_with_text(&view, usize::MAX);
        assert!(plain.iter().all(|(h, t)| *h == hash_token(t)));
    }

    #[test]
    fn short_words_are_dropped() {
        let t = texts("Subject: x\n\nan ox ate the hay\n");
        assert!(t.iter().any(|x| x == "ate"), "{t:?}");
        assert!(t.iter().any(|x| x == "the hay"), "{t:?}");
        assert!(!t.iter().any(|x| x == "an" || x == "ox"), "{t:?}");
    }

    #[test]
    fn tokens_are_sorted_and_distinct() {
        let view = MessageView::parse(b"Subject: a a a\n\nword word word\n", &Limits::default());
        let tokens = Tokenizer::default().tokens(&view, usize::MAX);
        assert!(tokens.hashes.windows(2).all(|w| w[0] < w[1]));
        // The limit cuts the stream; the copy token (no recipient here) comes on top.
        let capped = Tokenizer::default().tokens(&view, 3);
        assert_eq!(capped.len(), 4);
        assert!(capped.hashes.windows(2).all(|w| w[0] < w[1]));
        assert!(capped.content.is_some_and(|c| capped.hashes.contains(&c)));
    }

    #[test]
    fn osb_pairs_mark_distance() {
        let tok = Tokenizer::new(TokenizerConfig {
            pairs: Pairs::Osb { window: 3 },
            ..TokenizerConfig::default()
        });
        let view = MessageView::parse(b"Subject: x\n\none two three\n", &Limits::default());
        let t: Vec<String> = tok
            .tokens_with_text(&view, usize::MAX)
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert!(t.iter().any(|x| x == "one two"));
        assert!(t.iter().any(|x| x == "one ~2 three"));
    }
}
