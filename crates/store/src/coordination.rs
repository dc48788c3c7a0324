//! Coordination through the database: processed-event keys (a consumer's effect happens once per
//! event), plus the in-process bus's dead letters. (One relay at a time is `exclusive.rs`.)

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TryInsertResult,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::{dead_letters, processed_events};

pub struct ProcessedEventRepo<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> ProcessedEventRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Records that `consumer` handles `event_id`; `false` if it already did (insert-if-absent).
    pub async fn claim(
        &self,
        consumer: &str,
        event_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = processed_events::Entity::insert(processed_events::ActiveModel {
            consumer: Set(consumer.to_owned()),
            event_id: Set(event_id),
            processed_at: Set(now),
        })
        .on_conflict_do_nothing_on([
            processed_events::Column::Consumer,
            processed_events::Column::EventId,
        ])
        .exec_without_returning(self.db)
        .await?;
        Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
    }

    /// Forgets a claim whose effect failed, so a redelivery runs it again.
    pub async fn release(&self, consumer: &str, event_id: Uuid) -> Result<(), StoreError> {
        processed_events::Entity::delete_many()
            .filter(processed_events::Column::Consumer.eq(consumer))
            .filter(processed_events::Column::EventId.eq(event_id))
            .exec(self.db)
            .await?;
        Ok(())
    }
}

pub use taskflow_domain::DeadLetter;

pub struct DeadLetterRepo<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> DeadLetterRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn record(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        dead_letters::Entity::insert(dead_letters::ActiveModel {
            event_id: Set(letter.event_id),
            topic: Set(letter.topic.clone()),
            subscriber: Set(letter.subscriber.clone()),
            payload: Set(letter.payload.clone()),
            reason: Set(letter.reason.chars().take(2000).collect()),
            attempts: Set(letter.attempts),
            created_at: Set(letter.created_at),
            ..Default::default()
        })
        .exec_without_returning(self.db)
        .await?;
        Ok(())
    }

    pub async fn count(&self) -> Result<u64, StoreError> {
        Ok(dead_letters::Entity::find().count(self.db).await?)
    }

    /// The newest dead letters first.
    pub async fn recent(&self, limit: u64) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = dead_letters::Entity::find()
            .order_by_desc(dead_letters::Column::Id)
            .limit(limit)
            .all(self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| DeadLetter {
                event_id: m.event_id,
                topic: m.topic,
                subscriber: m.subscriber,
                payload: m.payload,
                reason: m.reason,
                attempts: m.attempts,
                created_at: m.created_at,
            })
            .collect())
    }
}
