//! web beside a stand-in sidecar: a small actix server playing daprd's
//! `/v1.0/invoke/{app}/method/{path}` that records what it receives and answers as backend-api
//! would. Proves what crosses the sidecar both ways, that answers stream, and that a sidecar that is
//! down, failing or silent yields the standard 503 rather than a 500 or a hang.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use taskflow_bus::dapr::{DaprClient, DaprConfig, SidecarCheck};
use taskflow_bus::service::ServiceConfig;
use taskflow_runtime::health::Readiness;
use taskflow_web::{WebConfig, routes};
use tokio::sync::Notify;

/// One invocation as the sidecar saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    app: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Sidecar {
    seen: Mutex<Vec<Seen>>,
    /// Lets the streamed answer's second event go.
    release: Notify,
}

async fn invoke(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    sidecar: web::Data<Sidecar>,
) -> HttpResponse {
    let (app, method_path) = path.into_inner();
    sidecar.seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        app,
        path: method_path.clone(),
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
    });
    if method_path.ends_with("chat/stream") {
        let sidecar = sidecar.into_inner();
        let events = futures_util::stream::unfold(0, move |step| {
            let sidecar = sidecar.clone();
            async move {
                match step {
                    0 => Some((Ok::<_, actix_web::Error>(web::Bytes::from("data: one\n\n")), 1)),
                    1 => {
                        sidecar.release.notified().await;
                        Some((Ok(web::Bytes::from("data: two\n\n")), 2))
                    }
                    _ => None,
                }
            }
        });
        return HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("x-request-id", "from-api"))
            .streaming(events);
    }
    if method_path.contains("daprfail") {
        // daprd's own failure: no X-Request-Id, its error body.
        return HttpResponse::InternalServerError()
            .body(r#"{"errorCode":"ERR_DIRECT_INVOKE","message":"fail to invoke"}"#);
    }
    if method_path.contains("daprdeny") {
        // daprd when backend-api's access control refuses web (pkg/api/http/directmessaging.go:
        // PermissionDenied -> 403): no X-Request-Id, its error body.
        return HttpResponse::Forbidden().content_type("application/json").body(
            r#"{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke, id: backend-api, err: rpc error: code = PermissionDenied desc = access control policy has denied access"}"#,
        );
    }
    if method_path.contains("daprtoken") {
        // daprd's APITokenAuthMiddleware when web's DAPR_API_TOKEN is not its sidecar's.
        return HttpResponse::Unauthorized()
            .content_type("text/plain; charset=utf-8")
            .body("invalid api token\n");
    }
    if method_path.contains("slow") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if method_path.contains("missing") {
        return HttpResponse::NotFound()
            .insert_header(("x-request-id", "from-api"))
            .content_type("application/json")
            .body(r#"{"error":{"code":"not_found","message":"task not found"}}"#);
    }
    HttpResponse::Created()
        .insert_header(("x-request-id", "from-api"))
        .insert_header(("etag", "\"3\""))
        .insert_header(("location", "/api/u1/tasks/42"))
        .insert_header(("retry-after", "7"))
        .content_type("application/json")
        .body(r#"{"id":42}"#)
}

/// The stand-in sidecar on a free port; returns its state and port.
fn sidecar() -> (Arc<Sidecar>, u16) {
    let state = web::Data::new(Sidecar::default());
    let shared = state.clone().into_inner();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .route("/v1.0/healthz/outbound", web::get().to(HttpResponse::NoContent))
            .route("/v1.0/invoke/{app}/method/{path:.*}", web::to(invoke))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (shared, port)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// web, as its `main` composes it, beside a sidecar on `dapr_port`; returns its base URL.
fn web_beside(dapr_port: u16, api_token: Option<&str>, timeout: Duration) -> String {
    web_behind_proxies(dapr_port, api_token, timeout, 0)
}

/// web behind `hops` trusted reverse proxies (`TRUSTED_PROXY_HOPS`).
fn web_behind_proxies(dapr_port: u16, api_token: Option<&str>, timeout: Duration, hops: usize) -> String {
    let dapr = DaprConfig {
        host: "127.0.0.1".into(),
        http_port: dapr_port,
        api_token: api_token.map(str::to_owned),
        pubsub: "pubsub".into(),
        state_store: "statestore".into(),
    };
    let config = WebConfig {
        service: ServiceConfig {
            host: "127.0.0.1".into(),
            port: 0,
            app_api_token: None,
            idempotency_ttl: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(1),
            dapr: dapr.clone(),
        },
        backend_app_id: "backend-api".into(),
        upstream_timeout: timeout,
        body_limit: 1024 * 1024,
        trusted_proxy_hops: hops,
    };
    let routes = routes(&config).unwrap();
    let readiness = Readiness::default().with(SidecarCheck(DaprClient::new(dapr).unwrap()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let served = taskflow_runtime::server::serve(listener, readiness, move |cfg: &mut web::ServiceConfig| {
        routes(cfg)
    })
    .unwrap();
    tokio::spawn(served.server);
    format!("http://127.0.0.1:{}", served.port)
}

#[tokio::test]
async fn a_call_crosses_the_sidecar_with_its_method_path_headers_and_body_both_ways() {
    let (sidecar, port) = sidecar();
    let base = web_beside(port, Some("sidecar-secret"), Duration::from_secs(10));

    let res = reqwest::Client::new()
        .put(format!("{base}/api/u1/tasks/42?fields=title&x=a%20b"))
        .header("authorization", "Bearer tok")
        .header("content-type", "application/json")
        .header("if-match", "\"2\"")
        .header("idempotency-key", "key-1")
        .header("x-request-id", "req-123")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .header("cookie", "session=secret")
        .body(r#"{"title":"Buy milk"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["etag"], "\"3\"");
    assert_eq!(res.headers()["location"], "/api/u1/tasks/42");
    assert_eq!(res.headers()["retry-after"], "7");
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        res.headers()["x-request-id"],
        "req-123",
        "web's request id, the one it forwarded"
    );
    assert_eq!(res.text().await.unwrap(), r#"{"id":42}"#);

    let seen = sidecar.seen.lock().unwrap().pop().unwrap();
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.app, "backend-api");
    assert_eq!(seen.path, "api/u1/tasks/42");
    assert_eq!(seen.query, "fields=title&x=a%20b");
    assert_eq!(seen.body, br#"{"title":"Buy milk"}"#);
    assert_eq!(seen.header("authorization"), Some("Bearer tok"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("if-match"), Some("\"2\""));
    assert_eq!(seen.header("idempotency-key"), Some("key-1"));
    assert_eq!(seen.header("x-request-id"), Some("req-123"));
    assert_eq!(seen.header("dapr-api-token"), Some("sidecar-secret"));
    let traceparent = seen.header("traceparent").unwrap();
    assert!(
        traceparent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
        "the same trace continues: {traceparent}"
    );
    assert_eq!(seen.header("cookie"), None, "only the API's headers cross");

    // Other verbs, and backend-api's errors pass through as they are.
    let res = reqwest::Client::new()
        .delete(format!("{base}/api/u1/tasks/missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["message"], "task not found");
    let seen = sidecar.seen.lock().unwrap().pop().unwrap();
    assert_eq!((seen.method.as_str(), seen.query.as_str()), ("DELETE", ""));
    assert_eq!(seen.header("authorization"), None);
}

/// backend-api's per-address login budgets see only its sidecar unless web names the client; and a
/// client that names itself must not be believed, or it could escape those budgets.
#[tokio::test]
async fn the_client_address_is_relayed_and_a_client_cannot_name_its_own() {
    let (sidecar, port) = sidecar();
    let login = |base: String| async move {
        reqwest::Client::new()
            .post(format!("{base}/api/auth/login"))
            .header("taskflow-client-address", "6.6.6.6")
            .header("x-forwarded-for", "203.0.113.7, 198.51.100.2")
            .body("{}")
            .send()
            .await
            .unwrap();
    };
    let relayed = || {
        let seen = sidecar.seen.lock().unwrap().pop().unwrap();
        let values: Vec<String> = seen
            .headers
            .iter()
            .filter(|(n, _)| n == "taskflow-client-address")
            .map(|(_, v)| v.clone())
            .collect();
        values
    };

    login(web_beside(port, None, Duration::from_secs(10))).await;
    assert_eq!(relayed(), ["127.0.0.1"], "no proxies trusted: the peer");
    login(web_behind_proxies(port, None, Duration::from_secs(10), 1)).await;
    assert_eq!(relayed(), ["198.51.100.2"], "one proxy: the entry it appended");
    login(web_behind_proxies(port, None, Duration::from_secs(10), 2)).await;
    assert_eq!(relayed(), ["203.0.113.7"]);
}

#[tokio::test]
async fn the_chat_stream_arrives_as_it_is_written() {
    let (sidecar, port) = sidecar();
    let base = web_beside(port, None, Duration::from_secs(10));
    let mut res = reqwest::Client::new()
        .post(format!("{base}/api/u1/chat/stream"))
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(r#"{"message":"hi"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    // The first event is here while the second is still held back: nothing buffers the answer.
    let first = tokio::time::timeout(Duration::from_secs(5), res.chunk())
        .await
        .expect("the first event arrives before the answer ends")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"data: one\n\n");
    sidecar.release.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = res.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"data: two\n\n");
    let seen = sidecar.seen.lock().unwrap().pop().unwrap();
    assert_eq!(
        seen.header("accept"),
        Some(taskflow_web::SSE_ACCEPT_ACROSS_SIDECARS),
        "daprd cannot stream an event-stream request across two sidecars: asked for otherwise"
    );
    assert_eq!(
        seen.header("dapr-api-token"),
        None,
        "no token unless DAPR_API_TOKEN is set"
    );
}

async fn assert_unavailable(res: reqwest::Response) {
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
}

#[tokio::test]
async fn a_sidecar_that_is_down_failing_refusing_or_silent_is_a_503() {
    let down = web_beside(closed_port(), None, Duration::from_secs(10));
    let started = Instant::now();
    let res = reqwest::get(format!("{down}/api/u1/tasks")).await.unwrap();
    assert_unavailable(res).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(reqwest::get(format!("{down}/ready")).await.unwrap().status(), 503);

    let (_sidecar, port) = sidecar();
    let base = web_beside(port, None, Duration::from_secs(1));
    assert_eq!(reqwest::get(format!("{base}/ready")).await.unwrap().status(), 200);
    assert_unavailable(reqwest::get(format!("{base}/api/daprfail")).await.unwrap()).await;
    // The sidecar's own 403 and 401 are not backend-api's: passed on, a 401 would sign the user out.
    assert_unavailable(reqwest::get(format!("{base}/api/daprdeny")).await.unwrap()).await;
    assert_unavailable(reqwest::get(format!("{base}/api/daprtoken")).await.unwrap()).await;
    // backend-api's own 4xx (stamped with X-Request-Id) still passes through.
    assert_eq!(
        reqwest::get(format!("{base}/api/missing"))
            .await
            .unwrap()
            .status(),
        404
    );
    let started = Instant::now();
    assert_unavailable(reqwest::get(format!("{base}/api/slow")).await.unwrap()).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the wait is bounded");
}

#[tokio::test]
async fn web_serves_the_app_and_keeps_other_calls_home() {
    let (sidecar, port) = sidecar();
    let base = web_beside(port, None, Duration::from_secs(10));
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/assets/"));

    // The event stream belongs to websocket (the Ingress routes it there).
    assert_eq!(
        reqwest::get(format!("{base}/api/sse/u1")).await.unwrap().status(),
        404
    );
    // Past the API's 1 MiB: refused here, never sent.
    let res = reqwest::Client::new()
        .post(format!("{base}/api/u1/tasks"))
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    // A path that would climb out of the invocation prefix.
    let res = reqwest::get(format!("{base}/api/%2e%2e/%2e%2e/v1.0/state/statestore/k"))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(sidecar.seen.lock().unwrap().is_empty());
}
