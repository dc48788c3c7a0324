//! Running a tool call for one user: parse the arguments, turn phrases into values, act through the
//! store (the same read-modify-write and events as the REST API), and answer with a structured
//! result plus a one-line message.

use chrono::{DateTime, Datelike, Days, NaiveTime, TimeDelta, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use taskflow_domain::quick_add;
use taskflow_domain::recurrence::{Preset, Schedule, local_instant};
use taskflow_domain::{CreateTask, RecurrenceInput, RecurrenceRule, TaskUpdate, tags};
use taskflow_store::{SortBy, SortOrder, StatusFilter, TaskFilter, UpdateError};

use super::args::*;
use super::context::ToolContext;
use super::resolve::{Prefer, resolve};
use super::{ToolError, format};

/// Tasks a list shows by default, and at most.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 50;

/// What a tool call did.
#[derive(Debug, Clone)]
pub struct ToolOutcome {
    pub name: String,
    pub arguments: Value,
    /// Structured result: the task(s) or stats, or `{"error": {code, message, …}}`.
    pub result: Value,
    /// One human sentence (with status emojis) describing the result.
    pub message: String,
    pub ok: bool,
}

/// Runs `call` for the user in `ctx`. Failures are outcomes, never errors: the model or MCP client
/// reads them and corrects itself or asks the user.
pub async fn run(ctx: &ToolContext, call: &ToolCall) -> ToolOutcome {
    let result = dispatch(ctx, &call.name, &call.arguments).await;
    let known = super::catalogue::catalogue().iter().any(|t| t.name == call.name);
    let label = if known {
        call.name.clone()
    } else {
        "unknown".to_owned()
    };
    let (result, message, ok) = match result {
        Ok((result, message)) => (result, message, true),
        Err(e) => {
            if let ToolError::Store(cause) = &e
                && !matches!(cause, taskflow_store::StoreError::QuotaExceeded { .. })
            {
                tracing::error!(tool = %label, error = %cause, "tool call failed in the store");
            }
            (e.to_result(), format!("⚠️ {e}"), false)
        }
    };
    metrics::counter!("assistant_tool_calls_total", "tool" => label, "outcome" => if ok { "ok" } else { "error" })
        .increment(1);
    ToolOutcome {
        name: call.name.clone(),
        arguments: call.arguments.clone(),
        result,
        message,
        ok,
    }
}

type Answer = Result<(Value, String), ToolError>;

async fn dispatch(ctx: &ToolContext, name: &str, args: &Value) -> Answer {
    match name {
        "add_task" => add_task(ctx, parse(args)?).await,
        "list_tasks" => list_tasks(ctx, parse(args)?).await,
        "complete_task" => complete_task(ctx, parse(args)?).await,
        "delete_task" => delete_task(ctx, parse(args)?).await,
        "update_task" => update_task(ctx, parse(args)?).await,
        "get_stats" => get_stats(ctx, parse(args)?).await,
        "set_reminder" => set_reminder(ctx, parse(args)?).await,
        other => Err(ToolError::UnknownTool(other.to_owned())),
    }
}

fn parse<T: DeserializeOwned>(args: &Value) -> Result<T, ToolError> {
    // Models sometimes send `null` for "no arguments".
    let args = if args.is_null() { &json!({}) } else { args };
    serde_json::from_value(args.clone()).map_err(|e| ToolError::Arguments(e.to_string()))
}

fn is_none_word(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "none" | "no" | "never" | "clear" | "remove" | "null" | ""
    )
}

fn due(ctx: &ToolContext, phrase: &str) -> Result<DateTime<Utc>, ToolError> {
    quick_add::parse_when(phrase, ctx.now, ctx.tz).map_err(|e| ToolError::from_phrase("due", e))
}

fn recurrence(phrase: &str) -> Result<String, ToolError> {
    let rule = quick_add::parse_recurrence(phrase).map_err(|e| ToolError::from_phrase("recurrence", e))?;
    rule.parse::<RecurrenceRule>()
        .map_err(|e| ToolError::invalid("recurrence", e.message))?;
    Ok(rule)
}

