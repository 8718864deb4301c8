//! Configuration: TOML files layered over built-in defaults.
//!
//! Files are read in order — the system file (`/etc/mailsift/config.toml`), the user's file
//! (`$XDG_CONFIG_HOME/mailsift/config.toml`, else `~/.config/mailsift/config.toml`), then any
//! `--config PATH` — and each later file overrides the keys it sets. An unknown key is an error
//! naming the file and the keys that are allowed; an unknown rule name in `[scores]` is an error
//! with a "did you mean" hint (checked when the rules are loaded).
//!
//! ```toml
//! required_score = 5.0
//! subject_tag = "[SPAM]"            # prefix the Subject of spam
//! rule_files = ["/etc/mailsift/local.cf"]
//! spamassassin_rules = "off"        # or "auto", or a SpamAssassin rules directory
//!
//! [scores]                          # per-rule overrides
//! HTML_ONLY = 0.5
//!
//! [bayes]                           # see mailsift::bayes::BayesParams
//! min_dev = 0.1
//!
//! [limits]                          # see mailsift::Limits
//! max_scan_bytes = 1048576
//!
//! [store]
//! busy_timeout_ms = 10000
//! user_weight = 1
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bayes::BayesParams;
use crate::error::{Error, Result};
use crate::limits::Limits;

/// Store settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Milliseconds to wait for another process's write lock.
    pub busy_timeout_ms: u64,
    /// Weight of a user's own training against the site-wide model.
    pub user_weight: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            busy_timeout_ms: 10_000,
            user_weight: 1,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Score at or above which a message is spam.
    pub required_score: f64,
    /// Prefix for the Subject of spam (e.g. `"[SPAM]"`); none by default.
    pub subject_tag: Option<String>,
    /// Extra SpamAssassin-syntax rule files, loaded after the built-in rules.
    pub rule_files: Vec<PathBuf>,
    /// SpamAssassin's own rules: `"off"` (default), `"auto"` (the rules the installed
    /// SpamAssassin uses, see [`crate::rules::SpamAssassinRules`]) or a directory or file.
    /// Loaded after the built-in rules and before `rule_files`.
    pub spamassassin_rules: String,
    /// Per-rule score overrides.
    pub scores: BTreeMap<String, f64>,
    /// Points a fully confident Bayes verdict is worth (see [`crate::engine::Scoring`]).
    pub bayes_weight: Option<f64>,
    /// Bayes parameters.
    pub bayes: BayesParams,
    /// Input limits.
    pub limits: Limits,
    /// Store settings.
    pub store: StoreConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            required_score: crate::engine::Scoring::default().required_score,
            subject_tag: None,
            rule_files: Vec::new(),
            spamassassin_rules: "off".to_owned(),
            scores: BTreeMap::new(),
            bayes_weight: None,
            bayes: BayesParams::default(),
            limits: Limits::default(),
            store: StoreConfig::default(),
        }
    }
}

/// The system-wide configuration file.
pub const SYSTEM_CONFIG: &str = "/etc/mailsift/config.toml";

/// The per-user configuration file, from `XDG_CONFIG_HOME` or `HOME`.
pub fn user_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("mailsift/config.toml"))
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

