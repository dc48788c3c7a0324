//! Tasks and their reminder rules: create, read, list, update with optimistic concurrency, delete.

mod mapping;
mod query;
mod stats;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use taskflow_domain::{NewTask, Reminder, ReminderSpec, Task, TaskChanges};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::{task_reminders, tasks};

pub use query::{CursorError, SortBy, SortOrder, StatusFilter, TaskFilter, TaskPage};
pub use stats::TaskStats;

pub struct TaskRepo<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> TaskRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Stores a new task and its reminders in one transaction.
    pub async fn create(&self, user_id: &str, new: NewTask, now: DateTime<Utc>) -> Result<Task, StoreError> {
        let task = Task {
            id: Uuid::now_v7(),
            user_id: user_id.to_owned(),
            title: new.title,
            description: new.description,
            priority: new.priority,
            category: new.category,
            tags: new.tags,
            completed: false,
            completed_at: None,
            due_at: new.due_at,
            recurrence: new.recurrence,
            reminders: Vec::new(),
            parent_task_id: new.parent_task_id,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let txn = self.db.begin().await?;
        tasks::Entity::insert(mapping::active_task(&task)?)
            .exec_without_returning(&txn)
            .await?;
        let reminders = insert_reminders(&txn, &task, &new.reminders, now).await?;
        txn.commit().await?;
        Ok(Task { reminders, ..task })
    }

    /// One of the user's tasks, or `None` — also when it belongs to someone else.
    pub async fn get(&self, user_id: &str, id: Uuid) -> Result<Option<Task>, StoreError> {
        let Some(model) = tasks::Entity::find_by_id(id)
            .filter(tasks::Column::UserId.eq(user_id))
            .one(self.db)
            .await?
        else {
            return Ok(None);
        };
        let reminders = task_reminders::Entity::find()
            .filter(task_reminders::Column::TaskId.eq(id))
            .order_by_asc(task_reminders::Column::RemindAt)
            .all(self.db)
            .await?;
        mapping::task(model, reminders).map(Some)
    }

    /// Writes `changes` if the task is still at `expected_version`; otherwise [`StoreError::VersionConflict`].
    pub async fn update(
        &self,
        expected_version: i64,
        changes: &TaskChanges,
        now: DateTime<Utc>,
    ) -> Result<Task, StoreError> {
        let task = &changes.task;
        let txn = self.db.begin().await?;
        let updated = tasks::Entity::update_many()
            .set(mapping::active_task(task)?)
            .filter(tasks::Column::Id.eq(task.id))
            .filter(tasks::Column::UserId.eq(task.user_id.as_str()))
            .filter(tasks::Column::Version.eq(expected_version))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            txn.rollback().await?;
            return Err(StoreError::VersionConflict);
        }
        let reminders = match &changes.reminders {
            Some(specs) => {
                task_reminders::Entity::delete_many()
                    .filter(task_reminders::Column::TaskId.eq(task.id))
                    .exec(&txn)
                    .await?;
                insert_reminders(&txn, task, specs, now).await?
            }
            None => task.reminders.clone(),
        };
        txn.commit().await?;
        Ok(Task {
            reminders,
            ..task.clone()
        })
    }

    /// Deletes one of the user's tasks; `false` when there was none.
    pub async fn delete(&self, user_id: &str, id: Uuid) -> Result<bool, StoreError> {
        let txn = self.db.begin().await?;
        let deleted = tasks::Entity::delete_many()
            .filter(tasks::Column::Id.eq(id))
            .filter(tasks::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        if deleted.rows_affected > 0 {
            task_reminders::Entity::delete_many()
                .filter(task_reminders::Column::TaskId.eq(id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(deleted.rows_affected > 0)
    }

    pub async fn list(&self, user_id: &str, filter: &TaskFilter) -> Result<TaskPage, StoreError> {
        query::list(self.db, user_id, filter).await
    }

    pub async fn stats(&self, user_id: &str, now: DateTime<Utc>) -> Result<TaskStats, StoreError> {
        stats::stats(self.db, user_id, now).await
    }
}

async fn insert_reminders(
    db: &impl sea_orm::ConnectionTrait,
    task: &Task,
    specs: &[ReminderSpec],
    now: DateTime<Utc>,
) -> Result<Vec<Reminder>, StoreError> {
    let mut reminders: Vec<Reminder> = specs
        .iter()
        .filter_map(|spec| {
            Some(Reminder {
                id: Uuid::now_v7(),
                remind_at: spec.fire_time(task.due_at)?,
                minutes_before_due: spec.minutes_before_due,
                fired_at: None,
            })
        })
        .collect();
    if reminders.is_empty() {
        return Ok(reminders);
    }
    let rows = reminders.iter().map(|r| task_reminders::ActiveModel {
        id: Set(r.id),
        task_id: Set(task.id),
        user_id: Set(task.user_id.clone()),
        remind_at: Set(r.remind_at),
        minutes_before_due: Set(r.minutes_before_due.and_then(|m| i32::try_from(m).ok())),
        fired_at: Set(None),
        created_at: Set(now),
    });
    task_reminders::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    reminders.sort_by_key(|r| r.remind_at);
    Ok(reminders)
}
