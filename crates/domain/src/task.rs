//! The task: its fields, what a client may send to create or change one, and how a change is applied.
//!
//! Validation lives here and nowhere else, so the REST API, the assistant and the MCP tools accept and
//! refuse exactly the same things.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::recurrence::{Recurrence, RecurrenceInput};
use crate::reminder::{ReminderSpec, validate_reminders};
use crate::{ValidationError, predecessor_fields, tags, text, time};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Medium, Priority::High];

    /// Sort rank as stored: higher is more urgent.
    pub fn rank(self) -> i16 {
        match self {
            Self::Low => 0,
            Self::Medium => 1,
            Self::High => 2,
        }
    }

    pub fn from_rank(rank: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.rank() == rank)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Work,
    Personal,
    Home,
    #[default]
    Other,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Work,
        Category::Personal,
        Category::Home,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Work => "work",
            Self::Personal => "personal",
            Self::Home => "home",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// A reminder as stored on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reminder {
    pub id: Uuid,
    /// When it fires (for a relative reminder: derived from the due date).
    pub remind_at: DateTime<Utc>,
    /// Set for reminders relative to the due date.
    pub minutes_before_due: Option<u32>,
    pub fired_at: Option<DateTime<Utc>>,
}

impl Reminder {
    pub fn spec(&self) -> ReminderSpec {
        match self.minutes_before_due {
            Some(m) => ReminderSpec {
                remind_at: None,
                minutes_before_due: Some(m),
            },
            None => ReminderSpec {
                remind_at: Some(self.remind_at),
                minutes_before_due: None,
            },
        }
    }
}

/// A task as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    pub id: Uuid,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    pub priority: Priority,
    pub category: Category,
    pub tags: Vec<String>,
    pub completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub recurrence: Option<Recurrence>,
    pub reminders: Vec<Reminder>,
    /// The first task of the recurring series this task belongs to.
    pub parent_task_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented on every change; send it back in `If-Match` to update safely.
    pub version: i64,
}

impl Task {
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.completed && self.due_at.is_some_and(|d| d < now)
    }
}

/// The body of a create request.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1–200 characters, no control characters, not blank; stored trimmed.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$",
            example = "Pay rent"
        )
    )]
    pub title: String,
    /// At most 10 000 characters; tab and newlines are the only control characters allowed.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 10000, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")
    )]
    pub description: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub category: Option<Category>,
    /// Up to 20 tags; `#Work` and `work` are the same tag.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20, example = json!(["home", "bills"])))]
    pub tags: Option<Vec<String>>,
    /// When the task is due. Also accepted as `due_date`, the predecessors' name (not both).
    #[serde(default, alias = "due_date")]
    #[cfg_attr(feature = "openapi", schema(example = "2030-01-01T09:00:00Z"))]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub recurrence: Option<RecurrenceInput>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub reminders: Option<Vec<ReminderSpec>>,
    /// The predecessors' repetition (`daily`, `weekly`, `monthly`, `yearly`, or any rule
    /// `recurrence` takes); use `recurrence` instead. Not with `recurrence`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(deprecated, max_length = 1000))]
    pub recurring_rule: Option<String>,
    /// The predecessors' end of the series, with `recurring_rule`; use `recurrence.ends_at`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(deprecated))]
    pub recurring_end_date: Option<DateTime<Utc>>,
    /// The predecessors' one reminder at an instant; use `reminders: [{"remind_at": …}]`. Not with
    /// `reminders`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(deprecated))]
    pub reminder_at: Option<DateTime<Utc>>,
}

/// A validated task ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub title: String,
    pub description: Option<String>,
    pub priority: Priority,
    pub category: Category,
    pub tags: Vec<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub recurrence: Option<Recurrence>,
    pub reminders: Vec<ReminderSpec>,
    pub parent_task_id: Option<Uuid>,
}

