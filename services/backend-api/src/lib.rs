//! backend-api: the REST API — accounts, tasks and stats — and the only writer of tasks and users.
//!
//! [`Application::build`] binds and returns the port (tests bind port 0), [`configure`] mounts the
//! routes so the all-in-one `taskflow` binary can compose them with the other services.

pub mod config;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod state;

use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use taskflow_auth::{Authenticator, JwksVerifier, LocalTokenConfig, ProvisionedUsers, Provisioner};
use taskflow_runtime::health::Readiness;
use taskflow_runtime::server::{self, ServeError};
use taskflow_runtime::{config::ConfigError, wrap_common};
use taskflow_store::{Store, StoreError, StoreOptions};

pub use config::ApiConfig;

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
}

/// Everything the API's handlers need, built once.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub auth: Authenticator,
}

impl ApiState {
    pub async fn connect(config: &ApiConfig) -> Result<Self, StartupError> {
        let options = StoreOptions {
            max_connections: config.db_max_connections,
            ..StoreOptions::default()
        };
        let store = Store::connect(&config.database_url, &options).await?;
        store.migrate().await?;
        let jwks = config.jwks.clone().map(JwksVerifier::new).transpose()?;
        let auth = Authenticator::new(
            LocalTokenConfig {
                secret: config.jwt_secret.clone(),
                ttl_days: config.token_ttl_days,
            },
            jwks,
        );
        Ok(Self { store, auth })
    }
}

/// Mounts backend-api's routes and shared data onto an app.
pub fn configure(state: &ApiState) -> impl FnOnce(&mut web::ServiceConfig) + Clone + use<> {
    let store = state.store.clone();
    let auth = state.auth.clone();
    let provisioner: Arc<dyn Provisioner> = Arc::new(state::StoreProvisioner(store.clone()));
    let provisioned = ProvisionedUsers::default();
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(store))
            .app_data(web::Data::new(auth))
            .app_data(web::Data::from(provisioner))
            .app_data(web::Data::new(provisioned))
            .configure(server::extractor_errors)
            .configure(routes::auth::configure)
            .configure(routes::tasks::configure)
            .configure(openapi::configure);
    }
}

/// The readiness checks backend-api needs.
pub fn readiness(state: &ApiState) -> Readiness {
    Readiness::default().with(state::DatabaseCheck(state.store.clone()))
}

/// A bound, ready-to-run backend-api server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(config: ApiConfig) -> Result<Self, StartupError> {
        let state = ApiState::connect(&config).await?;
        let listener = server::bind(&config.host, config.port)?;
        Self::serve(state, listener)
    }

    /// Serves `state` on an already-bound listener.
    pub fn serve(state: ApiState, listener: std::net::TcpListener) -> Result<Self, StartupError> {
        let port = listener.local_addr().map_err(ServeError::Io)?.port();
        let routes = configure(&state);
        let readiness = web::Data::new(readiness(&state));
        let server = HttpServer::new(move || {
            wrap_common!(
                App::new()
                    .app_data(readiness.clone())
                    .configure(taskflow_runtime::health::configure)
                    .configure(taskflow_runtime::metrics::configure)
                    .configure(routes.clone())
                    .default_service(web::to(server::not_found))
            )
        })
        .shutdown_timeout(server::shutdown_timeout()?)
        .listen(listener)
        .map_err(ServeError::Io)?
        .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until a shutdown signal, letting in-flight requests finish.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}
