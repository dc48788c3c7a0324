//! HTTP routes of backend-api, one module per resource.

pub mod audit;
pub mod auth;
pub mod calendar;
pub mod chat;
pub mod chat_confirm;
pub mod chat_stream;
pub mod internal_events;
pub mod internal_tokens;
pub mod mcp;
pub mod notifications;
pub mod predecessor_chat;
pub mod quick_add;
pub mod recurrence_preview;
pub mod stream_tickets;
pub mod task_query;
pub mod tasks;
pub mod tokens;
pub mod webhook_deliveries;
pub mod webhooks;

use actix_web::web;
use taskflow_auth::AuthenticatedUser;
use taskflow_runtime::ApiError;
use uuid::Uuid;

/// The `{id}` of a `/api/{user_id}/…/{id}` path, once `{user_id}` is the caller; a malformed id is
/// answered like a missing one (`missing`), so ids reveal nothing.
pub fn scoped_id(
    caller: &AuthenticatedUser,
    path: web::Path<(String, String)>,
    missing: fn() -> ApiError,
) -> Result<Uuid, ApiError> {
    let (user_id, id) = path.into_inner();
    caller.must_be(&user_id)?;
    Uuid::parse_str(&id).map_err(|_| missing())
}
