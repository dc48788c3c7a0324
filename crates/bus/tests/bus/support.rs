//! Shared fixtures: a store with tasks, a recording subscriber and a fake Dapr sidecar.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use taskflow_bus::{EventHandler, Outcome, ReceivedEvent, handler_fn};
use taskflow_domain::{CreateTask, TaskEvent, time};
use taskflow_store::{Store, StoreOptions};
use taskflow_test_support::{TestDb, test_database};

pub async fn store() -> (Store, TestDb) {
    let (url, db) = test_database().await;
    let store = Store::connect(
        &url,
        &StoreOptions {
            max_connections: 5,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
        .users()
        .create(taskflow_store::NewUser {
            id: "alice".into(),
            name: "Alice".into(),
            email: Some("alice@example.com".into()),
            password_hash: None,
            timezone: "UTC".into(),
        })
        .await
        .unwrap();
    store
        .users()
        .create(taskflow_store::NewUser {
            id: "bob".into(),
            name: "Bob".into(),
            email: Some("bob@example.com".into()),
            password_hash: None,
            timezone: "UTC".into(),
        })
        .await
        .unwrap();
    (store, db)
}

/// Creates a task for `user` through the store, with its `task-created` event in the outbox.
pub async fn create_task(store: &Store, user: &str, title: &str) -> TaskEvent {
    let body: CreateTask = serde_json::from_value(serde_json::json!({ "title": title })).unwrap();
    let now = time::now();
    let task = body.validate().unwrap().into_task(user, now);
    let event = TaskEvent::created(&task, now);
    store
        .tasks()
        .create(&task, std::slice::from_ref(&event))
        .await
        .unwrap();
    event
}

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
/// the state store implements etag `"0"` + first-write as set-if-absent.
#[derive(Clone)]
pub struct FakeSidecar {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub down: Arc<Mutex<bool>>,
    pub state: Arc<Mutex<HashMap<String, Value>>>,
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
            "GET" => match state.get(key) {
                Some(v) => HttpResponse::Ok().insert_header(("etag", "1")).json(v),
                None => HttpResponse::NoContent().finish(),
            },
            "DELETE" => {
                state.remove(key);
                HttpResponse::NoContent().finish()
            }
            _ => HttpResponse::MethodNotAllowed().finish(),
        };
    }
    if path == "/v1.0/state/statestore" {
        let mut state = fake.state.lock().unwrap();
        for item in json.as_array().cloned().unwrap_or_default() {
            let key = item["key"].as_str().unwrap_or("").to_owned();
            if item["etag"] == "0"
                && item["options"]["concurrency"] == "first-write"
                && state.contains_key(&key)
            {
                return HttpResponse::Conflict().body("etag mismatch");
            }
            state.insert(key, item["value"].clone());
        }
        return HttpResponse::NoContent().finish();
    }
    HttpResponse::NotFound().finish()
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
