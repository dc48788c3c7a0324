//! `POST /api/{user_id}/stream-tickets`: a 60-second, single-use ticket for `?ticket=` on the
//! WebSocket and SSE URLs, so the long-lived access token never goes into a URL (proxies log URLs,
//! browsers keep them in history). The websocket service redeems it once.
//!
//! Rated with the caller's `writes` bucket: a ticket is asked for once per (re)connection, which
//! the web app backs off on, so honest use stays far below the bucket, while a loop minting tickets
//! is stopped without a new bucket, setting or Redis script to run and document.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use taskflow_auth::{Authenticator, Scope};
use utoipa::ToSchema;

use crate::error::HandlerResult;
use crate::rate_limit::{Throttled, Writes};

/// A stream ticket: put it in `?ticket=` of `GET /ws` or `GET /api/sse/{user_id}` within
/// `expires_in` seconds. It works once.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamTicket {
    /// A compact JWT (audience `taskflow-stream`); not an access token.
    pub ticket: String,
    /// Seconds until the ticket expires (60).
    pub expires_in: i64,
}

/// Issue a single-use ticket for the caller's WebSocket or SSE stream.
#[utoipa::path(post, path = "/api/{user_id}/stream-tickets", tag = "realtime", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 201, body = StreamTicket),
        (status = 401, description = "Missing, invalid or expired token", body = taskflow_runtime::error::ErrorBody),
        (status = 404, description = "Another user's path", body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    auth: web::Data<Authenticator>,
    caller: Throttled<Writes>,
    path: web::Path<String>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksRead)?;
    caller.must_be(&path)?;
    let issued = auth
        .issue_ticket(&caller.user_id)
        .map_err(|e| taskflow_runtime::ApiError::internal("cannot sign a stream ticket", &e))?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(StreamTicket {
            ticket: issued.ticket,
            expires_in: issued.expires_in,
        }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/{user_id}/stream-tickets")
            .wrap(from_fn(crate::idempotency::middleware))
            .route(web::post().to(create)),
    );
}
