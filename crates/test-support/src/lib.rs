//! Test-only helpers shared by the workspace's integration tests.
//!
//! [`test_database`] gives each test its own database: a temporary SQLite file by default, or a new
//! PostgreSQL database when `TEST_DATABASE_URL` is set — so the same suites run on both backends.
//! [`requirements`] is how a test asks for what lives outside the process (a PostgreSQL or Redis
//! server, a Python tool), so that no test passes on CI without having run.
#![allow(clippy::expect_used)]

pub mod requirements;

pub use requirements::{postgres_for_test, redis_for_test, unavailable};

use sea_orm::{ConnectionTrait, Database};

/// A database that exists for one test; dropped (PostgreSQL) or deleted (SQLite) with this value.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// Which backend the suite runs on, for messages.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "SQLite",
            Self::Postgres { .. } => "PostgreSQL",
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside async; a short-lived runtime on its own thread removes the database.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let db = Database::connect(&admin_url).await.ok()?;
                    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// A fresh database URL for one test, and the guard that removes it: a new PostgreSQL database under
/// `TEST_DATABASE_URL`, or a temporary SQLite file.
pub async fn test_database() -> (String, TestDb) {
    fresh_database(std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())).await
}

/// A new database created through `admin_url` (PostgreSQL), or a temporary SQLite file without one.
pub async fn fresh_database(admin_url: Option<String>) -> (String, TestDb) {
    match admin_url {
        Some(admin_url) => {
            let name = format!("tf_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&admin_url)
                .await
                .expect("the PostgreSQL admin URL is unreachable");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create a test database");
            admin.close().await.ok();
            (
                with_database(&admin_url, &name),
                TestDb::Postgres { admin_url, name },
            )
        }
        None => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (url, TestDb::Sqlite(dir))
        }
    }
}

/// A structured CloudEvent exactly as daprd delivers it to a subscriber: Dapr's own attributes
/// (`topic`, `pubsubname`, `traceid`, `traceparent`, `tracestate`) around `data`.
pub fn daprd_envelope(topic: &str, id: &str, event_type: &str, data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": "backend-api",
        "type": event_type,
        "subject": data.pointer("/task/id").cloned().unwrap_or_default(),
        "time": data.get("occurred_at").cloned().unwrap_or_default(),
        "datacontenttype": "application/json",
        "data": data,
        "topic": topic,
        "pubsubname": "pubsub",
        "traceid": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": ""
    })
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn swaps_the_database_name_keeping_options() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
