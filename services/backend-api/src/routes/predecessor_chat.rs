//! The predecessors' chat paths, so a frontend written for them keeps working: `POST /api/chat`
//! (the user is the token's) and `GET /api/{user_id}/conversations/history` (the latest
//! conversation's messages; TaskFlow keeps many conversations where they kept one history).
//! Both run the same code as TaskFlow's own routes.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use taskflow_assistant::Agent;
use taskflow_auth::{AuthenticatedUser, Scope};
use taskflow_runtime::JsonBody;
use taskflow_store::{Message, Store};
use utoipa::ToSchema;
use uuid::Uuid;

use super::chat::{ChatRequest, ChatResponse, PageQuery, records, run_turn};
use super::chat_confirm::ConfirmKey;
use crate::error::HandlerResult;
use crate::rate_limit::{ChatTurns, Throttled};

/// The caller's latest conversation, paged like `GET …/conversations/{conversation_id}/messages`.
#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// The conversation shown; `null` when the caller has none.
    pub conversation_id: Option<Uuid>,
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Pass as `cursor` for the messages before these; `null` at the start of the conversation.
    pub next_cursor: Option<String>,
}

/// Talk to the assistant as the token's user: `POST /api/{user_id}/chat` under the predecessors'
/// path.
#[utoipa::path(post, path = "/api/chat", tag = "assistant", security(("bearer" = [])),
    request_body = ChatRequest,
    responses((status = 200, body = ChatResponse), (status = 403, description = "the conversation or chat-history quota is reached (`quota_exceeded`)", body = taskflow_runtime::error::ErrorBody),
        (status = 404, description = "`conversation_id` is not one of the caller's conversations", body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many chat messages; see `Retry-After`", body = taskflow_runtime::error::ErrorBody),
        (status = 422, body = taskflow_runtime::error::ErrorBody), (status = 502, body = taskflow_runtime::error::ErrorBody),
        (status = 504, body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn chat_as_token_user(
    store: web::Data<Store>,
    agent: web::Data<Agent>,
    key: web::Data<ConfirmKey>,
    caller: Throttled<ChatTurns>,
    body: JsonBody<ChatRequest>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    let (conversation_id, turn) =
        run_turn(&store, &agent, &key, &caller.user_id, body.into_inner(), &None).await?;
    Ok(HttpResponse::Ok().json(ChatResponse {
        conversation_id,
        tool_calls: records(&turn.tool_calls),
        response: turn.response,
    }))
}

/// The messages of the caller's most recently active conversation, oldest first (`cursor` pages
/// back in time); none when there is no conversation.
#[utoipa::path(get, path = "/api/{user_id}/conversations/history", tag = "assistant",
    security(("bearer" = [])), params(("user_id" = String, Path), PageQuery),
    responses((status = 200, body = History), (status = 400, body = taskflow_runtime::error::ErrorBody),
        (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn latest_conversation_history(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    caller.must_be(&path)?;
    let (limit, cursor) = query.into_inner().checked()?;
    let conversations = store.conversations();
    let latest = conversations.list(&caller.user_id, 1, None).await?;
    let Some(conversation) = latest.conversations.into_iter().next() else {
        return Ok(HttpResponse::Ok().json(History {
            conversation_id: None,
            messages: Vec::new(),
            next_cursor: None,
        }));
    };
    let page = conversations
        .messages(&caller.user_id, conversation.id, limit, cursor.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(History {
        conversation_id: Some(conversation.id),
        messages: page.messages,
        next_cursor: page.next_cursor,
    }))
}

/// Registered before [`super::chat::configure`], whose `…/conversations/{conversation_id}` would
/// otherwise take `history` for an id.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/chat")
            .wrap(from_fn(crate::idempotency::middleware))
            .route(web::post().to(chat_as_token_user)),
    )
    .service(
        web::resource("/api/{user_id}/conversations/history")
            .route(web::get().to(latest_conversation_history)),
    );
}
