//! Webhook deliveries: the queue the sender works through and the log the owner reads.
//!
//! One row per (endpoint, event), inserted if absent, so a redelivered event records nothing new.
//! The sender takes, per endpoint, only the oldest pending row, and only once its time has come
//! ([`DeliveryRepo::due`]): a later event never overtakes an earlier one. Before sending it claims the
//! row by moving `next_attempt_at` forward (conditional on the value it read), so two senders
//! (overlapping ticks, replicas) never send the same attempt twice.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TryInsertResult,
};
use serde::Serialize;
use uuid::Uuid;

use crate::entity::webhook_deliveries as deliveries;
use crate::entity::webhook_endpoints as endpoints;
use crate::{StoreError, paging};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// One delivery as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: Uuid,
    pub event_id: Uuid,
    /// The event type, e.g. `task-created`.
    pub event_type: String,
    /// The `webhook-id` header: the same on every attempt.
    pub webhook_id: String,
    /// `pending`, `delivered` or `failed` (every attempt of the schedule failed).
    pub status: String,
    pub attempts: i32,
    /// The HTTP status of the last attempt; `null` when it got no answer.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// How long the last attempt took, in milliseconds.
    pub duration_ms: Option<i64>,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

fn delivery(m: deliveries::Model) -> Delivery {
    Delivery {
        id: m.id,
        event_id: m.event_id,
        event_type: m.event_type,
        webhook_id: m.webhook_id,
        status: m.status,
        attempts: m.attempts,
        last_status_code: m.last_status_code,
        last_error: m.last_error,
        duration_ms: m.last_duration_ms,
        next_attempt_at: m.next_attempt_at,
        created_at: m.created_at,
        last_attempt_at: m.last_attempt_at,
        delivered_at: m.delivered_at,
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryPage {
    /// Newest first.
    pub deliveries: Vec<Delivery>,
    pub next_cursor: Option<String>,
}

/// A delivery the sender is about to attempt.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub webhook_id: String,
    pub payload: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// The value the claim is conditional on.
    pub next_attempt_at: DateTime<Utc>,
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    /// [`PENDING`] (retry at `next_attempt_at`), [`DELIVERED`] or [`FAILED`].
    pub status: &'static str,
    pub status_code: Option<u16>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

pub struct DeliveryRepo<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> DeliveryRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Queues `event_id` for `endpoint_id`, due now; `false` when it was queued before.
    #[allow(clippy::too_many_arguments)]
    pub async fn record(
        &self,
        endpoint_id: Uuid,
        user_id: &str,
        event_id: Uuid,
        event_type: &str,
        webhook_id: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = deliveries::Entity::insert(deliveries::ActiveModel {
            id: Set(Uuid::now_v7()),
            endpoint_id: Set(endpoint_id),
            user_id: Set(user_id.to_owned()),
            event_id: Set(event_id),
            event_type: Set(event_type.to_owned()),
            webhook_id: Set(webhook_id.to_owned()),
            payload: Set(payload.to_owned()),
            status: Set(PENDING.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(Some(now)),
            last_status_code: Set(None),
            last_error: Set(None),
            last_duration_ms: Set(None),
            created_at: Set(now),
            last_attempt_at: Set(None),
            delivered_at: Set(None),
        })
        .on_conflict_do_nothing_on([deliveries::Column::EndpointId, deliveries::Column::EventId])
        .exec_without_returning(self.db)
        .await
        .map_err(StoreError::from)?;
        Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
    }

    /// The deliveries to attempt now: of each enabled endpoint with something due, its oldest
    /// pending delivery, if that one is due (a later one never goes first). At most `limit` endpoints.
    pub async fn due(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<DueDelivery>, StoreError> {
        // Only enabled endpoints: a disabled one's pending rows wait for it to be re-enabled, and
        // must not take the places of endpoints that can be served.
        let enabled = Query::select()
            .column(endpoints::Column::Id)
            .from(endpoints::Entity)
            .and_where(endpoints::Column::Enabled.eq(true))
            .to_owned();
        let endpoints: Vec<Uuid> = deliveries::Entity::find()
            .select_only()
            .column(deliveries::Column::EndpointId)
            .filter(deliveries::Column::Status.eq(PENDING))
            .filter(deliveries::Column::NextAttemptAt.lte(now))
            .filter(deliveries::Column::EndpointId.in_subquery(enabled))
            .distinct()
            .limit(limit)
            .into_tuple::<Uuid>()
            .all(self.db)
            .await?;
        let mut due = Vec::with_capacity(endpoints.len());
        for endpoint_id in endpoints {
            let head = deliveries::Entity::find()
                .filter(deliveries::Column::EndpointId.eq(endpoint_id))
                .filter(deliveries::Column::Status.eq(PENDING))
                .order_by_asc(deliveries::Column::CreatedAt)
                .order_by_asc(deliveries::Column::Id)
                .one(self.db)
                .await?;
            if let Some(m) = head
                && let Some(at) = m.next_attempt_at
                && at <= now
            {
                due.push(DueDelivery {
                    id: m.id,
                    endpoint_id: m.endpoint_id,
                    webhook_id: m.webhook_id,
                    payload: m.payload,
                    attempts: m.attempts,
                    next_attempt_at: at,
                });
            }
        }
        Ok(due)
    }

    /// Takes `d` for one attempt by moving its due time to `lease_until`; `false` when another sender
    /// took it first.
    pub async fn claim(&self, d: &DueDelivery, lease_until: DateTime<Utc>) -> Result<bool, StoreError> {
        let updated = deliveries::Entity::update_many()
            .col_expr(deliveries::Column::NextAttemptAt, Expr::val(lease_until))
            .filter(deliveries::Column::Id.eq(d.id))
            .filter(deliveries::Column::Status.eq(PENDING))
            .filter(deliveries::Column::NextAttemptAt.eq(d.next_attempt_at))
            .exec(self.db)
            .await?;
        Ok(updated.rows_affected > 0)
    }

    /// Stores the outcome of an attempt at `id`.
    pub async fn record_attempt(&self, id: Uuid, attempt: &Attempt<'_>) -> Result<(), StoreError> {
        let delivered_at = (attempt.status == DELIVERED).then_some(attempt.at);
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::Status, Expr::val(attempt.status))
            .col_expr(
                deliveries::Column::Attempts,
                Expr::col(deliveries::Column::Attempts).add(1),
            )
            .col_expr(
                deliveries::Column::NextAttemptAt,
                Expr::val(attempt.next_attempt_at),
            )
            .col_expr(
                deliveries::Column::LastStatusCode,
                Expr::val(attempt.status_code.map(i32::from)),
            )
            .col_expr(
                deliveries::Column::LastError,
                Expr::val(attempt.error.map(str::to_owned)),
            )
            .col_expr(deliveries::Column::LastDurationMs, Expr::val(attempt.duration_ms))
            .col_expr(deliveries::Column::LastAttemptAt, Expr::val(attempt.at))
            .col_expr(deliveries::Column::DeliveredAt, Expr::val(delivered_at))
            .filter(deliveries::Column::Id.eq(id))
            .exec(self.db)
            .await?;
        Ok(())
    }

    /// An endpoint's deliveries, newest first. The caller has checked the endpoint is the user's.
    pub async fn list(
        &self,
        user_id: &str,
        endpoint_id: Uuid,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<DeliveryPage, StoreError> {
        let (rows, next_cursor) = paging::newest_first(
            self.db,
            deliveries::Entity::find()
                .filter(deliveries::Column::UserId.eq(user_id))
                .filter(deliveries::Column::EndpointId.eq(endpoint_id)),
            (deliveries::Column::CreatedAt, deliveries::Column::Id),
            cursor,
            limit,
            |r| (r.created_at, r.id),
        )
        .await?;
        Ok(DeliveryPage {
            deliveries: rows.into_iter().map(delivery).collect(),
            next_cursor,
        })
    }

    /// Queues a delivery again, due now, with the retry schedule started afresh; `None` when it is
    /// not the user's endpoint's.
    pub async fn requeue(
        &self,
        user_id: &str,
        endpoint_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let scoped = || {
            deliveries::Column::Id
                .eq(id)
                .and(deliveries::Column::EndpointId.eq(endpoint_id))
                .and(deliveries::Column::UserId.eq(user_id))
        };
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::Status, Expr::val(PENDING))
            .col_expr(deliveries::Column::Attempts, Expr::val(0))
            .col_expr(deliveries::Column::NextAttemptAt, Expr::val(now))
            .col_expr(
                deliveries::Column::DeliveredAt,
                Expr::val(Option::<DateTime<Utc>>::None),
            )
            .filter(scoped())
            .exec(self.db)
            .await?;
        Ok(deliveries::Entity::find()
            .filter(scoped())
            .one(self.db)
            .await?
            .map(delivery))
    }
}