impl NewTask {
    /// The task this creates for `user_id` at `now`, with fresh ids for it and its reminders.
    pub fn into_task(self, user_id: &str, now: DateTime<Utc>) -> Task {
        let reminders = build_reminders(&self.reminders, self.due_at, &[]);
        let recurrence = self.recurrence.map(|r| Recurrence {
            starts_at: r.starts_at.or(self.due_at),
            ..r
        });
        Task {
            id: Uuid::now_v7(),
            user_id: user_id.to_owned(),
            title: self.title,
            description: self.description,
            priority: self.priority,
            category: self.category,
            tags: self.tags,
            completed: false,
            completed_at: None,
            due_at: self.due_at,
            recurrence,
            reminders,
            parent_task_id: self.parent_task_id,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// Turns rules into reminders, sorted by time. A rule that yields the same instant as an existing
/// reminder keeps that reminder (its id and whether it fired); anything else is new and unfired.
pub fn build_reminders(
    specs: &[ReminderSpec],
    due_at: Option<DateTime<Utc>>,
    existing: &[Reminder],
) -> Vec<Reminder> {
    let mut out: Vec<Reminder> = specs
        .iter()
        .filter_map(|spec| {
            let remind_at = spec.fire_time(due_at)?;
            let kept = existing
                .iter()
                .find(|r| r.remind_at == remind_at && r.minutes_before_due == spec.minutes_before_due);
            Some(kept.cloned().unwrap_or(Reminder {
                id: Uuid::now_v7(),
                remind_at,
                minutes_before_due: spec.minutes_before_due,
                fired_at: None,
            }))
        })
        .collect();
    out.sort_by_key(|r| (r.remind_at, r.id));
    out
}

fn title(raw: &str) -> Result<String, ValidationError> {
    text::single_line("title", raw, MAX_TITLE_CHARS)
}

fn description(raw: Option<&str>) -> Result<Option<String>, ValidationError> {
    raw.map(|d| text::multi_line("description", d, MAX_DESCRIPTION_CHARS))
        .transpose()
        .map(Option::flatten)
}

fn recurrence(raw: Option<&RecurrenceInput>) -> Result<Option<Recurrence>, ValidationError> {
    raw.map(RecurrenceInput::validate).transpose()
}

impl CreateTask {
    /// A task to create with the title alone; the other fields as absent.
    pub fn titled(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            description: None,
            priority: None,
            category: None,
            tags: None,
            due_at: None,
            recurrence: None,
            reminders: None,
            recurring_rule: None,
            recurring_end_date: None,
            reminder_at: None,
        }
    }

    /// Whether validating means evaluating a recurrence rule, the one costly part (milliseconds
    /// within its step budget): callers run such a validation off the async workers, and the rest
    /// inline, where a hop to another thread would cost more than the checks.
    pub fn sends_recurrence(&self) -> bool {
        self.recurrence.is_some() || self.recurring_rule.is_some()
    }

    pub fn validate(&self) -> Result<NewTask, ValidationError> {
        let due_at = self.due_at.map(time::truncate);
        let recurrence_input = predecessor_fields::recurrence(
            self.recurrence.as_ref().map(Some),
            self.recurring_rule.as_deref().map(Some),
            self.recurring_end_date.map(Some),
        )?
        .flatten();
        let reminders = predecessor_fields::reminders(self.reminders.as_deref(), self.reminder_at.map(Some))?;
        let new = NewTask {
            title: title(&self.title)?,
            description: description(self.description.as_deref())?,
            priority: self.priority.unwrap_or_default(),
            category: self.category.unwrap_or_default(),
            tags: tags::normalise_tags(self.tags.as_deref().unwrap_or_default())?,
            due_at,
            recurrence: recurrence(recurrence_input.as_ref())?,
            reminders: validate_reminders(reminders.as_deref().unwrap_or_default(), due_at)?,
            parent_task_id: None,
        };
        // Last, as it is the costliest check: the rule must give a second date.
        if let Some(rec) = &new.recurrence {
            rec.rule.check_repeats(due_at.unwrap_or_else(time::now))?;
        }
        Ok(new)
    }
}

/// A whole number sent as `16` or `16.0`: JSON Schema's `integer` includes both, serde's `u32` only
/// the first. Anything else (a fraction, a negative number, a string) is refused.
pub fn whole_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::{Error, Unexpected};
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let expected = &"a whole number from 0 to 4294967295";
    if let Some(u) = n.as_u64() {
        return u32::try_from(u)
            .map(Some)
            .map_err(|_| D::Error::invalid_value(Unexpected::Unsigned(u), expected));
    }
    if let Some(i) = n.as_i64() {
        return Err(D::Error::invalid_value(Unexpected::Signed(i), expected));
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Ok(Some(f as u32));
    }
    Err(D::Error::invalid_value(Unexpected::Float(f), expected))
}

/// [`whole_u32`] that also tells absent from `null`, like [`nullable`].
pub fn nullable_whole_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    whole_u32(d).map(Some)
}

