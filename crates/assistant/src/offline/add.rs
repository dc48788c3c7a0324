//! "add high priority task fix bug due tomorrow #work", "remind me to call mom tomorrow at 6pm".
//!
//! The title is what remains once the attributes are taken off the end of the sentence: tags (`#x`,
//! anywhere), priority, category, and the longest trailing phrase that quick-add recognises as a
//! repetition, a reminder or a date. Taking only trailing phrases keeps titles like "review the 1st
//! draft" intact. `!high` (any priority word after `!`) sets the priority wherever it stands. The phrases are passed to the tool as written; the tool resolves them in the user's
//! time zone when it runs.

use taskflow_domain::quick_add::{is_recurrence, is_relative_reminder, is_when, names_time_of_day};
use taskflow_domain::{Category, Priority};

use super::words::Words;
use super::{Plan, help_with};
use crate::tools::{AddTaskArgs, ToolCall};

/// Words that may open an add request before the title: "add a new high priority work task called".
fn preamble(w: &Words, mut i: usize, args: &mut AddTaskArgs) -> usize {
    loop {
        let word = w.low(i);
        if matches!(word, "a" | "an" | "new" | "another") {
            i += 1;
        } else if let Some((p, n)) = priority_at(w, i) {
            args.priority = Some(p);
            i += n;
        } else if let Some(c) = Category::parse(word).filter(|_| is_task_word(w.low(i + 1))) {
            args.category = Some(c);
            i += 1;
        } else if is_task_word(word) {
            i += 1;
            i += w
                .any(i, &["called", "named", "titled", "to", "that says"])
                .unwrap_or(0);
            return i;
        } else {
            return i;
        }
    }
}

pub(super) fn is_task_word(w: &str) -> bool {
    matches!(w, "task" | "todo" | "to-do" | "item" | "reminder")
}

/// "high priority", "high-priority", "urgent" → a priority and the words it used.
pub(super) fn priority_at(w: &Words, i: usize) -> Option<(Priority, usize)> {
    let word = w.low(i);
    if let Some(p) = word.strip_suffix("-priority").and_then(priority_word) {
        return Some((p, 1));
    }
    if w.low(i + 1) == "priority" {
        return priority_word(word).map(|p| (p, 2));
    }
    if matches!(word, "urgent" | "important") && is_task_word(w.low(i + 1)) {
        return Some((Priority::High, 1));
    }
    None
}

pub(super) fn priority_word(w: &str) -> Option<Priority> {
    match w {
        "urgent" | "important" | "top" => Some(Priority::High),
        "normal" | "med" => Some(Priority::Medium),
        _ => Priority::parse(w),
    }
}

/// What a trailing phrase was read as.
enum Trailing {
    Due,
    Remind,
    Recurrence,
}

const REMIND_CONNECTORS: &[&str] = &[
    "and remind me",
    "remind me",
    "with a reminder",
    "with reminder",
    "and a reminder",
    "reminder",
    "remind",
];
const DUE_CONNECTORS: &[&str] = &[
    "due on",
    "due by",
    "due at",
    "due before",
    "due",
    "deadline",
    "no later than",
    "before",
    "until",
    "by",
];
const REPEAT_CONNECTORS: &[&str] = &["repeating", "repeats", "repeat", "recurring", "and"];
const LIST_TAIL: &[&str] = &[
    "to my list",
    "to the list",
    "to my tasks",
    "to my task list",
    "to my todo list",
    "to my to-do list",
    "to my todos",
    "to the todo list",
    "to my to do list",
];

/// A connector ending just before `j`, at or after `start`: its first word.
fn connector_before(w: &Words, start: usize, j: usize, connectors: &[&str]) -> Option<usize> {
    connectors.iter().find_map(|c| {
        let n = c.split(' ').count();
        let k = j.checked_sub(n).filter(|k| *k >= start)?;
        w.is(k, c).map(|_| k)
    })
}

/// The longest trailing phrase `j..end` (with `j > start`) quick-add reads, and how it read it.
fn trailing_phrase(w: &Words, start: usize, end: usize) -> Option<(usize, Trailing)> {
    // No phrase quick-add reads is longer than this many words.
    const MAX_PHRASE_WORDS: usize = 16;
    (end.saturating_sub(MAX_PHRASE_WORDS).max(start + 1)..end).find_map(|j| {
        // "check the evening news" ends in a noun phrase, not a date: "check the evening" keeps it.
        if matches!(
            w.low(j - 1),
            "the" | "a" | "an" | "my" | "your" | "our" | "his" | "her" | "their" | "its"
        ) {
            return None;
        }
        let text = w.low_text(j, end);
        if is_relative_reminder(&text) {
            Some((j, Trailing::Remind))
        } else if is_recurrence(&text) {
            Some((j, Trailing::Recurrence))
        } else if is_when(&text) {
            Some((j, Trailing::Due))
        } else {
            None
        }
    })
}

/// A repetition that starts just before the date phrase `j..end` and runs into it ("every" + "friday
/// at 4pm"): its word range.
fn repetition_around(w: &Words, start: usize, j: usize, end: usize) -> Option<(usize, usize)> {
    let k = (j.saturating_sub(2).max(start)..j).find(|k| matches!(w.low(*k), "every" | "each"))?;
    let m = (j + 1..=end).rev().find(|m| is_recurrence(&w.low_text(k, *m)))?;
    Some((k, m))
}

