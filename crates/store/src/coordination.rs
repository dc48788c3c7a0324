//! Coordination through the database: leases (one relay at a time across replicas) and processed-event
//! keys (a consumer's effect happens once per event), plus the in-process bus's dead letters.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TryInsertResult,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::{dead_letters, leases, processed_events};

pub struct LeaseRepo<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> LeaseRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Takes or renews the lease `name` for `owner` until `now + ttl`; `false` while someone else holds it.
    pub async fn try_acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = leases::Entity::insert(leases::ActiveModel {
            name: Set(name.to_owned()),
            owner: Set(owner.to_owned()),
            expires_at: Set(now + ttl),
        })
        .on_conflict_do_nothing_on([leases::Column::Name])
        .exec_without_returning(self.db)
        .await?;
        if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            return Ok(true);
        }
        let updated = leases::Entity::update_many()
            .set(leases::ActiveModel {
                owner: Set(owner.to_owned()),
                expires_at: Set(now + ttl),
                ..Default::default()
            })
            .filter(leases::Column::Name.eq(name))
            .filter(
                Condition::any()
                    .add(leases::Column::Owner.eq(owner))
                    .add(leases::Column::ExpiresAt.lt(now)),
            )
            .exec(self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Gives the lease up (on shutdown), so another replica takes over at once.
    pub async fn release(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        leases::Entity::delete_many()
            .filter(leases::Column::Name.eq(name))
            .filter(leases::Column::Owner.eq(owner))
            .exec(self.db)
            .await?;
        Ok(())
    }
}

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
