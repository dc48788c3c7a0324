//! Spawning the app for a test, and the client-side helpers every test uses.

use std::net::TcpListener;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use taskflow_assistant::online::ModelConfig;
use taskflow_auth::JwksConfig;
use taskflow_backend_api::{ApiConfig, ApiState, Application};
use taskflow_test_support::{TestDb, test_database};

pub const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: taskflow_store::Store,
    /// The database this app uses (a replica started with [`TestApp::replica`] uses it too).
    pub database_url: String,
    _db: Option<TestDb>,
}

/// A registered user with a token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub token: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(None).await
    }

    pub async fn spawn_with(jwks: Option<JwksConfig>) -> Self {
        Self::spawn_configured(|c| c.jwks = jwks).await
    }

    /// With the assistant's online agent talking to `model` (e.g. a scripted local server).
    pub async fn spawn_with_model(model: ModelConfig) -> Self {
        Self::spawn_configured(|c| c.model = Some(model)).await
    }

    /// Spawns the app with the test configuration as changed by `change`.
    pub async fn spawn_configured(change: impl FnOnce(&mut ApiConfig)) -> Self {
        let (database_url, db) = test_database().await;
        Self::start(database_url, Some(db), change).await
    }

    /// Another replica of this app: the same database and secret, its own process state (as a
    /// second backend-api pod), with the test configuration as changed by `change`.
    pub async fn replica(&self, change: impl FnOnce(&mut ApiConfig)) -> Self {
        Self::start(self.database_url.clone(), None, change).await
    }

    async fn start(database_url: String, db: Option<TestDb>, change: impl FnOnce(&mut ApiConfig)) -> Self {
        let mut config = ApiConfig {
            host: "127.0.0.1".into(),
            port: 0,
            database_url: database_url.clone(),
            jwt_secret: SECRET.as_bytes().to_vec(),
            token_ttl_days: 7,
            jwks: None,
            db_max_connections: 5,
            auth_limits: Default::default(),
            quotas: Default::default(),
            model: None,
            mcp_allowed_origins: Vec::new(),
            cors: taskflow_runtime::cors::CorsPolicy::default(),
            shutdown_timeout: taskflow_runtime::server::DEFAULT_SHUTDOWN_TIMEOUT,
            webhook_allow_private_networks: false,
        };
        change(&mut config);
        let state = ApiState::connect(&config).await.expect("connect");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let store = state.store.clone();
        let app = Application::serve(state, listener).expect("serve");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run());
        Self {
            base,
            client: reqwest::Client::new(),
            store,
            database_url,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The served `/openapi.json`.
    pub async fn openapi(&self) -> Value {
        let res = self.client.get(self.url("/openapi.json")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn put_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, name: &str, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/register",
            None,
            &json!({"name": name, "email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers and logs in a new user with a unique e-mail address.
    pub async fn user(&self) -> TestUser {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let res = self.register("Test User", &email, "correct horse battery").await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = self
            .login(&email, "correct horse battery")
            .await
            .json()
            .await
            .unwrap();
        TestUser {
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            token: body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates a task and returns its JSON.
    pub async fn create_task(&self, user: &TestUser, body: Value) -> Value {
        let res = self
            .post_json(&format!("/api/{}/tasks", user.id), Some(&user.token), &body)
            .await;
        let status = res.status();
        let json: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{json}");
        json
    }

    pub async fn list(&self, user: &TestUser, query: &str) -> Value {
        let res = self
            .get(&format!("/api/{}/tasks?{query}", user.id), &user.token)
            .await;
        let status = res.status();
        let json: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{query}: {json}");
        json
    }
}

/// Asserts an error response: status, JSON shape, code and (optionally) field.
pub async fn assert_error(res: Response, status: StatusCode, code: &str, field: Option<&str>) -> Value {
    assert_eq!(res.status(), status);
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    body
}

pub fn titles(page: &Value) -> Vec<String> {
    page["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}
