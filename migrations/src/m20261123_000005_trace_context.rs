//! W3C trace context on the event path: the outbox row keeps the `traceparent` of the request (or
//! event) that wrote it, so the relay can put it on the CloudEvent; the audit row keeps the trace id,
//! so one id ties a REST call to its audit entry.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Traceparent,
}

#[derive(DeriveIden)]
enum AuditLogs {
    Table,
    TraceId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(text_null(Outbox::Traceparent))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLogs::Table)
                    .add_column(text_null(AuditLogs::TraceId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLogs::Table)
                    .drop_column(AuditLogs::TraceId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .drop_column(Outbox::Traceparent)
                    .to_owned(),
            )
            .await
    }
}
