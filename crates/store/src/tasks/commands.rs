//! The task commands: the only way to write a task, for the REST handlers, the assistant's tools and
//! recurring alike. Each builds its own events (`task-created`, `task-updated`/`task-completed`,
//! `task-deleted`) and commits them with the change, so a caller cannot forget them or get them
//! wrong. Updates and deletes are read-modify-write with optimistic concurrency: they retry lost
//! races and honour a pinned version.

use taskflow_domain::{Task, TaskEvent, TaskUpdate, ValidationError, time};
use uuid::Uuid;

use super::TaskRepo;
use crate::StoreError;

/// Attempts at a write without a pinned version before giving up (another writer kept winning).
const ATTEMPTS: usize = 3;

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("task not found")]
    NotFound,
    /// The caller pinned a version and the task has moved on.
    #[error("the task is at version {current}, not {expected}; fetch it and try again")]
    VersionMismatch { current: i64, expected: i64 },
    /// The caller pinned a version and another writer changed the task between read and write.
    #[error("the task changed; fetch it and try again")]
    Changed,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TaskRepo<'_> {
    /// Stores a new task with its `task-created` event (occurring at the task's `created_at`).
    pub async fn create(&self, task: &Task) -> Result<(), StoreError> {
        self.insert(task, &[TaskEvent::created(task, task.created_at)])
            .await
    }

    /// Stores the occurrence of a recurring series named `key`, with its `task-created` event
    /// (occurring at the task's `created_at`) — unless that occurrence already exists, in which case
    /// nothing is written and the answer is `false`.
    pub async fn create_occurrence(&self, task: &Task, key: &str) -> Result<bool, StoreError> {
        self.insert_occurrence(task, key, &[TaskEvent::created(task, task.created_at)])
            .await
    }

    /// Applies `update` to the user's task. With `expected` set, only at that version; without it,
    /// lost races are retried on a fresh read. A no-op update writes nothing and returns the task.
    pub async fn apply_update(
        &self,
        user_id: &str,
        id: Uuid,
        expected: Option<i64>,
        update: &TaskUpdate,
    ) -> Result<Task, UpdateError> {
        for _ in 0..ATTEMPTS {
            let current = self.get(user_id, id).await?.ok_or(UpdateError::NotFound)?;
            if let Some(v) = expected
                && v != current.version
            {
                return Err(UpdateError::VersionMismatch {
                    current: current.version,
                    expected: v,
                });
            }
            let now = time::now();
            let changes = update.apply(&current, now)?;
            if changes.is_empty() {
                return Ok(current);
            }
            let events = TaskEvent::for_changes(&current, &changes, now);
            match self.write_update(current.version, &changes, &events).await {
                Ok(()) => return Ok(changes.task),
                Err(StoreError::VersionConflict) if expected.is_none() => continue,
                Err(StoreError::VersionConflict) => return Err(UpdateError::Changed),
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::VersionConflict.into())
    }

    /// Deletes the user's task with its `task-deleted` event, retrying if it changes meanwhile.
    /// Returns the deleted task, or `None` when there was none.
    pub async fn delete_by_id(&self, user_id: &str, id: Uuid) -> Result<Option<Task>, StoreError> {
        for _ in 0..ATTEMPTS {
            let Some(task) = self.get(user_id, id).await? else {
                return Ok(None);
            };
            match self
                .remove(&task, &[TaskEvent::deleted(&task, time::now())])
                .await
            {
                Ok(true) => return Ok(Some(task)),
                Ok(false) => return Ok(None),
                Err(StoreError::VersionConflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::VersionConflict)
    }
}
