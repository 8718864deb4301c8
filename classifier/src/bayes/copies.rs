//! Copies of one body left out of the counts (corpora/EXPERIMENTS.md E47).
//!
//! Bayes treats every learned message as an independent witness, and one message learned twice
//! as two. That is right for a spam run sent to many addresses (the second copy is as spammy as
//! the first), and wrong for one newsletter issue delivered to a subscriber (ham) and to
//! someone who reports it (spam): the copy learned first teaches each of its hundreds of words
//! with its label, and those outvote the one thing that tells the two apart, the recipient's
//! own history with the sender.
//!
//! The tokenizer's copy tokens (`dup:BODY`, and `dupr:BODY|ADDR` per delivery recipient,
//! [`crate::tokenize::Tokens::content`]) count the learned copies of a body, in all and per
//! recipient. With [`BayesParams::dup_leave_out`] 2 (the default), when copies were learned
//! that went to *other* recipients and this message's recipient already has a history of
//! its own with the sender or list (a recipient pair with support,
//! [`BayesParams::dup_pair_support`]), those copies' counts are taken out of the totals and of
//! every token's counts but the recipient pairs' (which name this message's recipients):
//! exact for every token the copies shared with this message, which is nearly all of them. The
//! message is then judged by everything else the model knows, the recipient's pairs among
//! it. Copies to this message's own recipient stay: the same body to the same recipient is
//! the same judgement. The copy tokens themselves are never evidence.

use super::{BayesParams, Counts, Totals};
use crate::tokenize::Tokens;

impl BayesParams {
    /// The counts to combine when the message's copy tokens have counts: the copy tokens
    /// zeroed (they are no evidence), and the copies left out as the module documentation
    /// says; with the totals, and the copies left out (zero when none were). `None` when the
    /// copy tokens have no counts, so the counts as read are the ones to combine.
    pub(super) fn copies(
        &self,
        tokens: &Tokens,
        counts: &[Counts],
        totals: Totals,
    ) -> Option<(Vec<Counts>, Totals, Counts)> {
        let at = |h: &u64| tokens.hashes.binary_search(h).ok();
        let i = at(&tokens.content?)?;
        let all = *counts.get(i)?;
        if all == Counts::default() {
            return None;
        }
        let mut out = counts.to_vec();
        out[i] = Counts::default();
        let mut own = Counts::default();
        for j in tokens.content_rcpt.iter().filter_map(at) {
            if let Some(c) = out.get_mut(j) {
                own.spam = own.spam.max(c.spam);
                own.ham = own.ham.max(c.ham);
                *c = Counts::default();
            }
        }
        let left = match self.dup_leave_out {
            1 => all,
            2 => Counts {
                spam: all.spam.saturating_sub(own.spam),
                ham: all.ham.saturating_sub(own.ham),
            },
            _ => Counts::default(),
        };
        if left == Counts::default() || self.pair_history(tokens, counts) < self.dup_pair_support {
            return Some((out, totals, Counts::default()));
        }
        // The recipient pairs name this message's recipients, which the copies did not go to.
        for (h, c) in tokens.hashes.iter().zip(&mut out) {
            if tokens.recipient_pairs.binary_search(h).is_err() {
                c.spam = c.spam.saturating_sub(left.spam);
                c.ham = c.ham.saturating_sub(left.ham);
            }
        }
        let totals = Totals {
            spam: totals.spam.saturating_sub(u64::from(left.spam)),
            ham: totals.ham.saturating_sub(u64::from(left.ham)),
        };
        Some((out, totals, left))
    }

