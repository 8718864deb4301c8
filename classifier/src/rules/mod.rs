//! Heuristic rules in SpamAssassin's rule language.
//!
//! Rules are data: files of `header`, `body`, `rawbody`, `uri`, `full` and `meta` rules with
//! `score`, `describe` and `tflags` lines, `include`s, `if`/`ifplugin` blocks and `eval:` calls
//! to built-in tests written in Rust ([`eval_tests`]). A SpamAssassin rule file loads as it is:
//! what mailsift supports is evaluated, and every construct it cannot honour is reported as a
//! [`LintIssue`] (file, line, rule) and skipped, never silently mis-scored.
//!
//! The default rule set (`classifier/rules/default.cf`) is compiled into the binary.
//!
//! # Cost
//! Loading parses text only. Regexes are compiled on first use; on the first evaluation a
//! literal prefilter is built (one Aho-Corasick automaton per text kind, over literals every
//! match must contain), so for each message only the rules whose literals occur run at all.
//! No regex can hang the filter: the main engine is linear-time, and the backtracking fallback
//! (look-around, back-references) has a step limit and runs only at the positions where a
//! linear superset of its pattern can start a match. A server compiles every regex at start-up
//! in a background thread ([`RuleSet::compile_all`]).
//!
//! # Semantics, as in SpamAssassin
//! * `header` rules see the decoded value (`:raw` for the undecoded one); several instances of a
//!   field are joined by newlines; a missing header is the empty string, or the `[if-unset: X]`
//!   value. `ALL` is every header as `Name: value` lines; `ToCc` is To and Cc; `MESSAGEID` is
//!   Message-Id, Resent-Message-Id and X-Message-Id; `EnvelopeFrom` is the envelope sender that
//!   a Received line recorded for the last untrusted relay, else Return-Path (and the like)
//!   above the Received lines, as SpamAssassin's `get_envelope_from`.
//! * The trust path ([`Networks`]): `X-Spam-Relays-Trusted`/`-Untrusted`/`-Internal`/`-External`
//!   and `ALL-TRUSTED`/`-UNTRUSTED`/`-INTERNAL`/`-EXTERNAL` are the Received chain parsed and
//!   split as SpamAssassin does (`trusted_networks`, `internal_networks`, `msa_networks`, or its
//!   inference when they are unset).
//! * `body` is the Subject and the visible text, one paragraph per line; `rawbody` the decoded
//!   parts before HTML reduction; `full` the raw message; `uri` each URL in turn.
//! * A rule without a `score` line scores 1.0; `__NAME` sub-rules score 0 and are never reported;
//!   `T_NAME` testing rules score 0.01, an unscored `tflags nice` rule -1. Four scores on a
//!   `score` line are SpamAssassin's score sets: mailsift uses set 2 (Bayes on, network tests
//!   off); `rules hits` and `rules stats` (rules alone) use set 0 ([`RuleSet::set_score_set`]).
//! * `eval:check_bayes` rules (SpamAssassin's BAYES_*) never hit: mailsift's own Bayes score
//!   stands for them.

mod approx;
mod atomic;
mod attempts;
mod bytemode;
mod cache;
mod captures;
mod casefold;
mod cost;
mod dates;
mod engines;
mod evals;
mod evals_html;
// SpamAssassin plugins emulated beyond the core evals (issue #12).
mod evals_freemail;
mod evals_local;
mod evals_mime;
mod evals_wlbl;
mod mimeheader;
mod mimeparts;
mod plugconf;
mod sahtml;
mod sahtml_color;
mod sahtml_entities;
mod saparts;
mod sauri;

