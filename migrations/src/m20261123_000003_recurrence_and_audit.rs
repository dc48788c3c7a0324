//! The audit trail, and the key that makes each occurrence of a recurring series unique.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    OccurrenceKey,
}

#[derive(DeriveIden)]
enum AuditLogs {
    Table,
    Id,
    EventId,
    EventType,
    EntityType,
    EntityId,
    UserId,
    Data,
    OccurredAt,
    RecordedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `{series id}:{position}`: the recurring service can create each occurrence only once, however
        // often the completion that triggers it is delivered or repeated.
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(string_null(Tasks::OccurrenceKey))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_occurrence_key")
                    .table(Tasks::Table)
                    .col(Tasks::OccurrenceKey)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLogs::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditLogs::Id))
                    // One row per event, however often it is delivered. No foreign key to tasks:
                    // the trail outlives what it describes.
                    .col(uuid(AuditLogs::EventId).unique_key())
                    .col(string(AuditLogs::EventType))
                    .col(string(AuditLogs::EntityType))
                    .col(string(AuditLogs::EntityId))
                    .col(string(AuditLogs::UserId))
                    .col(json_binary(AuditLogs::Data))
                    .col(timestamp_with_time_zone(AuditLogs::OccurredAt))
                    .col(timestamp_with_time_zone(AuditLogs::RecordedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_logs_user_time")
                    .table(AuditLogs::Table)
                    .col(AuditLogs::UserId)
                    .col(AuditLogs::OccurredAt)
                    .col(AuditLogs::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLogs::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_tasks_occurrence_key")
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Tasks::OccurrenceKey)
                    .to_owned(),
            )
            .await
    }
}
