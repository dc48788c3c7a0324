//! Recurring series: the task that follows a completed one, and the dates still to come.
//!
//! A series is identified by its first task (`parent_task_id` of every later one). With anchor `due`,
//! dates follow the schedule from the series' start; with anchor `completion`, the next date counts
//! from when the task was completed, at the series' time of day. `COUNT` limits a task's position in
//! the series, `UNTIL` and `ends_at` its dates.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::recurrence::{Recurrence, RecurrenceAnchor, Schedule, TooExpensive, local_instant};
use crate::task::{Reminder, Task};

/// The id every task of `task`'s series points to.
pub fn series_id(task: &Task) -> Uuid {
    task.parent_task_id.unwrap_or(task.id)
}

/// A stable name for the `n`-th occurrence of a series: creating it twice is impossible.
pub fn occurrence_key(series: Uuid, occurrence: u32) -> String {
    format!("{series}:{occurrence}")
}

/// When the occurrence after `task` is due, if the series goes on. `completed_at` matters for the
/// `completion` anchor; tasks without a due date count from their completion.
pub fn next_due(
    task: &Task,
    completed_at: DateTime<Utc>,
    tz: Tz,
) -> Result<Option<DateTime<Utc>>, TooExpensive> {
    let Some(rec) = task.recurrence.as_ref() else {
        return Ok(None);
    };
    if rec
        .occurrence
        .checked_add(1)
        .is_none_or(|next| rec.rule.count().is_some_and(|count| next > count))
    {
        return Ok(None);
    }
    match (rec.anchor, task.due_at) {
        (RecurrenceAnchor::Due, Some(due)) => {
            let start = rec.starts_at.unwrap_or(due);
            Schedule::new(&rec.rule, start, tz, rec.ends_at).next_after(due)
        }
        (_, due) => {
            // Count from the completion, at the series' local time of day when it has one.
            let base = match due {
                Some(due) => local_instant(
                    tz,
                    completed_at.with_timezone(&tz).date_naive(),
                    due.with_timezone(&tz).time(),
                ),
                None => completed_at,
            };
            let schedule = Schedule::new(&rec.rule, base, tz, rec.ends_at);
            schedule.next_after(base.max(completed_at))
        }
    }
}

