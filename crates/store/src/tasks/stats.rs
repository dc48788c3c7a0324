//! Per-user task counts, computed by the database in one grouped query.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use taskflow_domain::{Category, Priority};

use crate::StoreError;
use crate::entity::tasks;

/// Counts over all of a user's tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskStats {
    pub total: u64,
    pub pending: u64,
    pub completed: u64,
    /// Pending tasks whose due date has passed.
    pub overdue: u64,
    /// Every priority and category appears, with zero where there are none.
    pub by_priority: BTreeMap<&'static str, u64>,
    pub by_category: BTreeMap<&'static str, u64>,
}

pub(super) async fn stats(
    db: &DatabaseConnection,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<TaskStats, StoreError> {
    let overdue = Expr::case(
        Expr::col(tasks::Column::Completed)
            .eq(false)
            .and(Expr::col(tasks::Column::DueAt).lt(now)),
        1,
    )
    .finally(0);
    let rows: Vec<(i16, String, bool, i64, i64)> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Priority)
        .column(tasks::Column::Category)
        .column(tasks::Column::Completed)
        .column_as(Expr::col(tasks::Column::Id).count(), "n")
        .column_as(
            Expr::expr(Func::coalesce([Func::sum(overdue).into(), Expr::val(0i64)])),
            "overdue",
        )
        .filter(tasks::Column::UserId.eq(user_id))
        .group_by(tasks::Column::Priority)
        .group_by(tasks::Column::Category)
        .group_by(tasks::Column::Completed)
        .into_tuple()
        .all(db)
        .await?;

    let mut stats = TaskStats {
        by_priority: Priority::ALL.iter().map(|p| (p.as_str(), 0)).collect(),
        by_category: Category::ALL.iter().map(|c| (c.as_str(), 0)).collect(),
        ..TaskStats::default()
    };
    for (priority, category, completed, n, overdue) in rows {
        let (n, overdue) = (u64::try_from(n).unwrap_or(0), u64::try_from(overdue).unwrap_or(0));
        stats.total += n;
        if completed {
            stats.completed += n;
        } else {
            stats.pending += n;
        }
        stats.overdue += overdue;
        let p = Priority::from_rank(priority)
            .ok_or_else(|| StoreError::Corrupt(format!("priority {priority}")))?;
        *stats.by_priority.entry(p.as_str()).or_default() += n;
        let c =
            Category::parse(&category).ok_or_else(|| StoreError::Corrupt(format!("category {category}")))?;
        *stats.by_category.entry(c.as_str()).or_default() += n;
    }
    Ok(stats)
}
