//! `GET /api/{user_id}/audit`: the caller's audit trail, newest first.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use taskflow_auth::{AuthenticatedUser, Scope};
use taskflow_domain::{EventType, text};
use taskflow_runtime::ApiError;
use taskflow_store::{AuditFilter, AuditPage, Store};
use utoipa::IntoParams;

use crate::error::HandlerResult;
use crate::routes::task_query::{page_cursor, page_limit};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `task-created`, `task-updated`, `task-completed`, `task-deleted` or `reminder-due`.
    #[param(pattern = "^(task-created|task-updated|task-completed|task-deleted|reminder-due)$")]
    event_type: Option<String>,
    /// A task (or reminder) id.
    entity_id: Option<String>,
    /// Only events at or after this instant (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Only events before this instant (RFC 3339).
    until: Option<DateTime<Utc>>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// The caller's audit trail, newest first.
#[utoipa::path(get, path = "/api/{user_id}/audit", tag = "audit", security(("bearer" = [])),
    params(("user_id" = String, Path), AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = taskflow_runtime::error::ErrorBody),
        (status = 404, body = taskflow_runtime::error::ErrorBody)))]
pub async fn list(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::TasksRead)?;
    caller.must_be(&path)?;
    let q = query.into_inner();
    if let Some(t) = &q.event_type
        && EventType::from_topic(t).is_none()
    {
        let topics: Vec<&str> = EventType::ALL.iter().map(|t| t.topic()).collect();
        return Err(
            ApiError::bad_request(format!("must be one of {}", topics.join(", ")))
                .with_field("event_type")
                .into(),
        );
    }
    if let Some(v) = &q.entity_id {
        text::filter_value("entity_id", v, 1000)
            .map_err(|e| ApiError::bad_request(e.message).with_field(e.field))?;
    }
    let limit = page_limit(q.limit)?;
    let cursor = page_cursor(q.cursor)?;
    let filter = AuditFilter {
        event_type: q.event_type,
        entity_id: q.entity_id,
        since: q.since,
        until: q.until,
        limit,
        cursor,
    };
    let page: AuditPage = store.audit().list(&caller.user_id, &filter).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/{user_id}/audit").route(web::get().to(list)));
}
