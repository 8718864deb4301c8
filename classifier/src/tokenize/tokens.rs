//! The tokens of one message, and the token stream of an older store.
//!
//! A store records the tokenizer version it was trained with ([`super::TOKENIZER_VERSION`]
//! for a new one). Version 5 is version 4 plus the recipient-name pairs
//! (`rcpt|ADDR|name:NAME@DOMAIN`, corpora/EXPERIMENTS.md E46), and version 6 is version 5
//! plus the copy tokens (`dup:`, `dupr:`, E47), and version 7 tells a body by its words in
//! those tokens (E48) where version 6 told it by its bytes, so a store trained with version 4,
//! 5 or 6 keeps working: [`Tokens::as_version`] gives the exact stream of its version for the
//! same message (the store learns and forgets that), and classifying needs nothing at all: a
//! token never learned in such a store is no evidence (Bayes's minimum deviation leaves out
//! the unknown-word probability; the token learner has no weight for it; recipient reputation
//! needs support; copies are left out only when a copy token has counts, so a version-6 store
//! has them left out for bodies told by their bytes in both versions, those under 60 words).

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
    /// With [`crate::bayes::BayesParams::dup_leave_out`]: the hash of the message's body
    /// digest token (`dup:...`, also in `hashes`, so it is learned), whose counts say how
    /// often exactly this body was learned before.
    pub content: Option<u64>,
    /// With `dup_leave_out` 2: the body digest paired with each delivery recipient
    /// (`dupr:...|ADDR`, also in `hashes`): the earlier copies to this message's recipients.
    pub content_rcpt: Vec<u64>,
    /// Version 6's `content` and `content_rcpt`, when they differ from these (the body told by
    /// its bytes, not its words). Not stored.
    pub v6_copies: Option<(u64, Vec<u64>)>,
    /// Every recipient pair token's hash (`rcpt|...`, list and domain pairs too), sorted. Not
    /// stored.
    pub recipient_pairs: Vec<u64>,
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

    /// True when a store of tokenizer `version` learns other tokens than these
    /// ([`Tokens::as_version`]).
    pub fn differs_before(&self, version: u32) -> bool {
        (version < 7 && self.v6_copies.is_some())
            || (version < 6 && self.content.is_some())
            || (version < 5 && !self.v5_only.is_empty())
    }

    /// The tokens a store of tokenizer `version` learns for this message: the same for the
    /// current version; for version 6 with its copy tokens (the body told by its bytes); before
    /// version 6 without the copy tokens; for version 4 also without the hashes only version 5
    /// emits, and with the limit filled from the hashes past it as the version-4 tokenizer
    /// filled it.
    pub fn as_version(&self, version: u32) -> std::borrow::Cow<'_, Tokens> {
        if !self.differs_before(version) {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut out = self.clone();
        if let Some((content, by_recipient)) = out.v6_copies.take().filter(|_| version == 6) {
            // The copy tokens come past the token limit: they take no other token's place.
            let old = std::mem::replace(&mut out.content_rcpt, by_recipient);
            let old_content = out.content.replace(content);
            out.hashes
                .retain(|h| Some(*h) != old_content && !old.contains(h));
            for h in std::iter::once(&content).chain(&out.content_rcpt) {
                if let Err(at) = out.hashes.binary_search(h) {
                    out.hashes.insert(at, *h);
                }
            }
        }
        if version < 6 {
            if let Some(c) = out.content.take() {
                let copies = std::mem::take(&mut out.content_rcpt);
                out.hashes.retain(|h| *h != c && !copies.contains(h));
            }
        }
        if version < 5 && !out.v5_only.is_empty() {
            let limit = if out.past_limit.is_empty() {
                usize::MAX
            } else {
                out.hashes.len()
            };
            let v5_only = std::mem::take(&mut out.v5_only);
            let drop = |h: &u64| v5_only.binary_search(h).is_err();
            let mut hashes: Vec<u64> = out
                .hashes
                .iter()
                .chain(&out.past_limit)
                .copied()
                .filter(drop)
                .collect();
            hashes.truncate(limit);
            out.hashes = hashes;
            out.pairs.retain(drop);
            out.recipient_pairs.retain(drop);
            out.past_limit.clear();
        }
        std::borrow::Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::limits::Limits;
    use crate::message::MessageView;
    use crate::tokenize::{Tokenizer, TokenizerConfig};

    fn tokenizer(names: bool, copies: bool, copy_text: bool) -> Tokenizer {
        Tokenizer::new(TokenizerConfig {
            recipient_names: names,
            copies,
            copy_text,
            ..TokenizerConfig::default()
        })
    }

    /// The current tokens taken back to versions 6, 5 and 4 are exactly what those tokenizers
    /// give, at every token limit (the limit cuts the sorted hashes, the name pairs take
    /// places the version-4 stream fills with others, and the copy tokens come on top).
    #[test]
    fn older_versions_from_the_current_one_are_their_streams_at_every_limit() {
        let v7 = tokenizer(true, true, true);
        let v6 = tokenizer(true, true, false);
        let v5 = tokenizer(true, false, false);
        let v4 = tokenizer(false, false, false);
        let messages = [
            "Delivered-To: a@x.example\nDelivered-To: b@x.example\nFrom: \"The Shop\" <n1@shop.example>\n\
             Subject: sale sale\n\nbig sale today on shoes and hats\n",
            "To: \"Ann\" <ann@y.example>, bob@y.example\nFrom: Shop News <z@mail.shop.example>\n\
             Subject: hello\n\nwords here\n",
            "From: no-name@x.example\nTo: a@x.example\nSubject: plain\n\nno display name\n",
            "From: News <n@news.example>\nTo: \"Pat Doe\" <pat@y.example>\nSubject: issue 7\n\n\
             Dear Pat,\nThis week in the garden: roses want water every morning, tomatoes want \
             sun and patience, and the lawn wants less of everything than you think it does. \
             Our readers asked about slugs again, so here is the short answer: beer traps work, \
             copper tape works better, and a torch at night works best of all. Next, the pond: \
             clear the leaves before the frost, lift the pump, and let the frogs sleep in the \
             mud where they belong, until the spring comes round again and wakes them.\n\
             Sent to pat@y.example; unsubscribe at http://news.example/u?id=77\n",
        ];
        for (i, msg) in messages.iter().enumerate() {
            let view = MessageView::parse(msg.as_bytes(), &Limits::default());
            let full = v4.tokens(&view, usize::MAX).hashes.len();
            for limit in 0..full + 4 {
                let new = v7.tokens(&view, limit);
                assert_eq!(new.as_version(7).hashes, new.hashes);
                let back = new.as_version(6);
                let old = v6.tokens(&view, limit);
                assert_eq!(back.hashes, old.hashes, "message {i}, v6, limit {limit}");
                assert_eq!(back.content, old.content, "message {i}, v6");
                assert_eq!(back.content_rcpt, old.content_rcpt, "message {i}, v6");
                assert_eq!(new.differs_before(6), i == 3, "message {i}: words enough");
                for (version, old) in [(5, &v5), (4, &v4)] {
                    let old = old.tokens(&view, limit);
                    let back = new.as_version(version);
                    assert_eq!(
                        back.hashes, old.hashes,
                        "message {i}, v{version}, limit {limit}"
                    );
                    assert_eq!(
                        back.pairs, old.pairs,
                        "message {i}, v{version}, limit {limit}"
                    );
                    assert_eq!(back.content, None);
                }
                // What the version-5 tokenizer emits, taken back to version 4, is the same.
                let mid = v5.tokens(&view, limit);
                assert_eq!(mid.as_version(4).hashes, v4.tokens(&view, limit).hashes);
            }
            let new = v7.tokens(&view, usize::MAX);
            assert_eq!(
                new.v5_only.is_empty(),
                i == 2,
                "message {i}: a name pair where there is a display name"
            );
            assert_eq!(
                new.content_rcpt.len(),
                [2, 2, 1, 1][i],
                "message {i}: one per recipient"
            );
        }
    }
}
