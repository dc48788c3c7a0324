//! `/mcp`: the MCP server over the Streamable HTTP transport, authenticated with the same bearer
//! tokens as the REST API.
//!
//! Stateless JSON mode: each POST carries one JSON-RPC message (or a batch) and gets its reply as
//! `application/json`, notifications get `202 Accepted`; there is no session id and no server-sent
//! stream (GET and DELETE answer 405 with `Allow: POST`), which the transport allows. Browsers' cross-site requests are
//! refused by checking `Origin` against an allow-list (DNS-rebinding protection: `Host` proves nothing);
//! set `MCP_ALLOWED_ORIGINS` to allow more.
//! A batch holds at most [`mcp::MAX_BATCH`] messages and a reply at most [`mcp::MAX_REPLY_BYTES`]:
//! one small request must not make the server build a reply many times its size.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use taskflow_assistant::mcp;
use taskflow_auth::Scope;
use taskflow_runtime::cors::CorsPolicy;
use taskflow_runtime::json::{body_limit, is_json, read_body};
use taskflow_runtime::{ApiError, ErrorCode};
use taskflow_store::Store;

use crate::error::HandlerResult;
use crate::rate_limit::{McpCalls, Throttled};

/// Origins allowed besides the server's own (`MCP_ALLOWED_ORIGINS`, read into
/// [`crate::ApiConfig::mcp_allowed_origins`]); mounted as app data by [`crate::configure`].
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(pub Vec<String>);

impl AllowedOrigins {
    /// The comma-separated list `value`, trimmed, without trailing slashes or empty entries.
    pub fn parse(value: &str) -> Self {
        Self(
            value
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
        )
    }
}

/// A request without `Origin` (every non-browser client) passes; a browser's must be listed in
/// `MCP_ALLOWED_ORIGINS` or `CORS_ALLOWED_ORIGINS`, or be a loopback origin naming the very host it
/// calls (local tools). `Host` is never trusted otherwise: under DNS rebinding a hostile page's
/// origin and `Host` agree.
fn origin_allowed(req: &HttpRequest, allowed: &AllowedOrigins) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    if allowed
        .0
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(&origin))
    {
        return true;
    }
    if req
        .app_data::<web::Data<CorsPolicy>>()
        .is_some_and(|cors| cors.allows(&origin))
    {
        return true;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host) && is_loopback(rest))
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

fn rpc(status: actix_web::http::StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// The protocol versions this server speaks, as the document lists them (from
/// [`mcp::PROTOCOL_VERSIONS`]).
pub struct McpProtocolVersion;

impl utoipa::PartialSchema for McpProtocolVersion {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(mcp::PROTOCOL_VERSIONS))
            .into()
    }
}

impl utoipa::ToSchema for McpProtocolVersion {}

/// A JSON-RPC message (an object) or a non-empty batch of them; also the shape of the replies.
pub struct JsonRpcBody;

impl utoipa::PartialSchema for JsonRpcBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, SchemaType, Type};
        // A batch may hold anything (each element that is not a message gets its own JSON-RPC
        // error), up to `MAX_BATCH` elements.
        let anything = ObjectBuilder::new().schema_type(SchemaType::AnyValue);
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Object))
            .item(
                ArrayBuilder::new()
                    .items(anything)
                    .min_items(Some(1))
                    .max_items(Some(mcp::MAX_BATCH)),
            )
            .into()
    }
}

impl utoipa::ToSchema for JsonRpcBody {}

