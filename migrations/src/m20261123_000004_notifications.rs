//! Notifications, and the user's opt-in default "due soon" reminder.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    DefaultReminderMinutes,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    TaskId,
    ReminderId,
    Kind,
    DedupeKey,
    Title,
    Message,
    DueAt,
    RemindAt,
    Late,
    CreatedAt,
    ReadAt,
    EmailStatus,
    EmailAttempts,
    EmailNextAttemptAt,
    EmailError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(integer_null(Users::DefaultReminderMinutes))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .if_not_exists()
                    .col(uuid(Notifications::Id).primary_key())
                    .col(string(Notifications::UserId))
                    // No foreign keys: a notification outlives its task, and never blocks deleting it.
                    .col(uuid(Notifications::TaskId))
                    .col(uuid_null(Notifications::ReminderId))
                    .col(string(Notifications::Kind))
                    // What fired, once: `reminder:{id}:{instant}` or `due-soon:{task}:{due}`.
                    .col(string(Notifications::DedupeKey).unique_key())
                    .col(text(Notifications::Title))
                    .col(text(Notifications::Message))
                    .col(timestamp_with_time_zone_null(Notifications::DueAt))
                    .col(timestamp_with_time_zone(Notifications::RemindAt))
                    .col(boolean(Notifications::Late).default(false))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    // none | pending | sent | failed
                    .col(string(Notifications::EmailStatus).default("none"))
                    .col(integer(Notifications::EmailAttempts).default(0))
                    .col(timestamp_with_time_zone_null(Notifications::EmailNextAttemptAt))
                    .col(text_null(Notifications::EmailError))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_notifications_user_time",
                vec![Notifications::UserId, Notifications::CreatedAt, Notifications::Id],
            ),
            (
                "idx_notifications_email",
                vec![Notifications::EmailStatus, Notifications::EmailNextAttemptAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Notifications::Table).if_not_exists();
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::DefaultReminderMinutes)
                    .to_owned(),
            )
            .await
    }
}
