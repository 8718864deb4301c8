//! Repeated blocks: a line of text that many messages share verbatim (a list footer, a
//! newsletter's boilerplate, a signature) counted once by Bayes instead of word by word.
//!
//! With [`TokenizerConfig::blocks`](crate::tokenize::TokenizerConfig::blocks) every body line
//! of at least `block_min_words` words also yields a block token, `blk:` and the line's
//! normalised words, learned like any other token. [`Tokens::blocks`] says, for each block,
//! which of the message's tokens (words and the pairs within the line) occur only inside
//! block lines. When Bayes combines a message ([`select`]), a block whose token was seen in at
//! least `min_count` learned messages is *repeated*: its block token is one piece of evidence
//! and the tokens found only in repeated blocks are left out; a block not yet repeated is left
//! to its words (its block token is left out). So a footer learned from thirty spam is one
//! spammy token in a ham that carries it, not thirty correlated ones.
//!
//! Learning is unchanged: the learned token set is still [`Tokens::hashes`] (which includes
//! the block tokens), so forget and flip stay exact.

use crate::bayes::Counts;
use crate::tokenize::Tokens;

/// One block of a message: its token and the tokens that occur only inside block lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    /// The block token's hash (`blk:` + the line's words).
    pub hash: u64,
    /// Tokens of this block's line(s) that occur nowhere else in the message but in block
    /// lines, sorted and distinct.
    pub members: Vec<u64>,
}

/// The block token of a line with these words.
pub fn block_token(words: &[&str]) -> String {
    let mut s = String::with_capacity(4 + words.iter().map(|w| w.len() + 1).sum::<usize>());
    s.push_str("blk:");
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(w);
    }
    s
}

/// The blocks of a message from `inside` ((token, block) for every token emitted in a block
/// line) and `free` (sorted: the tokens emitted outside block lines). Sorts `inside`.
pub fn collect(free: &[u64], inside: &mut [(u64, u64)]) -> Vec<Block> {
    if inside.is_empty() {
        return Vec::new();
    }
    inside.sort_unstable_by_key(|&(h, b)| (b, h));
    let mut blocks: Vec<Block> = Vec::new();
    for &(h, b) in inside.iter() {
        if blocks.last().is_none_or(|l| l.hash != b) {
            blocks.push(Block {
                hash: b,
                members: Vec::new(),
            });
        }
        if free.binary_search(&h).is_err() {
            if let Some(last) = blocks.last_mut() {
                if last.members.last() != Some(&h) {
                    last.members.push(h);
                }
            }
        }
    }
    blocks
}

