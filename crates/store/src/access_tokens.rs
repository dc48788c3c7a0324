//! Personal access tokens: the hashed tokens a user created, looked up on every request that
//! presents one.
//!
//! The secret never reaches this crate, only its SHA-256 (`token_hash`, unique and indexed). A
//! token's scopes are kept as their names joined by spaces; the auth crate gives them meaning.
//! `last_used_at` is written at most once per [`TOUCH_EVERY`] per token, by a conditional update,
//! so a busy script does not cost a write per request.
//!
//! Looking a token up by its hash through an index is safe against timing: what an index lookup's
//! timing could leak is how much of a *hash* matched, which does not help anyone find a token.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::personal_access_tokens as pats;
use crate::{StoreError, quotas};

/// Live (unexpired) tokens one user may hold.
pub const MAX_TOKENS_PER_USER: u64 = 50;
/// How stale `last_used_at` may get before a use records it again.
pub const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// A stored token, without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub id: Uuid,
    pub user_id: String,
    pub name: String,
    /// Scope names separated by spaces.
    pub scopes: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token about to be stored.
#[derive(Debug, Clone)]
pub struct NewAccessToken {
    pub user_id: String,
    pub name: String,
    pub token_hash: String,
    pub scopes: String,
    pub expires_at: Option<DateTime<Utc>>,
}

fn token(m: pats::Model) -> AccessToken {
    AccessToken {
        id: m.id,
        user_id: m.user_id,
        name: m.name,
        scopes: m.scopes,
        created_at: m.created_at,
        expires_at: m.expires_at,
        last_used_at: m.last_used_at,
    }
}

fn live(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(pats::Column::ExpiresAt.is_null())
        .add(pats::Column::ExpiresAt.gt(now))
}

pub struct AccessTokenRepo<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> AccessTokenRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Stores a token, unless the user already holds [`MAX_TOKENS_PER_USER`] live ones
    /// ([`StoreError::QuotaExceeded`]).
    pub async fn create(&self, new: NewAccessToken, now: DateTime<Utc>) -> Result<AccessToken, StoreError> {
        let txn = self.db.begin().await?;
        quotas::lock_user(&txn, &new.user_id).await?;
        let model = pats::Entity::insert(pats::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(new.user_id.clone()),
            name: Set(new.name),
            token_hash: Set(new.token_hash),
            scopes: Set(new.scopes),
            created_at: Set(now),
            expires_at: Set(new.expires_at),
            last_used_at: Set(None),
        })
        .exec_with_returning(&txn)
        .await?;
        let count = pats::Entity::find()
            .filter(pats::Column::UserId.eq(&new.user_id))
            .filter(live(now))
            .count(&txn)
            .await?;
        if let Err(e) = quotas::within("personal access tokens", count, MAX_TOKENS_PER_USER) {
            txn.rollback().await?;
            return Err(e);
        }
        txn.commit().await?;
        Ok(token(model))
    }

    /// The user's tokens, newest first (expired ones too, so their owner sees why a script stopped).
    pub async fn list(&self, user_id: &str) -> Result<Vec<AccessToken>, StoreError> {
        Ok(pats::Entity::find()
            .filter(pats::Column::UserId.eq(user_id))
            .order_by_desc(pats::Column::CreatedAt)
            .order_by_desc(pats::Column::Id)
            .all(self.db)
            .await?
            .into_iter()
            .map(token)
            .collect())
    }

    /// Deletes one of the user's tokens; `false` when the user has no such token.
    pub async fn revoke(&self, user_id: &str, id: Uuid) -> Result<bool, StoreError> {
        let deleted = pats::Entity::delete_many()
            .filter(pats::Column::Id.eq(id))
            .filter(pats::Column::UserId.eq(user_id))
            .exec(self.db)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    /// The live token with this hash, recording the use (at most once per [`TOUCH_EVERY`]).
    pub async fn use_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessToken>, StoreError> {
        let Some(model) = pats::Entity::find()
            .filter(pats::Column::TokenHash.eq(token_hash))
            .filter(live(now))
            .one(self.db)
            .await?
        else {
            return Ok(None);
        };
        let stale = model.last_used_at.is_none_or(|t| t <= now - TOUCH_EVERY);
        if stale {
            pats::Entity::update_many()
                .col_expr(pats::Column::LastUsedAt, Expr::value(now))
                .filter(pats::Column::Id.eq(model.id))
                .filter(
                    Condition::any()
                        .add(pats::Column::LastUsedAt.is_null())
                        .add(pats::Column::LastUsedAt.lte(now - TOUCH_EVERY)),
                )
                .exec(self.db)
                .await?;
        }
        Ok(Some(token(model)))
    }
}
