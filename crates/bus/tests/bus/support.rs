//! Shared fixtures: a recording subscriber and a fake Dapr sidecar (taskflow-host's tests include
//! this file too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use taskflow_bus::{EventHandler, Outcome, ReceivedEvent, handler_fn};

/// Records every event a subscription handles, answering with a scripted outcome.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<ReceivedEvent>>>,
}

impl Recorder {
    pub fn handler(&self) -> Arc<dyn EventHandler> {
        let seen = self.seen.clone();
        handler_fn(move |e: ReceivedEvent| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(e);
                Outcome::Success
            }
        })
    }

    pub fn titles(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.data["task"]["title"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

/// One request the fake sidecar received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

/// A stand-in for daprd's HTTP API that records what it receives. Publishing fails while `down`;
/// the state store follows the Redis state store's rules ([`RedisLikeState`]).
#[derive(Clone)]
pub struct FakeSidecar {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub down: Arc<Mutex<bool>>,
    pub state: Arc<Mutex<RedisLikeState>>,
}

/// One key as components-contrib's Redis state store keeps it: a hash of `data`, `version` (the
/// etag) and, once saved with first-write concurrency, a `first-write` flag.
#[derive(Debug, Clone)]
pub struct StoredState {
    pub data: Value,
    pub version: u64,
    pub first_write: bool,
}

/// The save and delete rules of components-contrib v1.16.13 `state/redis/redis.go` (`Set`,
/// `parseETag`, the `setDefaultQuery`/`delDefaultQuery` Lua scripts) with the HTTP statuses of dapr
/// v1.16.19 `pkg/api/http/http.go` (`onPostState`, `stateErrorResponse`): an etag mismatch is 409,
/// an etag that is not a number 400, any other refusal 500.
#[derive(Debug, Default)]
pub struct RedisLikeState {
    pub keys: HashMap<String, StoredState>,
    /// Every refused save: (key, HTTP status).
    pub refusals: Vec<(String, u16)>,
}

impl RedisLikeState {
    /// One save of `POST /v1.0/state/{store}`; `Err(status)` when daprd would refuse it.
    pub fn save(&mut self, item: &Value) -> Result<(), u16> {
        let key = item["key"].as_str().unwrap_or("").to_owned();
        let etag = item["etag"].as_str().filter(|e| !e.is_empty());
        let concurrency = item["options"]["concurrency"].as_str().unwrap_or("");
        let first_write = concurrency == "first-write";
        // parseETag: last-write concurrency or no etag → version 0; an etag that is not a number → 400.
        let version = match etag {
            Some(e) if concurrency != "last-write" => e.parse::<u64>().map_err(|_| self.refuse(&key, 400))?,
            _ => 0,
        };
        let current = self.keys.get(&key);
        // setDefaultQuery: a missing key, a matching version, or version 0 on a key never saved with
        // first-write may be written; anything else is refused.
        let allowed = match current {
            None => true,
            Some(c) => c.version == version || (!c.first_write && version == 0),
        };
        if !allowed {
            // Set: a refusal of a request that carried an etag is an ETag mismatch (409); one without
            // is a plain error, which daprd answers with 500.
            return Err(self.refuse(&key, if etag.is_some() { 409 } else { 500 }));
        }
        let (old_version, was_first_write) = current.map_or((0, false), |c| (c.version, c.first_write));
        self.keys.insert(
            key,
            StoredState {
                data: item["value"].clone(),
                version: old_version + 1,
                first_write: was_first_write || first_write,
            },
        );
        Ok(())
    }

    /// `DELETE /v1.0/state/{store}/{key}` with an optional `If-Match` (delDefaultQuery: no etag
    /// deletes unconditionally).
    pub fn delete(&mut self, key: &str, etag: Option<&str>) -> Result<(), u16> {
        let version = match etag {
            Some(e) => e.parse::<u64>().map_err(|_| self.refuse(key, 400))?,
            None => 0,
        };
        match self.keys.get(key) {
            Some(c) if version != 0 && c.version != version => Err(self.refuse(key, 409)),
            _ => {
                self.keys.remove(key);
                Ok(())
            }
        }
    }

    fn refuse(&mut self, key: &str, status: u16) -> u16 {
        self.refusals.push((key.to_owned(), status));
        status
    }
}

async fn sidecar(req: HttpRequest, body: web::Bytes, fake: web::Data<FakeSidecar>) -> HttpResponse {
    let query: HashMap<String, String> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = req.path().to_owned();
    fake.requests.lock().unwrap().push(Recorded {
        method: req.method().as_str().to_owned(),
        path: path.clone(),
        query,
        headers,
        body: json.clone(),
    });
    let down = *fake.down.lock().unwrap();
    if path == "/v1.0/healthz/outbound" {
        return if down {
            HttpResponse::InternalServerError().finish()
        } else {
            HttpResponse::NoContent().finish()
        };
    }
    if path.starts_with("/v1.0/publish/") {
        return if down {
            HttpResponse::InternalServerError().body("broker down")
        } else {
            HttpResponse::NoContent().finish()
        };
    }
    if let Some(key) = path.strip_prefix("/v1.0/state/statestore/") {
        let mut state = fake.state.lock().unwrap();
        return match req.method().as_str() {
            "GET" => match state.keys.get(key) {
                Some(v) => HttpResponse::Ok()
                    .insert_header(("etag", v.version.to_string()))
                    .json(&v.data),
                None => HttpResponse::NoContent().finish(),
            },
            "DELETE" => {
                let etag = req.headers().get("if-match").and_then(|v| v.to_str().ok());
                match state.delete(key, etag) {
                    Ok(()) => HttpResponse::NoContent().finish(),
                    Err(status) => refused(status),
                }
            }
            _ => HttpResponse::MethodNotAllowed().finish(),
        };
    }
    if path == "/v1.0/state/statestore" {
        let mut state = fake.state.lock().unwrap();
        for item in json.as_array().cloned().unwrap_or_default() {
            if let Err(status) = state.save(&item) {
                return refused(status);
            }
        }
        return HttpResponse::NoContent().finish();
    }
    HttpResponse::NotFound().finish()
}

fn refused(status: u16) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap();
    HttpResponse::build(status).json(serde_json::json!({"errorCode": "ERR_STATE_SAVE", "message": "refused"}))
}

impl FakeSidecar {
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fake = FakeSidecar {
            port,
            requests: Arc::default(),
            down: Arc::default(),
            state: Arc::default(),
        };
        let data = web::Data::new(fake.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(sidecar))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        fake
    }

    /// The state saves and deletes it refused, as (key, status).
    pub fn state_refusals(&self) -> Vec<(String, u16)> {
        self.state.lock().unwrap().refusals.clone()
    }

    pub fn set_down(&self, down: bool) {
        *self.down.lock().unwrap() = down;
    }

    pub fn published(&self) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with("/v1.0/publish/"))
            .cloned()
            .collect()
    }

    pub fn config(&self, token: Option<&str>) -> taskflow_bus::dapr::DaprConfig {
        taskflow_bus::dapr::DaprConfig {
            host: "127.0.0.1".into(),
            http_port: self.port,
            api_token: token.map(str::to_owned),
            pubsub: "pubsub".into(),
            state_store: "statestore".into(),
        }
    }
}
