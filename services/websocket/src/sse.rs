//! `GET /api/sse/{user_id}`: Server-Sent Events, with `Last-Event-ID` replay.
//!
//! A replay is streamed: each missed event is read from the hub's buffer when the client is ready
//! for it and sent as the shared JSON (no copy per reconnect). When the client's id is not buffered
//! here (this process restarted, or the client was on another replica), the missed events come from
//! the durable history ([`crate::resume`]); only when neither has them, or the buffer drops what the
//! replay still needs, does the client get `resync`.

use std::collections::VecDeque;
use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;
use taskflow_auth::Authenticator;
use taskflow_runtime::ApiError;
use taskflow_runtime::server::Shutdown;

use crate::history::EventHistory;
use crate::hub::{Connection, Hub, Push};
use crate::resume::{Next, Resumption};
use crate::tickets::StreamAccess;
use crate::{authenticate, query_param, too_many};

/// How often an idle stream writes a comment line (`:`, which clients ignore). actix notices that a
/// client went away only when a write fails (actix-web issue 1313): the write after the peer's
/// reset fails, so a departed client's slot is freed within about two probes, not two 25-second
/// heartbeats. The probes also keep proxies from timing the stream out.
pub const PROBE: std::time::Duration = std::time::Duration::from_secs(2);

/// The frame of `push` as chunks: its header, then the shared JSON itself.
fn frame(push: &Push) -> [Bytes; 3] {
    [
        Bytes::from(format!("id: {}\nevent: {}\ndata: ", push.id, push.event_type)),
        push.json.clone(),
        Bytes::from_static(b"\n\n"),
    ]
}

/// `event: resync`: the client must refetch; `newest`, when known, is where it may resume later.
fn resync(newest: Option<&str>) -> Bytes {
    let id = newest.map(|id| format!("id: {id}\n")).unwrap_or_default();
    Bytes::from(format!(
        "{id}event: resync\ndata: {{\"reason\":\"the events since Last-Event-ID are no longer available; reload your data\"}}\n\n"
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
    /// Chunks ready to send (the greeting, one frame, a resync).
    backlog: VecDeque<Bytes>,
    /// The replay still to send.
    resumption: Resumption,
    replaying: bool,
    heartbeat: tokio::time::Interval,
    shutdown: Shutdown,
}

pub async fn stream(
    req: HttpRequest,
    path: web::Path<String>,
    auth: web::Data<Authenticator>,
    hub: web::Data<Hub>,
    access: web::Data<StreamAccess>,
    history: web::Data<dyn EventHistory>,
) -> Result<HttpResponse, ApiError> {
    let path_user = path.into_inner();
    let (identity, _) = authenticate(&req, &auth, &access, Some(&path_user)).await?;
    // Another user's stream is refused like a missing token: nothing about it is revealed.
    if identity.user_id != path_user {
        return Err(ApiError::unauthorized("this token is not for this user's stream"));
    }
    let last = last_event_id(&req);
    let hub: Arc<Hub> = hub.into_inner();
    let (connection, replay) = hub
        .connect(&identity.user_id, last.as_deref())
        .map_err(|_| too_many())?;
    let bounds = hub.history_bounds();
    let resumption = Resumption::start(
        replay,
        &identity.user_id,
        last.as_deref(),
        history.get_ref(),
        bounds,
    )
    .await;
    let mut backlog: VecDeque<Bytes> = VecDeque::new();
    backlog.push_back(Bytes::from(format!(
        "retry: 3000\n: connected as {}\n\n",
        identity.user_id
    )));
    let mut heartbeat = tokio::time::interval(PROBE);
    heartbeat.reset();
    let shutdown = req.app_data::<web::Data<Shutdown>>().map(|s| s.get_ref().clone());
    let state = State {
        connection,
        backlog,
        resumption,
        replaying: true,
        heartbeat,
        shutdown: shutdown.unwrap_or_default(),
    };
    let body = stream::unfold(state, |mut state| async move {
        loop {
            if let Some(bytes) = state.backlog.pop_front() {
                return Some((Ok::<_, actix_web::Error>(bytes), state));
            }
            if !state.replaying {
                break;
            }
            match state.resumption.next(&state.connection) {
                Next::Event(push) => state.backlog.extend(frame(&push)),
                Next::Resync(newest) => {
                    state.backlog.push_back(resync(newest.as_deref()));
                    state.replaying = false;
                }
                Next::Done => state.replaying = false,
            }
        }
        tokio::select! {
            // The server is draining: end the stream so the client reconnects elsewhere.
            () = state.shutdown.wait() => None,
            // `None` — dropped by the hub as too slow — ends the stream.
            push = state.connection.recv() => push.map(|push| {
                if state.resumption.is_repeat(&push) {
                    return (Ok(Bytes::new()), state);
                }
                let [head, json, end] = frame(&push);
                state.backlog.extend([json, end]);
                (Ok(head), state)
            }),
            _ = state.heartbeat.tick() => Some((Ok(Bytes::from_static(b":\n")), state)),
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
