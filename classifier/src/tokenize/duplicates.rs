//! Copy tokens (tokenizer version 6, corpora/EXPERIMENTS.md E47): which earlier messages had
//! exactly this body, and to whom they were delivered.
//!
//! - `dup:BODY`: the hash of the body (everything after the header block, line ends as LF);
//!   its counts say how many copies of this body the model learned, of each class;
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

/// The copy tokens' texts: the `dup:` token, then one `dupr:` token per delivery recipient.
pub(super) fn texts(view: &MessageView) -> (String, Vec<String>) {
    let body = body_hash(&view.raw);
    let by_recipient = crate::recipients::delivery_recipients(view)
        .iter()
        .map(|r| format!("dupr:{body:016x}|{r}"))
        .collect();
    (format!("dup:{body:016x}"), by_recipient)
}

/// Adds the copy tokens of `view` to the sorted `hashes`; returns the `dup:` hash and the
/// `dupr:` hashes.
pub(super) fn add(view: &MessageView, mark: bool, hashes: &mut Vec<u64>) -> (u64, Vec<u64>) {
    let (content, by_recipient) = texts(view);
    let mut insert = |text: &str| {
        let h = super::pooled_hash(text, true, mark);
        if let Err(at) = hashes.binary_search(&h) {
            hashes.insert(at, h);
        }
        h
    };
    let content = insert(&content);
    let by_recipient = by_recipient.iter().map(|t| insert(t)).collect();
    (content, by_recipient)
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