    /// The most support any of the message's recipient pairs has (the sender pairs only
    /// without [`BayesParams::dup_any_pair`]).
    fn pair_history(&self, tokens: &Tokens, counts: &[Counts]) -> u32 {
        let candidates = if self.dup_any_pair {
            &tokens.recipient_pairs
        } else {
            &tokens.pairs
        };
        candidates
            .iter()
            .filter_map(|h| counts.get(tokens.hashes.binary_search(h).ok()?))
            .map(|c| c.spam.saturating_add(c.ham))
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUP: u64 = 900;
    const OWN: u64 = 901;
    const PAIR: u64 = 950;
    const TOTALS: Totals = Totals {
        spam: 200,
        ham: 200,
    };

    /// Forty content tokens learned once as ham and never as spam (the other copy, plus
    /// `extra` more), the copy tokens at `dup` and `own`, the recipient pair at `pair`.
    fn message(extra: Counts, dup: Counts, own: Counts, pair: Counts) -> (Tokens, Vec<Counts>) {
        let mut hashes: Vec<u64> = (1..=40).collect();
        let content = Counts {
            spam: extra.spam + dup.spam,
            ham: extra.ham + dup.ham,
        };
        let mut counts = vec![content; 40];
        hashes.extend([DUP, OWN, PAIR]);
        counts.extend([dup, own, pair]);
        let tokens = Tokens {
            hashes,
            content: Some(DUP),
            content_rcpt: vec![OWN],
            recipient_pairs: vec![PAIR],
            ..Tokens::default()
        };
        (tokens, counts)
    }

    const NONE: Counts = Counts { spam: 0, ham: 0 };
    const ONE_HAM: Counts = Counts { spam: 0, ham: 1 };

    #[test]
    fn a_copy_for_another_recipient_is_left_out_when_this_one_has_history() {
        let history = Counts { spam: 3, ham: 0 };
        let (tokens, counts) = message(NONE, ONE_HAM, NONE, history);
        let r = BayesParams::default().combine_tokens(&tokens, &counts, TOTALS);
        assert_eq!(r.copies_left_out, ONE_HAM);
        // Nothing is left of the content's evidence: only the pair (three spam) speaks.
        assert!(r.evidence.iter().all(|e| e.hash == PAIR), "{r:?}");
        assert!(r.probability > 0.5, "{r:?}");
        // Off: the copy's forty ham words decide.
        let off = BayesParams {
            dup_leave_out: 0,
            ..BayesParams::default()
        };
        let r = off.combine_tokens(&tokens, &counts, TOTALS);
        assert_eq!(r.copies_left_out, NONE);
        assert!(r.probability < 0.01, "{r:?}");
        // The copy tokens are never evidence themselves.
        assert!(r.evidence.iter().all(|e| e.hash != DUP && e.hash != OWN));
    }

    #[test]
    fn copies_for_the_same_recipient_stay() {
        let (tokens, counts) = message(NONE, ONE_HAM, ONE_HAM, Counts { spam: 0, ham: 5 });
        let r = BayesParams::default().combine_tokens(&tokens, &counts, TOTALS);
        assert_eq!(r.copies_left_out, NONE);
        assert!(r.probability < 0.01, "{r:?}");
        // Every copy, with 1.
        let all = BayesParams {
            dup_leave_out: 1,
            ..BayesParams::default()
        };
        assert_eq!(
            all.combine_tokens(&tokens, &counts, TOTALS).copies_left_out,
            ONE_HAM
        );
    }

    #[test]
    fn without_a_history_of_its_own_the_copy_counts() {
        // A spam run to a new recipient: the first copy's label is the best evidence there is.
        let spam = Counts { spam: 1, ham: 0 };
        let (tokens, counts) = message(NONE, spam, NONE, NONE);
        let r = BayesParams::default().combine_tokens(&tokens, &counts, TOTALS);
        assert_eq!(r.copies_left_out, NONE);
        assert!(r.probability > 0.99, "{r:?}");
    }

    #[test]
    fn the_totals_and_other_messages_counts_remain() {
        // The words were also in two other spam: those still count once the copy is out.
        let extra = Counts { spam: 2, ham: 0 };
        let (tokens, counts) = message(extra, ONE_HAM, NONE, Counts { spam: 0, ham: 1 });
        let (out, totals, left) = BayesParams::default()
            .copies(&tokens, &counts, TOTALS)
            .expect("copies");
        assert_eq!(left, ONE_HAM);
        assert_eq!(out[0], extra);
        assert_eq!((out[40], out[41]), (NONE, NONE));
        assert_eq!(
            out[42], ONE_HAM,
            "the recipient's own pair keeps its history"
        );
        assert_eq!(
            totals,
            Totals {
                spam: 200,
                ham: 199
            }
        );
    }

    #[test]
    fn copy_tokens_never_learned_change_nothing() {
        let (tokens, counts) = message(Counts { spam: 4, ham: 1 }, NONE, NONE, NONE);
        assert_eq!(
            BayesParams::default().copies(&tokens, &counts, TOTALS),
            None
        );
    }
}
