//! Listing tasks: filters, sorting and keyset pagination with opaque cursors.
//!
//! A cursor carries the sort key and id of the last row served, so the next page starts strictly after
//! it — stable under concurrent inserts and deletes, and as cheap on page 1 000 as on page 1. Tasks
//! without a due date sort last in both directions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Value};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select, Statement,
};
use serde::{Deserialize, Serialize};
use taskflow_domain::{Category, Priority, Task};
use uuid::Uuid;

use super::cursor::{Cursor, postgres_key};
use super::mapping;
use crate::StoreError;
use crate::entity::{task_reminders, tasks};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    All,
    Pending,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    #[default]
    CreatedAt,
    DueAt,
    Priority,
    Title,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

/// What to list. Built and validated by the API layer.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: StatusFilter,
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    /// Every tag must be present.
    pub tags: Vec<String>,
    /// Case-insensitive substring of title or description.
    pub search: Option<String>,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    pub sort_by: SortBy,
    pub sort_order: SortOrder,
    pub limit: u64,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    pub next_cursor: Option<String>,
}

fn escape_like(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 2);
    out.push('%');
    for c in raw.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn has_tag(backend: DbBackend, tag: &str) -> Expr {
    if backend == DbBackend::Postgres {
        Expr::cust_with_values(r#""tasks"."tags" @> $1::jsonb"#, [serde_json::json!([tag])])
    } else {
        Expr::cust_with_values(
            r#"EXISTS (SELECT 1 FROM json_each("tasks"."tags") WHERE json_each.value = ?)"#,
            [tag.to_owned()],
        )
    }
}

/// The select a list request runs on `backend`: its filters, the cursor's position, the order and
/// `LIMIT limit + 1` (one more row tells whether another page follows).
fn list_select(
    backend: DbBackend,
    user_id: &str,
    filter: &TaskFilter,
) -> Result<Select<tasks::Entity>, StoreError> {
    let postgres = backend == DbBackend::Postgres;
    let mut cond = Condition::all().add(tasks::Column::UserId.eq(user_id));
    match filter.status {
        StatusFilter::All => {}
        StatusFilter::Pending => cond = cond.add(tasks::Column::Completed.eq(false)),
        StatusFilter::Completed => cond = cond.add(tasks::Column::Completed.eq(true)),
    }
    if let Some(p) = filter.priority {
        cond = cond.add(tasks::Column::Priority.eq(p.rank()));
    }
    if let Some(c) = filter.category {
        cond = cond.add(tasks::Column::Category.eq(c.as_str()));
    }
    for tag in &filter.tags {
        cond = cond.add(has_tag(backend, tag));
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
        let pattern = escape_like(search);
        let like = |col: tasks::Column| {
            Expr::expr(Func::lower(Expr::col((tasks::Entity, col))))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        cond = cond.add(
            Condition::any()
                .add(like(tasks::Column::Title))
                .add(like(tasks::Column::Description)),
        );
    }
    // Ordered by due date on PostgreSQL, a due range is also stated on the index's key expression,
    // so that it bounds the index scan instead of filtering it (the same rows: the plain condition
    // stays, and the key equals `due_at` wherever `due_at` is set).
    let due_key = (postgres && filter.sort_by == SortBy::DueAt)
        .then(|| postgres_key(filter.sort_by, filter.sort_order));
    if let Some(t) = filter.due_before {
        cond = cond.add(tasks::Column::DueAt.lt(t));
        if let Some(key) = due_key {
            cond = cond.add(Expr::cust_with_values(format!("{key} < $1"), [t]));
        }
    }
    if let Some(t) = filter.due_after {
        cond = cond.add(tasks::Column::DueAt.gt(t));
        if let Some(key) = due_key {
            cond = cond.add(Expr::cust_with_values(format!("{key} > $1"), [t]));
        }
    }
    if let Some(raw) = &filter.cursor {
        let cursor =
            Cursor::decode(raw, filter.sort_by, filter.sort_order).map_err(StoreError::InvalidCursor)?;
        cond = cond.add(cursor.condition(backend));
    }
    let select = tasks::Entity::find().filter(cond);
    let limit = Ord::max(filter.limit, 1);
    Ok(super::cursor::ordered(select, backend, filter.sort_by, filter.sort_order).limit(limit + 1))
}

/// The statement [`list_select`] builds, as sent to `backend`. On SQLite the page size is written
/// into the SQL instead of bound: SQLite plans with a bound `LIMIT`'s value, so rebinding it expires
/// the statement and every list would be parsed and planned again (BENCHMARKS.md, "Profiling").
/// The page size is a number the API bounds, so the statements cached stay few.
pub(super) fn list_statement(
    backend: DbBackend,
    user_id: &str,
    filter: &TaskFilter,
) -> Result<Statement, StoreError> {
    let mut statement = list_select(backend, user_id, filter)?.build(backend);
    if backend == DbBackend::Sqlite
        && let Some(values) = statement.values.as_mut()
        && let Some(Value::BigUnsigned(Some(limit))) = values.0.last()
        && let Some(sql) = statement.sql.strip_suffix(" LIMIT ?")
    {
        statement.sql = format!("{sql} LIMIT {limit}");
        values.0.pop();
    }
    Ok(statement)
}

pub(super) async fn list(
    db: &DatabaseConnection,
    user_id: &str,
    filter: &TaskFilter,
) -> Result<TaskPage, StoreError> {
    let limit = Ord::max(filter.limit, 1);
    let statement = list_statement(db.get_database_backend(), user_id, filter)?;
    let mut models = tasks::Entity::find().from_raw_sql(statement).all(db).await?;
    let has_more = models.len() as u64 > limit;
    models.truncate(limit as usize);

    let ids: Vec<Uuid> = models.iter().map(|m| m.id).collect();
    let mut reminders: HashMap<Uuid, Vec<task_reminders::Model>> = HashMap::new();
    if !ids.is_empty() {
        for r in task_reminders::Entity::find()
            .filter(task_reminders::Column::TaskId.is_in(ids))
            .order_by_asc(task_reminders::Column::RemindAt)
            .all(db)
            .await?
        {
            reminders.entry(r.task_id).or_default().push(r);
        }
    }
    let tasks = models
        .into_iter()
        .map(|m| {
            let rs = reminders.remove(&m.id).unwrap_or_default();
            mapping::task(m, rs)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = has_more
        .then(|| {
            tasks
                .last()
                .map(|t| Cursor::after(t, filter.sort_by, filter.sort_order).encode())
        })
        .flatten();
    Ok(TaskPage { tasks, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like("50%_OFF\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn sqlite_gets_the_page_size_in_the_sql_and_postgres_binds_it() {
        let filter = TaskFilter {
            tags: vec!["home".into()],
            limit: 50,
            ..TaskFilter::default()
        };
        let sqlite = list_statement(DbBackend::Sqlite, "alice", &filter).unwrap();
        assert!(sqlite.sql.ends_with(" LIMIT 51"), "{}", sqlite.sql);
        // The user and the tag stay bound.
        assert_eq!(sqlite.values.map(|v| v.0.len()), Some(2));
        let postgres = list_statement(DbBackend::Postgres, "alice", &filter).unwrap();
        assert!(postgres.sql.ends_with(" LIMIT $3"), "{}", postgres.sql);
        assert_eq!(postgres.values.map(|v| v.0.len()), Some(3));
    }
}
