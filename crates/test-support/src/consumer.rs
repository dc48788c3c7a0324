//! What the event consumers' tests (audit, recurring, notification, the bus) all set up: a store
//! on a migrated test database with some users in it, and a service's routes served on port 0
//! (as daprd's app channel would reach them), to deliver daprd-shaped envelopes to.

use actix_web::web;
use serde_json::Value;
use taskflow_runtime::health::Readiness;
use taskflow_store::{NewUser, Store, StoreOptions};

use crate::{TestDb, test_database};

/// A user as the consumers find them: no password, `email` optional.
pub fn user(id: &str, name: &str, email: Option<&str>, timezone: &str) -> NewUser {
    NewUser {
        id: id.into(),
        name: name.into(),
        email: email.map(str::to_owned),
        password_hash: None,
        timezone: timezone.into(),
    }
}

/// A store on a migrated test database (see [`test_database`]) holding `users`.
pub async fn store_with_users(users: impl IntoIterator<Item = NewUser>) -> (Store, TestDb) {
    store_with(&StoreOptions::default(), users).await
}

/// [`store_with_users`] with connection settings of the test's choosing.
pub async fn store_with(options: &StoreOptions, users: impl IntoIterator<Item = NewUser>) -> (Store, TestDb) {
    let (url, db) = test_database().await;
    let store = Store::connect(&url, options)
        .await
        .expect("connect to the test database");
    for user in users {
        store.users().create(user).await.expect("create a test user");
    }
    (store, db)
}

/// Serves `routes` on a free port of 127.0.0.1 with everything a service shares (`/health`,
/// JSON errors, …); returns the base URL. The server runs until the test's runtime ends.
pub fn serve<F>(routes: F) -> String
where
    F: FnOnce(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let served =
        taskflow_runtime::server::serve(listener, Readiness::default(), routes).expect("serve the routes");
    tokio::spawn(served.server);
    format!("http://127.0.0.1:{}", served.port)
}

/// POSTs `envelope` (e.g. a [`crate::daprd_envelope`]) to `url` as daprd does, with `content_type`
/// (`application/json` or `application/cloudevents+json`); returns the JSON answer.
pub async fn deliver(url: &str, content_type: &str, envelope: &Value) -> Value {
    let body = serde_json::to_vec(envelope).expect("an envelope serialises");
    reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("deliver the envelope")
        .json()
        .await
        .expect("a JSON answer")
}
