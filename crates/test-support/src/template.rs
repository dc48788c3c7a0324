//! A migrated template database, built once per schema and cloned for every test.
//!
//! Running all migrations in every test cost more than most tests themselves. Instead the first
//! test that needs a database builds a template, and every test — in any process: nextest runs
//! each test in its own, many at once — clones it:
//!
//! - The template is named after the schema's fingerprint ([`schema_fingerprint`]): the migration
//!   names, a hash of the migrations crate's files and of the locked SQL generators (computed by
//!   `build.rs`), and [`FORMAT`]. A changed schema is a new name, so a stale template is never
//!   found; an old one is merely left behind.
//! - Nobody ever sees a half-built template. SQLite: it is built in a file of its own, then renamed
//!   into place (atomic on one file system); processes racing to build it each build their own copy
//!   and the last rename wins, with identical content. PostgreSQL: under `pg_advisory_lock` on
//!   one admin connection, it is built under a temporary name, closed, marked
//!   `ALLOW_CONNECTIONS false` (PostgreSQL refuses to copy a database anyone is connected to), and
//!   only then renamed to the name clones use.

use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use taskflow_migration::{Migrator, MigratorTrait};

/// Bumped when the way templates are built changes, so that older templates are not reused.
const FORMAT: &str = "1";

/// The fingerprint of the schema a migrated database has: 16 hex digits.
pub fn schema_fingerprint() -> String {
    let mut hasher = DefaultHasher::new();
    hasher.write(FORMAT.as_bytes());
    hasher.write(env!("TASKFLOW_SCHEMA_FINGERPRINT").as_bytes());
    for migration in Migrator::migrations() {
        hasher.write(migration.name().as_bytes());
        hasher.write_u8(0);
    }
    format!("{:016x}", hasher.finish())
}

/// Runs every migration on the database at `url`, then closes every connection to it.
async fn migrate(url: &str, options: ConnectOptions) -> DatabaseConnection {
    let db = Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("connect to the template being built ({url}): {e}"));
    Migrator::up(&db, None).await.expect("migrate the template");
    db
}

/// The directory SQLite templates are shared in, by every process of every test run.
pub fn sqlite_template_dir() -> PathBuf {
    std::env::temp_dir().join("taskflow-test-templates")
}

/// The path of the migrated SQLite template, built first if it is not there.
pub async fn sqlite_template(dir: &Path) -> PathBuf {
    let path = dir.join(format!("schema-{}.db", schema_fingerprint()));
    if !path.exists() {
        build_sqlite_template(&path).await;
    }
    path
}

/// Builds the template in a file of its own beside `path`, then renames it into place.
pub async fn build_sqlite_template(path: &Path) {
    let dir = path.parent().expect("a template path has a directory");
    std::fs::create_dir_all(dir).expect("create the template directory");
    let building = dir.join(format!(
        "building-{}-{}.db",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let url = format!("sqlite://{}?mode=rwc", building.display());
    let mut options = ConnectOptions::new(url.clone());
    // One connection and a rollback journal: the whole database is in the one file when closed.
    options
        .max_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| o.journal_mode(SqliteJournalMode::Delete));
    let db = migrate(&url, options).await;
    db.close().await.expect("close the template");
    std::fs::rename(&building, path).expect("move the template into place");
}

/// A copy of the SQLite template at `to`.
pub async fn copy_sqlite_template(dir: &Path, to: &Path) {
    let template = sqlite_template(dir).await;
    if let Err(e) = std::fs::copy(&template, to) {
        // Someone removed the shared directory while we looked away: build it again, once.
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "copy the template: {e}");
        build_sqlite_template(&template).await;
        std::fs::copy(&template, to).expect("copy the template");
    }
}

/// The name of the PostgreSQL template for this schema.
pub fn postgres_template_name() -> String {
    format!("tf_tpl_{}", schema_fingerprint())
}

async fn database_exists(admin: &DatabaseConnection, name: &str) -> bool {
    admin
        .query_one_raw(Statement::from_sql_and_values(
            admin.get_database_backend(),
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .expect("look up a database")
        .is_some()
}

/// One admin connection to the server of `admin_url`: one, because an advisory lock belongs to
/// the session that took it.
pub async fn admin_connection(admin_url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(admin_url.to_owned());
    options
        .max_connections(1)
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(120));
    Database::connect(options)
        .await
        .expect("the PostgreSQL admin URL is unreachable")
}

/// Builds the migrated template `name` on the server of `admin_url` unless it is there.
pub async fn ensure_postgres_template(admin_url: &str, name: &str) {
    let admin = admin_connection(admin_url).await;
    ensure_postgres_template_on(&admin, admin_url, name).await;
    admin.close().await.ok();
}

/// [`ensure_postgres_template`] on an admin connection the caller goes on using (to clone it).
pub async fn ensure_postgres_template_on(admin: &DatabaseConnection, admin_url: &str, name: &str) {
    if database_exists(admin, name).await {
        return;
    }
    // Keyed by the name: templates of different schemas are built in parallel.
    let mut hasher = DefaultHasher::new();
    hasher.write(name.as_bytes());
    let key = hasher.finish().cast_signed();
    admin
        .execute_unprepared(&format!("SELECT pg_advisory_lock({key})"))
        .await
        .expect("lock the template");
    if !database_exists(admin, name).await {
        build_postgres_template(admin, admin_url, name).await;
    }
    admin
        .execute_unprepared(&format!("SELECT pg_advisory_unlock({key})"))
        .await
        .expect("unlock the template");
}

async fn build_postgres_template(admin: &DatabaseConnection, admin_url: &str, name: &str) {
    // Left behind only by a builder that died holding the lock (which died with it).
    let building = format!("{name}_building");
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"))
        .await
        .expect("drop a half-built template");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{building}\""))
        .await
        .expect("create the template");
    let url = crate::with_database(admin_url, &building);
    let mut options = ConnectOptions::new(url.clone());
    options.max_connections(1).sqlx_logging(false);
    let db = migrate(&url, options).await;
    db.close().await.expect("close the template");
    // The server ends a closed session's backend a moment later; renaming needs it gone.
    for _ in 0..500 {
        let connected = admin
            .query_one_raw(Statement::from_sql_and_values(
                admin.get_database_backend(),
                "SELECT 1 FROM pg_stat_activity WHERE datname = $1",
                [building.as_str().into()],
            ))
            .await
            .expect("look up sessions");
        if connected.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for statement in [
        format!("ALTER DATABASE \"{building}\" WITH ALLOW_CONNECTIONS false"),
        format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\""),
    ] {
        admin
            .execute_unprepared(&statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

#[cfg(test)]
mod tests;
