//! Calendar feed tokens: one per user, kept only as a hash (the feed URL carries the token, since
//! calendar apps cannot send headers). Replacing the row is the rotation: the old hash is gone with
//! that write, so the old token stops working at once, on every replica.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};

use crate::StoreError;
use crate::entity::calendar_feed_tokens as tokens;

pub struct CalendarFeedRepo<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> CalendarFeedRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Sets the user's token hash, replacing any earlier one.
    pub async fn replace(
        &self,
        user_id: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = tokens::ActiveModel {
            user_id: Set(user_id.to_owned()),
            token_hash: Set(token_hash.to_owned()),
            created_at: Set(now),
        };
        tokens::Entity::insert(row)
            .on_conflict(
                OnConflict::column(tokens::Column::UserId)
                    .update_columns([tokens::Column::TokenHash, tokens::Column::CreatedAt])
                    .to_owned(),
            )
            .exec_without_returning(self.db)
            .await?;
        Ok(())
    }

    /// Removes the user's token; `false` when there was none.
    pub async fn remove(&self, user_id: &str) -> Result<bool, StoreError> {
        let done = tokens::Entity::delete_by_id(user_id.to_owned())
            .exec(self.db)
            .await?;
        Ok(done.rows_affected > 0)
    }

    /// The hash of the user's current token, if the feed has one.
    pub async fn token_hash(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        Ok(tokens::Entity::find_by_id(user_id.to_owned())
            .one(self.db)
            .await?
            .map(|m| m.token_hash))
    }
}
