//! `/api/{user_id}/chat` and the caller's conversation history.
//!
//! A turn: the user's message and the recent history go to the agent (the configured model, or the
//! offline parser), which acts through the tool catalogue scoped to the caller; then the message and
//! the reply — with the tools it ran — are stored together. A model failure stores nothing and
//! answers 502/504, so a retry starts clean.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use taskflow_assistant::online::ModelError;
use taskflow_assistant::tools::{ToolContext, ToolOutcome, summary};
use taskflow_assistant::{Agent, HistoryMessage, Progress, Turn};
use taskflow_auth::{AuthenticatedUser, Scope};
use taskflow_domain::{text, time};
use taskflow_runtime::{ApiError, ErrorCode, JsonBody};
use taskflow_store::{ConversationPage, MessagePage, NewMessage, Store};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::chat_confirm::{ConfirmKey, attach};
use crate::error::HandlerResult;
use crate::rate_limit::{ChatTurns, Throttled};
use crate::routes::task_query::{page_cursor, page_limit};

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4_000;
/// How much history the model sees.
pub(crate) const CONTEXT_MESSAGES: u64 = 50;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// What the user says, 1–4 000 characters, not blank; tab and newlines are the only control
    /// characters allowed.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub message: String,
    /// Continue this conversation; omit to start a new one.
    #[serde(default)]
    pub conversation_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolCallRecord {
    pub name: String,
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
    /// A summary of the tool's result (tasks as id, title, completed, priority, due_at; at most
    /// 2 KiB, `omitted` counting what was left out), or `{"error": {code, message}}`.
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
    /// What happened, in one sentence for people (e.g. "✅ Added “Buy milk”"): the first line of the
    /// tool's own message, at most 160 characters.
    pub message: String,
}

/// Longest `message` kept in a [`ToolCallRecord`], in characters.
const RECORD_MESSAGE_CHARS: usize = 160;

