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
//! builtin_rules = true              # false: SpamAssassin's rules in place of the built-in ones
//! rule_overlap = "auto"             # "off", "all", "kind", "prefix" (see RuleOverlap)
//! rule_overlap_decay = 0.2
//! trusted_networks = ["192.0.2.0/24"]   # relays that do not forge headers (SpamAssassin's
//! internal_networks = ["192.0.2.0/24"]  # trust path; unset: inferred), and the site's own
//! msa_networks = []                     # MXes; MSAs whose older hops take their status
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
//! [learner]                       # the token learner (0 turns it off), see mailsift::logreg
//! weight = 1.1
//!
//! [store]
//! busy_timeout_ms = 10000
//! user_weight = 1
//! db = "redis://mail-redis.example:6379/0"   # or a file path; --db and MAILSIFT_DB win
//!
//! [spamd]                           # mailsift serve's spamd protocol front end
//! listen = ["127.0.0.1:783", "/run/mailsift/spamd.sock"]
//! allow_from = ["127.0.0.1", "::1"] # TCP clients allowed (default: loopback)
//! allow_tell = false                # spamc -L (learn / forget)
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
    /// The store: a SQLite file or a Redis URL, when neither `--db` nor `MAILSIFT_DB` is set.
    pub db: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            busy_timeout_ms: 10_000,
            user_weight: 1,
            db: None,
        }
    }
}

/// The spamd protocol front end of `mailsift serve` (see `mailsift serve --help`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpamdConfig {
    /// Addresses to listen on: `HOST:PORT` or an absolute Unix socket path.
    pub listen: Vec<String>,
    /// Client addresses or networks (`192.0.2.0/24`) allowed on TCP; empty: loopback only.
    pub allow_from: Vec<String>,
    /// Accept TELL (learn, correct, forget).
    pub allow_tell: bool,
    /// Largest message accepted, in bytes (after decompression).
    pub max_size: usize,
    /// Seconds a client has to send its whole request.
    pub timeout_secs: u64,
    /// Connections served at once; more are told to retry later.
    pub max_connections: usize,
    /// Permissions of spamd Unix sockets, in octal (`"660"`).
    pub socket_mode: String,
}

impl Default for SpamdConfig {
    fn default() -> Self {
        SpamdConfig {
            listen: Vec::new(),
            allow_from: Vec::new(),
            allow_tell: false,
            // 16 MiB: well over spamc's 500 KB default --max-size and ordinary mail, and a
            // bound on memory (max_connections requests at once).
            max_size: 16 << 20,
            timeout_secs: 30,
            max_connections: 64,
            // Like a loopback TCP port: every local user's spamc may connect.
            socket_mode: "666".into(),
        }
    }
}

/// The `rule_overlap` setting: which rule hits count as one family whose further hits count
/// less ([`crate::overlap`]). Whatever the family, the discount applies with Bayes trained too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuleOverlap {
    /// `All` when SpamAssassin's rules (`spamassassin_rules`) run beside the built-in rules,
    /// where the two sets fire on the same evidence (E40); `Off` otherwise (E30: no gain for
    /// the built-in rules alone).
    #[default]
    Auto,
    /// No discount.
    Off,
    /// See [`crate::overlap::Family::All`].
    All,
    /// See [`crate::overlap::Family::Kind`].
    Kind,
    /// See [`crate::overlap::Family::Prefix`].
    Prefix,
}