/// The evals of the emulated plugins, after [`evals::EVALS`] and the HTML evals.
fn plugin_evals() -> impl Iterator<Item = &'static EvalDef> {
    evals_wlbl::WLBL_EVALS
        .iter()
        .chain(evals_freemail::FREEMAIL_EVALS.iter())
        .chain(evals_local::LOCAL_EVALS.iter())
}
mod evals_image;
mod evals_parse;
mod evals_rcvd;
mod evals_trust;
mod evals_uri;
mod htext;
mod installed;
mod issues;
mod linecut;
mod lines;
mod literals;
mod litindex;
mod meta;
mod parse;
mod pattern;
mod perlre;
mod prepare;
mod relays;
mod run;
mod setfilter;
mod split;
mod table;
mod texts;
mod trust;
mod wake;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::message::MessageView;
pub use cost::{Phase, RuleCost, RuleCosts};
use evals::{Arg, EvalDef};
pub use installed::{SpamAssassinRules, from_distribution, installed_rule_files};
pub use issues::{LintIssue, RulesError, Severity};
use litindex::LitIndex;
use meta::Expr;
use parse::{Builder, Source};
use pattern::Pattern;
use prepare::Group;
use texts::{Part, Texts, uri_count};
pub use trust::{NetSet, Networks};

/// The SpamAssassin score set rules load with: 2, Bayes on and network tests off, as mailsift
/// runs (its own Bayes score is always part of the total).
const DEFAULT_SCORE_SET: usize = 2;

/// The default rule set, embedded in the binary.
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.cf");

/// The default rules' prefilter literals, computed ahead of time (a test keeps the file
/// current; regenerate with `MAILSIFT_UPDATE_PREFILTER=1 cargo test -p mailsift-classifier
/// prefilter_table`). Saves parsing every regex at start-up; an entry is used only when its
/// fingerprint matches the loaded rule's pattern, so a stale table costs time, never accuracy.
const DEFAULT_PREFILTER: &str = include_str!("../../rules/default.prefilter");

/// What a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleKind {
    /// A header field (`header`).
    Header,
    /// The visible body text with the Subject (`body`).
    Body,
    /// The decoded body before HTML reduction (`rawbody`).
    RawBody,
    /// Each URL (`uri`).
    Uri,
    /// The whole raw message (`full`).
    Full,
    /// A boolean or arithmetic expression over other rules (`meta`).
    Meta,
}

impl RuleKind {
    /// The keyword that defines rules of this kind.
    pub fn keyword(self) -> &'static str {
        match self {
            RuleKind::Header => "header",
            RuleKind::Body => "body",
            RuleKind::RawBody => "rawbody",
            RuleKind::Uri => "uri",
            RuleKind::Full => "full",
            RuleKind::Meta => "meta",
        }
    }
}

/// Per-message inputs besides the message itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalContext {
    /// The Bayes spam probability, if Bayes ran (read by `eval:check_bayes`).
    pub bayes_probability: Option<f64>,
    /// The current time, seconds since the Unix epoch (date checks fall back to it when a
    /// message has no Received time).
    pub now: i64,
}

impl Default for EvalContext {
    fn default() -> Self {
        EvalContext {
            bayes_probability: None,
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        }
    }
}

/// A rule that hit, with the points it adds.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleHit {
    /// The rule name.
    pub name: String,
    /// Its score.
    pub score: f64,
    /// Its description.
    pub description: String,
}

/// Read-only facts about one rule.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo<'a> {
    /// The rule name.
    pub name: &'a str,
    /// What it looks at.
    pub kind: RuleKind,
    /// Its score (after overrides).
    pub score: f64,
    /// Its `describe` text (may be empty for rule files without one).
    pub description: &'a str,
    /// The file that defined it.
    pub origin: &'a str,
    /// The line that defined it.
    pub line: usize,
    /// The definition as written (`body NAME /re/i`).
    pub source: &'a str,
    /// For `eval:` rules: the documentation of the built-in test.
    pub eval_doc: Option<&'static str>,
}

/// A built-in eval test's documentation.
#[derive(Debug, Clone, Copy)]
pub struct EvalTestDoc {
    /// The name after `eval:`.
    pub name: &'static str,
    /// Its argument list.
    pub signature: &'static str,
    /// What it tests.
    pub doc: &'static str,
}

/// The built-in eval tests, in registry order.
pub fn eval_tests() -> impl Iterator<Item = EvalTestDoc> {
    evals::all().map(|e| EvalTestDoc {
        name: e.name,
        signature: e.signature,
        doc: e.doc,
    })
}

