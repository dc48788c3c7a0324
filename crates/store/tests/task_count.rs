//! `users.task_count`, the count the task quota reads: kept exact by the database through every way
//! a task comes or goes (a create, a series' next occurrence, a deletion, an operator's own SQL), and
//! filled in for the tasks already there when the migration runs. SQLite, or PostgreSQL with
//! `TEST_DATABASE_URL`.

// A test: a failed step is the failure, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sea_orm::ConnectionTrait;
use taskflow_domain::{CreateTask, time};
use taskflow_migration::{Migrator, MigratorTrait};
use taskflow_store::Store;
use taskflow_test_support::consumer;
use uuid::Uuid;

async fn number(store: &Store, sql: &str) -> i64 {
    store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(store.backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

/// The count kept on the user's row, and the user's tasks counted.
async fn kept_and_counted(store: &Store, user: &str) -> (i64, i64) {
    (
        number(
            store,
            &format!("SELECT task_count FROM users WHERE id = '{user}'"),
        )
        .await,
        number(
            store,
            &format!("SELECT COUNT(*) FROM tasks WHERE user_id = '{user}'"),
        )
        .await,
    )
}

async fn create(store: &Store, user: &str, title: &str) -> Uuid {
    let task = CreateTask::titled(title)
        .validate()
        .unwrap()
        .into_task(user, time::now());
    store.tasks().create(&task).await.unwrap();
    task.id
}

#[tokio::test]
async fn the_kept_count_follows_every_insert_and_delete_and_the_migration_fills_it_in() {
    let (store, _db) = consumer::store_with_users([
        consumer::user("alice", "Alice", None, "UTC"),
        consumer::user("bob", "Bob", None, "UTC"),
    ])
    .await;
    assert_eq!(kept_and_counted(&store, "alice").await, (0, 0));
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create(&store, "alice", &format!("task {i}")).await);
    }
    create(&store, "bob", "bob's").await;
    assert_eq!(kept_and_counted(&store, "alice").await, (5, 5));
    assert_eq!(kept_and_counted(&store, "bob").await, (1, 1));

    store.tasks().delete_by_id("alice", ids[0]).await.unwrap();
    assert_eq!(kept_and_counted(&store, "alice").await, (4, 4));

    let mut next = store.tasks().get("alice", ids[1]).await.unwrap().unwrap();
    next.id = Uuid::now_v7();
    assert!(
        store
            .tasks()
            .create_occurrence(&next, &format!("{}:next", ids[1]))
            .await
            .unwrap()
    );
    // The same occurrence again writes nothing, and counts nothing.
    next.id = Uuid::now_v7();
    assert!(
        !store
            .tasks()
            .create_occurrence(&next, &format!("{}:next", ids[1]))
            .await
            .unwrap()
    );
    assert_eq!(kept_and_counted(&store, "alice").await, (5, 5));

    store
        .connection()
        .execute_unprepared("DELETE FROM tasks WHERE user_id = 'alice' AND title = 'task 2'")
        .await
        .unwrap();
    assert_eq!(kept_and_counted(&store, "alice").await, (4, 4));
    assert_eq!(kept_and_counted(&store, "bob").await, (1, 1));

    // Undone and applied again, the migration counts the tasks already there.
    Migrator::down(store.connection(), Some(1)).await.unwrap();
    Migrator::up(store.connection(), None).await.unwrap();
    assert_eq!(kept_and_counted(&store, "alice").await, (4, 4));
    assert_eq!(kept_and_counted(&store, "bob").await, (1, 1));
    create(&store, "alice", "after").await;
    assert_eq!(kept_and_counted(&store, "alice").await, (5, 5));
}
