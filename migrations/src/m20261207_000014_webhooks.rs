//! Signed webhooks (issue 20): a user's endpoints, and one delivery row per (endpoint, event).
//!
//! `webhook_endpoints` keeps the signing secret itself (not a hash): every delivery is signed with
//! it. During a rotation's grace period the previous secret signs too, until
//! `previous_secret_expires_at`. `failing_since` is when the endpoint's current run of failures began
//! (NULL while it delivers); an endpoint failing for a day, or answering 410, is disabled with a
//! `disabled_reason`.
//!
//! `webhook_deliveries` is both the queue and the log. Unique `(endpoint_id, event_id)` makes the
//! consumer idempotent: a redelivered event records nothing new. `payload` is the body, rendered once,
//! so every attempt sends the same bytes. The sender picks, per endpoint, the oldest pending row
//! (`idx_webhook_deliveries_queue`) and only when its `next_attempt_at` has come: a later event waits
//! for an earlier one. Rows go with their endpoint, and endpoints with their user (`ON DELETE CASCADE`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    UserId,
    Url,
    Description,
    Events,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    Enabled,
    DisabledReason,
    FailingSince,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    UserId,
    EventId,
    EventType,
    WebhookId,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LastStatusCode,
    LastError,
    LastDurationMs,
    CreatedAt,
    LastAttemptAt,
    DeliveredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .if_not_exists()
                    .col(uuid(WebhookEndpoints::Id).primary_key())
                    .col(string(WebhookEndpoints::UserId))
                    .col(string_len(WebhookEndpoints::Url, 2048))
                    .col(string_len_null(WebhookEndpoints::Description, 500))
                    // Comma-separated event types, e.g. `task-created,task-completed`.
                    .col(string(WebhookEndpoints::Events))
                    .col(string(WebhookEndpoints::Secret))
                    .col(string_null(WebhookEndpoints::PreviousSecret))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::PreviousSecretExpiresAt,
                    ))
                    .col(boolean(WebhookEndpoints::Enabled).default(true))
                    .col(string_null(WebhookEndpoints::DisabledReason))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::FailingSince))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_endpoints_user")
                            .from(WebhookEndpoints::Table, WebhookEndpoints::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_endpoints_user")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::UserId)
                    .col(WebhookEndpoints::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(uuid(WebhookDeliveries::Id).primary_key())
                    .col(uuid(WebhookDeliveries::EndpointId))
                    .col(string(WebhookDeliveries::UserId))
                    .col(uuid(WebhookDeliveries::EventId))
                    .col(string(WebhookDeliveries::EventType))
                    .col(string(WebhookDeliveries::WebhookId))
                    .col(text(WebhookDeliveries::Payload))
                    // pending | delivered | failed
                    .col(string(WebhookDeliveries::Status))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::NextAttemptAt))
                    .col(integer_null(WebhookDeliveries::LastStatusCode))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(big_integer_null(WebhookDeliveries::LastDurationMs))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::LastAttemptAt))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_endpoint")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            (
                "idx_webhook_deliveries_event",
                vec![WebhookDeliveries::EndpointId, WebhookDeliveries::EventId],
                true,
            ),
            (
                "idx_webhook_deliveries_queue",
                vec![
                    WebhookDeliveries::EndpointId,
                    WebhookDeliveries::Status,
                    WebhookDeliveries::CreatedAt,
                    WebhookDeliveries::Id,
                ],
                false,
            ),
            (
                "idx_webhook_deliveries_due",
                vec![WebhookDeliveries::Status, WebhookDeliveries::NextAttemptAt],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(WebhookDeliveries::Table).if_not_exists();
            if unique {
                index.unique();
            }
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned())
            .await
    }
}
