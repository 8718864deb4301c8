//! What every subcommand shares: global options, configuration, the engine and the store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use mailsift::{Config, Engine, OpenMode, Store, StoreOptions};

/// `println!` that returns write errors (a closed pipe, as in `mailsift eval | head`) instead of
/// panicking; `main` turns a broken pipe into a quiet exit.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// Exit code for errors outside classify's filter path.
pub const EXIT_ERROR: u8 = 2;

/// Options for every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Token database [default: $XDG_DATA_HOME/mailsift/mailsift.db].
    #[arg(long, global = true, env = "MAILSIFT_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Use (and train) this user's model on top of the site-wide one.
    // A name may start with '-' (the documented character set allows it): taken as the value.
    #[arg(
        long,
        global = true,
        env = "MAILSIFT_USER",
        value_name = "NAME",
        allow_hyphen_values = true
    )]
    pub user: Option<String>,
    /// Configuration file, read after /etc/mailsift/config.toml and the user's file.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print less: no progress, no summaries.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

impl Global {
    /// The database path: --db, $MAILSIFT_DB, else the XDG data directory.
    pub fn db_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.db {
            return Ok(p.clone());
        }
        // `[store] db` in the configuration (e.g. one Redis URL for every host).
        if let Ok(config) = Config::load(self.config.as_deref()) {
            if let Some(p) = config.store.db {
                return Ok(p);
            }
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .context("cannot find a place for the database: set --db, MAILSIFT_DB or HOME")?;
        Ok(base.join("mailsift/mailsift.db"))
    }

    /// The user, validated.
    pub fn user(&self) -> Result<Option<&str>> {
        match self.user.as_deref() {
            Some(u) => {
                mailsift::store::validate_user(u)?;
                Ok(Some(u))
            }
            None => Ok(None),
        }
    }
}

/// Loads the layered configuration.
pub fn load_config(global: &Global) -> Result<Config> {
    Ok(Config::load(global.config.as_deref())?)
}

/// Loads the configuration for a command that needs no engine (`stats`, `db`), checking it as
/// fully as the others do: rule files and `[scores]` names too, so a configuration that
/// `classify` would reject is never silently accepted.
pub fn load_checked_config(global: &Global) -> Result<Config> {
    let config = load_config(global)?;
    engine_with(&config, false)?;
    Ok(config)
}

/// Builds the engine from a configuration, reporting problems in extra rule files as one line
/// on stderr (details: `mailsift rules lint`).
pub fn engine_from(config: &Config) -> Result<Engine> {
    engine_with(config, true)
}

/// Builds the engine; with `report_lint` false, problems in rule files are not printed
/// (`classify` runs once per message: the mail log must not repeat them for every message).
pub fn engine_with(config: &Config, report_lint: bool) -> Result<Engine> {
    let mut engine = Engine::new();
    engine.limits = config.limits.clone();
    engine.bayes = config.bayes.clone();
    engine.scoring.required_score = config.required_score;
    if let Some(w) = config.bayes_weight {
        engine.scoring.bayes_weight = w;
    }
    engine.combination = config.combination.clone();
    engine.token_lr = config.learner;
    let mut files = mailsift::rules::SpamAssassinRules::parse(&config.spamassassin_rules)
        .files()
        .map_err(|e| {
            anyhow::anyhow!(
                "spamassassin_rules = \"{}\": {e}; set \"auto\", \"off\" or a rules directory",
                config.spamassassin_rules
            )
        })?;
    // E40: SpamAssassin's rules beside the built-in ones fire on the same evidence.
    let both_sets = config.builtin_rules && !files.is_empty();
    let family = config.rule_overlap.family(both_sets);
    if family != mailsift::overlap::Family::Off {
        engine.scoring.rule_overlap = family;
        engine.scoring.rule_overlap_decay = config.rule_overlap_decay;
        engine.scoring.rule_overlap_with_bayes = true;
    }
    files.extend(config.rule_files.iter().cloned());
    if !config.builtin_rules {
        engine.rules = mailsift::rules::RuleSet::default();
    }
    if !files.is_empty() {
        let (rules, issues) = engine
            .rules
            .with_files(&files)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if report_lint {
            report_rule_problems(&issues);
        }
        engine.rules = rules;
        // Literals of these rules' prefilter, from an earlier process (issue #12, speed).
        crate::rules_cache::load(&mut engine.rules);
    }
    for (key, list) in config.networks() {
        if !list.is_empty() {
            engine
                .rules
                .set_networks(key, &list.join(" "))
                .map_err(|e| anyhow::anyhow!("configuration {key}: {e}"))?;
        }
    }
    engine.rules.set_scores(&config.scores).map_err(|e| {
        // Name the file that holds the bad entry: that is where the user fixes it.
        let name = match &e {
            mailsift::rules::RulesError::UnknownRule { name, .. }
            | mailsift::rules::RulesError::BadScore { name, .. } => Some(name.as_str()),
            _ => None,
        };
        match name {
            Some(n) => anyhow::anyhow!("{}: {e}", config.score_origin(n)),
            None => anyhow::anyhow!("{e}"),
        }
    })?;
    Ok(engine)
}