impl RuleOverlap {
    /// The family in effect; `both_sets`: SpamAssassin's rules are loaded beside the
    /// built-in ones.
    pub fn family(self, both_sets: bool) -> crate::overlap::Family {
        use crate::overlap::Family;
        match self {
            RuleOverlap::Auto if both_sets => Family::All,
            RuleOverlap::Auto | RuleOverlap::Off => Family::Off,
            RuleOverlap::All => Family::All,
            RuleOverlap::Kind => Family::Kind,
            RuleOverlap::Prefix => Family::Prefix,
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
    /// Whether mailsift's built-in rules run (default true). `false` with
    /// `spamassassin_rules` set runs SpamAssassin's rules in their place.
    pub builtin_rules: bool,
    /// Diminishing returns for rules that fire together ([`crate::overlap`]): `"auto"` (the
    /// default) discounts every rule hit as one family when SpamAssassin's rules are loaded
    /// beside the built-in ones, and nothing otherwise; `"off"`, `"all"`, `"kind"` or
    /// `"prefix"` choose for every rule set. See [`RuleOverlap`].
    pub rule_overlap: RuleOverlap,
    /// The decay within a family when a discount applies (see [`crate::overlap`]).
    pub rule_overlap_decay: f64,
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
    /// Which file set each `[scores]` entry (the last layer that names it), so an unknown rule
    /// name is reported against the file to fix.
    #[serde(skip)]
    score_origins: BTreeMap<String, String>,
    /// SpamAssassin's `trusted_networks`: relays that do not forge header data
    /// (`IP[/len]`, `a.b.`, `!IP` entries); added to what rule files say.
    pub trusted_networks: Vec<String>,
    /// SpamAssassin's `internal_networks`: the site's own MXes and relays.
    pub internal_networks: Vec<String>,
    /// SpamAssassin's `msa_networks`: submission servers (older hops take their status).
    pub msa_networks: Vec<String>,
    /// `mailsift milter` settings.
    pub milter: MilterConfig,
    /// The spamd protocol front end of `mailsift serve`.
    pub spamd: SpamdConfig,
    /// The learned per-site and per-user rule weights (`[combination]`, issue 11).
    pub combination: crate::combination::CombinationParams,
    /// The token learner (`[learner]`, E25; on by default since E28, `weight = 0` turns it off).
    pub learner: crate::logreg::TokenLrParams,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            required_score: crate::engine::Scoring::default().required_score,
            subject_tag: None,
            rule_files: Vec::new(),
            spamassassin_rules: "off".to_owned(),
            builtin_rules: true,
            rule_overlap: RuleOverlap::Auto,
            // E40: the decay at which SpamAssassin's rules on top of the built-in ones win or
            // tie every cell of the corpus matrix (0.1 and 0.3 measured beside it).
            rule_overlap_decay: 0.2,
            scores: BTreeMap::new(),
            bayes_weight: None,
            bayes: BayesParams::default(),
            limits: Limits::default(),
            store: StoreConfig::default(),
            score_origins: BTreeMap::new(),
            trusted_networks: Vec::new(),
            internal_networks: Vec::new(),
            msa_networks: Vec::new(),
            milter: MilterConfig::default(),
            spamd: SpamdConfig::default(),
            combination: Default::default(),
            learner: Default::default(),
        }
    }
}

/// What `mailsift milter` does with spam below the reject score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpamAction {
    /// Accept it with the X-Spam-* headers (delivery sorts it).
    #[default]
    Accept,
    /// Accept it with the headers and put it on hold (Postfix's hold queue).
    Quarantine,
}

/// Which user's model `mailsift milter` uses for a message with exactly one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecipientUser {
    /// The local part, lower-cased, without a `+extension`: `Alice+lists@example.org` → `alice`.
    #[default]
    LocalPart,
    /// The whole address, lower-cased: `alice@example.org`.
    Address,
    /// Always the site-wide model.
    None,
}

/// The `[milter]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MilterConfig {
    /// Where to listen: `HOST:PORT`, `inet:PORT@HOST`, `unix:PATH` or a socket path.
    pub listen: Option<String>,
    /// Spam (score at or above `required_score`) below the reject and tempfail scores.
    pub spam_action: SpamAction,
    /// Score at or above which the message is rejected with `550 5.7.1` (none: never).
    pub reject_score: Option<f64>,
    /// Score at or above which (and below `reject_score`) the message is deferred with
    /// `451 4.7.1` (none: never).
    pub tempfail_score: Option<f64>,
    /// Whose model classifies a message with one recipient.
    pub recipient_user: RecipientUser,
    /// Seconds classification may take before the message is passed on unclassified.
    pub timeout_secs: u64,
}

