//! `db export` and `db import`: every model, with its ledger, between any two stores (SQLite
//! file or Redis server), each side checked with `db check`'s rules.

use std::path::Path;

use anyhow::{Context, Result, bail};
use mailsift::store::is_redis_url;
use mailsift::{Config, OpenMode, Store};

use crate::common;

/// Fails unless `store` passes the consistency check.
fn checked(store: &Store, when: &str) -> Result<()> {
    let report = store.check()?;
    if !report.problems.is_empty() {
        bail!(
            "{} fails its consistency check {when} ({}): nothing was copied from it; run 'mailsift db check' on it",
            store.path().display(),
            report.problems.join("; ")
        );
    }
    Ok(())
}

/// Copies `store` to `dest`: a new SQLite file (written beside it, renamed into place when
/// complete and checked) or a Redis URL (replaced, then checked).
pub fn export(store: &Store, dest: &Path, config: &Config) -> Result<()> {
    checked(store, "before the export")?;
    let options = common::store_options(config);
    if is_redis_url(dest) {
        let mut out = Store::open(dest, OpenMode::ReadWrite, options)?;
        store.copy_to(&mut out)?;
        return checked(&out, "after the export");
    }
    if dest.exists() {
        bail!(
            "{} already exists: choose a new export file name",
            dest.display()
        );
    }
    let partial = dest.with_file_name(format!(
        ".{}.partial-{}",
        dest.file_name()
            .map_or("export".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut out = Store::open(&partial, OpenMode::ReadWrite, options)?;
        store.copy_to(&mut out)?;
        checked(&out, "after the export")?;
        // Closing the last connection checkpoints the WAL into the file.
        drop(out);
        std::fs::rename(&partial, dest)
            .with_context(|| format!("cannot move the export into place at {}", dest.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
        }
    }
    result
}

/// Replaces everything in `store` with the models of `source` (checked first), then checks.
pub fn import(store: &mut Store, source: &Path, config: &Config) -> Result<()> {
    let from = Store::open(source, OpenMode::ReadOnly, common::store_options(config))
        .with_context(|| format!("{} cannot be imported", source.display()))?;
    checked(&from, "before the import")?;
    from.copy_to(store)?;
    let report = store.check()?;
    if !report.problems.is_empty() {
        bail!(
            "{} fails its consistency check after the import ({}): import again",
            store.path().display(),
            report.problems.join("; ")
        );
    }
    Ok(())
}
