//! `POST /api/{user_id}/chat/confirm`: runs a deletion the assistant proposed, once the user confirms.
//!
//! A chat turn never deletes: a `delete_task` from either agent comes back as a `confirmation_required`
//! result (see `taskflow_assistant::tools::confirm`), to which [`attach`] adds a confirmation id: the task
//! id, an expiry and an HMAC over them and the user's id, under a key derived from `JWT_SECRET`. Stateless,
//! so any replica accepts it; another user's id, a tampered or an expired one is refused (404 / 422);
//! replaying it finds the task gone (404). Cancelling is simply not confirming.

use std::fmt::Write as _;

use actix_web::{HttpResponse, web};
use chrono::{TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use taskflow_assistant::tools::{self, ToolCall, confirm};
use taskflow_auth::{AuthenticatedUser, Scope};
use taskflow_domain::time;
use taskflow_runtime::{ApiError, JsonBody};
use utoipa::ToSchema;
use uuid::Uuid;

use super::chat::{ChatResponse, records};
use crate::error::HandlerResult;

/// How long a proposal may be confirmed.
pub const CONFIRM_TTL_SECS: i64 = 600;
const KEY_PURPOSE: &[u8] = b"taskflow/chat-confirmation/v1";

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks confirmation ids; mounted as app data.
#[derive(Clone)]
pub struct ConfirmKey(HmacSha256);

impl std::fmt::Debug for ConfirmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfirmKey(..)")
    }
}

fn keyed(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new(&Default::default()))
}

impl ConfirmKey {
    /// A key derived from `secret` (the deployment's `JWT_SECRET`), never the token key itself.
    pub fn new(secret: &[u8]) -> Self {
        let derived = keyed(secret).chain_update(KEY_PURPOSE).finalize().into_bytes();
        Self(keyed(&derived))
    }

    fn mac(&self, user_id: &str, task_id: &str, expires: i64) -> HmacSha256 {
        self.0
            .clone()
            .chain_update(user_id.as_bytes())
            .chain_update([0])
            .chain_update(task_id.as_bytes())
            .chain_update([0])
            .chain_update(expires.to_string().as_bytes())
    }

    /// `{task_id}.{expires}.{hex mac}`.
    pub fn sign(&self, user_id: &str, task_id: &str, expires: i64) -> String {
        let mut id = format!("{task_id}.{expires}.");
        for byte in self.mac(user_id, task_id, expires).finalize().into_bytes() {
            let _ = write!(id, "{byte:02x}");
        }
        id
    }

    /// The task a confirmation id from `user_id` names, if it is genuine (yours) and not expired.
    pub(crate) fn verify(&self, user_id: &str, id: &str, now: i64) -> Result<String, ApiError> {
        let invalid = || ApiError::not_found("no such confirmation").with_field("confirmation");
        let mut parts = id.trim().splitn(3, '.');
        let (Some(task), Some(expires), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        let expires: i64 = expires.parse().map_err(|_| invalid())?;
        let mac = decode_hex(mac).ok_or_else(invalid)?;
        self.mac(user_id, task, expires)
            .verify_slice(&mac)
            .map_err(|_| invalid())?;
        if expires < now {
            return Err(ApiError::validation(
                "confirmation",
                "this confirmation has expired; ask the assistant again",
            ));
        }
        Ok(task.to_owned())
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Adds a signed confirmation id (`confirmation_required.id`, with `expires_at`) to each proposal
/// among `outcomes`.
pub fn attach(key: &ConfirmKey, user_id: &str, outcomes: &mut [tools::ToolOutcome]) {
    let expires = Utc::now() + TimeDelta::seconds(CONFIRM_TTL_SECS);
    for o in outcomes {
        let Some(task) = confirm::proposed_task(&o.result).map(str::to_owned) else {
            continue;
        };
        if let Some(Value::Object(c)) = o.result.get_mut("confirmation_required") {
            c.insert("id".into(), json!(key.sign(user_id, &task, expires.timestamp())));
            c.insert("expires_at".into(), json!(expires));
        }
    }
}

/// Deletes the confirmed `task` for `user_id`, as the assistant's `delete_task` tool; 404 naming
/// `field` when it is gone.
pub(crate) async fn delete_confirmed(
    store: &taskflow_store::Store,
    user_id: &str,
    task: &str,
    field: &str,
) -> Result<tools::ToolOutcome, ApiError> {
    let ctx = super::chat::tool_context(store, user_id, time::now()).await?;
    let outcome = tools::run(
        &ctx,
        &ToolCall {
            name: "delete_task".into(),
            arguments: json!({ "task": task }),
        },
    )
    .await;
    if outcome.ok {
        Ok(outcome)
    } else {
        Err(ApiError::not_found("the task no longer exists").with_field(field))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// `confirmation_required.id` from the assistant's proposal.
    #[schema(max_length = 200)]
    pub confirmation: String,
}

/// Confirm an action the assistant proposed (deleting a task): it runs now, for the caller only.
#[utoipa::path(post, path = "/api/{user_id}/chat/confirm", tag = "assistant", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = ConfirmRequest,
    responses((status = 200, body = ChatResponse), (status = 404, body = taskflow_runtime::error::ErrorBody),
        (status = 422, body = taskflow_runtime::error::ErrorBody)))]
pub async fn confirm(
    store: web::Data<taskflow_store::Store>,
    key: web::Data<ConfirmKey>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
    body: JsonBody<ConfirmRequest>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    caller.must_be(&path)?;
    let request = body.into_inner();
    if request.confirmation.chars().count() > 200 {
        return Err(ApiError::validation("confirmation", "is not a confirmation id").into());
    }
    let task = key.verify(&caller.user_id, &request.confirmation, Utc::now().timestamp())?;
    let outcome = delete_confirmed(&store, &caller.user_id, &task, "confirmation").await?;
    Ok(HttpResponse::Ok().json(ChatResponse {
        conversation_id: Uuid::nil(),
        tool_calls: records(std::slice::from_ref(&outcome)),
        response: outcome.message,
    }))
}

#[cfg(test)]
mod tests {
    use super::ConfirmKey;

    #[test]
    fn ids_are_bound_to_their_user_task_and_expiry() {
        let key = ConfirmKey::new(b"a secret of at least thirty-two bytes!!");
        let id = key.sign("alice", "t1", 1_000);
        assert_eq!(key.verify("alice", &id, 999).unwrap(), "t1");
        assert!(key.verify("bob", &id, 999).is_err());
        assert!(key.verify("alice", &id, 1_001).is_err());
        assert!(key.verify("alice", &id.replace("t1.", "t2."), 999).is_err());
        assert!(key.verify("alice", &id.replace(".1000.", ".9000."), 999).is_err());
        assert!(key.verify("alice", "garbage", 999).is_err());
        let other = ConfirmKey::new(b"another secret of at least 32 bytes!!!!");
        assert!(other.verify("alice", &id, 999).is_err());
    }
}
