//! recurring: when a recurring task is completed, create its next occurrence — exactly once.
//!
//! "Exactly once" rests on the occurrence key (`{series}:{position}`, unique in the database), not on
//! the event id: a redelivered event, a complete → reopen → complete sequence and two replicas all
//! compute the same key, and only the first insert wins. The new task's `task-created` event is
//! written to the outbox in the same transaction. The task to repeat is read from the database:
//! the event only names it, so an event someone forged on the broker cannot create tasks.

use actix_web::web;
use chrono_tz::Tz;
use taskflow_bus::{HandlerFuture, Outcome, ReceivedEvent, Subscription, TaskEventHandler, task_handler};
use taskflow_domain::{TaskEvent, series, time};
use taskflow_store::{Store, StoreError};

pub const SERVICE: &str = "recurring";
pub const DEFAULT_PORT: u16 = 8003;

pub struct NextOccurrence {
    store: Store,
}

impl NextOccurrence {
    /// The next occurrences it writes are recurring's events, published by recurring's relay.
    pub fn new(store: Store) -> Self {
        Self {
            store: store.publishing_as(SERVICE),
        }
    }

    async fn on_completed(&self, event: TaskEvent) -> Outcome {
        if event.completed != Some(true) || event.task.recurrence.is_none() {
            return Outcome::Success;
        }
        let tz = match self.store.users().find(&event.user_id).await {
            Ok(Some(user)) => user.timezone.parse::<Tz>().unwrap_or(Tz::UTC),
            Ok(None) => return Outcome::Success,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        // The event says which task was completed; what to repeat comes from the database, never
        // from the event's snapshot, so a forged or stale event cannot make up a task.
        let task = match self.store.tasks().get(&event.user_id, event.task.id).await {
            Ok(Some(task)) if task.completed && task.recurrence.is_some() => task,
            Ok(_) => {
                tracing::info!(task_id = %event.task.id, "completed task is gone, reopened or no longer recurring; nothing to repeat");
                return Outcome::Success;
            }
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let task = &task;
        let now = time::now();
        let completed_at = task.completed_at.unwrap_or(event.occurred_at);
        // A user's rule is evaluated on the blocking pool, so a costly one cannot stall other events.
        let completed = task.clone();
        let next = match web::block(move || series::next_task(&completed, completed_at, tz, now)).await {
            Ok(Ok(Some(next))) => next,
            Ok(Ok(None)) => {
                tracing::info!(task_id = %task.id, "recurring series ended");
                return Outcome::Success;
            }
            // Evaluating it again would cost the same: the series cannot go on.
            Ok(Err(e)) => return Outcome::Drop(format!("task {}: {e}", task.id)),
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let position = next.recurrence.as_ref().map_or(0, |r| r.occurrence);
        let key = series::occurrence_key(series::series_id(task), position);
        match self.store.tasks().create_occurrence(&next, &key).await {
            Ok(true) => {
                tracing::info!(task_id = %next.id, series = %series::series_id(task), position, "next occurrence created");
                Outcome::Success
            }
            Ok(false) => {
                tracing::debug!(%key, "occurrence already exists");
                Outcome::Success
            }
            // The user is gone; there is nobody to create a task for.
            Err(StoreError::MissingReference) => Outcome::Success,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }
}

impl TaskEventHandler for NextOccurrence {
    fn handle<'a>(&'a self, event: TaskEvent, _: &'a ReceivedEvent) -> HandlerFuture<'a> {
        Box::pin(self.on_completed(event))
    }
}

/// recurring's subscriptions.
pub fn subscriptions(store: Store) -> Vec<Subscription> {
    vec![Subscription::new(
        SERVICE,
        "task-completed",
        task_handler(NextOccurrence::new(store)),
    )]
}
