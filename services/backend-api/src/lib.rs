//! backend-api: the REST API — accounts, tasks, stats, recurrence previews, notifications and the
//! audit trail — and the only writer of users and of tasks (besides recurring's new occurrences).
//!
//! [`ApiState::connect`] opens the database and builds the authenticator and the assistant;
//! [`Application::serve_with`] serves the API on a listener the caller bound (tests bind port 0),
//! with extra routes and readiness checks, which is how the all-in-one `taskflow` binary composes
//! it with the other services; [`run_under_dapr`] is the Dapr service.

pub(crate) mod blocking;
pub(crate) mod calendar;
mod chatkit;
pub mod config;
pub(crate) mod error;
pub(crate) mod idempotency;
pub(crate) mod openapi;
pub mod pat_resolver;
pub mod rate_limit;
pub(crate) mod routes;
pub(crate) mod state;

use std::sync::Arc;

use actix_web::web;
use taskflow_assistant::Agent;
use taskflow_assistant::online::OnlineAgent;
use taskflow_auth::{Authenticator, JwksVerifier, LocalTokenConfig, ProvisionedUsers, Provisioner};
use taskflow_runtime::config::ConfigError;
use taskflow_runtime::health::Readiness;
use taskflow_runtime::server::{self, ServeError};
use taskflow_store::{Store, StoreError, StoreOptions};

pub use config::{ApiConfig, BackendApiConfig, DaprApiConfig};
pub use pat_resolver::StorePatResolver;
pub use routes::chat_confirm::ConfirmKey;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database: {0}")]
    Database(#[from] StoreError),
    #[error("cannot configure authentication: {0}")]
    Auth(#[from] taskflow_auth::AuthError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("cannot set up the assistant's model client: {0}")]
    Assistant(String),
    /// The `taskflow` binary's webhook sender (the notification service's) could not start.
    #[error("cannot set up webhook delivery: {0}")]
    Webhooks(String),
}

/// Everything the API's handlers need, built once.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub(crate) auth: Authenticator,
    pub(crate) auth_limits: Arc<rate_limit::AuthLimiter>,
    /// Who answers the chat: the configured model, or the offline parser.
    pub(crate) agent: Agent,
    /// Browser origins besides the server's own that may call `/mcp`.
    pub(crate) mcp_allowed_origins: routes::mcp::AllowedOrigins,
    /// Who may call from a browser on another origin.
    pub(crate) cors: taskflow_runtime::cors::CorsPolicy,
    /// Signs the ids with which users confirm the assistant's proposed deletions.
    pub(crate) confirm_key: routes::chat_confirm::ConfirmKey,
    /// What the whole shutdown gets after a signal.
    pub shutdown_timeout: std::time::Duration,
    /// Which webhook URLs may be registered.
    pub(crate) webhook_policy: routes::webhooks::UrlPolicy,
}

impl ApiState {
    pub async fn connect(config: &ApiConfig) -> Result<Self, StartupError> {
        let options = StoreOptions {
            max_connections: config.db_max_connections,
            ..StoreOptions::default()
        };
        let store = Store::connect_migrated(&config.database_url, &options)
            .await?
            .with_quotas(config.quotas);
        let jwks = config.jwks.clone().map(JwksVerifier::new).transpose()?;
        let auth = Authenticator::new(
            LocalTokenConfig {
                secret: config.jwt_secret.clone(),
                ttl_days: config.token_ttl_days,
            },
            jwks,
        )
        .with_pats(Arc::new(StorePatResolver(store.clone())));
        let auth_limits = Arc::new(rate_limit::AuthLimiter::new(
            config.auth_limits.clone(),
            &config.jwt_secret,
        )?);
        auth_limits.connect().await;
        let agent = match config.model.clone() {
            Some(model) => {
                Agent::Online(OnlineAgent::new(model).map_err(|e| StartupError::Assistant(e.to_string()))?)
            }
            None => Agent::Offline,
        };
        tracing::info!(agent = agent.name(), "assistant ready");
        Ok(Self {
            store,
            auth,
            auth_limits,
            agent,
            mcp_allowed_origins: routes::mcp::AllowedOrigins(config.mcp_allowed_origins.clone()),
            cors: config.cors.clone(),
            confirm_key: routes::chat_confirm::ConfirmKey::new(&config.jwt_secret),
            shutdown_timeout: config.shutdown_timeout,
            webhook_policy: routes::webhooks::UrlPolicy {
                allow_private: config.webhook_allow_private_networks,
            },
        })
    }
}

/// Mounts backend-api's routes and shared data onto an app.
pub(crate) fn configure(state: &ApiState) -> impl FnOnce(&mut web::ServiceConfig) + Clone + use<> {
    let store = state.store.clone();
    let auth = state.auth.clone();
    let auth_limits = state.auth_limits.clone();
    let agent = state.agent.clone();
    let mcp_allowed_origins = state.mcp_allowed_origins.clone();
    let cors = web::Data::new(state.cors.clone());
    let confirm_key = web::Data::new(state.confirm_key.clone());
    let webhook_policy = web::Data::new(state.webhook_policy);
    let provisioner: Arc<dyn Provisioner> = Arc::new(state::StoreProvisioner(store.clone()));
    let provisioned = ProvisionedUsers::default();
    let limiter = auth_limits.clone();
    let on_scrape =
        web::Data::new(taskflow_host::pool_metrics(store.clone()).and(move || limiter.sample_metrics()));
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(on_scrape)
            .app_data(web::Data::new(store))
            .app_data(web::Data::new(auth))
            .app_data(web::Data::from(auth_limits))
            .app_data(web::Data::from(provisioner))
            .app_data(web::Data::new(provisioned))
            .app_data(web::Data::new(agent))
            .app_data(mcp_allowed_origins)
            .app_data(cors)
            .app_data(confirm_key)
            .app_data(webhook_policy)
            .configure(chatkit::configure)
            .configure(routes::predecessor_chat::configure)
            .configure(routes::chat::configure)
            .configure(routes::mcp::configure)
            .configure(routes::auth::configure)
            .configure(routes::calendar::configure)
            .configure(routes::audit::configure)
            .configure(routes::notifications::configure)
            .configure(routes::quick_add::configure)
            .configure(routes::recurrence_preview::configure)
            .configure(routes::stream_tickets::configure)
            .configure(routes::tokens::configure)
            // Before tasks: its `/api/{user_id}` scope answers 404 for any path it does not know.
            .configure(routes::webhooks::configure)
            .configure(routes::tasks::configure)
            .configure(openapi::configure);
    }
}