/// The first line of a tool's message, shortened for the record.
pub(crate) fn headline(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() <= RECORD_MESSAGE_CHARS {
        return line.to_owned();
    }
    let mut short: String = line.chars().take(RECORD_MESSAGE_CHARS - 1).collect();
    short.push('…');
    short
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatResponse {
    pub conversation_id: Uuid,
    pub response: String,
    pub tool_calls: Vec<ToolCallRecord>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cleared {
    /// How many conversations were deleted.
    pub count: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–200, default 50. A page of messages also ends early at 1 MiB of JSON (with a cursor).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

impl PageQuery {
    /// The page size and cursor, checked.
    pub fn checked(self) -> Result<(u64, Option<String>), ApiError> {
        Ok((page_limit(self.limit)?, page_cursor(self.cursor)?))
    }
}

/// What the chat stores and shows of the tools a turn ran: bounded summaries (ids, short titles,
/// counts), never the full results (see [`summary`]).
pub fn records(outcomes: &[ToolOutcome]) -> Vec<ToolCallRecord> {
    outcomes
        .iter()
        .map(|o| ToolCallRecord {
            name: o.name.clone(),
            arguments: summary::arguments(&o.arguments),
            result: summary::result(&o.result),
            message: headline(&o.message),
        })
        .collect()
}

pub(crate) fn model_error(e: &ModelError) -> ApiError {
    tracing::error!(error = %e, "assistant model request failed");
    match e {
        ModelError::Timeout(_) => ApiError::new(
            ErrorCode::ModelTimeout,
            "the assistant's model did not answer in time; try again",
        ),
        _ => ApiError::new(
            ErrorCode::ModelUnavailable,
            "the assistant's model is unavailable; try again later",
        ),
    }
}

fn conversation_not_found() -> ApiError {
    not_found().with_field("conversation_id")
}

/// The validated message text.
pub fn message_text(raw: &str) -> Result<String, ApiError> {
    text::multi_line("message", raw, MAX_MESSAGE_CHARS)
        .map_err(|e| ApiError::validation(&e.field, &e.message))?
        .ok_or_else(|| ApiError::validation("message", "must not be empty"))
}

/// The last `limit` messages of a conversation, oldest first, as the model sees them.
pub(crate) async fn history(
    store: &Store,
    user_id: &str,
    conversation_id: Uuid,
    limit: u64,
) -> Result<Vec<HistoryMessage>, taskflow_store::StoreError> {
    Ok(store
        .conversations()
        .messages(user_id, conversation_id, limit, None)
        .await?
        .messages
        .into_iter()
        .map(|m| HistoryMessage {
            role: m.role,
            content: m.content,
        })
        .collect())
}

/// The caller's tools, in their time zone; a 503 to retry when their profile cannot be read.
pub(crate) async fn tool_context(
    store: &Store,
    user_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ToolContext, ApiError> {
    ToolContext::for_user(store.clone(), user_id, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot load the assistant caller's profile");
            ApiError::new(
                ErrorCode::Unavailable,
                "service temporarily unavailable; retry shortly",
            )
            .with_header("Retry-After", "1")
        })
}

/// Runs one turn and stores it. Shared by the JSON and the streaming endpoint.
pub async fn run_turn(
    store: &Store,
    agent: &Agent,
    key: &ConfirmKey,
    user_id: &str,
    request: ChatRequest,
    progress: &Progress,
) -> HandlerResult<(Uuid, Turn)> {
    let message = message_text(&request.message)?;
    let conversations = store.conversations();
    // Over quota: refused before the model works for nothing.
    conversations
        .check_quota(user_id, request.conversation_id.is_none())
        .await?;
    let history = match request.conversation_id {
        Some(id) => {
            conversations
                .get(user_id, id)
                .await?
                .ok_or_else(conversation_not_found)?;
            history(store, user_id, id, CONTEXT_MESSAGES).await?
        }
        None => Vec::new(),
    };
    let asked_at = time::now();
    let ctx = tool_context(store, user_id, asked_at).await?;
    let mut turn = agent
        .turn(&ctx, &history, &message, progress)
        .await
        .map_err(|e| model_error(&e))?;
    attach(key, user_id, &mut turn.tool_calls);
    let conversation_id = match request.conversation_id {
        Some(id) => id,
        None => conversations.create(user_id, &message, asked_at).await?.id,
    };
    let tool_calls = (!turn.tool_calls.is_empty())
        .then(|| serde_json::to_value(records(&turn.tool_calls)).ok())
        .flatten();
    let answered_at = time::now().max(asked_at + chrono::TimeDelta::microseconds(1));
    let stored = conversations
        .append(
            user_id,
            conversation_id,
            &[
                NewMessage {
                    id: NewMessage::id(),
                    role: "user",
                    content: message,
                    tool_calls: None,
                    created_at: asked_at,
                },
                NewMessage {
                    id: NewMessage::id(),
                    role: "assistant",
                    content: turn.response.clone(),
                    tool_calls,
                    created_at: answered_at,
                },
            ],
        )
        .await?;
    if stored.is_none() {
        // Deleted while the agent was answering.
        return Err(conversation_not_found().into());
    }
    Ok((conversation_id, turn))
}

/// Talk to the assistant: it manages the caller's tasks and answers briefly.
#[utoipa::path(post, path = "/api/{user_id}/chat", tag = "assistant", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = ChatRequest,
    responses((status = 200, body = ChatResponse), (status = 403, description = "the conversation or chat-history quota is reached (`quota_exceeded`)", body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many chat messages; see `Retry-After`", body = taskflow_runtime::error::ErrorBody), (status = 404, body = taskflow_runtime::error::ErrorBody),
        (status = 422, body = taskflow_runtime::error::ErrorBody), (status = 502, body = taskflow_runtime::error::ErrorBody),
        (status = 504, body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn chat(
    store: web::Data<Store>,
    agent: web::Data<Agent>,
    key: web::Data<ConfirmKey>,
    caller: Throttled<ChatTurns>,
    path: web::Path<String>,
    body: JsonBody<ChatRequest>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    caller.must_be(&path)?;
    let (conversation_id, turn) =
        run_turn(&store, &agent, &key, &caller.user_id, body.into_inner(), &None).await?;
    Ok(HttpResponse::Ok().json(ChatResponse {
        conversation_id,
        tool_calls: records(&turn.tool_calls),
        response: turn.response,
    }))
}

/// The caller's conversations, most recently active first.
#[utoipa::path(get, path = "/api/{user_id}/conversations", tag = "assistant", security(("bearer" = [])),
    params(("user_id" = String, Path), PageQuery),
    responses((status = 200, body = ConversationPage), (status = 400, body = taskflow_runtime::error::ErrorBody),
        (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn conversations(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    caller.must_be(&path)?;
    let q = query.into_inner();
    let cursor = page_cursor(q.cursor)?;
    let page = store
        .conversations()
        .list(&caller.user_id, page_limit(q.limit)?, cursor.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

fn not_found() -> ApiError {
    ApiError::not_found("conversation not found")
}

fn scoped_id(caller: &AuthenticatedUser, path: web::Path<(String, String)>) -> Result<Uuid, ApiError> {
    super::scoped_id(caller, path, not_found)
}

/// A conversation's messages, oldest first, ending with the newest (`cursor` pages back in time).
#[utoipa::path(get, path = "/api/{user_id}/conversations/{conversation_id}/messages", tag = "assistant",
    security(("bearer" = [])), params(("user_id" = String, Path), ("conversation_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = MessagePage), (status = 400, body = taskflow_runtime::error::ErrorBody),
        (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn messages(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    let id = scoped_id(&caller, path)?;
    let (limit, cursor) = query.into_inner().checked()?;
    let conversations = store.conversations();
    if conversations.get(&caller.user_id, id).await?.is_none() {
        return Err(not_found().into());
    }
    let page = conversations
        .messages(&caller.user_id, id, limit, cursor.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Delete one conversation and its messages.
#[utoipa::path(delete, path = "/api/{user_id}/conversations/{conversation_id}", tag = "assistant",
    security(("bearer" = [])), params(("user_id" = String, Path), ("conversation_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn delete(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<(String, String)>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    let id = scoped_id(&caller, path)?;
    if store.conversations().delete(&caller.user_id, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(not_found().into())
    }
}

/// Delete all of the caller's conversations.
#[utoipa::path(delete, path = "/api/{user_id}/conversations/clear", tag = "assistant", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = Cleared), (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn clear(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    caller.must_be(&path)?;
    let count = store.conversations().clear(&caller.user_id).await?;
    Ok(HttpResponse::Ok().json(Cleared { count }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/{user_id}/chat")
            .wrap(from_fn(crate::idempotency::middleware))
            .route(web::post().to(chat)),
    )
    .service(web::resource("/api/{user_id}/chat/confirm").route(web::post().to(super::chat_confirm::confirm)))
    .service(web::resource("/api/{user_id}/chat/stream").route(web::post().to(super::chat_stream::stream)))
    .service(web::resource("/api/{user_id}/conversations").route(web::get().to(conversations)))
    .service(web::resource("/api/{user_id}/conversations/clear").route(web::delete().to(clear)))
    .service(web::resource("/api/{user_id}/conversations/{conversation_id}").route(web::delete().to(delete)))
    .service(
        web::resource("/api/{user_id}/conversations/{conversation_id}/messages")
            .route(web::get().to(messages)),
    );
}

#[cfg(test)]
mod tests {
    use super::{RECORD_MESSAGE_CHARS, headline};

    #[test]
    fn a_records_message_is_the_first_line_bounded() {
        assert_eq!(headline("\n ✅ Added “Milk”\n- more"), "✅ Added “Milk”");
        let long = headline(&"é".repeat(500));
        assert_eq!(long.chars().count(), RECORD_MESSAGE_CHARS);
        assert!(long.ends_with('…'));
    }
}
