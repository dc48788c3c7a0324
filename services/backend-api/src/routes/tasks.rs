//! `/api/{user_id}/tasks` and `/api/{user_id}/stats`.
//!
//! Every handler first checks that `{user_id}` is the caller; every query is scoped to that user, so
//! another user's task is a 404, never a 403 that would confirm it exists.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use taskflow_auth::{AuthenticatedUser, Scope};
use taskflow_domain::{CreateTask, Task, TaskUpdate, ValidationError, time};
use taskflow_runtime::json::{parse_json, read_body};
use taskflow_runtime::{ApiError, ErrorCode, JsonBody};
use taskflow_store::{Store, UpdateError};
use utoipa::ToSchema;
use uuid::Uuid;

use super::task_query;
use crate::blocking::{off_worker, off_worker_if};
use crate::error::{HandlerError, HandlerResult};
use crate::rate_limit::{Throttled, Writes};

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub total: u64,
    pub pending: u64,
    pub completed: u64,
    /// Pending tasks past their due date.
    pub overdue: u64,
    /// Counts of all tasks per priority (`low`, `medium`, `high`).
    pub by_priority: BTreeMap<String, u64>,
    /// Counts of all tasks per category (`work`, `personal`, `home`, `other`).
    pub by_category: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// Set explicitly; without a body the completion is toggled.
    pub completed: bool,
}

fn task_not_found() -> ApiError {
    ApiError::not_found("task not found")
}

fn not_found() -> HandlerError {
    task_not_found().into()
}

/// The task id of a `/api/{user_id}/tasks/{task_id}` path, once the path's user is the caller.
fn scoped_task_id(caller: &AuthenticatedUser, path: web::Path<(String, String)>) -> Result<Uuid, ApiError> {
    super::scoped_id(caller, path, task_not_found)
}

/// One of the caller's tasks, or 404.
async fn load(store: &Store, user_id: &str, id: Uuid) -> HandlerResult<Task> {
    store.tasks().get(user_id, id).await?.ok_or_else(not_found)
}

fn etag(task: &Task) -> (header::HeaderName, HeaderValue) {
    let value =
        HeaderValue::from_str(&format!("\"{}\"", task.version)).unwrap_or(HeaderValue::from_static("\"0\""));
    (header::ETAG, value)
}

/// `201 Created` for a new task of `user_id`: its `Location` and `ETag`; the caller adds the body
/// (the task, or quick-add's task with what was understood).
pub(crate) fn created(user_id: &str, task: &Task) -> actix_web::HttpResponseBuilder {
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/{user_id}/tasks/{}", task.id)))
        .insert_header(etag(task));
    res
}

fn task_response(mut res: actix_web::HttpResponseBuilder, task: &Task) -> HttpResponse {
    res.insert_header(etag(task)).json(task)
}

/// The version an `If-Match` header demands: `None` for no header or `*`.
fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = value
        .to_str()
        .map_err(|_| ApiError::bad_request("If-Match must be ASCII").with_field("If-Match"))?;
    let raw = raw.trim();
    if raw == "*" {
        return Ok(None);
    }
    let tag = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
    tag.parse::<i64>().map(Some).map_err(|_| {
        ApiError::bad_request("If-Match must be the task's ETag, e.g. \"3\"").with_field("If-Match")
    })
}