/// Tells "field absent" (`None`) from "field set to null" (`Some(None)`); use with `#[serde(default)]`.
pub fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The body of an update: every field optional; `null` clears a nullable field.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskUpdate {
    /// As on create: 1–200 characters, no control characters, not blank.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub title: Option<String>,
    /// As on create; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, nullable, max_length = 10000, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")
    )]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub category: Option<Category>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub completed: Option<bool>,
    /// Also accepted as `due_date`, the predecessors' name (not both); `null` clears it.
    #[serde(default, alias = "due_date", deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DateTime<Utc>>, nullable))]
    pub due_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<RecurrenceInput>, nullable))]
    pub recurrence: Option<Option<RecurrenceInput>>,
    /// Replaces the task's reminders when present.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub reminders: Option<Vec<ReminderSpec>>,
    /// The predecessors' repetition, as on create; `null` stops it. Use `recurrence`.
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable, deprecated, max_length = 1000))]
    pub recurring_rule: Option<Option<String>>,
    /// The predecessors' end of the series, with `recurring_rule`. Use `recurrence.ends_at`.
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DateTime<Utc>>, nullable, deprecated))]
    pub recurring_end_date: Option<Option<DateTime<Utc>>>,
    /// The predecessors' one reminder at an instant, replacing the task's reminders; `null` removes
    /// them. Use `reminders`.
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DateTime<Utc>>, nullable, deprecated))]
    pub reminder_at: Option<Option<DateTime<Utc>>>,
}

/// The outcome of applying an update: the task as it would become, and what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskChanges {
    pub task: Task,
    /// Names of the fields whose value changed, in a stable order.
    pub changed: Vec<&'static str>,
    /// Whether the stored reminders must be rewritten from `task.reminders`.
    pub reminders_replaced: bool,
}

impl TaskChanges {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty()
    }
}

impl TaskUpdate {
    /// A completion toggle expressed as an update.
    pub fn completion(completed: bool) -> Self {
        Self {
            completed: Some(completed),
            ..Self::default()
        }
    }

    /// The costly part of [`Self::apply`] on its own: a sent rule must parse and repeat from the sent
    /// due date (or `now`). Callers run this off the async workers first, so that what `apply` then
    /// checks inside the store's transaction is already known to be cheap.
    pub fn check_recurrence(&self, now: DateTime<Utc>) -> Result<(), ValidationError> {
        let Some(Some(input)) = self.recurrence_field()? else {
            return Ok(());
        };
        let rec = input.validate()?;
        rec.rule
            .check_repeats(self.due_at.flatten().map_or(now, time::truncate))
    }

    /// Whether [`Self::check_recurrence`] has a rule to evaluate (see [`CreateTask::sends_recurrence`]).
    pub fn sends_recurrence(&self) -> bool {
        matches!(self.recurrence, Some(Some(_))) || matches!(self.recurring_rule, Some(Some(_)))
    }

    /// `recurrence`, or the predecessors' `recurring_rule` and `recurring_end_date`.
    fn recurrence_field(&self) -> Result<Option<Option<RecurrenceInput>>, ValidationError> {
        predecessor_fields::recurrence(
            self.recurrence.as_ref().map(Option::as_ref),
            self.recurring_rule.as_ref().map(Option::as_deref),
            self.recurring_end_date,
        )
    }

