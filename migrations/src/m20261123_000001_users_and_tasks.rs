//! Users, tasks and their reminder rules.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
    Email,
    PasswordHash,
    Timezone,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    UserId,
    Title,
    Description,
    Priority,
    Category,
    Tags,
    Completed,
    CompletedAt,
    DueAt,
    Recurrence,
    ParentTaskId,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum TaskReminders {
    Table,
    Id,
    TaskId,
    UserId,
    RemindAt,
    MinutesBeforeDue,
    FiredAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(string(Users::Id).primary_key())
                    .col(string(Users::Name))
                    // Stored lower-cased, so a plain unique index compares case-insensitively.
                    // NULL for identity-provider users who did not share an address.
                    .col(string_null(Users::Email).unique_key())
                    .col(string_null(Users::PasswordHash))
                    .col(string(Users::Timezone).default("UTC"))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .if_not_exists()
                    .col(uuid(Tasks::Id).primary_key())
                    .col(string(Tasks::UserId))
                    .col(text(Tasks::Title))
                    .col(text_null(Tasks::Description))
                    // 0 low, 1 medium, 2 high: sorts by urgency without a CASE.
                    .col(small_integer(Tasks::Priority))
                    .col(string(Tasks::Category))
                    .col(json_binary(Tasks::Tags))
                    .col(boolean(Tasks::Completed).default(false))
                    .col(timestamp_with_time_zone_null(Tasks::CompletedAt))
                    .col(timestamp_with_time_zone_null(Tasks::DueAt))
                    .col(json_binary_null(Tasks::Recurrence))
                    // No foreign key: deleting any task of a series must never fail.
                    .col(uuid_null(Tasks::ParentTaskId))
                    .col(timestamp_with_time_zone(Tasks::CreatedAt))
                    .col(timestamp_with_time_zone(Tasks::UpdatedAt))
                    .col(big_integer(Tasks::Version).default(1))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tasks_user")
                            .from(Tasks::Table, Tasks::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_tasks_user_created",
                vec![Tasks::UserId, Tasks::CreatedAt, Tasks::Id],
            ),
            ("idx_tasks_user_due", vec![Tasks::UserId, Tasks::DueAt]),
            ("idx_tasks_user_completed", vec![Tasks::UserId, Tasks::Completed]),
            ("idx_tasks_parent", vec![Tasks::ParentTaskId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Tasks::Table).if_not_exists();
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(TaskReminders::Table)
                    .if_not_exists()
                    .col(uuid(TaskReminders::Id).primary_key())
                    .col(uuid(TaskReminders::TaskId))
                    .col(string(TaskReminders::UserId))
                    .col(timestamp_with_time_zone(TaskReminders::RemindAt))
                    .col(integer_null(TaskReminders::MinutesBeforeDue))
                    .col(timestamp_with_time_zone_null(TaskReminders::FiredAt))
                    .col(timestamp_with_time_zone(TaskReminders::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_reminders_task")
                            .from(TaskReminders::Table, TaskReminders::TaskId)
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_task_reminders_task")
                    .table(TaskReminders::Table)
                    .col(TaskReminders::TaskId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_task_reminders_due")
                    .table(TaskReminders::Table)
                    .col(TaskReminders::FiredAt)
                    .col(TaskReminders::RemindAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TaskReminders::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}
