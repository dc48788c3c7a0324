//! `/api/{user_id}/webhooks/{webhook_id}/deliveries`: an endpoint's delivery log, and replaying one delivery.
//!
//! The notification service writes the log as it attempts deliveries; these routes only read it,
//! and a replay only re-queues the row (due now, schedule afresh) for that service's sender.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use taskflow_auth::{AuthenticatedUser, Scope};
use taskflow_domain::time;
use taskflow_runtime::ApiError;
use taskflow_store::{Delivery, DeliveryPage, Store};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::HandlerResult;
use crate::rate_limit::{Throttled, Writes};
use crate::routes::task_query::{page_cursor, page_limit};
use crate::routes::webhooks::not_found;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

fn delivery_not_found() -> ApiError {
    ApiError::not_found("delivery not found")
}

/// The caller's endpoint id, once it is theirs.
async fn own_endpoint(
    store: &Store,
    caller: &AuthenticatedUser,
    user_id: &str,
    id: &str,
) -> HandlerResult<Uuid> {
    caller.must_be(user_id)?;
    caller.require(Scope::Webhooks)?;
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    store
        .webhooks()
        .get(&caller.user_id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(id)
}

/// An endpoint's deliveries, newest first: status, attempts, last response code and duration.
#[utoipa::path(get, path = "/api/{user_id}/webhooks/{webhook_id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("webhook_id" = Uuid, Path), DeliveryQuery),
    responses((status = 200, body = DeliveryPage)))]
pub async fn list(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<(String, String)>,
    query: web::Query<DeliveryQuery>,
) -> HandlerResult<HttpResponse> {
    let (user_id, id) = path.into_inner();
    let endpoint = own_endpoint(&store, &caller, &user_id, &id).await?;
    let q = query.into_inner();
    let (limit, cursor) = (page_limit(q.limit)?, page_cursor(q.cursor)?);
    let page = store
        .webhook_deliveries()
        .list(&caller.user_id, endpoint, cursor.as_deref(), limit)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Send a delivery again: it is queued now, with the retry schedule started afresh (after any
/// earlier pending delivery of the endpoint, which goes first).
#[utoipa::path(post, path = "/api/{user_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", tag = "webhooks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("webhook_id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 202, body = Delivery),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn retry(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<(String, String, String)>,
) -> HandlerResult<HttpResponse> {
    let (user_id, id, delivery_id) = path.into_inner();
    let endpoint = own_endpoint(&store, &caller, &user_id, &id).await?;
    let delivery_id = Uuid::parse_str(&delivery_id).map_err(|_| delivery_not_found())?;
    let delivery = store
        .webhook_deliveries()
        .requeue(&caller.user_id, endpoint, delivery_id, time::now())
        .await?
        .ok_or_else(delivery_not_found)?;
    tracing::info!(%delivery_id, "webhook delivery re-queued");
    Ok(HttpResponse::Accepted().json(delivery))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/{user_id}/webhooks/{webhook_id}/deliveries").route(web::get().to(list)))
        .service(
            web::resource("/api/{user_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry")
                .route(web::post().to(retry)),
        );
}
