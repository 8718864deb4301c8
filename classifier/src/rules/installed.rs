//! Finding the rules SpamAssassin itself would use (`spamassassin_rules = "auto"`).
//!
//! SpamAssassin reads the `.pre` files of its site directory (`loadplugin` lines), then its
//! rules: sa-update's `/var/lib/spamassassin/<version>/<channel>/*.cf` when an update was
//! installed, else the packaged `/usr/share/spamassassin/*.cf`, then the site's own `*.cf`
//! (`/etc/spamassassin/local.cf`, ...). [`installed_rule_files`] lists the same files, in the
//! same order, for [`super::RuleSet::with_files`].

use std::path::{Path, PathBuf};

/// The packaged rules.
pub const PACKAGED_RULES: &str = "/usr/share/spamassassin";
/// sa-update's directory (one subdirectory per version, then per channel).
pub const UPDATED_RULES: &str = "/var/lib/spamassassin";
/// The site configuration (`.pre` and `local.cf`).
pub const SITE_RULES: &str = "/etc/spamassassin";

/// Which SpamAssassin rules to load (the `spamassassin_rules` setting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpamAssassinRules {
    /// None (the default).
    Off,
    /// The rules the installed SpamAssassin uses, found as it finds them; none when it is not
    /// installed.
    Auto,
    /// A rules directory (its `*.pre` and `*.cf` files) or one file.
    Path(PathBuf),
}

impl SpamAssassinRules {
    /// Parses the setting: `"off"`, `"auto"` or a path.
    pub fn parse(s: &str) -> SpamAssassinRules {
        match s.trim() {
            "" | "off" => SpamAssassinRules::Off,
            "auto" => SpamAssassinRules::Auto,
            p => SpamAssassinRules::Path(PathBuf::from(p)),
        }
    }

    /// The files to load, in SpamAssassin's order.
    pub fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        match self {
            SpamAssassinRules::Off => Ok(Vec::new()),
            SpamAssassinRules::Auto => Ok(installed_rule_files(
                Path::new(UPDATED_RULES),
                Path::new(PACKAGED_RULES),
                Path::new(SITE_RULES),
            )),
            SpamAssassinRules::Path(p) if p.is_dir() => {
                let mut v = with_ext(p, "pre");
                v.extend(with_ext(p, "cf"));
                Ok(v)
            }
            SpamAssassinRules::Path(p) => {
                std::fs::metadata(p)?;
                Ok(vec![p.clone()])
            }
        }
    }
}

/// Whether `path` is one of the rule files SpamAssassin's packages install (the packaged rules
/// or sa-update's), not the site's own: what mailsift skips of those is not the
/// administrator's to fix.
pub fn from_distribution(path: &Path) -> bool {
    [PACKAGED_RULES, UPDATED_RULES]
        .iter()
        .any(|d| path.starts_with(d))
}

/// The rule files SpamAssassin would read, given its three directories: the site's `.pre`
/// files, the newest sa-update rules (else the packaged ones), the site's `.cf` files.
/// Empty when no rules are installed.
pub fn installed_rule_files(updated: &Path, packaged: &Path, site: &Path) -> Vec<PathBuf> {
    let rules = newest_update(updated)
        .map(|d| with_ext(&d, "cf"))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| with_ext(packaged, "cf"));
    if rules.is_empty() {
        return Vec::new();
    }
    let mut out = with_ext(site, "pre");
    out.extend(rules);
    out.extend(with_ext(site, "cf"));
    out
}

/// The channel directory of the highest version under sa-update's directory that has rules
/// (`4.000001/updates_spamassassin_org`).
fn newest_update(dir: &Path) -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    versions.sort();
    versions.into_iter().rev().find_map(|v| {
        let mut channels: Vec<PathBuf> = std::fs::read_dir(&v)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && !with_ext(p, "cf").is_empty())
            .collect();
        channels.sort();
        channels.into_iter().next()
    })
}

