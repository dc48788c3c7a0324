//! Running a consumer service under Dapr: its subscriptions behind the sidecar's callback routes,
//! the outbox relay for the events it writes (published through its own sidecar), with health,
//! readiness and metrics, until a shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use taskflow_runtime::config::{self, ConfigError};
use taskflow_runtime::health::{CheckFuture, Readiness, ReadinessCheck};
use taskflow_runtime::server::{self, ServeError};
use taskflow_store::{Store, StoreError, StoreOptions};

use crate::Subscription;
use crate::cron::CronHandler;
use crate::dapr::{DaprApp, DaprClient, DaprConfig, DaprStateIdempotency, SidecarCheck};
use crate::idempotency::Idempotent;
use crate::relay::{self, PipelineCheck, RelayConfig};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database: {0}")]
    Database(#[from] StoreError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("Dapr client: {0}")]
    Dapr(String),
    #[error("authentication: {0}")]
    Auth(String),
}

/// `/ready`: the database answers.
pub struct DatabaseCheck(pub Store);

impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            self.0
                .ping()
                .await
                .map(|()| "ok".to_owned())
                .map_err(|e| e.to_string())
        })
    }
}

/// Samples the `db_pool_*` gauges from `store` whenever `/metrics` is scraped; register it as app data.
pub fn pool_metrics(store: Store) -> taskflow_runtime::metrics::OnScrape {
    taskflow_runtime::metrics::OnScrape::new(move || {
        let stats = store.pool_stats();
        let in_use = stats.open.saturating_sub(stats.idle);
        metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(stats.idle));
        metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(in_use));
        metrics::gauge!("db_pool_max_connections").set(f64::from(stats.max));
    })
}

/// Extra HTTP routes a service serves besides the sidecar's callbacks.
pub type Routes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// What a consumer service is made of, given its store and sidecar.
pub struct Consumer {
    pub subscriptions: Vec<Subscription>,
    /// A cron input binding (name, handler), for services woken on a schedule.
    pub cron: Option<(String, Arc<dyn CronHandler>)>,
    /// Routes of its own (the websocket endpoints).
    pub routes: Option<Routes>,
    /// It writes events (recurring's next occurrences, notification's reminders): run a relay that
    /// publishes the outbox rows it wrote through its own sidecar.
    pub publishes: bool,
}

impl Consumer {
    pub fn subscribing(subscriptions: Vec<Subscription>) -> Self {
        Self {
            subscriptions,
            cron: None,
            routes: None,
            publishes: false,
        }
    }

    /// Also publishes the events it writes.
    pub fn publishing(mut self) -> Self {
        self.publishes = true;
        self
    }
}

fn dapr_client() -> Result<DaprClient, ServiceError> {
    DaprClient::new(DaprConfig::from_env()?).map_err(|e| ServiceError::Dapr(e.to_string()))
}

/// Serves `name` on `PORT` (default `default_port`) beside its sidecar, with the shared database.
/// Each subscription's handler is guarded by an idempotency claim in the Dapr state store, the fast
/// path in front of the database's own unique keys. The store handed to `build` writes outbox rows
/// as `name`; a consumer that [`Consumer::publishes`] gets a relay that publishes them.
pub async fn run_consumer(
    name: &'static str,
    default_port: u16,
    build: impl FnOnce(Store, DaprClient) -> Result<Consumer, ServiceError>,
) -> Result<(), ServiceError> {
    let database_url = config::required(
        "DATABASE_URL",
        "set it to the shared PostgreSQL database, e.g. postgres://user:pass@host/taskflow",
    )?;
    let options = StoreOptions {
        max_connections: config::parse_or("DB_MAX_CONNECTIONS", 8)?,
        ..StoreOptions::default()
    };
    let store = Store::connect(&database_url, &options).await?.publishing_as(name);
    let dapr = dapr_client()?;
    let mut consumer = build(store.clone(), dapr.clone())?;
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
    if consumer.publishes {
        let config = RelayConfig::for_source(name);
        readiness = readiness.with(PipelineCheck {
            store: store.clone(),
            scope: config.scope.clone(),
            dead_letters_in_db: false,
        });
        relay = Some(relay::spawn(store.clone(), Arc::new(dapr.clone()), config));
    }
    let shutdown = serve(name, default_port, dapr, consumer, readiness).await?;
    if let Some(relay) = relay {
        relay
            .stop_within(shutdown.remaining(server::shutdown_deadline()))
            .await;
    }
    Ok(())
}

/// Like [`run_consumer`], for a service that keeps no data (websocket).
pub async fn run_stateless(
    name: &'static str,
    default_port: u16,
    build: impl FnOnce(DaprClient) -> Result<Consumer, ServiceError>,
) -> Result<(), ServiceError> {
    let dapr = dapr_client()?;
    let consumer = build(dapr.clone())?;
    serve(name, default_port, dapr, consumer, Readiness::default()).await?;
    Ok(())
}

/// Serves until a shutdown signal and the end of in-flight requests; returns the shutdown, whose
/// deadline bounds what the caller still has to finish.
async fn serve(
    name: &'static str,
    default_port: u16,
    dapr: DaprClient,
    consumer: Consumer,
    readiness: Readiness,
) -> Result<server::Shutdown, ServiceError> {
    let host = config::var("HOST").unwrap_or_else(|| "0.0.0.0".into());
    let port = config::parse_or("PORT", default_port)?;
    let ttl = Duration::from_secs(config::parse_or("IDEMPOTENCY_TTL_SECS", 7 * 24 * 3600)?);
    let keys = Arc::new(DaprStateIdempotency(dapr.clone()));
    let guarded = consumer
        .subscriptions
        .into_iter()
        .map(|s| {
            let handler = Arc::new(Idempotent::new(name, keys.clone(), s.handler.clone(), ttl));
            Subscription { handler, ..s }
        })
        .collect();
    let mut app = DaprApp::new(&dapr.config().pubsub, guarded, config::var("APP_API_TOKEN"));
    if let Some((binding, handler)) = consumer.cron {
        app = app.with_cron(&binding, handler);
    }
    let callbacks = app.configure();
    let routes = consumer.routes;
    let readiness = readiness.with(SidecarCheck(dapr));
    let served = server::serve(
        server::bind(&host, port)?,
        readiness,
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
pub async fn main(
    name: &'static str,
    run: impl std::future::Future<Output = Result<(), ServiceError>>,
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
