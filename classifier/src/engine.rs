//! The pipeline: raw bytes → [`Analysis`] (view, tokens, digest; pure, parallelisable) →
//! [`Verdict`] (Bayes against a model + rule hits, combined into one score).
//!
//! # How Bayes becomes points
//! The total score is the sum of the rule hits' scores plus a Bayes contribution
//! `bayes_points = confidence × bayes_weight × tanh(log_odds / bayes_softness)`, where
//! `log_odds` is [`BayesResult::log_odds`] and `confidence` ramps from 0 (nothing trained) to 1
//! (see [`crate::bayes`]). It is continuous, so messages rank by the strength of their Bayes
//! evidence, not by which SpamAssassin band they fall in. `X-Spam-Status` still names the band
//! (`BAYES_00` … `BAYES_99`, `BAYES_999`) from the probability, as SpamAssassin does, so that
//! existing filing rules keep working.

use serde::Deserialize;

use crate::bayes::{BayesParams, BayesResult};
use crate::combination;
use crate::error::{Error, Result};
use crate::headers;
use crate::learn::{self, Combination, Feature, LearnParams};
use crate::ledger::{Action, Digest, LearnOp};
use crate::limits::Limits;
use crate::message::MessageView;
use crate::model::TokenCounts;
use crate::rules::{EvalContext, RuleHit, RuleSet};
use crate::tokenize::{Pairs, Tokenizer, Tokens};

mod bayes_weight;
mod beside;

/// How rule points and Bayes evidence combine into one score.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scoring {
    /// Score at or above which a message is spam.
    pub required_score: f64,
    /// Points a fully confident Bayes verdict adds (or, for ham, subtracts).
    pub bayes_weight: f64,
    /// Log-odds scale over which the Bayes contribution saturates.
    pub bayes_softness: f64,
    /// The curve that maps Bayes log-odds into points.
    pub bayes_map: BayesMap,
    /// With [`BayesMap::Indicator`]: the share of the Bayes points that come from the
    /// log-odds (`Ratio`) rather than from the indicator, to order messages the indicator ties.
    pub bayes_tiebreak: f64,
    /// The share of their configured points the rules count for while Bayes has no say (an
    /// empty or one-class store, or `bayes_weight` 0); 1 once both classes are trained. Like
    /// SpamAssassin's score set without Bayes: rules alone must be safer than rules beside a
    /// trained Bayes, which outvotes their mistakes.
    pub rules_only_scale: f64,
    /// Which rule hits count as one family for [`Scoring::rule_overlap_decay`]
    /// ([`crate::overlap`]; E30).
    pub rule_overlap: crate::overlap::Family,
    /// Within a family, the positive hit ranked `r` (largest first, from 0) counts
    /// `1 / (1 + decay·r)` of its points; 0 counts every hit in full.
    pub rule_overlap_decay: f64,
    /// Whether the discount also applies once Bayes has a say; if not (the default), only
    /// while the rules count alone (the same regime as [`Scoring::rules_only_scale`]).
    pub rule_overlap_with_bayes: bool,
}

/// The curve from Bayes log-odds `x = log_odds / bayes_softness` to a fraction of
/// `bayes_weight`, in (−1, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BayesMap {
    /// `tanh(x)`: saturates (in f64, exactly ±1 beyond |x| ≈ 19).
    Tanh,
    /// `x / (1 + |x|)`: saturates slowly and never ties.
    Ratio,
    /// Robinson's indicator `2p − 1` (p = [`BayesResult::probability`]), which is near 0 when
    /// the message has strong evidence both ways, with `Ratio` × 1e-3 added to break its ties
    /// at ±1 (see [`Scoring::bayes_tiebreak`]).
    Indicator,
}

impl BayesMap {
    fn apply(self, x: f64, probability: f64, tiebreak: f64) -> f64 {
        let ratio = x / (1.0 + x.abs());
        match self {
            BayesMap::Tanh => x.tanh(),
            BayesMap::Ratio => ratio,
            BayesMap::Indicator => (2.0 * probability - 1.0) * (1.0 - tiebreak) + tiebreak * ratio,
        }
    }
}

