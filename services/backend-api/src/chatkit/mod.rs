//! A ChatKit server: `POST /api/chatkit` speaks the protocol of OpenAI's ChatKit web component in
//! custom-backend mode (`@openai/chatkit`, `api: {url, fetch}`), so a predecessor's ChatKit frontend
//! works against TaskFlow unchanged.
//!
//! One endpoint takes every request type, as the reference server (`openai-chatkit`'s
//! `ChatKitServer.process`) does: thread and item reads and edits answer JSON; a new message (or a
//! retry) answers Server-Sent Events, one `data:` frame per event (`respond.rs`). Threads are the
//! user's conversations and items their messages (`items.rs`), so ChatKit, `/api/{user_id}/chat` and
//! the web app share one history, and the turn is the same assistant with the same tools, quotas and
//! per-user chat-turn rate. A deletion the assistant proposes is a card whose buttons send
//! `threads.custom_action` (`confirm.rs`, `actions.rs`). Files, voice, client tools and structured
//! input are refused with a message saying so. Session, refresh and health are in `session.rs`.

mod actions;
mod confirm;
mod items;
pub mod protocol;
mod respond;
pub mod session;

use actix_web::{HttpResponse, web};
use taskflow_assistant::{Agent, HistoryMessage};
use taskflow_domain::{text, time};
use taskflow_runtime::{ApiError, ErrorCode, JsonBody};
use taskflow_store::{Conversation, Feedback, MessagePage, NewMessage, PageOrder, Store};
use uuid::Uuid;

use self::protocol::{Event, FeedbackKind, Item, Order, Page, Request, UserInput};
use self::respond::Turn;
use self::session::ChatKitCaller;
use crate::error::HandlerResult;
use crate::rate_limit::{AuthLimiter, RateKind};
use crate::routes::chat::{CONTEXT_MESSAGES, history, message_text};
use crate::routes::chat_confirm::ConfirmKey;

/// ChatKit's own page size (`DEFAULT_PAGE_SIZE` in the reference server).
const DEFAULT_PAGE: u64 = 20;
const MAX_PAGE: u64 = 200;
/// Longest thread title, in characters.
const MAX_TITLE_CHARS: usize = 80;

fn thread_not_found() -> ApiError {
    ApiError::not_found("thread not found").with_field("params.thread_id")
}

fn not_supported(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::BadRequest,
        format!("{what} are not supported by TaskFlow's assistant"),
    )
}

/// The page size asked for: none or 0 is ChatKit's default, more than [`MAX_PAGE`] is [`MAX_PAGE`]
/// (the page says `has_more`), as the reference server serves what its store gives.
fn page_size(limit: Option<i64>) -> Result<u64, ApiError> {
    match limit {
        None | Some(0) => Ok(DEFAULT_PAGE),
        Some(n) => u64::try_from(n)
            .map(|n| n.min(MAX_PAGE))
            .map_err(|_| ApiError::validation("params.limit", "must not be negative")),
    }
}

fn cursor(after: Option<String>) -> Result<Option<String>, ApiError> {
    crate::routes::task_query::page_cursor(after).map_err(|e| e.with_field("params.after"))
}

fn page_order(order: Order) -> PageOrder {
    match order {
        Order::Asc => PageOrder::OldestFirst,
        Order::Desc => PageOrder::NewestFirst,
    }
}

/// The caller's thread `raw`, or 404 (a malformed id is answered like a missing one).
async fn owned_thread(store: &Store, user_id: &str, raw: &str) -> HandlerResult<Conversation> {
    let id = Uuid::parse_str(raw).map_err(|_| thread_not_found())?;
    Ok(store
        .conversations()
        .get(user_id, id)
        .await?
        .ok_or_else(thread_not_found)?)
}

/// A page of messages as items, in the page's order (a workflow before its answer, either way).
fn item_page(page: MessagePage, order: Order) -> Page<Item> {
    let mut data = Vec::with_capacity(page.messages.len());
    for m in &page.messages {
        let mut items = items::message_items(m);
        if order == Order::Desc {
            items.reverse();
        }
        data.extend(items);
    }
    Page {
        data,
        has_more: page.next_cursor.is_some(),
        after: page.next_cursor,
    }
}

fn empty_page() -> Page<Item> {
    Page {
        data: Vec::new(),
        has_more: false,
        after: None,
    }
}

/// The text of a new message, checked like the chat's; attachments are refused.
fn user_text(input: &UserInput) -> Result<String, ApiError> {
    if !input.attachments.is_empty() {
        return Err(not_supported("attachments"));
    }
    message_text(&input.text()).map_err(|e| match e.field.as_deref() {
        Some("message") => e.with_field("params.input.content"),
        _ => e,
    })
}

