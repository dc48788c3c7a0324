//! websocket: pushes every change of a user's data to that user's WebSocket and SSE clients.
//!
//! Both endpoints require a valid token for that user before anything is streamed (the FastAPI
//! predecessors let anyone listen by naming a user id): in a header, or — for browsers, which cannot
//! set one — as a single-use stream ticket in `?ticket=` ([`tickets`]); never, by default, the
//! long-lived token itself in the URL. Events arrive through the bus: under Dapr
//! from a broadcast pub/sub component (every replica sees every event), in the single binary from
//! the in-process bus.

pub mod config;
pub mod hub;
mod payload;
pub mod replay;
mod sse;
pub mod tickets;
mod ws;

use std::sync::Arc;

use actix_web::{HttpRequest, web};
use taskflow_auth::{Authenticator, Identity, JwksVerifier, bearer_token};
use taskflow_bus::service::{Consumer, Routes, ServiceError};
use taskflow_bus::{
    EventHandler, HandlerFuture, Outcome, ReceivedEvent, Subscription, TaskEventHandler, task_handler,
};
use taskflow_domain::{EventType, TaskEvent};
use taskflow_runtime::cors::CorsPolicy;
use taskflow_runtime::{ApiError, ErrorCode};

use crate::tickets::LedgerError;

pub use config::{AuthConfig, WebsocketConfig};
pub use hub::{Hub, HubConfig, Push, Replay};
pub use tickets::{DaprLedger, MemoryLedger, StreamAccess, StreamConfig, TicketLedger};

pub const SERVICE: &str = "websocket";
pub const DEFAULT_PORT: u16 = 8001;
/// Heartbeat period: WebSocket ping / SSE comment.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(25);

/// Turns bus events into pushes.
pub struct Pusher {
    hub: Arc<Hub>,
}

impl TaskEventHandler for Pusher {
    fn handle<'a>(&'a self, e: TaskEvent, event: &'a ReceivedEvent) -> HandlerFuture<'a> {
        Box::pin(async move {
            let push = Push::new(
                e.event_id.to_string(),
                e.event_type.topic().to_owned(),
                payload::body(&e, event),
            );
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

/// Where a request's credential came from.
enum Credential {
    /// `Authorization: Bearer` (or, with `via_protocol`, `Sec-WebSocket-Protocol: bearer, <token>`).
    Token { token: String, via_protocol: bool },
    /// `?ticket=`: a single-use stream ticket.
    Ticket(String),
}

const USE_A_TICKET: &str = "get a single-use ticket from POST /api/{user_id}/stream-tickets and pass it as ?ticket=, \
     or send the token in the Authorization header or as Sec-WebSocket-Protocol: bearer, <token>";

/// The credential of a WebSocket or SSE request: `Authorization: Bearer`, else `?ticket=` (browsers
/// cannot set headers on these requests), else the `Sec-WebSocket-Protocol: bearer, <token>` carrier.
/// `?token=` — a long-lived token in a URL, which proxies log — only when `STREAM_TOKEN_IN_URL` allows it.
fn credential(req: &HttpRequest, config: StreamConfig) -> Result<Option<Credential>, ApiError> {
    if let Some(t) = query_param(req, "token") {
        if !config.token_in_url {
            return Err(ApiError::unauthorized(format!(
                "an access token in the URL (?token=) is not accepted: {USE_A_TICKET}"
            )));
        }
        return Ok(Some(Credential::Token {
            token: t,
            via_protocol: false,
        }));
    }
    if let Some(t) = bearer_token(req) {
        return Ok(Some(Credential::Token {
            token: t.to_owned(),
            via_protocol: false,
        }));
    }
    if let Some(t) = query_param(req, "ticket") {
        return Ok(Some(Credential::Ticket(t)));
    }
    let protocols = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    let Some(protocols) = protocols else {
        return Ok(None);
    };
    let mut parts = protocols.split(',').map(str::trim);
    Ok((parts.next() == Some("bearer"))
        .then(|| parts.next())
        .flatten()
        .map(|t| Credential::Token {
            token: t.to_owned(),
            via_protocol: true,
        }))
}

/// Redeems a ticket: valid, for `for_user` when the path names one, and never used before.
async fn redeem(
    ticket: &str,
    for_user: Option<&str>,
    auth: &Authenticator,
    access: &StreamAccess,
) -> Result<Identity, ApiError> {
    let redeemed = auth.verify_ticket(ticket).map_err(|e| {
        tracing::debug!(reason = %e, "stream ticket rejected");
        ApiError::unauthorized(format!("invalid or expired ticket: {USE_A_TICKET}"))
    })?;
    // Checked before spending: another user's ticket is refused without burning it.
    if for_user.is_some_and(|u| u != redeemed.user_id) {
        return Err(ApiError::unauthorized(
            "this ticket is not for this user's stream",
        ));
    }
    match access.ledger.spend(&redeemed.jti, redeemed.usable_until).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(user_id = %redeemed.user_id, "stream ticket replayed");
            return Err(ApiError::unauthorized(
                "this ticket was already used; get a new one from POST /api/{user_id}/stream-tickets",
            ));
        }
        Err(e @ LedgerError::Full(_)) => {
            tracing::warn!(error = %e, "stream ticket refused");
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "too many stream tickets in flight; retry shortly",
            )
            .with_header("Retry-After", "5"));
        }
        Err(e @ LedgerError::Unavailable(_)) => {
            tracing::warn!(error = %e, "stream ticket refused: cannot record it as used");
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "stream tickets cannot be checked right now (the state store is unreachable); \
                 retry shortly, or send the token in the Authorization header",
            )
            .with_header("Retry-After", "1"));
        }
    }
    Ok(Identity {
        user_id: redeemed.user_id,
        email: None,
        name: None,
        external: false,
    })
}

