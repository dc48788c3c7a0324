//! `/api/*` → the sidecar → backend-api.
//!
//! Each call becomes daprd's HTTP service invocation,
//! `{method} http://{DAPR_HOST}:{DAPR_HTTP_PORT}/v1.0/invoke/{app}/method/api/…?{query}`, carrying the
//! body (read up to the API's 1 MiB limit) and the headers the API reads: `Authorization`,
//! `Content-Type`, `Accept`, `If-Match`, `If-None-Match`, `Idempotency-Key`, this request's
//! `X-Request-Id` and `traceparent` (so backend-api's logs and spans join web's), the client's address
//! (`taskflow-client-address`, from the peer or with `TRUSTED_PROXY_HOPS` from `X-Forwarded-For`,
//! for backend-api's per-address login budgets; a client's own copy is never passed on), and
//! `dapr-api-token` when `DAPR_API_TOKEN` is set. The answer streams back as it arrives (status, headers such as
//! `ETag`, `Location`, `Retry-After`, and the body chunk by chunk). A request for an event stream
//! (the chat's) is forwarded with another `Accept` ([`SSE_ACCEPT_ACROSS_SIDECARS`]): daprd cannot
//! stream across two sidecars, so the reply comes whole, at the end of the turn.
//!
//! daprd passes backend-api's status, headers and body through. When daprd itself answers, it is
//! with its own body and status: 500 when backend-api is unreachable, 403 when backend-api's access
//! control refuses web, 401 when `DAPR_API_TOKEN` is not the sidecar's. backend-api stamps every
//! response with `X-Request-Id`, so an answer of any status without one came from the sidecar and
//! becomes the standard 503 `unavailable` (relayed, the sidecar's 401 would sign the user out).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use taskflow_runtime::ApiError;
use taskflow_runtime::client_address::{RELAYED_CLIENT_ADDRESS, client_address};
use taskflow_runtime::json::read_body;
use taskflow_runtime::middleware::{REQUEST_ID, RequestId};
use taskflow_trace::TraceContext;

use crate::{WebConfig, WebError};

/// Request headers passed on to backend-api; everything else (cookies, `Accept-Encoding`, hop-by-hop
/// headers) stays here.
const FORWARDED: [&str; 7] = [
    "authorization",
    "content-type",
    "accept",
    "if-match",
    "if-none-match",
    "idempotency-key",
    "last-event-id",
];

/// What a request asking only for `text/event-stream` is forwarded with instead.
///
/// daprd 1.16 streams an answer to a request whose `Accept` starts with `text/event-stream` only to a
/// caller of the same sidecar; across two sidecars (web's, then backend-api's) it runs the request,
/// drops the answer and fails the call (dapr `pkg/channel/http/http_channel.go`, `invokeMethodV1`:
/// the stream needs the local caller's `ResponseWriter`). Asked with this value instead, backend-api
/// answers the same event stream (its chat stream does not negotiate), daprd buffers it and returns it
/// whole: the chat's reply arrives at once at the end of the turn instead of token by token, but it
/// arrives, and the turn is not run for nothing.
pub const SSE_ACCEPT_ACROSS_SIDECARS: &str = "application/json;q=0.9, text/event-stream;q=0.8";

fn asks_for_event_stream(accept: &[u8]) -> bool {
    let accept = String::from_utf8_lossy(accept);
    accept
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("text/event-stream")
}

/// Response headers not passed back: hop-by-hop ones, the length (the body is re-framed), and the
/// request id, which web's own middleware sets (to the same id it forwarded).
const NOT_RETURNED: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "x-request-id",
];

/// The client of the sidecar's invocation API.
pub struct Forwarder {
    http: reqwest::Client,
    /// `http://{host}:{port}/v1.0/invoke/{app}/method`, to which the request's path is appended.
    base: String,
    api_token: Option<String>,
    timeout: Duration,
    body_limit: usize,
    trusted_proxy_hops: usize,
}

impl Forwarder {
    pub fn new(config: &WebConfig) -> Result<Self, WebError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .read_timeout(config.upstream_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| WebError::Client(e.to_string()))?;
        let dapr = &config.service.dapr;
        Ok(Self {
            http,
            base: format!(
                "http://{}:{}/v1.0/invoke/{}/method",
                dapr.host, dapr.http_port, config.backend_app_id
            ),
            api_token: dapr.api_token.clone(),
            timeout: config.upstream_timeout,
            body_limit: config.body_limit,
            trusted_proxy_hops: config.trusted_proxy_hops,
        })
    }
}

