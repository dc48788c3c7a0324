//! Changing an existing task: complete, reopen, delete, update, set a reminder.
//!
//! The task is named by (part of) its title as the user said it; the tool layer matches it against the
//! user's tasks and asks back when it is ambiguous. Articles and a trailing "task" are dropped, so
//! "delete the groceries task" names "groceries".

use taskflow_domain::Category;
use taskflow_domain::quick_add::{is_recurrence, is_reminder, is_when};

use super::add::{is_task_word, priority_word};
use super::words::Words;
use crate::tools::{CompleteTaskArgs, DeleteTaskArgs, SetReminderArgs, ToolCall, UpdateTaskArgs};

/// The task named by words `start..end`, without articles and a trailing "task"; `None` when empty.
pub(super) fn task_name(w: &Words, start: usize, end: usize) -> Option<String> {
    let mut start = start;
    let mut end = end.min(w.len());
    while start < end && matches!(w.low(start), "the" | "my" | "a" | "an" | "that" | "this" | "task") {
        start += 1;
    }
    while end > start && (is_task_word(w.low(end - 1)) || matches!(w.low(end - 1), "for" | "to" | "on")) {
        end -= 1;
    }
    let name = w.text(start, end);
    let bulk = matches!(
        w.low_text(start, end).as_str(),
        "all" | "all tasks" | "all my tasks" | "everything" | "every task" | "them all" | "all of them"
    );
    (!name.is_empty() && !bulk).then_some(name)
}

const COMPLETE_PREFIX: &[&str] = &[
    "i've finished",
    "i have finished",
    "i finished",
    "i've completed",
    "i have completed",
    "i completed",
    "i've done",
    "i have done",
    "i did",
    "i'm done with",
    "im done with",
    "i am done with",
    "done with",
    "check off",
    "tick off",
    "cross off",
    "complete",
    "finish",
    "finished",
    "completed",
];
const DONE_WORDS: &[&str] = &["done", "complete", "completed", "finished"];
const UNDONE_WORDS: &[&str] = &[
    "not done",
    "undone",
    "incomplete",
    "not complete",
    "not completed",
    "not finished",
    "unfinished",
    "pending",
    "open",
    "todo",
    "to do",
];

fn complete(task: String, completed: bool) -> ToolCall {
    ToolCall::new(
        "complete_task",
        CompleteTaskArgs {
            task,
            completed: (!completed).then_some(false),
        },
    )
}

/// "mark X as done", "X is done" and their opposites: (start, end) of X and whether done.
fn marked(w: &Words) -> Option<(usize, usize, bool)> {
    let n = w.len();
    let start = usize::from(w.low(0) == "mark");
    for k in start + 1..n {
        let linking = matches!(w.low(k), "as" | "is" | "was");
        if !linking && start == 0 {
            continue;
        }
        let at = k + usize::from(linking);
        if UNDONE_WORDS.iter().any(|p| w.exactly(at, n, p)) {
            return Some((start, k, false));
        }
        if DONE_WORDS.iter().any(|p| w.exactly(at, n, p)) {
            return Some((start, k, true));
        }
    }
    None
}

/// Complete or reopen requests.
pub(super) fn completion(w: &Words) -> Option<Result<ToolCall, String>> {
    if let Some(n) = w.any(
        0,
        &["reopen", "re-open", "uncomplete", "unmark", "undo", "restore"],
    ) {
        return Some(name_or_ask(w, n, w.len(), |t| complete(t, false)));
    }
    if let Some((start, end, done)) = marked(w) {
        return Some(name_or_ask(w, start, end, |t| complete(t, done)));
    }
    if let Some(n) = w.any(0, COMPLETE_PREFIX) {
        return Some(name_or_ask(w, n, w.len(), |t| complete(t, true)));
    }
    None
}

fn name_or_ask(
    w: &Words,
    start: usize,
    end: usize,
    call: impl FnOnce(String) -> ToolCall,
) -> Result<ToolCall, String> {
    task_name(w, start, end)
        .map(call)
        .ok_or_else(|| "which task you mean (I change one task at a time, named by its title)".to_owned())
}

