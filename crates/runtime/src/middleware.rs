//! The per-request plumbing every service wraps its app in.
//!
//! - [`request_context`]: a request id (the caller's `X-Request-Id` when sane, else a new UUID), the
//!   W3C trace context (a child of the caller's `traceparent` when valid, else a new trace — never
//!   an error), a root span carrying both, one access-log line, and the HTTP metrics. The handler
//!   runs inside the trace's [`taskflow_trace::scope`], so outbox rows it writes carry the trace.
//! - [`json_errors`]: any error response that is not already our JSON shape (actix's own 404/405, a
//!   rejected URI, …) is rewritten into it, so clients parse one format.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, Next};
use actix_web::{Error, HttpMessage, ResponseError};
use tracing::Instrument;

use taskflow_trace::TraceContext;

use crate::{ApiError, ErrorCode};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Counts a request in `http_requests_in_flight` until dropped (also when the client goes away).
struct InFlight;

impl InFlight {
    fn start() -> Self {
        metrics::gauge!("http_requests_in_flight").increment(1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("http_requests_in_flight").decrement(1.0);
    }
}

/// The request id, available to handlers through request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A new request id: a v4 UUID from the thread's RNG (`Uuid::new_v4` asks the kernel each time).
fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
    .then(|| s.to_owned())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(new_request_id);
    let parent = req
        .headers()
        .get(&TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse);
    let trace = parent.map_or_else(TraceContext::new_root, |p| p.child());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    req.extensions_mut().insert(trace);
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        trace_id = %trace.trace_id(),
        span_id = %trace.span_id(),
        parent_span_id = tracing::field::Empty,
        method = %method,
        route = tracing::field::Empty,
        user_id = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    if let Some(parent) = parent {
        span.record("parent_span_id", parent.span_id().as_str());
    }
    let started = Instant::now();
    let path = req.path().to_owned();
    let in_flight = InFlight::start();
    let mut res = taskflow_trace::scope(trace, next.call(req))
        .instrument(span.clone())
        .await?;
    drop(in_flight);
    let elapsed = started.elapsed();
    // Read after routing: actix-web then looks up the resource that matched; before it, it would
    // match the path against every pattern a second time.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16();
    span.record("route", route.as_str());
    span.record("status", status);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(status, latency_ms, path = %path, "request failed");
        } else {
            tracing::info!(status, latency_ms, path = %path, "request");
        }
    });
    Ok(res)
}

fn code_for(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        409 => ErrorCode::Conflict,
        412 => ErrorCode::PreconditionFailed,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::ValidationFailed,
        429 => ErrorCode::RateLimited,
        503 => ErrorCode::Unavailable,
        s if s >= 500 => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    }
}

/// Rewrites non-JSON error responses into the JSON error shape, keeping their status and headers.
pub fn json_errors<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = match status.as_u16() {
        404 => "no such route".to_owned(),
        405 => "method not allowed on this route".to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let (req, original) = res.into_parts();
    let mut replacement = ApiError::new(code_for(status), message).error_response();
    *replacement.status_mut() = status;
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, replacement).map_into_right_body(),
    ))
}