/// MCP (Streamable HTTP, stateless JSON mode): one JSON-RPC 2.0 message or a batch. Methods:
/// `initialize`, `ping`, `tools/list`, `tools/call`; notifications get 202. A personal access token
/// needs `assistant`, and for `tools/call` `tasks:read` (read-only tools) or `tasks:write` (the others):
/// without it the call's JSON-RPC error (code -32003) names the missing scope.
#[utoipa::path(post, path = "/mcp", tag = "mcp", security(("bearer" = [])),
    params(("MCP-Protocol-Version" = Option<McpProtocolVersion>, Header,
        description = "Negotiated protocol version, one the server speaks")),
    request_body(content = JsonRpcBody, description = "A JSON-RPC 2.0 request, notification or batch"),
    responses((status = 200, body = JsonRpcBody, description = "The JSON-RPC response (or batch of responses)"),
        (status = 202, description = "Notifications accepted; no body"),
        (status = 400, body = Object, description = "Not JSON (JSON-RPC parse error), neither a message nor a batch of 1 to 10 messages, or an unsupported protocol version"),
        (status = 401, body = taskflow_runtime::error::ErrorBody),
        (status = 403, body = taskflow_runtime::error::ErrorBody, description = "A browser Origin that is not allowed; or `insufficient_scope`: a personal access token without the `assistant` scope"),
        (status = 429, body = taskflow_runtime::error::ErrorBody, description = "too many MCP requests; see `Retry-After`")))]
pub async fn post(
    req: HttpRequest,
    mut payload: web::Payload,
    store: web::Data<Store>,
    caller: Throttled<McpCalls>,
) -> HandlerResult<HttpResponse> {
    caller.require(Scope::Assistant)?;
    let lacking = |scope: Scope| (!caller.identity.allows(scope)).then_some(scope.as_str());
    let access = mcp::ToolAccess {
        lacks_read: lacking(Scope::TasksRead),
        lacks_write: lacking(Scope::TasksWrite),
    };
    let allowed = req.app_data::<AllowedOrigins>().cloned().unwrap_or_default();
    if !origin_allowed(&req, &allowed) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this Origin may not call the MCP endpoint; list it in MCP_ALLOWED_ORIGINS",
        )
        .with_field("Origin")
        .into());
    }
    if let Some(v) = req.headers().get("mcp-protocol-version") {
        let v = v.to_str().unwrap_or_default();
        if !mcp::supports(v) {
            return Err(ApiError::bad_request(format!(
                "unsupported MCP-Protocol-Version {v:?}; supported: {}",
                mcp::PROTOCOL_VERSIONS.join(", ")
            ))
            .with_field("MCP-Protocol-Version")
            .into());
        }
    }
    if !is_json(&req) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send JSON-RPC as application/json",
        )
        .into());
    }
    let body = read_body(&req, &mut payload, body_limit(&req)).await?;
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Ok(rpc(
                actix_web::http::StatusCode::BAD_REQUEST,
                &mcp::parse_error(&e.to_string()),
            ));
        }
    };
    // Neither one message nor a non-empty batch: the JSON-RPC error, with a 400 (the transport's
    // answer to input it cannot accept).
    let status = match &message {
        Value::Object(_) => actix_web::http::StatusCode::OK,
        Value::Array(batch) if !batch.is_empty() => actix_web::http::StatusCode::OK,
        _ => actix_web::http::StatusCode::BAD_REQUEST,
    };
    let reply = match &message {
        Value::Array(batch) if batch.is_empty() => Some(mcp::parse_error("empty batch")),
        Value::Array(batch) if batch.len() > mcp::MAX_BATCH => {
            return Ok(rpc(
                actix_web::http::StatusCode::BAD_REQUEST,
                &mcp::batch_too_large(batch.len()),
            ));
        }
        Value::Array(batch) => {
            let mut budget = mcp::ReplyBudget::new(mcp::MAX_REPLY_BYTES);
            let mut replies = Vec::new();
            for m in batch {
                if let Some(r) = mcp::handle(&store, &caller.user_id, access, m).await {
                    replies.push(budget.admit(r));
                }
            }
            (!replies.is_empty()).then_some(Value::Array(replies))
        }
        single => mcp::handle(&store, &caller.user_id, access, single)
            .await
            .map(|r| mcp::ReplyBudget::new(mcp::MAX_REPLY_BYTES).admit(r)),
    };
    Ok(match reply {
        Some(body) => rpc(status, &body),
        None => HttpResponse::Accepted().finish(),
    })
}

/// Mounts `/mcp`; the app provides the [`AllowedOrigins`] (none besides its own when absent).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/mcp")
            // No server-initiated stream and no sessions: GET and DELETE get the transport's 405,
            // with `Allow: POST` (only documented methods are advertised).
            .route(web::post().to(post)),
    );
}
