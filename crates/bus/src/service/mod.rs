//! Running a service under Dapr without a database: its subscriptions behind the sidecar's callback
//! routes (each guarded by an idempotency claim in the Dapr state store), an optional cron binding,
//! routes of its own, health, readiness and metrics, until a shutdown signal.
//!
//! websocket runs on [`run_stateless`] alone; the services that keep data run on
//! `taskflow_host::run_consumer`, which adds the database, the outbox relay and their checks and
//! then calls [`serve`] here, so the serving logic exists once.

mod config;

use std::sync::Arc;

use actix_web::web;

use taskflow_runtime::config::ConfigError;
use taskflow_runtime::health::Readiness;
use taskflow_runtime::server::{self, ServeError};

pub use self::config::ServiceConfig;
use crate::Subscription;
use crate::cron::CronHandler;
use crate::dapr::{DaprApp, DaprClient, DaprStateIdempotency, SidecarCheck};
use crate::idempotency::Idempotent;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("Dapr client: {0}")]
    Dapr(String),
    #[error("authentication: {0}")]
    Auth(String),
}

/// Extra HTTP routes a service serves besides the sidecar's callbacks.
pub type Routes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// What a consumer service serves, given its sidecar.
pub struct Consumer {
    pub subscriptions: Vec<Subscription>,
    /// A cron input binding (name, handler), for services woken on a schedule.
    pub cron: Option<(String, Arc<dyn CronHandler>)>,
    /// Routes of its own (the websocket endpoints).
    pub routes: Option<Routes>,
}

impl Consumer {
    pub fn subscribing(subscriptions: Vec<Subscription>) -> Self {
        Self {
            subscriptions,
            cron: None,
            routes: None,
        }
    }

    /// Also woken by the cron input binding `binding`.
    pub fn with_cron(mut self, binding: &str, handler: Arc<dyn CronHandler>) -> Self {
        self.cron = Some((binding.to_owned(), handler));
        self
    }

    /// Also serves `routes`.
    pub fn with_routes(mut self, routes: Routes) -> Self {
        self.routes = Some(routes);
        self
    }
}

/// The client of the sidecar `config` names.
pub fn dapr_client(config: &ServiceConfig) -> Result<DaprClient, ServiceError> {
    DaprClient::new(config.dapr.clone()).map_err(|e| ServiceError::Dapr(e.to_string()))
}

/// Serves `name`, a service that keeps no data (websocket), as `config` says beside its sidecar.
pub async fn run_stateless(
    name: &'static str,
    config: &ServiceConfig,
    build: impl FnOnce(DaprClient) -> Result<Consumer, ServiceError>,
) -> Result<(), ServiceError> {
    let dapr = dapr_client(config)?;
    let consumer = build(dapr.clone())?;
    serve(name, config, dapr, consumer, Readiness::default()).await?;
    Ok(())
}

/// Serves `consumer` on `config`'s host and port until a shutdown signal and the end of in-flight
/// requests, with `readiness` plus the sidecar's check; returns the shutdown, whose deadline bounds
/// what the caller still has to finish.
pub async fn serve(
    name: &'static str,
    config: &ServiceConfig,
    dapr: DaprClient,
    consumer: Consumer,
    readiness: Readiness,
) -> Result<server::Shutdown, ServiceError> {
    let keys = Arc::new(DaprStateIdempotency(dapr.clone()));
    let ttl = config.idempotency_ttl;
    let guarded = consumer
        .subscriptions
        .into_iter()
        .map(|s| {
            let handler = Arc::new(Idempotent::new(name, keys.clone(), s.handler.clone(), ttl));
            Subscription { handler, ..s }
        })
        .collect();
    let mut app = DaprApp::new(&dapr.config().pubsub, guarded, config.app_api_token.clone());
    if let Some((binding, handler)) = consumer.cron {
        app = app.with_cron(&binding, handler);
    }
    let callbacks = app.configure();
    let routes = consumer.routes;
    let readiness = readiness.with(SidecarCheck(dapr));
    let served = server::serve_within(
        server::bind(&config.host, config.port)?,
        readiness,
        config.shutdown_timeout,
        move |cfg: &mut web::ServiceConfig| {
            cfg.configure(callbacks);
            if let Some(routes) = &routes {
                routes(cfg);
            }
        },
    )?;
    tracing::info!(service = name, port = served.port, "listening");
    let shutdown = served.shutdown.clone();
    served.server.await.map_err(ServeError::from)?;
    tracing::info!(service = name, "stopped");
    Ok(shutdown)
}

/// A service's whole `main`: JSON logs, then `run`, and an exit code.
pub async fn main<E: std::fmt::Display>(
    name: &'static str,
    run: impl std::future::Future<Output = Result<(), E>>,
) -> std::process::ExitCode {
    if let Err(e) = taskflow_runtime::telemetry::init(taskflow_runtime::telemetry::LogFormat::Json) {
        eprintln!("{name}: {e}");
        return std::process::ExitCode::from(2);
    }
    let code = match run.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(service = name, error = %e, "stopped");
            std::process::ExitCode::FAILURE
        }
    };
    taskflow_runtime::telemetry::flush();
    code
}