impl Config {
    /// Parses one TOML document (for tests and embedding).
    pub fn from_toml(text: &str, origin: &str) -> Result<Config> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| Error::Config(format!("{origin}: {e}")))?;
        Self::from_table(table, origin)
    }

    fn from_table(table: toml::Table, origin: &str) -> Result<Config> {
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(format!("{origin}: {e}")))?;
        if !config.required_score.is_finite() {
            return Err(Error::Config(format!(
                "{origin}: required_score must be a number"
            )));
        }
        if let Some(bad) = config.scores.iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Config(format!(
                "{origin}: score for {} must be a finite number",
                bad.0
            )));
        }
        config.rule_files.retain(|p| !p.as_os_str().is_empty());
        Ok(config)
    }

    /// Loads the layered configuration: system file, user file (both optional), then
    /// `explicit` (which must exist). Relative `rule_files` are resolved against the file that
    /// names them.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        if let Some(p) = explicit {
            if !p.is_file() {
                return Err(Error::Config(format!(
                    "config file {} does not exist: check the --config path",
                    p.display()
                )));
            }
        }
        let layers = Self::layers(explicit);
        let mut merged = toml::Table::new();
        let mut origins = Vec::new();
        for path in &layers {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                context: format!("cannot read config file {}", path.display()),
                source,
            })?;
            let mut table: toml::Table = toml::from_str(&text)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            if let Some(toml::Value::Array(files)) = table.get_mut("rule_files") {
                let base = path.parent().unwrap_or(Path::new("/"));
                for f in files.iter_mut() {
                    if let toml::Value::String(s) = f {
                        *s = base.join(&*s).to_string_lossy().into_owned();
                    }
                }
            }
            // Each file must be valid on its own, so errors name the right file.
            Self::from_table(table.clone(), &path.display().to_string())?;
            merge(&mut merged, table);
            origins.push(path.display().to_string());
        }
        Self::from_table(merged, &origins.join(" + "))
    }

    /// The files [`Config::load`] reads, in order: the system file and the user's file when
    /// they exist, then `explicit`.
    pub fn layers(explicit: Option<&Path>) -> Vec<PathBuf> {
        let mut layers: Vec<PathBuf> = Vec::new();
        if Path::new(SYSTEM_CONFIG).is_file() {
            layers.push(PathBuf::from(SYSTEM_CONFIG));
        }
        if let Some(user) = user_config_path().filter(|p| p.is_file()) {
            layers.push(user);
        }
        if let Some(p) = explicit {
            layers.push(p.to_owned());
        }
        layers
    }

    /// A fingerprint of the configuration [`Config::load`] would read: the layer files' paths
    /// and contents, without parsing them. Two processes with the same fingerprint load the
    /// same configuration (as long as the rule files it names are unchanged), which is how
    /// `mailsift classify` checks that a classify server is configured as it is. A layer that
    /// cannot be read hashes as unreadable (loading it fails anyway).
    pub fn fingerprint(explicit: Option<&Path>) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for path in Self::layers(explicit) {
            h.update(path.as_os_str().as_encoded_bytes());
            h.update(&[0]);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    h.update(&(bytes.len() as u64).to_le_bytes());
                    h.update(&bytes);
                }
                Err(_) => h.update(b"\xffunreadable"),
            }
        }
        h.digest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_unknown_keys() {
        let c = Config::from_toml("required_score = 6.5\nsubject_tag = \"[SPAM]\"\n[scores]\nFOO = 1.5\n[bayes]\nmin_dev = 0.2\n", "t")
            .expect("valid");
        assert_eq!(c.required_score, 6.5);
        assert_eq!(c.scores["FOO"], 1.5);
        assert_eq!(c.bayes.min_dev, 0.2);
        let err = Config::from_toml("requried_score = 5\n", "t.toml").expect_err("typo");
        let msg = err.to_string();
        assert!(
            msg.contains("requried_score") && msg.contains("required_score"),
            "{msg}"
        );
        assert!(Config::from_toml("[bayes]\nbogus = 1\n", "t").is_err());
    }

    #[test]
    fn fingerprint_follows_the_explicit_file() {
        let dir = std::env::temp_dir().join(format!("mailsift-fp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("c.toml");
        std::fs::write(&f, "required_score = 5.0\n").expect("write");
        let a = Config::fingerprint(Some(&f));
        assert_eq!(a, Config::fingerprint(Some(&f)), "stable");
        std::fs::write(&f, "required_score = 6.0\n").expect("write");
        let b = Config::fingerprint(Some(&f));
        assert_ne!(a, b, "content change");
        assert_ne!(b, Config::fingerprint(None), "explicit layer counts");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn merge_overrides_nested_keys() {
        let mut a: toml::Table =
            toml::from_str("required_score = 5.0\n[bayes]\nmin_dev = 0.1\nmax_tokens = 10\n")
                .expect("a");
        merge(
            &mut a,
            toml::from_str("[bayes]\nmin_dev = 0.3\n").expect("b"),
        );
        let c = Config::from_table(a, "t").expect("valid");
        assert_eq!(c.bayes.min_dev, 0.3);
        assert_eq!(c.bayes.max_tokens, 10);
    }
}
