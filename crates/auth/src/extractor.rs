//! `AuthenticatedUser`: the actix extractor that turns a bearer token into a user id.
//!
//! Identity-provider users are provisioned through the app's [`Provisioner`] the first time their
//! token is seen by this process; after that a set of known ids spares the database the check.
//!
//! A personal access token yields a caller limited to its scopes: every handler states the scope it
//! needs with [`AuthenticatedUser::require`] (a session passes every check), and what only a session
//! may do with [`AuthenticatedUser::require_session`].

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use taskflow_runtime::{ApiError, ErrorCode};

use crate::{AuthError, Authenticator, Identity, Scope};

pub type ProvisionFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AuthError>> + Send + 'a>>;

/// Creates a local user record for an identity-provider user, if there is none yet.
pub trait Provisioner: Send + Sync {
    fn ensure_user<'a>(&'a self, identity: &'a Identity) -> ProvisionFuture<'a>;
}

/// App data remembering which external users this process already provisioned; register one per app.
#[derive(Clone, Default)]
pub struct ProvisionedUsers(Arc<Mutex<HashSet<String>>>);

const MAX_REMEMBERED: usize = 100_000;

impl ProvisionedUsers {
    fn contains(&self, id: &str) -> bool {
        self.0.lock().map(|s| s.contains(id)).unwrap_or(false)
    }

    fn insert(&self, id: &str) {
        if let Ok(mut s) = self.0.lock() {
            if s.len() >= MAX_REMEMBERED {
                s.clear();
            }
            s.insert(id.to_owned());
        }
    }
}

/// The caller, authenticated.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    pub user_id: String,
    pub identity: Identity,
}

impl AuthenticatedUser {
    /// Succeeds when `path_user_id` is the caller; otherwise 404, so another user's data is
    /// indistinguishable from data that does not exist.
    pub fn must_be(&self, path_user_id: &str) -> Result<(), ApiError> {
        if self.user_id == path_user_id {
            Ok(())
        } else {
            Err(ApiError::not_found("not found"))
        }
    }

    /// Succeeds for a session, or for a personal access token carrying `scope`; otherwise 403
    /// `insufficient_scope` naming it.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.identity.allows(scope) {
            Ok(())
        } else {
            Err(insufficient_scope(scope))
        }
    }

    /// Succeeds for a password or identity-provider session only: 403 `session_required` for a
    /// personal access token.
    pub fn require_session(&self, what: &str) -> Result<(), ApiError> {
        if self.identity.is_session() {
            Ok(())
        } else {
            Err(session_required(what))
        }
    }
}

/// The answer to a personal access token lacking `scope` (RFC 6750 §3.1).
pub fn insufficient_scope(scope: Scope) -> ApiError {
    ApiError::new(
        ErrorCode::InsufficientScope,
        format!("this personal access token lacks the `{scope}` scope this request needs"),
    )
    .with_header(
        "WWW-Authenticate",
        format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
    )
}

/// The answer to a personal access token used for something only a session may do.
pub fn session_required(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::SessionRequired,
        format!("{what} needs a password or identity-provider session, not a personal access token"),
    )
}

/// The token in `Authorization: Bearer …`, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequest for AuthenticatedUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req).map(str::to_owned);
        let auth = req.app_data::<web::Data<Authenticator>>().cloned();
        let provisioner = req.app_data::<web::Data<dyn Provisioner>>().cloned();
        let provisioned = req.app_data::<web::Data<ProvisionedUsers>>().cloned();
        Box::pin(async move {
            let auth =
                auth.ok_or_else(|| ApiError::internal("authentication", &"no Authenticator registered"))?;
            let token = token.ok_or(AuthError::MissingToken)?;
            let identity = auth.verify(&token).await?;
            if identity.external.is_some() {
                let seen = provisioned
                    .as_ref()
                    .is_some_and(|p| p.contains(&identity.user_id));
                if !seen {
                    if let Some(p) = &provisioner {
                        p.ensure_user(&identity).await?;
                    }
                    if let Some(p) = &provisioned {
                        p.insert(&identity.user_id);
                    }
                }
            }
            tracing::Span::current().record("user_id", identity.user_id.as_str());
            Ok(AuthenticatedUser {
                user_id: identity.user_id.clone(),
                identity,
            })
        })
    }
}