/// The rule-file problems worth a line on every command: those in the administrator's own
/// files (the site's `local.cf`, `rule_files`, a rules directory of their choosing). What
/// mailsift skips of the rules SpamAssassin's packages install (the packaged rules,
/// sa-update's) is not theirs to fix and is the same on every run: network tests mostly,
/// which SpamAssassin without network tests does not run either. With `spamassassin_rules =
/// "auto"`, every `train`, `score` and `explain` used to say "165 problem(s) in rule files"
/// for those alone. `rules lint` lists them all.
fn report_rule_problems(issues: &[mailsift::rules::LintIssue]) {
    let own: Vec<&str> = issues
        .iter()
        .filter(|i| {
            i.severity != mailsift::rules::Severity::Info
                && !mailsift::rules::from_distribution(Path::new(&i.origin))
        })
        .map(|i| i.origin.as_str())
        .collect();
    if own.is_empty() {
        return;
    }
    let mut files = own.clone();
    files.sort_unstable();
    files.dedup();
    let shown = files.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    let more = match files.len() {
        n if n > 3 => format!(" and {} other file(s)", n - 3),
        _ => String::new(),
    };
    eprintln!(
        "mailsift: warning: {} problem(s) in {shown}{more} (unsupported rules are skipped); \
         run 'mailsift rules lint' for details",
        own.len()
    );
}

/// Loads configuration and builds the engine.
pub fn load_engine(global: &Global) -> Result<Engine> {
    engine_from(&load_config(global)?)
}

/// Store options from configuration.
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        busy_timeout: Duration::from_millis(config.store.busy_timeout_ms),
        user_weight: config.store.user_weight.max(1),
    }
}

/// Opens the store.
pub fn open_store(global: &Global, config: &Config, mode: OpenMode) -> Result<Store> {
    let path = global.db_path()?;
    Ok(Store::open(&path, mode, store_options(config))?)
}

/// Reads a message file, or stdin for '-'.
pub fn read_message(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)
            .context("cannot read standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// True when the error is a broken pipe on output (e.g. `mailsift score ... | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// An error with its causes, `: `-separated as `{:#}` prints them, leaving out a cause whose
/// text is already in the message: library errors that show their cause and also return it
/// from `source()` printed it twice (`cannot read index X: No such file...: No such file...`).
pub fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.is_empty() {
            out = text;
        } else if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_prints_each_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let doubled = mailsift::Error::Io {
            context: "cannot read index x".into(),
            source: io(),
        };
        let e = anyhow::Error::new(doubled);
        assert_eq!(
            format!("{e:#}"),
            "cannot read index x: No such file: No such file"
        );
        assert_eq!(chain(&e), "cannot read index x: No such file");
        let e = anyhow::Error::new(io()).context("opening y");
        assert_eq!(chain(&e), "opening y: No such file");
    }
}