impl Default for Scoring {
    fn default() -> Self {
        // Provenance: corpora/EXPERIMENTS.md. Indicator over tanh: E3; weight 12 and
        // tiebreak 0.3 with the default rules (required 5, SpamAssassin's): E11.
        Scoring {
            required_score: 5.0,
            bayes_weight: 12.0,
            bayes_softness: 20.0,
            bayes_map: BayesMap::Indicator,
            bayes_tiebreak: 0.3,
            // E19: the largest multiple of 0.05 at which the rules alone flag at most 0.1% of
            // the ham (half issue 11's 0.2% limit) on every corpus.
            rules_only_scale: 0.65,
            rule_overlap: crate::overlap::Family::Off,
            rule_overlap_decay: 0.0,
            rule_overlap_with_bayes: false,
        }
    }
}

/// Everything about a message that does not depend on the model: computed once, in parallel
/// when there are many messages.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The parsed view.
    pub view: MessageView,
    /// Its tokens.
    pub tokens: Tokens,
    /// Its ledger digest.
    pub digest: Digest,
}

impl Analysis {
    /// The operation that learns (or forgets) this message's tokens, without rule evidence:
    /// [`Engine::op`] adds the rule pseudo-tokens of the learned combination.
    pub fn op(&self, action: Action) -> LearnOp {
        LearnOp {
            digest: self.digest,
            tokens: self.tokens.clone(),
            rules: Vec::new(),
            action,
            lr: None,
        }
    }
}

/// The verdict on one message, with the evidence behind it.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// True when `score >= required`.
    pub is_spam: bool,
    /// The total score.
    pub score: f64,
    /// The threshold it was compared with.
    pub required: f64,
    /// The Bayes result.
    pub bayes: BayesResult,
    /// Points Bayes contributed to `score`.
    pub bayes_points: f64,
    /// SpamAssassin-style band name for the Bayes probability, when Bayes had evidence.
    pub bayes_band: Option<&'static str>,
    /// Rule hits, sorted by (score desc, name).
    pub hits: Vec<RuleHit>,
    /// The weight each hit counted for (same order as `hits`): its configured score, or the
    /// learned combination's weight for it ([`crate::combination`]). Before
    /// [`Engine::rule_scale`].
    pub weights: Vec<f64>,
    /// Points the token learner added to `score` ([`crate::logreg`]; 0 while it is off).
    pub lr_points: f64,
    /// The share of its points towards spam that the Bayes evidence counted for: 1, or the
    /// learned combination's weight for its band ([`crate::combination`], E26).
    pub bayes_factor: f64,
}

impl Verdict {
    /// Names for `tests=`: the Bayes band first, then rule hits in order.
    pub fn test_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::with_capacity(self.hits.len() + 1);
        if let Some(b) = self.bayes_band {
            names.push(b);
        }
        names.extend(self.hits.iter().map(|h| h.name.as_str()));
        names
    }

    /// The `X-Spam-*` fields mailsift adds, in order. Long values are folded with `"\n\t"`.
    pub fn header_fields(&self) -> Vec<(String, String)> {
        let flag = if self.is_spam { "YES" } else { "NO" };
        let tests = self.test_names();
        let tests = if tests.is_empty() {
            "none".to_owned()
        } else {
            tests.join(",")
        };
        let status = format!(
            "{}, score={:.1} required={:.1} tests={} version=mailsift-{}",
            if self.is_spam { "Yes" } else { "No" },
            self.score,
            self.required,
            tests,
            env!("CARGO_PKG_VERSION")
        );
        vec![
            ("X-Spam-Flag".to_owned(), flag.to_owned()),
            ("X-Spam-Score".to_owned(), format!("{:.1}", self.score)),
            (
                "X-Spam-Bayes".to_owned(),
                format!("{:.4}", self.bayes.probability),
            ),
            (
                "X-Spam-Status".to_owned(),
                fold(&status, 78 - "X-Spam-Status: ".len()),
            ),
        ]
    }
}

