//! `threads.custom_action`: the buttons of a deletion card (`confirm.rs`). "Delete" runs the
//! deletion the assistant proposed — checked like `POST /api/{user_id}/chat/confirm`: the signed
//! confirmation must be the caller's, unexpired, and name the task the card proposed — and "Keep it"
//! declines it. Either way the decision is recorded on the proposal and the card is replaced by its
//! decided form; a deletion also adds the assistant's message saying what was deleted. Anything
//! wrong is refused before the stream starts, with the status the JSON API would give.

use actix_web::HttpResponse;
use serde_json::{Value, json};
use taskflow_assistant::tools::confirm::proposed_task;
use taskflow_domain::time;
use taskflow_runtime::{ApiError, ErrorCode};
use taskflow_store::{NewMessage, Store};

use super::confirm::{CANCEL_ACTION, CONFIRM_ACTION, Decision, proposal, widget_index, widget_item};
use super::items::{message_id, message_items};
use super::protocol::{CustomActionParams, Event};
use super::{owned_thread, respond};
use crate::error::HandlerResult;
use crate::routes::chat::records;
use crate::routes::chat_confirm::{ConfirmKey, delete_confirmed};

fn no_card() -> ApiError {
    ApiError::not_found("no such confirmation card in this thread").with_field("params.item_id")
}

pub async fn run(
    store: &Store,
    key: &ConfirmKey,
    user_id: &str,
    params: CustomActionParams,
) -> HandlerResult<HttpResponse> {
    let thread = owned_thread(store, user_id, &params.thread_id).await?;
    let decision = match params.action.kind.as_str() {
        CONFIRM_ACTION => Decision::Deleted,
        CANCEL_ACTION => Decision::Kept,
        other => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("unknown action `{other}`: TaskFlow's widgets send `{CONFIRM_ACTION}` or `{CANCEL_ACTION}`"),
            )
            .with_field("params.action.type")
            .into());
        }
    };
    let item_id = params.item_id.ok_or_else(no_card)?;
    let (Some(answer_id), Some(index)) = (message_id(&item_id), widget_index(&item_id)) else {
        return Err(no_card().into());
    };
    let conversations = store.conversations();
    let answer = conversations
        .message(user_id, thread.id, answer_id)
        .await?
        .filter(|m| m.role == "assistant")
        .ok_or_else(no_card)?;
    let calls = answer.tool_calls.clone().unwrap_or(Value::Null);
    let result = calls
        .get(index)
        .and_then(|c| c.get("result"))
        .ok_or_else(no_card)?;
    let proposed = proposal(result).ok_or_else(no_card)?;
    if let Some(done) = proposed.get("decision").and_then(Value::as_str) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("this proposal was already decided: {done}"),
        )
        .into());
    }
    let task = proposed_task(result).ok_or_else(no_card)?.to_owned();

    let mut events = vec![Event::StreamOptions {
        stream_options: json!({"allow_cancel": false}),
    }];
    let mut said = None;
    if decision == Decision::Deleted {
        let confirmation = params
            .action
            .payload
            .get("confirmation")
            .and_then(Value::as_str)
            .filter(|c| c.chars().count() <= 200)
            .ok_or_else(|| {
                ApiError::validation("params.action.payload.confirmation", "is not a confirmation id")
            })?;
        let confirmed = key.verify(user_id, confirmation, time::now().timestamp())?;
        if confirmed != task {
            return Err(no_card().into());
        }
        let outcome = delete_confirmed(store, user_id, &task, "params.action.payload.confirmation").await?;
        said = Some(outcome);
    }
    let decided = super::confirm::decide(&calls, index, decision).ok_or_else(no_card)?;
    conversations
        .set_tool_calls(user_id, thread.id, answer.id, decided.clone())
        .await?;
    let proposal_now = decided
        .get(index)
        .and_then(|c| c.get("result"))
        .and_then(proposal)
        .cloned()
        .unwrap_or(Value::Null);
    events.push(Event::ItemReplaced {
        item: widget_item(thread.id, answer.id, index, answer.created_at, &proposal_now),
    });
    if let Some(outcome) = said {
        let stored = conversations
            .append(
                user_id,
                thread.id,
                &[NewMessage {
                    id: NewMessage::id(),
                    role: "assistant",
                    content: outcome.message.clone(),
                    tool_calls: serde_json::to_value(records(std::slice::from_ref(&outcome))).ok(),
                    created_at: time::now(),
                }],
            )
            .await?;
        // As it will read back: the deletion's workflow, then the message.
        for m in stored.iter().flatten() {
            events.extend(message_items(m).into_iter().map(|item| Event::ItemDone { item }));
        }
    }
    Ok(respond::stream(events, None))
}
