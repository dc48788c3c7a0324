//! The host of the services that keep data (backend-api, recurring, audit, notification and the
//! single binary): everything about serving an event-driven service that needs the database.
//!
//! - [`consumer`]: [`run_consumer`] — a Dapr consumer with the shared database, built on the
//!   store-free runner in `taskflow_bus::service`, plus the outbox relay when it publishes.
//! - [`config`]: [`HostConfig`], such a service's settings, read once at start.
//! - [`relay`]: publishes the transactional outbox in order per user, with backoff, exactly as
//!   committed; [`relay::PipelineCheck`] reports its backlog on `/ready`.
//! - [`checks`]: [`DatabaseCheck`] for `/ready` and [`pool_metrics`] for `/metrics`.
//! - [`dead_letters`]: [`StoreDeadLetters`], the in-process bus's dead letters kept in the database.
//!
//! `taskflow-bus` stays transport only; a service that keeps no data (websocket) depends on it and
//! not on this crate, so it links no database driver.

pub mod checks;
pub mod config;
pub mod consumer;
pub mod dead_letters;
pub mod relay;

pub use checks::{DatabaseCheck, pool_metrics};
pub use config::HostConfig;
pub use consumer::{Consumer, HostError, run_consumer};
pub use dead_letters::StoreDeadLetters;
