//! The MCP endpoint over HTTP: the handshake, the tool catalogue, calls scoped to the caller, and
//! the transport's error cases. (CI also drives it with the official Python MCP client.)

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

pub(crate) async fn rpc(app: &TestApp, user: &TestUser, body: Value) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&user.token)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn call(app: &TestApp, user: &TestUser, name: &str, arguments: Value) -> Value {
    let (status, body) = rpc(
        app,
        user,
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["result"].clone()
}

#[tokio::test]
async fn initialize_list_and_call_tools() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let (status, init) = rpc(
        &app,
        &alice,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "taskflow");
    assert!(init["result"]["capabilities"]["tools"].is_object());

    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&alice.token)
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    let (_, list) = rpc(
        &app,
        &alice,
        json!({"jsonrpc": "2.0", "id": "l", "method": "tools/list"}),
    )
    .await;
    let tools = list["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 7);
    let delete = tools.iter().find(|t| t["name"] == "delete_task").unwrap();
    assert_eq!(delete["annotations"]["destructiveHint"], true);
    assert_eq!(delete["inputSchema"]["required"], json!(["task"]));
    let list_tool = tools.iter().find(|t| t["name"] == "list_tasks").unwrap();
    assert_eq!(list_tool["annotations"]["readOnlyHint"], true);

    let added = call(
        &app,
        &alice,
        "add_task",
        json!({"title": "Write report", "priority": "high"}),
    )
    .await;
    assert_eq!(added["isError"], false);
    assert_eq!(added["structuredContent"]["task"]["title"], "Write report");
    assert!(
        added["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Write report")
    );

    let listed = call(&app, &alice, "list_tasks", json!({})).await;
    assert_eq!(listed["structuredContent"]["count"], 1);

    let done = call(&app, &alice, "complete_task", json!({"task": "write report"})).await;
    assert_eq!(done["structuredContent"]["task"]["completed"], true);

    let missing = call(&app, &alice, "delete_task", json!({"task": "no such thing"})).await;
    assert_eq!(missing["isError"], true);
    assert_eq!(missing["structuredContent"]["error"]["code"], "not_found");
}

#[tokio::test]
async fn tools_only_see_the_callers_tasks() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let bob = app.user().await;
    let bobs = call(&app, &bob, "add_task", json!({"title": "Bob only"})).await;
    let id = bobs["structuredContent"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, args) in [
        ("complete_task", json!({"task": id})),
        ("delete_task", json!({"task": "Bob only"})),
        ("update_task", json!({"task": id, "priority": "low"})),
        (
            "set_reminder",
            json!({"task": id, "when": "2030-01-01T09:00:00Z"}),
        ),
    ] {
        let r = call(&app, &alice, name, args).await;
        assert_eq!(
            r["structuredContent"]["error"]["code"], "not_found",
            "{name}: {r}"
        );
    }
    let stats = call(&app, &alice, "get_stats", json!({})).await;
    assert_eq!(stats["structuredContent"]["total"], 0);
    let bob_list = call(&app, &bob, "list_tasks", json!({"status": "all"})).await;
    assert_eq!(bob_list["structuredContent"]["tasks"][0]["completed"], false);
    assert_eq!(bob_list["structuredContent"]["tasks"][0]["priority"], "medium");
}

#[tokio::test]
async fn protocol_errors_are_json_rpc_errors() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let (_, unknown_method) = rpc(&app, &alice, json!({"jsonrpc": "2.0", "id": 1, "method": "nope"})).await;
    assert_eq!(unknown_method["error"]["code"], -32601);
    let (_, unknown_tool) = rpc(
        &app,
        &alice,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "rm_rf", "arguments": {}}}),
    )
    .await;
    assert_eq!(unknown_tool["error"]["code"], -32602);
    let bad_args = call(&app, &alice, "add_task", json!({"title": 5})).await;
    assert_eq!(bad_args["isError"], true);
    assert_eq!(
        bad_args["structuredContent"]["error"]["code"],
        "invalid_arguments"
    );
    let (status, parse) = {
        let res = app
            .client
            .post(app.url("/mcp"))
            .bearer_auth(&alice.token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    };
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(parse["error"]["code"], -32700);
    let (_, batch) = rpc(
        &app,
        &alice,
        json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "method": "notifications/initialized"}]),
    )
    .await;
    assert_eq!(batch, json!([{"jsonrpc": "2.0", "id": 1, "result": {}}]));

    // Transport: no token, unsupported protocol version, cross-site browser origin, GET.
    let res = app
        .client
        .post(app.url("/mcp"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&alice.token)
        .header("mcp-protocol-version", "1999-01-01")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&alice.token)
        .header("origin", "https://evil.example")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.get("/mcp", &alice.token).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// Resident memory of this process (the app runs in it), in bytes, from `/proc/self/status`.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The attack: a ~500 KB batch of `tools/list` made a 55 MB reply (peak RSS 883 MB). A batch over