/// Which header a `header` rule reads, and how.
#[derive(Debug, Clone)]
pub(crate) struct HeaderTarget {
    /// Identifies name and modifiers, for caching the text per message.
    pub key: String,
    pub name: String,
    pub raw: bool,
    pub addr: bool,
    pub display_name: bool,
    pub host: bool,
    pub domain: bool,
    pub first: bool,
    pub last: bool,
    /// Read as a header *rule* reads it (SpamAssassin's `get` in list context, its bug 8121):
    /// `:addr` and `:name` give every address (name) of every instance, one a line. Evals
    /// read the first one.
    pub every: bool,
    /// Read as the built-in rules were scored: encoded words in East Asian charsets as UTF-8,
    /// as mail-parser reads them, where the rules of SpamAssassin's files decode them as
    /// SpamAssassin does (message/charsets.rs; E38 in corpora/EXPERIMENTS.md).
    pub lossy: bool,
    /// Each value ends with a newline, as SpamAssassin's `get` returns a header's value (the
    /// header rules of loaded files, whose patterns read `$` as Perl does; see
    /// [`HeaderTarget::sa_reading`]).
    pub newline: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Test {
    Header {
        target: HeaderTarget,
        pattern: Pattern,
        negate: bool,
        if_unset: Option<String>,
    },
    /// `exists:NAME`: the header (or pseudo-header, such as `ToCc`) is present.
    Exists(HeaderTarget),
    Regex(Pattern),
    Eval {
        def: &'static EvalDef,
        args: Vec<Arg>,
    },
    Meta(Expr),
    /// `mimeheader`: a header of any MIME part (MIMEHeader plugin).
    MimeHeader(mimeheader::MimeHeaderTest),
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub name: String,
    pub kind: RuleKind,
    pub test: Test,
    pub score: f64,
    /// The rule's scores in SpamAssassin's four score sets; `None` once a user override
    /// fixed the score.
    pub set_scores: Option<[f64; 4]>,
    pub description: String,
    pub origin: String,
    pub line: usize,
    pub source: String,
    /// 1 normally; more with `tflags multiple` (hit counts feed meta arithmetic).
    pub max_hits: u32,
    /// `tflags nosubject`: a body rule that does not see the Subject line.
    pub no_subject: bool,
    /// A body rule of a loaded file that SpamAssassin runs before its header evals, so it
    /// reads the body before FreeMail's `_parse_body` edits it (`Env::sa_body_lines_edited`):
    /// where sa-compile compiled it for the Rule2XSBody plugin, which runs those rules first
    /// at their priority (installed.rs, [`installed::compiled_body_rules`]).
    pub unedited_body: bool,
    /// Skipped (cycle, or redefined by an unsupported line): never hits.
    pub disabled: bool,
}

impl Rule {
    fn reported(&self) -> bool {
        self.score != 0.0 && !self.name.starts_with("__") && !self.disabled
    }

