//! backend-api's error enum: every failure a handler can meet, mapped to HTTP in one place.
//!
//! Server-side faults (5xx) are logged here, once, with their cause; clients get the JSON error shape
//! without internals.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use taskflow_auth::AuthError;
use taskflow_domain::ValidationError;
use taskflow_runtime::{ApiError, ErrorCode};
use taskflow_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<AuthError> for HandlerError {
    fn from(e: AuthError) -> Self {
        Self::Api(e.into())
    }
}

impl HandlerError {
    /// What a client may see of this error: its code and a message without internals.
    pub(crate) fn to_api(&self) -> ApiError {
        match self {
            Self::Validation(v) => ApiError::validation(&v.field, &v.message),
            Self::Store(e) => match e {
                StoreError::Duplicate(what) => {
                    ApiError::new(ErrorCode::Conflict, format!("this {what} is already in use"))
                        .with_field(*what)
                }
                StoreError::VersionConflict => ApiError::new(
                    ErrorCode::Conflict,
                    "the task was changed by another request at the same time; fetch it and try again",
                ),
                StoreError::InvalidCursor(c) => ApiError::bad_request(c.to_string()).with_field("cursor"),
                StoreError::QuotaExceeded { .. } => {
                    ApiError::new(ErrorCode::QuotaExceeded, format!("{e}; delete some to make room"))
                }
                StoreError::MissingReference => {
                    ApiError::not_found("the user of this token no longer exists")
                }
                StoreError::Unavailable(_) => ApiError::new(
                    ErrorCode::Unavailable,
                    "service temporarily unavailable; retry shortly",
                )
                .with_header("Retry-After", "1"),
                StoreError::Corrupt(_) | StoreError::Database(_) => {
                    ApiError::new(ErrorCode::Internal, "internal server error")
                }
            },
            Self::Api(e) => e.clone(),
        }
    }
}

impl ResponseError for HandlerError {
    fn status_code(&self) -> StatusCode {
        self.to_api().code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let api = self.to_api();
        // `Api` errors were logged where they were made (ApiError::internal / unavailable).
        if api.code.status().is_server_error() && !matches!(self, Self::Api(_)) {
            tracing::error!(error = %self, "request failed");
        }
        api.error_response()
    }
}

pub type HandlerResult<T> = Result<T, HandlerError>;