/// The tokens Bayes combines for `tokens` (with `counts` parallel to `tokens.hashes`): all of
/// them when there are no blocks or `min_count` is 0; otherwise each repeated block's token
/// (seen in at least `min_count` learned messages) instead of the tokens found only in
/// repeated blocks, and no block token of a block not repeated. Without `keep_token` a
/// repeated block's token is left out too (the line says nothing).
pub fn select(
    tokens: &Tokens,
    counts: &[Counts],
    min_count: u32,
    keep_token: bool,
) -> Option<(Vec<u64>, Vec<Counts>)> {
    if tokens.blocks.is_empty() || min_count == 0 {
        return None;
    }
    let hashes = &tokens.hashes;
    let count = |h: u64| {
        hashes
            .binary_search(&h)
            .ok()
            .and_then(|i| counts.get(i))
            .map_or(0, |c| c.spam.saturating_add(c.ham))
    };
    // Block tokens left out (not repeated) and tokens kept by a block that is not repeated.
    let mut drop: Vec<u64> = Vec::new();
    let mut kept: Vec<u64> = Vec::new();
    let mut repeated: Vec<&Block> = Vec::new();
    for b in &tokens.blocks {
        if count(b.hash) >= min_count {
            repeated.push(b);
        } else {
            drop.push(b.hash);
            kept.extend_from_slice(&b.members);
        }
    }
    kept.sort_unstable();
    for b in repeated {
        drop.extend(b.members.iter().filter(|h| kept.binary_search(h).is_err()));
        if !keep_token {
            drop.push(b.hash);
        }
    }
    // A block's token can also be a member of no block; a repeated block's own token is never
    // a member (it is emitted outside lines), so it stays.
    drop.sort_unstable();
    drop.dedup();
    let mut out_h = Vec::with_capacity(hashes.len());
    let mut out_c = Vec::with_capacity(hashes.len());
    for (&h, &c) in hashes.iter().zip(counts) {
        if drop.binary_search(&h).is_err() {
            out_h.push(h);
            out_c.push(c);
        }
    }
    Some((out_h, out_c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{Tokenizer, TokenizerConfig};
    use crate::{Limits, MessageView};

    fn tokens(msg: &str) -> Tokens {
        let view = MessageView::parse(msg.as_bytes(), &Limits::default());
        Tokenizer::new(TokenizerConfig {
            blocks: true,
            ..TokenizerConfig::default()
        })
        .tokens(&view, usize::MAX)
    }

    const FOOTER: &str = "To stop getting this mail change your settings here\n";

    #[test]
    fn blocks_add_a_token_per_long_line_and_keep_every_other_token() {
        let msg = format!("Subject: hi\n\nshort line\nhello there friend of mine\n{FOOTER}");
        let on = tokens(&msg);
        let view = MessageView::parse(msg.as_bytes(), &Limits::default());
        let off = Tokenizer::default().tokens(&view, usize::MAX);
        assert!(off.blocks.is_empty());
        // Every v4 token is still there, plus one block token per line of four words or more.
        assert!(
            off.hashes
                .iter()
                .all(|h| on.hashes.binary_search(h).is_ok())
        );
        assert_eq!(on.hashes.len(), off.hashes.len() + 2);
        assert_eq!(on.blocks.len(), 2);
        assert!(on.blocks.iter().all(|b| !b.members.is_empty()));
        // "there" is only in a block line; "short" is not in any.
        let h = |t: &str| crate::tokenize::hash_token(t) & !crate::tokenize::HEADER_POOL_BIT;
        assert!(on.blocks.iter().any(|b| b.members.contains(&h("there"))));
        assert!(on.blocks.iter().all(|b| !b.members.contains(&h("short"))));
        // A pair across two lines is outside the blocks.
        assert!(
            on.blocks
                .iter()
                .all(|b| !b.members.contains(&h("line hello")))
        );
        assert!(on.hashes.binary_search(&h("line hello")).is_ok());
        // A pair across two block lines belongs to both.
        let both = on
            .blocks
            .iter()
            .filter(|b| b.members.contains(&h("mine stop")));
        assert_eq!(both.count(), 2);
    }

    #[test]
    fn a_word_also_outside_blocks_is_never_a_member() {
        let t = tokens(&format!("Subject: x\n\nsettings\n{FOOTER}"));
        let h = crate::tokenize::hash_token("settings") & !crate::tokenize::HEADER_POOL_BIT;
        assert!(t.blocks.iter().all(|b| !b.members.contains(&h)));
    }

    #[test]
    fn a_repeated_block_counts_once_and_a_new_one_through_its_words() {
        let t = tokens(&format!(
            "Subject: x\n\nhello there friend of mine\n{FOOTER}"
        ));
        let counts_with = |seen: u32| -> Vec<Counts> {
            t.hashes
                .iter()
                .map(|h| {
                    let footer = t.blocks.iter().find(|b| b.hash == *h).is_some_and(|b| {
                        b.members
                            .contains(&(crate::tokenize::hash_token("stop") & !(1 << 63)))
                    });
                    Counts {
                        spam: if footer { seen } else { 1 },
                        ham: 0,
                    }
                })
                .collect()
        };
        let footer = t
            .blocks
            .iter()
            .find(|b| b.members.len() > 10)
            .expect("footer block");
        let other = t
            .blocks
            .iter()
            .find(|b| b.hash != footer.hash)
            .expect("other");
        // Seen in 3 messages: the footer's words go, its token stays; the other line (seen
        // once) keeps its words and loses its token.
        let (h, c) = select(&t, &counts_with(3), 2, true).expect("selected");
        assert_eq!(h.len(), c.len());
        assert!(h.binary_search(&footer.hash).is_ok());
        // (The pair across the two lines, "mine stop", is also the other line's: it stays.)
        for m in &footer.members {
            let shared = other.members.contains(m);
            assert_eq!(h.binary_search(m).is_ok(), shared);
        }
        assert!(h.binary_search(&other.hash).is_err());
        assert!(other.members.iter().all(|m| h.binary_search(m).is_ok()));
        // Off, or nothing seen: every token but the block tokens.
        assert!(select(&t, &counts_with(3), 0, true).is_none());
        let (h1, _) = select(&t, &counts_with(1), 2, true).expect("selected");
        assert_eq!(h1.len(), t.hashes.len() - 2);
    }
}
