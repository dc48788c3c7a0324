//! "what's due this week?", "list high priority tasks tagged work", "search for invoice".
//!
//! A list request is a bag of filters; every word must be a filter or filler, so a request the
//! agent only half understood is answered with what it did not understand rather than a wrong list.

use taskflow_domain::Category;

use super::add::priority_word;
use super::words::Words;
use crate::tools::{DueWindow, ListStatus, ListTasksArgs, ToolCall};

const FILLER: &[&str] = &[
    "show",
    "list",
    "display",
    "view",
    "see",
    "what",
    "what's",
    "whats",
    "which",
    "are",
    "is",
    "do",
    "does",
    "did",
    "i",
    "have",
    "my",
    "me",
    "the",
    "tasks",
    "task",
    "todos",
    "to-dos",
    "todo",
    "items",
    "things",
    "all",
    "any",
    "anything",
    "due",
    "on",
    "for",
    "in",
    "s",
    "got",
    "there",
    "left",
    "to",
    "get",
    "give",
    "please",
    "can",
    "you",
    "tell",
    "and",
    "of",
    "that",
    "with",
    "priority",
    "a",
    "list",
    "up",
    "now",
    "currently",
    "still",
    "right",
    "stuff",
    "work's",
    "plate",
    "everything",
    "next",
    "this",
    "am",
    "i'm",
    "need",
    "should",
    "it",
    "be",
    "coming",
    "show's",
    "at",
    "was",
    "were",
    "category",
    "only",
    "just",
    "tagged",
    "tag",
    "overview",
    "agenda",
    "schedule",
    "from",
    "ones",
];

/// Words that on their own make an utterance a list request.
pub(super) const SIGNALS: &[&str] = &[
    "tasks",
    "task",
    "todos",
    "to-dos",
    "overdue",
    "agenda",
    "due",
    "completed",
    "pending",
    "list",
];

const SEARCH_VERBS: &[&str] = &["search for", "search", "find", "look for", "look up", "lookup"];
const SEARCH_MARKERS: &[&str] = &[
    "about",
    "mentioning",
    "containing",
    "matching",
    "called",
    "named",
    "titled",
    "regarding",
];

/// The due window a word or two name, and the words used.
fn window(w: &Words, i: usize) -> Option<(DueWindow, usize)> {
    if let Some(n) = w.any(i, &["this week", "this weekend", "the week"]) {
        return Some((DueWindow::ThisWeek, n));
    }
    if let Some(n) = w.is(i, "next week") {
        return Some((DueWindow::NextWeek, n));
    }
    if let Some(n) = w.any(i, &["past due", "overdue", "late"]) {
        return Some((DueWindow::Overdue, n));
    }
    match w.low(i) {
        "today" | "tonight" | "today's" => Some((DueWindow::Today, 1)),
        "tomorrow" | "tomorrow's" => Some((DueWindow::Tomorrow, 1)),
        _ => None,
    }
}

fn status(word: &str) -> Option<ListStatus> {
    match word {
        "completed" | "done" | "finished" | "complete" | "closed" => Some(ListStatus::Completed),
        "pending" | "open" | "incomplete" | "outstanding" | "remaining" | "unfinished" | "active"
        | "uncompleted" | "undone" => Some(ListStatus::Pending),
        _ => None,
    }
}

fn search_text(w: &Words, from: usize) -> Option<String> {
    let mut i = from;
    while matches!(w.low(i), "for" | "my" | "tasks" | "task" | "the" | "all" | "any")
        || SEARCH_MARKERS.contains(&w.low(i))
    {
        i += 1;
    }
    let text = w.text(i, w.len());
    (!text.is_empty()).then_some(text)
}

/// Reads a list request; on failure, the words that were not understood.
pub(super) fn plan(w: &Words) -> Result<ToolCall, String> {
    let mut args = ListTasksArgs::default();
    if let Some(n) = SEARCH_VERBS.iter().find_map(|v| w.is(0, v)) {
        // "find my tasks tagged home" is a filter, not a search for the words "tagged home".
        let rest = w.slice(n, w.len());
        if let Ok(call) = plan(&rest)
            && call.arguments != serde_json::json!({})
        {
            return Ok(call);
        }
        let text = search_text(w, n).ok_or_else(|| "what to search for".to_owned())?;
        args.search = Some(text);
        return Ok(ToolCall::new("list_tasks", args));
    }
    let mut unknown = Vec::new();
    let mut i = 0;
    while i < w.len() {
        let word = w.low(i);
        if SEARCH_MARKERS.contains(&word) && i + 1 < w.len() {
            args.search = search_text(w, i);
            break;
        }
        if let Some((d, n)) = window(w, i) {
            if args.due.is_some_and(|old| old != d) {
                return Err("more than one due window (ask about one at a time)".to_owned());
            }
            args.due = Some(d);
            i += n;
            continue;
        }
        if let Some(n) = w.any(i, &["including completed", "including done", "everything"]) {
            args.status = Some(ListStatus::All);
            i += n;
            continue;
        }
        if let Some(s) = status(word) {
            args.status = Some(s);
        } else if let Some(p) = word
            .strip_suffix("-priority")
            .and_then(priority_word)
            .or_else(|| {
                (w.low(i + 1) == "priority")
                    .then(|| priority_word(word))
                    .flatten()
            })
            .or_else(|| {
                matches!(word, "urgent" | "important")
                    .then(|| priority_word(word))
                    .flatten()
            })
        {
            args.priority = Some(p);
        } else if let Some(tag) = word.strip_prefix('#').filter(|t| !t.is_empty()) {
            args.tag = Some(tag.to_owned());
        } else if matches!(word, "tagged" | "tag") && i + 1 < w.len() {
            args.tag = Some(w.low(i + 1).trim_start_matches('#').to_owned());
            i += 1;
        } else if let Some(c) = Category::parse(word) {
            args.category = Some(c);
        } else if matches!(word, "top" | "first" | "last")
            && let Some(n) = w.low(i + 1).parse::<u32>().ok()
        {
            args.limit = Some(n.clamp(1, 50));
            i += 1;
        } else if let Ok(n) = word.parse::<u32>() {
            args.limit = Some(n.clamp(1, 50));
        } else if !FILLER.contains(&word) && !word.is_empty() {
            unknown.push(w.raw(i).to_owned());
        }
        i += 1;
    }
    if unknown.is_empty() {
        Ok(ToolCall::new("list_tasks", args))
    } else {
        Err(format!("\"{}\"", unknown.join(" ")))
    }
}