    /// Validates the update against `current` and returns the task it produces at `now`.
    pub fn apply(&self, current: &Task, now: DateTime<Utc>) -> Result<TaskChanges, ValidationError> {
        let sent_recurrence = self.recurrence_field()?;
        let sent_reminders = predecessor_fields::reminders(self.reminders.as_deref(), self.reminder_at)?;
        let mut next = current.clone();
        let mut changed = Vec::new();
        macro_rules! set {
            ($field:ident, $value:expr) => {{
                let value = $value;
                if next.$field != value {
                    next.$field = value;
                    changed.push(stringify!($field));
                }
            }};
        }
        if let Some(t) = &self.title {
            set!(title, title(t)?);
        }
        if let Some(d) = &self.description {
            set!(description, description(d.as_deref())?);
        }
        if let Some(p) = self.priority {
            set!(priority, p);
        }
        if let Some(c) = self.category {
            set!(category, c);
        }
        if let Some(t) = &self.tags {
            set!(tags, tags::normalise_tags(t)?);
        }
        if let Some(d) = self.due_at {
            set!(due_at, d.map(time::truncate));
        }
        if let Some(r) = &sent_recurrence {
            let mut rec = recurrence(r.as_ref())?;
            if let Some(new) = rec.as_mut() {
                // A re-sent rule keeps the task's place in its series; an unchanged one keeps its anchor too.
                let old = current.recurrence.as_ref();
                new.occurrence = old.map_or(1, |o| o.occurrence);
                new.starts_at = old
                    .filter(|o| o.rule == new.rule && o.anchor == new.anchor)
                    .and_then(|o| o.starts_at);
            }
            set!(recurrence, rec);
        }
        // The schedule counts from the due date a user last set.
        if let Some(rec) = next.recurrence.as_mut()
            && (rec.starts_at.is_none() || next.due_at != current.due_at)
        {
            rec.starts_at = next.due_at;
        }
        // A rule sent, or a due date moved under one, must still give a second date.
        if let Some(rec) = &next.recurrence
            && (matches!(sent_recurrence, Some(Some(_))) || next.due_at != current.due_at)
        {
            rec.rule
                .check_repeats(rec.starts_at.or(next.due_at).unwrap_or(now))?;
        }
        if let Some(done) = self.completed
            && next.completed != done
        {
            next.completed = done;
            next.completed_at = done.then_some(now);
            changed.push("completed");
        }

        let due_moved = next.due_at != current.due_at;
        let reminders = match &sent_reminders {
            Some(specs) => Some(validate_reminders(specs, next.due_at)?),
            None if due_moved && current.reminders.iter().any(|r| r.minutes_before_due.is_some()) => {
                let specs: Vec<ReminderSpec> = current.reminders.iter().map(Reminder::spec).collect();
                Some(validate_reminders(&specs, next.due_at)?)
            }
            None => None,
        };
        let reminders_replaced = match &reminders {
            Some(specs) => {
                next.reminders = build_reminders(specs, next.due_at, &current.reminders);
                if next.reminders != current.reminders {
                    changed.push("reminders");
                }
                true
            }
            None => false,
        };

        if !changed.is_empty() {
            next.updated_at = now;
            next.version = current.version + 1;
        }
        Ok(TaskChanges {
            task: next,
            changed,
            reminders_replaced,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        let now = time::now();
        Task {
            id: Uuid::now_v7(),
            user_id: "u1".into(),
            title: "Write report".into(),
            description: None,
            priority: Priority::Medium,
            category: Category::Work,
            tags: vec![],
            completed: false,
            completed_at: None,
            due_at: Some("2026-05-01T10:00:00Z".parse().unwrap()),
            recurrence: None,
            reminders: vec![Reminder {
                id: Uuid::now_v7(),
                remind_at: "2026-05-01T09:30:00Z".parse().unwrap(),
                minutes_before_due: Some(30),
                fired_at: None,
            }],
            parent_task_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    fn update(json: &str) -> TaskUpdate {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn create_validates_and_normalises() {
        let body: CreateTask = serde_json::from_str(
            r##"{"title":"  Pay rent ","tags":["#Home","home"],"recurrence":"monthly","priority":"high"}"##,
        )
        .unwrap();
        let new = body.validate().unwrap();
        assert_eq!(new.title, "Pay rent");
        assert_eq!(new.tags, vec!["home"]);
        assert_eq!(new.priority, Priority::High);
        assert_eq!(new.category, Category::Other);
        assert!(new.recurrence.is_some());
    }

    #[test]
    fn create_names_the_bad_field() {
        let cases = [
            (r#"{"title":"   "}"#, "title"),
            (r#"{"title":"a\u0000b"}"#, "title"),
            (r#"{"title":"ok","recurrence":"fortnightly"}"#, "recurrence.rule"),
            (
                r#"{"title":"ok","reminders":[{"minutes_before_due":10}]}"#,
                "reminders[0].minutes_before_due",
            ),
            (r#"{"title":"ok","tags":["a b c", ""]}"#, "tags"),
        ];
        for (json, field) in cases {
            let body: CreateTask = serde_json::from_str(json).unwrap();
            assert_eq!(body.validate().unwrap_err().field, field, "{json}");
        }
        let long = format!(r#"{{"title":"{}"}}"#, "x".repeat(201));
        let body: CreateTask = serde_json::from_str(&long).unwrap();
        assert_eq!(body.validate().unwrap_err().field, "title");
        assert!(serde_json::from_str::<CreateTask>(r#"{"title":"x","colour":"red"}"#).is_err());
    }

    #[test]
    fn update_tells_absent_from_null() {
        let mut current = task();
        current.description = Some("keep".into());
        let kept = update(r#"{"title":"New"}"#).apply(&current, time::now()).unwrap();
        assert_eq!(kept.task.description.as_deref(), Some("keep"));
        assert_eq!(kept.changed, vec!["title"]);
        let cleared = update(r#"{"description":null}"#)
            .apply(&current, time::now())
            .unwrap();
        assert_eq!(cleared.task.description, None);
        assert_eq!(cleared.task.version, 2);
    }

    #[test]
    fn an_update_that_changes_nothing_keeps_the_version() {
        let current = task();
        let same = update(r#"{"title":"Write report","priority":"medium"}"#)
            .apply(&current, time::now())
            .unwrap();
        assert!(same.is_empty());
        assert_eq!(same.task.version, current.version);
    }

    #[test]
    fn moving_the_due_date_moves_relative_reminders() {
        let current = task();
        let moved = update(r#"{"due_at":"2026-05-02T10:00:00Z"}"#)
            .apply(&current, time::now())
            .unwrap();
        assert_eq!(moved.changed, vec!["due_at", "reminders"]);
        assert!(moved.reminders_replaced);
        assert_eq!(moved.task.reminders[0].minutes_before_due, Some(30));
        assert_eq!(
            moved.task.reminders[0].remind_at,
            "2026-05-02T09:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let err = update(r#"{"due_at":null}"#)
            .apply(&current, time::now())
            .unwrap_err();
        assert_eq!(err.field, "reminders[0].minutes_before_due");
    }

    #[test]
    fn unchanged_reminders_keep_their_identity_and_fired_state() {
        let mut current = task();
        current.reminders[0].fired_at = Some(time::now());
        let same = update(r#"{"reminders":[{"minutes_before_due":30}],"title":"x"}"#)
            .apply(&current, time::now())
            .unwrap();
        assert_eq!(same.task.reminders, current.reminders);
        assert_eq!(same.changed, vec!["title"]);
        let added = update(r#"{"reminders":[{"minutes_before_due":30},{"minutes_before_due":5}]}"#)
            .apply(&current, time::now())
            .unwrap();
        assert_eq!(added.task.reminders.len(), 2);
        assert!(added.task.reminders.contains(&current.reminders[0]));
        assert_eq!(added.changed, vec!["reminders"]);
    }

    #[test]
    fn completing_stamps_and_uncompleting_clears() {
        let now = time::now();
        let done = TaskUpdate::completion(true).apply(&task(), now).unwrap();
        assert_eq!(done.task.completed_at, Some(now));
        let undone = TaskUpdate::completion(false).apply(&done.task, now).unwrap();
        assert_eq!(undone.task.completed_at, None);
        assert_eq!(undone.changed, vec!["completed"]);
    }
}
