//! websocket: pushes every change of a user's data to that user's WebSocket and SSE clients.
//!
//! Both endpoints require a valid token for that user before anything is streamed (the FastAPI
//! predecessors let anyone listen by naming a user id): in a header, or — for browsers, which cannot
//! set one — as a single-use stream ticket in `?ticket=` ([`tickets`]); never, by default, the
//! long-lived token itself in the URL. Events arrive through the bus: under Dapr
//! from a broadcast pub/sub component (every replica sees every event), in the single binary from
//! the in-process bus.

mod admission;
pub mod config;
pub mod history;
pub mod hub;
pub mod pats;
mod payload;
pub mod replay;
mod resume;
mod sse;
pub mod tickets;
mod ws;

use std::sync::Arc;

use actix_web::{HttpRequest, web};
use taskflow_auth::{Authenticator, JwksVerifier};
use taskflow_bus::service::{Consumer, Routes, ServiceError};
use taskflow_bus::{
    EventHandler, HandlerFuture, Outcome, ReceivedEvent, Subscription, TaskEventHandler, task_handler,
};
use taskflow_domain::{EventType, TaskEvent};
use taskflow_runtime::cors::CorsPolicy;
use taskflow_runtime::{ApiError, ErrorCode};

use admission::authenticate;

pub use config::{AuthConfig, WebsocketConfig};
pub use history::{
    DEFAULT_HISTORY_APP_ID, DaprHistory, EventHistory, History, HistoryError, HistoryEvent, HistoryFuture,
    NoHistory,
};
pub use hub::{Hub, HubConfig, Push, Replay};
pub use pats::DaprPats;
pub use tickets::{DaprLedger, MemoryLedger, StreamAccess, StreamConfig, TicketLedger};

pub const SERVICE: &str = "websocket";
pub const DEFAULT_PORT: u16 = 8001;
/// WebSocket ping period (SSE streams probe more often: `sse::PROBE`).
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(25);

/// Turns bus events into pushes.
pub struct Pusher {
    hub: Arc<Hub>,
}

impl TaskEventHandler for Pusher {
    fn handle<'a>(&'a self, e: TaskEvent, event: &'a ReceivedEvent) -> HandlerFuture<'a> {
        Box::pin(async move {
            let push = payload::push(&e, &event.data);
            let delivered = self.hub.publish(&e.user_id, push);
            // Inside the delivery's `event` span: this line carries the event's trace id.
            tracing::debug!(user_id = %e.user_id, event_id = %e.event_id, connections = delivered, "pushed");
            Outcome::Success
        })
    }
}

/// websocket's subscriptions: every topic, into `hub`.
pub fn subscriptions(hub: Arc<Hub>) -> Vec<Subscription> {
    let pusher: Arc<dyn EventHandler> = task_handler(Pusher { hub });
    EventType::ALL
        .iter()
        .map(|t| Subscription::new(SERVICE, t.topic(), pusher.clone()))
        .collect()
}

/// A non-empty query-string parameter.
fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    let query: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    query
        .into_iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v)
}

fn too_many() -> ApiError {
    ApiError::new(ErrorCode::RateLimited, "too many open connections for this user")
        .with_header("Retry-After", "5")
}

/// Mounts `GET /ws` and `GET /api/sse/{user_id}`, admitting connections as `access` says; the app
/// must provide `web::Data<Authenticator>`.
pub fn configure(hub: Arc<Hub>, access: StreamAccess) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::from(hub))
            .app_data(web::Data::from(access.history.clone()))
            .app_data(web::Data::new(access))
            .service(web::resource("/ws").route(web::get().to(ws::connect)))
            .service(web::resource("/api/sse/{user_id}").route(web::get().to(sse::stream)));
    }
}

/// The standalone service: subscriptions into a hub, and the endpoints with an authenticator as
/// `auth` says (`JWT_SECRET`, and `JWKS_URL` & co. for an identity provider), answering browsers on
/// the origins `cors` lists, with queues and replay buffers as `realtime` says, admitting stream
/// tickets and tokens as `access` says (under Dapr: a [`DaprLedger`], shared by every replica;
/// personal access tokens through [`DaprPats`]).
pub fn standalone(
    auth: &AuthConfig,
    cors: &CorsPolicy,
    realtime: &HubConfig,
    access: StreamAccess,
) -> Result<Consumer, ServiceError> {
    let jwks = auth
        .jwks
        .clone()
        .map(JwksVerifier::new)
        .transpose()
        .map_err(|e| ServiceError::Auth(e.to_string()))?;
    let mut auth = Authenticator::new(auth.local.clone(), jwks);
    if let Some(pats) = access.pats.clone() {
        auth = auth.with_pats(pats);
    }
    let hub = Hub::new(realtime.clone());
    let endpoints = configure(hub.clone(), access);
    let cors = web::Data::new(cors.clone());
    let routes: Routes = Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(auth.clone())).app_data(cors.clone());
        endpoints.clone()(cfg);
    });
    Ok(Consumer::subscribing(subscriptions(hub)).with_routes(routes))
}
