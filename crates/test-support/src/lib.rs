//! Test-only helpers shared by the workspace's integration tests.
//!
//! [`test_database`] gives each test its own database, already migrated: a copy of a migrated
//! SQLite file by default, or a PostgreSQL database cloned from a migrated template when
//! `TEST_DATABASE_URL` is set — so the same suites run on both backends, and no test pays for the
//! migrations ([`template`] builds the template once per schema, across processes).
//! [`fresh_database`] and [`empty_test_database`] give an empty one, for a test of the migrations.
//! [`consumer`] sets up what the event consumers' tests share: a store with users, routes on port 0.
//! [`requirements`] is how a test asks for what lives outside the process (a PostgreSQL or Redis
//! server, a Python tool), so that no test passes on CI without having run.
#![allow(clippy::expect_used)]

pub mod consumer;
mod database;
pub mod requirements;
pub mod template;

pub(crate) use database::with_database;
pub use database::{TestDb, empty_test_database, fresh_database, migrated_database, test_database};
pub use requirements::{postgres_for_test, redis_for_test, unavailable};

/// A structured CloudEvent exactly as daprd delivers it to a subscriber: Dapr's own attributes
/// (`topic`, `pubsubname`, `traceid`, `traceparent`, `tracestate`) around `data`.
pub fn daprd_envelope(topic: &str, id: &str, event_type: &str, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": "backend-api",
        "type": event_type,
        "subject": data.pointer("/task/id").cloned().unwrap_or_default(),
        "time": data.get("occurred_at").cloned().unwrap_or_default(),
        "datacontenttype": "application/json",
        "data": data,
        "topic": topic,
        "pubsubname": "pubsub",
        "traceid": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": ""
    })
}
