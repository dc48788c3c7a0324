//! `GET /ws`: the WebSocket endpoint.

use std::time::Instant;

use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use futures_util::StreamExt;
use taskflow_auth::Authenticator;
use taskflow_runtime::ApiError;
use taskflow_runtime::server::Shutdown;

use crate::hub::{Connection, Hub};
use crate::tickets::StreamAccess;
use crate::{HEARTBEAT, authenticate, too_many};

/// A client that has not answered a ping for this long is gone.
const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    auth: web::Data<Authenticator>,
    hub: web::Data<Hub>,
    access: web::Data<StreamAccess>,
) -> Result<HttpResponse, ApiError> {
    let (identity, via_protocol) = authenticate(&req, &auth, &access, None).await?;
    let (connection, _) = hub
        .clone()
        .into_inner()
        .connect(&identity.user_id, None)
        .map_err(|_| too_many())?;
    let (mut response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::bad_request(format!("not a WebSocket upgrade: {e}")))?;
    if via_protocol {
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("bearer"));
    }
    tracing::info!(user_id = %identity.user_id, "websocket connected");
    metrics::counter!("realtime_connections_opened_total", "transport" => "websocket").increment(1);
    let shutdown = req.app_data::<web::Data<Shutdown>>().map(|s| s.get_ref().clone());
    actix_web::rt::spawn(run(connection, session, stream, shutdown.unwrap_or_default()));
    Ok(response)
}

async fn run(
    mut connection: Connection,
    mut session: actix_ws::Session,
    mut stream: actix_ws::MessageStream,
    shutdown: Shutdown,
) {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut last_seen = Instant::now();
    let reason = loop {
        tokio::select! {
            () = shutdown.wait() => break Some(CloseReason { code: CloseCode::Away, description: Some("server shutting down".into()) }),
            push = connection.recv() => match push {
                Some(push) => {
                    // The session wants its own string; this copy lives only until it is written.
                    let text = String::from_utf8_lossy(&push.json).into_owned();
                    if session.text(text).await.is_err() {
                        break None;
                    }
                }
                // The hub dropped us: we could not keep up.
                None => break Some(CloseReason { code: CloseCode::Policy, description: Some("too slow: events were dropped".into()) }),
            },
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > CLIENT_TIMEOUT {
                    break Some(CloseReason { code: CloseCode::Away, description: Some("no answer to pings".into()) });
                }
                if session.ping(b"").await.is_err() {
                    break None;
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Ping(bytes))) => {
                    last_seen = Instant::now();
                    if session.pong(&bytes).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                Some(Ok(_)) => last_seen = Instant::now(),
            },
        }
    };
    let _ = session.close(reason).await;
}
