//! Copy tokens (tokenizer version 6, corpora/EXPERIMENTS.md E47; told by their words since
//! version 7, E48): which earlier messages had this body, and to whom they were delivered.
//!
//! - `dup:BODY`: the hash of the sender's domain and the body's words ([`text_hash`]: what a mailer
//!   that writes each subscriber their own copy changes, the MIME boundary, links, numbers,
//!   the subscriber's address and a greeting, left out), or, for a body of fewer than [`MIN_TEXT_WORDS`] such words,
//!   of its bytes (everything after the header block, line ends as LF: version 6's hash for
//!   every body); its counts say how many copies of this body the model learned, of each
//!   class;
//! - `dupr:BODY|ADDR` for each delivery recipient ([`crate::recipients::delivery_recipients`]):
//!   the copies learned that went to this recipient.
//!
//! They are learned and forgotten like every token but are never evidence themselves: Bayes
//! reads them to take the copies delivered to *other* recipients out of the counts
//! ([`crate::bayes::BayesParams::dup_leave_out`]). One newsletter issue sent to a subscriber
//! (ham) and to someone who reports it (spam) is the same body twice; without this, whichever
//! copy is learned first teaches every one of its words with its label and outvotes the
//! recipient's own history on the other copy.

use crate::message::MessageView;

/// The fewest words ([`text_hash`]) a body needs to be told by its words; a shorter one (an
/// image, an attachment, a few lines) is told by its bytes, so that short bodies that share
/// their few words are not taken for copies of one another. corpora/EXPERIMENTS.md E48: 20
/// also took the variants of three spam runs (one sender, one text, several recipients) for
/// copies, which lost SpamAssassin seed 7 three ranking pairs; 150 left a fifth of the
/// personalised newsletters' gain; 60 ties every classic and drift cell.
const MIN_TEXT_WORDS: usize = 60;

/// The copy tokens' texts: the `dup:` token, then one `dupr:` token per delivery recipient.
/// With `by_text` (version 7) the body is told by its words where it has enough of them
/// ([`text_hash`]), else (version 6) by its bytes.
pub(super) fn texts(view: &MessageView, by_text: bool) -> (String, Vec<String>) {
    let rcpts = crate::recipients::delivery_recipients(view);
    token_texts(body(view, by_text), &rcpts)
}

fn body(view: &MessageView, by_text: bool) -> u64 {
    let by_words = if by_text { text_hash(view) } else { None };
    by_words.unwrap_or_else(|| body_hash(&view.raw))
}

fn token_texts(body: u64, rcpts: &[String]) -> (String, Vec<String>) {
    let by_recipient = rcpts
        .iter()
        .map(|r| format!("dupr:{body:016x}|{r}"))
        .collect();
    (format!("dup:{body:016x}"), by_recipient)
}

/// The copy tokens of a message as [`add`] gives them: the `dup:` hash, the `dupr:` hashes.
pub(super) type Copies = (u64, Vec<u64>);

/// Adds the copy tokens of `view` ([`texts`]) to the sorted `hashes`; returns them, and with
/// `by_text`, when version 6 tells the body otherwise, version 6's (not added).
pub(super) fn add(
    view: &MessageView,
    mark: bool,
    by_text: bool,
    hashes: &mut Vec<u64>,
) -> (Copies, Option<Copies>) {
    let rcpts = crate::recipients::delivery_recipients(view);
    let hash = |body: u64| -> Copies {
        let (content, by_recipient) = token_texts(body, &rcpts);
        let h = |t: &str| super::pooled_hash(t, true, mark);
        (h(&content), by_recipient.iter().map(|t| h(t)).collect())
    };
    let v6 = body_hash(&view.raw);
    let current = by_text.then(|| text_hash(view)).flatten().unwrap_or(v6);
    let (current, v6) = (hash(current), (current != v6).then(|| hash(v6)));
    for h in std::iter::once(&current.0).chain(&current.1) {
        if let Err(at) = hashes.binary_search(h) {
            hashes.insert(at, *h);
        }
    }
    (current, v6)
}

