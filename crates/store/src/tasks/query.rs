//! Listing tasks: filters, sorting and keyset pagination with opaque cursors.
//!
//! A cursor carries the sort key and id of the last row served, so the next page starts strictly after
//! it — stable under concurrent inserts and deletes, and as cheap on page 1 000 as on page 1. Tasks
//! without a due date sort last in both directions.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, NullOrdering, Order};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use taskflow_domain::{Category, Priority, Task};
use uuid::Uuid;

use super::mapping;
use crate::entity::{task_reminders, tasks};
use crate::{StoreError, is_postgres};

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor is not one this server issued")]
    Malformed,
    #[error("the cursor was issued for a different sort; start again without it")]
    SortMismatch,
}

/// The position after which the next page starts.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "s")]
    sort_by: SortBy,
    #[serde(rename = "o")]
    order: SortOrder,
    #[serde(rename = "k")]
    key: SortKey,
    #[serde(rename = "i")]
    id: Uuid,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SortKey {
    Rank(i16),
    Time(Option<DateTime<Utc>>),
    Text(String),
}

impl Cursor {
    fn after(task: &Task, sort_by: SortBy, order: SortOrder) -> Self {
        let key = match sort_by {
            SortBy::CreatedAt => SortKey::Time(Some(task.created_at)),
            SortBy::DueAt => SortKey::Time(task.due_at),
            SortBy::Priority => SortKey::Rank(task.priority.rank()),
            SortBy::Title => SortKey::Text(task.title.clone()),
        };
        Self {
            sort_by,
            order,
            key,
            id: task.id,
        }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(raw: &str, sort_by: SortBy, order: SortOrder) -> Result<Self, CursorError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| CursorError::Malformed)?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        if cursor.sort_by != sort_by || cursor.order != order {
            return Err(CursorError::SortMismatch);
        }
        let key_fits = matches!(
            (&cursor.key, sort_by),
            (SortKey::Time(Some(_)), SortBy::CreatedAt)
                | (SortKey::Time(_), SortBy::DueAt)
                | (SortKey::Rank(_), SortBy::Priority)
                | (SortKey::Text(_), SortBy::Title)
        );
        if !key_fits {
            return Err(CursorError::Malformed);
        }
        Ok(cursor)
    }

    /// Rows strictly after this cursor in `(key, id)` order; `NULL` due dates come last.
    fn condition(self) -> Condition {
        let asc = self.order == SortOrder::Asc;
        let after = |col: tasks::Column, value: sea_orm::Value| -> Condition {
            let (past_key, past_id) = if asc {
                (col.gt(value.clone()), tasks::Column::Id.gt(self.id))
            } else {
                (col.lt(value.clone()), tasks::Column::Id.lt(self.id))
            };
            Condition::any()
                .add(past_key)
                .add(Condition::all().add(col.eq(value)).add(past_id))
        };
        let id_after = if asc {
            tasks::Column::Id.gt(self.id)
        } else {
            tasks::Column::Id.lt(self.id)
        };
        match (self.sort_by, self.key) {
            (SortBy::DueAt, SortKey::Time(None)) => {
                Condition::all().add(tasks::Column::DueAt.is_null()).add(id_after)
            }
            (SortBy::DueAt, SortKey::Time(Some(t))) => {
                after(tasks::Column::DueAt, t.into()).add(tasks::Column::DueAt.is_null())
            }
            (_, SortKey::Time(t)) => after(tasks::Column::CreatedAt, t.into()),
            (_, SortKey::Rank(r)) => after(tasks::Column::Priority, r.into()),
            (_, SortKey::Text(s)) => after(tasks::Column::Title, s.into()),
        }
    }
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

fn has_tag(db: &impl ConnectionTrait, tag: &str) -> sea_orm::sea_query::Expr {
    if is_postgres(db) {
        Expr::cust_with_values(r#""tasks"."tags" @> $1::jsonb"#, [serde_json::json!([tag])])
    } else {
        Expr::cust_with_values(
            r#"EXISTS (SELECT 1 FROM json_each("tasks"."tags") WHERE json_each.value = ?)"#,
            [tag.to_owned()],
        )
    }
}

pub(super) async fn list(
    db: &DatabaseConnection,
    user_id: &str,
    filter: &TaskFilter,
) -> Result<TaskPage, StoreError> {
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
        cond = cond.add(has_tag(db, tag));
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
    if let Some(t) = filter.due_before {
        cond = cond.add(tasks::Column::DueAt.lt(t));
    }
    if let Some(t) = filter.due_after {
        cond = cond.add(tasks::Column::DueAt.gt(t));
    }
    if let Some(raw) = &filter.cursor {
        let cursor =
            Cursor::decode(raw, filter.sort_by, filter.sort_order).map_err(StoreError::InvalidCursor)?;
        cond = cond.add(cursor.condition());
    }

    let order = if filter.sort_order == SortOrder::Asc {
        Order::Asc
    } else {
        Order::Desc
    };
    let key = match filter.sort_by {
        SortBy::CreatedAt => tasks::Column::CreatedAt,
        SortBy::DueAt => tasks::Column::DueAt,
        SortBy::Priority => tasks::Column::Priority,
        SortBy::Title => tasks::Column::Title,
    };
    let mut select = tasks::Entity::find().filter(cond);
    select = if filter.sort_by == SortBy::DueAt {
        select.order_by_with_nulls(key, order.clone(), NullOrdering::Last)
    } else {
        select.order_by(key, order.clone())
    };
    let limit = Ord::max(filter.limit, 1);
    let mut models = select
        .order_by(tasks::Column::Id, order)
        .limit(limit + 1)
        .all(db)
        .await?;
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
    fn cursors_are_checked_against_the_sort() {
        let c = Cursor {
            sort_by: SortBy::Title,
            order: SortOrder::Asc,
            key: SortKey::Text("a".into()),
            id: Uuid::nil(),
        };
        let raw = c.encode();
        assert!(Cursor::decode(&raw, SortBy::Title, SortOrder::Asc).is_ok());
        assert_eq!(
            Cursor::decode(&raw, SortBy::Title, SortOrder::Desc).unwrap_err(),
            CursorError::SortMismatch
        );
        assert_eq!(
            Cursor::decode("not-a-cursor", SortBy::Title, SortOrder::Asc).unwrap_err(),
            CursorError::Malformed
        );
        let wrong_key = Cursor {
            sort_by: SortBy::Priority,
            order: SortOrder::Asc,
            key: SortKey::Text("a".into()),
            id: Uuid::nil(),
        };
        assert_eq!(
            Cursor::decode(&wrong_key.encode(), SortBy::Priority, SortOrder::Asc).unwrap_err(),
            CursorError::Malformed
        );
    }
}
