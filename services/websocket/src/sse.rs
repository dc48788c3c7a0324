//! `GET /api/sse/{user_id}`: Server-Sent Events, with `Last-Event-ID` replay.

use std::collections::VecDeque;
use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;
use taskflow_auth::Authenticator;
use taskflow_runtime::ApiError;
use taskflow_runtime::server::Shutdown;

use crate::hub::{Connection, Hub, Push, Replay};
use crate::{HEARTBEAT, authenticate, query_param, too_many};

fn frame(push: &Push) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        push.id, push.event_type, push.json
    ))
}

fn last_event_id(req: &HttpRequest) -> Option<String> {
    let header = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    header.or_else(|| query_param(req, "last_event_id"))
}

struct State {
    connection: Connection,
    backlog: VecDeque<Bytes>,
    heartbeat: tokio::time::Interval,
    shutdown: Shutdown,
}

pub async fn stream(
    req: HttpRequest,
    path: web::Path<String>,
    auth: web::Data<Authenticator>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    let (identity, _) = authenticate(&req, &auth).await?;
    // Another user's stream is refused like a missing token: nothing about it is revealed.
    if identity.user_id != path.into_inner() {
        return Err(ApiError::unauthorized("this token is not for this user's stream"));
    }
    let last = last_event_id(&req);
    let hub: Arc<Hub> = hub.into_inner();
    let (connection, replay) = hub
        .connect(&identity.user_id, last.as_deref())
        .map_err(|_| too_many())?;
    let mut backlog: VecDeque<Bytes> = VecDeque::new();
    backlog.push_back(Bytes::from(format!(
        "retry: 3000\n: connected as {}\n\n",
        identity.user_id
    )));
    match replay {
        Replay::None => {}
        Replay::Events(missed) => backlog.extend(missed.iter().map(|p| frame(p))),
        Replay::Resync => backlog.push_back(Bytes::from_static(
            b"event: resync\ndata: {\"reason\":\"the events since Last-Event-ID are no longer available; reload your data\"}\n\n",
        )),
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.reset();
    let shutdown = req.app_data::<web::Data<Shutdown>>().map(|s| s.get_ref().clone());
    let state = State {
        connection,
        backlog,
        heartbeat,
        shutdown: shutdown.unwrap_or_default(),
    };
    let body = stream::unfold(state, |mut state| async move {
        if let Some(bytes) = state.backlog.pop_front() {
            return Some((Ok::<_, actix_web::Error>(bytes), state));
        }
        tokio::select! {
            // The server is draining: end the stream so the client reconnects elsewhere.
            () = state.shutdown.wait() => None,
            // `None` — dropped by the hub as too slow — ends the stream.
            push = state.connection.rx.recv() => push.map(|push| (Ok(frame(&push)), state)),
            _ = state.heartbeat.tick() => Some((Ok(Bytes::from_static(b": heartbeat\n\n")), state)),
        }
    });
    tracing::info!(user_id = %identity.user_id, "sse connected");
    metrics::counter!("realtime_connections_opened_total", "transport" => "sse").increment(1);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