/// Stores the user's message; its `thread.item.done`.
async fn store_user_message(
    store: &Store,
    user_id: &str,
    thread_id: Uuid,
    text: &str,
) -> HandlerResult<Event> {
    let stored = store
        .conversations()
        .append(
            user_id,
            thread_id,
            &[NewMessage {
                id: NewMessage::id(),
                role: "user",
                content: text.to_owned(),
                tool_calls: None,
                created_at: time::now(),
            }],
        )
        .await?
        .and_then(|mut m| m.pop())
        .ok_or_else(thread_not_found)?;
    Ok(Event::ItemDone {
        item: items::user_item(thread_id, stored.id, stored.created_at, text),
    })
}

/// The app data a turn needs.
struct Services<'a> {
    store: &'a Store,
    agent: &'a Agent,
    key: &'a ConfirmKey,
    limiter: Option<&'a AuthLimiter>,
}

impl Services<'_> {
    fn turn(&self, user_id: &str, thread_id: Uuid, history: Vec<HistoryMessage>, message: String) -> Turn {
        Turn {
            store: self.store.clone(),
            agent: self.agent.clone(),
            key: self.key.clone(),
            user_id: user_id.to_owned(),
            thread_id,
            history,
            message,
        }
    }

    async fn admit_turn(&self, user_id: &str) -> Result<(), ApiError> {
        match self.limiter {
            Some(l) => l.user_request(RateKind::ChatTurns, user_id).await,
            None => Ok(()),
        }
    }
}