/// the cap is refused whole with one small JSON-RPC error, and memory stays put.
#[tokio::test]
async fn a_huge_batch_is_refused_without_building_its_reply() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let batch: Vec<Value> = (0..10_000)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "tools/list"}))
        .collect();
    let before = rss_bytes();
    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&alice.token)
        .json(&Value::Array(batch))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    let grown = rss_bytes().saturating_sub(before);
    assert!(text.len() < 4_096, "a {} byte reply", text.len());
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], -32600, "{body}");
    assert!(grown < 256 * 1024 * 1024, "RSS grew by {grown} bytes");

    // Ten is fine, each answered.
    let ten: Vec<Value> = (0..10)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "tools/list"}))
        .collect();
    let (status, replies) = rpc(&app, &alice, Value::Array(ten)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replies.as_array().unwrap().len(), 10);
    assert!(
        replies
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"]["tools"].is_array())
    );
}

/// A batch of ten calls whose replies together exceed the reply cap: the ones past it are
/// JSON-RPC errors, and the whole reply stays near the cap.
#[tokio::test]
async fn a_batch_reply_is_capped_in_bytes() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let description = "d".repeat(10_000);
    for i in 0..50 {
        app.create_task(
            &alice,
            json!({"title": format!("task {i}"), "description": description}),
        )
        .await;
    }
    let batch: Vec<Value> = (0..10)
        .map(|i| {
            json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "list_tasks", "arguments": {"limit": 50}}})
        })
        .collect();
    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&alice.token)
        .json(&Value::Array(batch))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.len() <= 1024 * 1024 + 4_096, "a {} byte reply", text.len());
    let replies: Value = serde_json::from_str(&text).unwrap();
    let replies = replies.as_array().unwrap();
    assert_eq!(replies.len(), 10);
    assert_eq!(replies[0]["result"]["structuredContent"]["count"], 50);
    assert_eq!(replies[9]["id"], 9);
    assert_eq!(replies[9]["error"]["code"], -32001, "{}", replies[9]);
}

async fn ping_from(app: &TestApp, user: &TestUser, origin: &str, host: &str) -> StatusCode {
    app.client
        .post(app.url("/mcp"))
        .bearer_auth(&user.token)
        .header("origin", origin)
        .header("host", host)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap()
        .status()
}

/// DNS rebinding: a page at http://evil.example whose name now resolves to the server sends
/// `Origin: http://evil.example` with `Host: evil.example` — the two agree, which passed before.
/// Only listed origins (and loopback ones naming their own host) pass; clients without `Origin` too.
#[tokio::test]
async fn dns_rebinding_is_refused_and_listed_origins_pass() {
    let app = TestApp::spawn_configured(|c| {
        c.mcp_allowed_origins = vec!["https://claude.example".into()];
        c.cors = taskflow_runtime::cors::CorsPolicy::parse("https://app.example.com").unwrap();
    })
    .await;
    let alice = app.user().await;
    assert_eq!(
        ping_from(&app, &alice, "http://evil.example", "evil.example").await,
        StatusCode::FORBIDDEN
    );
    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&alice.token)
        .header("origin", "http://evil.example")
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(res, StatusCode::FORBIDDEN, "forbidden", Some("Origin")).await;
    assert_eq!(
        ping_from(&app, &alice, "http://localhost:8000", "evil.example").await,
        StatusCode::FORBIDDEN
    );
    for (origin, host) in [
        ("https://claude.example", "api.example.com"),
        ("https://app.example.com", "api.example.com"),
        ("http://localhost:8000", "localhost:8000"),
        ("http://127.0.0.1:8000", "127.0.0.1:8000"),
    ] {
        assert_eq!(
            ping_from(&app, &alice, origin, host).await,
            StatusCode::OK,
            "{origin}"
        );
    }
    let (status, _) = rpc(&app, &alice, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).await;
    assert_eq!(status, StatusCode::OK);
}
