//! The tasks a calendar feed shows: the user's tasks with a due date, latest due first, at most
//! `limit`. Read from `idx_tasks_user_due` (`user_id, due_at`), so a feed costs one bounded index
//! range however many tasks the user has; the reminders of those tasks follow in batches.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use taskflow_domain::Task;
use uuid::Uuid;

use super::mapping;
use crate::StoreError;
use crate::entity::{task_reminders, tasks};

/// Ids per reminder query: far below either database's bound-parameter limit.
const REMINDER_BATCH: usize = 500;

pub(super) async fn feed_tasks(
    db: &DatabaseConnection,
    user_id: &str,
    include_completed: bool,
    limit: u64,
) -> Result<Vec<Task>, StoreError> {
    let mut query = tasks::Entity::find()
        .filter(tasks::Column::UserId.eq(user_id))
        .filter(tasks::Column::DueAt.is_not_null());
    if !include_completed {
        query = query.filter(tasks::Column::Completed.eq(false));
    }
    let rows = query
        .order_by_desc(tasks::Column::DueAt)
        .order_by_desc(tasks::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
    let mut reminders: HashMap<Uuid, Vec<task_reminders::Model>> = HashMap::new();
    for batch in ids.chunks(REMINDER_BATCH) {
        let found = task_reminders::Entity::find()
            .filter(task_reminders::Column::UserId.eq(user_id))
            .filter(task_reminders::Column::TaskId.is_in(batch.iter().copied()))
            .order_by_asc(task_reminders::Column::RemindAt)
            .order_by_asc(task_reminders::Column::Id)
            .all(db)
            .await?;
        for r in found {
            reminders.entry(r.task_id).or_default().push(r);
        }
    }
    rows.into_iter()
        .map(|m| {
            let own = reminders.remove(&m.id).unwrap_or_default();
            mapping::task(m, own)
        })
        .collect()
}
