//! What can go wrong below the API: the database, or data that breaks an invariant.

use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already holds this value (e.g. an e-mail address).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// The row changed since it was read (optimistic concurrency).
    #[error("the record was changed by another request")]
    VersionConflict,
    /// The client's pagination cursor cannot be used.
    #[error(transparent)]
    InvalidCursor(#[from] crate::CursorError),
    /// A stored value no longer parses: a bug or a manual edit, never the client's fault.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A row refers to one that does not exist (e.g. a task for a user who was deleted).
    #[error("a referenced record does not exist")]
    MissingReference,
    /// The database cannot be reached right now; retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(DbErr),
    #[error("database error: {0}")]
    Database(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
            return Self::Unavailable(err);
        }
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Duplicate("record"),
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => Self::MissingReference,
            _ => Self::Database(err),
        }
    }
}

impl StoreError {
    /// Turns a unique-constraint violation into [`StoreError::Duplicate`], passing other errors through.
    pub(crate) fn unique(err: DbErr, what: &'static str) -> Self {
        match Self::from(err) {
            Self::Duplicate(_) => Self::Duplicate(what),
            other => other,
        }
    }
}