    /// Whether the rule's regex reads captured tags (see `captures.rs`).
    fn reads_tags(&self) -> bool {
        matches!(&self.test, Test::Header { pattern, .. } | Test::Regex(pattern)
            if pattern.template.is_some())
    }
}

/// A loaded rule set: parsed rules with scores, ready to evaluate messages.
///
/// `Send + Sync`: share one per process (behind `&` or an `Arc`); compiled regexes and the
/// prefilter are built once, on first use, by whichever thread gets there first.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone, Default)]
struct Inner {
    /// The SpamAssassin score set in use (see [`RuleSet::set_score_set`]).
    score_set: usize,
    rules: Vec<Rule>,
    index: HashMap<String, usize>,
    sources: Vec<Source>,
    issues: Vec<LintIssue>,
    /// Precomputed prefilter literals (the default set's table), if any.
    precomputed: Option<&'static str>,
    /// Plugin settings read from the rule files (lists, free-mail domains).
    conf: Arc<plugconf::PluginConf>,
    /// Prefilter literals read back from a cache (see [`RuleSet::use_prefilter_cache`]).
    cached_prefilter: Option<Arc<str>>,
    /// The trust-path settings (`trusted_networks` and friends).
    networks: Networks,
    /// [`RuleSet::uses_bayes`], fixed once read (going through the rules took ~50 us a message).
    uses_bayes: bool,
    prepared: OnceLock<Prepared>,
}

/// The literal prefilter of the header rules on one header target.
#[derive(Debug, Clone)]
struct HeaderIndex {
    index: LitIndex,
    /// literal id → prefilter slot.
    owner: Vec<usize>,
}

/// A pattern's prefilter: clauses of literals, each match holding one literal of every clause
/// ([`literals::required_clauses`]).
pub(crate) type Clauses = Vec<Vec<Vec<u8>>>;

/// One prefilter table row: rule (or `RULE|k` alternative) name, pattern fingerprint, clauses.
type TableRow = (String, u64, Option<Clauses>);

#[derive(Debug, Clone)]
struct Prepared {
    /// Every literal set the prefilter uses, for a prefilter cache.
    rows: Vec<TableRow>,
    /// How many of `rows` were computed (not found in a table).
    computed: usize,
    /// Built by [`RuleSet::prepare_now`] for many messages: faster scanning, costlier set-up.
    long_lived: bool,
    /// Whether a rule must be evaluated for normal scoring.
    needed: Vec<bool>,
    /// The direct text rules and their texts ([`run::text_part`]), for `RuleSet::text_work`.
    text_parts: Vec<(usize, texts::Part)>,
    /// Meta rules (not disabled), dependencies first.
    metas: meta::Program,
    body: Group,
    rawbody: Group,
    full: Group,
    uri: Group,
    /// Header rules' literal sets (lower-cased), by rule index.
    header_lits: HashMap<usize, Vec<Vec<u8>>>,
    /// The header rules' literal prefilter: one index per header target (by
    /// [`HeaderTarget::key`]) over the literals of every header rule, or alternative of a
    /// split one, on that target; its text is scanned once per message.
    header_index: HashMap<String, HeaderIndex>,
    /// Each header rule's prefilter slot (a split rule's alternative `k`: slot + `k`), by rule
    /// index; `usize::MAX` for the rules without literals.
    header_slot: Vec<usize>,
    /// Number of header prefilter slots.
    header_slots: usize,
    /// Each header and `exists:` rule's target, numbered from 0 (by [`HeaderTarget::key`]),
    /// by rule index; `usize::MAX` for the other rules. `RuleSet::run_others` keeps each
    /// target's text by this number (a hash lookup of the key per rule was about 8% of its
    /// time).
    header_target: Vec<usize>,
    /// How many header targets are numbered.
    header_targets: usize,
    /// The direct rules other than the text rules, in definition order: what
    /// `RuleSet::run_others` runs (without reading the ~1,300 text rules of the stock set).
    others: Vec<usize>,
    /// How many of the direct rules needed for scoring are text rules (body, rawbody, full
    /// regexes): with many, a long-lived set matches them on two threads.
    text_rules: usize,
    /// Rules matched alternative by alternative, by rule index.
    splits: HashMap<usize, Split>,
    /// Number of alternatives over all splits.
    branches: usize,
    /// Alternatives (flat ids) without literals: always run.
    always_branches: Vec<usize>,
    /// By rule index: how a body rule of a loaded file matches SpamAssassin's lines, worked
    /// out on the rule's first use ([`lines::line_mode`]).
    line_modes: Vec<OnceLock<lines::LineMode>>,
    /// Rules whose named groups set tags, and rules that read tags (run after every other
    /// direct rule, with regexes made per message); see `captures.rs`.
    capturing: Vec<usize>,
    templates: Vec<usize>,
    template_cache: captures::TemplateCache,
}

/// A rule matched as separately compiled alternatives, each behind its own literals.
#[derive(Debug, Clone)]
struct Split {
    /// Flat id of the first alternative.
    base: usize,
    patterns: Vec<Pattern>,
    /// Each alternative's literals (lower-cased), in clauses; `None`: always run that
    /// alternative.
    lits: Vec<Option<Clauses>>,
}

/// The pattern of a rule that may be matched alternative by alternative: header rules and
/// single-hit body, rawbody and full rules (counting and per-URI matching stay whole).
fn splittable(r: &Rule) -> Option<&Pattern> {
    match &r.test {
        Test::Header { pattern, .. } => Some(pattern),
        Test::Regex(p) if r.kind != RuleKind::Uri && r.max_hits <= 1 => Some(p),
        _ => None,
    }
}

fn reader(p: &Path) -> std::io::Result<String> {
    std::fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned())
}

