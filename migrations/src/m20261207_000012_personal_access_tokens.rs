//! Personal access tokens (issue 20): long-lived, scoped bearer tokens for scripts and integrations.
//!
//! Only the token's SHA-256 is kept (`token_hash`, unique: every check is one indexed read by it);
//! the secret is shown once when created. `scopes` holds the scope names separated by spaces.
//! Revoking deletes the row, so a revoked token stops working at once. `user_id` is indexed for the
//! owner's list and the per-user cap; rows go with their user (`ON DELETE CASCADE`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PersonalAccessTokens {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    Scopes,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
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
                    .table(PersonalAccessTokens::Table)
                    .if_not_exists()
                    .col(uuid(PersonalAccessTokens::Id).primary_key())
                    .col(string(PersonalAccessTokens::UserId))
                    .col(string_len(PersonalAccessTokens::Name, 100))
                    .col(string_len(PersonalAccessTokens::TokenHash, 64))
                    .col(string_len(PersonalAccessTokens::Scopes, 255))
                    .col(timestamp_with_time_zone(PersonalAccessTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(PersonalAccessTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PersonalAccessTokens::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_personal_access_tokens_user")
                            .from(PersonalAccessTokens::Table, PersonalAccessTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_personal_access_tokens_hash")
                    .table(PersonalAccessTokens::Table)
                    .col(PersonalAccessTokens::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_personal_access_tokens_user")
                    .table(PersonalAccessTokens::Table)
                    .col(PersonalAccessTokens::UserId)
                    .col(PersonalAccessTokens::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PersonalAccessTokens::Table).to_owned())
            .await
    }
}
