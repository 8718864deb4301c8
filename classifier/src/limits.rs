//! Caps on every size and count derived from input, so no message can make the filter slow or
//! large. Defaults are chosen so that ordinary mail is never cut: the largest message in the
//! SpamAssassin public corpus is under 1 MB of text, and the scan limit only bounds work on
//! attachments-heavy or hostile mail (the rest of the message still passes through unchanged).

use serde::Deserialize;

/// Limits applied while parsing and tokenizing one message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Bytes of the raw message that are parsed and scanned; the rest passes through unscanned.
    /// Over it, every header and text part is scanned up to this many bytes, and the first
    /// 4 KB of each other part (the bodies of attachments are cut first).
    pub max_scan_bytes: usize,
    /// Decoded text bytes (all text parts together) that are tokenized and matched.
    pub max_text_bytes: usize,
    /// MIME parts visited.
    pub max_parts: usize,
    /// MIME nesting depth followed.
    pub max_mime_depth: usize,
    /// Top-level header fields kept.
    pub max_headers: usize,
    /// Bytes kept of one header value.
    pub max_header_bytes: usize,
    /// URLs kept.
    pub max_urls: usize,
    /// Distinct tokens kept per message (the copy tokens, one per delivery recipient and one
    /// for the body, come on top: [`crate::tokenize::Tokens::content`]).
    pub max_tokens: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_scan_bytes: 1 << 20,
            max_text_bytes: 512 << 10,
            max_parts: 1000,
            max_mime_depth: 20,
            max_headers: 500,
            max_header_bytes: 16 << 10,
            max_urls: 500,
            max_tokens: 20_000,
        }
    }
}