/// The first date of a new series without a due date: its first day from today, at the end of the
/// day (as a date without a time is read everywhere else).
fn first_occurrence_at(
    rule: &str,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Result<DateTime<Utc>, ToolError> {
    let rule: RecurrenceRule = rule
        .parse()
        .map_err(|e: taskflow_domain::ValidationError| ToolError::invalid("recurrence", e.message))?;
    let today = now.with_timezone(&tz).date_naive();
    let end_of_day = NaiveTime::from_hms_opt(23, 59, 0).unwrap_or_default();
    match rule {
        // These presets repeat the start's own day (weekly on its weekday, monthly on its date…):
        // today is the first date.
        RecurrenceRule::Preset(p) if p != Preset::Weekdays => {
            return Ok(local_instant(tz, today, end_of_day).max(now));
        }
        _ => {}
    }
    // A schedule's start is always its first date (RFC 5545), so start the day before and take the
    // first date the rule itself produces.
    let yesterday = today.pred_opt().unwrap_or(today);
    let start = local_instant(tz, yesterday, end_of_day);
    Schedule::new(&rule, start, tz, None)
        .next_after(start)
        .map_err(|e| ToolError::invalid("recurrence", e.to_string()))?
        .ok_or_else(|| ToolError::invalid("recurrence", "this schedule has no date from today on"))
}

/// The task `add_task` would create from `a`, its phrases read for a user in `tz` at `now` (not yet
/// validated): what the tool and the REST quick-add share.
pub fn create_request(
    a: AddTaskArgs,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Result<CreateTask, ToolError> {
    let rule = a.recurrence.as_deref().map(recurrence).transpose()?;
    let due_at = match (a.due.as_deref(), rule.as_deref()) {
        (Some(d), _) => {
            Some(quick_add::parse_when(d, now, tz).map_err(|e| ToolError::from_phrase("due", e))?)
        }
        (None, Some(r)) => Some(first_occurrence_at(r, now, tz)?),
        (None, None) => None,
    };
    let reminder = a
        .remind
        .as_deref()
        .map(|r| quick_add::parse_reminder(r, now, tz).map_err(|e| ToolError::from_phrase("remind", e)))
        .transpose()?;
    Ok(CreateTask {
        description: a.description,
        priority: a.priority,
        category: a.category,
        tags: Some(a.tags),
        due_at,
        recurrence: rule.map(RecurrenceInput::Rule),
        reminders: reminder.map(|r| vec![r]),
        ..CreateTask::titled(a.title)
    })
}

/// Runs `f` on the blocking pool: reading a repeat phrase and checking its rule evaluates the rule,
/// which must not stall the async workers (the step budget bounds it, to milliseconds).
async fn off_worker<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ToolError::invalid("recurrence", format!("could not be evaluated: {e}")))?
}

async fn add_task(ctx: &ToolContext, a: AddTaskArgs) -> Answer {
    let (now, tz) = (ctx.now, ctx.tz);
    let task = off_worker(move || Ok(create_request(a, now, tz)?.validate()?))
        .await?
        .into_task(&ctx.user_id, ctx.now);
    ctx.store.tasks().create(&task).await?;
    tracing::info!(task_id = %task.id, "task created by the assistant");
    let message = format::created(&task, ctx.tz, ctx.now);
    Ok((json!({ "task": task }), message))
}

/// `[after, before)` of a due window, in the user's calendar (weeks start on Monday).
fn window(ctx: &ToolContext, w: DueWindow) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let today = ctx.now.with_timezone(&ctx.tz).date_naive();
    let midnight = |d: chrono::NaiveDate| local_instant(ctx.tz, d, NaiveTime::MIN);
    let day = |n: u64| today.checked_add_days(Days::new(n)).unwrap_or(today);
    let monday = today
        .checked_sub_days(Days::new(u64::from(today.weekday().num_days_from_monday())))
        .unwrap_or(today);
    let week = |n: u64| monday.checked_add_days(Days::new(7 * n)).unwrap_or(monday);
    let (from, to) = match w {
        DueWindow::Overdue => return (None, Some(ctx.now)),
        DueWindow::Today => (today, day(1)),
        DueWindow::Tomorrow => (day(1), day(2)),
        DueWindow::ThisWeek => (monday, week(1)),
        DueWindow::NextWeek => (week(1), week(2)),
    };
    // `due_after` is exclusive; step back one tick so midnight itself is in.
    (
        Some(midnight(from) - TimeDelta::microseconds(1)),
        Some(midnight(to)),
    )
}

