//! Tasks and their reminder rules: reads here, writes only through the commands.
//!
//! The commands (`commands.rs`: [`TaskRepo::create`], [`TaskRepo::create_occurrence`],
//! [`TaskRepo::apply_update`], [`TaskRepo::delete_by_id`]) are the one way to write a task: each
//! builds its own events and commits them with the change. The raw writes that take an events slice
//! (`writes.rs`) are private to this module, so "a change and its events commit together" is
//! enforced by the compiler rather than by convention.

mod calendar;
mod commands;
mod cursor;
mod mapping;
mod query;
mod stats;
mod writes;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use taskflow_domain::Task;
use uuid::Uuid;

use crate::entity::{task_reminders, tasks};
use crate::outbox::OutboxWriter;
use crate::{Quotas, StoreError};

pub use commands::UpdateError;
pub use cursor::CursorError;
pub use query::{SortBy, SortOrder, StatusFilter, TaskFilter, TaskPage};
pub use stats::TaskStats;

pub struct TaskRepo<'a> {
    db: &'a DatabaseConnection,
    outbox: &'a OutboxWriter,
    quotas: Quotas,
}

impl<'a> TaskRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection, outbox: &'a OutboxWriter, quotas: Quotas) -> Self {
        Self { db, outbox, quotas }
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

    pub async fn list(&self, user_id: &str, filter: &TaskFilter) -> Result<TaskPage, StoreError> {
        query::list(self.db, user_id, filter).await
    }

    /// The statement [`Self::list`] runs for these arguments, as sent to this database (for
    /// `EXPLAIN` in tests and benchmarks). Fails as `list` does on a bad cursor.
    pub fn list_statement(&self, user_id: &str, filter: &TaskFilter) -> Result<Statement, StoreError> {
        query::list_statement(self.db.get_database_backend(), user_id, filter)
    }

    /// The user's tasks with a due date for a calendar feed, latest due first, at most `limit`;
    /// completed ones only with `include_completed`.
    pub async fn calendar_feed(
        &self,
        user_id: &str,
        include_completed: bool,
        limit: u64,
    ) -> Result<Vec<Task>, StoreError> {
        calendar::feed_tasks(self.db, user_id, include_completed, limit).await
    }

    pub async fn stats(&self, user_id: &str, now: DateTime<Utc>) -> Result<TaskStats, StoreError> {
        stats::stats(self.db, user_id, now).await
    }
}
