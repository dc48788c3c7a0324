//! Binding, serving and shutting down.
//!
//! actix-web already stops accepting on SIGTERM/SIGINT and lets in-flight requests finish; this module
//! binds with a clear error, applies the shutdown deadline from `SHUTDOWN_TIMEOUT_SECS`, and wires the
//! extractor error handlers and middleware every service shares.

use std::net::TcpListener;

use actix_web::{HttpResponse, web};

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

/// Seconds in-flight work gets to finish after a shutdown signal.
pub fn shutdown_timeout() -> Result<u64, ConfigError> {
    config::parse_or("SHUTDOWN_TIMEOUT_SECS", 30)
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
        .wrap(actix_web::middleware::from_fn(
            $crate::middleware::request_context,
        ))
    };
}

/// A bound HTTP server with the shared middleware, health, readiness and metrics routes.
pub struct Served {
    pub port: u16,
    pub server: actix_web::dev::Server,
}

/// Serves `routes` on `listener` with everything every service shares: request ids and access logs,
/// JSON errors, `/health`, `/ready` (running `readiness`), `/metrics`, and graceful shutdown.
pub fn serve<F>(
    listener: TcpListener,
    readiness: crate::health::Readiness,
    routes: F,
) -> Result<Served, ServeError>
where
    F: FnOnce(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let port = listener.local_addr()?.port();
    let readiness = web::Data::new(readiness);
    let server = actix_web::HttpServer::new(move || {
        crate::wrap_common!(
            actix_web::App::new()
                .app_data(readiness.clone())
                .configure(extractor_errors)
                .configure(crate::health::configure)
                .configure(crate::metrics::configure)
                .configure(routes.clone())
                .default_service(web::to(not_found))
        )
    })
    .shutdown_timeout(shutdown_timeout()?)
    .listen(listener)?
    .run();
    Ok(Served { port, server })
}
