//! Tasks and their reminder rules: create, read, list, update with optimistic concurrency, delete.

mod commands;
mod mapping;
mod query;
mod stats;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, JoinType, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use taskflow_domain::{Task, TaskChanges, TaskEvent};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::{task_reminders, tasks};
use crate::outbox::OutboxWriter;

pub use commands::UpdateError;
pub use query::{CursorError, SortBy, SortOrder, StatusFilter, TaskFilter, TaskPage};
pub use stats::TaskStats;

pub struct TaskRepo<'a> {
    db: &'a DatabaseConnection,
    outbox: &'a OutboxWriter,
}

impl<'a> TaskRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection, outbox: &'a OutboxWriter) -> Self {
        Self { db, outbox }
    }

    /// Stores a new task, its reminders and its events in one transaction.
    pub async fn create(&self, task: &Task, events: &[TaskEvent]) -> Result<(), StoreError> {
        let txn = self.db.begin().await?;
        tasks::Entity::insert(mapping::active_task(task)?)
            .exec_without_returning(&txn)
            .await?;
        insert_reminders(&txn, task).await?;
        self.outbox.enqueue(&txn, events).await?;
        txn.commit().await?;
        self.outbox.notify();
        Ok(())
    }

    /// Stores the occurrence of a recurring series named `key`, with its events — unless that
    /// occurrence already exists, in which case nothing is written and the answer is `false`.
    pub async fn create_occurrence(
        &self,
        task: &Task,
        key: &str,
        events: &[TaskEvent],
    ) -> Result<bool, StoreError> {
        let mut row = mapping::active_task(task)?;
        row.occurrence_key = Set(Some(key.to_owned()));
        let txn = self.db.begin().await?;
        let inserted = tasks::Entity::insert(row)
            .on_conflict_do_nothing_on([tasks::Column::OccurrenceKey])
            .exec_without_returning(&txn)
            .await?;
        if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
            txn.rollback().await?;
            return Ok(false);
        }
        self.finish_insert(txn, task, events).await.map(|()| true)
    }

    /// The rest of a new task's transaction: its reminders and events, then commit and wake the relay.
    async fn finish_insert(
        &self,
        txn: sea_orm::DatabaseTransaction,
        task: &Task,
        events: &[TaskEvent],
    ) -> Result<(), StoreError> {
        insert_reminders(&txn, task).await?;
        self.outbox.enqueue(&txn, events).await?;
        txn.commit().await?;
        self.outbox.notify();
        Ok(())
    }

    /// One of the user's tasks, or `None` — also when it belongs to someone else.
    ///
    /// One statement, the hottest of the API (every read, and every update's load): the task with
    /// its reminders (at most 10) left-joined, one row each. Two statements cost a second pool
    /// checkout and round trip; and no `LIMIT`, since SQLite re-prepares a statement whose bound
    /// `LIMIT` is rebound, at every execution (BENCHMARKS.md, "Profiling").
    pub async fn get(&self, user_id: &str, id: Uuid) -> Result<Option<Task>, StoreError> {
        let reminder_of = task_reminders::Entity::belongs_to(tasks::Entity)
            .from(task_reminders::Column::TaskId)
            .to(tasks::Column::Id)
            .into();
        let mut rows = tasks::Entity::find_by_id(id)
            .filter(tasks::Column::UserId.eq(user_id))
            .join_rev(JoinType::LeftJoin, reminder_of)
            .select_also(task_reminders::Entity)
            .order_by_asc(task_reminders::Column::RemindAt)
            .order_by_asc(task_reminders::Column::Id)
            .all(self.db)
            .await?
            .into_iter();
        let Some((model, first)) = rows.next() else {
            return Ok(None);
        };
        let reminders = first.into_iter().chain(rows.filter_map(|(_, r)| r)).collect();
        mapping::task(model, reminders).map(Some)
    }

    /// Writes `changes` and their events if the task is still at `expected_version`; otherwise
    /// [`StoreError::VersionConflict`] and nothing is written.
    pub async fn update(
        &self,
        expected_version: i64,
        changes: &TaskChanges,
        events: &[TaskEvent],
    ) -> Result<(), StoreError> {
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
        if changes.reminders_replaced {
            task_reminders::Entity::delete_many()
                .filter(task_reminders::Column::TaskId.eq(task.id))
                .exec(&txn)
                .await?;
            insert_reminders(&txn, task).await?;
        }
        self.outbox.enqueue(&txn, events).await?;
        txn.commit().await?;
        self.outbox.notify();
        Ok(())
    }

    /// Deletes the task if it is still at `task.version`, with its event; `VersionConflict` if it
    /// changed (the caller re-reads), `Ok(false)` if it is gone.
    pub async fn delete(&self, task: &Task, events: &[TaskEvent]) -> Result<bool, StoreError> {
        let txn = self.db.begin().await?;
        let deleted = tasks::Entity::delete_many()
            .filter(tasks::Column::Id.eq(task.id))
            .filter(tasks::Column::UserId.eq(task.user_id.as_str()))
            .filter(tasks::Column::Version.eq(task.version))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            txn.rollback().await?;
            let still_there = tasks::Entity::find_by_id(task.id)
                .filter(tasks::Column::UserId.eq(task.user_id.as_str()))
                .count(self.db)
                .await?
                > 0;
            return if still_there {
                Err(StoreError::VersionConflict)
            } else {
                Ok(false)
            };
        }
        task_reminders::Entity::delete_many()
            .filter(task_reminders::Column::TaskId.eq(task.id))
            .exec(&txn)
            .await?;
        self.outbox.enqueue(&txn, events).await?;
        txn.commit().await?;
        self.outbox.notify();
        Ok(true)
    }

    pub async fn list(&self, user_id: &str, filter: &TaskFilter) -> Result<TaskPage, StoreError> {
        query::list(self.db, user_id, filter).await
    }

    pub async fn stats(&self, user_id: &str, now: DateTime<Utc>) -> Result<TaskStats, StoreError> {
        stats::stats(self.db, user_id, now).await
    }
}

async fn insert_reminders(db: &impl sea_orm::ConnectionTrait, task: &Task) -> Result<(), StoreError> {
    if task.reminders.is_empty() {
        return Ok(());
    }
    let rows = task.reminders.iter().map(|r| task_reminders::ActiveModel {
        id: Set(r.id),
        task_id: Set(task.id),
        user_id: Set(task.user_id.clone()),
        remind_at: Set(r.remind_at),
        minutes_before_due: Set(r.minutes_before_due.and_then(|m| i32::try_from(m).ok())),
        fired_at: Set(r.fired_at),
        created_at: Set(task.updated_at),
    });
    task_reminders::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}