/// Folds a header value at spaces or commas so that no line exceeds `width` characters.
fn fold(value: &str, width: usize) -> String {
    let mut out = String::with_capacity(value.len() + 16);
    let mut line_len = 0;
    for (i, word) in value.split(' ').enumerate() {
        let mut pieces: Vec<&str> = Vec::new();
        // Split long comma lists after commas.
        let mut rest = word;
        while rest.len() > width {
            match rest[..width].rfind(',') {
                Some(p) => {
                    pieces.push(&rest[..=p]);
                    rest = &rest[p + 1..];
                }
                None => break,
            }
        }
        pieces.push(rest);
        for (j, piece) in pieces.iter().enumerate() {
            let sep = if i == 0 && j == 0 {
                0
            } else if j == 0 {
                1
            } else {
                0
            };
            if line_len > 0 && line_len + sep + piece.len() > width {
                out.push_str("\n\t");
                line_len = 0;
            } else if sep == 1 {
                out.push(' ');
                line_len += 1;
            }
            out.push_str(piece);
            line_len += piece.len();
        }
    }
    out
}

/// The band of a Bayes result when Bayes had a say (evidence and some confidence).
pub fn band_of(bayes: &BayesResult) -> Option<&'static str> {
    (!bayes.evidence.is_empty() && bayes.confidence > 0.0).then(|| bayes_band(bayes.probability))
}

/// SpamAssassin's Bayes bands.
pub fn bayes_band(p: f64) -> &'static str {
    match p {
        p if p >= 0.999 => "BAYES_999",
        p if p >= 0.99 => "BAYES_99",
        p if p >= 0.95 => "BAYES_95",
        p if p >= 0.80 => "BAYES_80",
        p if p >= 0.60 => "BAYES_60",
        p if p >= 0.40 => "BAYES_50",
        p if p >= 0.20 => "BAYES_40",
        p if p >= 0.05 => "BAYES_20",
        p if p >= 0.01 => "BAYES_05",
        _ => "BAYES_00",
    }
}

/// The classifier: settings and rules, no I/O. Cheap to share between threads.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    /// Input caps.
    pub limits: Limits,
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// Bayes parameters.
    pub bayes: BayesParams,
    /// Score combination.
    pub scoring: Scoring,
    /// Heuristic rules.
    pub rules: RuleSet,
    /// The learned combination's settings (experiments only; off by default).
    pub learn: LearnParams,
    /// The discriminative token learner's settings (experiments only; off by default).
    pub token_lr: crate::logreg::TokenLrParams,
    /// The learned per-site and per-user rule weights (on by default; issue 11, E23).
    pub combination: crate::combination::CombinationParams,
}

impl Engine {
    /// The default engine: default limits, tokenizer, Bayes parameters and the built-in rules.
    pub fn new() -> Self {
        Engine {
            rules: RuleSet::default_rules(),
            ..Engine::default()
        }
    }

