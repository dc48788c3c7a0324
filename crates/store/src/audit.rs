//! The append-only audit trail: one row per event, newest first, paged by cursor.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, TryInsertResult,
};
use serde::Serialize;
use uuid::Uuid;

use crate::entity::audit_logs;
use crate::{StoreError, paging};

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub event_id: Uuid,
    pub event_type: String,
    /// `task` or `reminder`.
    pub entity_type: String,
    pub entity_id: String,
    pub user_id: String,
    /// The event as published (a task snapshot, and the changes for updates).
    pub data: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// The W3C trace id (32 hex digits) of the request that caused the event, when it was traced.
    pub trace_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub event_type: Option<String>,
    pub entity_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: u64,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

fn entry(m: audit_logs::Model) -> AuditEntry {
    AuditEntry {
        event_id: m.event_id,
        event_type: m.event_type,
        entity_type: m.entity_type,
        entity_id: m.entity_id,
        user_id: m.user_id,
        data: m.data,
        occurred_at: m.occurred_at,
        recorded_at: m.recorded_at,
        trace_id: m.trace_id,
    }
}

pub struct AuditRepo<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> AuditRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Appends `entry` unless its event is already recorded; `false` for a duplicate.
    pub async fn append(&self, entry: &AuditEntry) -> Result<bool, StoreError> {
        let inserted = audit_logs::Entity::insert(audit_logs::ActiveModel {
            event_id: Set(entry.event_id),
            event_type: Set(entry.event_type.clone()),
            entity_type: Set(entry.entity_type.clone()),
            entity_id: Set(entry.entity_id.clone()),
            user_id: Set(entry.user_id.clone()),
            data: Set(entry.data.clone()),
            occurred_at: Set(entry.occurred_at),
            recorded_at: Set(entry.recorded_at),
            trace_id: Set(entry.trace_id.clone()),
            ..Default::default()
        })
        .on_conflict_do_nothing_on([audit_logs::Column::EventId])
        .exec_without_returning(self.db)
        .await?;
        Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
    }

    /// The user's entries, newest first.
    pub async fn list(&self, user_id: &str, filter: &AuditFilter) -> Result<AuditPage, StoreError> {
        let mut cond = Condition::all().add(audit_logs::Column::UserId.eq(user_id));
        if let Some(t) = &filter.event_type {
            cond = cond.add(audit_logs::Column::EventType.eq(t.as_str()));
        }
        if let Some(id) = &filter.entity_id {
            cond = cond.add(audit_logs::Column::EntityId.eq(id.as_str()));
        }
        if let Some(t) = filter.since {
            cond = cond.add(audit_logs::Column::OccurredAt.gte(t));
        }
        if let Some(t) = filter.until {
            cond = cond.add(audit_logs::Column::OccurredAt.lt(t));
        }
        let (rows, next_cursor) = paging::newest_first(
            self.db,
            audit_logs::Entity::find().filter(cond),
            (audit_logs::Column::OccurredAt, audit_logs::Column::Id),
            filter.cursor.as_deref(),
            filter.limit,
            |r| (r.occurred_at, r.id),
        )
        .await?;
        Ok(AuditPage {
            entries: rows.into_iter().map(entry).collect(),
            next_cursor,
        })
    }
}
