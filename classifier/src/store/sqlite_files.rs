//! The SQLite backend's file handling: opening while another process creates the store, a
//! read-only snapshot of a store in a directory we cannot write, backup and restore.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{Error, Result};

use super::sqlite::{SCHEMA_VERSION, Sqlite, map_write_error};
use super::{OpenMode, StoreOptions};

impl Sqlite {
    /// [`Sqlite::init`], retried while the store is busy, for up to the busy timeout.
    ///
    /// The busy timeout alone does not cover opening: while processes race to create a new
    /// store, switching it to WAL and creating the schema take locks that SQLite may refuse at
    /// once (SQLITE_BUSY without calling the busy handler, to avoid a deadlock between a
    /// reader upgrading to writer and another writer). `init` is idempotent, so it is simply
    /// run again.
    pub(super) fn init_retrying(&mut self, mode: OpenMode) -> Result<()> {
        let started = std::time::Instant::now();
        loop {
            match self.init(mode).map_err(|e| self.classify_error(e)) {
                Err(Error::Locked { .. }) if started.elapsed() < self.options.busy_timeout => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Opens a WAL store that SQLite cannot open read-only in the normal way: its directory is
    /// not writable by us and no `-shm` file exists (so no writer is active), typically a
    /// site-wide store owned by an administrator and read by delivery agents running as users.
    /// `immutable=1` reads the main file without the shared-memory index. A writer that starts
    /// while we read is not seen; the worst case is a classification on slightly old counts or a
    /// read error, which classify turns into a rules-only verdict.
    pub(super) fn read_only_snapshot(path: &Path, options: StoreOptions) -> Result<Sqlite> {
        let mut uri = String::from("file:");
        for &b in path.as_os_str().as_encoded_bytes() {
            if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
                uri.push(char::from(b));
            } else {
                uri.push_str(&format!("%{b:02X}"));
            }
        }
        uri.push_str("?immutable=1");
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&uri, flags).map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        let mut store = Sqlite::from_parts(conn, path.to_owned(), options);
        store
            .init(OpenMode::ReadOnly)
            .map_err(|e| store.classify_error(e))?;
        Ok(store)
    }
}

impl Sqlite {
    /// Writes a consistent copy of the database to `dest`, owner-only. The copy is written to
    /// a temporary file beside `dest` and renamed over it when complete: an earlier backup at
    /// `dest` is replaced, and a backup that fails (disk full) leaves no partial file.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        if std::fs::symlink_metadata(dest).is_ok_and(|m| !m.is_file()) {
            return Err(Error::Config(format!(
                "{} exists and is not a regular file: choose another backup file name",
                dest.display()
            )));
        }
        let tmp = backup_temp_path(dest);
        let _ = std::fs::remove_file(&tmp);
        create_owner_only(&tmp)?;
        let written = (|| {
            let name = sql_path(&tmp, "choose another backup file name")?;
            // The file name is a bound parameter, never spliced into SQL. Into an empty file,
            // so it is owner-only from the first byte.
            self.conn
                .execute("VACUUM INTO ?1", [name])
                .map_err(|e| map_write_error(e, dest, 0))?;
            restrict_permissions(&tmp)?;
            std::fs::rename(&tmp, dest).map_err(|source| Error::Io {
                context: format!("cannot move the backup into place as {}", dest.display()),
                source,
            })
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Replaces everything in this store with the contents of `backup` (a file written by
    /// [`Sqlite::backup`], already checked by the caller), in one write transaction.
    ///
    /// Restoring in place, rather than replacing the file, is safe while other mailsift
    /// processes run: readers see the old model or the new one, never a mix; writers wait on
    /// the lock as for any training; the file keeps its owner and permissions.
    pub fn restore_from(&mut self, backup: &Path) -> Result<()> {
        let timeout_ms = self.options.busy_timeout.as_millis() as u64;
        let path = self.path.clone();
        let map = |e: rusqlite::Error| map_write_error(e, &path, timeout_ms);
        let name = sql_path(backup, "rename the backup file")?;
        // ATTACH is not allowed inside a transaction: attach first, detach whatever happens.
        self.conn
            .execute("ATTACH DATABASE ?1 AS restore_source", [name])
            .map_err(map)?;
        let copied = (|| -> rusqlite::Result<()> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: i64 =
                tx.query_row("PRAGMA restore_source.user_version", [], |r| r.get(0))?;
            // A version 1 backup (before the ledger's `rules`) restores with empty rules.
            let ledger = match version {
                1 => {
                    "INSERT INTO main.ledger (user_id, digest, class, ntokens, tokensum,
                         learned_at, rules)
                     SELECT user_id, digest, class, ntokens, tokensum, learned_at, x''
                     FROM restore_source.ledger;"
                }
                // Version 2 (before the token learner's columns) restores with none.
                2 => {
                    "INSERT INTO main.ledger (user_id, digest, class, ntokens, tokensum,
                         learned_at, rules)
                     SELECT user_id, digest, class, ntokens, tokensum, learned_at, rules
                     FROM restore_source.ledger;"
                }
                SCHEMA_VERSION => {
                    "INSERT INTO main.ledger (user_id, digest, class, ntokens, tokensum,
                         learned_at, rules, lr_grad)
                     SELECT user_id, digest, class, ntokens, tokensum, learned_at, rules, lr_grad
                     FROM restore_source.ledger;
                     UPDATE main.tokens SET lr = (SELECT s.lr FROM restore_source.tokens AS s
                         WHERE s.hash = main.tokens.hash AND s.user_id = main.tokens.user_id);
                     UPDATE main.totals SET lr = (SELECT s.lr FROM restore_source.totals AS s
                         WHERE s.user_id = main.totals.user_id);"
                }
                _ => return Err(rusqlite::Error::InvalidQuery),
            };
            tx.execute_batch(
                "DELETE FROM main.ledger; DELETE FROM main.tokens; DELETE FROM main.totals;
                 DELETE FROM main.users; DELETE FROM main.meta;
                 INSERT INTO main.meta (key, value) SELECT key, value FROM restore_source.meta;
                 INSERT INTO main.users (id, name) SELECT id, name FROM restore_source.users;
                 INSERT INTO main.totals (user_id, nspam, nham)
                     SELECT user_id, nspam, nham FROM restore_source.totals;
                 INSERT INTO main.tokens (hash, user_id, spam, ham)
                     SELECT hash, user_id, spam, ham FROM restore_source.tokens;",
            )?;
            tx.execute_batch(ledger)?;
            tx.commit()
        })();
        let detached = self.conn.execute("DETACH DATABASE restore_source", []);
        match copied {
            Err(rusqlite::Error::InvalidQuery) => Err(Error::Corrupt {
                path: backup.to_owned(),
                detail: format!("not a schema v1 to v{SCHEMA_VERSION} mailsift backup"),
            }),
            Err(e) => Err(map(e)),
            Ok(()) => detached.map(|_| ()).map_err(map),
        }
    }
}

