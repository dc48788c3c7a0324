//! Webhook endpoints: a user's registrations, their signing secrets and their state.
//!
//! The secret is kept as given (deliveries are signed with it), never returned by a read: the API
//! shows it once, in the answer to a create or a rotation. A rotation keeps the previous secret
//! signing beside the new one until its grace period ends, so a receiver can switch without losing a
//! delivery. The per-user limit ([`crate::Quotas::webhooks`]) is checked in the inserting
//! transaction, after the insert, with the user's row locked, so it is exact under concurrency.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, TransactionTrait,
};
use serde::Serialize;
use taskflow_domain::EventType;
use taskflow_domain::webhook::{ValidWebhook, ValidWebhookUpdate, events_from_column, events_to_column};
use uuid::Uuid;

use crate::entity::notifications;
use crate::entity::webhook_endpoints as endpoints;
use crate::{Quotas, StoreError, quotas};

/// An endpoint as its owner sees it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<EventType>,
    /// `false` once paused by its owner or disabled by the server (see `disabled_reason`).
    pub enabled: bool,
    /// Why the server disabled it: `gone` (it answered 410) or `failing` (no delivery succeeded
    /// for a day).
    pub disabled_reason: Option<String>,
    /// Since when its deliveries have been failing; `null` while they succeed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret replaced by the last rotation still signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn webhook(m: endpoints::Model) -> Webhook {
    Webhook {
        id: m.id,
        url: m.url,
        description: m.description,
        events: events_from_column(&m.events),
        enabled: m.enabled,
        disabled_reason: m.disabled_reason,
        failing_since: m.failing_since,
        previous_secret_expires_at: m.previous_secret_expires_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// What a delivery needs of an endpoint: where to send and the secrets that sign.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub id: Uuid,
    pub user_id: String,
    pub url: String,
    pub enabled: bool,
    pub failing_since: Option<DateTime<Utc>>,
    /// The current secret first, then the previous one while its grace period lasts.
    pub secrets: Vec<String>,
}

impl WebhookTarget {
    fn of(m: endpoints::Model, now: DateTime<Utc>) -> Self {
        let mut secrets = vec![m.secret];
        if let (Some(previous), Some(until)) = (m.previous_secret, m.previous_secret_expires_at)
            && until > now
        {
            secrets.push(previous);
        }
        Self {
            id: m.id,
            user_id: m.user_id,
            url: m.url,
            enabled: m.enabled,
            failing_since: m.failing_since,
            secrets,
        }
    }
}

pub struct WebhookRepo<'a> {
    db: &'a DatabaseConnection,
    quotas: Quotas,
}

