//! The durable history real-time clients resume from: the published outbox rows, kept for the
//! relay's retention (24 h by default) before they are pruned.
//!
//! A websocket process keeps recent events in memory, but that buffer is empty after a restart and
//! is its own on each replica. The outbox already holds every event in the order it was published,
//! so a client that names the last event it saw (`Last-Event-ID`) can be given exactly what it
//! missed from here, whichever process it reconnects to.
//!
//! The order is the publication order, `(published_at, id)`, not `id` alone: two transactions of one
//! user may commit out of id order, and the relay then publishes the later id first. A client that
//! saw that one must still get the earlier id, which was published after it.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::outbox;
use crate::outbox::OutboxRepo;

/// A published event, as a replay sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedEvent {
    pub event_id: Uuid,
    pub topic: String,
    /// The serialised [`taskflow_domain::TaskEvent`] (the CloudEvent's `data`).
    pub payload: serde_json::Value,
}

/// What the history knows after one of a user's events.
#[derive(Debug, Clone, PartialEq)]
pub enum EventsAfter {
    /// The event is not in the history: unknown, another user's, or pruned.
    Unknown,
    /// The events published after it, oldest first, at most the limit asked for.
    Events(Vec<PublishedEvent>),
}

impl OutboxRepo<'_> {
    /// The events published for `user_id` after its event `last_event_id`, in publication order,
    /// at most `limit`. An event still waiting to be published has nothing published after it yet:
    /// the relay publishes in order, so the answer is empty and the live stream brings the rest.
    pub async fn published_after(
        &self,
        user_id: &str,
        last_event_id: Uuid,
        limit: u64,
    ) -> Result<EventsAfter, StoreError> {
        let anchor = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .column(outbox::Column::PublishedAt)
            .filter(outbox::Column::EventId.eq(last_event_id))
            .filter(outbox::Column::PartitionKey.eq(user_id))
            .into_tuple::<(i64, Option<chrono::DateTime<chrono::Utc>>)>()
            .one(self.db)
            .await?;
        let Some((anchor_id, published_at)) = anchor else {
            return Ok(EventsAfter::Unknown);
        };
        if published_at.is_none() {
            return Ok(EventsAfter::Events(Vec::new()));
        }
        // The anchor's own `published_at` is read in the statement, never bound back from Rust: a
        // timestamp round-tripped through SQLite's text form need not compare equal to itself.
        let anchor_published = || -> Expr {
            Query::select()
                .column(outbox::Column::PublishedAt)
                .from(outbox::Entity)
                .and_where(Expr::col(outbox::Column::Id).eq(anchor_id))
                .to_owned()
                .into()
        };
        let published = || Expr::col((outbox::Entity, outbox::Column::PublishedAt));
        let after_anchor = Condition::any().add(published().gt(anchor_published())).add(
            Condition::all()
                .add(published().eq(anchor_published()))
                .add(Expr::col((outbox::Entity, outbox::Column::Id)).gt(anchor_id)),
        );
        let rows = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::EventId)
            .column(outbox::Column::Topic)
            .column(outbox::Column::Payload)
            .filter(outbox::Column::PartitionKey.eq(user_id))
            .filter(outbox::Column::PublishedAt.is_not_null())
            .filter(after_anchor)
            .order_by_asc(outbox::Column::PublishedAt)
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .into_tuple::<(Uuid, String, serde_json::Value)>()
            .all(self.db)
            .await?;
        Ok(EventsAfter::Events(
            rows.into_iter()
                .map(|(event_id, topic, payload)| PublishedEvent {
                    event_id,
                    topic,
                    payload,
                })
                .collect(),
        ))
    }
}