impl Default for MilterConfig {
    fn default() -> Self {
        MilterConfig {
            listen: None,
            spam_action: SpamAction::Accept,
            reject_score: None,
            tempfail_score: None,
            recipient_user: RecipientUser::LocalPart,
            // Under Postfix's milter_content_timeout (300 s) and command timeout (30 s).
            timeout_secs: 20,
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

/// A TOML error as one message: the file, then toml's text without its trailing newline (which
/// printed a blank line after every configuration error).
fn toml_error(origin: &str, e: &toml::de::Error) -> Error {
    Error::Config(format!("{origin}: {}", e.to_string().trim_end()))
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
        let table: toml::Table = toml::from_str(text).map_err(|e| toml_error(origin, &e))?;
        Self::from_table(table, origin)
    }

    fn from_table(table: toml::Table, origin: &str) -> Result<Config> {
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| toml_error(origin, &e))?;
        if !config.required_score.is_finite() {
            return Err(Error::Config(format!(
                "{origin}: required_score must be a number"
            )));
        }
        if !(config.rule_overlap_decay.is_finite() && config.rule_overlap_decay >= 0.0) {
            return Err(Error::Config(format!(
                "{origin}: rule_overlap_decay must be a number of 0 or more (0: no discount)"
            )));
        }
        if config.bayes.dup_leave_out > 2 {
            return Err(Error::Config(format!(
                "{origin}: [bayes] dup_leave_out must be 0 (off), 1 (every earlier copy) or 2 \
                 (the copies for other recipients)"
            )));
        }
        if let Some(bad) = config.scores.iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Config(format!(
                "{origin}: score for {} must be a finite number",
                bad.0
            )));
        }
        for (name, v) in [
            ("reject_score", config.milter.reject_score),
            ("tempfail_score", config.milter.tempfail_score),
        ] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(Error::Config(format!(
                    "{origin}: [milter] {name} must be a number"
                )));
            }
        }
        for (key, list) in config.networks() {
            let mut set = crate::rules::NetSet::default();
            for entry in list {
                set.add(entry)
                    .map_err(|e| Error::Config(format!("{origin}: {key}: {e}")))?;
            }
        }
        config.rule_files.retain(|p| !p.as_os_str().is_empty());
        config.score_origins = config
            .scores
            .keys()
            .map(|k| (k.clone(), origin.to_owned()))
            .collect();
        Ok(config)
    }

    /// The trust-path settings as (SpamAssassin keyword, entries), for
    /// [`crate::rules::RuleSet::set_networks`].
    pub fn networks(&self) -> [(&'static str, &[String]); 3] {
        [
            ("trusted_networks", &self.trusted_networks),
            ("internal_networks", &self.internal_networks),
            ("msa_networks", &self.msa_networks),
        ]
    }

    /// The configuration file that set the score override for `rule` (for error messages);
    /// "the configuration" for a rule no file names.
    pub fn score_origin(&self, rule: &str) -> &str {
        self.score_origins
            .get(rule)
            .map_or("the configuration", String::as_str)
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
        let mut score_origins = BTreeMap::new();
        for path in &layers {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                context: format!("cannot read config file {}", path.display()),
                source,
            })?;
            let mut table: toml::Table =
                toml::from_str(&text).map_err(|e| toml_error(&path.display().to_string(), &e))?;
            if let Some(toml::Value::Array(files)) = table.get_mut("rule_files") {
                let base = path.parent().unwrap_or(Path::new("/"));
                for f in files.iter_mut() {
                    if let toml::Value::String(s) = f {
                        *s = base.join(&*s).to_string_lossy().into_owned();
                    }
                }
            }
            // Each file must be valid on its own, so errors name the right file.
            let layer = Self::from_table(table.clone(), &path.display().to_string())?;
            score_origins.extend(layer.score_origins);
            merge(&mut merged, table);
            origins.push(path.display().to_string());
        }
        let mut config = Self::from_table(merged, &origins.join(" + "))?;
        config.score_origins = score_origins;
        Ok(config)
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
    fn trust_networks_are_checked_and_reach_the_rules() {
        let c = Config::from_toml(
            "trusted_networks = [\"192.0.2.0/24\", \"!192.0.2.9\"]\nmsa_networks = [\"10.\"]\n",
            "site.toml",
        )
        .expect("valid");
        assert_eq!(c.trusted_networks.len(), 2);
        let mut rules = crate::rules::RuleSet::default();
        for (key, list) in c.networks() {
            rules
                .set_networks(key, &list.join(" "))
                .expect("valid entries");
        }
        assert!(!rules.networks().inferred());
        let err = Config::from_toml("internal_networks = [\"300.1.2.3\"]\n", "site.toml")
            .expect_err("bad entry");
        let msg = err.to_string();
        assert!(
            msg.contains("site.toml") && msg.contains("300.1.2.3"),
            "{msg}"
        );
    }

    #[test]
    fn rule_overlap_is_auto_by_default_and_checked() {
        use crate::overlap::Family;
        let c = Config::default();
        assert_eq!(c.rule_overlap, RuleOverlap::Auto);
        assert!(c.builtin_rules);
        assert_eq!(c.rule_overlap.family(true), Family::All);
        assert_eq!(c.rule_overlap.family(false), Family::Off);
        let c = Config::from_toml(
            "rule_overlap = \"prefix\"\nrule_overlap_decay = 0.5\nbuiltin_rules = false\n",
            "t",
        )
        .expect("valid");
        assert_eq!(c.rule_overlap.family(false), Family::Prefix);
        assert_eq!(c.rule_overlap_decay, 0.5);
        assert!(!c.builtin_rules);
        assert_eq!(
            Config::from_toml("rule_overlap = \"off\"\n", "t")
                .expect("valid")
                .rule_overlap
                .family(true),
            Family::Off
        );
        let err = Config::from_toml("rule_overlap_decay = -1\n", "t.toml").expect_err("negative");
        assert!(err.to_string().contains("rule_overlap_decay"), "{err}");
        assert!(Config::from_toml("rule_overlap = \"some\"\n", "t").is_err());
    }

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
        assert!(
            msg.starts_with("t.toml: ") && !msg.ends_with('\n'),
            "{msg:?}"
        );
        assert!(Config::from_toml("[bayes]\nbogus = 1\n", "t").is_err());
        let e = Config::from_toml("[bayes]\ndup_leave_out = 3\n", "t").expect_err("3");
        assert!(e.to_string().contains("dup_leave_out must be 0"), "{e}");
        let c = Config::from_toml("[bayes]\ndup_leave_out = 0\n", "t").expect("0");
        assert_eq!(c.bayes.dup_leave_out, 0);
        let c = Config::from_toml(
            "[spamd]\nlisten = [\"127.0.0.1:783\"]\nallow_tell = true\n",
            "t",
        )
        .expect("spamd section");
        assert_eq!(c.spamd.listen, ["127.0.0.1:783"]);
        assert!(c.spamd.allow_tell && c.spamd.max_size == SpamdConfig::default().max_size);
        let err = Config::from_toml("[spamd]\nlisen = []\n", "t").expect_err("typo");
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn milter_section_parses_and_is_checked() {
        let c = Config::from_toml(
            "[milter]\nlisten = \"127.0.0.1:11332\"\nreject_score = 12.0\nspam_action = \"quarantine\"\nrecipient_user = \"address\"\n",
            "t",
        )
        .expect("valid");
        assert_eq!(c.milter.listen.as_deref(), Some("127.0.0.1:11332"));
        assert_eq!(c.milter.reject_score, Some(12.0));
        assert_eq!(c.milter.tempfail_score, None);
        assert_eq!(c.milter.spam_action, SpamAction::Quarantine);
        assert_eq!(c.milter.recipient_user, RecipientUser::Address);
        assert_eq!(
            Config::default().milter.reject_score,
            None,
            "never reject by default"
        );
        assert!(Config::from_toml("[milter]\nreject_scor = 1.0\n", "t").is_err());
        assert!(Config::from_toml("[milter]\nspam_action = \"bounce\"\n", "t").is_err());
        assert!(Config::from_toml("[milter]\nreject_score = nan\n", "t").is_err());
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
    fn each_score_override_remembers_the_file_that_set_it() {
        let dir = std::env::temp_dir().join(format!("mailsift-cfg-origin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("site.toml");
        std::fs::write(&file, "[scores]\nNO_SUCH_RULE = 1.0\n").expect("write");
        let c = Config::load(Some(&file)).expect("parses");
        assert_eq!(c.score_origin("NO_SUCH_RULE"), file.display().to_string());
        assert_eq!(c.score_origin("OTHER"), "the configuration");
        let c = Config::from_toml("[scores]\nX = 1.0\n", "t.toml").expect("parses");
        assert_eq!(c.score_origin("X"), "t.toml");
        let _ = std::fs::remove_dir_all(&dir);
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
