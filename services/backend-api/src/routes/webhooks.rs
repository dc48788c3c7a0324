//! `/api/{user_id}/webhooks`: the caller's webhook endpoints (issue 20, Standard Webhooks).
//!
//! The signing secret (`whsec_` + base64 of 32 random bytes) is shown once: in the answer to the
//! create and to each rotation. No read returns it again, so a secret never sits in a log of GET
//! responses; a user who lost it rotates. During a rotation's grace period
//! ([`ROTATION_GRACE`]) deliveries carry both signatures.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use rand::RngCore;
use serde::Serialize;
use taskflow_auth::{AuthenticatedUser, Scope};
use taskflow_domain::time;
use taskflow_domain::webhook::{CreateWebhook, WebhookUpdate};
use taskflow_runtime::{ApiError, JsonBody};
use taskflow_store::{Store, Webhook};
use utoipa::ToSchema;

use crate::error::HandlerResult;
use crate::rate_limit::{Throttled, Writes};

/// How long the secret replaced by a rotation keeps signing.
pub const ROTATION_GRACE: TimeDelta = TimeDelta::hours(24);
/// Random bytes in a secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// Which URLs may be registered (`WEBHOOK_ALLOW_PRIVATE_NETWORKS`).
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlPolicy {
    pub allow_private: bool,
}

/// An endpoint with its signing secret: the answer to a create or a rotation, the only times the
/// secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` + base64 of 32 random bytes. Sign-checking uses the base64-decoded bytes after the
    /// prefix. Shown only now: keep it.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub webhooks: Vec<Webhook>,
}

pub(crate) fn not_found() -> ApiError {
    ApiError::not_found("webhook not found")
}

fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// Register an endpoint; the answer carries its signing secret, shown only this once.
#[utoipa::path(post, path = "/api/{user_id}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = CreateWebhook,
    responses((status = 201, body = WebhookWithSecret),
        (status = 403, description = "the user has as many endpoints as allowed (`quota_exceeded`)", body = taskflow_runtime::error::ErrorBody),
        (status = 422, description = "A field is invalid (`url`, `events`, `description`)", body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    store: web::Data<Store>,
    policy: web::Data<UrlPolicy>,
    caller: Throttled<Writes>,
    path: web::Path<String>,
    body: JsonBody<CreateWebhook>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Webhooks)?;
    caller.must_be(&path)?;
    let valid = body.into_inner().validate(policy.allow_private)?;
    let secret = new_secret();
    let webhook = store
        .webhooks()
        .create(&caller.user_id, &valid, &secret, time::now())
        .await?;
    tracing::info!(webhook_id = %webhook.id, "webhook endpoint created");
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!("/api/{}/webhooks/{}", caller.user_id, webhook.id),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .json(WebhookWithSecret { webhook, secret }))
}

/// The caller's endpoints (without secrets).
#[utoipa::path(get, path = "/api/{user_id}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = WebhookList)))]
pub async fn list(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Webhooks)?;
    caller.must_be(&path)?;
    let webhooks = store.webhooks().list(&caller.user_id).await?;
    Ok(HttpResponse::Ok().json(WebhookList { webhooks }))
}

/// One endpoint (without its secret).
#[utoipa::path(get, path = "/api/{user_id}/webhooks/{webhook_id}", tag = "webhooks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("webhook_id" = Uuid, Path)),
    responses((status = 200, body = Webhook)))]
pub async fn get(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<(String, String)>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Webhooks)?;
    let id = super::scoped_id(&caller, path, not_found)?;
    let webhook = store
        .webhooks()
        .get(&caller.user_id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(webhook))
}

/// Change an endpoint: only the fields sent change. `enabled: true` re-enables one the server
/// disabled.
#[utoipa::path(patch, path = "/api/{user_id}/webhooks/{webhook_id}", tag = "webhooks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("webhook_id" = Uuid, Path)), request_body = WebhookUpdate,
    responses((status = 200, body = Webhook),
        (status = 422, description = "A field is invalid (`url`, `events`, `description`)", body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn update(
    store: web::Data<Store>,
    policy: web::Data<UrlPolicy>,
    caller: Throttled<Writes>,
    path: web::Path<(String, String)>,
    body: JsonBody<WebhookUpdate>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Webhooks)?;
    let id = super::scoped_id(&caller, path, not_found)?;
    let change = body.into_inner().validate(policy.allow_private)?;
    let webhook = store
        .webhooks()
        .update(&caller.user_id, id, &change, time::now())
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(webhook))
}

/// Delete an endpoint and its delivery log; pending deliveries are not sent.
#[utoipa::path(delete, path = "/api/{user_id}/webhooks/{webhook_id}", tag = "webhooks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("webhook_id" = Uuid, Path)),
    responses((status = 204),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
pub async fn delete(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<(String, String)>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Webhooks)?;
    let id = super::scoped_id(&caller, path, not_found)?;
    if !store.webhooks().delete(&caller.user_id, id).await? {
        return Err(not_found().into());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Replace the signing secret. The answer carries the new one (shown only now); the old one keeps
/// signing beside it for 24 hours, so each delivery meanwhile has two `v1,` signatures.
#[utoipa::path(post, path = "/api/{user_id}/webhooks/{webhook_id}/rotate-secret", tag = "webhooks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("webhook_id" = Uuid, Path)),
    responses((status = 200, body = WebhookWithSecret),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn rotate_secret(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<(String, String)>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Webhooks)?;
    let id = super::scoped_id(&caller, path, not_found)?;
    let now = time::now();
    let secret = new_secret();
    let webhook = store
        .webhooks()
        .rotate_secret(&caller.user_id, id, &secret, now + ROTATION_GRACE, now)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(webhook_id = %webhook.id, "webhook secret rotated");
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(WebhookWithSecret { webhook, secret }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/{user_id}/webhooks")
            .wrap(from_fn(crate::idempotency::middleware))
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/api/{user_id}/webhooks/{webhook_id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource("/api/{user_id}/webhooks/{webhook_id}/rotate-secret")
            .route(web::post().to(rotate_secret)),
    )
    .configure(super::webhook_deliveries::configure);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_whsec_and_32_random_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let raw = STANDARD.decode(a.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(raw.len(), SECRET_BYTES);
    }
}