/// The readiness checks backend-api needs.
pub fn readiness(state: &ApiState) -> Readiness {
    Readiness::default().with(taskflow_host::DatabaseCheck(state.store.clone()))
}

/// A bound, ready-to-run backend-api server.
pub struct Application {
    served: server::Served,
}

impl Application {
    /// Serves `state` on an already-bound listener, with `extra` routes (e.g. Dapr callbacks) and checks.
    pub fn serve_with<F>(
        state: &ApiState,
        listener: std::net::TcpListener,
        readiness: Readiness,
        extra: F,
    ) -> Result<Self, StartupError>
    where
        F: FnOnce(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let routes = configure(state);
        let served = server::serve_within(
            listener,
            readiness,
            state.shutdown_timeout,
            move |cfg: &mut web::ServiceConfig| {
                // Extra routes first: `/api/sse/…` must not fall into the `/api/{user_id}` scope.
                cfg.configure(extra).configure(routes);
            },
        )?;
        Ok(Self { served })
    }

    /// Serves backend-api alone (no event routes) — what the tests use.
    pub fn serve(state: ApiState, listener: std::net::TcpListener) -> Result<Self, StartupError> {
        let checks = readiness(&state);
        Self::serve_with(&state, listener, checks, |_: &mut web::ServiceConfig| {})
    }

    pub fn port(&self) -> u16 {
        self.served.port
    }

    /// What SIGTERM triggers; trigger it to shut down without a signal.
    pub fn shutdown(&self) -> server::Shutdown {
        self.served.shutdown.clone()
    }

    /// Runs until a shutdown signal, letting in-flight requests finish.
    pub async fn run(self) -> std::io::Result<()> {
        self.served.server.await
    }
}

/// Applies the database migrations and returns: a deployment's migration step.
pub async fn migrate(database_url: &str) -> Result<(), StartupError> {
    let options = StoreOptions {
        max_connections: 2,
        ..StoreOptions::default()
    };
    let store = Store::connect_migrated(database_url, &options).await?;
    tracing::info!("migrations applied");
    store.close().await;
    Ok(())
}

/// The standalone service under Dapr: the API, the outbox relay publishing through the sidecar, and
/// the sidecar's callback routes. Returns after a shutdown signal, once in-flight requests and the
/// relay's final flush are done.
pub async fn run_under_dapr(config: DaprApiConfig) -> Result<(), StartupError> {
    use taskflow_bus::dapr::{DaprApp, DaprClient, SidecarCheck};
    use taskflow_host::relay::{self, PipelineCheck, RelayConfig};

    let DaprApiConfig {
        api: mut config,
        dapr,
        app_api_token: app_token,
    } = config;
    // web relays browsers' calls through this sidecar and names each browser's address.
    config.auth_limits.relay_token = app_token.clone();
    let state = ApiState::connect(&config).await?;
    let dapr = DaprClient::new(dapr).map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))?;
    // backend-api publishes the events it writes; recurring and notification publish theirs.
    let relay_config = RelayConfig::for_source(state.store.source());
    let checks = readiness(&state)
        .with(SidecarCheck(dapr.clone()))
        .with(PipelineCheck {
            store: state.store.clone(),
            scope: relay_config.scope.clone(),
            dead_letters_in_db: false,
        });
    // The websocket service's resume reads from the outbox here; a route that trusts its caller for
    // the user id needs a sidecar that authenticates itself, so without APP_API_TOKEN it is absent.
    let history = app_token
        .is_some()
        .then(|| routes::internal_events::configure(state.store.clone()));
    // The same for personal access tokens on websocket's streams.
    let pats = app_token
        .is_some()
        .then(|| routes::internal_tokens::configure(StorePatResolver(state.store.clone())));
    if history.is_none() {
        tracing::warn!(
            "APP_API_TOKEN is unset: /internal/events and /internal/access-tokens are off, so websocket clients resuming on another replica or after a restart resync, and personal access tokens do not open streams"
        );
    }
    let dapr_app = DaprApp::new(&dapr.config().pubsub, Vec::new(), app_token).configure();
    let callbacks = move |cfg: &mut web::ServiceConfig| {
        cfg.configure(dapr_app);
        if let Some(history) = history {
            cfg.configure(history);
        }
        if let Some(pats) = pats {
            cfg.configure(pats);
        }
    };
    let listener = server::bind(&config.host, config.port)?;
    let app = Application::serve_with(&state, listener, checks, callbacks)?;
    tracing::info!(port = app.port(), "backend-api listening");
    let relay = relay::spawn(state.store.clone(), Arc::new(dapr), relay_config);
    let shutdown = app.shutdown();
    let served = app.run().await;
    relay
        .stop_within(shutdown.remaining(state.shutdown_timeout))
        .await;
    state.store.clone().close().await;
    served.map_err(|e| StartupError::Serve(e.into()))
}