/// List the caller's tasks with filters, sorting and cursor pagination.
#[utoipa::path(get, path = "/api/{user_id}/tasks", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), task_query::ListTasksParams),
    responses((status = 200, body = TaskPage), (status = 400, body = taskflow_runtime::error::ErrorBody),
        (status = 401, body = taskflow_runtime::error::ErrorBody), (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn list(
    req: HttpRequest,
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksRead)?;
    caller.must_be(&path)?;
    let filter = task_query::parse(req.query_string())?;
    let page = store.tasks().list(&caller.user_id, &filter).await?;
    Ok(HttpResponse::Ok().json(TaskPage {
        tasks: page.tasks,
        next_cursor: page.next_cursor,
    }))
}

/// Create a task.
#[utoipa::path(post, path = "/api/{user_id}/tasks", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = CreateTask,
    responses((status = 201, body = Task), (status = 403, description = "the task quota is reached (`quota_exceeded`)", body = taskflow_runtime::error::ErrorBody), 
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody), (status = 400, body = taskflow_runtime::error::ErrorBody),
        (status = 413, body = taskflow_runtime::error::ErrorBody), (status = 415, body = taskflow_runtime::error::ErrorBody),
        (status = 422, body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<String>,
    body: JsonBody<CreateTask>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    caller.must_be(&path)?;
    let now = time::now();
    let body = body.into_inner();
    let task = off_worker_if(body.sends_recurrence(), move || body.validate())
        .await?
        .into_task(&caller.user_id, now);
    store.tasks().create(&task).await?;
    tracing::info!(task_id = %task.id, "task created");
    Ok(created(&caller.user_id, &task).json(&task))
}

/// Get one task.
#[utoipa::path(get, path = "/api/{user_id}/tasks/{task_id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("task_id" = Uuid, Path)),
    responses((status = 200, body = Task, headers(("ETag" = String))), (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn get(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<(String, String)>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksRead)?;
    let task = load(&store, &caller.user_id, scoped_task_id(&caller, path)?).await?;
    Ok(task_response(HttpResponse::Ok(), &task))
}

/// Applies `update` to the task through the store's shared read-modify-write.
async fn apply_update(
    store: &Store,
    user_id: &str,
    id: Uuid,
    expected: Option<i64>,
    update: &TaskUpdate,
) -> HandlerResult<Task> {
    store
        .tasks()
        .apply_update(user_id, id, expected, update)
        .await
        .map_err(|e| match e {
            UpdateError::NotFound => not_found(),
            UpdateError::VersionMismatch { .. } | UpdateError::Changed => {
                ApiError::new(ErrorCode::PreconditionFailed, e.to_string()).into()
            }
            UpdateError::Invalid(v) => v.into(),
            UpdateError::Store(s) => s.into(),
        })
}

/// Update a task: only the fields sent change; `null` clears a nullable field. Honours `If-Match`.
#[utoipa::path(put, path = "/api/{user_id}/tasks/{task_id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("task_id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"?[0-9]{1,18}"?)$"#, description = "The ETag from a previous read; 412 if the task changed since")),
    request_body = TaskUpdate,
    responses((status = 200, body = Task), (status = 404, body = taskflow_runtime::error::ErrorBody),
        (status = 412, body = taskflow_runtime::error::ErrorBody), (status = 422, body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn update(
    req: HttpRequest,
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<(String, String)>,
    body: JsonBody<TaskUpdate>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    let id = scoped_task_id(&caller, path)?;
    let expected = if_match(&req)?;
    let update = Arc::new(body.into_inner());
    let check = Arc::clone(&update);
    off_worker_if(update.sends_recurrence(), move || {
        check.check_recurrence(time::now())
    })
    .await?;
    let task = apply_update(&store, &caller.user_id, id, expected, &update).await?;
    Ok(task_response(HttpResponse::Ok(), &task))
}

/// Same as `PUT`: a partial update honouring `If-Match`.
#[utoipa::path(patch, path = "/api/{user_id}/tasks/{task_id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("task_id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"?[0-9]{1,18}"?)$"#, description = "The ETag from a previous read; 412 if the task changed since")),
    request_body = TaskUpdate,
    responses((status = 200, body = Task), (status = 404, body = taskflow_runtime::error::ErrorBody),
        (status = 412, body = taskflow_runtime::error::ErrorBody), (status = 422, body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
pub async fn patch(
    req: HttpRequest,
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<(String, String)>,
    body: JsonBody<TaskUpdate>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    update(req, store, caller, path, body).await
}

/// Mark a task completed or pending; without a body, toggle it.
#[utoipa::path(patch, path = "/api/{user_id}/tasks/{task_id}/complete", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("task_id" = Uuid, Path)),
    request_body(content = Option<CompleteRequest>, description = "Optional; omit to toggle"),
    responses((status = 200, body = Task), (status = 404, body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn complete(
    req: HttpRequest,
    mut payload: web::Payload,
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<(String, String)>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    let id = scoped_task_id(&caller, path)?;
    let body = read_body(&req, &mut payload, taskflow_runtime::json::body_limit(&req)).await?;
    // No body (or a JSON `null`) toggles; `{"completed": …}` sets.
    let explicit = if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        None
    } else {
        if !taskflow_runtime::json::is_json(&req) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            )
            .into());
        }
        Some(parse_json::<CompleteRequest>(&body)?.completed)
    };
    let expected = if_match(&req)?;
    let target = match explicit {
        Some(c) => c,
        None => !load(&store, &caller.user_id, id).await?.completed,
    };
    let task = apply_update(
        &store,
        &caller.user_id,
        id,
        expected,
        &TaskUpdate::completion(target),
    )
    .await?;
    Ok(task_response(HttpResponse::Ok(), &task))
}

/// Delete a task.
#[utoipa::path(delete, path = "/api/{user_id}/tasks/{task_id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("task_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn delete(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<(String, String)>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksWrite)?;
    let id = scoped_task_id(&caller, path)?;
    match store.tasks().delete_by_id(&caller.user_id, id).await? {
        Some(_) => Ok(HttpResponse::NoContent().finish()),
        None => Err(not_found()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OccurrencesQuery {
    /// How many dates, 1–100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Occurrences {
    pub task_id: Uuid,
    /// The time zone the dates were computed in (the user's).
    pub timezone: String,
    /// The next due dates of the series after this task's, within its end date and COUNT.
    pub occurrences: Vec<chrono::DateTime<chrono::Utc>>,
}

/// Preview the next due dates of a recurring task.
#[utoipa::path(get, path = "/api/{user_id}/tasks/{task_id}/occurrences", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("task_id" = Uuid, Path), OccurrencesQuery),
    responses((status = 200, body = Occurrences), (status = 400, body = taskflow_runtime::error::ErrorBody),
        (status = 404, body = taskflow_runtime::error::ErrorBody),
        (status = 422, description = "The stored rule is too expensive to evaluate", body = taskflow_runtime::error::ErrorBody)))]
pub async fn occurrences(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<(String, String)>,
    query: web::Query<OccurrencesQuery>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksRead)?;
    let id = scoped_task_id(&caller, path)?;
    let limit = query.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("must be from 1 to 100")
            .with_field("limit")
            .into());
    }
    let task = load(&store, &caller.user_id, id).await?;
    let timezone = store
        .users()
        .find(&caller.user_id)
        .await?
        .map_or_else(|| "UTC".to_owned(), |u| u.timezone);
    let tz = timezone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::Tz::UTC);
    let task_id = task.id;
    let now = time::now();
    let dates = off_worker(move || {
        taskflow_domain::series::upcoming(&task, tz, now, limit).map_err(ValidationError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Occurrences {
        task_id,
        timezone,
        occurrences: dates,
    }))
}

/// Counts of the caller's tasks.
#[utoipa::path(get, path = "/api/{user_id}/stats", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = Stats), (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn stats(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksRead)?;
    caller.must_be(&path)?;
    let s = store.tasks().stats(&caller.user_id, time::now()).await?;
    let owned = |m: BTreeMap<&'static str, u64>| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Ok(HttpResponse::Ok().json(Stats {
        total: s.total,
        pending: s.pending,
        completed: s.completed,
        overdue: s.overdue,
        by_priority: owned(s.by_priority),
        by_category: owned(s.by_category),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/{user_id}")
            .service(web::resource("/stats").route(web::get().to(stats)))
            .service(
                web::resource("/tasks")
                    .wrap(from_fn(crate::idempotency::middleware))
                    .route(web::get().to(list))
                    .route(web::post().to(create)),
            )
            .service(
                web::resource("/tasks/{task_id}")
                    .route(web::get().to(get))
                    .route(web::put().to(update))
                    .route(web::patch().to(patch))
                    .route(web::delete().to(delete)),
            )
            .service(web::resource("/tasks/{task_id}/complete").route(web::patch().to(complete)))
            .service(web::resource("/tasks/{task_id}/occurrences").route(web::get().to(occurrences))),
    );
}
