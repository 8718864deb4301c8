//! The library's error type. Every message says what went wrong and what to do next.

use std::path::PathBuf;

/// Errors from opening, reading or writing a token store, or loading configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be opened or created.
    #[error(
        "cannot open token database {path}: {source}; check the path and its permissions (--db or MAILSIFT_DB)"
    )]
    Open {
        /// The database path.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database file does not exist and the command does not create one.
    #[error(
        "token database {0} does not exist: train first ('mailsift train spam|ham PATH...'), or point --db / MAILSIFT_DB at the right file"
    )]
    Missing(PathBuf),
    /// The file exists but holds no mailsift schema yet: it is empty, or another process is
    /// creating it right now. For reading, this is the same as [`Error::Missing`].
    #[error(
        "token database {0} is empty (nothing trained yet, or being created right now): train first ('mailsift train spam|ham PATH...')"
    )]
    Empty(PathBuf),
    /// The file is not a mailsift database, or is damaged.
    #[error(
        "{path} is not a usable mailsift database ({detail}): run 'mailsift db check', restore a backup with 'mailsift db restore', or start over with a new --db"
    )]
    Corrupt {
        /// The database path.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The schema is newer than this build understands.
    #[error(
        "token database {path} has schema version {found}, this build understands up to {supported}: upgrade mailsift"
    )]
    SchemaTooNew {
        /// The database path.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The stored tokens were produced by a different tokenizer.
    #[error(
        "token database {path} was built with tokenizer v{found}, this build uses v{expected}: retrain (mailsift db reset, then mailsift train ...) or use a matching mailsift version"
    )]
    TokenizerMismatch {
        /// The database path.
        path: PathBuf,
        /// The version stored in the database.
        found: u32,
        /// This build's tokenizer version.
        expected: u32,
    },
    /// The database stayed locked by another process beyond the busy timeout.
    #[error(
        "token database is locked by another mailsift process and stayed locked for {timeout_ms} ms; try again, or raise the busy timeout"
    )]
    Locked {
        /// The busy timeout that expired.
        timeout_ms: u64,
    },
    /// The database is read-only and the operation needs to write.
    #[error(
        "token database {0} is read-only: training needs write access to the file and its directory"
    )]
    ReadOnly(PathBuf),
    /// A user name that could escape its namespace or is otherwise unusable.
    #[error(
        "invalid user name {0:?}: use 1-64 characters from letters, digits, '.', '_', '-', '@' and '+'"
    )]
    InvalidUser(String),
    /// The user has no data in the store.
    #[error("unknown user {0:?}: nothing has been trained for this user yet")]
    UnknownUser(String),
    /// The Redis (or Valkey) server could not be reached or refused a command.
    #[error(
        "cannot use the Redis store at {location}: {detail}; check that the server runs and accepts this client, and --db / MAILSIFT_DB"
    )]
    Redis {
        /// The server's URL (without a password).
        location: String,
        /// What went wrong.
        detail: String,
    },
    /// The Redis server refused a write because it reached `maxmemory` (with
    /// `maxmemory-policy noeviction`); the refused call wrote nothing.
    #[error(
        "the Redis store at {location} is full (maxmemory reached): nothing of the refused batch was written; raise maxmemory, or remove rare tokens with 'mailsift db prune', then run the command again"
    )]
    RedisFull {
        /// The server's URL (without a password).
        location: String,
    },
    /// Any other SQLite failure.
    #[error("token database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// An I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Configuration was invalid.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// True when the store simply has nothing in it yet (missing or empty file): the normal state
    /// of a new install, which reads as an empty model rather than as a fault.
    pub fn is_untrained(&self) -> bool {
        matches!(self, Error::Missing(_) | Error::Empty(_))
    }
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