impl RuleSet {
    /// The embedded default rule set. Cannot fail: a test keeps it lint-clean.
    pub fn default_rules() -> RuleSet {
        let src = Source {
            origin: "<default>".to_owned(),
            text: Cow::Borrowed(DEFAULT_RULES),
            path: None,
        };
        Self::build(vec![src]).0
    }

    /// Loads rule texts, given as (origin name, text) pairs; later texts override earlier ones
    /// (a later `score` or redefinition wins). `include` is not available for in-memory texts.
    pub fn load(sources: &[(String, String)]) -> (RuleSet, Vec<LintIssue>) {
        let srcs = sources
            .iter()
            .map(|(o, t)| Source {
                origin: o.clone(),
                text: Cow::Owned(t.clone()),
                path: None,
            })
            .collect();
        Self::build(srcs)
    }

    /// This rule set plus rule files, read in order (each may override what came before);
    /// `include` lines resolve relative to the including file.
    pub fn with_files(self, paths: &[PathBuf]) -> Result<(RuleSet, Vec<LintIssue>), RulesError> {
        let mut srcs = self.inner.sources.clone();
        for p in paths {
            let text = reader(p).map_err(|source| RulesError::Read {
                path: p.clone(),
                source,
            })?;
            srcs.push(Source {
                origin: p.display().to_string(),
                text: Cow::Owned(text),
                path: Some(p.clone()),
            });
        }
        match Self::build_checked(srcs) {
            (_, _, Some(why)) => Err(RulesError::IncludeLoop(why)),
            (rules, issues, None) => Ok((rules, issues)),
        }
    }

    /// Loads only the given files (no default rules), for `mailsift rules lint FILES`.
    pub fn from_files(paths: &[PathBuf]) -> Result<(RuleSet, Vec<LintIssue>), RulesError> {
        RuleSet::default().with_files(paths)
    }

    fn build(sources: Vec<Source>) -> (RuleSet, Vec<LintIssue>) {
        let (rules, issues, _) = Self::build_checked(sources);
        (rules, issues)
    }

    /// [`RuleSet::build`], and the include loop that makes the files unusable, if any.
    fn build_checked(sources: Vec<Source>) -> (RuleSet, Vec<LintIssue>, Option<String>) {
        let mut b = Builder::new(&reader);
        for s in &sources {
            b.add_source(s);
        }
        let fatal = b.fatal.take();
        let conf = Arc::new(std::mem::take(&mut b.conf));
        let networks = std::mem::take(&mut b.networks);
        let (rules, index, issues) = b.finish(DEFAULT_SCORE_SET);
        let uses_bayes = rules.iter().any(|r| {
            !r.disabled && matches!(&r.test, Test::Eval { def, .. } if def.name == "check_bayes")
        });
        (
            RuleSet {
                inner: Arc::new(Inner {
                    score_set: DEFAULT_SCORE_SET,
                    rules,
                    index,
                    sources,
                    issues: issues.clone(),
                    // Entries are checked by fingerprint, so the default table is safe to
                    // offer to any rule set that includes the default rules.
                    precomputed: Some(DEFAULT_PREFILTER),
                    conf,
                    cached_prefilter: None,
                    networks,
                    uses_bayes,
                    prepared: OnceLock::new(),
                }),
            },
            issues,
            fatal,
        )
    }

