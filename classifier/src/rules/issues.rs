//! What loading rule files can report: lint issues and their severity, and the errors that
//! stop a load.

use std::path::PathBuf;

/// How bad a lint issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Informational: a setting that does not apply, a score for an undefined rule.
    Info,
    /// The rule or line is kept but not exactly as SpamAssassin would run it.
    Warning,
    /// The rule or line is skipped.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A problem found while loading or linting rule files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintIssue {
    /// The file (or `<default>` for the embedded set).
    pub origin: String,
    /// 1-based line number.
    pub line: usize,
    /// The rule concerned, if any.
    pub rule: Option<String>,
    /// What is wrong and what happens to the rule.
    pub message: String,
    /// How bad it is.
    pub severity: Severity,
}

/// Said of a rule skipped because it needs the network: SpamAssassin without network tests
/// never hits it either, so a meta over it is as faithful as SpamAssassin's.
pub(crate) const NEEDS_NETWORK: &str = "needs the network";

impl LintIssue {
    /// Whether this is a rule skipped because it needs the network (a network test, or a rule
    /// in a block for a network plugin or one of its features), which SpamAssassin with
    /// `dns_available no` does not run either: `rules lint` counts these apart and does not
    /// fail on them.
    pub fn needs_network(&self) -> bool {
        self.severity == Severity::Error
            && self.rule.is_some()
            && self.message.contains(NEEDS_NETWORK)
    }
}

impl std::fmt::Display for LintIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}: ", self.origin, self.line, self.severity)?;
        if let Some(r) = &self.rule {
            write!(f, "{r}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Errors from loading rule files and applying score overrides.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// A rule file could not be read.
    #[error("cannot read rule file {path}: {source} (check 'rule_files' in the configuration)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A score override names a rule that does not exist.
    #[error(
        "unknown rule '{name}' in score overrides{hint}; 'mailsift rules list' shows the rules"
    )]
    UnknownRule {
        /// The name as written.
        name: String,
        /// `; did you mean 'X'?`, or empty.
        hint: String,
    },
    /// Rule files include each other in a loop (or include far too many files).
    #[error("{0}: remove the include that closes the loop (see 'rule_files' in the configuration)")]
    IncludeLoop(String),
    /// A score override is not a finite number.
    #[error("score for rule '{name}' must be a finite number, got {score}")]
    BadScore {
        /// The rule.
        name: String,
        /// The value given.
        score: f64,
    },
}
