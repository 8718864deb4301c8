//! Tokenizer settings.

/// How word pairs are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairs {
    /// No pairs: single words only.
    None,
    /// Adjacent word pairs.
    Bigrams,
    /// Orthogonal sparse bigrams: each word with each of the next `window - 1` words, marked
    /// with their distance.
    Osb {
        /// Window size in words (2 = adjacent only).
        window: usize,
    },
}

/// Tokenizer settings. The defaults are the versioned tokenizer; the other settings exist for
/// experiments (`mailsift eval` on a fresh store), not for production stores.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizerConfig {
    /// Word pairs in the body.
    pub pairs: Pairs,
    /// Words shorter than this (in characters) are dropped.
    pub min_word_chars: usize,
    /// Words longer than this become a `skip:` token (first character and length bucket).
    pub max_word_chars: usize,
    /// Tokenize the words of all other header values under `h:<name>:`.
    pub all_headers: bool,
    /// `Received` hops looked at (`rcvd:` and `ip:` tokens), outermost first.
    pub received_hops: usize,
    /// Emit `hdr:<name>` for each header field present.
    pub header_presence: bool,
    /// Emit URL tokens (`url:`, `urlp:`, `urls:`).
    pub urls: bool,
    /// Emit structure tokens (`meta:`, `html:`, `att:`).
    pub structure: bool,
    /// Keep the case of words (otherwise they are lower-cased).
    pub keep_case: bool,
    /// Mark each hash with its pool ([`super::HEADER_POOL_BIT`]) for Bayes's per-pool combining.
    pub mark_pools: bool,
    /// Put URL tokens in the body pool rather than the header pool.
    pub urls_in_body_pool: bool,
    /// Emit recipient tokens and recipient × sender/list pairs ([`crate::recipients`]).
    pub recipients: bool,
    /// With `recipients`: also pair each recipient with the message's other `To`/`Cc`
    /// addresses (a group or list posting address) and with its `Return-Path` domain (the
    /// bulk sender's bounce domain) ([`crate::recipients`]).
    pub recipient_lists: bool,
    /// With `recipients`: also pair each recipient with the sender's display name at its
    /// registrable domain ([`crate::recipients`]).
    pub recipient_names: bool,
    /// The copy tokens (`dup:`, `dupr:`, version 6; [`super::Tokens::content`]).
    pub copies: bool,
    /// With `copies`: a body is told by its words, not its bytes (version 7; E48).
    pub copy_text: bool,
    /// Repeated blocks ([`crate::blocks`]): each body line of at least `block_min_words` words
    /// also yields a `blk:` token (its normalised words), and [`super::Tokens::blocks`] records which
    /// tokens came only from such lines, so Bayes can count a line seen before once.
    pub blocks: bool,
    /// With `blocks`: the fewest words a line needs to be a block.
    pub block_min_words: usize,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            pairs: Pairs::Bigrams,
            // min 3 / max 20 over 2 / 40: corpora/EXPERIMENTS.md E7.
            min_word_chars: 3,
            max_word_chars: 20,
            all_headers: true,
            received_hops: 8,
            header_presence: true,
            urls: true,
            structure: true,
            keep_case: false,
            // v3: hashes carry their pool (corpora/EXPERIMENTS.md E8).
            mark_pools: true,
            urls_in_body_pool: false,
            // v4: recipient tokens and pairs (corpora/EXPERIMENTS.md E20).
            recipients: true,
            recipient_lists: false,
            // v5: on (corpora/EXPERIMENTS.md E45, E46); a v4 store learns without them.
            recipient_names: true,
            // v6: on (corpora/EXPERIMENTS.md E47); older stores learn without them.
            copies: true,
            // v7: on (corpora/EXPERIMENTS.md E48); a v6 store learns version 6's copy tokens.
            copy_text: true,
            // Off: corpora/EXPERIMENTS.md E31.
            blocks: false,
            block_min_words: 4,
        }
    }
}