/// Delete requests.
pub(super) fn deletion(w: &Words) -> Option<Result<ToolCall, String>> {
    let n = w.any(
        0,
        &[
            "delete",
            "remove",
            "drop",
            "trash",
            "erase",
            "get rid of",
            "cancel",
            "discard",
        ],
    )?;
    // "remove #home from groceries", "remove the reminder from dentist": not a task to delete.
    let partial = w.low(n).starts_with('#')
        || (matches!(w.low(0), "remove" | "drop") && (n..w.len()).any(|i| w.low(i) == "from"));
    if partial {
        return Some(Err(format!(
            "\"{}\" — I can delete a whole task, but not remove a part of one",
            w.text(0, w.len())
        )));
    }
    Some(name_or_ask(w, n, w.len(), |task| {
        ToolCall::new("delete_task", DeleteTaskArgs { task })
    }))
}

/// Which field a word names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Priority,
    Category,
    Due,
    Title,
    Description,
    Recurrence,
    Tags,
}

fn field_at(w: &Words, i: usize) -> Option<(Field, usize)> {
    let table: &[(&str, Field)] = &[
        ("due date", Field::Due),
        ("due time", Field::Due),
        ("deadline", Field::Due),
        ("due", Field::Due),
        ("date", Field::Due),
        ("priority", Field::Priority),
        ("category", Field::Category),
        ("title", Field::Title),
        ("name", Field::Title),
        ("description", Field::Description),
        ("notes", Field::Description),
        ("note", Field::Description),
        ("recurrence", Field::Recurrence),
        ("repetition", Field::Recurrence),
        ("repeat", Field::Recurrence),
        ("schedule", Field::Recurrence),
        ("tags", Field::Tags),
        ("tag", Field::Tags),
    ];
    table.iter().find_map(|(p, f)| w.is(i, p).map(|n| (*f, n)))
}

fn tags_from(w: &Words, start: usize, end: usize) -> Vec<String> {
    (start..end)
        .map(|i| w.low(i).trim_start_matches('#').to_owned())
        .filter(|t| !t.is_empty() && !matches!(t.as_str(), "and" | "with" | "as"))
        .collect()
}

/// An update of one field of `task` to the words `start..end`; `Err` says what was not understood.
fn set_field(task: String, field: Field, w: &Words, start: usize, end: usize) -> Result<ToolCall, String> {
    let value = w.text(start, end);
    let low = w.low_text(start, end);
    if value.is_empty() {
        return Err("the new value".to_owned());
    }
    let clear = matches!(
        low.as_str(),
        "none" | "nothing" | "never" | "no date" | "no due date"
    );
    let mut args = UpdateTaskArgs {
        task,
        ..UpdateTaskArgs::default()
    };
    match field {
        Field::Priority => {
            args.priority = Some(
                priority_word(low.trim_end_matches(" priority"))
                    .ok_or_else(|| format!("\"{value}\" as a priority (low, medium or high)"))?,
            );
        }
        Field::Category => {
            args.category = Some(
                Category::parse(&low)
                    .ok_or_else(|| format!("\"{value}\" as a category (work, personal, home or other)"))?,
            );
        }
        Field::Due => {
            if !clear && !is_when(&low) {
                return Err(format!("\"{value}\" as a date"));
            }
            args.due = Some(if clear { "none".to_owned() } else { value });
        }
        Field::Title => args.title = Some(value),
        Field::Description => args.description = Some(value),
        Field::Recurrence => {
            if !clear && !is_recurrence(&low) {
                return Err(format!("\"{value}\" as a repetition"));
            }
            args.recurrence = Some(if clear { "none".to_owned() } else { value });
        }
        Field::Tags => args.tags = Some(tags_from(w, start, end)),
    }
    Ok(ToolCall::new("update_task", args))
}

/// The first "to"/"as"/"until"/"for" after `from` such that what follows satisfies `ok`.
fn split_at_to(w: &Words, from: usize, words: &[&str], ok: impl Fn(usize) -> bool) -> Option<usize> {
    (from + 1..w.len()).find(|k| words.contains(&w.low(*k)) && ok(*k + 1))
}

