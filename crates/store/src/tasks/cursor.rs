//! The task list's opaque cursors and the keyset predicate and order they stand for.
//!
//! A cursor carries the sort key and id of the last row served, so the next page starts strictly
//! after it — stable under concurrent inserts and deletes, and as cheap on page 1 000 as on page 1.
//! Tasks without a due date sort last in both directions.
//!
//! On PostgreSQL the order and the predicate are written the way an index can serve them (see
//! migrations/src/m20261206_000009_list_indexes.rs): the sort key is an expression an index
//! holds — `COALESCE(due_at, 'infinity')` ascending, `COALESCE(due_at, '-infinity')` descending,
//! which puts undated tasks last exactly as `NULLS LAST` does — and the position is one row
//! comparison, `(key, id) > ($1, $2)`, which the index turns into the start of its scan. An
//! `OR` chain, or `… OR due_at IS NULL`, would be a filter over every row before the cursor. SQLite
//! keeps the `OR` chain and `NULLS LAST`: the same rows in the same order.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, NullOrdering, Order};
use sea_orm::{ColumnTrait, Condition, DbBackend, QueryOrder, Select};
use serde::{Deserialize, Serialize};
use taskflow_domain::Task;
use uuid::Uuid;

use super::query::{SortBy, SortOrder};
use crate::entity::tasks;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor is not one this server issued")]
    Malformed,
    #[error("the cursor was issued for a different sort; start again without it")]
    SortMismatch,
}

/// The position after which the next page starts.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Cursor {
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

/// The PostgreSQL sort-key expression of `sort_by` in `order` (the one its index holds).
pub(super) fn postgres_key(sort_by: SortBy, order: SortOrder) -> &'static str {
    match (sort_by, order) {
        (SortBy::CreatedAt, _) => r#""tasks"."created_at""#,
        (SortBy::Priority, _) => r#""tasks"."priority""#,
        (SortBy::Title, _) => r#""tasks"."title""#,
        (SortBy::DueAt, SortOrder::Asc) => r#"COALESCE("tasks"."due_at", 'infinity'::timestamptz)"#,
        (SortBy::DueAt, SortOrder::Desc) => r#"COALESCE("tasks"."due_at", '-infinity'::timestamptz)"#,
    }
}

fn column(sort_by: SortBy) -> tasks::Column {
    match sort_by {
        SortBy::CreatedAt => tasks::Column::CreatedAt,
        SortBy::DueAt => tasks::Column::DueAt,
        SortBy::Priority => tasks::Column::Priority,
        SortBy::Title => tasks::Column::Title,
    }
}

/// `select` ordered by `(key, id)` in `order`, undated tasks last.
pub(super) fn ordered(
    select: Select<tasks::Entity>,
    backend: DbBackend,
    sort_by: SortBy,
    order: SortOrder,
) -> Select<tasks::Entity> {
    let dir = if order == SortOrder::Asc {
        Order::Asc
    } else {
        Order::Desc
    };
    let select = if backend == DbBackend::Postgres {
        select.order_by(Expr::cust(postgres_key(sort_by, order)), dir.clone())
    } else if sort_by == SortBy::DueAt {
        select.order_by_with_nulls(column(sort_by), dir.clone(), NullOrdering::Last)
    } else {
        select.order_by(column(sort_by), dir.clone())
    };
    select.order_by(tasks::Column::Id, dir)
}

impl Cursor {
    pub(super) fn after(task: &Task, sort_by: SortBy, order: SortOrder) -> Self {
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

    pub(super) fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(super) fn decode(raw: &str, sort_by: SortBy, order: SortOrder) -> Result<Self, CursorError> {
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

    /// Rows strictly after this cursor in the order [`ordered`] gives.
    pub(super) fn condition(self, backend: DbBackend) -> Condition {
        if backend == DbBackend::Postgres {
            self.row_comparison()
        } else {
            self.or_chain()
        }
    }

    /// `(key, id) > ($1, $2)` (or `<` descending); an undated cursor compares with the infinity
    /// that stands for "no due date" in the key expression.
    fn row_comparison(self) -> Condition {
        let asc = self.order == SortOrder::Asc;
        let op = if asc { ">" } else { "<" };
        let key = postgres_key(self.sort_by, self.order);
        let compare = |bound: &str| format!(r#"({key}, "tasks"."id") {op} ({bound}, $2)"#);
        let expr = match self.key {
            SortKey::Time(None) => {
                let infinity = if asc { "'infinity'" } else { "'-infinity'" };
                let sql = format!(r#"({key}, "tasks"."id") {op} ({infinity}::timestamptz, $1)"#);
                Expr::cust_with_values(sql, [sea_orm::Value::from(self.id)])
            }
            SortKey::Time(Some(t)) => Expr::cust_with_values(
                compare("$1"),
                [sea_orm::Value::from(t), sea_orm::Value::from(self.id)],
            ),
            SortKey::Rank(r) => Expr::cust_with_values(
                compare("$1"),
                [sea_orm::Value::from(r), sea_orm::Value::from(self.id)],
            ),
            SortKey::Text(s) => Expr::cust_with_values(
                compare("$1"),
                [sea_orm::Value::from(s), sea_orm::Value::from(self.id)],
            ),
        };
        Condition::all().add(expr)
    }

    /// `key > v OR (key = v AND id > i)`, with undated tasks after every dated one.
    fn or_chain(self) -> Condition {
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

#[cfg(test)]
mod tests {
    use super::*;

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
