//! Where the rules' prefilter cache lives (see `mailsift::rules::RuleSet::use_prefilter_cache`).
//!
//! One file per rule set, `$XDG_CACHE_HOME/mailsift/prefilter-<key>` (else
//! `~/.cache/mailsift/...`), the key a hash of the rule files and mailsift's version. Loading
//! SpamAssassin's stock rules computes about 2,900 literal sets, about a second of CPU; with the
//! file a process reads them back in about a millisecond. The cache is optional: a missing,
//! unreadable or corrupt file only means the literals are computed, and a file that cannot be
//! written is left unwritten, without a message (a one-message `classify` process would repeat
//! it in the mail log for every message).

use std::path::PathBuf;

use mailsift::rules::RuleSet;

/// The cache directory, if the environment names one.
fn dir() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".cache"))
        })
        .map(|d| d.join("mailsift"))
}

fn path(rules: &RuleSet) -> Option<PathBuf> {
    dir().map(|d| d.join(format!("prefilter-{:016x}", rules.prefilter_cache_key())))
}

/// Takes the rule set's prefilter literals from its cache file, when there is a valid one.
pub fn load(rules: &mut RuleSet) {
    if let Some(text) = path(rules).and_then(|p| std::fs::read_to_string(p).ok()) {
        rules.use_prefilter_cache(&text);
    }
}

/// Writes the cache file once the rule set is prepared, if preparing it computed literals the
/// cache did not hold. Written to a temporary name and renamed, so a reader never sees half.
pub fn save(rules: &RuleSet) {
    let (Some(text), Some(path)) = (rules.prefilter_cache(), path(rules)) else {
        return;
    };
    let Some(parent) = path.parent() else {
        return;
    };
    if std::fs::create_dir_all(parent).is_err() {
        return;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
