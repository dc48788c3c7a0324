//! Conversions between the domain's `Task` and the stored rows.

use sea_orm::ActiveValue::Set;
use taskflow_domain::{Category, Priority, Recurrence, Reminder, Task};

use crate::StoreError;
use crate::entity::{task_reminders, tasks};

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(super) fn active_task(task: &Task) -> Result<tasks::ActiveModel, StoreError> {
    let recurrence = task
        .recurrence
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(corrupt)?;
    Ok(tasks::ActiveModel {
        id: Set(task.id),
        user_id: Set(task.user_id.clone()),
        title: Set(task.title.clone()),
        description: Set(task.description.clone()),
        priority: Set(task.priority.rank()),
        category: Set(task.category.as_str().to_owned()),
        tags: Set(serde_json::Value::from(task.tags.clone())),
        completed: Set(task.completed),
        completed_at: Set(task.completed_at),
        due_at: Set(task.due_at),
        recurrence: Set(recurrence),
        parent_task_id: Set(task.parent_task_id),
        created_at: Set(task.created_at),
        updated_at: Set(task.updated_at),
        version: Set(task.version),
        occurrence_key: sea_orm::ActiveValue::NotSet,
    })
}

pub(super) fn reminder(m: task_reminders::Model) -> Reminder {
    Reminder {
        id: m.id,
        remind_at: m.remind_at,
        minutes_before_due: m.minutes_before_due.and_then(|v| u32::try_from(v).ok()),
        fired_at: m.fired_at,
    }
}

pub(super) fn task(m: tasks::Model, reminders: Vec<task_reminders::Model>) -> Result<Task, StoreError> {
    let priority =
        Priority::from_rank(m.priority).ok_or_else(|| corrupt(format!("priority {}", m.priority)))?;
    let category = Category::parse(&m.category).ok_or_else(|| corrupt(format!("category {}", m.category)))?;
    let tags: Vec<String> = serde_json::from_value(m.tags).map_err(|e| corrupt(format!("tags: {e}")))?;
    let recurrence: Option<Recurrence> = m
        .recurrence
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| corrupt(format!("recurrence: {e}")))?;
    Ok(Task {
        id: m.id,
        user_id: m.user_id,
        title: m.title,
        description: m.description,
        priority,
        category,
        tags,
        completed: m.completed,
        completed_at: m.completed_at,
        due_at: m.due_at,
        recurrence,
        reminders: reminders.into_iter().map(reminder).collect(),
        parent_task_id: m.parent_task_id,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: m.version,
    })
}
