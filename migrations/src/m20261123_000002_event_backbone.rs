//! The event backbone: the transactional outbox, the relay's lease, consumers' processed-event keys
//! and the in-process bus's dead letters.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    EventId,
    Topic,
    PartitionKey,
    Payload,
    CreatedAt,
    PublishedAt,
    Attempts,
    NextAttemptAt,
    LastError,
}

#[derive(DeriveIden)]
enum Leases {
    Table,
    Name,
    Owner,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ProcessedEvents {
    Table,
    Consumer,
    EventId,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum DeadLetters {
    Table,
    Id,
    EventId,
    Topic,
    Subscriber,
    Payload,
    Reason,
    Attempts,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .if_not_exists()
                    // Insertion order is publication order within a partition key.
                    .col(big_pk_auto(Outbox::Id))
                    .col(uuid(Outbox::EventId).unique_key())
                    .col(string(Outbox::Topic))
                    .col(string(Outbox::PartitionKey))
                    .col(json_binary(Outbox::Payload))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::PublishedAt))
                    .col(integer(Outbox::Attempts).default(0))
                    .col(timestamp_with_time_zone(Outbox::NextAttemptAt))
                    .col(text_null(Outbox::LastError))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_pending")
                    .table(Outbox::Table)
                    .col(Outbox::PublishedAt)
                    .col(Outbox::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Leases::Table)
                    .if_not_exists()
                    .col(string(Leases::Name).primary_key())
                    .col(string(Leases::Owner))
                    .col(timestamp_with_time_zone(Leases::ExpiresAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProcessedEvents::Table)
                    .if_not_exists()
                    .col(string(ProcessedEvents::Consumer))
                    .col(uuid(ProcessedEvents::EventId))
                    .col(timestamp_with_time_zone(ProcessedEvents::ProcessedAt))
                    .primary_key(
                        Index::create()
                            .col(ProcessedEvents::Consumer)
                            .col(ProcessedEvents::EventId),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeadLetters::Table)
                    .if_not_exists()
                    .col(big_pk_auto(DeadLetters::Id))
                    .col(uuid(DeadLetters::EventId))
                    .col(string(DeadLetters::Topic))
                    .col(string(DeadLetters::Subscriber))
                    .col(json_binary(DeadLetters::Payload))
                    .col(text(DeadLetters::Reason))
                    .col(integer(DeadLetters::Attempts))
                    .col(timestamp_with_time_zone(DeadLetters::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DeadLetters::Table.into_iden(),
            ProcessedEvents::Table.into_iden(),
            Leases::Table.into_iden(),
            Outbox::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
