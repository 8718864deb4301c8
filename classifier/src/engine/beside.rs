//! Analysing a message and running its rules at once, for a server answering one message at
//! a time: the tokenizer runs on one of the rules' threads ([`RuleSet::evaluate_beside`]).
//!
//! [`RuleSet::evaluate_beside`]: crate::rules::RuleSet::evaluate_beside

use std::sync::OnceLock;

use super::{Analysis, Engine};
use crate::headers;
use crate::message::MessageView;
use crate::rules::RuleHit;

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
        let mut view = MessageView::parse(raw, &self.limits);
        view.envelope_to = recipients.to_vec();
        let rest = OnceLock::new();
        let beside = || {
            let tokens = self.tokenizer.tokens(&view, self.limits.max_tokens);
            let _ = rest.set((tokens, headers::digest(raw)));
        };
        let hits = self
            .rules
            .evaluate_beside(&view, &Self::context(None), &beside);
        let (tokens, digest) = rest.into_inner().unwrap_or_else(|| {
            // Not reached: the rules run `beside` once whatever they do.
            (
                self.tokenizer.tokens(&view, self.limits.max_tokens),
                headers::digest(raw),
            )
        });
        let analysis = Analysis {
            view,
            tokens,
            digest,
        };
        (analysis, Some(hits))
    }

    /// Whether [`Engine::verdict`] runs the rules before Bayes (their pseudo-tokens are read
    /// with the message's tokens).
    pub(super) fn rules_first(&self) -> bool {
        self.combination.enabled && !self.rules.uses_bayes()
    }
}
