//! Why a request could not be authenticated. Clients only ever learn "invalid token"; the reason is
//! logged at debug level for operators.

use taskflow_runtime::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    MissingToken,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("token rejected: {0}")]
    Rejected(String),
    #[error("token signed with an unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("no key with id {0:?} in the identity provider's key set")]
    UnknownKey(Option<String>),
    #[error("identity provider keys unavailable: {0}")]
    KeysUnavailable(String),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("could not provision the user: {0}")]
    Provisioning(String),
    /// Personal access tokens cannot be looked up right now (database or backend-api unreachable).
    #[error("personal access tokens cannot be checked: {0}")]
    TokensUnavailable(String),
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::MissingToken => {
                ApiError::unauthorized("authentication required: send Authorization: Bearer <token>")
            }
            AuthError::KeysUnavailable(_) => ApiError::unavailable("identity provider keys unavailable", &e),
            AuthError::TokensUnavailable(_) => {
                ApiError::unavailable("personal access tokens cannot be checked right now", &e)
            }
            AuthError::Hashing(_) | AuthError::Provisioning(_) => {
                ApiError::internal("authentication failed", &e)
            }
            other => {
                tracing::debug!(reason = %other, "token rejected");
                ApiError::unauthorized("invalid or expired token")
            }
        }
    }
}
