//! Identity-provider users provisioned before their ids were derived from `iss` and `sub` kept the
//! raw `sub` as their id. The first time such a user signs in again, [`UserRepo::adopt_legacy`]
//! moves the account and everything it owns to the new id in one transaction, so nobody loses
//! their tasks to the change. Only rows without a password (never a local account) are adopted.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
    TryInsertResult,
};

use crate::StoreError;
use crate::entity::{audit_logs, conversations, messages, notifications, task_reminders, tasks, users};
use crate::users::UserRepo;

/// Points every `user_id` column from `from` to `to`.
async fn move_rows(db: &impl ConnectionTrait, from: &str, to: &str) -> Result<u64, StoreError> {
    macro_rules! repoint {
        ($($table:ident),+) => {{
            let mut moved = 0;
            $(
                moved += $table::Entity::update_many()
                    .col_expr($table::Column::UserId, Expr::value(to))
                    .filter($table::Column::UserId.eq(from))
                    .exec(db)
                    .await?
                    .rows_affected;
            )+
            moved
        }};
    }
    Ok(repoint!(
        tasks,
        task_reminders,
        audit_logs,
        notifications,
        conversations,
        messages
    ))
}

impl UserRepo<'_> {
    /// Moves the identity-provider account `legacy_id` (one without a password) and all its data to
    /// `new_id`. `false` when there is no such account or `new_id` exists already (another request
    /// adopted it first).
    pub async fn adopt_legacy(&self, legacy_id: &str, new_id: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin().await?;
        let legacy = users::Entity::find_by_id(legacy_id.to_owned())
            .filter(users::Column::PasswordHash.is_null())
            .one(&txn)
            .await?;
        let Some(legacy) = legacy else {
            txn.rollback().await?;
            return Ok(false);
        };
        // The e-mail address is unique: the new row takes it once the old one is gone.
        let row = users::ActiveModel {
            id: Set(new_id.to_owned()),
            name: Set(legacy.name.clone()),
            email: Set(None),
            password_hash: Set(None),
            timezone: Set(legacy.timezone.clone()),
            default_reminder_minutes: Set(legacy.default_reminder_minutes),
            created_at: Set(legacy.created_at),
            updated_at: Set(taskflow_domain::time::now()),
        };
        let inserted = users::Entity::insert(row)
            .on_conflict_do_nothing_on([users::Column::Id])
            .exec_without_returning(&txn)
            .await?;
        if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            txn.rollback().await?;
            return Ok(false);
        }
        let moved = move_rows(&txn, legacy_id, new_id).await?;
        users::Entity::delete_by_id(legacy_id.to_owned())
            .exec(&txn)
            .await?;
        if legacy.email.is_some() {
            users::Entity::update_many()
                .col_expr(users::Column::Email, Expr::value(legacy.email))
                .filter(users::Column::Id.eq(new_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        tracing::info!(
            legacy_id,
            new_id,
            rows = moved,
            "identity-provider account moved to its issuer-bound id"
        );
        Ok(true)
    }
}