fn generic_update(w: &Words) -> Option<Result<ToolCall, String>> {
    let verb = w.any(0, &["change", "set", "update", "edit", "make"])?;
    let mut i = verb;
    i += usize::from(w.low(i) == "the");
    // "change the priority of X to low"
    if let Some((field, n)) = field_at(w, i)
        && matches!(w.low(i + n), "of" | "for" | "on")
    {
        let start = i + n + 1;
        let k = split_at_to(w, start, &["to", "as"], |_| true)?;
        let task = task_name(w, start, k);
        return Some(
            task.ok_or_else(|| "which task you mean".to_owned())
                .and_then(|t| set_field(t, field, w, k + 1, w.len())),
        );
    }
    // "change X's priority to low", "set X priority to high"
    let k = split_at_to(w, verb, &["to", "as"], |_| true)?;
    let Some((field, name_end)) = (verb + 1..k).find_map(|f| {
        let (field, n) = field_at(w, f)?;
        (f + n == k).then_some((field, f))
    }) else {
        return value_only_update(w, verb);
    };
    let mut name = Words::new(&w.text(verb, name_end));
    let len = name.len();
    if len > 0 && name.low(len - 1).ends_with("'s") {
        let trimmed = name
            .text(0, len)
            .trim_end_matches("'s")
            .trim_end_matches("’s")
            .to_owned();
        name = Words::new(&trimmed);
    }
    Some(
        task_name(&name, 0, name.len())
            .ok_or_else(|| "which task you mean".to_owned())
            .and_then(|t| set_field(t, field, w, k + 1, w.len())),
    )
}

/// "change taxes to tomorrow", "set taxes to high priority": the field follows from the value.
fn value_only_update(w: &Words, verb: usize) -> Option<Result<ToolCall, String>> {
    let n = w.len();
    let (k, field, end) = (verb + 1..n).filter(|k| w.low(*k) == "to").find_map(|k| {
        let value = w.low_text(k + 1, n);
        if is_when(&value) {
            Some((k, Field::Due, n))
        } else if w.low(n - 1) == "priority" && priority_word(w.low(n - 2)).is_some() && k + 2 == n - 1 {
            Some((k, Field::Priority, n - 1))
        } else if Category::parse(&value).is_some() {
            Some((k, Field::Category, n))
        } else {
            None
        }
    })?;
    Some(
        task_name(w, verb, k)
            .ok_or_else(|| "which task you mean".to_owned())
            .and_then(|t| set_field(t, field, w, k + 1, end)),
    )
}