/// The hash of a body's words and its sender: every text part's visible text, split at white
/// space, each word's leading and trailing punctuation dropped, lower-cased; left out are words
/// with a digit or with `@ / : = ? & % # _` (addresses, links, numbers, identifiers: what
/// changes from one subscriber's copy to the next) and a part's first line when it has at most
/// three words (a greeting: "Dear Pat,"). Nothing is taken from the recipient fields: a list's
/// or a newsletter's `To` name ("Ryanair Customers") is not the subscriber's, and a copy
/// readdressed to someone else must keep its hash. The sender's domain is hashed too, so a
/// spam run's variants from rotating senders are not one body (the domain, not the address:
/// a mailer may give each copy its own sender address, E48). `None` below [`MIN_TEXT_WORDS`]
/// words.
fn text_hash(view: &MessageView) -> Option<u64> {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let from = view.from.first().and_then(|m| m.domain());
    h.update(from.unwrap_or_default().to_lowercase().as_bytes());
    h.update(b"\n");
    let mut lower = String::new();
    let mut words = 0;
    for part in &view.text_parts {
        let mut lines = part
            .text
            .lines()
            .skip_while(|l| l.trim().is_empty())
            .peekable();
        if lines
            .peek()
            .is_some_and(|l| l.split_whitespace().count() <= 3)
        {
            lines.next();
        }
        for raw in lines.flat_map(str::split_whitespace) {
            let w = raw.trim_matches(|c: char| !c.is_alphanumeric());
            if w.is_empty() || w.chars().any(|c| c.is_numeric() || "@/:=?&%#_".contains(c)) {
                continue;
            }
            lower.clear();
            lower.extend(w.chars().flat_map(char::to_lowercase));
            h.update(lower.as_bytes());
            h.update(b" ");
            words += 1;
        }
    }
    (words >= MIN_TEXT_WORDS).then(|| h.digest())
}

/// The hash of a message's body: what follows the first empty line, without carriage returns
/// (the whole text when there is no empty line).
fn body_hash(raw: &str) -> u64 {
    let bytes = raw.as_bytes();
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let start = lf.into_iter().chain(crlf).min().unwrap_or(0);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for piece in bytes[start..].split(|&b| b == b'\r') {
        h.update(piece);
    }
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    /// A newsletter's text of more than [`MIN_TEXT_WORDS`] words.
    const GARDEN: &str = "This week in the garden: roses want water every morning, tomatoes \
        want sun and patience, and the lawn wants less of everything than you think. Our \
        readers asked about slugs again, so here is the short answer: beer traps work, copper \
        tape works better, and a torch at night works best of all. Next, the pond: clear the \
        leaves before the frost, lift the pump, and let the frogs sleep in the mud where they \
        belong. Finally, a reminder that the seed swap is on Saturday at the village hall, and \
        that everyone is welcome to bring cuttings, bulbs, jars of jam or simply good advice.";

    /// One issue as a per-subscriber mailer writes it for `to` (named `name`), with MIME
    /// boundary `b`, and the closing line `last`.
    fn issue(to: &str, name: &str, b: &str, last: &str) -> MessageView {
        let raw = format!(
            "From: Garden News <news@garden.example>\nTo: \"{name}\" <{to}>\n\
             Subject: This week\nMIME-Version: 1.0\n\
             Content-Type: multipart/alternative; boundary=\"{b}\"\n\n--{b}\n\
             Content-Type: text/plain\n\nDear {name},\n{GARDEN}\n{last}\nSent to {to} (subscriber 40{name}1), \
             unsubscribe: http://garden.example/u?r={b}\n--{b}--\n"
        );
        MessageView::parse(raw.as_bytes(), &Limits::default())
    }

    #[test]
    fn copies_written_for_each_subscriber_are_one_body_by_their_words() {
        let ann = issue("ann@a.example", "Ann", "b1x", "Happy digging!");
        let pat = issue("pat.doe@b.example", "Pat Doe", "zz9", "Happy digging!");
        let other = issue("pat.doe@b.example", "Pat Doe", "zz9", "Next week: bulbs.");
        let (a, ar) = texts(&ann, true);
        let (p, pr) = texts(&pat, true);
        assert_eq!(
            a, p,
            "the same words, another boundary, address, name and link"
        );
        assert_ne!(ar, pr, "each recipient's own copy token");
        assert_ne!(texts(&other, true).0, p, "other words: another body");
        // Version 6 told them apart by their bytes.
        assert_ne!(texts(&ann, false).0, texts(&pat, false).0);
    }

    #[test]
    fn a_short_body_is_told_by_its_bytes() {
        let view = |to: &str| {
            let raw = format!("From: a@x.example\nTo: {to}\nSubject: s\n\nsee you at noon\n");
            MessageView::parse(raw.as_bytes(), &Limits::default())
        };
        let (one, two) = (view("b@x.example"), view("c@x.example"));
        assert_eq!(texts(&one, true), texts(&one, false));
        assert_eq!(texts(&one, true).0, texts(&two, true).0, "the same bytes");
        let mut hashes = Vec::new();
        let (_, v6) = add(&one, true, true, &mut hashes);
        assert_eq!(v6, None, "no other version-6 tokens");
    }

    #[test]
    fn the_body_hash_ignores_headers_and_line_ends() {
        let a = body_hash("To: a@x.example\nSubject: s\n\nline one\nline two\n");
        let b = body_hash("To: b@y.example\r\nSubject: s\r\n\r\nline one\r\nline two\r\n");
        let c = body_hash("To: a@x.example\nSubject: s\n\nline one\nline 2\n");
        assert_eq!(a, b);
        assert_ne!(a, c);
        // No header block: the whole text.
        assert_ne!(body_hash("line one\nline two\n"), body_hash("line one\n"));
    }
}
