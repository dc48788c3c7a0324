//! Each user's task count, kept by the database (issue 19): the task quota read it by counting the
//! user's tasks inside every create's transaction, so a create cost more the more tasks its user
//! had (1 000 index entries at the benchmark's seed, up to the quota's 10 000).
//!
//! `users.task_count` is maintained by row triggers on `tasks`, on PostgreSQL and SQLite alike, so it
//! stays exact whatever writes a task: the store's commands, a cascade, an operator's SQL. On
//! PostgreSQL the insert trigger's `UPDATE` also locks the user's row until the transaction ends,
//! which is what serialises one user's quota-checked creates (`crates/store/src/quotas.rs`). A
//! deletion cascading from the user's own row updates nothing: that row is already gone.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const BACKFILL: &str = "UPDATE users SET task_count = \
     (SELECT COUNT(*) FROM tasks WHERE tasks.user_id = users.id)";

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE users ADD COLUMN task_count BIGINT NOT NULL DEFAULT 0",
    BACKFILL,
    "CREATE FUNCTION tasks_count_per_user() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         UPDATE users SET task_count = task_count + 1 WHERE id = NEW.user_id;
       ELSE
         UPDATE users SET task_count = task_count - 1 WHERE id = OLD.user_id;
       END IF;
       RETURN NULL;
     END $$",
    "CREATE TRIGGER tasks_count_per_user AFTER INSERT OR DELETE ON tasks \
     FOR EACH ROW EXECUTE FUNCTION tasks_count_per_user()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS tasks_count_per_user ON tasks",
    "DROP FUNCTION IF EXISTS tasks_count_per_user()",
    "ALTER TABLE users DROP COLUMN IF EXISTS task_count",
];

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE users ADD COLUMN task_count BIGINT NOT NULL DEFAULT 0",
    BACKFILL,
    "CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks BEGIN \
     UPDATE users SET task_count = task_count + 1 WHERE id = NEW.user_id; END",
    "CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN \
     UPDATE users SET task_count = task_count - 1 WHERE id = OLD.user_id; END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS tasks_count_insert",
    "DROP TRIGGER IF EXISTS tasks_count_delete",
    "ALTER TABLE users DROP COLUMN task_count",
];

async fn run(manager: &SchemaManager<'_>, postgres: &[&str], sqlite: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let statements = if manager.get_database_backend() == DbBackend::Postgres {
        postgres
    } else {
        sqlite
    };
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, POSTGRES_DOWN, SQLITE_DOWN).await
    }
}