async fn list_tasks(ctx: &ToolContext, a: ListTasksArgs) -> Answer {
    let limit = a.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::invalid(
            "limit",
            format!("must be from 1 to {MAX_LIMIT}"),
        ));
    }
    let status = match (a.status.unwrap_or_default(), a.due) {
        (_, Some(DueWindow::Overdue)) | (ListStatus::Pending, _) => StatusFilter::Pending,
        (ListStatus::Completed, _) => StatusFilter::Completed,
        (ListStatus::All, _) => StatusFilter::All,
    };
    let tags = a
        .tag
        .as_deref()
        .map(tags::normalise_tag)
        .transpose()?
        .into_iter()
        .collect();
    let (due_after, due_before) = a.due.map_or((None, None), |w| window(ctx, w));
    let filter = TaskFilter {
        status,
        priority: a.priority,
        category: a.category,
        tags,
        search: a.search.filter(|s| !s.trim().is_empty()),
        due_before,
        due_after,
        sort_by: SortBy::DueAt,
        sort_order: SortOrder::Asc,
        limit: u64::from(limit),
        cursor: None,
    };
    let page = ctx.store.tasks().list(&ctx.user_id, &filter).await?;
    let more = page.next_cursor.is_some();
    let message = format::list(&page.tasks, more, ctx.tz, ctx.now);
    Ok((
        json!({"tasks": page.tasks, "count": page.tasks.len(), "more": more}),
        message,
    ))
}

fn update_error(e: UpdateError) -> ToolError {
    match e {
        UpdateError::NotFound => ToolError::NotFound("the task no longer exists".to_owned()),
        UpdateError::VersionMismatch { .. } | UpdateError::Changed => {
            ToolError::Arguments("the task changed meanwhile; try again".to_owned())
        }
        UpdateError::Invalid(v) => v.into(),
        UpdateError::Store(s) => s.into(),
    }
}

async fn complete_task(ctx: &ToolContext, a: CompleteTaskArgs) -> Answer {
    let target = a.completed.unwrap_or(true);
    let prefer = if target {
        Prefer::Pending
    } else {
        Prefer::Completed
    };
    let task = resolve(ctx, &a.task, prefer).await?;
    let task = ctx
        .store
        .tasks()
        .apply_update(&ctx.user_id, task.id, None, &TaskUpdate::completion(target))
        .await
        .map_err(update_error)?;
    let message = format::completed(&task);
    Ok((json!({ "task": task }), message))
}

async fn delete_task(ctx: &ToolContext, a: DeleteTaskArgs) -> Answer {
    let task = resolve(ctx, &a.task, Prefer::Pending).await?;
    let deleted = ctx
        .store
        .tasks()
        .delete_by_id(&ctx.user_id, task.id)
        .await?
        .ok_or_else(|| ToolError::NotFound("the task no longer exists".to_owned()))?;
    let message = format::deleted(&deleted);
    Ok((
        json!({"deleted": {"id": deleted.id, "title": deleted.title}}),
        message,
    ))
}

