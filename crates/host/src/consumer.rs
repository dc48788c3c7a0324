//! Running a consumer service that keeps data under Dapr: the database, the store-free serving of
//! `taskflow_bus::service` (callbacks, idempotency guard, cron, health, graceful shutdown) with the
//! database's readiness check and pool gauges added, and — for a service that writes events — the
//! outbox relay publishing them through its own sidecar, flushed within the shutdown deadline.

use std::sync::Arc;

use actix_web::web;
use taskflow_bus::Subscription;
use taskflow_bus::cron::CronHandler;
use taskflow_bus::dapr::DaprClient;
use taskflow_bus::service::{self, ServiceError};
use taskflow_runtime::config::ConfigError;
use taskflow_runtime::health::Readiness;
use taskflow_store::{Store, StoreError, StoreOptions};

use crate::checks::{DatabaseCheck, pool_metrics};
use crate::config::HostConfig;
use crate::relay::{self, PipelineCheck, RelayConfig};

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database: {0}")]
    Database(#[from] StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// What a consumer service that keeps data is made of, given its store and sidecar.
pub struct Consumer {
    /// What it serves: subscriptions, cron binding, routes of its own.
    pub service: service::Consumer,
    /// It writes events (recurring's next occurrences, notification's reminders): run a relay that
    /// publishes the outbox rows it wrote through its own sidecar.
    pub publishes: bool,
}

impl Consumer {
    pub fn subscribing(subscriptions: Vec<Subscription>) -> Self {
        Self {
            service: service::Consumer::subscribing(subscriptions),
            publishes: false,
        }
    }

    /// Also woken by the cron input binding `binding`.
    pub fn with_cron(mut self, binding: &str, handler: Arc<dyn CronHandler>) -> Self {
        self.service = self.service.with_cron(binding, handler);
        self
    }

    /// Also publishes the events it writes.
    pub fn publishing(mut self) -> Self {
        self.publishes = true;
        self
    }
}

/// Serves `name` as `config` says, beside its sidecar, with the shared database. Each subscription's
/// handler is guarded by an idempotency claim in the Dapr state store, the fast path in front of the
/// database's own unique keys. The store handed to `build` writes outbox rows as `name`; a consumer
/// that [`Consumer::publishes`] gets a relay that publishes them.
pub async fn run_consumer(
    name: &'static str,
    config: &HostConfig,
    build: impl FnOnce(Store, DaprClient) -> Result<Consumer, HostError>,
) -> Result<(), HostError> {
    let options = StoreOptions {
        max_connections: config.db_max_connections,
        ..StoreOptions::default()
    };
    let store = Store::connect(&config.database_url, &options)
        .await?
        .publishing_as(name);
    let dapr = service::dapr_client(&config.service)?;
    let Consumer {
        service: mut consumer,
        publishes,
    } = build(store.clone(), dapr.clone())?;
    let own_routes = consumer.routes.take();
    let pool = web::Data::new(pool_metrics(store.clone()));
    consumer.routes = Some(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(pool.clone());
        if let Some(routes) = &own_routes {
            routes(cfg);
        }
    }));
    let mut readiness = Readiness::default().with(DatabaseCheck(store.clone()));
    let mut relay = None;
    if publishes {
        let relay_config = RelayConfig::for_source(name);
        readiness = readiness.with(PipelineCheck {
            store: store.clone(),
            scope: relay_config.scope.clone(),
            dead_letters_in_db: false,
        });
        relay = Some(relay::spawn(store.clone(), Arc::new(dapr.clone()), relay_config));
    }
    let shutdown = service::serve(name, &config.service, dapr, consumer, readiness).await?;
    if let Some(relay) = relay {
        relay
            .stop_within(shutdown.remaining(config.service.shutdown_timeout))
            .await;
    }
    store.close().await;
    Ok(())
}
