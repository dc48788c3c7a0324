//! `POST /api/{user_id}/recurrence/preview`: the next dates of a rule that is not saved yet, so an
//! editor can show "Next: …" while the rule is being typed.
//!
//! The rule goes through exactly what `POST /tasks` does with it (a throwaway [`CreateTask`] is
//! validated, so the same 422s name the same fields), and the dates come from the same
//! `series::upcoming` the saved task's `GET …/occurrences` uses, in the caller's time zone: the
//! preview is what the task would get. Evaluating a fresh, caller-chosen rule costs up to the
//! engine's evaluation budget on the blocking pool on every request (a stored rule was paid for by
//! the write that stored it), so this route spends the caller's write budget, as quick-add's preview
//! does; an editor's debounced typing stays far inside it.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use taskflow_auth::Scope;
use taskflow_domain::{CreateTask, RecurrenceInput, ValidationError, time};
use taskflow_runtime::{ApiError, JsonBody};
use taskflow_store::Store;
use utoipa::ToSchema;

use crate::blocking::off_worker;
use crate::error::HandlerResult;
use crate::rate_limit::{Throttled, Writes};

/// The most dates one preview gives.
pub const MAX_DATES: u32 = 10;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// As a task's `recurrence` on create: a preset (`daily`, `weekdays`, `weekly`, `monthly`,
    /// `yearly`), an RRULE, or `{rule, anchor?, ends_at?}`.
    #[schema(value_type = taskflow_domain::RecurrenceInput)]
    pub recurrence: RecurrenceInput,
    /// The due date the task would have; without one the series counts from now.
    #[serde(default)]
    #[schema(example = "2030-01-01T09:00:00Z")]
    pub due_at: Option<DateTime<Utc>>,
    /// How many dates, 1–10 (default 10).
    #[serde(default, deserialize_with = "taskflow_domain::task::whole_u32")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecurrencePreview {
    /// The time zone the dates were computed in (the caller's).
    pub timezone: String,
    /// The next due dates after `due_at` (or now), within the rule's end date and COUNT.
    pub occurrences: Vec<DateTime<Utc>>,
}

/// Preview the next due dates of an unsaved recurrence rule.
#[utoipa::path(post, path = "/api/{user_id}/recurrence/preview", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = PreviewRequest,
    responses((status = 200, body = RecurrencePreview), (status = 400, body = taskflow_runtime::error::ErrorBody),
        (status = 401, body = taskflow_runtime::error::ErrorBody), (status = 404, body = taskflow_runtime::error::ErrorBody),
        (status = 413, body = taskflow_runtime::error::ErrorBody), (status = 415, body = taskflow_runtime::error::ErrorBody),
        (status = 422, description = "an invalid rule or limit (`field` names it), or a rule too expensive to evaluate", body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
pub async fn preview(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<String>,
    body: JsonBody<PreviewRequest>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksRead)?;
    caller.must_be(&path)?;
    let body = body.into_inner();
    let limit = body.limit.unwrap_or(MAX_DATES);
    if !(1..=MAX_DATES).contains(&limit) {
        return Err(ApiError::validation("limit", format!("must be from 1 to {MAX_DATES}")).into());
    }
    let timezone = store
        .users()
        .find(&caller.user_id)
        .await?
        .map_or_else(|| "UTC".to_owned(), |u| u.timezone);
    let tz = timezone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::Tz::UTC);
    let now = time::now();
    let user_id = caller.user_id.clone();
    let occurrences = off_worker(move || -> Result<_, ValidationError> {
        let draft = CreateTask {
            due_at: body.due_at,
            recurrence: Some(body.recurrence),
            ..CreateTask::titled("preview")
        };
        let task = draft.validate()?.into_task(&user_id, now);
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(taskflow_domain::series::upcoming(&task, tz, now, wanted)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RecurrencePreview {
        timezone,
        occurrences,
    }))
}

/// Mounts the route; register before [`super::tasks::configure`], whose `/api/{user_id}` scope
/// would otherwise answer it with 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/{user_id}/recurrence/preview").route(web::post().to(preview)));
}
