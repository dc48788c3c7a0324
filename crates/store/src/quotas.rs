//! Per-user quotas: how many tasks and conversations one user may keep, and how many bytes of chat
//! history. Without them one self-registered account could fill the database.
//!
//! Each check runs inside the transaction that writes, *after* the write: on SQLite that write
//! holds the database's write lock, and on PostgreSQL the user's row is locked — first, by
//! [`lock_user`], or for tasks by the insert itself, whose trigger updates the user's task count —
//! so concurrent requests of one user are serialised and a count cannot be overtaken: the limits
//! are exact, not best-effort. Chat history is checked before a turn is
//! stored and the turn is then stored whole, so it can exceed its limit by at most one turn.
//!
//! Not counted against the task limit: a recurring series' next occurrence
//! ([`crate::TaskRepo::create_occurrence`]), which replaces the occurrence just completed; refusing
//! it would silently end the series.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Statement,
};

use crate::StoreError;
use crate::entity::{conversations, users, webhook_endpoints};

/// The limits, each per user; 0 turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Tasks kept (open and completed).
    pub tasks: u64,
    /// Conversations with the assistant.
    pub conversations: u64,
    /// Bytes of chat history: every message's text and the tool calls stored with it.
    pub chat_bytes: u64,
    /// Webhook endpoints.
    pub webhooks: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            tasks: 10_000,
            conversations: 1_000,
            chat_bytes: 10 * 1024 * 1024,
            webhooks: 20,
        }
    }
}

/// Which quota was reached, for the error message.
pub(crate) const TASKS: &str = "tasks";
pub(crate) const CONVERSATIONS: &str = "conversations";
pub(crate) const CHAT_BYTES: &str = "bytes of chat history";
pub(crate) const WEBHOOKS: &str = "webhook endpoints";

/// Refuses when `count` is over `limit` (0: unlimited).
pub(crate) fn within(what: &'static str, count: u64, limit: u64) -> Result<(), StoreError> {
    if limit > 0 && count > limit {
        Err(StoreError::QuotaExceeded { what, limit })
    } else {
        Ok(())
    }
}

/// On PostgreSQL, locks the user's row until the transaction ends, so that one user's quota-checked
/// writes run one at a time. (SQLite needs nothing: its first write takes the database's lock.)
pub(crate) async fn lock_user(txn: &impl ConnectionTrait, user_id: &str) -> Result<(), StoreError> {
    if crate::is_postgres(txn) {
        users::Entity::find_by_id(user_id.to_owned())
            .select_only()
            .column(users::Column::Id)
            .lock_exclusive()
            .into_tuple::<String>()
            .one(txn)
            .await?;
    }
    Ok(())
}

/// The user's tasks: the count the database keeps on the user's row (migration
/// `m20261207_000016_user_task_count`), one key lookup however many tasks there are. Read inside
/// the transaction that inserted, it includes that insert; on PostgreSQL the insert's trigger holds
/// the user's row until the transaction ends, so no concurrent create can overtake the count.
pub(crate) async fn task_count(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, StoreError> {
    let count = users::Entity::find_by_id(user_id.to_owned())
        .select_only()
        .column_as(Expr::cust("task_count"), "task_count")
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(count.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// The user's conversations.
pub(crate) async fn conversation_count(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, StoreError> {
    Ok(conversations::Entity::find()
        .filter(conversations::Column::UserId.eq(user_id))
        .count(db)
        .await?)
}

/// The user's webhook endpoints.
pub(crate) async fn webhook_count(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, StoreError> {
    Ok(webhook_endpoints::Entity::find()
        .filter(webhook_endpoints::Column::UserId.eq(user_id))
        .count(db)
        .await?)
}

/// The bytes of the user's chat history (messages reached through the user's conversations, so the
/// conversations index serves the lookup).
pub(crate) async fn chat_bytes(db: &impl ConnectionTrait, user_id: &str) -> Result<u64, StoreError> {
    let backend = db.get_database_backend();
    let sql = if crate::is_postgres(db) {
        "SELECT CAST(COALESCE(SUM(octet_length(m.content) + COALESCE(octet_length(CAST(m.tool_calls AS TEXT)), 0)), 0) AS BIGINT) AS bytes \
         FROM messages m WHERE m.user_id = $1 AND m.conversation_id IN (SELECT c.id FROM conversations c WHERE c.user_id = $1)"
    } else {
        "SELECT CAST(COALESCE(SUM(length(CAST(m.content AS BLOB)) + COALESCE(length(CAST(m.tool_calls AS BLOB)), 0)), 0) AS BIGINT) AS bytes \
         FROM messages m WHERE m.user_id = ?1 AND m.conversation_id IN (SELECT c.id FROM conversations c WHERE c.user_id = ?1)"
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [user_id.into()]))
        .await?;
    let bytes: i64 = match row {
        Some(row) => row.try_get("", "bytes")?,
        None => 0,
    };
    Ok(u64::try_from(bytes).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_of_zero_is_off_and_reaching_a_limit_is_allowed() {
        assert!(within(TASKS, 1_000_000, 0).is_ok());
        assert!(within(TASKS, 3, 3).is_ok());
        assert!(matches!(
            within(TASKS, 4, 3),
            Err(StoreError::QuotaExceeded {
                what: "tasks",
                limit: 3
            })
        ));
    }
}