    /// Overrides scores by rule name. An unknown name is an error with a "did you mean" hint;
    /// nothing is changed then.
    pub fn set_scores(&mut self, overrides: &BTreeMap<String, f64>) -> Result<(), RulesError> {
        for (name, &score) in overrides {
            if !score.is_finite() {
                return Err(RulesError::BadScore {
                    name: name.clone(),
                    score,
                });
            }
            if !self.inner.index.contains_key(name) {
                let best = self
                    .inner
                    .rules
                    .iter()
                    .map(|r| {
                        (
                            parse::edit_distance(
                                &r.name.to_ascii_uppercase(),
                                &name.to_ascii_uppercase(),
                            ),
                            &r.name,
                        )
                    })
                    .min();
                let hint = match best {
                    Some((d, n)) if d <= 3.max(name.len() / 3) => format!("; did you mean '{n}'?"),
                    _ => String::new(),
                };
                return Err(RulesError::UnknownRule {
                    name: name.clone(),
                    hint,
                });
            }
        }
        let inner = Arc::make_mut(&mut self.inner);
        for (name, &score) in overrides {
            if let Some(&i) = inner.index.get(name) {
                inner.rules[i].score = score;
                inner.rules[i].set_scores = None;
            }
        }
        // Which rules need evaluating may have changed.
        inner.prepared = OnceLock::new();
        Ok(())
    }

    /// Switches to one of SpamAssassin's score sets: 0 without Bayes or network tests, 1 with
    /// network tests, 2 with Bayes (the default: mailsift always adds its Bayes score), 3 with
    /// both. Rules given one score (and scores overridden with [`RuleSet::set_scores`]) keep it.
    pub fn set_score_set(&mut self, set: usize) {
        let set = set.min(3);
        let inner = Arc::make_mut(&mut self.inner);
        inner.score_set = set;
        for r in &mut inner.rules {
            if let Some(s) = r.set_scores {
                r.score = s[set];
            }
        }
        inner.prepared = OnceLock::new();
    }

    /// Applies a trust-path setting (`trusted_networks`, `internal_networks`, `msa_networks`,
    /// or a `clear_*` form) on top of what the rule files said; an error names the bad entry.
    pub fn set_networks(&mut self, keyword: &str, value: &str) -> Result<(), String> {
        let inner = Arc::make_mut(&mut self.inner);
        match inner.networks.apply(keyword, value)? {
            true => Ok(()),
            false => Err(format!("'{keyword}' is not a trust-path setting")),
        }
    }

    /// The trust-path settings in force.
    pub fn networks(&self) -> &Networks {
        &self.inner.networks
    }

    /// True when some rule reads the Bayes probability (`eval:check_bayes`), so rules must run
    /// after Bayes.
    pub fn uses_bayes(&self) -> bool {
        self.inner.uses_bayes
    }

    /// The issues found when this set was loaded (what `load`/`with_files` returned).
    pub fn issues(&self) -> &[LintIssue] {
        &self.inner.issues
    }

    /// Number of rules loaded (including sub-rules and zero-scored ones).
    pub fn len(&self) -> usize {
        self.inner.rules.len()
    }

    /// True when no rule is loaded.
    pub fn is_empty(&self) -> bool {
        self.inner.rules.is_empty()
    }

