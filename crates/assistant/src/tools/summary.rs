//! What chat history keeps (and chat answers show) of a tool call: a bounded summary — counts, ids,
//! titles cut short — never the full result. One "list my tasks" over tasks with long descriptions
//! used to store and return hundreds of kilobytes for a 40-byte message.
//!
//! The tools' full results still reach the model (and MCP clients); only what is stored and sent back
//! to the chat is slimmed here, to at most [`MAX_SUMMARY_BYTES`] per tool call part.

use serde_json::{Map, Value, json};
use taskflow_domain::json_size::json_len;

/// Most bytes of JSON kept of a tool call's result, and of its arguments.
pub const MAX_SUMMARY_BYTES: usize = 2_048;
/// Characters kept of a task's title.
const TITLE_CHARS: usize = 80;
/// Characters kept of any other text.
const TEXT_CHARS: usize = 200;
/// The fields of a task a summary keeps.
const TASK_FIELDS: [&str; 5] = ["id", "title", "completed", "priority", "due_at"];

/// `result` slimmed: tasks reduced to [`TASK_FIELDS`], texts cut, lists cut to fit (`omitted` says how
/// many were left out), and the whole within [`MAX_SUMMARY_BYTES`].
pub fn result(result: &Value) -> Value {
    fit(slim(result, None))
}

/// `arguments` slimmed the same way (a description of 10 000 characters keeps its start).
pub fn arguments(arguments: &Value) -> Value {
    fit(slim(arguments, None))
}

fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn is_task(o: &Map<String, Value>) -> bool {
    o.contains_key("id") && o.contains_key("title")
}

fn slim(value: &Value, key: Option<&str>) -> Value {
    match value {
        Value::String(s) => {
            let chars = if key == Some("title") {
                TITLE_CHARS
            } else {
                TEXT_CHARS
            };
            Value::String(cut(s, chars))
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| slim(v, None)).collect()),
        Value::Object(o) if is_task(o) => Value::Object(
            TASK_FIELDS
                .iter()
                .filter_map(|k| o.get(*k).map(|v| ((*k).to_owned(), slim(v, Some(k)))))
                .collect(),
        ),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), slim(v, Some(k)))).collect()),
        other => other.clone(),
    }
}

/// Drops items from the end of the longest list until `value` fits; a value that still does not
/// (no list left to shorten) becomes a marker.
fn fit(mut value: Value) -> Value {
    loop {
        let size = json_len(&value);
        if size <= MAX_SUMMARY_BYTES {
            return value;
        }
        // Far over: halve lists at a time, so a huge value takes few passes.
        let halve = size > 2 * MAX_SUMMARY_BYTES;
        if !drop_some(&mut value, halve) {
            return json!({"omitted": "too large to keep"});
        }
    }
}

/// How many of `len` items to drop: one, or half of them.
fn to_drop(len: usize, halve: bool) -> usize {
    if halve { len.div_ceil(2) } else { 1 }
}

/// Removes the last items of the longest list in `value` (the first level that has one) and counts
/// them in that object's `omitted`; `false` when there is no list to shorten.
fn drop_some(value: &mut Value, halve: bool) -> bool {
    match value {
        Value::Array(items) if !items.is_empty() => {
            let keep = items.len() - to_drop(items.len(), halve);
            items.truncate(keep);
            true
        }
        Value::Array(_) => false,
        Value::Object(o) => {
            let longest = o
                .iter()
                .filter_map(|(k, v)| {
                    v.as_array()
                        .filter(|a| !a.is_empty())
                        .map(|a| (k.clone(), a.len()))
                })
                .max_by_key(|(_, n)| *n)
                .map(|(k, _)| k);
            let Some(key) = longest else {
                return o.values_mut().any(|v| drop_some(v, halve));
            };
            let mut dropped = 0;
            if let Some(Value::Array(items)) = o.get_mut(&key) {
                dropped = to_drop(items.len(), halve);
                items.truncate(items.len() - dropped);
            }
            let omitted = o.get("omitted").and_then(Value::as_u64).unwrap_or(0) + dropped as u64;
            o.insert("omitted".to_owned(), json!(omitted));
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::{MAX_SUMMARY_BYTES, json_len, result};

    fn task(i: usize, description: &str) -> serde_json::Value {
        json!({"id": format!("0190-{i}"), "title": format!("task {i} {}", "t".repeat(190)), "description": description,
            "completed": false, "priority": "high", "due_at": null, "tags": ["a", "b"], "reminders": []})
    }

    #[test]
    fn a_list_keeps_ids_and_short_titles_within_the_budget() {
        let tasks: Vec<_> = (0..50).map(|i| task(i, &"d".repeat(10_000))).collect();
        let full = json!({"tasks": tasks, "count": 50, "more": true});
        let slim = result(&full);
        assert!(json_len(&slim) <= MAX_SUMMARY_BYTES, "{}", json_len(&slim));
        assert_eq!(slim["count"], 50);
        assert_eq!(slim["more"], true);
        let kept = slim["tasks"].as_array().unwrap();
        assert!(!kept.is_empty());
        assert_eq!(kept.len() as u64 + slim["omitted"].as_u64().unwrap(), 50);
        assert_eq!(kept[0]["id"], "0190-0");
        assert!(kept[0].get("description").is_none());
        assert!(kept[0]["title"].as_str().unwrap().chars().count() <= 81);
    }

    #[test]
    fn one_task_and_errors_keep_their_shape() {
        let one = result(&json!({"task": task(1, "short"), "changed": ["title"]}));
        assert_eq!(one["task"]["priority"], "high");
        assert_eq!(one["changed"], json!(["title"]));
        let error = json!({"error": {"code": "ambiguous", "message": "which one?", "candidates": [{"id": "a", "title": "x"}]}});
        assert_eq!(result(&error), error);
    }

    proptest! {
        #[test]
        fn any_result_fits(texts in proptest::collection::vec(".{0,400}", 0..40), depth in 0usize..4) {
            let mut value = json!(texts);
            for _ in 0..depth {
                value = json!({"nested": value, "tasks": texts});
            }
            prop_assert!(json_len(&result(&value)) <= MAX_SUMMARY_BYTES);
        }
    }
}
