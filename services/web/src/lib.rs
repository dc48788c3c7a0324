//! web: the browser app under Dapr. It serves the same embedded assets as the all-in-one `taskflow`
//! binary (`taskflow-webapp`) and forwards the app's `/api/*` calls to backend-api **through its own
//! Dapr sidecar** (`/v1.0/invoke/backend-api/method/api/…`), so backend-api is reached only by
//! service invocation, under Dapr's mTLS and access control, never directly.
//!
//! Why a small service of its own rather than routes in backend-api: the frontend is then a Dapr app
//! like any third-party frontend would be (its own app id, which backend-api's access-control policy
//! names), it scales and rolls out apart from the API, and it keeps no data — it links no database
//! driver (`.ci/boundaries`) and runs on the bus's store-free host. `/ws` and `/api/sse/*` never reach
//! it: the Ingress sends them straight to websocket.

pub mod config;
mod error;
mod forward;

use std::sync::Arc;

use actix_web::web;
use taskflow_bus::service::Routes;

pub use config::WebConfig;
pub use error::WebError;
pub use forward::{Forwarder, SSE_ACCEPT_ACROSS_SIDECARS};

pub const SERVICE: &str = "web";
pub const DEFAULT_PORT: u16 = 8005;

/// Everything web serves besides health, readiness and metrics: the app at `/` and `/assets/…`, and
/// `/api/*` forwarded through the sidecar as `config` says.
pub fn routes(config: &WebConfig) -> Result<Routes, WebError> {
    let forwarder = web::Data::new(Forwarder::new(config)?);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(forwarder.clone())
            .configure(taskflow_webapp::configure)
            .configure(forward::configure);
    }))
}
