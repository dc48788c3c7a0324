//! `GET /ws`: the WebSocket endpoint.
//!
//! A client that reconnects names the last event it saw in `?last_event_id=` (browsers cannot set
//! headers on a WebSocket) and first gets what it missed, from the buffer or the durable history
//! ([`crate::resume`]), or a `{"type":"resync",…}` message when that is no longer available.

use std::time::Instant;

use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use futures_util::StreamExt;
use taskflow_auth::Authenticator;
use taskflow_runtime::ApiError;
use taskflow_runtime::server::Shutdown;

use crate::history::EventHistory;
use crate::hub::{Connection, Hub};
use crate::resume::{Next, Resumption};
use crate::tickets::StreamAccess;
use crate::{HEARTBEAT, authenticate, query_param, too_many};

/// A client that has not answered a ping for this long is gone.
const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    auth: web::Data<Authenticator>,
    hub: web::Data<Hub>,
    access: web::Data<StreamAccess>,
    history: web::Data<dyn EventHistory>,
) -> Result<HttpResponse, ApiError> {
    let (identity, via_protocol) = authenticate(&req, &auth, &access, None).await?;
    let last = query_param(&req, "last_event_id");
    let (connection, replay) = hub
        .clone()
        .into_inner()
        .connect(&identity.user_id, last.as_deref())
        .map_err(|_| too_many())?;
    let resumption = Resumption::start(
        replay,
        &identity.user_id,
        last.as_deref(),
        history.get_ref(),
        hub.history_bounds(),
    )
    .await;
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
    actix_web::rt::spawn(run(
        connection,
        resumption,
        session,
        stream,
        shutdown.unwrap_or_default(),
    ));
    Ok(response)
}

/// The message that tells a client to reload: its missed events are no longer available.
fn resync_message(newest: Option<&str>) -> String {
    serde_json::json!({
        "type": "resync",
        "reason": "the events since last_event_id are no longer available; reload your data",
        "last_event_id": newest,
    })
    .to_string()
}

/// Sends what the client missed; `false` when the client is gone.
async fn replay(
    connection: &Connection,
    resumption: &mut Resumption,
    session: &mut actix_ws::Session,
) -> bool {
    loop {
        let text = match resumption.next(connection) {
            Next::Event(push) => String::from_utf8_lossy(&push.json).into_owned(),
            Next::Resync(newest) => {
                return session.text(resync_message(newest.as_deref())).await.is_ok();
            }
            Next::Done => return true,
        };
        if session.text(text).await.is_err() {
            return false;
        }
    }
}

async fn run(
    mut connection: Connection,
    mut resumption: Resumption,
    mut session: actix_ws::Session,
    mut stream: actix_ws::MessageStream,
    shutdown: Shutdown,
) {
    if !replay(&connection, &mut resumption, &mut session).await {
        return;
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut last_seen = Instant::now();
    let reason = loop {
        tokio::select! {
            () = shutdown.wait() => break Some(CloseReason { code: CloseCode::Away, description: Some("server shutting down".into()) }),
            push = connection.recv() => match push {
                Some(push) if resumption.is_repeat(&push) => {}
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
