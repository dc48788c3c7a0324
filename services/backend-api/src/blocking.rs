//! CPU-bound domain work — evaluating a user's recurrence rule — runs on actix's blocking pool.
//!
//! The engine bounds every evaluation by a step budget, but even a bounded one takes milliseconds;
//! on an async worker those milliseconds stall every other request that worker serves (`/health`
//! included). On the blocking pool they only cost the request that asked.

use actix_web::web;
use taskflow_runtime::ApiError;

use crate::error::{HandlerError, HandlerResult};

/// Runs `f` on the blocking pool; its error is the request's.
pub(crate) async fn off_worker<T, E, F>(f: F) -> HandlerResult<T>
where
    T: Send + 'static,
    E: Into<HandlerError> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    web::block(f)
        .await
        .map_err(|e| ApiError::internal("the blocking pool failed", &e))?
        .map_err(Into::into)
}

/// [`off_worker`] when the work is `costly` (it evaluates a rule), else `f` right here: for a few
/// length and character checks the hop to another thread and back costs more than the work.
pub(crate) async fn off_worker_if<T, E, F>(costly: bool, f: F) -> HandlerResult<T>
where
    T: Send + 'static,
    E: Into<HandlerError> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    if costly {
        off_worker(f).await
    } else {
        f().map_err(Into::into)
    }
}
