//! The transactional outbox: events are written in the same transaction as the change they describe,
//! and a relay publishes them afterwards. A crash between commit and publish delays an event; it
//! never loses one.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use taskflow_domain::TaskEvent;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::StoreError;
use crate::entity::outbox;

/// An event waiting to be published.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub event_id: Uuid,
    pub topic: String,
    pub partition_key: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The W3C `traceparent` of the request or event that wrote it, for the CloudEvent.
    pub traceparent: Option<String>,
    /// The app that wrote it: its relay publishes it, as the CloudEvent `source`.
    pub source: String,
}

/// How far behind the relay is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxStats {
    pub pending: u64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// Wakes the relay after a commit in this process, so publishing takes milliseconds, not a poll.
#[derive(Debug, Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn notify(&self) {
        self.0.notify_one();
    }

    pub async fn notified(&self) {
        self.0.notified().await;
    }
}

/// The app a [`crate::Store`] handle writes outbox rows for when no other is named.
pub const DEFAULT_SOURCE: &str = "backend-api";

/// Which rows a relay reads: every app's (the single binary, one process publishing for all), or one
/// app's own (a service under Dapr publishes what it wrote through its own sidecar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxScope {
    All,
    Source(String),
}

impl OutboxScope {
    fn filter(&self, select: sea_orm::Select<outbox::Entity>) -> sea_orm::Select<outbox::Entity> {
        match self {
            Self::All => select,
            Self::Source(source) => select.filter(outbox::Column::Source.eq(source.as_str())),
        }
    }
}

/// How a store handle adds events to the outbox: stamped with the app that writes them, and
/// waking this process's relay after the commit.
#[derive(Debug, Clone)]
pub(crate) struct OutboxWriter {
    pub(crate) source: Arc<str>,
    pub(crate) signal: OutboxSignal,
}

impl OutboxWriter {
    /// Adds `events` to the outbox inside the caller's transaction, stamped with the writing app and
    /// the current trace ([`taskflow_trace::current`]) so the relay can carry both onto the CloudEvent.
    pub(crate) async fn enqueue(
        &self,
        db: &impl ConnectionTrait,
        events: &[TaskEvent],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let traceparent = taskflow_trace::current().map(|t| t.header());
        let rows = events
            .iter()
            .map(|e| {
                let payload = serde_json::to_value(e).map_err(|err| StoreError::Corrupt(err.to_string()))?;
                Ok(outbox::ActiveModel {
                    event_id: Set(e.event_id),
                    topic: Set(e.topic().to_owned()),
                    partition_key: Set(e.partition_key().to_owned()),
                    payload: Set(payload),
                    created_at: Set(e.occurred_at),
                    published_at: Set(None),
                    attempts: Set(0),
                    next_attempt_at: Set(e.occurred_at),
                    last_error: Set(None),
                    traceparent: Set(traceparent.clone()),
                    source: Set(self.source.to_string()),
                    ..Default::default()
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        outbox::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
        Ok(())
    }

    /// After the commit: the relay has work.
    pub(crate) fn notify(&self) {
        self.signal.notify();
    }
}

pub struct OutboxRepo<'a> {
    pub(crate) db: &'a DatabaseConnection,
}

impl<'a> OutboxRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// The oldest unpublished events in `scope`, in insertion order (including ones waiting for a retry).
    pub async fn pending(&self, scope: &OutboxScope, limit: u64) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = unpublished_in_order(scope).limit(limit).all(self.db).await?;
        Ok(rows
            .into_iter()
            .map(|m| OutboxMessage {
                id: m.id,
                event_id: m.event_id,
                topic: m.topic,
                partition_key: m.partition_key,
                payload: m.payload,
                attempts: m.attempts,
                next_attempt_at: m.next_attempt_at,
                created_at: m.created_at,
                traceparent: m.traceparent,
                source: m.source,
            })
            .collect())
    }

    pub async fn mark_published(&self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        outbox::Entity::update_many()
            .col_expr(outbox::Column::PublishedAt, Expr::val(now))
            .col_expr(outbox::Column::LastError, Expr::val(Option::<String>::None))
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .exec(self.db)
            .await?;
        Ok(())
    }

    /// Records a failed attempt and when to try again.
    pub async fn defer(
        &self,
        id: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(1000).collect();
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .col_expr(outbox::Column::NextAttemptAt, Expr::val(next_attempt_at))
            .col_expr(outbox::Column::LastError, Expr::val(error))
            .filter(outbox::Column::Id.eq(id))
            .exec(self.db)
            .await?;
        Ok(())
    }

    /// Deletes events in `scope` published before `before`; returns how many.
    pub async fn prune(&self, scope: &OutboxScope, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut delete = outbox::Entity::delete_many();
        if let OutboxScope::Source(source) = scope {
            delete = delete.filter(outbox::Column::Source.eq(source.as_str()));
        }
        let res = delete
            .filter(outbox::Column::PublishedAt.is_not_null())
            .filter(outbox::Column::PublishedAt.lt(before))
            .exec(self.db)
            .await?;
        Ok(res.rows_affected)
    }

    pub async fn stats(&self, scope: &OutboxScope) -> Result<OutboxStats, StoreError> {
        let pending = scope
            .filter(outbox::Entity::find())
            .filter(outbox::Column::PublishedAt.is_null())
            .count(self.db)
            .await?;
        let oldest = unpublished_in_order(scope)
            .one(self.db)
            .await?
            .map(|m| m.created_at);
        Ok(OutboxStats {
            pending,
            oldest_pending_at: oldest,
        })
    }

    /// Whether an event was published (for tests and diagnostics).
    pub async fn is_published(&self, event_id: Uuid) -> Result<bool, StoreError> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::EventId.eq(event_id))
            .filter(outbox::Column::PublishedAt.is_not_null())
            .count(self.db)
            .await?
            > 0)
    }
}

/// Unpublished rows in id order, sorted by `(published_at, id)` although `published_at` is always
/// NULL here: that is the order of the `idx_outbox_pending` index (and, after the equality on
/// `source`, of `idx_outbox_source_pending`), so PostgreSQL walks the index from its NULL end.
/// Sorted by `id` alone, it preferred the primary key and filtered every published row it met:
/// 720 ms per relay pass with 190 000 published rows kept (BENCHMARKS.md, "Profiling").
fn unpublished_in_order(scope: &OutboxScope) -> sea_orm::Select<outbox::Entity> {
    scope
        .filter(outbox::Entity::find())
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::PublishedAt)
        .order_by_asc(outbox::Column::Id)
}