/// Update requests: field changes, rescheduling, renaming, tagging, repetition.
pub(super) fn update(w: &Words) -> Option<Result<ToolCall, String>> {
    let n = w.len();
    let name = |start, end| task_name(w, start, end).ok_or_else(|| "which task you mean".to_owned());
    // "rename X to Y"
    if let Some(v) = w.is(0, "rename") {
        let k = (v + 1..n).rev().find(|k| matches!(w.low(*k), "to" | "as"))?;
        return Some(name(v, k).and_then(|t| set_field(t, Field::Title, w, k + 1, n)));
    }
    // "move/reschedule/postpone X to friday 3pm"
    if let Some(v) = w.any(
        0,
        &[
            "move",
            "reschedule",
            "postpone",
            "push",
            "delay",
            "defer",
            "shift",
            "bump",
        ],
    ) {
        if let Some(k) = split_at_to(w, v, &["to", "until", "till", "for", "on"], |s| {
            is_when(&w.low_text(s, n))
        }) {
            return Some(name(v, k).and_then(|t| set_field(t, Field::Due, w, k + 1, n)));
        }
        if let Some(k) = split_at_to(w, v, &["to", "into", "under"], |s| {
            Category::parse(&w.low_text(s, n).replace(" category", "")).is_some()
        }) {
            let end = if w.low(n - 1) == "category" { n - 1 } else { n };
            return Some(name(v, k).and_then(|t| set_field(t, Field::Category, w, k + 1, end)));
        }
        return Some(Err(format!("when to move \"{}\" to", w.text(v, n))));
    }
    // "clear the due date of X", "remove the deadline from X"
    if let Some(v) = w.any(0, &["clear", "remove", "delete", "drop"]) {
        let the = usize::from(w.low(v) == "the");
        if let Some((field @ (Field::Due | Field::Recurrence), f)) = field_at(w, v + the)
            && matches!(w.low(v + the + f), "of" | "from" | "on" | "for")
        {
            let start = v + the + f + 1;
            let mut args = UpdateTaskArgs::default();
            if field == Field::Due {
                args.due = Some("none".to_owned());
            } else {
                args.recurrence = Some("none".to_owned());
            }
            return Some(name(start, n).map(|task| {
                args.task = task;
                ToolCall::new("update_task", args)
            }));
        }
    }
    // "stop repeating X"
    if let Some(v) = w.any(
        0,
        &[
            "stop repeating",
            "don't repeat",
            "do not repeat",
            "stop recurring",
        ],
    ) {
        return Some(name(v, n).map(|task| {
            ToolCall::new(
                "update_task",
                UpdateTaskArgs {
                    task,
                    recurrence: Some("none".to_owned()),
                    ..UpdateTaskArgs::default()
                },
            )
        }));
    }
    // "tag X with #home", "tag X as home"
    if let Some(v) = w.any(0, &["tag", "label"]) {
        let k = (v + 1..n).find(|k| matches!(w.low(*k), "with" | "as") || w.low(*k).starts_with('#'))?;
        let from = if w.low(k).starts_with('#') { k } else { k + 1 };
        return Some(name(v, k).and_then(|t| set_field(t, Field::Tags, w, from, n)));
    }
    // "make X repeat every week", "set X to repeat daily", "repeat X every monday"
    for (i, word) in (0..n).map(|i| (i, w.low(i))) {
        if matches!(word, "repeat" | "recur" | "repeats" | "recurs") && i > 0 {
            let start = w.any(0, &["make", "set", "have"]).unwrap_or(0);
            let end = if w.low(i - 1) == "to" { i - 1 } else { i };
            if is_recurrence(&w.low_text(i + 1, n)) {
                return Some(name(start, end).and_then(|t| set_field(t, Field::Recurrence, w, i + 1, n)));
            }
        }
    }
    if w.low(0) == "repeat"
        && let Some(k) = (2..n).find(|k| is_recurrence(&w.low_text(*k, n)))
    {
        return Some(name(1, k).and_then(|t| set_field(t, Field::Recurrence, w, k, n)));
    }
    // "prioritize X", "make X high priority", "mark X as urgent"
    if let Some(v) = w.any(0, &["prioritize", "prioritise"]) {
        return Some(name(v, n).map(|task| {
            ToolCall::new(
                "update_task",
                UpdateTaskArgs {
                    task,
                    priority: Some(taskflow_domain::Priority::High),
                    ..UpdateTaskArgs::default()
                },
            )
        }));
    }
    if let Some(v) = w.any(0, &["make", "mark", "set"]) {
        let ends_priority = w.low(n - 1) == "priority";
        let p_at = if ends_priority { n.checked_sub(2)? } else { n - 1 };
        if let Some(p) = priority_word(w.low(p_at))
            .filter(|_| ends_priority || matches!(w.low(p_at), "urgent" | "important"))
        {
            let mut end = p_at;
            while end > v && matches!(w.low(end - 1), "a" | "as" | "to") {
                end -= 1;
            }
            return Some(name(v, end).map(|task| {
                ToolCall::new(
                    "update_task",
                    UpdateTaskArgs {
                        task,
                        priority: Some(p),
                        ..UpdateTaskArgs::default()
                    },
                )
            }));
        }
    }
    generic_update(w)
}

/// "remind me about X 30 minutes before", "set a reminder for X tomorrow 8am".
pub(super) fn reminder(w: &Words) -> Option<Result<ToolCall, String>> {
    let v = w.any(
        0,
        &[
            "remind me about",
            "remind me of",
            "set a reminder for",
            "set a reminder on",
            "set reminder for",
            "set reminder on",
            "create a reminder on",
            "add a reminder to",
            "add a reminder for",
            "add reminder to",
            "add reminder for",
            "create a reminder for",
            "remind me",
        ],
    )?;
    let n = w.len();
    let Some(j) = (v + 1..n).find(|j| is_reminder(&w.low_text(*j, n))) else {
        let what = task_name(w, v, n).unwrap_or_else(|| "it".to_owned());
        return Some(Err(format!(
            "when to remind you about \"{what}\" (say e.g. \"30 minutes before\" or \"tomorrow 9am\")"
        )));
    };
    let when = w.text(j, n);
    Some(
        task_name(w, v, j)
            .ok_or_else(|| "which task the reminder is for".to_owned())
            .map(|task| ToolCall::new("set_reminder", SetReminderArgs { task, when })),
    )
}
