//! Analysing a message in its two halves (the view, then its tokens and digest), and with its
//! rules at once, for a server answering one message at a time: the tokenizer then runs on one
//! of the rules' threads ([`RuleSet::evaluate_beside`]).
//!
//! [`RuleSet::evaluate_beside`]: crate::rules::RuleSet::evaluate_beside

use std::sync::OnceLock;

use super::{Analysis, Engine};
use crate::headers;
use crate::ledger::Digest;
use crate::message::MessageView;
use crate::rules::RuleHit;
use crate::tokenize::Tokens;

impl Engine {
    /// [`Engine::analyze_for`], and the rule hits [`Engine::verdict_with`] then needs when
    /// the rules run before Bayes (`None` when they need its result): the message is
    /// tokenized on one of the rules' threads while they run, for a server answering one
    /// message at a time. The same analysis and hits as computed one after the other.
    pub fn analyze_with_hits(
        &self,
        raw: &[u8],
        recipients: &[String],
    ) -> (Analysis, Option<Vec<RuleHit>>) {
        if !self.rules_first() {
            return (self.analyze_for(raw, recipients), None);
        }
        let view = self.view_for(raw, recipients);
        let rest = OnceLock::new();
        let beside = || {
            let _ = rest.set(self.tokens_and_digest(&view, raw));
        };
        let hits = self
            .rules
            .evaluate_beside(&view, &Self::context(None), &beside);
        // The rules run `beside` once whatever they do: the fallback is not reached.
        let (tokens, digest) = rest
            .into_inner()
            .unwrap_or_else(|| self.tokens_and_digest(&view, raw));
        let analysis = Analysis {
            view,
            tokens,
            digest,
        };
        (analysis, Some(hits))
    }

    /// The parsed view of `raw` as delivered to `recipients`: the first half of
    /// [`Engine::analyze_for`].
    pub(super) fn view_for(&self, raw: &[u8], recipients: &[String]) -> MessageView {
        let mut view = MessageView::parse(raw, &self.limits);
        view.envelope_to = recipients.to_vec();
        view
    }

    /// The tokens of `view` and the ledger digest of `raw`: the rest of [`Engine::analyze_for`].
    pub(super) fn tokens_and_digest(&self, view: &MessageView, raw: &[u8]) -> (Tokens, Digest) {
        (
            self.tokenizer.tokens(view, self.limits.max_tokens),
            headers::digest(raw),
        )
    }

    /// Whether [`Engine::verdict`] runs the rules before Bayes (their pseudo-tokens are read
    /// with the message's tokens).
    pub(super) fn rules_first(&self) -> bool {
        self.combination.enabled && !self.rules.uses_bayes()
    }
}
