//! `POST /api/{user_id}/chat/stream`: the same turn as `/chat`, as Server-Sent Events for chat UIs.
//!
//! Events: `delta` (`{text}`) as the model produces the reply's text, `tool_call`
//! (`{name, arguments, result}`) as each tool finishes, then `done` (`{conversation_id, response}`);
//! a failure after the stream started is an `error` event (`{code, status, message}`: the code and
//! safe message the JSON chat would answer with, never the cause, which is logged). With the offline agent the reply is
//! one `delta`. Bad input is refused with a plain
//! JSON error before any event is sent.

use std::convert::Infallible;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::stream;
use serde::Serialize;
use taskflow_assistant::tools::ToolOutcome;
use taskflow_assistant::{Agent, TurnEvent};
use taskflow_auth::Scope;
use taskflow_bus::trace::inherit;
use taskflow_runtime::{ApiError, JsonBody};
use taskflow_store::Store;
use tokio::sync::mpsc;

use super::chat::{ChatRequest, message_text, records, run_turn};
use super::chat_confirm::{ConfirmKey, attach};
use crate::error::HandlerResult;
use crate::rate_limit::{ChatTurns, Throttled};

fn event(name: &str, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

fn tool_event(o: &ToolOutcome) -> Bytes {
    event("tool_call", &records(std::slice::from_ref(o)).pop())
}

/// Stream a chat turn as Server-Sent Events.
#[utoipa::path(post, path = "/api/{user_id}/chat/stream", tag = "assistant", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = ChatRequest,
    responses((status = 200, content_type = "text/event-stream", description = "tool_call, delta and done events"),
        (status = 403, description = "the conversation or chat-history quota is reached (`quota_exceeded`)", body = taskflow_runtime::error::ErrorBody),
        (status = 404, body = taskflow_runtime::error::ErrorBody), (status = 422, body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many chat messages; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
pub async fn stream(
    store: web::Data<Store>,
    agent: web::Data<Agent>,
    key: web::Data<ConfirmKey>,
    caller: Throttled<ChatTurns>,
    path: web::Path<String>,
    body: JsonBody<ChatRequest>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    caller.must_be(&path)?;
    let request = body.into_inner();
    message_text(&request.message)?;
    if let Some(id) = request.conversation_id
        && store.conversations().get(&caller.user_id, id).await?.is_none()
    {
        return Err(ApiError::not_found("conversation not found")
            .with_field("conversation_id")
            .into());
    }
    // A user over quota gets a plain 403, not a stream that fails.
    store
        .conversations()
        .check_quota(&caller.user_id, request.conversation_id.is_none())
        .await?;
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<TurnEvent>();
    let forward = tx.clone();
    let (forward_key, user) = (key.get_ref().clone(), caller.user_id.clone());
    let forwarding = actix_web::rt::spawn(inherit(async move {
        while let Some(e) = progress_rx.recv().await {
            let frame = match e {
                TurnEvent::Tool(mut outcome) => {
                    attach(&forward_key, &user, std::slice::from_mut(&mut outcome));
                    tool_event(&outcome)
                }
                TurnEvent::Delta(text) => event("delta", &serde_json::json!({ "text": text })),
            };
            let _ = forward.send(frame);
        }
    }));
    let user_id = caller.user_id.clone();
    // The turn runs on its own task, in the request's trace (its tool writes carry it to the outbox).
    actix_web::rt::spawn(inherit(async move {
        let progress = Some(progress_tx);
        let result = run_turn(&store, &agent, &key, &user_id, request, &progress).await;
        // Every tool and delta event goes out before `done` or `error`.
        drop(progress);
        let _ = forwarding.await;
        match result {
            Ok((conversation_id, turn)) => {
                let done = serde_json::json!({"conversation_id": conversation_id, "response": turn.response});
                let _ = tx.send(event("done", &done));
            }
            Err(e) => {
                // The client gets the code and the safe message the JSON chat would send; the cause
                // (e.g. the database's own text) goes to the log only.
                let api = e.to_api();
                let status = api.code.status();
                if status.is_server_error() {
                    tracing::error!(error = %e, "chat stream turn failed");
                }
                let body = serde_json::json!({"error": {"code": api.code, "status": status.as_u16(), "message": api.message}});
                let _ = tx.send(event("error", &body));
            }
        }
    }));
    let body = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
