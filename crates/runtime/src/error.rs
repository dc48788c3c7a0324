//! The one error shape clients see: `{"error": {"code", "message", "field"?}}`.
//!
//! Each layer has its own error enum; each converts into [`ApiError`] exactly once, at the HTTP
//! boundary, which picks the status and logs server faults (and only those) with their context.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Stable, documented error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    ValidationFailed,
    Unauthorized,
    /// Authenticated, but this request may not be made this way (e.g. from a browser origin not allowed).
    Forbidden,
    /// A personal access token without the scope this request needs: 403 with
    /// `WWW-Authenticate: Bearer error="insufficient_scope"` (RFC 6750 §3.1).
    InsufficientScope,
    /// Only a password or identity-provider session may do this (e.g. manage access tokens), not a
    /// personal access token: 403.
    SessionRequired,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    /// The user has as many tasks, conversations or bytes of chat history as their quota allows;
    /// deleting some makes room (403: retrying does not help, unlike a 429).
    QuotaExceeded,
    Internal,
    Unavailable,
    /// The assistant's model service failed or answered nonsense.
    ModelUnavailable,
    /// The assistant's model service did not answer in time.
    ModelTimeout,
    /// An `Idempotency-Key` already used for a different request (method, path or body): 422.
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still running: 409 with `Retry-After`.
    RequestInProgress,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::InsufficientScope | Self::SessionRequired => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::QuotaExceeded => StatusCode::FORBIDDEN,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::ModelUnavailable => StatusCode::BAD_GATEWAY,
            Self::ModelTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RequestInProgress => StatusCode::CONFLICT,
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    #[schema(value_type = String, example = "validation_failed")]
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// The request field at fault, when there is one (e.g. `title`, `reminders[0].remind_at`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error on its way to the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// Extra response headers (e.g. `WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            headers: Vec::new(),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message).with_field(field)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message).with_header("WWW-Authenticate", "Bearer")
    }

    /// A server-side failure: logged here with its cause, reported to the client without details.
    pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{context}");
        Self::new(ErrorCode::Internal, "internal server error")
    }

    /// A dependency (database, sidecar) is unreachable: logged, reported as 503 so clients retry.
    pub fn unavailable(context: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "{context}");
        Self::new(
            ErrorCode::Unavailable,
            "service temporarily unavailable; retry shortly",
        )
        .with_header("Retry-After", "1")
    }
}

impl From<taskflow_domain::ValidationError> for ApiError {
    fn from(v: taskflow_domain::ValidationError) -> Self {
        Self::validation(v.field, v.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        for (name, value) in &self.headers {
            res.insert_header((*name, value.as_str()));
        }
        res.json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                field: self.field.clone(),
            },
        })
    }
}