/// Takes one attribute off the end of `start..end`; the new end, or `None` when there is none.
fn take_trailing(w: &Words, start: usize, end: usize, args: &mut AddTaskArgs) -> Option<usize> {
    if let Some(k) = (start + 1..end).find(|k| LIST_TAIL.iter().any(|p| w.exactly(*k, end, p))) {
        return Some(k);
    }
    // "… high priority", "… with high priority", "… priority high"
    if end >= start + 3 {
        if let Some((p, 2)) = priority_at(w, end - 2) {
            args.priority.get_or_insert(p);
            let with = usize::from(matches!(w.low(end - 3), "with" | "as") && end - 3 > start);
            return Some(end - 2 - with);
        }
        if w.low(end - 2) == "priority"
            && let Some(p) = priority_word(w.low(end - 1))
        {
            args.priority.get_or_insert(p);
            return Some(end - 2);
        }
        if w.low(end - 2) == "category"
            && let Some(c) = Category::parse(w.low(end - 1))
        {
            args.category.get_or_insert(c);
            let in_ = usize::from(w.low(end - 3) == "in" && end - 3 > start);
            return Some(end - 2 - in_);
        }
    }
    let (j, kind) = trailing_phrase(w, start, end)?;
    let phrase = w.text(j, end);
    match kind {
        Trailing::Remind => {
            if args.remind.is_some() {
                return None;
            }
            args.remind = Some(phrase);
            Some(connector_before(w, start + 1, j, REMIND_CONNECTORS).unwrap_or(j))
        }
        Trailing::Recurrence => {
            if args.recurrence.is_some() {
                return None;
            }
            args.recurrence = Some(phrase);
            Some(connector_before(w, start + 1, j, REPEAT_CONNECTORS).unwrap_or(j))
        }
        Trailing::Due => {
            if let Some(k) = connector_before(w, start + 1, j, REMIND_CONNECTORS) {
                if args.remind.is_some() {
                    return None;
                }
                args.remind = Some(phrase);
                return Some(k);
            }
            if args.due.is_some() {
                return None;
            }
            // "every friday at 4pm": the weekday belongs to both the repetition and the first due date.
            if args.recurrence.is_none()
                && let Some((k, m)) = repetition_around(w, start + 1, j, end)
            {
                args.recurrence = Some(w.text(k, m));
                args.due = Some(phrase);
                return Some(k);
            }
            // "by friday" is due friday: "by" is a connector here, not part of the date.
            let by = usize::from(w.low(j) == "by" && j + 1 < end);
            args.due = Some(w.text(j + by, end));
            Some(connector_before(w, start + 1, j, DUE_CONNECTORS).unwrap_or(j))
        }
    }
}

/// Plans an add request whose title starts at word `start`. `remind_me` is set for "remind me to …":
/// the user asked to be reminded, so a reminder is added at the due time (or at 9:00 on a due day
/// given without a time).
pub(super) fn plan(w: &Words, start: usize, remind_me: bool) -> Plan {
    let mut args = AddTaskArgs::default();
    let start = preamble(w, start, &mut args);
    match split(w, start, remind_me, args) {
        Some(args) => Plan::Calls(vec![ToolCall::new("add_task", args)]),
        None => Plan::Reply(help_with(
            "I can add that, but what should the task be called? For example: \"add call mom tomorrow at 6pm\".",
        )),
    }
}

/// `!high`, `!urgent`, `!low`: a priority marker anywhere in the sentence.
fn priority_marker(raw: &str) -> Option<Priority> {
    let word = raw
        .strip_prefix('!')?
        .trim_end_matches(|c: char| ",.;!?".contains(c));
    priority_word(&word.to_lowercase())
}

/// Splits the words from `start` into the title and the attributes (`#tags` and `!priority`
/// anywhere, then trailing priority, category, repetition, reminder and date phrases) on top of
/// `args`; `None` when no title remains.
pub(super) fn split(w: &Words, start: usize, remind_me: bool, mut args: AddTaskArgs) -> Option<AddTaskArgs> {
    let mut tags = Vec::new();
    let mut kept = Vec::new();
    for i in start..w.len() {
        if let Some(p) = priority_marker(w.raw(i)) {
            args.priority = Some(p);
            continue;
        }
        match w.raw(i).strip_prefix('#') {
            Some(tag) if !tag.trim_matches(|c: char| !c.is_alphanumeric()).is_empty() => {
                tags.push(tag.trim_end_matches(|c: char| ",.;!?".contains(c)).to_lowercase());
            }
            _ => kept.push(i),
        }
    }
    let without_tags = Words::new(&kept.iter().map(|i| w.raw(*i)).collect::<Vec<_>>().join(" "));
    let w = &without_tags;
    let mut end = w.len();
    if let Some(k) = (1..end).find(|k| {
        ["tagged", "with tag", "with tags"]
            .iter()
            .any(|p| w.is(*k, p).is_some_and(|n| k + n < end))
    }) {
        let n = w.any(k, &["tagged", "with tags", "with tag"]).unwrap_or(1);
        tags.extend(
            (k + n..end)
                .map(|i| w.low(i).trim_start_matches('#').to_owned())
                .filter(|t| !t.is_empty() && t != "and"),
        );
        end = k;
    }
    while let Some(new_end) = take_trailing(w, 0, end, &mut args) {
        end = new_end;
    }
    let title = w.text(0, end);
    if title.is_empty() || is_when(&w.low_text(0, end)) {
        return None;
    }
    args.title = title;
    args.tags = tags;
    if remind_me
        && args.remind.is_none()
        && let Some(due) = &args.due
    {
        args.remind = Some(if names_time_of_day(due) {
            "at due time".to_owned()
        } else {
            format!("{due} at 9am")
        });
    }
    Some(args)
}
