//! Who may talk to `/api/chatkit`, and the session routes a ChatKit frontend uses to get and renew
//! its client secret (`POST /api/chatkit/session`, `POST /api/chatkit/refresh`), plus
//! `GET /api/chatkit/health`.
//!
//! `/api/chatkit` accepts the user's own bearer token (a session, or a personal access token with the
//! `assistant` scope) or a ChatKit client secret, which opens the assistant and nothing else
//! (`taskflow_auth::ChatKitSecret`). A session mints one; the secret itself (or the session) renews
//! it, so a page can keep chatting without holding the 7-day token.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use taskflow_assistant::Agent;
use taskflow_auth::{
    AuthError, AuthenticatedUser, Authenticator, CHATKIT_SECRET_TTL_SECS, Identity, Scope, Scopes,
    bearer_token,
};
use taskflow_runtime::{ApiError, ErrorCode};
use utoipa::ToSchema;

use crate::error::HandlerResult;

/// The caller of a ChatKit route: their own token, or a ChatKit client secret.
#[derive(Debug)]
pub struct ChatKitCaller(pub AuthenticatedUser);

fn secret_identity(user_id: String) -> AuthenticatedUser {
    AuthenticatedUser {
        identity: Identity {
            user_id: user_id.clone(),
            email: None,
            name: None,
            external: None,
            scopes: Some(Scopes::new([Scope::Assistant])),
        },
        user_id,
    }
}

impl FromRequest for ChatKitCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Authenticator>>().cloned();
        let from_secret = match (bearer_token(req), &auth) {
            (Some(token), Some(auth)) => auth.verify_chatkit_secret(token).ok(),
            _ => None,
        };
        let user = from_secret
            .is_none()
            .then(|| AuthenticatedUser::from_request(req, payload));
        Box::pin(async move {
            let caller = match (from_secret, user) {
                (Some(user_id), _) => secret_identity(user_id),
                (None, Some(user)) => user.await?,
                (None, None) => return Err(AuthError::MissingToken.into()),
            };
            caller.require(Scope::Assistant)?;
            Ok(Self(caller))
        })
    }
}

/// A ChatKit client secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSecret {
    /// Send as `Authorization: Bearer …` to `/api/chatkit`; it opens the assistant and nothing else.
    pub client_secret: String,
    /// Unix time at which it stops working; renew it before with `POST /api/chatkit/refresh`.
    pub expires_at: i64,
    /// Seconds it is valid for (600).
    pub expires_in: i64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The secret to renew (ChatKit's `getClientSecret(current)`); without it, the bearer token is.
    #[serde(default)]
    pub client_secret: Option<String>,
}

fn issue(auth: &Authenticator, user_id: &str) -> HandlerResult<HttpResponse> {
    let issued = auth.issue_chatkit_secret(user_id, CHATKIT_SECRET_TTL_SECS)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(ClientSecret {
            client_secret: issued.client_secret,
            expires_at: issued.expires_at,
            expires_in: CHATKIT_SECRET_TTL_SECS,
        }))
}

/// Start a ChatKit session: a client secret for `/api/chatkit`, valid for ten minutes.
#[utoipa::path(post, path = "/api/chatkit/session", tag = "chatkit", security(("bearer" = [])),
    responses((status = 200, body = ClientSecret), (status = 401, body = taskflow_runtime::error::ErrorBody),
        (status = 403, description = "a personal access token without the `assistant` scope", body = taskflow_runtime::error::ErrorBody)))]
pub async fn session(
    auth: web::Data<Authenticator>,
    caller: AuthenticatedUser,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    issue(&auth, &caller.user_id)
}

/// Renew a ChatKit client secret before it expires: send the current one (in the body or as the
/// bearer token), or the user's own token.
#[utoipa::path(post, path = "/api/chatkit/refresh", tag = "chatkit", security(("bearer" = [])),
    request_body(content = Option<RefreshRequest>, description = "optional; `{}` or no body uses the bearer token"),
    responses((status = 200, body = ClientSecret), (status = 401, description = "the secret is expired, another deployment's, or not a client secret", body = taskflow_runtime::error::ErrorBody),
        (status = 403, description = "a personal access token without the `assistant` scope", body = taskflow_runtime::error::ErrorBody),
        (status = 400, body = taskflow_runtime::error::ErrorBody)))]
pub async fn refresh(
    req: HttpRequest,
    auth: web::Data<Authenticator>,
    body: web::Bytes,
) -> HandlerResult<HttpResponse> {
    let request: RefreshRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RefreshRequest::default()
    } else {
        serde_json::from_slice::<Option<RefreshRequest>>(&body)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid JSON body: {e}")))?
            .unwrap_or_default()
    };
    let user_id = match request.client_secret {
        Some(secret) => auth.verify_chatkit_secret(&secret)?,
        None => ChatKitCaller::extract(&req).await?.0.user_id,
    };
    issue(&auth, &user_id)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatKitHealth {
    /// `ok`.
    pub status: &'static str,
    /// Who answers: `offline` (the built-in parser) or the configured model's name.
    pub assistant: String,
}

/// Whether the ChatKit endpoint is served, and by which assistant. No token needed.
#[utoipa::path(get, path = "/api/chatkit/health", tag = "chatkit",
    responses((status = 200, body = ChatKitHealth)))]
pub async fn health(agent: web::Data<Agent>) -> HttpResponse {
    HttpResponse::Ok().json(ChatKitHealth {
        status: "ok",
        assistant: agent.name().to_owned(),
    })
}
