//! `/api/{user_id}/notifications`: the caller's inbox of fired reminders.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use taskflow_auth::{AuthenticatedUser, Scope};
use taskflow_domain::time;
use taskflow_runtime::ApiError;
use taskflow_store::{Notification, NotificationFilter, NotificationPage, Store};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::HandlerResult;
use crate::routes::task_query::{page_cursor, page_limit};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Only notifications not yet read.
    unread_only: Option<bool>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadAll {
    /// How many notifications were marked read.
    pub count: u64,
}

fn not_found() -> ApiError {
    ApiError::not_found("notification not found")
}

/// The notification id of a `/api/{user_id}/notifications/{id}` path, once the path's user is the caller.
fn scoped_id(caller: &AuthenticatedUser, path: web::Path<(String, String)>) -> Result<Uuid, ApiError> {
    super::scoped_id(caller, path, not_found)
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/{user_id}/notifications", tag = "notifications", security(("bearer" = [])),
    params(("user_id" = String, Path), InboxQuery),
    responses((status = 200, body = NotificationPage), (status = 400, body = taskflow_runtime::error::ErrorBody),
        (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn list(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
    query: web::Query<InboxQuery>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Notifications)?;
    caller.must_be(&path)?;
    let q = query.into_inner();
    let filter = NotificationFilter {
        unread_only: q.unread_only.unwrap_or(false),
        limit: page_limit(q.limit)?,
        cursor: page_cursor(q.cursor)?,
    };
    let page: NotificationPage = store.notifications().list(&caller.user_id, &filter).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Mark one notification read.
#[utoipa::path(patch, path = "/api/{user_id}/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = Notification), (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn mark_read(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<(String, String)>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Notifications)?;
    let id = scoped_id(&caller, path)?;
    let n = store
        .notifications()
        .mark_read(&caller.user_id, id, time::now())
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(n))
}

/// Mark every unread notification read.
#[utoipa::path(post, path = "/api/{user_id}/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = ReadAll), (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn read_all(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Notifications)?;
    caller.must_be(&path)?;
    let count = store
        .notifications()
        .mark_all_read(&caller.user_id, time::now())
        .await?;
    Ok(HttpResponse::Ok().json(ReadAll { count }))
}

/// Delete a notification.
#[utoipa::path(delete, path = "/api/{user_id}/notifications/{id}", tag = "notifications", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn delete(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<(String, String)>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Notifications)?;
    let id = scoped_id(&caller, path)?;
    if !store.notifications().delete(&caller.user_id, id).await? {
        return Err(not_found().into());
    }
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/{user_id}/notifications").route(web::get().to(list)))
        .service(web::resource("/api/{user_id}/notifications/read-all").route(web::post().to(read_all)))
        .service(web::resource("/api/{user_id}/notifications/{id}").route(web::delete().to(delete)))
        .service(web::resource("/api/{user_id}/notifications/{id}/read").route(web::patch().to(mark_read)));
}
