//! A user's tasks as an iCalendar object: events (each due task at its due time) or to-dos.
//!
//! TaskFlow keeps one task per occurrence of a series and creates the next one when the current one
//! is completed. So only a pending recurring task carries its `RRULE` (from its own due date, with
//! the `COUNT` left for the rest of the series), zoned with `TZID=` in the owner's time zone so the
//! calendar keeps the local time across DST; completed occurrences are single events. Everything
//! else is in UTC. Reminders become `VALARM`s relative to the due time. Every stamp comes from the
//! task (`DTSTAMP` = `LAST-MODIFIED` = `updated_at`), so the same tasks give the same bytes and the
//! feed's ETag is stable.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use taskflow_domain::recurrence::Schedule;
use taskflow_domain::{Priority, Task};

use super::ics::{Ics, duration, local_stamp};
use super::vtimezone;

/// How long an event lasts: tasks have a due time, not a length.
pub const EVENT_MINUTES: i64 = 30;

/// Which components the feed holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// `VEVENT`s, for calendar views.
    Event,
    /// `VTODO`s, for clients that show tasks.
    Todo,
}

/// What the feed is about, beside the tasks.
pub struct Calendar<'a> {
    pub name: &'a str,
    pub tz: Tz,
    pub component: Component,
    /// Stop adding tasks once the text is this long (tasks may have 10 000-character descriptions).
    pub max_bytes: usize,
}

/// RFC 5545 `PRIORITY`: 1 highest, 5 medium, 9 lowest.
fn priority(p: Priority) -> u8 {
    match p {
        Priority::High => 1,
        Priority::Medium => 5,
        Priority::Low => 9,
    }
}

/// A pending recurring task's `RRULE` in the feed, from its own due date.
fn rrule(task: &Task, due: DateTime<Utc>, tz: Tz) -> Option<String> {
    let rec = task.recurrence.as_ref().filter(|_| !task.completed)?;
    let schedule = Schedule::new(&rec.rule, rec.starts_at.unwrap_or(due), tz, rec.ends_at);
    let mut rule = schedule.rfc5545_rule();
    // COUNT counts the series from its first task; this one is number `occurrence`.
    rule.count = rule
        .count
        .map(|count| count.saturating_sub(rec.occurrence).saturating_add(1).max(1));
    Some(rule.to_string())
}

/// `DTSTART`/`DUE` of a task: zoned when it repeats in a zone other than UTC.
fn when(ics: &mut Ics, name: &str, at: DateTime<Utc>, zoned: Option<Tz>) {
    match zoned {
        Some(tz) => ics.raw(
            &format!("{name};TZID={}", tz.name()),
            &local_stamp(at.with_timezone(&tz).naive_local()),
        ),
        None => ics.utc(name, at),
    }
}

fn common(ics: &mut Ics, task: &Task) {
    ics.raw("UID", &format!("{}@taskflow", task.id));
    ics.utc("DTSTAMP", task.updated_at);
    ics.utc("CREATED", task.created_at);
    ics.utc("LAST-MODIFIED", task.updated_at);
    ics.text("SUMMARY", &task.title);
    if let Some(d) = task.description.as_deref().filter(|d| !d.is_empty()) {
        ics.text("DESCRIPTION", d);
    }
    ics.raw("PRIORITY", &priority(task.priority).to_string());
    if !task.tags.is_empty() {
        let tags: Vec<String> = task.tags.iter().map(|t| super::ics::escape_text(t)).collect();
        ics.raw("CATEGORIES", &tags.join(","));
    }
}

/// One `VALARM` per reminder, `related_end` for to-dos (whose due time is their end).
fn alarms(ics: &mut Ics, task: &Task, due: DateTime<Utc>, related_end: bool) {
    for reminder in &task.reminders {
        let before = match reminder.minutes_before_due {
            Some(m) => -i64::from(m) * 60,
            None => (reminder.remind_at - due).num_seconds(),
        };
        ics.raw("BEGIN", "VALARM");
        ics.raw("ACTION", "DISPLAY");
        let trigger = if related_end {
            "TRIGGER;RELATED=END"
        } else {
            "TRIGGER"
        };
        ics.raw(trigger, &duration(before));
        ics.text("DESCRIPTION", &task.title);
        ics.raw("END", "VALARM");
    }
}

fn event(ics: &mut Ics, task: &Task, due: DateTime<Utc>, tz: Tz) {
    let rule = rrule(task, due, tz);
    let zoned = rule.as_ref().and_then(|_| (tz != Tz::UTC).then_some(tz));
    ics.raw("BEGIN", "VEVENT");
    common(ics, task);
    when(ics, "DTSTART", due, zoned);
    ics.raw("DURATION", &duration(EVENT_MINUTES * 60));
    if let Some(rule) = rule {
        ics.raw("RRULE", &rule);
    }
    ics.raw("STATUS", "CONFIRMED");
    // A task does not make its owner busy.
    ics.raw("TRANSP", "TRANSPARENT");
    alarms(ics, task, due, false);
    ics.raw("END", "VEVENT");
}

fn todo(ics: &mut Ics, task: &Task, due: DateTime<Utc>) {
    ics.raw("BEGIN", "VTODO");
    common(ics, task);
    ics.utc("DUE", due);
    match (task.completed, task.completed_at) {
        (true, at) => {
            ics.raw("STATUS", "COMPLETED");
            ics.utc("COMPLETED", at.unwrap_or(task.updated_at));
            ics.raw("PERCENT-COMPLETE", "100");
        }
        (false, _) => ics.raw("STATUS", "NEEDS-ACTION"),
    }
    alarms(ics, task, due, true);
    ics.raw("END", "VTODO");
}