/// The task that follows `task` once it was completed at `completed_at`, or `None` when the series ends.
pub fn next_task(
    task: &Task,
    completed_at: DateTime<Utc>,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Option<Task>, TooExpensive> {
    let Some(rec) = task.recurrence.as_ref() else {
        return Ok(None);
    };
    let Some(due) = next_due(task, completed_at, tz)? else {
        return Ok(None);
    };
    let shift = task.due_at.map_or(TimeDelta::zero(), |old| due - old);
    let reminders = task
        .reminders
        .iter()
        .map(|r| Reminder {
            id: Uuid::now_v7(),
            // Relative reminders keep their offset; absolute ones keep their distance to the due date.
            remind_at: match r.minutes_before_due {
                Some(m) => due - TimeDelta::minutes(i64::from(m)),
                None => r.remind_at + shift,
            },
            minutes_before_due: r.minutes_before_due,
            fired_at: None,
        })
        .collect();
    let starts_at = match rec.anchor {
        RecurrenceAnchor::Due => rec.starts_at.or(task.due_at),
        RecurrenceAnchor::Completion => Some(due),
    };
    Ok(Some(Task {
        id: Uuid::now_v7(),
        user_id: task.user_id.clone(),
        title: task.title.clone(),
        description: task.description.clone(),
        priority: task.priority,
        category: task.category,
        tags: task.tags.clone(),
        completed: false,
        completed_at: None,
        due_at: Some(due),
        recurrence: Some(Recurrence {
            starts_at,
            occurrence: rec.occurrence + 1,
            ..rec.clone()
        }),
        reminders,
        parent_task_id: Some(series_id(task)),
        created_at: now,
        updated_at: now,
        version: 1,
    }))
}

/// The next `limit` due dates of `task`'s series after its own (or after `now` without a due date).
/// When the evaluation budget runs out after some dates were found, those dates are the answer.
pub fn upcoming(
    task: &Task,
    tz: Tz,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<DateTime<Utc>>, TooExpensive> {
    let Some(rec) = task.recurrence.as_ref() else {
        return Ok(Vec::new());
    };
    let after = task.due_at.unwrap_or(now);
    let start = match rec.anchor {
        RecurrenceAnchor::Due => rec.starts_at.or(task.due_at).unwrap_or(now),
        RecurrenceAnchor::Completion => after,
    };
    let remaining = rec.rule.count().map_or(usize::MAX, |count| {
        usize::try_from(count.saturating_sub(rec.occurrence)).unwrap_or(0)
    });
    let wanted = limit.min(remaining);
    let mut dates = Vec::new();
    let schedule = Schedule::new(&rec.rule, start, tz, rec.ends_at);
    for at in schedule.occurrences() {
        if dates.len() >= wanted {
            break;
        }
        match at {
            Ok(at) if at > after => dates.push(at),
            Ok(_) => {}
            Err(e) if dates.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    Ok(dates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CreateTask;

    fn recurring(json: &str, now: DateTime<Utc>) -> Task {
        let body: CreateTask = serde_json::from_str(json).unwrap();
        body.validate().unwrap().into_task("u1", now)
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_next_task_carries_the_series_forward() {
        let first = recurring(
            r#"{"title":"Rent","priority":"high","tags":["home"],"due_at":"2026-01-31T09:00:00Z","recurrence":"monthly",
                "reminders":[{"minutes_before_due":60},{"remind_at":"2026-01-30T09:00:00Z"}]}"#,
            at("2026-01-01T00:00:00Z"),
        );
        let second = next_task(
            &first,
            at("2026-01-31T10:00:00Z"),
            Tz::UTC,
            at("2026-01-31T10:00:00Z"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(second.due_at, Some(at("2026-02-28T09:00:00Z")));
        assert_eq!(second.parent_task_id, Some(first.id));
        assert_eq!(
            (second.title.as_str(), second.priority, second.tags.clone()),
            ("Rent", first.priority, vec!["home".to_owned()])
        );
        assert_eq!(second.recurrence.as_ref().unwrap().occurrence, 2);
        assert_eq!(
            second.reminders[0].remind_at,
            at("2026-02-27T09:00:00Z"),
            "absolute reminder keeps its distance"
        );
        assert_eq!(
            second.reminders[1].remind_at,
            at("2026-02-28T08:00:00Z"),
            "relative reminder keeps its offset"
        );
        let third = next_task(
            &second,
            at("2026-03-01T00:00:00Z"),
            Tz::UTC,
            at("2026-03-01T00:00:00Z"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            third.due_at,
            Some(at("2026-03-31T09:00:00Z")),
            "anchored to the 31st, not drifting to the 28th"
        );
        assert_eq!(third.parent_task_id, Some(first.id));
    }

    #[test]
    fn count_and_end_date_stop_the_series() {
        let mut task = recurring(
            r#"{"title":"x","due_at":"2026-01-01T09:00:00Z","recurrence":"FREQ=DAILY;COUNT=3"}"#,
            at("2026-01-01T00:00:00Z"),
        );
        let mut made = 1;
        while let Some(next) =
            next_task(&task, task.due_at.unwrap(), Tz::UTC, at("2026-01-01T00:00:00Z")).unwrap()
        {
            task = next;
            made += 1;
        }
        assert_eq!(made, 3);
        let ending = recurring(
            r#"{"title":"x","due_at":"2026-01-01T09:00:00Z","recurrence":{"rule":"daily","ends_at":"2026-01-02T12:00:00Z"}}"#,
            at("2026-01-01T00:00:00Z"),
        );
        let second = next_task(
            &ending,
            at("2026-01-01T10:00:00Z"),
            Tz::UTC,
            at("2026-01-01T10:00:00Z"),
        )
        .unwrap()
        .unwrap();
        assert!(
            next_task(
                &second,
                at("2026-01-02T10:00:00Z"),
                Tz::UTC,
                at("2026-01-02T10:00:00Z")
            )
            .unwrap()
            .is_none()
        );
    }

    #[test]
    fn the_completion_anchor_counts_from_when_it_was_done() {
        let task = recurring(
            r#"{"title":"Water plants","due_at":"2026-01-01T18:00:00Z","recurrence":{"rule":"FREQ=DAILY;INTERVAL=3","anchor":"completion"}}"#,
            at("2026-01-01T00:00:00Z"),
        );
        let next = next_task(
            &task,
            at("2026-01-05T07:00:00Z"),
            Tz::UTC,
            at("2026-01-05T07:00:00Z"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(next.due_at, Some(at("2026-01-08T18:00:00Z")));
    }

    #[test]
    fn upcoming_lists_the_next_dates_within_count() {
        let task = recurring(
            r#"{"title":"x","due_at":"2026-01-05T09:00:00Z","recurrence":"FREQ=WEEKLY;COUNT=3"}"#,
            at("2026-01-01T00:00:00Z"),
        );
        let dates = upcoming(&task, Tz::UTC, at("2026-01-01T00:00:00Z"), 10).unwrap();
        assert_eq!(dates, [at("2026-01-12T09:00:00Z"), at("2026-01-19T09:00:00Z")]);
        assert_eq!(
            upcoming(&task, Tz::UTC, at("2026-01-01T00:00:00Z"), 1)
                .unwrap()
                .len(),
            1
        );
    }
}
