//! The events every service agrees on: what happened to a task, as published on the bus.
//!
//! These are the `data` of the CloudEvents (the envelope is the bus crate's business). Each carries a
//! full snapshot of the task, so a consumer never has to call back to the API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::task::{Task, TaskChanges};

/// The kinds of event, one topic each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum EventType {
    TaskCreated,
    TaskUpdated,
    TaskCompleted,
    TaskDeleted,
    ReminderDue,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        Self::TaskCreated,
        Self::TaskUpdated,
        Self::TaskCompleted,
        Self::TaskDeleted,
        Self::ReminderDue,
    ];

    /// The pub/sub topic.
    pub fn topic(self) -> &'static str {
        match self {
            Self::TaskCreated => "task-created",
            Self::TaskUpdated => "task-updated",
            Self::TaskCompleted => "task-completed",
            Self::TaskDeleted => "task-deleted",
            Self::ReminderDue => "reminder-due",
        }
    }

    /// The CloudEvent `type`.
    pub fn cloud_event_type(self) -> &'static str {
        match self {
            Self::TaskCreated => "com.taskflow.task.created.v1",
            Self::TaskUpdated => "com.taskflow.task.updated.v1",
            Self::TaskCompleted => "com.taskflow.task.completed.v1",
            Self::TaskDeleted => "com.taskflow.task.deleted.v1",
            Self::ReminderDue => "com.taskflow.reminder.due.v1",
        }
    }

    pub fn from_topic(topic: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.topic() == topic)
    }
}

/// One field's value before and after an update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub before: Value,
    pub after: Value,
}

/// The reminder a `reminder-due` event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderFired {
    /// The notification it created.
    pub notification_id: Uuid,
    /// The reminder rule that fired; `None` for the user's default "due soon" reminder.
    pub reminder_id: Option<Uuid>,
    pub remind_at: DateTime<Utc>,
    /// Fired after its time (the service was down or behind).
    pub late: bool,
}

/// The payload of every task event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    pub event_id: Uuid,
    pub event_type: EventType,
    pub user_id: String,
    pub occurred_at: DateTime<Utc>,
    /// The task after the change (before it, for `task-deleted`).
    pub task: Task,
    /// `task-updated`: each changed field, before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<BTreeMap<String, FieldChange>>,
    /// `task-completed`: `true` when completed, `false` when reopened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    /// `reminder-due`: which reminder fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<ReminderFired>,
}

impl TaskEvent {
    fn new(event_type: EventType, task: &Task, now: DateTime<Utc>) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type,
            user_id: task.user_id.clone(),
            occurred_at: now,
            task: task.clone(),
            changes: None,
            completed: None,
            reminder: None,
        }
    }

    pub fn created(task: &Task, now: DateTime<Utc>) -> Self {
        Self::new(EventType::TaskCreated, task, now)
    }

    pub fn deleted(task: &Task, now: DateTime<Utc>) -> Self {
        Self::new(EventType::TaskDeleted, task, now)
    }

    pub fn reminder_due(task: &Task, reminder: ReminderFired, now: DateTime<Utc>) -> Self {
        Self {
            reminder: Some(reminder),
            ..Self::new(EventType::ReminderDue, task, now)
        }
    }

    /// The events an applied update produces: `task-updated` for field changes, then `task-completed`
    /// when the completion flipped. An update that changed nothing produces none.
    pub fn for_changes(before: &Task, changes: &TaskChanges, now: DateTime<Utc>) -> Vec<Self> {
        let after = &changes.task;
        let (old, new) = (
            serde_json::to_value(before).unwrap_or_default(),
            serde_json::to_value(after).unwrap_or_default(),
        );
        let fields: BTreeMap<String, FieldChange> = changes
            .changed
            .iter()
            .filter(|f| **f != "completed")
            .map(|f| {
                let change = FieldChange {
                    before: old.get(*f).cloned().unwrap_or(Value::Null),
                    after: new.get(*f).cloned().unwrap_or(Value::Null),
                };
                ((*f).to_owned(), change)
            })
            .collect();
        let mut events = Vec::new();
        if !fields.is_empty() {
            events.push(Self {
                changes: Some(fields),
                ..Self::new(EventType::TaskUpdated, after, now)
            });
        }
        if changes.changed.contains(&"completed") {
            events.push(Self {
                completed: Some(after.completed),
                ..Self::new(EventType::TaskCompleted, after, now)
            });
        }
        events
    }

    /// Events of one user stay in order on a partitioned broker.
    pub fn partition_key(&self) -> &str {
        &self.user_id
    }

    pub fn topic(&self) -> &'static str {
        self.event_type.topic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskUpdate;
    use crate::{CreateTask, time};

    fn task() -> Task {
        let body: CreateTask = serde_json::from_str(r#"{"title":"Pay rent","priority":"high"}"#).unwrap();
        body.validate().unwrap().into_task("u1", time::now())
    }

    #[test]
    fn an_update_reports_each_changed_field_before_and_after() {
        let before = task();
        let update: TaskUpdate =
            serde_json::from_str(r#"{"title":"Pay the rent","priority":"low"}"#).unwrap();
        let changes = update.apply(&before, time::now()).unwrap();
        let events = TaskEvent::for_changes(&before, &changes, time::now());
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.event_type, EventType::TaskUpdated);
        let c = e.changes.as_ref().unwrap();
        assert_eq!(c["title"].before, "Pay rent");
        assert_eq!(c["title"].after, "Pay the rent");
        assert_eq!(c["priority"].after, "low");
        assert_eq!(e.task.version, 2);
    }

    #[test]
    fn completion_is_its_own_event_and_says_which_way() {
        let before = task();
        let done = TaskUpdate::completion(true).apply(&before, time::now()).unwrap();
        let events = TaskEvent::for_changes(&before, &done, time::now());
        assert_eq!(
            events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
            vec![EventType::TaskCompleted]
        );
        assert_eq!(events[0].completed, Some(true));
        let reopened = TaskUpdate::completion(false)
            .apply(&done.task, time::now())
            .unwrap();
        assert_eq!(
            TaskEvent::for_changes(&done.task, &reopened, time::now())[0].completed,
            Some(false)
        );

        let both: TaskUpdate = serde_json::from_str(r#"{"title":"x","completed":true}"#).unwrap();
        let changes = both.apply(&before, time::now()).unwrap();
        let kinds: Vec<_> = TaskEvent::for_changes(&before, &changes, time::now())
            .iter()
            .map(|e| e.event_type)
            .collect();
        assert_eq!(kinds, vec![EventType::TaskUpdated, EventType::TaskCompleted]);
        let nothing = TaskUpdate::default().apply(&before, time::now()).unwrap();
        assert!(TaskEvent::for_changes(&before, &nothing, time::now()).is_empty());
    }

    #[test]
    fn events_round_trip_through_json() {
        let e = TaskEvent::created(&task(), time::now());
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event_type"], "task-created");
        assert!(json.get("changes").is_none());
        assert_eq!(serde_json::from_value::<TaskEvent>(json).unwrap(), e);
    }
}