/// Mounts `/api` and `/api/{…}` for every method.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api").to(forward))
        .service(web::resource("/api/{tail:.*}").to(forward));
}

/// Whether `path` could leave `/api/` once resolved: a `.` or `..` segment (also percent-encoded,
/// which URL parsers resolve too), a backslash, or an encoded slash or backslash (a server that
/// decodes before routing would see new segments).
fn escapes(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    path.contains('\\')
        || lower.contains("%2f")
        || lower.contains("%5c")
        || path.split('/').any(|segment| {
            let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
            decoded == "." || decoded == ".."
        })
}

async fn forward(
    req: HttpRequest,
    mut payload: web::Payload,
    forwarder: web::Data<Forwarder>,
) -> Result<HttpResponse, ApiError> {
    let path = req.uri().path();
    if path == "/api/sse" || path.starts_with("/api/sse/") {
        return Err(ApiError::not_found(
            "the event stream is served by websocket, not here",
        ));
    }
    if escapes(path) {
        return Err(ApiError::not_found("no such route"));
    }
    let mut url = format!("{}{path}", forwarder.base);
    if let Some(query) = req.uri().query() {
        url.push('?');
        url.push_str(query);
    }
    let body = read_body(&req, &mut payload, forwarder.body_limit).await?;
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ApiError::bad_request("unsupported method"))?;

    let mut call = forwarder.http.request(method, url);
    for name in FORWARDED {
        for value in req.headers().get_all(name) {
            if name == "accept" && asks_for_event_stream(value.as_bytes()) {
                call = call.header(name, SSE_ACCEPT_ACROSS_SIDECARS);
            } else {
                call = call.header(name, value.as_bytes());
            }
        }
    }
    if let Some(id) = req.extensions().get::<RequestId>() {
        call = call.header(REQUEST_ID.as_str(), id.0.as_str());
    }
    if let Some(trace) = req.extensions().get::<TraceContext>() {
        call = call.header("traceparent", trace.header());
    }
    if let Some(client) = client_address(&req, forwarder.trusted_proxy_hops) {
        call = call.header(RELAYED_CLIENT_ADDRESS, client.to_string());
    }
    if let Some(token) = &forwarder.api_token {
        call = call.header("dapr-api-token", token.as_str());
    }
    if !body.is_empty() {
        call = call.body(body.freeze());
    }

    let answer = match tokio::time::timeout(forwarder.timeout, call.send()).await {
        Err(_) => return Err(WebError::Timeout(forwarder.timeout.as_secs()).into()),
        Ok(Err(e)) => return Err(WebError::Unreachable(e.to_string()).into()),
        Ok(Ok(answer)) => answer,
    };
    let status = answer.status();
    if !answer.headers().contains_key(REQUEST_ID.as_str()) {
        let status = status.as_u16();
        let body = answer
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        return Err(WebError::Invocation { status, body }.into());
    }
    Ok(relay(&req, answer))
}

/// backend-api's answer, streamed back.
fn relay(req: &HttpRequest, answer: reqwest::Response) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        if NOT_RETURNED.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response.append_header((name, value));
        }
    }
    let empty = answer.content_length() == Some(0)
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || req.method() == actix_web::http::Method::HEAD;
    if empty {
        return response.finish();
    }
    let chunks = futures_util::stream::unfold(Some(answer), |answer| async move {
        let mut answer = answer?;
        match answer.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(answer))),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "backend-api's answer broke off");
                Some((Err(e), None))
            }
        }
    });
    response.streaming(chunks)
}

#[cfg(test)]
mod tests {
    use super::escapes;

    #[test]
    fn dot_segments_cannot_leave_the_api() {
        assert!(escapes("/api/../v1.0/state/statestore/k"));
        assert!(escapes("/api/%2E%2e/x"));
        assert!(escapes("/api/..%2Fv1.0/state/statestore/k"));
        assert!(escapes("/api/u1/%5c..%5cx"));
        assert!(escapes("/api/./x"));
        assert!(escapes("/api/a\\b"));
        assert!(!escapes("/api/u1/tasks"));
        assert!(!escapes("/api/u1/tasks/..x"));
    }
}
