//! A local OpenAI-compatible Chat Completions server scripted by the test: it answers each request
//! with the next scripted reply and records what it was sent. No network leaves the machine.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use taskflow_assistant::online::ModelConfig;

/// A request as received: its Authorization header and JSON body.
pub type Received = (Option<String>, Value);

/// One scripted answer.
#[derive(Clone)]
pub enum Reply {
    /// The model calls tools: `(name, raw arguments string)`.
    Tools(Vec<(&'static str, String)>),
    Text(&'static str),
    /// Answers only after this long (to exceed the client's timeout).
    Slow(Duration),
    /// Answers with this text once the test notifies the gate (a request held mid-turn).
    Gated(Arc<tokio::sync::Notify>, &'static str),
    Status(u16),
}

#[derive(Clone, Default)]
pub struct ModelServer {
    pub port: u16,
    script: Arc<Mutex<VecDeque<Reply>>>,
    /// Every request body received, with its Authorization header.
    pub received: Arc<Mutex<Vec<Received>>>,
}

async fn completions(
    req: HttpRequest,
    body: web::Json<Value>,
    server: web::Data<ModelServer>,
) -> HttpResponse {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let body = body.into_inner();
    let streaming = body["stream"] == true;
    server.received.lock().unwrap().push((auth, body));
    let next = server.script.lock().unwrap().pop_front();
    if streaming && let Some(Reply::Text(_) | Reply::Tools(_)) = &next {
        return streamed(next.unwrap());
    }
    let message = match next {
        None => return HttpResponse::InternalServerError().body("script exhausted"),
        Some(Reply::Status(code)) => {
            return HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                .body("scripted failure");
        }
        Some(Reply::Slow(d)) => {
            tokio::time::sleep(d).await;
            json!({"role": "assistant", "content": "too late"})
        }
        Some(Reply::Gated(gate, t)) => {
            gate.notified().await;
            json!({"role": "assistant", "content": t})
        }
        Some(Reply::Text(t)) => json!({"role": "assistant", "content": t}),
        Some(Reply::Tools(calls)) => json!({
            "role": "assistant",
            "content": null,
            "tool_calls": calls.iter().enumerate().map(|(i, (name, args))| json!({
                "id": format!("call_{i}"),
                "type": "function",
                "function": {"name": name, "arguments": args}
            })).collect::<Vec<_>>()
        }),
    };
    HttpResponse::Ok().json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]
    }))
}

/// The reply as a streamed completion: text in three pieces, each tool call's arguments in two.
fn streamed(reply: Reply) -> HttpResponse {
    let mut events = Vec::new();
    match reply {
        Reply::Text(t) => {
            let chars: Vec<char> = t.chars().collect();
            for piece in chars.chunks(chars.len().div_ceil(3).max(1)) {
                let text: String = piece.iter().collect();
                events.push(json!({"choices": [{"index": 0, "delta": {"content": text}}]}));
            }
        }
        Reply::Tools(calls) => {
            for (i, (name, args)) in calls.iter().enumerate() {
                let cut = args
                    .char_indices()
                    .nth(args.chars().count() / 2)
                    .map_or(0, |(b, _)| b);
                events.push(json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": i, "id": format!("call_{i}"), "type": "function", "function": {"name": name, "arguments": &args[..cut]}}]}}]}));
                events.push(json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": i, "function": {"arguments": &args[cut..]}}]}}]}));
            }
        }
        _ => unreachable!(),
    }
    let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    HttpResponse::Ok().content_type("text/event-stream").body(body)
}

impl ModelServer {
    pub async fn start(script: Vec<Reply>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = ModelServer {
            port: listener.local_addr().unwrap().port(),
            script: Arc::new(Mutex::new(script.into())),
            received: Arc::default(),
        };
        let data = web::Data::new(server.clone());
        let http = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(completions))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(http);
        server
    }

    pub fn config(&self) -> ModelConfig {
        let mut c = ModelConfig::new(
            "test-key",
            format!("http://127.0.0.1:{}/v1", self.port),
            "scripted",
        );
        c.timeout = Duration::from_millis(800);
        c.retries = 0;
        c
    }

    /// Appends to the script (for a test with several turns).
    pub async fn script_push(&self, replies: Vec<Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