/// The body rules sa-compile compiled for SpamAssassin's Rule2XSBody plugin, at priority 0
/// or below: the names in the `base_orig` table of each `bases_body_<priority>.pl` under
/// `compiled` (SpamAssassin's `/var/lib/spamassassin/compiled/<perl>/<version>/`; the newest
/// such directory). Rule2XSBody runs those rules at the start of their priority, before the
/// header evals (see [`super::Rule::unedited_body`]). Empty when there is none.
pub(crate) fn compiled_body_rules(compiled: &Path) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    let Some(dir) = newest_compiled(compiled) else {
        return names;
    };
    for file in with_ext(&dir, "pl") {
        let Some(stem) = file.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let Some(priority) = stem.strip_prefix("bases_body_") else {
            continue;
        };
        // `0`, `neg2000`, `500`.
        if priority != "0" && !priority.starts_with("neg") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        // `'base_orig' => { 'NAME,[l=1]' => '(?aa)...', ... }`, one entry per line.
        let Some(at) = text.find("'base_orig'") else {
            continue;
        };
        for line in text[at..].lines().skip(1) {
            let line = line.trim_start();
            let Some(rest) = line.strip_prefix('\'') else {
                break;
            };
            if let Some((name, _)) = rest.split_once(",[") {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// SpamAssassin's directory of compiled rules (`__local_state_dir__/compiled`).
pub(crate) fn compiled_dir() -> PathBuf {
    #[cfg(test)]
    if let Some(d) = COMPILED_DIR.with(|c| c.borrow().clone()) {
        return d;
    }
    Path::new(UPDATED_RULES).join("compiled")
}

#[cfg(test)]
thread_local! {
    /// Test switch: [`compiled_dir`] on this thread.
    pub(crate) static COMPILED_DIR: std::cell::RefCell<Option<PathBuf>> =
        const { std::cell::RefCell::new(None) };
}

/// The newest `<perl>/<version>` directory under `compiled` that holds compiled body rules.
fn newest_compiled(compiled: &Path) -> Option<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for perl in std::fs::read_dir(compiled).ok()?.flatten() {
        for version in std::fs::read_dir(perl.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = version.path();
            let Ok(meta) = std::fs::metadata(dir.join("bases_body_0.pl")) else {
                continue;
            };
            let at = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(t, _)| at > *t) {
                best = Some((at, dir));
            }
        }
    }
    best.map(|(_, d)| d)
}

/// The files of a directory with an extension, sorted by name (SpamAssassin's order).
fn with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_updates_before_packaged_rules_with_site_files_around() {
        let base = std::env::temp_dir().join(format!("mailsift-sarules-{}", std::process::id()));
        let (upd, pkg, site) = (base.join("var"), base.join("share"), base.join("etc"));
        let chan = upd.join("4.000001/updates_spamassassin_org");
        for d in [&chan, &pkg, &site] {
            std::fs::create_dir_all(d).expect("dir");
        }
        for f in [
            pkg.join("10_default.cf"),
            site.join("v310.pre"),
            site.join("local.cf"),
        ] {
            std::fs::write(f, "# x\n").expect("write");
        }
        // No update yet: the packaged rules.
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| {
                    p.file_name()
                        .expect("a file name")
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        };
        assert_eq!(
            names(installed_rule_files(&upd, &pkg, &site)),
            ["v310.pre", "10_default.cf", "local.cf"]
        );
        std::fs::write(chan.join("72_active.cf"), "# y\n").expect("write");
        assert_eq!(
            names(installed_rule_files(&upd, &pkg, &site)),
            ["v310.pre", "72_active.cf", "local.cf"]
        );
        // Nothing installed: nothing at all (local.cf alone is not SpamAssassin's rules).
        assert!(installed_rule_files(&base.join("x"), &base.join("y"), &site).is_empty());
        std::fs::remove_dir_all(&base).ok();
        assert_eq!(SpamAssassinRules::parse("off"), SpamAssassinRules::Off);
        assert_eq!(SpamAssassinRules::parse("auto"), SpamAssassinRules::Auto);
    }
}
