//! Errors of the store and the code store.

use std::io;
use std::path::PathBuf;

/// A failure of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A function of that name exists already.
    #[error("function {0} already exists")]
    AlreadyExists(String),
    /// No function of that name.
    #[error("function {0} not found")]
    NotFound(String),
    /// The stored revision is not the one the change was based on.
    #[error("function {0} changed concurrently")]
    RevisionMismatch(String),
    /// A record other than a function's changed since the caller read it.
    #[error("{0} changed concurrently")]
    Conflict(String),
    /// The database failed.
    #[error("database {op}")]
    Database {
        /// The operation that failed.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date (or the database is from a newer release).
    #[error("migrate the database schema")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A stored record could not be decoded.
    #[error("decode stored function {name}")]
    Decode {
        /// The function.
        name: String,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A task the store's writes go through has stopped (the server is shutting down).
    #[error("{0} has stopped")]
    Closed(&'static str),
    /// The data directory could not be prepared.
    #[error("prepare {path}")]
    Io {
        /// What was being prepared.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Why a code package was refused or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// The zip is larger than Lambda's direct-upload limit.
    #[error("zipped package of {0} bytes is over the limit")]
    ZippedTooLarge(u64),
    /// The archive could not be read.
    #[error("corrupt zip archive: {0}")]
    Corrupt(String),
    /// Unpacking would write more than the unzipped limit.
    #[error("unzipped package is over the limit")]
    UnzippedTooLarge,
    /// Two entries claim the same path (a file and a directory, two files, two links).
    #[error("zip entry {0:?} clashes with another entry of the same path")]
    Clash(String),
    /// Too many directories, or too deep.
    #[error("zip tree is too large: {0}")]
    TreeTooLarge(String),
    /// More entries than a package may have.
    #[error("zip has {0} entries, over the limit")]
    TooManyEntries(usize),
    /// An entry would land outside the code directory.
    #[error("zip entry {0:?} would be written outside the code directory")]
    UnsafePath(String),
    /// A symbolic link points outside the code directory or through another link.
    #[error("zip symlink {entry:?} -> {target:?} leaves the code directory")]
    UnsafeSymlink {
        /// The link's name.
        entry: String,
        /// Where it points.
        target: String,
    },
    /// A file-system step failed.
    #[error("{step} {path}")]
    Io {
        /// The step.
        step: &'static str,
        /// Its path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}