/// A path as the text SQLite takes as a bound parameter (`VACUUM INTO ?1`, `ATTACH ?1`);
/// non-UTF-8 paths are refused with `hint` rather than lossily converted (which could name
/// another file).
pub(super) fn sql_path<'a>(path: &'a Path, hint: &str) -> Result<&'a str> {
    path.to_str()
        .ok_or_else(|| Error::Config(format!("{} is not a UTF-8 path: {hint}", path.display())))
}

/// Where a backup to `dest` is written before it is renamed into place: a hidden file in the
/// same directory (a rename does not cross file systems), named for this process.
fn backup_temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Whether the database file exists. Only "no such file" means it does not (a new install);
/// any other answer (a directory that cannot be entered, a path through a regular file) is a
/// fault to report, not an empty model to classify with.
pub(super) fn path_exists(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Io {
            context: format!(
                "cannot reach the database {} (check the permissions of its directories)",
                path.display()
            ),
            source,
        }),
    }
}

/// Creates an empty file readable and writable by its owner only.
pub(super) fn create_owner_only(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        // Directories we create are private too (existing ones are left as they are).
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(|source| Error::Io {
            context: format!("cannot create directory {}", dir.display()),
            source,
        })?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|source| Error::Io {
        context: format!("cannot create {}", path.display()),
        source,
    })?;
    Ok(())
}

fn restrict_permissions(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| Error::Io {
                context: format!("cannot set permissions on {}", path.display()),
                source,
            },
        )?;
    }
    Ok(())
}
