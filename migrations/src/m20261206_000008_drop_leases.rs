//! The relay's lease row is gone: one relay per scope is now a lock that ends with its holder (a
//! PostgreSQL session advisory lock, or an OS file lock beside an SQLite database), so a crashed
//! holder no longer stops events for a lease's lifetime. A relay of an older version still running
//! during a rolling update fails to renew its lease once this runs, and stops publishing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Leases {
    Table,
    Name,
    Owner,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Leases::Table).if_exists().to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
            .await
    }
}
