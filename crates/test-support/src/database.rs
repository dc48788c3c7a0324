//! One database per test, removed with it: migrated (cloned from the [`crate::template`]) or empty.

use sea_orm::{ConnectionTrait, Database};

use crate::template;

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

pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

fn admin_url_from_env() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// A migrated database for one test, and the guard that removes it: a PostgreSQL database cloned
/// from the template under `TEST_DATABASE_URL`, or a copy of the SQLite template. Calling
/// `Store::migrate` on it is a no-op.
pub async fn test_database() -> (String, TestDb) {
    migrated_database(admin_url_from_env()).await
}

/// An empty database for one test (no tables at all), for tests of the migrations themselves.
pub async fn empty_test_database() -> (String, TestDb) {
    fresh_database(admin_url_from_env()).await
}

/// A new database created through `admin_url` (PostgreSQL), or a temporary SQLite file without
/// one: migrated, as a clone of the template for the current schema.
pub async fn migrated_database(admin_url: Option<String>) -> (String, TestDb) {
    match admin_url {
        Some(admin_url) => create_postgres(admin_url, Schema::Migrated).await,
        None => {
            let (url, db) = fresh_database(None).await;
            if let TestDb::Sqlite(dir) = &db {
                template::copy_sqlite_template(
                    &template::sqlite_template_dir(),
                    &dir.path().join(SQLITE_FILE),
                )
                .await;
            }
            (url, db)
        }
    }
}

/// A new, empty database created through `admin_url` (PostgreSQL), or a temporary SQLite file
/// without one.
pub async fn fresh_database(admin_url: Option<String>) -> (String, TestDb) {
    match admin_url {
        Some(admin_url) => create_postgres(admin_url, Schema::Empty).await,
        None => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join(SQLITE_FILE).display());
            (url, TestDb::Sqlite(dir))
        }
    }
}

const SQLITE_FILE: &str = "test.db";

enum Schema {
    Empty,
    Migrated,
}

/// `CREATE DATABASE tf_test_<uuid>`, empty or as a clone of the migrated template, on one admin
/// connection (each is a round trip that every test pays).
async fn create_postgres(admin_url: String, schema: Schema) -> (String, TestDb) {
    let name = format!("tf_test_{}", uuid::Uuid::new_v4().simple());
    let admin = template::admin_connection(&admin_url).await;
    let from = match schema {
        Schema::Empty => String::new(),
        Schema::Migrated => {
            let template = template::postgres_template_name();
            template::ensure_postgres_template_on(&admin, &admin_url, &template).await;
            format!(" TEMPLATE \"{template}\"")
        }
    };
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\"{from}"))
        .await
        .expect("create a test database");
    admin.close().await.ok();
    (
        with_database(&admin_url, &name),
        TestDb::Postgres { admin_url, name },
    )
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
