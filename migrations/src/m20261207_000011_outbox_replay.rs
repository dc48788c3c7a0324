//! An index for resuming real-time clients from the outbox (`crates/store/src/event_history.rs`).
//!
//! A reconnecting client names the last event it saw; the store reads that user's published rows
//! after it in publication order, `(published_at, id)`. Without this index that is a scan of every
//! published row kept for the retention period (a day of every user's events). Partial: rows
//! waiting to be published (`published_at` NULL) are never read this way, and the relay's inserts
//! then cost nothing here until the row is published.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_outbox_replay";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {NAME} ON outbox (partition_key, published_at, id) \
                 WHERE published_at IS NOT NULL"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX IF EXISTS {NAME}"))
            .await?;
        Ok(())
    }
}