/// Every ChatKit request (`{"type", "params", "metadata"}`): JSON for reads and edits,
/// `text/event-stream` for a new thread, a new message and a retry.
#[utoipa::path(post, path = "/api/chatkit", tag = "chatkit", security(("bearer" = [])),
    request_body(content = Request, description = "A ChatKit request, as `openai-chatkit`'s `ChatKitReq`: `threads.create`, `threads.add_user_message`, `threads.retry_after_item` (streamed), `threads.get_by_id`, `threads.list`, `threads.update`, `threads.delete`, `items.list`, `items.feedback`, and `threads.custom_action` for a deletion card's `task.delete.confirm` / `task.delete.cancel` (streamed). Attachments, transcription, client tools and structured input answer that they are not supported."),
    responses(
        (status = 200, description = "a `Thread`, a `Page` or `{}` as JSON; for streamed requests `text/event-stream` of `ThreadStreamEvent`s, one `data:` frame each",
            content((Object = "application/json"), ("text/event-stream"))),
        (status = 400, description = "malformed JSON, an unknown request type or action, or something TaskFlow does not support (attachments, transcription, synchronous custom actions)", body = taskflow_runtime::error::ErrorBody),
        (status = 401, body = taskflow_runtime::error::ErrorBody),
        (status = 403, description = "no `assistant` scope, or the conversation or chat-history quota is reached (`quota_exceeded`)", body = taskflow_runtime::error::ErrorBody),
        (status = 409, description = "a deletion card already decided", body = taskflow_runtime::error::ErrorBody),
        (status = 404, description = "not one of the caller's threads or items", body = taskflow_runtime::error::ErrorBody),
        (status = 413, body = taskflow_runtime::error::ErrorBody),
        (status = 415, body = taskflow_runtime::error::ErrorBody),
        (status = 422, body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many chat messages; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn process(
    store: web::Data<Store>,
    agent: web::Data<Agent>,
    key: web::Data<ConfirmKey>,
    limiter: Option<web::Data<AuthLimiter>>,
    caller: ChatKitCaller,
    body: JsonBody<Request>,
) -> HandlerResult<HttpResponse> {
    let user_id = caller.0.user_id.as_str();
    let services = Services {
        store: &store,
        agent: &agent,
        key: &key,
        limiter: limiter.as_ref().map(|l| l.get_ref()),
    };
    let conversations = store.conversations();
    match body.into_inner() {
        Request::GetThread { params } => {
            let thread = owned_thread(&store, user_id, &params.thread_id).await?;
            let page = conversations
                .messages_in_order(user_id, thread.id, PageOrder::OldestFirst, DEFAULT_PAGE, None)
                .await?;
            Ok(HttpResponse::Ok().json(items::thread(&thread, item_page(page, Order::Asc))))
        }
        Request::ListThreads { params } => {
            let limit = page_size(params.limit)?;
            let after = cursor(params.after)?;
            let page = conversations
                .list_in_order(user_id, page_order(params.order), limit, after.as_deref())
                .await?;
            Ok(HttpResponse::Ok().json(Page {
                data: page
                    .conversations
                    .iter()
                    .map(|c| items::thread(c, empty_page()))
                    .collect(),
                has_more: page.next_cursor.is_some(),
                after: page.next_cursor,
            }))
        }
        Request::ListItems { params } => {
            let limit = page_size(params.limit)?;
            let after = cursor(params.after)?;
            let thread = owned_thread(&store, user_id, &params.thread_id).await?;
            let page = conversations
                .messages_in_order(
                    user_id,
                    thread.id,
                    page_order(params.order),
                    limit,
                    after.as_deref(),
                )
                .await?;
            Ok(HttpResponse::Ok().json(item_page(page, params.order)))
        }
        Request::Feedback { params } => {
            let thread = owned_thread(&store, user_id, &params.thread_id).await?;
            let ids: Vec<Uuid> = params
                .item_ids
                .iter()
                .filter_map(|i| items::message_id(i))
                .collect();
            let kind = match params.kind {
                FeedbackKind::Positive => Feedback::Positive,
                FeedbackKind::Negative => Feedback::Negative,
            };
            if conversations.rate(user_id, thread.id, &ids, kind).await? == 0 {
                return Err(
                    ApiError::not_found("none of these items is an answer in this thread")
                        .with_field("params.item_ids")
                        .into(),
                );
            }
            Ok(HttpResponse::Ok().json(serde_json::json!({})))
        }
        Request::UpdateThread { params } => {
            let title = text::single_line("params.title", &params.title, MAX_TITLE_CHARS)?;
            let id = Uuid::parse_str(&params.thread_id).map_err(|_| thread_not_found())?;
            let thread = conversations
                .rename(user_id, id, &title)
                .await?
                .ok_or_else(thread_not_found)?;
            Ok(HttpResponse::Ok().json(items::thread(&thread, empty_page())))
        }
        Request::DeleteThread { params } => {
            let id = Uuid::parse_str(&params.thread_id).map_err(|_| thread_not_found())?;
            if !conversations.delete(user_id, id).await? {
                return Err(thread_not_found().into());
            }
            Ok(HttpResponse::Ok().json(serde_json::json!({})))
        }
        Request::CreateThread { params } => {
            let message = user_text(&params.input)?;
            services.admit_turn(user_id).await?;
            conversations.check_quota(user_id, true).await?;
            let thread = conversations.create(user_id, &message, time::now()).await?;
            let created = Event::ThreadCreated {
                thread: items::thread(&thread, empty_page()),
            };
            let said = store_user_message(&store, user_id, thread.id, &message).await?;
            let turn = services.turn(user_id, thread.id, Vec::new(), message);
            Ok(respond::stream(vec![created, said], Some(turn)))
        }
        Request::AddUserMessage { params } => {
            let message = user_text(&params.input)?;
            let thread = owned_thread(&store, user_id, &params.thread_id).await?;
            services.admit_turn(user_id).await?;
            conversations.check_quota(user_id, false).await?;
            let before = history(&store, user_id, thread.id, CONTEXT_MESSAGES).await?;
            let said = store_user_message(&store, user_id, thread.id, &message).await?;
            let turn = services.turn(user_id, thread.id, before, message);
            Ok(respond::stream(vec![said], Some(turn)))
        }
        Request::RetryAfterItem { params } => {
            let thread = owned_thread(&store, user_id, &params.thread_id).await?;
            let not_a_message =
                || ApiError::not_found("no such user message in this thread").with_field("params.item_id");
            let id = Uuid::parse_str(&params.item_id).map_err(|_| not_a_message())?;
            let asked = conversations
                .message(user_id, thread.id, id)
                .await?
                .filter(|m| m.role == "user")
                .ok_or_else(not_a_message)?;
            services.admit_turn(user_id).await?;
            conversations.check_quota(user_id, false).await?;
            conversations.truncate_after(user_id, &asked).await?;
            let mut before = history(&store, user_id, thread.id, CONTEXT_MESSAGES + 1).await?;
            // The retried message is now the newest; the model gets it as the message, not history.
            before.pop();
            let turn = services.turn(user_id, thread.id, before, asked.content);
            Ok(respond::stream(Vec::new(), Some(turn)))
        }
        Request::CreateAttachment | Request::DeleteAttachment => Err(not_supported("attachments").into()),
        Request::Transcribe => Err(not_supported("voice input and transcription").into()),
        Request::SyncCustomAction => Err(not_supported("custom actions").into()),
        Request::CustomAction { params } => actions::run(&store, &key, user_id, params).await,
        Request::AddClientToolOutput | Request::AddStructuredInput => {
            let refusal = Event::Error {
                code: "custom",
                message: "client tools and structured input are not supported by TaskFlow's assistant".into(),
                allow_retry: false,
            };
            Ok(respond::stream(vec![refusal], None))
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/chatkit").route(web::post().to(process)))
        .service(web::resource("/api/chatkit/session").route(web::post().to(session::session)))
        .service(web::resource("/api/chatkit/refresh").route(web::post().to(session::refresh)))
        .service(web::resource("/api/chatkit/health").route(web::get().to(session::health)));
}
