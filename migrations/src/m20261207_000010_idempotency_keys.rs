//! `Idempotency-Key` on the creating POSTs (issue 20): the first complete response per (user, key).
//!
//! A row is inserted before the handler runs — the in-flight marker, unique on `(user_id, key)`, so
//! of two concurrent requests with one key exactly one inserts it and runs; the other finds it and
//! answers 409 (or, once the first finished, the stored response). When the handler is done, the
//! row gets the response (`status`, the headers a client needs, the body bytes); a result that must
//! not be kept (5xx, 409, 429) deletes the row instead. `fingerprint` (SHA-256 of method, path and
//! body) tells a retry from a different request sent under the same key (422). `claim` names the
//! attempt that holds the marker, so a late finisher never overwrites or deletes a newer attempt's
//! row. Rows older than 24 h are pruned (by `created_at`, indexed) and treated as absent before then.
//! Rows go with their user (`ON DELETE CASCADE`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    UserId,
    Key,
    Claim,
    Fingerprint,
    CreatedAt,
    Status,
    ResponseHeaders,
    ResponseBody,
    CompletedAt,
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
                    .table(IdempotencyKeys::Table)
                    .if_not_exists()
                    .col(string(IdempotencyKeys::UserId))
                    .col(string_len(IdempotencyKeys::Key, 255))
                    .col(uuid(IdempotencyKeys::Claim))
                    .col(string_len(IdempotencyKeys::Fingerprint, 64))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    // NULL while the first request runs.
                    .col(integer_null(IdempotencyKeys::Status))
                    .col(json_binary_null(IdempotencyKeys::ResponseHeaders))
                    .col(blob_null(IdempotencyKeys::ResponseBody))
                    .col(timestamp_with_time_zone_null(IdempotencyKeys::CompletedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::UserId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_user")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_created")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}
