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
/// the state store follows the Redis state store's rules ([`RedisLikeState`]); bulk publish those
/// of [`BulkDouble`].
#[derive(Clone)]
pub struct FakeSidecar {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub down: Arc<Mutex<bool>>,
    pub state: Arc<Mutex<RedisLikeState>>,
    pub bulk: Arc<Mutex<BulkDouble>>,
    /// Every envelope the broker accepted, single or bulk, in the order it took them.
    pub broker: Arc<Mutex<Vec<Value>>>,
}

/// `POST /v1.0-alpha1/publish/bulk/pubsub/{topic}` as dapr 1.16.19 `pkg/api/http/http.go`
/// (`onBulkPublish`) answers it over a component without a bulk API of its own (Redis Streams:
/// `pkg/runtime/pubsub/default_bulkpub.go`): a JSON array of entries, each with a unique non-empty
/// `entryId` (else 400), metadata a map of strings, a `cloudevents+json` event an object (else
/// 500); the entries reach the broker in no set order (here: reversed, so a batch that relied on
/// its order shows it); 204, or 500 with `failedEntries` and the rest published. Without the route
/// (`enabled` false: an older daprd, or an allow-list without publish v1.0-alpha1), chi's 404.
#[derive(Debug, Default)]
pub struct BulkDouble {
    pub enabled: bool,
    /// Event ids whose next publish (bulk or single) fails, once each.
    pub fail_once: Vec<String>,
    /// Each bulk request's entries as (partition key, event id), in request order.
    pub batches: Vec<Vec<(String, String)>>,
}

fn bulk_error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(serde_json::json!({"errorCode": code, "message": message}))
}

fn bulk_publish(json: &Value, fake: &FakeSidecar) -> HttpResponse {
    let mut bulk = fake.bulk.lock().unwrap();
    if !bulk.enabled {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("404 page not found\n");
    }
    let Some(entries) = json.as_array() else {
        return bulk_error(
            400,
            "ERR_PUBSUB_EVENTS_SER",
            "error when unmarshaling the request",
        );
    };
    let mut seen = std::collections::HashSet::new();
    let mut batch = Vec::new();
    for entry in entries {
        let id = entry["entryId"].as_str().unwrap_or("");
        if id.is_empty() || !seen.insert(id.to_owned()) {
            return bulk_error(
                400,
                "ERR_PUBSUB_EVENTS_SER",
                "entryId is duplicated or not present for entry",
            );
        }
        if let Some(md) = entry.get("metadata").filter(|m| !m.is_null())
            && !md.as_object().is_some_and(|m| m.values().all(Value::is_string))
        {
            return bulk_error(400, "ERR_PUBSUB_EVENTS_SER", "metadata is not a map of strings");
        }
        if entry["contentType"] != "application/cloudevents+json" || !entry["event"].is_object() {
            return bulk_error(500, "ERR_PUBSUB_CLOUD_EVENTS_SER", "cannot create cloudevent");
        }
        let key = entry["metadata"]["partitionKey"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        batch.push((key, entry["event"]["id"].as_str().unwrap_or("").to_owned()));
    }
    bulk.batches.push(batch);
    let down = *fake.down.lock().unwrap();
    let mut failed = Vec::new();
    for entry in entries.iter().rev() {
        let event_id = entry["event"]["id"].as_str().unwrap_or("").to_owned();
        if down {
            failed.push(serde_json::json!({"entryId": entry["entryId"], "error": "broker down"}));
        } else if let Some(i) = bulk.fail_once.iter().position(|f| *f == event_id) {
            bulk.fail_once.remove(i);
            failed.push(serde_json::json!({"entryId": entry["entryId"], "error": "redis streams: error from publish"}));
        } else {
            fake.broker.lock().unwrap().push(entry["event"].clone());
        }
    }
    if failed.is_empty() {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::InternalServerError()
            .json(serde_json::json!({"failedEntries": failed, "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE"}))
    }
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
        let mut bulk = fake.bulk.lock().unwrap();
        let id = json["id"].as_str().unwrap_or("").to_owned();
        return if down {
            HttpResponse::InternalServerError().body("broker down")
        } else if let Some(i) = bulk.fail_once.iter().position(|f| *f == id) {
            bulk.fail_once.remove(i);
            bulk_error(
                500,
                "ERR_PUBSUB_PUBLISH_MESSAGE",
                "redis streams: error from publish",
            )
        } else {
            fake.broker.lock().unwrap().push(json);
            HttpResponse::NoContent().finish()
        };
    }
    if path.starts_with("/v1.0-alpha1/publish/bulk/pubsub/")
        && matches!(req.method().as_str(), "POST" | "PUT")
    {
        return bulk_publish(&json, &fake);
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
            bulk: Arc::default(),
            broker: Arc::default(),
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

    /// Bulk publish answers (see [`BulkDouble`]); events with these ids fail once each.
    pub fn enable_bulk(&self, fail_once: &[String]) {
        let mut bulk = self.bulk.lock().unwrap();
        bulk.enabled = true;
        bulk.fail_once = fail_once.to_vec();
    }

    /// The bulk requests received, each as its entries' (partition key, event id).
    pub fn bulk_batches(&self) -> Vec<Vec<(String, String)>> {
        self.bulk.lock().unwrap().batches.clone()
    }

    /// The ids of every event the broker accepted, in the order it took them.
    pub fn broker_ids(&self) -> Vec<String> {
        self.broker
            .lock()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap_or("").to_owned())
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