impl<'a> WebhookRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection, quotas: Quotas) -> Self {
        Self { db, quotas }
    }

    /// Registers an endpoint signed with `secret`; [`StoreError::QuotaExceeded`] past the user's limit.
    pub async fn create(
        &self,
        user_id: &str,
        new: &ValidWebhook,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError> {
        let txn = self.db.begin().await?;
        quotas::lock_user(&txn, user_id).await?;
        let model = endpoints::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id.to_owned()),
            url: Set(new.url.clone()),
            description: Set(new.description.clone()),
            events: Set(events_to_column(&new.events)),
            secret: Set(secret.to_owned()),
            previous_secret: Set(None),
            previous_secret_expires_at: Set(None),
            enabled: Set(true),
            disabled_reason: Set(None),
            failing_since: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let count = quotas::webhook_count(&txn, user_id).await?;
        quotas::within(quotas::WEBHOOKS, count, self.quotas.webhooks)?;
        txn.commit().await?;
        Ok(webhook(model))
    }

    /// The user's endpoints, oldest first (at most the quota's worth).
    pub async fn list(&self, user_id: &str) -> Result<Vec<Webhook>, StoreError> {
        Ok(endpoints::Entity::find()
            .filter(endpoints::Column::UserId.eq(user_id))
            .order_by_asc(endpoints::Column::CreatedAt)
            .order_by_asc(endpoints::Column::Id)
            .all(self.db)
            .await?
            .into_iter()
            .map(webhook)
            .collect())
    }

    async fn find(&self, user_id: &str, id: Uuid) -> Result<Option<endpoints::Model>, StoreError> {
        Ok(endpoints::Entity::find_by_id(id)
            .filter(endpoints::Column::UserId.eq(user_id))
            .one(self.db)
            .await?)
    }

    pub async fn get(&self, user_id: &str, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        Ok(self.find(user_id, id).await?.map(webhook))
    }

    /// Applies `change`; re-enabling clears the server's reason and the failure run. `None` when the
    /// endpoint is not the user's.
    pub async fn update(
        &self,
        user_id: &str,
        id: Uuid,
        change: &ValidWebhookUpdate,
        now: DateTime<Utc>,
    ) -> Result<Option<Webhook>, StoreError> {
        let Some(current) = self.find(user_id, id).await? else {
            return Ok(None);
        };
        let mut model = current.into_active_model();
        if let Some(url) = &change.url {
            model.url = Set(url.clone());
        }
        if let Some(events) = &change.events {
            model.events = Set(events_to_column(events));
        }
        if let Some(description) = &change.description {
            model.description = Set(Some(description.clone()));
        }
        if let Some(enabled) = change.enabled {
            model.enabled = Set(enabled);
            if enabled {
                model.disabled_reason = Set(None);
                model.failing_since = Set(None);
            }
        }
        model.updated_at = Set(now);
        Ok(Some(webhook(model.update(self.db).await?)))
    }

    /// Deletes the endpoint and its delivery log; `false` when it is not the user's.
    pub async fn delete(&self, user_id: &str, id: Uuid) -> Result<bool, StoreError> {
        let deleted = endpoints::Entity::delete_many()
            .filter(endpoints::Column::Id.eq(id))
            .filter(endpoints::Column::UserId.eq(user_id))
            .exec(self.db)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Makes `secret` the signing secret; the current one keeps signing until `grace_until` (a
    /// secret still in an earlier grace period stops at once). `None` when not the user's.
    pub async fn rotate_secret(
        &self,
        user_id: &str,
        id: Uuid,
        secret: &str,
        grace_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Webhook>, StoreError> {
        let Some(current) = self.find(user_id, id).await? else {
            return Ok(None);
        };
        let previous = current.secret.clone();
        let mut model = current.into_active_model();
        model.previous_secret = Set(Some(previous));
        model.previous_secret_expires_at = Set(Some(grace_until));
        model.secret = Set(secret.to_owned());
        model.updated_at = Set(now);
        Ok(Some(webhook(model.update(self.db).await?)))
    }

    /// The user's enabled endpoints subscribed to `event`.
    pub async fn subscribed(
        &self,
        user_id: &str,
        event: EventType,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebhookTarget>, StoreError> {
        Ok(endpoints::Entity::find()
            .filter(endpoints::Column::UserId.eq(user_id))
            .filter(endpoints::Column::Enabled.eq(true))
            .all(self.db)
            .await?
            .into_iter()
            .filter(|m| events_from_column(&m.events).contains(&event))
            .map(|m| WebhookTarget::of(m, now))
            .collect())
    }

    /// An endpoint's delivery target, whoever owns it (the sender's view).
    pub async fn target(&self, id: Uuid, now: DateTime<Utc>) -> Result<Option<WebhookTarget>, StoreError> {
        Ok(endpoints::Entity::find_by_id(id)
            .one(self.db)
            .await?
            .map(|m| WebhookTarget::of(m, now)))
    }

    /// Records the outcome of an attempt on the endpoint: a success ends its failure run, a failure
    /// starts one (if none is running). Returns when the run began, `None` after a success.
    pub async fn record_outcome(
        &self,
        id: Uuid,
        succeeded: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if succeeded {
            endpoints::Entity::update_many()
                .col_expr(
                    endpoints::Column::FailingSince,
                    Expr::val(Option::<DateTime<Utc>>::None),
                )
                .filter(endpoints::Column::Id.eq(id))
                .filter(endpoints::Column::FailingSince.is_not_null())
                .exec(self.db)
                .await?;
            return Ok(None);
        }
        endpoints::Entity::update_many()
            .col_expr(endpoints::Column::FailingSince, Expr::val(now))
            .filter(endpoints::Column::Id.eq(id))
            .filter(endpoints::Column::FailingSince.is_null())
            .exec(self.db)
            .await?;
        Ok(endpoints::Entity::find_by_id(id)
            .one(self.db)
            .await?
            .and_then(|m| m.failing_since))
    }

    /// Disables an enabled endpoint for `reason` and tells its owner in the notifications inbox
    /// (kind `webhook_disabled`, its `task_id` the endpoint's id), in one transaction; `false` if it
    /// was disabled already, so the owner is told once.
    pub async fn disable(
        &self,
        id: Uuid,
        reason: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin().await?;
        let updated = endpoints::Entity::update_many()
            .col_expr(endpoints::Column::Enabled, Expr::val(false))
            .col_expr(endpoints::Column::DisabledReason, Expr::val(reason))
            .col_expr(endpoints::Column::UpdatedAt, Expr::val(now))
            .filter(endpoints::Column::Id.eq(id))
            .filter(endpoints::Column::Enabled.eq(true))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        let Some(endpoint) = endpoints::Entity::find_by_id(id).one(&txn).await? else {
            return Ok(false);
        };
        notifications::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(endpoint.user_id),
            task_id: Set(id),
            reminder_id: Set(None),
            kind: Set("webhook_disabled".to_owned()),
            dedupe_key: Set(format!("webhook-disabled:{id}:{}", now.timestamp_micros())),
            title: Set("Webhook disabled".to_owned()),
            message: Set(message.to_owned()),
            due_at: Set(None),
            remind_at: Set(now),
            late: Set(false),
            created_at: Set(now),
            read_at: Set(None),
            email_status: Set("none".to_owned()),
            email_attempts: Set(0),
            email_next_attempt_at: Set(None),
            email_error: Set(None),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(true)
    }
}
