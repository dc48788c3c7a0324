//! The Model Context Protocol server's messages: JSON-RPC 2.0 over the Streamable HTTP transport.
//!
//! Stateless: every POST carries the caller's bearer token, so there is no session to keep and any
//! replica can answer. `initialize` negotiates a protocol version, `tools/list` advertises the tool
//! catalogue with its JSON Schemas and hints, and `tools/call` runs a tool for the caller, answering
//! with text content and the structured result. Transport details (HTTP status, headers, auth)
//! belong to the HTTP route; this module only maps one JSON-RPC message to its reply.

use serde_json::{Value, json};
use taskflow_domain::json_size::json_len;
use taskflow_store::Store;

use crate::tools::{self, ToolCall, ToolContext};

/// Protocol revisions reachable through `initialize`, oldest first.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
pub const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;
/// Server-defined: the reply would be larger than the transport sends.
const REPLY_TOO_LARGE: i64 = -32001;
/// Server-defined: the caller's personal access token lacks the scope the tool needs (`data.scope`).
pub const INSUFFICIENT_SCOPE: i64 = -32003;

/// Which tools the caller may run: for each kind, the scope it lacks (`None`: allowed). A session
/// may run every tool; a personal access token needs `tasks:read` for read-only tools and
/// `tasks:write` for the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ToolAccess {
    pub lacks_read: Option<&'static str>,
    pub lacks_write: Option<&'static str>,
}

impl ToolAccess {
    /// Every tool allowed.
    pub const ALL: Self = Self {
        lacks_read: None,
        lacks_write: None,
    };

    /// The scope the caller lacks for a tool that is `read_only` or not; `None` when allowed.
    fn lacking(self, read_only: bool) -> Option<&'static str> {
        if read_only {
            self.lacks_read
        } else {
            self.lacks_write
        }
    }
}

/// Most messages in one batch: a batch multiplies the work and the reply of one request.
pub const MAX_BATCH: usize = 10;
/// Most bytes of JSON a reply (one message's, or a whole batch's) may hold.
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;

fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

fn ok(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The reply to a body that is not JSON at all.
pub fn parse_error(detail: &str) -> Value {
    error(&Value::Null, PARSE_ERROR, format!("parse error: {detail}"))
}

/// The reply to a batch of `len` > [`MAX_BATCH`] messages: none of them runs.
pub fn batch_too_large(len: usize) -> Value {
    error(
        &Value::Null,
        INVALID_REQUEST,
        format!("a batch may hold at most {MAX_BATCH} messages, not {len}; send them in several requests"),
    )
}

/// What is left of a reply's byte allowance; replies beyond it become a small JSON-RPC error.
#[derive(Debug)]
pub struct ReplyBudget {
    left: usize,
}

impl ReplyBudget {
    pub fn new(bytes: usize) -> Self {
        Self { left: bytes }
    }

    /// `reply` if it still fits, otherwise an error for its id (counted too: a batch's total stays
    /// within the allowance plus one small error per message).
    pub fn admit(&mut self, reply: Value) -> Value {
        let size = json_len(&reply);
        if size <= self.left {
            self.left -= size;
            return reply;
        }
        let id = reply.get("id").cloned().unwrap_or(Value::Null);
        let refused = error(
            &id,
            REPLY_TOO_LARGE,
            format!(
                "the reply would exceed {MAX_REPLY_BYTES} bytes; ask for less (a smaller limit, fewer calls per batch)"
            ),
        );
        self.left = self.left.saturating_sub(json_len(&refused));
        refused
    }
}

/// Whether a protocol version (e.g. from the `MCP-Protocol-Version` header) is one this server speaks.
pub fn supports(version: &str) -> bool {
    PROTOCOL_VERSIONS.contains(&version)
}

/// The reply to one JSON-RPC message from `user_id`; `None` for notifications and responses, which
/// get no reply.
pub async fn handle(store: &Store, user_id: &str, access: ToolAccess, message: &Value) -> Option<Value> {
    let Some(obj) = message.as_object() else {
        return Some(error(
            &Value::Null,
            INVALID_REQUEST,
            "a JSON-RPC message must be an object",
        ));
    };
    let id = obj.get("id").cloned();
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        // A response to a request of ours (we send none) or garbage.
        return match (id, obj.contains_key("result") || obj.contains_key("error")) {
            (Some(_), true) => None,
            (id, _) => Some(error(
                &id.unwrap_or(Value::Null),
                INVALID_REQUEST,
                "missing method",
            )),
        };
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some(error(
            &id.unwrap_or(Value::Null),
            INVALID_REQUEST,
            "jsonrpc must be \"2.0\"",
        ));
    }
    // Notifications (no id) are acknowledged by the transport and need no reply.
    let id = id?;
    if !(id.is_string() || id.is_i64() || id.is_u64()) {
        return Some(error(
            &Value::Null,
            INVALID_REQUEST,
            "id must be a string or an integer",
        ));
    }
    let params = obj.get("params").cloned().unwrap_or_else(|| json!({}));
    Some(match method {
        "initialize" => ok(&id, initialize(&params)),
        "ping" => ok(&id, json!({})),
        "tools/list" => ok(&id, list_tools(access)),
        "tools/call" => call_tool(store, user_id, access, &id, &params).await,
        "resources/list" => ok(&id, json!({"resources": []})),
        "prompts/list" => ok(&id, json!({"prompts": []})),
        other => error(&id, METHOD_NOT_FOUND, format!("method not found: {other}")),
    })
}

