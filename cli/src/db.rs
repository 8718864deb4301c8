//! `mailsift db`: check, backup, restore, reset, export, import.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use mailsift::OpenMode;

use crate::common::{self, Global};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Check SQLite integrity and that every count matches the learned-message ledger.
    ///
    /// Exit code 0 when the database is sound, 1 when problems are found (each is printed).
    #[command(
        after_long_help = "Examples:\n  mailsift db check\n  mailsift --db /var/lib/mailsift/site.db db check"
    )]
    Check,
    /// Write a consistent copy of the database to FILE (safe while mailsift runs).
    #[command(after_long_help = "Example:\n  mailsift db backup /var/backups/mailsift.db")]
    Backup {
        /// The backup file to write. An earlier backup there is replaced, only once the new
        /// one is complete (a failed backup leaves the earlier one as it was).
        file: PathBuf,
    },
    /// Replace the database with a backup (checked first).
    #[command(after_long_help = "Example:\n  mailsift db restore /var/backups/mailsift.db")]
    Restore {
        /// A file written by 'mailsift db backup'.
        file: PathBuf,
    },
    /// Copy every model (site-wide and per user, with ledgers) to FILE: a new SQLite file, or
    /// a Redis URL. Works from either backend: the way to back up a Redis store.
    #[command(
        after_long_help = "Examples:\n  mailsift --db redis://127.0.0.1:6379/0 db export /var/backups/mailsift.db\n  mailsift --db /var/lib/mailsift/site.db db export redis://127.0.0.1:6379/0"
    )]
    Export {
        /// A SQLite file to create (must not exist), or a redis:// URL to replace.
        file: PathBuf,
    },
    /// Replace every model with those in FILE (written by 'db export' or 'db backup', or a
    /// redis:// URL), checked before and after.
    #[command(
        after_long_help = "Examples:\n  mailsift --db redis://127.0.0.1:6379/0 db import /var/lib/mailsift/site.db\n  mailsift --db /var/lib/mailsift/site.db db import /var/backups/mailsift.db"
    )]
    Import {
        /// A SQLite store file, or a redis:// URL.
        file: PathBuf,
    },
    /// Forget everything learned for --user (or the site-wide model without --user).
    #[command(
        after_long_help = "Examples:\n  mailsift --user alice db reset --yes\n  mailsift db reset --yes"
    )]
    Reset {
        /// Confirm: without it nothing is deleted.
        #[arg(long)]
        yes: bool,
    },
    /// Remove tokens seen in at most N messages (default 1: hapaxes) from every model, or from
    /// --user's; `db check` still passes after it. Run it from time to time (e.g. monthly) to
    /// keep a model's size down.
    #[command(
        after_long_help = "What it removes: tokens whose spam and ham counts together are at most --max-count, in the
site-wide model and every user's (only --user's with --user). The counts removed stay
accounted for, so 'db check' still proves every count; a pruned token seen again is learned
again from zero. Training may go on meanwhile. On SQLite the file keeps its size (the freed
pages are reused); on Redis the memory is freed at once.

Examples:
  mailsift db prune
  mailsift --db redis://127.0.0.1:6379/0 db prune --max-count 2
  mailsift --user alice db prune"
    )]
    Prune {
        /// Remove tokens seen in at most this many messages (1 to 1000).
        #[arg(long, default_value_t = 1)]
        max_count: u32,
    },
}

