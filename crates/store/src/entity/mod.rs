//! sea-orm entities: one module per table, mirroring the migrations.

pub mod audit_logs;
pub mod calendar_feed_tokens;
pub mod conversations;
pub mod dead_letters;
pub mod idempotency_keys;
pub mod messages;
pub mod notifications;
pub mod outbox;
pub mod personal_access_tokens;
pub mod processed_events;
pub mod task_reminders;
pub mod tasks;
pub mod users;
pub mod webhook_deliveries;
pub mod webhook_endpoints;
