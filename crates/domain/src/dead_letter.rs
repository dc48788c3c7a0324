//! A dead letter: an event a subscriber could not handle within its retry budget.
//!
//! Plain data, here rather than in the store, so the bus that produces dead letters and the store
//! that keeps them agree on one type without the bus depending on the database.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An event a subscriber could not handle within its retry budget.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub event_id: Uuid,
    pub topic: String,
    pub subscriber: String,
    pub payload: serde_json::Value,
    pub reason: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}
