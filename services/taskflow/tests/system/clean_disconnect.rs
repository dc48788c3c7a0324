//! SIGTERM ends every database connection with the protocol's goodbye: PostgreSQL counts a session
//! whose client vanished without `Terminate` as abandoned (and logs "connection reset by peer" or
//! "unexpected EOF"); before the pool was closed at shutdown, every pooled connection was.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;
use taskflow_test_support::{TestDb, migrated_database, postgres_for_test, template};

use crate::binary::Binary;
use crate::support;

/// `(sessions, abandoned, still connected)` of `database`, from fresh statistics.
async fn sessions(admin: &DatabaseConnection, database: &str) -> (i64, i64, i64) {
    admin
        .execute_unprepared("SELECT pg_stat_clear_snapshot()")
        .await
        .unwrap();
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(
            admin.get_database_backend(),
            "SELECT d.sessions::bigint AS sessions, d.sessions_abandoned::bigint AS abandoned, \
             (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = $1)::bigint AS connected \
             FROM pg_stat_database d WHERE d.datname = $1",
            [database.into()],
        ))
        .await
        .unwrap()
        .expect("the test database has statistics");
    (
        row.try_get("", "sessions").unwrap(),
        row.try_get("", "abandoned").unwrap(),
        row.try_get("", "connected").unwrap(),
    )
}

#[tokio::test]
async fn sigterm_closes_every_database_connection_cleanly() {
    let Some(admin_url) = postgres_for_test("clean database disconnects at shutdown") else {
        return;
    };
    let (database_url, db) = migrated_database(Some(admin_url.clone())).await;
    let TestDb::Postgres { name, .. } = &db else {
        unreachable!("a PostgreSQL admin URL gives a PostgreSQL database")
    };
    let data_dir = tempfile::tempdir().unwrap();
    let mut binary = Binary::spawn(&[
        ("DATABASE_URL", database_url.as_str()),
        ("TASKFLOW_DATA_DIR", data_dir.path().to_str().unwrap()),
        ("JWT_SECRET", "clean-disconnect-secret-that-is-32-bytes-long"),
        ("HOST", "127.0.0.1"),
        ("RUST_LOG", "warn"),
    ]);
    // Concurrent requests, so the pool holds several connections.
    let client = reqwest::Client::new();
    let (user, token) = support::sign_up(&client, &binary.base, json!({})).await;
    let writes = (0..16).map(|i| {
        client
            .post(format!("{}/api/{user}/tasks", binary.base))
            .bearer_auth(&token)
            .json(&json!({"title": format!("task {i}")}))
            .send()
    });
    for res in futures_util::future::join_all(writes).await {
        assert_eq!(res.unwrap().status(), 201);
    }

    let admin = template::admin_connection(&admin_url).await;
    let (opened, _, connected) = sessions(&admin, name).await;
    assert!(connected >= 2, "the pool holds connections: {connected}");
    binary.terminate();
    assert!(binary.exited().await.success());
    // The server ends each backend (and counts it) just after the client goes.
    let mut seen = sessions(&admin, name).await;
    for _ in 0..100 {
        if seen.2 == 0 && seen.0 >= opened {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        seen = sessions(&admin, name).await;
    }
    let (total, abandoned, still) = seen;
    assert_eq!(still, 0, "connections left open after exit");
    assert!(total >= opened, "sessions counted: {total} of {opened}");
    assert_eq!(
        abandoned, 0,
        "{abandoned} of {total} sessions were dropped without a goodbye"
    );
    admin.close().await.ok();
}
