//! backend-api's integration tests: the real app on port 0 with its own database per test —
//! SQLite by default, PostgreSQL when `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod assistant;
mod audit;
mod auth;
mod calendar;
mod chat_confirm;
mod chat_limits;
mod chatkit;
mod helpers;
mod idempotency;
mod jwks;
mod list;
mod mcp;
mod model_server;
mod offline_chat;
mod ops;
mod outage;
mod predecessor;
mod proxy;
mod quick_add;
mod quotas;
mod rates;
mod recurrence_limits;
mod recurrence_preview;
mod shared_throttle;
mod stream_tickets;
mod tasks;
mod tokens;
mod validation;
mod webhooks;