/// The calendar of `tasks` (those without a due date are skipped). Tasks come latest due first;
/// when `max_bytes` is reached the rest are left out.
pub fn render(calendar: &Calendar<'_>, tasks: &[Task]) -> String {
    let mut ics = Ics::new();
    ics.raw("BEGIN", "VCALENDAR");
    ics.raw("VERSION", "2.0");
    ics.raw("PRODID", "-//TaskFlow//Calendar feed//EN");
    ics.raw("CALSCALE", "GREGORIAN");
    ics.raw("METHOD", "PUBLISH");
    ics.text("X-WR-CALNAME", calendar.name);
    ics.text("X-WR-TIMEZONE", calendar.tz.name());
    ics.raw("REFRESH-INTERVAL;VALUE=DURATION", "PT1H");
    ics.raw("X-PUBLISHED-TTL", "PT1H");
    let tz = calendar.tz;
    if calendar.component == Component::Event && tz != Tz::UTC {
        let zoned = tasks
            .iter()
            .filter(|t| !t.completed && t.recurrence.is_some())
            .filter_map(|t| t.due_at);
        if let (Some(first), Some(last)) = (zoned.clone().min(), zoned.max()) {
            vtimezone::write(&mut ics, tz, first, last.max(taskflow_domain::time::now()));
        }
    }
    for task in tasks {
        if ics.len() >= calendar.max_bytes {
            break;
        }
        let Some(due) = task.due_at else { continue };
        match calendar.component {
            Component::Event => event(&mut ics, task, due, tz),
            Component::Todo => todo(&mut ics, task, due),
        }
    }
    ics.raw("END", "VCALENDAR");
    ics.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use taskflow_domain::{Category, Recurrence, Reminder};
    use uuid::Uuid;

    fn task(title: &str, due: DateTime<Utc>) -> Task {
        Task {
            id: Uuid::nil(),
            user_id: "u".into(),
            title: title.into(),
            description: None,
            priority: Priority::High,
            category: Category::Work,
            tags: vec!["a,b".into(), "c".into()],
            completed: false,
            completed_at: None,
            due_at: Some(due),
            recurrence: None,
            reminders: Vec::new(),
            parent_task_id: None,
            created_at: due - TimeDelta::days(1),
            updated_at: due - TimeDelta::days(1),
            version: 1,
        }
    }

    fn calendar(tz: Tz, component: Component) -> Calendar<'static> {
        Calendar {
            name: "Tasks",
            tz,
            component,
            max_bytes: 1 << 20,
        }
    }

    #[test]
    fn a_recurring_task_is_zoned_with_its_rule_and_alarms() {
        let due = Utc.with_ymd_and_hms(2026, 12, 8, 8, 0, 0).unwrap();
        let mut t = task("Standup", due);
        t.recurrence = Some(Recurrence {
            rule: "FREQ=WEEKLY;BYDAY=TU;COUNT=10".parse().unwrap(),
            anchor: Default::default(),
            ends_at: None,
            starts_at: Some(due - TimeDelta::weeks(2)),
            occurrence: 3,
        });
        t.reminders = vec![Reminder {
            id: Uuid::nil(),
            remind_at: due - TimeDelta::minutes(15),
            minutes_before_due: Some(15),
            fired_at: None,
        }];
        let text = render(&calendar(chrono_tz::Europe::Berlin, Component::Event), &[t]);
        assert!(
            text.contains("\r\nDTSTART;TZID=Europe/Berlin:20261208T090000\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nRRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=8\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nTRIGGER:-PT15M\r\n"), "{text}");
        assert!(text.contains("\r\nCATEGORIES:a\\,b,c\r\n"), "{text}");
        assert!(text.contains("\r\nPRIORITY:1\r\n"), "{text}");
    }

    #[test]
    fn the_feed_stops_adding_tasks_at_its_byte_budget() {
        let due = Utc.with_ymd_and_hms(2026, 12, 8, 8, 0, 0).unwrap();
        let tasks: Vec<Task> = (0..100).map(|_| task("Some task", due)).collect();
        let mut small = calendar(Tz::UTC, Component::Event);
        small.max_bytes = 2_000;
        let text = render(&small, &tasks);
        let events = text.matches("BEGIN:VEVENT").count();
        assert!((1..10).contains(&events), "{events} events");
        assert!(text.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
    }

    #[test]
    fn a_plain_task_is_utc_and_a_todo_has_its_due_and_status() {
        let due = Utc.with_ymd_and_hms(2026, 12, 8, 8, 0, 0).unwrap();
        let mut t = task("Pay", due);
        let text = render(
            &calendar(chrono_tz::Europe::Berlin, Component::Event),
            std::slice::from_ref(&t),
        );
        assert!(
            text.contains("\r\nDTSTART:20261208T080000Z\r\nDURATION:PT30M\r\n"),
            "{text}"
        );
        assert!(!text.contains("VTIMEZONE"));
        t.completed = true;
        t.completed_at = Some(due);
        let text = render(&calendar(Tz::UTC, Component::Todo), &[t]);
        assert!(
            text.contains("\r\nDUE:20261208T080000Z\r\nSTATUS:COMPLETED\r\nCOMPLETED:20261208T080000Z\r\n"),
            "{text}"
        );
        assert!(
            text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") && text.ends_with("END:VCALENDAR\r\n")
        );
    }
}
