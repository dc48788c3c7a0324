//! Every order the task list offers is read from an index in keyset order (issue 19).
//!
//! `GET /api/{user_id}/tasks` orders by `created_at`, `due_at`, `priority` or `title`, ascending or
//! descending, always with `id` as the tie-breaker, and pages with a `(key, id)` keyset predicate
//! (crates/store/src/tasks/query.rs). Before this migration only `(user_id, created_at, id)` matched
//! such an order: a due-date page over 20 000 undated tasks sorted all of them on every request.
//!
//! PostgreSQL gets, per user:
//! - one B-tree per order: `(user_id, key, id)`, read forwards or backwards. Undated tasks come last
//!   in both directions, which no single column index gives (a backward scan flips `NULLS LAST`
//!   to `NULLS FIRST`), so the store orders by `COALESCE(due_at, 'infinity')` ascending and by
//!   `COALESCE(due_at, '-infinity')` descending, and each has its expression index;
//! - the same five again behind `completed`, for the status filter (`(user_id, completed, key,
//!   id)`); they also serve the per-status counts, so `idx_tasks_user_completed` goes;
//! - a GIN index (`jsonb_path_ops`) for tag containment (`tags @> '["x"]'`) and trigram GIN indexes
//!   (`pg_trgm`, trusted since PostgreSQL 13) on `lower(title)` and `lower(description)` for the
//!   case-insensitive substring search (`lower(col) LIKE '%x%'`, unchanged). The planner reads
//!   them for a rare tag or term (and sorts only the matching rows); a common one is read in
//!   order from the B-trees above, filtered.
//! - Priority and category filters (3 and 4 values) are filtered while reading the order's
//!   B-tree: a page of 50 reads about 150–200 index entries, not worth five more indexes each.
//!
//! SQLite gets the B-trees that need no expression (priority, title, and the status ones on
//! `created_at`, `priority`, `title`). It still sorts for a due-date order (it keeps
//! `due_at … NULLS LAST`), scans the user's rows for a tag (`json_each`) or a search (`LIKE`):
//! it is the single-node, small-data backend.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Indexes both backends get: `(name, columns)`.
const PORTABLE: &[(&str, &str)] = &[
    ("idx_tasks_user_priority", "user_id, priority, id"),
    ("idx_tasks_user_title", "user_id, title, id"),
    (
        "idx_tasks_user_status_created",
        "user_id, completed, created_at, id",
    ),
    (
        "idx_tasks_user_status_priority",
        "user_id, completed, priority, id",
    ),
    ("idx_tasks_user_status_title", "user_id, completed, title, id"),
];

/// PostgreSQL only: `(name, method and columns)`.
const POSTGRES: &[(&str, &str)] = &[
    (
        "idx_tasks_user_due_asc",
        "(user_id, COALESCE(due_at, 'infinity'::timestamptz), id)",
    ),
    (
        "idx_tasks_user_due_desc",
        "(user_id, COALESCE(due_at, '-infinity'::timestamptz), id)",
    ),
    (
        "idx_tasks_user_status_due_asc",
        "(user_id, completed, COALESCE(due_at, 'infinity'::timestamptz), id)",
    ),
    (
        "idx_tasks_user_status_due_desc",
        "(user_id, completed, COALESCE(due_at, '-infinity'::timestamptz), id)",
    ),
    ("idx_tasks_tags", "USING gin (tags jsonb_path_ops)"),
    ("idx_tasks_title_trgm", "USING gin (lower(title) gin_trgm_ops)"),
    (
        "idx_tasks_description_trgm",
        "USING gin (lower(description) gin_trgm_ops)",
    ),
];

/// Replaced by the status indexes, whose prefix it is.
const OLD_STATUS: &str = "idx_tasks_user_completed";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        if postgres {
            db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                .await?;
        }
        for (name, cols) in PORTABLE {
            db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {name} ON tasks ({cols})"))
                .await?;
        }
        if postgres {
            for (name, def) in POSTGRES {
                db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {name} ON tasks {def}"))
                    .await?;
            }
        }
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {OLD_STATUS}"))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE INDEX IF NOT EXISTS {OLD_STATUS} ON tasks (user_id, completed)"
        ))
        .await?;
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let extra: &[(&str, &str)] = if postgres { POSTGRES } else { &[] };
        for (name, _) in PORTABLE.iter().chain(extra) {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        // pg_trgm stays: other objects may use it, and it costs nothing unused.
        Ok(())
    }
}
