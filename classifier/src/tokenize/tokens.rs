//! The tokens of one message, and the token stream of an older store.
//!
//! A store records the tokenizer version it was trained with ([`super::TOKENIZER_VERSION`]
//! for a new one). Version 5 is version 4 plus the recipient-name pairs
//! (`rcpt|ADDR|name:NAME@DOMAIN`, corpora/EXPERIMENTS.md E46), so a store trained with
//! version 4 keeps working: [`Tokens::as_version`] gives the exact version-4 stream of the
//! same message (the store learns and forgets that), and classifying needs nothing at all:
//! a name pair was never learned in such a store, and a token never learned is no evidence
//! (Bayes's minimum deviation leaves out the unknown-word probability; the token learner
//! has no weight for it; recipient reputation needs support).

/// The oldest tokenizer version whose stores are still read and trained: its stream is a
/// subset of the current one's ([`Tokens::as_version`]).
pub const OLDEST_TOKENIZER_VERSION: u32 = 4;

/// The tokens of one message: sorted, distinct 64-bit hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Sorted, distinct token hashes.
    pub hashes: Vec<u64>,
    /// With [`super::TokenizerConfig::blocks`]: the message's blocks (sorted by hash), each
    /// with the tokens that occur only inside blocks. Not stored: a message learned or
    /// forgotten is its `hashes`.
    pub blocks: Vec<crate::blocks::Block>,
    /// The recipient-sender pair tokens' hashes (`rcpt|ADDR|from:...`,
    /// [`crate::recipients`]), sorted: recipient reputation's candidates
    /// ([`crate::bayes::BayesParams::pair_pull`]). Not stored.
    pub pairs: Vec<u64>,
    /// The hashes only version 5 emits (the recipient-name pairs), sorted. Not stored.
    pub v5_only: Vec<u64>,
    /// When the message had more tokens than the limit: the first hashes past it, as many as
    /// `v5_only` holds, so that [`Tokens::as_version`] can fill the places the version-5
    /// hashes took. Not stored.
    pub past_limit: Vec<u64>,
}

impl Tokens {
    /// Number of distinct tokens.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Wrapping sum of the hashes: a checksum the ledger keeps to verify stored counts.
    pub fn checksum(&self) -> u64 {
        self.hashes.iter().fold(0u64, |a, &h| a.wrapping_add(h))
    }

    /// The tokens a store of tokenizer `version` learns for this message: the same for the
    /// current version; for version 4, without the hashes only version 5 emits, and with the
    /// limit filled from the hashes past it as the version-4 tokenizer filled it.
    pub fn as_version(&self, version: u32) -> std::borrow::Cow<'_, Tokens> {
        if version >= super::TOKENIZER_VERSION || self.v5_only.is_empty() {
            return std::borrow::Cow::Borrowed(self);
        }
        let limit = if self.past_limit.is_empty() {
            usize::MAX
        } else {
            self.hashes.len()
        };
        let drop = |h: &u64| self.v5_only.binary_search(h).is_err();
        let mut hashes: Vec<u64> = self
            .hashes
            .iter()
            .chain(&self.past_limit)
            .copied()
            .filter(drop)
            .collect();
        hashes.truncate(limit);
        std::borrow::Cow::Owned(Tokens {
            hashes,
            blocks: self.blocks.clone(),
            pairs: self.pairs.iter().copied().filter(drop).collect(),
            v5_only: Vec::new(),
            past_limit: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::limits::Limits;
    use crate::message::MessageView;
    use crate::tokenize::{Tokenizer, TokenizerConfig};

    /// Version 5's tokens taken back to version 4 are exactly what the version-4 tokenizer
    /// gives, at every token limit (the limit cuts the sorted hashes, and the name pairs
    /// take places the version-4 stream fills with others).
    #[test]
    fn version_4_from_version_5_is_the_version_4_stream_at_every_limit() {
        let v5 = Tokenizer::new(TokenizerConfig::default());
        let v4 = Tokenizer::new(TokenizerConfig {
            recipient_names: false,
            ..TokenizerConfig::default()
        });
        let messages = [
            "Delivered-To: a@x.example\nDelivered-To: b@x.example\nFrom: \"The Shop\" <n1@shop.example>\n\
             Subject: sale sale\n\nbig sale today on shoes and hats\n",
            "To: \"Ann\" <ann@y.example>, bob@y.example\nFrom: Shop News <z@mail.shop.example>\n\
             Subject: hello\n\nwords here\n",
            "From: no-name@x.example\nTo: a@x.example\nSubject: plain\n\nno display name\n",
        ];
        for (i, msg) in messages.iter().enumerate() {
            let view = MessageView::parse(msg.as_bytes(), &Limits::default());
            let full = v4.tokens(&view, usize::MAX).hashes.len();
            for limit in 0..full + 4 {
                let new = v5.tokens(&view, limit);
                let old = v4.tokens(&view, limit);
                let back = new.as_version(4);
                assert_eq!(back.hashes, old.hashes, "message {i}, limit {limit}");
                assert_eq!(back.pairs, old.pairs, "message {i}, limit {limit}");
                assert_eq!(new.as_version(5).hashes, new.hashes);
            }
            let new = v5.tokens(&view, usize::MAX);
            assert_eq!(
                new.v5_only.is_empty(),
                i == 2,
                "message {i}: a name pair where there is a display name"
            );
        }
    }
}