    fn info<'a>(&self, r: &'a Rule) -> RuleInfo<'a> {
        RuleInfo {
            name: &r.name,
            kind: r.kind,
            score: r.score,
            description: &r.description,
            origin: &r.origin,
            line: r.line,
            source: &r.source,
            eval_doc: match &r.test {
                Test::Eval { def, .. } => Some(def.doc),
                _ => None,
            },
        }
    }

    /// All rules, in definition order.
    pub fn iter(&self) -> impl Iterator<Item = RuleInfo<'_>> {
        self.inner
            .rules
            .iter()
            .filter(|r| !r.disabled)
            .map(|r| self.info(r))
    }

    /// One rule by name.
    pub fn get(&self, name: &str) -> Option<RuleInfo<'_>> {
        self.inner
            .index
            .get(name)
            .map(|&i| &self.inner.rules[i])
            .filter(|r| !r.disabled)
            .map(|r| self.info(r))
    }

    /// Rule names close to `name`, nearest first (for "did you mean" hints).
    pub fn similar_names(&self, name: &str, max: usize) -> Vec<&str> {
        let up = name.to_ascii_uppercase();
        let mut v: Vec<(usize, &str)> = self
            .inner
            .rules
            .iter()
            .map(|r| {
                (
                    parse::edit_distance(&r.name.to_ascii_uppercase(), &up),
                    r.name.as_str(),
                )
            })
            .filter(|(d, _)| *d <= 3.max(name.len() / 3))
            .collect();
        v.sort_unstable();
        v.into_iter().take(max).map(|(_, n)| n).collect()
    }

    /// Compiles every regex now and reports those that fail, for `mailsift rules lint`.
    /// (Loading alone does not compile, to keep start-up cheap.)
    pub fn lint_patterns(&self) -> Vec<LintIssue> {
        let mut out = Vec::new();
        for r in &self.inner.rules {
            let p = match &r.test {
                Test::Header { pattern, .. } | Test::Regex(pattern) => pattern,
                Test::MimeHeader(m) => &m.pattern,
                _ => continue,
            };
            if let Err(e) = p.compiled() {
                out.push(LintIssue {
                    origin: r.origin.clone(),
                    line: r.line,
                    rule: Some(r.name.clone()),
                    message: format!("regex does not compile: {e}; rule never hits"),
                    severity: Severity::Error,
                });
            }
        }
        out
    }

    /// How many rules use the backtracking engine and how many regexes are compiled so far.
    pub fn engine_stats(&self) -> EngineStats {
        let mut s = EngineStats::default();
        for r in &self.inner.rules {
            if let Test::Header { pattern, .. } | Test::Regex(pattern) = &r.test {
                s.regexes += 1;
                if pattern.translated.needs_backtracking {
                    s.backtracking += 1;
                }
                if pattern.is_compiled() {
                    s.compiled += 1;
                }
            }
        }
        s
    }

    /// Builds the prefilter now rather than on the first evaluation, for a process that will
    /// evaluate many messages (a server, an evaluation): the first message is then as fast as
    /// the rest, and the literal prefilter is an Aho-Corasick automaton, which costs a few
    /// hundred microseconds to build and scans several times faster than the index a
    /// one-message process builds (measured in BENCHMARKS.md, "classify server"). Does nothing
    /// if the rule set has been used already.
    pub fn prepare_now(&self) {
        let _ = self.inner.prepared.get_or_init(|| self.prepare(true));
    }

    fn prepared(&self) -> &Prepared {
        self.inner.prepared.get_or_init(|| self.prepare(false))
    }

    /// Evaluates the rules on a message: the scoring hits, sorted by (score descending, name).
    /// Zero-scored rules and `__` sub-rules are evaluated when a meta needs them but are not
    /// reported.
    pub fn evaluate(&self, view: &MessageView, ctx: &EvalContext) -> Vec<RuleHit> {
        self.hits_of(&self.run(view, ctx, false))
    }

    /// The scoring hits of an evaluation's per-rule counts, as [`RuleSet::evaluate`] sorts them.
    fn hits_of(&self, counts: &[u32]) -> Vec<RuleHit> {
        let mut hits: Vec<RuleHit> = self
            .inner
            .rules
            .iter()
            .zip(counts)
            .filter(|(r, c)| **c > 0 && r.reported())
            .map(|(r, _)| RuleHit {
                name: r.name.clone(),
                score: r.score,
                description: r.description.clone(),
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.name.cmp(&b.name))
        });
        hits
    }

    /// Evaluates every rule, whatever its score, and returns the names of all that hit
    /// (sub-rules included), in definition order. For statistics, tuning and fixtures.
    pub fn evaluate_all(&self, view: &MessageView, ctx: &EvalContext) -> Vec<&str> {
        let counts = self.run(view, ctx, true);
        self.inner
            .rules
            .iter()
            .zip(&counts)
            .filter(|(r, c)| **c > 0 && !r.disabled)
            .map(|(r, _)| r.name.as_str())
            .collect()
    }
}

/// Counts of regex engines in a rule set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Rules with a regex.
    pub regexes: usize,
    /// Of those, rules needing the bounded backtracking engine.
    pub backtracking: usize,
    /// Regexes compiled so far in this process.
    pub compiled: usize,
}

#[cfg(test)]
mod tests;