fn initialize(params: &Value) -> Value {
    let asked = params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = if supports(asked) {
        asked
    } else {
        LATEST_PROTOCOL_VERSION
    };
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "taskflow", "title": "TaskFlow", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "Tools to manage the authenticated user's tasks. Dates, repetitions and reminders may be \
            written in plain English ('next friday 5pm', 'every weekday', '30 minutes before'). Name a task by id or title; \
            an ambiguous title returns the candidates instead of acting."
    })
}

/// The tools the caller may run: a personal access token sees only those its scopes allow, so an
/// MCP client does not offer the model tools that would be refused.
fn list_tools(access: ToolAccess) -> Value {
    let tools: Vec<Value> = tools::catalogue()
        .iter()
        .filter(|t| access.lacking(t.read_only).is_none())
        .map(|t| {
            json!({
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "inputSchema": t.input_schema,
                "annotations": t.annotations(),
            })
        })
        .collect();
    json!({ "tools": tools })
}

async fn call_tool(store: &Store, user_id: &str, access: ToolAccess, id: &Value, params: &Value) -> Value {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return error(id, INVALID_PARAMS, "params.name is required");
    };
    let Some(read_only) = tools::catalogue()
        .iter()
        .find(|t| t.name == name)
        .map(|t| t.read_only)
    else {
        return error(id, INVALID_PARAMS, format!("unknown tool: {name}"));
    };
    if let Some(scope) = access.lacking(read_only) {
        return json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": INSUFFICIENT_SCOPE,
            "message": format!("this personal access token lacks the `{scope}` scope the tool {name} needs"),
            "data": {"scope": scope},
        }});
    }
    let arguments = params.get("arguments").cloned().unwrap_or_else(|| json!({}));
    let ctx = match ToolContext::for_user(store.clone(), user_id, taskflow_domain::time::now()).await {
        Ok(ctx) => ctx,
        Err(e) => {
            tracing::error!(error = %e, "cannot load the MCP caller's profile");
            return error(id, INTERNAL_ERROR, "the task store is unavailable right now");
        }
    };
    let outcome = tools::run(
        &ctx,
        &ToolCall {
            name: name.to_owned(),
            arguments,
        },
    )
    .await;
    ok(
        id,
        json!({
            "content": [{"type": "text", "text": outcome.message}],
            "structuredContent": outcome.result,
            "isError": !outcome.ok,
        }),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{REPLY_TOO_LARGE, ReplyBudget, json_len};

    #[test]
    fn replies_beyond_the_allowance_become_errors_for_their_id() {
        let big = json!({"jsonrpc": "2.0", "id": 1, "result": {"text": "x".repeat(600)}});
        let mut budget = ReplyBudget::new(1_000);
        assert_eq!(budget.admit(big.clone()), big);
        let refused =
            budget.admit(json!({"jsonrpc": "2.0", "id": "two", "result": {"text": "x".repeat(600)}}));
        assert_eq!(refused["id"], "two");
        assert_eq!(refused["error"]["code"], REPLY_TOO_LARGE);
        assert!(json_len(&refused) < 400);
    }
}