pub fn run(global: &Global, cmd: &DbCommand) -> Result<i32> {
    let config = common::load_checked_config(global)?;
    match cmd {
        DbCommand::Check => {
            let store = match common::open_store(global, &config, OpenMode::ReadOnly) {
                Ok(store) => store,
                // A file with no schema yet (creation interrupted or in progress) holds nothing
                // that could be inconsistent; the next train creates the schema.
                Err(e)
                    if e.downcast_ref::<mailsift::Error>()
                        .is_some_and(|e| matches!(e, mailsift::Error::Empty(_))) =>
                {
                    crate::outln!("ok: empty database, nothing trained yet");
                    return Ok(0);
                }
                Err(e) => return Err(e),
            };
            let report = store.check()?;
            for p in &report.problems {
                crate::outln!("problem: {p}");
            }
            if report.problems.is_empty() {
                crate::outln!(
                    "ok: {} ledger entries and {} token rows consistent",
                    report.ledger_entries,
                    report.token_rows
                );
                Ok(0)
            } else {
                let fix = if store.is_remote() {
                    "import an export ('mailsift db import FILE')"
                } else {
                    "restore a backup ('mailsift db restore')"
                };
                eprintln!(
                    "mailsift: {} problem(s) found: {fix} or retrain",
                    report.problems.len()
                );
                Ok(1)
            }
        }
        DbCommand::Backup { file } => {
            if same_file(file, &global.db_path()?) {
                bail!(
                    "{} is the database itself: give the backup another path",
                    file.display()
                );
            }
            let store = common::open_store(global, &config, OpenMode::ReadOnly)?;
            store.backup(file)?;
            if !global.quiet {
                eprintln!(
                    "mailsift: backed up {} to {}",
                    store.path().display(),
                    file.display()
                );
            }
            Ok(0)
        }
        DbCommand::Restore { file } => {
            // Checked here: the store's own message for a missing file says to train first.
            if !file.exists() {
                bail!("backup {} does not exist: check the path", file.display());
            }
            check_restore_source(file, &global.db_path()?)?;
            let backup =
                mailsift::Store::open(file, OpenMode::ReadOnly, common::store_options(&config))
                    .with_context(|| format!("{} is not a usable backup", file.display()))?;
            let report = backup.check()?;
            if !report.problems.is_empty() {
                bail!(
                    "{} fails its consistency check ({}): not restoring",
                    file.display(),
                    report.problems.join("; ")
                );
            }
            drop(backup);
            let dest = global.db_path()?;
            match common::open_store(global, &config, OpenMode::ReadWrite) {
                // In place, in one transaction: safe while other mailsift processes run.
                Ok(mut store) => {
                    store.restore_from(file)?;
                    let report = store.check()?;
                    if !report.problems.is_empty() {
                        bail!(
                            "{} fails its consistency check after the restore ({}): restore again or retrain",
                            dest.display(),
                            report.problems.join("; ")
                        );
                    }
                }
                // The store itself is damaged (the usual reason to restore): keep it aside for
                // inspection and put a copy of the backup in its place.
                Err(e)
                    if e.downcast_ref::<mailsift::Error>()
                        .is_some_and(|e| matches!(e, mailsift::Error::Corrupt { .. })) =>
                {
                    let aside = PathBuf::from(format!("{}.damaged", dest.display()));
                    eprintln!(
                        "mailsift: {e:#}; moving it to {} and restoring into a new file",
                        aside.display()
                    );
                    let _ = std::fs::remove_file(&aside);
                    std::fs::rename(&dest, &aside)
                        .with_context(|| format!("cannot move {} aside", dest.display()))?;
                    for suffix in ["-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", dest.display()));
                    }
                    let backup = mailsift::Store::open(
                        file,
                        OpenMode::ReadOnly,
                        common::store_options(&config),
                    )?;
                    backup.backup(&dest)?;
                }
                Err(e) => return Err(e),
            }
            if !global.quiet {
                eprintln!(
                    "mailsift: restored {} from {}",
                    dest.display(),
                    file.display()
                );
            }
            Ok(0)
        }
        DbCommand::Export { file } => {
            let store = common::open_store(global, &config, OpenMode::ReadOnly)?;
            crate::db_move::export(&store, file, &config)?;
            if !global.quiet {
                eprintln!(
                    "mailsift: exported {} to {}",
                    store.path().display(),
                    file.display()
                );
            }
            Ok(0)
        }
        DbCommand::Import { file } => {
            let mut store = common::open_store(global, &config, OpenMode::ReadWrite)?;
            crate::db_move::import(&mut store, file, &config)?;
            if !global.quiet {
                eprintln!(
                    "mailsift: imported {} into {}",
                    file.display(),
                    store.path().display()
                );
            }
            Ok(0)
        }
        DbCommand::Reset { yes } => {
            if !yes {
                bail!(
                    "this deletes everything learned for {}: run again with --yes to confirm",
                    global
                        .user
                        .as_deref()
                        .map_or("the site-wide model".to_owned(), |u| format!("user {u:?}"))
                );
            }
            let mut store = common::open_store(global, &config, OpenMode::ReadWrite)?;
            store.reset(global.user()?)?;
            Ok(0)
        }
        DbCommand::Prune { max_count } => {
            let mut store = common::open_store(global, &config, OpenMode::ReadWrite)?;
            let report = store.prune(global.user()?, *max_count)?;
            if !global.quiet {
                eprintln!(
                    "mailsift: pruned {} tokens seen in at most {max_count} message(s) from {} model(s)",
                    report.tokens, report.models
                );
            }
            Ok(0)
        }
    }
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A restore reads a backup file: not a FIFO or a device (SQLite would wait on it for ever),
/// and not the live database itself.
fn check_restore_source(file: &Path, db: &Path) -> Result<()> {
    let meta = std::fs::metadata(file)
        .with_context(|| format!("cannot read the backup {}", file.display()))?;
    if !meta.is_file() {
        bail!(
            "{} is not a regular file (a pipe, device or directory): give the file written by 'mailsift db backup'",
            file.display()
        );
    }
    if same_file(file, db) {
        bail!(
            "{} is the database itself: give the file written by 'mailsift db backup'",
            file.display()
        );
    }
    Ok(())
}
