//! `POST /api/{user_id}/tasks/quick` and `POST /api/{user_id}/tasks/quick/preview`: a task from one
//! typed line, as a task app's "New task" box takes it.
//!
//! "Call the plumber tomorrow at 9am #home !high" → title "Call the plumber", due tomorrow 09:00 in the
//! caller's time zone, tag `home`, priority high. The parsing lives on the server so every client reads
//! a line the same way: the line is split by the offline assistant's add parser
//! (`taskflow_assistant::offline::quick_add`) and its phrases are resolved exactly as the `add_task` tool
//! resolves them (`tools::exec::create_request`, over the domain's quick-add parsers). The created task
//! then goes through the same validation and store call as `POST /tasks`, and the answer says what was
//! understood so the client can show it. The preview answers the same without writing anything.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use taskflow_assistant::tools::{AddTaskArgs, ToolError};
use taskflow_auth::Scope;
use taskflow_domain::{
    Category, CreateTask, NewTask, Priority, ReminderSpec, Task, ValidationError, text, time,
};
use taskflow_runtime::JsonBody;
use taskflow_store::Store;
use utoipa::ToSchema;

use crate::blocking::off_worker;
use crate::error::{HandlerError, HandlerResult};
use crate::rate_limit::{Throttled, Writes};

/// The longest line accepted: a 200-character title plus its phrases.
pub const MAX_TEXT_CHARS: usize = 500;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuickAddRequest {
    /// The line as typed: a title, then `#tags` and `!priority` anywhere, and date, repetition and
    /// reminder phrases at the end (see README "Natural-language phrases").
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$",
        example = "Call the plumber tomorrow at 9am #home !high"
    )]
    pub text: String,
}

/// What the line was read as: each phrase as written beside the value it became.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Understood {
    pub title: String,
    pub priority: Priority,
    pub category: Category,
    /// Normalised as task tags are.
    pub tags: Vec<String>,
    /// The date phrase, e.g. `tomorrow at 9am`.
    pub due: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    /// The repetition phrase, e.g. `every weekday`.
    pub recurrence: Option<String>,
    /// The preset or RRULE it became.
    pub recurrence_rule: Option<String>,
    /// The reminder phrase, e.g. `30 minutes before`.
    pub remind: Option<String>,
    pub reminders: Vec<ReminderSpec>,
    /// The time zone the phrases were read in (the caller's).
    pub timezone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuickAddPreview {
    pub understood: Understood,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuickAddResult {
    /// The created task, as `POST /api/{user_id}/tasks` returns it.
    pub task: Task,
    pub understood: Understood,
}

/// A phrase or title the tools refused, as a validation error on `text`.
fn refused(e: ToolError) -> HandlerError {
    match e {
        ToolError::Store(s) => s.into(),
        other => ValidationError::new("text", other.to_string()).into(),
    }
}

/// Reads the line for the caller: the validated task and what was understood.
async fn understand(store: &Store, user_id: &str, raw: &str) -> HandlerResult<(NewTask, Understood)> {
    let line = text::single_line("text", raw, MAX_TEXT_CHARS)?;
    let args: AddTaskArgs = taskflow_assistant::offline::quick_add(&line).ok_or_else(|| {
        ValidationError::new(
            "text",
            "no title left once the dates, tags and priority were taken off; e.g. \"Call the plumber tomorrow at 9am #home !high\"",
        )
    })?;
    let timezone = store
        .users()
        .find(user_id)
        .await?
        .map_or_else(|| "UTC".to_owned(), |u| u.timezone);
    let tz = timezone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::Tz::UTC);
    // Reading a repeat phrase evaluates its rule: off the async workers.
    let phrases = args.clone();
    let task = off_worker(move || -> HandlerResult<NewTask> {
        let request: CreateTask =
            taskflow_assistant::tools::exec::create_request(phrases, time::now(), tz).map_err(refused)?;
        Ok(request
            .validate()
            .map_err(|v| ValidationError::new("text", format!("{}: {}", v.field, v.message)))?)
    })
    .await?;
    let understood = Understood {
        title: task.title.clone(),
        priority: task.priority,
        category: task.category,
        tags: task.tags.clone(),
        due: args.due,
        due_at: task.due_at,
        recurrence: args.recurrence,
        recurrence_rule: task.recurrence.as_ref().map(|r| r.rule.to_string()),
        remind: args.remind,
        reminders: task.reminders.clone(),
        timezone,
    };
    Ok((task, understood))
}

/// Create a task from one typed line.
#[utoipa::path(post, path = "/api/{user_id}/tasks/quick", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = QuickAddRequest,
    responses((status = 201, body = QuickAddResult, headers(("ETag" = String), ("Location" = String))),
        (status = 403, description = "the task quota is reached (`quota_exceeded`)", body = taskflow_runtime::error::ErrorBody),
        (status = 422, body = taskflow_runtime::error::ErrorBody), (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<String>,
    body: JsonBody<QuickAddRequest>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    caller.must_be(&path)?;
    let (new_task, understood) = understand(&store, &caller.user_id, &body.into_inner().text).await?;
    let task = new_task.into_task(&caller.user_id, time::now());
    store.tasks().create(&task).await?;
    tracing::info!(task_id = %task.id, "task created by quick-add");
    Ok(super::tasks::created(&caller.user_id, &task).json(QuickAddResult { task, understood }))
}

/// Read a line as quick-add would, without creating anything.
#[utoipa::path(post, path = "/api/{user_id}/tasks/quick/preview", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = QuickAddRequest,
    responses((status = 200, body = QuickAddPreview), (status = 422, body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
pub async fn preview(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<String>,
    body: JsonBody<QuickAddRequest>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    caller.must_be(&path)?;
    let (_, understood) = understand(&store, &caller.user_id, &body.into_inner().text).await?;
    Ok(HttpResponse::Ok().json(QuickAddPreview { understood }))
}

/// Mounts the two routes; register before [`super::tasks::configure`], whose `/tasks/{task_id}` would
/// otherwise answer `POST /tasks/quick` with 405.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/{user_id}/tasks/quick")
            .wrap(from_fn(crate::idempotency::middleware))
            .route(web::post().to(create)),
    )
    .service(web::resource("/api/{user_id}/tasks/quick/preview").route(web::post().to(preview)));
}
