//! The raw writes of a task: each runs one transaction holding the change and the events it is
//! given. Private to `tasks` on purpose: only the commands (`commands.rs`) call them, and they build
//! the events themselves, so no caller can write a task without its events or with the wrong ones.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionTrait,
};
use taskflow_domain::{Task, TaskChanges, TaskEvent};

use super::{TaskRepo, mapping};
use crate::entity::{task_reminders, tasks};
use crate::{StoreError, quotas};

impl TaskRepo<'_> {
    /// Stores a new task, its reminders and its events in one transaction — unless the user's task
    /// quota is reached ([`StoreError::QuotaExceeded`], nothing written; see `quotas.rs`).
    pub(super) async fn insert(&self, task: &Task, events: &[TaskEvent]) -> Result<(), StoreError> {
        let txn = self.db.begin().await?;
        let limit = self.quotas.tasks;
        tasks::Entity::insert(mapping::active_task(task)?)
            .exec_without_returning(&txn)
            .await?;
        if limit > 0 {
            let count = quotas::task_count(&txn, &task.user_id).await?;
            if let Err(e) = quotas::within(quotas::TASKS, count, limit) {
                txn.rollback().await?;
                return Err(e);
            }
        }
        self.finish_insert(txn, task, events).await
    }

    /// Stores the occurrence of a recurring series named `key`, with its events — unless that
    /// occurrence already exists, in which case nothing is written and the answer is `false`.
    pub(super) async fn insert_occurrence(
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
        txn: DatabaseTransaction,
        task: &Task,
        events: &[TaskEvent],
    ) -> Result<(), StoreError> {
        insert_reminders(&txn, task).await?;
        self.outbox.enqueue(&txn, events).await?;
        txn.commit().await?;
        self.outbox.notify();
        Ok(())
    }

    /// Writes `changes` and their events if the task is still at `expected_version`; otherwise
    /// [`StoreError::VersionConflict`] and nothing is written.
    pub(super) async fn write_update(
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

    /// Deletes the task if it is still at `task.version`, with its events; `VersionConflict` if it
    /// changed (the caller re-reads), `Ok(false)` if it is gone.
    pub(super) async fn remove(&self, task: &Task, events: &[TaskEvent]) -> Result<bool, StoreError> {
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
