//! The database schema, as one ordered list of migrations that runs on PostgreSQL and SQLite alike.
//!
//! backend-api and the `taskflow` binary apply them at start (the consumer services do not: they
//! expect the schema to be there); each migration is recorded, so running them twice is harmless.

// `MigrationTrait` is an async_trait whose signatures elide `SchemaManager`'s lifetime; naming it breaks the impl.
#![allow(elided_lifetimes_in_paths)]

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_users_and_tasks;
mod m20261123_000002_event_backbone;
mod m20261123_000003_recurrence_and_audit;
mod m20261123_000004_notifications;
mod m20261123_000005_trace_context;
mod m20261123_000006_conversations;
mod m20261205_000007_outbox_source;
mod m20261206_000008_drop_leases;
mod m20261206_000009_list_indexes;
mod m20261207_000010_idempotency_keys;
mod m20261207_000011_outbox_replay;
mod m20261207_000012_personal_access_tokens;
mod m20261207_000013_calendar_feed_tokens;
mod m20261207_000014_webhooks;
mod m20261207_000015_message_feedback;
mod m20261207_000016_user_task_count;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_users_and_tasks::Migration),
            Box::new(m20261123_000002_event_backbone::Migration),
            Box::new(m20261123_000003_recurrence_and_audit::Migration),
            Box::new(m20261123_000004_notifications::Migration),
            Box::new(m20261123_000005_trace_context::Migration),
            Box::new(m20261123_000006_conversations::Migration),
            Box::new(m20261205_000007_outbox_source::Migration),
            Box::new(m20261206_000008_drop_leases::Migration),
            Box::new(m20261206_000009_list_indexes::Migration),
            Box::new(m20261207_000010_idempotency_keys::Migration),
            Box::new(m20261207_000011_outbox_replay::Migration),
            Box::new(m20261207_000012_personal_access_tokens::Migration),
            Box::new(m20261207_000013_calendar_feed_tokens::Migration),
            Box::new(m20261207_000014_webhooks::Migration),
            Box::new(m20261207_000015_message_feedback::Migration),
            Box::new(m20261207_000016_user_task_count::Migration),
        ]
    }
}