/// Verifies the request's token or ticket (for `for_user`'s stream, when the path names one); 401
/// without a valid one. Returns whom it identifies and whether it came as a WebSocket sub-protocol.
async fn authenticate(
    req: &HttpRequest,
    auth: &Authenticator,
    access: &StreamAccess,
    for_user: Option<&str>,
) -> Result<(Identity, bool), ApiError> {
    let credential = credential(req, access.config)?
        .ok_or_else(|| ApiError::unauthorized(format!("a token or ticket is required: {USE_A_TICKET}")))?;
    let (identity, via_protocol) = match credential {
        Credential::Token { token, via_protocol } => {
            (auth.verify(&token).await.map_err(ApiError::from)?, via_protocol)
        }
        Credential::Ticket(ticket) => (redeem(&ticket, for_user, auth, access).await?, false),
    };
    // The access-log line of the upgrade names the user, as the API's extractor does.
    tracing::Span::current().record("user_id", identity.user_id.as_str());
    Ok((identity, via_protocol))
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
            .app_data(web::Data::new(access))
            .service(web::resource("/ws").route(web::get().to(ws::connect)))
            .service(web::resource("/api/sse/{user_id}").route(web::get().to(sse::stream)));
    }
}

/// The standalone service: subscriptions into a hub, and the endpoints with an authenticator as
/// `auth` says (`JWT_SECRET`, and `JWKS_URL` & co. for an identity provider), answering browsers on
/// the origins `cors` lists, with queues and replay buffers as `realtime` says, admitting stream
/// tickets and tokens as `access` says (under Dapr: a [`DaprLedger`], shared by every replica).
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
    let auth = Authenticator::new(auth.local.clone(), jwks);
    let hub = Hub::new(realtime.clone());
    let endpoints = configure(hub.clone(), access);
    let cors = web::Data::new(cors.clone());
    let routes: Routes = Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(auth.clone())).app_data(cors.clone());
        endpoints.clone()(cfg);
    });
    Ok(Consumer::subscribing(subscriptions(hub)).with_routes(routes))
}
