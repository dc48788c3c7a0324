//! The short, emoji-marked sentences the assistant answers with — the style users of the FastAPI
//! predecessor know: ✅ done, 🔴🟡🟢 priority, 📅 due, 🏷️ tags, 🔄 repeats, ⏰ reminder.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use taskflow_domain::{Priority, Task};
use taskflow_store::TaskStats;

pub fn priority_icon(p: Priority) -> &'static str {
    match p {
        Priority::High => "🔴",
        Priority::Medium => "🟡",
        Priority::Low => "🟢",
    }
}

/// `Fri 27 Nov 17:00` in the user's zone, with the year when it is not this year's.
pub fn when(t: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    let local = t.with_timezone(&tz);
    let this_year = now.with_timezone(&tz).format("%Y").to_string();
    if local.format("%Y").to_string() == this_year {
        local.format("%a %-d %b %H:%M").to_string()
    } else {
        local.format("%a %-d %b %Y %H:%M").to_string()
    }
}

/// One line describing a task: `🔴 fix bug | 📅 Fri 27 Nov 17:00 | 🏷️ work | 🔄 weekdays`.
pub fn task_line(task: &Task, tz: Tz, now: DateTime<Utc>) -> String {
    let mut parts = vec![format!(
        "{} {}{}",
        if task.completed {
            "✅"
        } else {
            priority_icon(task.priority)
        },
        task.title,
        if task.is_overdue(now) {
            " ⚠️ overdue"
        } else {
            ""
        }
    )];
    if let Some(due) = task.due_at {
        parts.push(format!("📅 {}", when(due, tz, now)));
    }
    if !task.tags.is_empty() {
        parts.push(format!("🏷️ {}", task.tags.join(", ")));
    }
    if let Some(r) = &task.recurrence {
        parts.push(format!("🔄 {}", r.rule));
    }
    if let Some(next) = task.reminders.iter().find(|r| r.fired_at.is_none()) {
        parts.push(format!("⏰ {}", when(next.remind_at, tz, now)));
    }
    parts.join(" | ")
}

pub fn created(task: &Task, tz: Tz, now: DateTime<Utc>) -> String {
    format!("✅ Created: {}", task_line(task, tz, now))
}

pub fn completed(task: &Task) -> String {
    if task.completed {
        let next = if task.recurrence.is_some() {
            " 🔄 The next occurrence is being scheduled."
        } else {
            ""
        };
        format!("✅ Completed \"{}\".{next}", task.title)
    } else {
        format!("↩️ Reopened \"{}\".", task.title)
    }
}

pub fn deleted(task: &Task) -> String {
    format!("🗑️ Deleted \"{}\".", task.title)
}

pub fn updated(task: &Task, changed: &[&str], tz: Tz, now: DateTime<Utc>) -> String {
    if changed.is_empty() {
        return format!("Nothing to change on \"{}\".", task.title);
    }
    format!("✏️ Updated {}: {}", changed.join(", "), task_line(task, tz, now))
}

pub fn reminder_set(task: &Task, at: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    format!(
        "⏰ I'll remind you about \"{}\" on {}.",
        task.title,
        when(at, tz, now)
    )
}

pub fn list(tasks: &[Task], more: bool, tz: Tz, now: DateTime<Utc>) -> String {
    if tasks.is_empty() {
        return "📭 No tasks match.".to_owned();
    }
    let mut out = format!(
        "📋 {} task{}:",
        tasks.len(),
        if tasks.len() == 1 { "" } else { "s" }
    );
    for t in tasks {
        out.push_str("\n• ");
        out.push_str(&task_line(t, tz, now));
    }
    if more {
        out.push_str("\n… and more; narrow the search to see them.");
    }
    out
}

pub fn stats(s: &TaskStats) -> String {
    let count = |m: &std::collections::BTreeMap<&'static str, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    format!(
        "📊 {} tasks: {} pending, {} completed, {} overdue. 🔴 {} high · 🟡 {} medium · 🟢 {} low.",
        s.total,
        s.pending,
        s.completed,
        s.overdue,
        count(&s.by_priority, "high"),
        count(&s.by_priority, "medium"),
        count(&s.by_priority, "low"),
    )
}