    /// Overrides one setting by name, for experiments (`mailsift eval --set key=value`): the
    /// Bayes parameters (`unknown_strength`, `unknown_prob`, `min_dev`, `max_tokens`, `ramp`,
    /// `combiner`, `same_counts_cap`, `same_counts_min`, `sides_share`, `pair_pull`,
    /// `pair_support`, `pair_purity`, and E47's copies: `dup_leave_out`, `dup_pair_support`,
    /// `dup_any_pair`), the scoring (`required_score`, `bayes_weight`, `bayes_softness`,
    /// `bayes_map`, `bayes_tiebreak`, `rules_only_scale`, `rule_overlap`,
    /// `rule_overlap_decay`, `rule_overlap_with_bayes`), the rules (`rules` = `none|default`,
    /// to measure Bayes alone) and the tokenizer (`pairs` = `none|bigrams|osbN`,
    /// `min_word_chars`, `max_word_chars`, `all_headers`, `received_hops`, `header_presence`,
    /// `urls`, `structure`, `keep_case`, the recipient tokens `recipients`, `recipient_lists`,
    /// `recipient_names`, the copy tokens `copies`, and E31's repeated blocks: `blocks`,
    /// `block_min_words`, `block_min_count`, `block_token`, see [`crate::blocks`]) and the
    /// learned combination (`learn_rate`, `learn_temperature`, `learn_ham_cost`,
    /// `learn_regularization`, `learn_margin`, `learn_rules`, `learn_pools`; see
    /// [`crate::learn`]). Tokenizer overrides change the token stream, so they are for
    /// fresh models only.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T>
        where
            T::Err: std::fmt::Display,
        {
            value
                .parse()
                .map_err(|e| Error::Config(format!("--set {key}={value}: {e}")))
        }
        let mut tok = self.tokenizer.config().clone();
        match key {
            "unknown_strength" => self.bayes.unknown_strength = parse(key, value)?,
            "unknown_prob" => self.bayes.unknown_prob = parse(key, value)?,
            "min_dev" => self.bayes.min_dev = parse(key, value)?,
            "max_tokens" => self.bayes.max_tokens = parse(key, value)?,
            "ramp" => self.bayes.ramp = parse(key, value)?,
            "combiner" => self.bayes.combiner = parse(key, value)?,
            "required_score" => self.scoring.required_score = parse(key, value)?,
            "bayes_weight" => self.scoring.bayes_weight = parse(key, value)?,
            "bayes_softness" => self.scoring.bayes_softness = parse(key, value)?,
            "bayes_tiebreak" => self.scoring.bayes_tiebreak = parse(key, value)?,
            "rules_only_scale" => self.scoring.rules_only_scale = parse(key, value)?,
            "rule_overlap" => self.scoring.rule_overlap = parse(key, value)?,
            "rule_overlap_decay" => self.scoring.rule_overlap_decay = parse(key, value)?,
            "rule_overlap_with_bayes" => {
                self.scoring.rule_overlap_with_bayes = parse(key, value)?;
            }
            "rules" => match value {
                "none" => self.rules = RuleSet::default(),
                "default" => self.rules = RuleSet::default_rules(),
                _ => {
                    return Err(Error::Config(format!(
                        "--set rules={value}: expected none or default"
                    )));
                }
            },
            "bayes_map" => {
                self.scoring.bayes_map = match value {
                    "tanh" => BayesMap::Tanh,
                    "ratio" => BayesMap::Ratio,
                    "indicator" => BayesMap::Indicator,
                    _ => {
                        return Err(Error::Config(format!(
                            "--set bayes_map={value}: expected tanh, ratio or indicator"
                        )));
                    }
                }
            }
            "pairs" => {
                tok.pairs = match value {
                    "none" => Pairs::None,
                    "bigrams" => Pairs::Bigrams,
                    _ => match value.strip_prefix("osb") {
                        Some(n) => Pairs::Osb {
                            window: parse(key, n)?,
                        },
                        None => {
                            return Err(Error::Config(format!(
                                "--set pairs={value}: expected none, bigrams or osbN"
                            )));
                        }
                    },
                }
            }
            "min_word_chars" => tok.min_word_chars = parse(key, value)?,
            "max_word_chars" => tok.max_word_chars = parse(key, value)?,
            "all_headers" => tok.all_headers = parse(key, value)?,
            "received_hops" => tok.received_hops = parse(key, value)?,
            "header_presence" => tok.header_presence = parse(key, value)?,
            "urls" => tok.urls = parse(key, value)?,
            "structure" => tok.structure = parse(key, value)?,
            "keep_case" => tok.keep_case = parse(key, value)?,
            "body_share" => self.bayes.body_share = parse(key, value)?,
            "learn_rate" => self.learn.rate = parse(key, value)?,
            "learn_temperature" => self.learn.temperature = parse(key, value)?,
            "learn_ham_cost" => self.learn.ham_cost = parse(key, value)?,
            "learn_regularization" => self.learn.regularization = parse(key, value)?,
            "learn_margin" => self.learn.margin = parse(key, value)?,
            "learn_rules" => self.learn.rules = parse(key, value)?,
            "learn_pools" => self.learn.pools = parse(key, value)?,
            "ramp_geometric" => self.bayes.ramp_geometric = parse(key, value)?,
            "same_counts_cap" => self.bayes.same_counts_cap = parse(key, value)?,
            "same_counts_min" => self.bayes.same_counts_min = parse(key, value)?,
            "sides_share" => self.bayes.sides_share = parse(key, value)?,
            "pair_pull" => self.bayes.pair_pull = parse(key, value)?,
            "pair_support" => self.bayes.pair_support = parse(key, value)?,
            "pair_purity" => self.bayes.pair_purity = parse(key, value)?,
            "dup_leave_out" => {
                self.bayes.dup_leave_out = parse(key, value)?;
                if self.bayes.dup_leave_out > 2 {
                    return Err(Error::Config(format!(
                        "--set {key}={value}: expected 0, 1 or 2"
                    )));
                }
            }
            "dup_pair_support" => self.bayes.dup_pair_support = parse(key, value)?,
            "dup_any_pair" => self.bayes.dup_any_pair = parse(key, value)?,
            "urls_in_body_pool" => tok.urls_in_body_pool = parse(key, value)?,
            "recipients" => tok.recipients = parse(key, value)?,
            "recipient_lists" => tok.recipient_lists = parse(key, value)?,
            "recipient_names" => tok.recipient_names = parse(key, value)?,
            "copies" => tok.copies = parse(key, value)?,
            "copy_text" => tok.copy_text = parse(key, value)?,
            "blocks" => tok.blocks = parse(key, value)?,
            "block_min_words" => tok.block_min_words = parse(key, value)?,
            "block_min_count" => self.bayes.block_min_count = parse(key, value)?,
            "block_token" => self.bayes.block_token = parse(key, value)?,
            "combination" => self.combination.enabled = parse(key, value)?,
            "combination_strength" => self.combination.prior_strength = parse(key, value)?,
            "combination_ratio" => self.combination.full_ratio = parse(key, value)?,
            "combination_bayes" => self.combination.bayes = parse(key, value)?,
            "combination_bayes_ratio" => self.combination.bayes_ratio = parse(key, value)?,
            k if k.starts_with("lr_") => {
                if !self
                    .token_lr
                    .set(k, value)
                    .map_err(|e| Error::Config(format!("--set {k}={value}: {e}")))?
                {
                    return Err(Error::Config(format!(
                        "--set {k}: unknown setting (see TokenLrParams::set)"
                    )));
                }
            }
            "pools" => {
                self.bayes.pools = parse(key, value)?;
                tok.mark_pools = self.bayes.pools;
            }
            _ => {
                return Err(Error::Config(format!(
                    "--set {key}: unknown setting (see Engine::set for the list)"
                )));
            }
        }
        self.tokenizer = Tokenizer::new(tok);
        Ok(())
    }

    /// Tells the engine a message is about to be classified (a server has accepted a
    /// request): see [`RuleSet::expect_message`]. Changes no result.
    pub fn expect_message(&self) {
        self.rules.expect_message();
    }

    /// Parses, tokenizes and digests a message. Never fails, never panics.
    pub fn analyze(&self, raw: &[u8]) -> Analysis {
        self.analyze_for(raw, &[])
    }

    /// [`Engine::analyze`] for a message the MTA delivers to these envelope recipients
    /// (`classify --recipient`, a milter's RCPT TO): they become its first recipient tokens
    /// ([`crate::recipients`]). The digest is the message's alone.
    pub fn analyze_for(&self, raw: &[u8], recipients: &[String]) -> Analysis {
        let view = self.view_for(raw, recipients);
        let (tokens, digest) = self.tokens_and_digest(&view, raw);
        Analysis {
            view,
            tokens,
            digest,
        }
    }

    /// Bayes evidence for an analysed message.
    pub fn bayes(&self, analysis: &Analysis, model: &dyn TokenCounts) -> Result<BayesResult> {
        let mut counts = Vec::new();
        let totals = model.read(&analysis.tokens.hashes, &mut counts)?;
        Ok(self.bayes.combine_tokens(&analysis.tokens, &counts, totals))
    }

    /// Rule hits for an analysed message.
    pub fn rule_hits(&self, analysis: &Analysis, bayes: Option<&BayesResult>) -> Vec<RuleHit> {
        self.rules.evaluate(&analysis.view, &Self::context(bayes))
    }

    /// What the rules are evaluated with: the time now, and the Bayes probability if known.
    pub(super) fn context(bayes: Option<&BayesResult>) -> EvalContext {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        EvalContext {
            bayes_probability: bayes.map(|b| b.probability),
            now,
        }
    }

    /// The operation that learns (or forgets) an analysed message: its tokens and, with the
    /// learned combination on, the pseudo-tokens of the rules it hits (the rules run here,
    /// without Bayes, so a rule that tests the Bayes probability is not learned).
    pub fn op(&self, analysis: &Analysis, action: Action) -> LearnOp {
        let hits = if self.combination.enabled {
            self.rule_hits(analysis, None)
        } else {
            Vec::new()
        };
        self.op_with_hits(analysis, &hits, action)
    }

    /// [`Engine::op`] with the rule hits already known.
    pub fn op_with_hits(&self, analysis: &Analysis, hits: &[RuleHit], action: Action) -> LearnOp {
        let mut op = analysis.op(action);
        if self.combination.enabled {
            op.rules = crate::combination::rule_tokens(hits);
        }
        op.lr = self.token_lr.enabled().then_some(self.token_lr);
        op
    }

    /// Reads `hashes`' counts, and with the token learner on its slots too (one round trip).
    fn read_model(
        &self,
        model: &dyn TokenCounts,
        hashes: &[u64],
        counts: &mut Vec<crate::bayes::Counts>,
        lr: &mut crate::logreg::LrRead,
    ) -> Result<crate::bayes::Totals> {
        if self.token_lr.enabled() {
            model.read_lr(hashes, counts, lr)
        } else {
            model.read(hashes, counts)
        }
    }

    /// Bayes evidence for an analysed message and, with the token learner on, its margin
    /// (one read of the model).
    pub fn bayes_lr(
        &self,
        analysis: &Analysis,
        model: &dyn TokenCounts,
    ) -> Result<(BayesResult, Option<f64>)> {
        let hashes = &analysis.tokens.hashes;
        let (mut counts, mut lr) = (Vec::new(), crate::logreg::LrRead::default());
        let totals = self.read_model(model, hashes, &mut counts, &mut lr)?;
        let margin = self
            .token_lr
            .enabled()
            .then(|| lr.margin(&self.token_lr, hashes.len()));
        Ok((
            self.bayes.combine_tokens(&analysis.tokens, &counts, totals),
            margin,
        ))
    }

    /// Adds the token learner's points for `margin` to a verdict (E25).
    pub fn add_learner(&self, verdict: &mut Verdict, margin: Option<f64>) {
        if let Some(m) = margin {
            verdict.lr_points = self.token_lr.points(m);
            verdict.score += verdict.lr_points;
            verdict.is_spam = verdict.score >= verdict.required;
        }
    }

    /// The weight each hit counts for against `model`: the learned combination's
    /// ([`crate::combination`]), or the configured scores when it is off.
    pub fn rule_weights(&self, hits: &[RuleHit], model: &dyn TokenCounts) -> Result<Vec<f64>> {
        if !self.combination.enabled || hits.is_empty() {
            return Ok(hits.iter().map(|h| h.score).collect());
        }
        let tokens: Vec<u64> = hits
            .iter()
            .map(|h| crate::combination::rule_token(&h.name))
            .collect();
        let mut counts = Vec::new();
        let totals = model.read(&tokens, &mut counts)?;
        Ok(self.combination.weights(hits, &counts, totals))
    }

    /// Combines Bayes evidence and rule hits into a verdict, each hit counting its learned
    /// weight against `model` ([`Engine::rule_weights`]).
    pub fn combine_with(
        &self,
        bayes: BayesResult,
        hits: Vec<RuleHit>,
        model: &dyn TokenCounts,
    ) -> Result<Verdict> {
        let mut tokens: Vec<u64> = hits
            .iter()
            .map(|h| combination::rule_token(&h.name))
            .collect();
        if self.learned_band(&bayes).is_some() {
            tokens.extend(combination::bayes_tokens());
        }
        if !self.combination.enabled || tokens.is_empty() {
            return Ok(self.combine(bayes, hits));
        }
        let mut counts = Vec::new();
        let totals = model.read(&tokens, &mut counts)?;
        Ok(self.weigh(bayes, hits, &counts, totals))
    }

    /// The verdict with the learned combination's weights: each hit's from the first
    /// `hits.len()` counts of `evidence` (its rule pseudo-tokens), the Bayes evidence's from
    /// the rest (the band pseudo-tokens, [`combination::bayes_tokens`]).
    fn weigh(
        &self,
        bayes: BayesResult,
        hits: Vec<RuleHit>,
        evidence: &[crate::bayes::Counts],
        totals: crate::bayes::Totals,
    ) -> Verdict {
        let (rules, bands) = evidence.split_at(hits.len().min(evidence.len()));
        let band = self.learned_band(&bayes);
        let weights = self.combination.weights(&hits, rules, totals);
        let mut v = self.combine_weighted(bayes, hits, weights);
        self.scale_bayes(&mut v, self.combination.bayes_factor(band, bands));
        v
    }

    /// Combines Bayes evidence and rule hits into a verdict, each hit counting its configured
    /// score.
    pub fn combine(&self, bayes: BayesResult, hits: Vec<RuleHit>) -> Verdict {
        let weights = hits.iter().map(|h| h.score).collect();
        self.combine_weighted(bayes, hits, weights)
    }

    /// Combines Bayes evidence and rule hits, hit `i` counting `weights[i]` points.
    pub fn combine_weighted(
        &self,
        bayes: BayesResult,
        hits: Vec<RuleHit>,
        weights: Vec<f64>,
    ) -> Verdict {
        let s = &self.scoring;
        let bayes_points = if bayes.evidence.is_empty() {
            0.0
        } else {
            bayes.confidence
                * s.bayes_weight
                * s.bayes_map.apply(
                    bayes.log_odds / s.bayes_softness.max(1e-9),
                    bayes.probability,
                    s.bayes_tiebreak.clamp(0.0, 1.0),
                )
        };
        let rules_alone = !(s.bayes_weight > 0.0 && bayes.confidence > 0.0);
        let weights = if rules_alone || s.rule_overlap_with_bayes {
            crate::overlap::discount(
                &hits,
                &weights,
                &self.rules,
                s.rule_overlap,
                s.rule_overlap_decay,
            )
        } else {
            weights
        };
        let rule_points = weights.iter().sum::<f64>() * self.rule_scale(&bayes);
        let mut v = self.verdict_from(bayes, bayes_points, rule_points + bayes_points, hits);
        v.weights = weights;
        v
    }

    /// The factor on the rules' points for this Bayes result: [`Scoring::rules_only_scale`]
    /// while Bayes has no say (no confidence, or `bayes_weight` 0), else 1.
    pub fn rule_scale(&self, bayes: &BayesResult) -> f64 {
        let s = &self.scoring;
        if s.bayes_weight > 0.0 && bayes.confidence > 0.0 {
            1.0
        } else {
            s.rules_only_scale.clamp(0.0, 1.0)
        }
    }

    /// The learned combination's features of a message (see [`crate::learn`]).
    pub fn features(&self, bayes: &BayesResult, hits: &[RuleHit]) -> Vec<Feature> {
        let s = &self.scoring;
        let value = bayes.confidence
            * s.bayes_map.apply(
                bayes.log_odds / s.bayes_softness.max(1e-9),
                bayes.probability,
                s.bayes_tiebreak.clamp(0.0, 1.0),
            );
        learn::features(s, &self.learn, bayes, value, hits)
    }

    /// Combines Bayes evidence and rule hits with learned weights: the score is the sum of
    /// the features' contributions. Also returns the features, for [`Combination::update`].
    pub fn combine_learned(
        &self,
        bayes: BayesResult,
        hits: Vec<RuleHit>,
        combination: &Combination,
    ) -> (Verdict, Vec<Feature>) {
        let features = self.features(&bayes, &hits);
        let contributions = combination.contributions(&features);
        let score: f64 = contributions.iter().sum();
        let bayes_points: f64 = features
            .iter()
            .zip(&contributions)
            .filter(|(f, _)| !f.name.starts_with("rule:"))
            .map(|(_, c)| c)
            .sum();
        (
            self.verdict_from(bayes, bayes_points, score, hits),
            features,
        )
    }

    fn verdict_from(
        &self,
        bayes: BayesResult,
        bayes_points: f64,
        score: f64,
        hits: Vec<RuleHit>,
    ) -> Verdict {
        let s = &self.scoring;
        let bayes_band = band_of(&bayes);
        let weights = hits.iter().map(|h| h.score).collect();
        Verdict {
            is_spam: score >= s.required_score,
            score,
            required: s.required_score,
            bayes,
            bayes_points,
            bayes_band,
            hits,
            weights,
            lr_points: 0.0,
            bayes_factor: 1.0,
        }
    }

    /// Classifies an analysed message against a model.
    pub fn verdict(&self, analysis: &Analysis, model: &dyn TokenCounts) -> Result<Verdict> {
        self.verdict_with(analysis, None, model)
    }

    /// [`Engine::verdict`] with the rule hits [`Engine::analyze_with_hits`] gave, if any.
    pub fn verdict_with(
        &self,
        analysis: &Analysis,
        hits: Option<&[RuleHit]>,
        model: &dyn TokenCounts,
    ) -> Result<Verdict> {
        if self.rules_first() {
            // No rule needs the Bayes result: the rules run first, and their pseudo-tokens are
            // read with the message's tokens in one lookup (one round trip on Redis).
            let hits = match hits {
                Some(h) => h.to_vec(),
                None => self.rule_hits(analysis, None),
            };
            let n = analysis.tokens.hashes.len();
            let mut hashes = Vec::with_capacity(n + hits.len());
            hashes.extend_from_slice(&analysis.tokens.hashes);
            hashes.extend(hits.iter().map(|h| combination::rule_token(&h.name)));
            // Every learned band's pseudo-token too: the band is known only after Bayes.
            if self.combination.learns_bayes() {
                hashes.extend(combination::bayes_tokens());
            }
            let (mut counts, mut lr) = (Vec::new(), crate::logreg::LrRead::default());
            let totals = self.read_model(model, &hashes, &mut counts, &mut lr)?;
            let bayes = self
                .bayes
                .combine_tokens(&analysis.tokens, &counts[..n], totals);
            let mut v = self.weigh(bayes, hits, &counts[n..], totals);
            let margin = self
                .token_lr
                .enabled()
                .then(|| lr.margin(&self.token_lr, n));
            self.add_learner(&mut v, margin);
            return Ok(v);
        }
        let (bayes, margin) = self.bayes_lr(analysis, model)?;
        let hits = self.rule_hits(analysis, Some(&bayes));
        let mut v = self.combine_with(bayes, hits, model)?;
        self.add_learner(&mut v, margin);
        Ok(v)
    }

    /// Classifies raw message bytes against a model.
    pub fn classify(&self, raw: &[u8], model: &dyn TokenCounts) -> Result<Verdict> {
        self.verdict(&self.analyze(raw), model)
    }

    /// The message as it should be delivered: incoming `X-Spam-*` removed, ours added, the
    /// Subject tagged if spam and a tag is given. Every other byte unchanged.
    pub fn annotate(&self, raw: &[u8], verdict: &Verdict, subject_tag: Option<&str>) -> Vec<u8> {
        let tag = subject_tag.filter(|_| verdict.is_spam);
        headers::rewrite(raw, &verdict.header_fields(), tag)
    }
}

#[cfg(test)]
mod tests;
