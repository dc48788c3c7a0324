//! `/api/{user_id}/tokens`: personal access tokens — create (the secret is in that answer only),
//! list, revoke.
//!
//! Only a session manages tokens: a token that could mint tokens could outlive its own revocation
//! and widen its own scopes, so a personal access token here is 403 `session_required`.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use taskflow_auth::{AuthenticatedUser, Scope, Scopes, generate_pat};
use taskflow_domain::{ValidationError, text, time};
use taskflow_runtime::{ApiError, JsonBody};
use taskflow_store::{AccessToken, NewAccessToken, Store};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::HandlerResult;
use crate::rate_limit::{Throttled, Writes};

const NAME_MAX: usize = 100;
const MANAGE: &str = "managing personal access tokens";

/// A scope a token can carry (the document lists [`Scope::ALL`]).
pub struct ScopeName;

impl utoipa::PartialSchema for ScopeName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .description(Some("A personal access token scope"))
                .enum_values(Some(Scope::ALL.iter().map(|s| s.as_str())))
                .build(),
        ))
    }
}

impl ToSchema for ScopeName {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// What the token is for, e.g. `backup script`: 1–100 characters, no control characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// What the token may do; at least one.
    #[schema(value_type = Vec<ScopeName>, min_items = 1)]
    pub scopes: Vec<String>,
    /// When the token stops working (in the future); without it, it works until revoked.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = Vec<ScopeName>)]
    pub scopes: Vec<&'static str>,
    pub created_at: DateTime<Utc>,
    /// `null` until first used; updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// `null`: valid until revoked.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token just created, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = Vec<ScopeName>)]
    pub scopes: Vec<&'static str>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `tf_pat_…`: send as `Authorization: Bearer <token>`. It cannot be shown again: `null` in a
    /// replay of this answer for its `Idempotency-Key` (the secret is never stored); revoke the token
    /// and create another if it was lost.
    pub token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

fn info(t: AccessToken) -> TokenInfo {
    TokenInfo {
        id: t.id,
        name: t.name,
        scopes: Scopes::from_stored(&t.scopes).names(),
        created_at: t.created_at,
        last_used_at: t.last_used_at,
        expires_at: t.expires_at,
    }
}

/// The request's scopes as a set; an unknown or missing one is a 422 naming `scopes`.
fn parse_scopes(raw: &[String]) -> Result<Scopes, ValidationError> {
    let mut scopes = Vec::with_capacity(raw.len());
    for name in raw {
        let scope = Scope::parse(name).ok_or_else(|| {
            let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            ValidationError::new(
                "scopes",
                format!("unknown scope {name:?}; known scopes: {}", known.join(", ")),
            )
        })?;
        scopes.push(scope);
    }
    let scopes = Scopes::new(scopes);
    if scopes.is_empty() {
        return Err(ValidationError::new("scopes", "must name at least one scope"));
    }
    Ok(scopes)
}

/// Create a personal access token.
#[utoipa::path(post, path = "/api/{user_id}/tokens", tag = "tokens", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = CreateTokenRequest,
    responses((status = 201, description = "The token; `token` is shown only in this answer (`null` in an `Idempotency-Key` replay)", body = CreatedToken),
        (status = 403, description = "`session_required`: a personal access token cannot manage tokens; or `quota_exceeded`: the user holds 50 live tokens", body = taskflow_runtime::error::ErrorBody),
        (status = 422, description = "A field is invalid: `name`, `scopes` (unknown or none) or `expires_at` (not in the future)", body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<String>,
    body: JsonBody<CreateTokenRequest>,
) -> HandlerResult<HttpResponse> {
    caller.must_be(&path)?;
    caller.require_session(MANAGE)?;
    let body = body.into_inner();
    let now = time::now();
    let name = text::single_line("name", &body.name, NAME_MAX)?;
    let scopes = parse_scopes(&body.scopes)?;
    if body.expires_at.is_some_and(|at| at <= now) {
        return Err(ValidationError::new("expires_at", "must be in the future").into());
    }
    let generated = generate_pat();
    let stored = store
        .access_tokens()
        .create(
            NewAccessToken {
                user_id: caller.user_id.clone(),
                name,
                token_hash: generated.hash,
                scopes: scopes.to_stored(),
                expires_at: body.expires_at,
            },
            now,
        )
        .await?;
    tracing::info!(token_id = %stored.id, "personal access token created");
    let listed = info(stored);
    let mut created = CreatedToken {
        id: listed.id,
        name: listed.name,
        scopes: listed.scopes,
        created_at: listed.created_at,
        expires_at: listed.expires_at,
        token: None,
    };
    let without_secret =
        serde_json::to_vec(&created).map_err(|e| ApiError::internal("serialising the created token", &e))?;
    created.token = Some(generated.token);
    let mut response = HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Location",
            format!("/api/{}/tokens/{}", caller.user_id, created.id),
        ))
        .json(&created);
    response
        .extensions_mut()
        .insert(crate::idempotency::StoreInstead(without_secret.into()));
    Ok(response)
}

/// List the caller's personal access tokens (never their secrets).
#[utoipa::path(get, path = "/api/{user_id}/tokens", tag = "tokens", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = TokenList),
        (status = 403, description = "`session_required`: a personal access token cannot manage tokens", body = taskflow_runtime::error::ErrorBody)))]
pub async fn list(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    path: web::Path<String>,
) -> HandlerResult<HttpResponse> {
    caller.must_be(&path)?;
    caller.require_session(MANAGE)?;
    let tokens = store.access_tokens().list(&caller.user_id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenList {
            tokens: tokens.into_iter().map(info).collect(),
        }))
}

/// Revoke a personal access token: it stops working at once.
#[utoipa::path(delete, path = "/api/{user_id}/tokens/{token_id}", tag = "tokens", security(("bearer" = [])),
    params(("user_id" = String, Path), ("token_id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 403, description = "`session_required`: a personal access token cannot manage tokens", body = taskflow_runtime::error::ErrorBody),
        (status = 404, description = "No such token of the caller's", body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn revoke(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<(String, String)>,
) -> HandlerResult<HttpResponse> {
    let missing = || ApiError::not_found("token not found");
    let id = super::scoped_id(&caller, path, missing)?;
    caller.require_session(MANAGE)?;
    if store.access_tokens().revoke(&caller.user_id, id).await? {
        tracing::info!(token_id = %id, "personal access token revoked");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(missing().into())
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/{user_id}/tokens")
            .wrap(from_fn(crate::idempotency::middleware))
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/api/{user_id}/tokens/{token_id}").route(web::delete().to(revoke)));
}
