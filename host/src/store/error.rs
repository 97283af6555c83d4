//! Why a store operation failed, for both backends: their drivers' errors sorted into what
//! a caller acts on (unavailable: 503; full: 507; a refusal of its own; a failure).

use super::JobId;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// SQLite failed (a read or a change).
    #[error("database: {0}")]
    Sqlite(rusqlite::Error),
    /// The database cannot serve now (PostgreSQL down or unreachable; SQLite still locked
    /// past its busy timeout, its disk full or failing); try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// PostgreSQL ended this transaction to break a deadlock or a serialization failure
    /// with another one: nothing changed, and the same change again may well pass.
    #[error("the database ended this change to let a concurrent one through: {0}")]
    Conflict(String),
    /// The database's disk is full: nothing can be written until there is room again.
    #[error("the job database's disk is full: {0}")]
    Full(String),
    /// Another live host already uses this node name.
    #[error(
        "node name `{0}` is taken by a live host (its heartbeat is recent); pick another --node \
         or wait for its lease to run out"
    )]
    NodeNameTaken(String),
    /// Applying PostgreSQL's schema failed.
    #[error("database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// SQLite's schema cannot be applied, or the database's is not one this wasmpool knows.
    #[error("database schema: {0}")]
    Schema(String),
    /// A job's call came from an attempt that is no longer current (cancelled, or rescued
    /// from this host): it changes nothing.
    #[error("job {0} is no longer running here")]
    NotRunning(JobId),
    /// A submission names a module that is not stored.
    #[error("no module with hash {0}")]
    UnknownModule(String),
    /// The module is still needed by queued or running jobs.
    #[error("module {hash} is used by {jobs} queued or running job(s)")]
    ModuleInUse {
        /// The module.
        hash: String,
        /// How many jobs need it.
        jobs: u64,
    },
    /// A submission's graph cannot be accepted: an unknown or deleted parent, parents of
    /// two workflows, a workflow past the service's maxima (the message says which).
    #[error("{0}")]
    Graph(String),
    /// A stored value did not decode.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The group of changes this one was committed with failed to commit.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The writer thread is gone (the store is shutting down).
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// Whether this is a change refused for a reason of its own (the request names an
    /// unknown module, a module still needed, an attempt no longer current), rather than a
    /// failure of the database: such a refusal changes nothing.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::UnknownModule(_)
                | StoreError::Graph(_)
                | StoreError::ModuleInUse { .. }
                | StoreError::NotRunning(_)
        )
    }
}

impl From<sqlx::Error> for StoreError {
    /// Errors that mean "the database cannot be reached now" become [`StoreError::Unavailable`],
    /// so callers answer 503 and retry instead of reporting a failure of the request.
    fn from(error: sqlx::Error) -> Self {
        // 53100: disk_full.
        if let sqlx::Error::Database(e) = &error
            && e.code().as_deref() == Some("53100")
        {
            return StoreError::Full(error.to_string());
        }
        // 40P01: deadlock_detected; 40001: serialization_failure.
        if let sqlx::Error::Database(e) = &error
            && matches!(e.code().as_deref(), Some("40P01" | "40001"))
        {
            return StoreError::Conflict(error.to_string());
        }
        let unreachable = match &error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
            sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
            // Class 08 (connection exception) and 57P0x (the server is shutting down or
            // starting up).
            sqlx::Error::Database(e) => e.code().is_some_and(|code| {
                code.starts_with("08") || code.starts_with("57P0") || code.starts_with("53")
            }),
            _ => false,
        };
        if unreachable {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Database(error)
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    /// As with PostgreSQL, errors that say "not now" rather than "this request is wrong"
    /// become [`StoreError::Unavailable`]: the database stayed locked past the busy timeout,
    /// or its disk is full or failing.
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let code = error.sqlite_error_code();
        if code == Some(ErrorCode::DiskFull) {
            return StoreError::Full(error.to_string());
        }
        let unavailable = matches!(
            code,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::SystemIoFailure)
        );
        if unavailable {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Sqlite(error)
        }
    }
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