async fn update_task(ctx: &ToolContext, a: UpdateTaskArgs) -> Answer {
    let current = resolve(ctx, &a.task, Prefer::Pending).await?;
    let mut changed = Vec::new();
    let mut mark = |name: &'static str, present: bool| {
        if present {
            changed.push(name);
        }
    };
    mark("title", a.title.is_some());
    mark("description", a.description.is_some());
    mark("priority", a.priority.is_some());
    mark("category", a.category.is_some());
    mark("tags", a.tags.is_some());
    mark("due", a.due.is_some());
    mark("recurrence", a.recurrence.is_some());
    if changed.is_empty() {
        return Err(ToolError::Arguments(
            "say what to change: title, description, priority, category, tags, due or recurrence".into(),
        ));
    }
    let due_at = match a.due.as_deref() {
        None => None,
        Some(d) if is_none_word(d) => Some(None),
        Some(d) => Some(Some(due(ctx, d)?)),
    };
    let rec = match a.recurrence.as_deref() {
        None => None,
        Some(r) if is_none_word(r) => Some(None),
        Some(r) => Some(Some(RecurrenceInput::Rule(recurrence(r)?))),
    };
    let update = TaskUpdate {
        title: a.title,
        description: a.description.map(Some),
        priority: a.priority,
        category: a.category,
        tags: a.tags,
        due_at,
        recurrence: rec,
        ..TaskUpdate::default()
    };
    let (update, now) = (std::sync::Arc::new(update), ctx.now);
    let check = std::sync::Arc::clone(&update);
    off_worker(move || Ok(check.check_recurrence(now)?)).await?;
    let task = ctx
        .store
        .tasks()
        .apply_update(&ctx.user_id, current.id, None, &update)
        .await
        .map_err(update_error)?;
    let message = format::updated(&task, &changed, ctx.tz, ctx.now);
    Ok((json!({"task": task, "changed": changed}), message))
}

async fn get_stats(ctx: &ToolContext, _: GetStatsArgs) -> Answer {
    let s = ctx.store.tasks().stats(&ctx.user_id, ctx.now).await?;
    let message = format::stats(&s);
    Ok((
        json!({
            "total": s.total,
            "pending": s.pending,
            "completed": s.completed,
            "overdue": s.overdue,
            "by_priority": s.by_priority,
            "by_category": s.by_category,
        }),
        message,
    ))
}

async fn set_reminder(ctx: &ToolContext, a: SetReminderArgs) -> Answer {
    let current = resolve(ctx, &a.task, Prefer::Pending).await?;
    let spec =
        quick_add::parse_reminder(&a.when, ctx.now, ctx.tz).map_err(|e| ToolError::from_phrase("when", e))?;
    let Some(at) = spec.fire_time(current.due_at) else {
        return Err(ToolError::invalid(
            "when",
            format!(
                "\"{}\" has no due date to count back from; give a time instead",
                current.title
            ),
        ));
    };
    let mut specs: Vec<_> = current.reminders.iter().map(|r| r.spec()).collect();
    specs.push(spec);
    let update = TaskUpdate {
        reminders: Some(specs),
        ..TaskUpdate::default()
    };
    let task = ctx
        .store
        .tasks()
        .apply_update(&ctx.user_id, current.id, None, &update)
        .await
        .map_err(update_error)?;
    let message = format::reminder_set(&task, at, ctx.tz, ctx.now);
    Ok((json!({"task": task, "remind_at": at}), message))
}

#[cfg(test)]
mod tests {
    use super::first_occurrence_at;
    use chrono::{DateTime, Utc};
    use chrono_tz::Tz;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_series_without_a_date_starts_on_its_first_date_from_today() {
        // Saturday 2026-11-21, 10:00 in New York.
        let now = at("2026-11-21T15:00:00Z");
        let tz: Tz = "America/New_York".parse().unwrap();
        let local = |s: &str| {
            first_occurrence_at(s, now, tz)
                .unwrap()
                .with_timezone(&tz)
                .to_rfc3339()
        };
        assert_eq!(local("monthly"), "2026-11-21T23:59:00-05:00");
        assert_eq!(local("weekly"), "2026-11-21T23:59:00-05:00");
        assert_eq!(local("weekdays"), "2026-11-23T23:59:00-05:00");
        assert_eq!(local("FREQ=MONTHLY;BYMONTHDAY=1"), "2026-12-01T23:59:00-05:00");
        assert_eq!(local("FREQ=WEEKLY;BYDAY=SA"), "2026-11-21T23:59:00-05:00");
        assert_eq!(local("FREQ=WEEKLY;BYDAY=MO,WE"), "2026-11-23T23:59:00-05:00");
    }
}
