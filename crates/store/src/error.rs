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
    /// The user has as many of `what` as their quota allows ([`crate::Quotas`]).
    #[error("quota exceeded: at most {limit} {what} per user")]
    QuotaExceeded { what: &'static str, limit: u64 },
    /// The database cannot be reached right now; retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(DbErr),
    #[error("database error: {0}")]
    Database(DbErr),
}

/// Whether a failed statement failed because the database could not be reached or went away (a
/// restart, a cut network), rather than because of the statement: those are worth a retry.
fn is_connection_failure(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error;
    let runtime = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(e) | DbErr::Query(e) => e,
        _ => return false,
    };
    let RuntimeErr::SqlxError(sqlx) = runtime else {
        return false;
    };
    match sqlx.as_ref() {
        Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception), 57P01-57P03 (the server is shutting down or
        // starting), 53300 (too many connections).
        Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P0") || c == "53300"),
        _ => false,
    }
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_connection_failure(&err) {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error;

    use super::*;

    fn query(e: Error) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
    }

    #[test]
    fn a_connection_lost_mid_statement_is_unavailable_not_internal() {
        // The pool checks a connection before lending it; one that dies during a statement fails
        // the statement itself with an I/O error.
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        assert!(matches!(
            StoreError::from(query(Error::Io(reset))),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from(query(Error::PoolTimedOut)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from(DbErr::Exec(RuntimeErr::SqlxError(Arc::new(Error::PoolClosed)))),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from(query(Error::RowNotFound)),
            StoreError::Database(_)
        ));
    }
}
