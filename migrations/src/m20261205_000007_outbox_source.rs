//! Every service publishes the events it writes: an outbox row records which app wrote it
//! (`source`, also the CloudEvent `source`), and each service's relay publishes only its own rows
//! through its own sidecar. Rows written before this migration belonged to backend-api's relay.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Source,
    PublishedAt,
    Id,
}

const INDEX: &str = "idx_outbox_source_pending";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(string(Outbox::Source).default("backend-api"))
                    .to_owned(),
            )
            .await?;
        // A relay reads its own pending rows in order: (source, published_at IS NULL, id).
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Outbox::Table)
                    .col(Outbox::Source)
                    .col(Outbox::PublishedAt)
                    .col(Outbox::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Outbox::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .drop_column(Outbox::Source)
                    .to_owned(),
            )
            .await
    }
}
