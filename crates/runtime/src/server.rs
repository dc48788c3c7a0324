//! Binding, serving and shutting down.
//!
//! On SIGTERM/SIGINT (or [`Shutdown::trigger`]) the server stops accepting, lets in-flight requests
//! finish within the shutdown timeout (`SHUTDOWN_TIMEOUT_SECS`, read by each binary's configuration
//! through [`shutdown_timeout_from_env`] and passed to [`serve_within`]), and tells long-lived work
//! through [`Shutdown`] (app data on every route) so WebSockets close with 1001 and SSE streams end
//! instead of holding the drain open until the deadline. The caller then stops its relay and timers. This module also binds with
//! a clear error and wires the extractor error handlers and middleware every service shares.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use tokio::sync::watch;

use crate::ApiError;
use crate::config::{self, ConfigError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds `host:port` (port 0 picks a free one).
pub fn bind(host: &str, port: u16) -> Result<TcpListener, ServeError> {
    let addr = format!("{host}:{port}");
    TcpListener::bind(&addr).map_err(|source| ServeError::Bind { addr, source })
}

/// What the whole shutdown gets when `SHUTDOWN_TIMEOUT_SECS` is unset.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// `SHUTDOWN_TIMEOUT_SECS` (30): the time in-flight work gets to finish after a shutdown signal. For
/// a binary's configuration type to call once at start; the servers take the value.
pub fn shutdown_timeout_from_env() -> Result<Duration, ConfigError> {
    config::parse_or("SHUTDOWN_TIMEOUT_SECS", DEFAULT_SHUTDOWN_TIMEOUT.as_secs()).map(Duration::from_secs)
}

/// Says "we are shutting down" (and since when) to whoever listens; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Sender<Option<Instant>>);

impl Default for Shutdown {
    fn default() -> Self {
        Self(watch::Sender::new(None))
    }
}

impl Shutdown {
    /// Starts a graceful shutdown, as SIGTERM would. Later calls change nothing.
    pub fn trigger(&self) {
        self.0.send_if_modified(|since| {
            let first = since.is_none();
            if first {
                *since = Some(Instant::now());
            }
            first
        });
    }

    pub fn is_triggered(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// Resolves once shutdown has started.
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so this only returns once shutdown started.
        let _ = rx.wait_for(Option::is_some).await;
    }

    /// What is left of `deadline` since shutdown started (all of it if it has not): the steps after
    /// the HTTP drain share one deadline, so the whole shutdown fits in `SHUTDOWN_TIMEOUT_SECS`.
    pub fn remaining(&self, deadline: Duration) -> Duration {
        let since = *self.0.borrow();
        since.map_or(deadline, |t| deadline.saturating_sub(t.elapsed()))
    }
}

/// SIGTERM or SIGINT (Ctrl-C). Registers at once, not on first poll: a signal that arrives before
/// the waiting task first runs must not kill the process.
#[cfg(unix)]
fn termination_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let listen = |kind: SignalKind, name: &'static str| {
        signal(kind)
            .map_err(|e| tracing::warn!(error = %e, signal = name, "cannot listen for the signal"))
            .ok()
    };
    async fn received(signal: Option<Signal>) {
        match signal {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let (term, int) = (
        listen(SignalKind::terminate(), "SIGTERM"),
        listen(SignalKind::interrupt(), "SIGINT"),
    );
    async move {
        tokio::select! {
            () = received(term) => {}
            () = received(int) => {}
        }
    }
}

#[cfg(not(unix))]
fn termination_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Waits for a signal or a trigger, then tells everyone and stops the server gracefully.
async fn drain_on_signal(
    signal: impl std::future::Future<Output = ()>,
    handle: actix_web::dev::ServerHandle,
    shutdown: Shutdown,
) {
    tokio::select! {
        () = signal => tracing::info!("shutdown signal received; draining"),
        () = shutdown.wait() => tracing::info!("shutdown requested; draining"),
    }
    shutdown.trigger();
    handle.stop(true).await;
}

/// JSON errors for the built-in query and path extractors.
pub fn extractor_errors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::bad_request(format!("invalid query string: {err}")).into()),
    )
    .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("not found").into()));
}

/// Answers routes nobody registered with the JSON 404.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("no such route"))
}

/// The middleware stack, outermost last: JSON errors inside the request context, so the access log
/// sees the final status.
#[macro_export]
macro_rules! wrap_common {
    ($app:expr) => {
        $app.wrap(
            actix_web::middleware::ErrorHandlers::new().default_handler($crate::middleware::json_errors),
        )
        .wrap(actix_web::middleware::from_fn($crate::cors::cors))
        .wrap(actix_web::middleware::from_fn(
            $crate::middleware::request_context,
        ))
    };
}

/// A bound HTTP server with the shared middleware, health, readiness and metrics routes.
pub struct Served {
    pub port: u16,
    pub server: actix_web::dev::Server,
    /// Triggered by SIGTERM/SIGINT; trigger it to shut down without a signal.
    pub shutdown: Shutdown,
}

/// [`serve_within`] with the [`DEFAULT_SHUTDOWN_TIMEOUT`].
pub fn serve<F>(
    listener: TcpListener,
    readiness: crate::health::Readiness,
    routes: F,
) -> Result<Served, ServeError>
where
    F: FnOnce(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    serve_within(listener, readiness, DEFAULT_SHUTDOWN_TIMEOUT, routes)
}

/// Serves `routes` on `listener` with everything every service shares: request ids and access logs,
/// JSON errors, `/health`, `/ready` (running `readiness`), `/metrics`, and graceful shutdown, in-flight
/// requests getting `shutdown_timeout` to finish. Must be called on a Tokio runtime: it spawns the
/// task that waits for the shutdown signal.
pub fn serve_within<F>(
    listener: TcpListener,
    readiness: crate::health::Readiness,
    shutdown_timeout: Duration,
    routes: F,
) -> Result<Served, ServeError>
where
    F: FnOnce(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let port = listener.local_addr()?.port();
    let readiness = web::Data::new(readiness);
    let shutdown = Shutdown::default();
    let shutdown_data = web::Data::new(shutdown.clone());
    let server = actix_web::HttpServer::new(move || {
        crate::wrap_common!(
            actix_web::App::new()
                .app_data(readiness.clone())
                .app_data(shutdown_data.clone())
                .configure(extractor_errors)
                .configure(crate::health::configure)
                .configure(crate::metrics::configure)
                .configure(routes.clone())
                .default_service(web::to(not_found))
        )
    })
    .shutdown_timeout(shutdown_timeout.as_secs())
    // Signals are ours: they must also reach WebSockets, SSE streams, relays and timers.
    .disable_signals()
    .listen(listener)?
    .run();
    tokio::spawn(drain_on_signal(
        termination_signal(),
        server.handle(),
        shutdown.clone(),
    ));
    Ok(Served {
        port,
        server,
        shutdown,
    })
}
