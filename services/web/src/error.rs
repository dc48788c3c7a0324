//! What can go wrong forwarding a call, and the standard JSON error each becomes: anything on the
//! way to backend-api (sidecar down, slow, unable to reach the app or refusing the call) is a 503
//! `unavailable` with `Retry-After`, never a 500.

use taskflow_runtime::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("the Dapr sidecar is unreachable: {0}")]
    Unreachable(String),
    #[error("the Dapr sidecar did not answer within {0} s")]
    Timeout(u64),
    #[error("the Dapr sidecar could not invoke backend-api ({status}): {body}")]
    Invocation { status: u16, body: String },
}

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        match e {
            WebError::Client(_) => ApiError::internal("web client", &e),
            _ => ApiError::unavailable("forwarding to backend-api", &e),
        }
    }
}
