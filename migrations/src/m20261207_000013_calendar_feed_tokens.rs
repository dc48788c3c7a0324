//! Per-user calendar feed tokens (issue 20): calendar apps subscribe to `calendar.ics` by URL and
//! cannot send an `Authorization` header, so the feed takes `?token=`. One token per user (the
//! primary key): rotating replaces the row, so the old token stops working with that write. Only the
//! SHA-256 of the token is kept; a leaked table cannot read anyone's feed. Rows go with their user.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CalendarFeedTokens {
    Table,
    UserId,
    TokenHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CalendarFeedTokens::Table)
                    .if_not_exists()
                    .col(string(CalendarFeedTokens::UserId).primary_key())
                    // Lowercase hex of SHA-256(token).
                    .col(string_len(CalendarFeedTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(CalendarFeedTokens::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_calendar_feed_tokens_user")
                            .from(CalendarFeedTokens::Table, CalendarFeedTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CalendarFeedTokens::Table).to_owned())
            .await
    }
}
