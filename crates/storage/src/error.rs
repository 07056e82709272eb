//! The storage error type.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Everything that can go wrong in `recozik_storage`.
///
/// Database failures are never turned into `None` or a panic: "not found" is an `Option` in the
/// return type, everything else is one of these variants.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database URL has a scheme this crate does not handle.
    #[error("unsupported database URL `{0}`: use sqlite://PATH, a file path, or postgres://…")]
    UnsupportedUrl(String),
    /// A connection could not be established.
    #[error("cannot connect to the database: {0}")]
    Connection(#[from] diesel::ConnectionError),
    /// The pool could not hand out a connection in time (or could not be built).
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// The database stayed locked by another writer for longer than the busy timeout (SQLite).
    #[error("database is busy: {0}")]
    Busy(String),
    /// A unique constraint was violated (duplicate username, e-mail, token digest, …).
    #[error("already exists: {0}")]
    Conflict(String),
    /// A foreign key points at a row that does not exist (for example an unknown user id).
    #[error("referenced row does not exist: {0}")]
    MissingReference(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Query(DieselError),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored value could not be decoded (bad JSON, unknown status, …).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// An argument was rejected before reaching the database.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A job operation was attempted by a worker that no longer holds the job's lease (the lease
    /// expired and the job was requeued, or the job was cancelled or finished meanwhile).
    #[error("job {job_id} is not leased by worker {worker_id}")]
    LeaseLost {
        /// The job.
        job_id: String,
        /// The worker that tried to act on it.
        worker_id: String,
    },
    /// No job has this id.
    #[error("job {0} not found")]
    JobNotFound(String),
    /// A file-system operation (creating the SQLite directory) failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A blocking task used by an async helper panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

/// Shorthand for `Result<T, StorageError>`.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    /// Whether retrying the same operation later may succeed (lock contention, pool exhaustion,
    /// a database that cannot be reached right now).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Busy(_) | Self::Pool(_) | Self::Connection(_) => true,
            Self::Query(DieselError::DatabaseError(kind, _)) => matches!(
                kind,
                DatabaseErrorKind::SerializationFailure
                    | DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand
            ),
            _ => false,
        }
    }
}

impl From<DieselError> for StorageError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Conflict(describe(info.constraint_name(), info.message()))
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                Self::MissingReference(describe(info.constraint_name(), info.message()))
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if is_sqlite_busy(info.message()) =>
            {
                Self::Busy(info.message().to_owned())
            }
            DieselError::DeserializationError(e) => Self::Corrupt(e.to_string()),
            other => Self::Query(other),
        }
    }
}

impl From<serde_json::Error> for StorageError {
    fn from(err: serde_json::Error) -> Self {
        Self::Corrupt(err.to_string())
    }
}

fn describe(constraint: Option<&str>, message: &str) -> String {
    match constraint {
        Some(name) => format!("{name}: {message}"),
        None => message.to_owned(),
    }
}

/// Whether a diesel error is SQLite's "database is locked/busy".
pub(crate) fn is_busy(err: &DieselError) -> bool {
    matches!(err, DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) if is_sqlite_busy(info.message()))
}

fn is_sqlite_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}
