//! The push message built from a bus event, slimmed for clients.
//!
//! A `task-updated` event carries before and after of every changed field next to the full task;
//! with 10 000-character descriptions that is three copies per push, held by every replica's replay
//! buffer and queues. Clients need the task (the after values are in it), so a change whose values
//! are larger than [`INLINE_CHANGE_BYTES`] is sent as `{"truncated": true}`; small ones keep
//! `before` and `after`.

use serde_json::{Map, Value, json};
use taskflow_domain::TaskEvent;

use crate::hub::Push;

/// The largest change (before and after together, roughly as JSON) sent in full.
pub const INLINE_CHANGE_BYTES: usize = 1024;

/// The push for `e`, whose serialised form (the CloudEvent's `data`, the outbox payload) is `data`.
pub fn push(e: &TaskEvent, data: &Value) -> Push {
    Push::new(
        e.event_id.to_string(),
        e.event_type.topic().to_owned(),
        body(e, data),
    )
}

/// `{id, type, task_id, data, occurred_at}` for `e`, with `data` slimmed.
fn body(e: &TaskEvent, data: &Value) -> String {
    json!({
        "id": e.event_id,
        "type": e.event_type.topic(),
        "task_id": e.task.id,
        "data": slim(data),
        "occurred_at": e.occurred_at,
    })
    .to_string()
}

fn slim(data: &Value) -> Value {
    let Value::Object(fields) = data else {
        return data.clone();
    };
    fields
        .iter()
        .map(|(key, value)| {
            let value = match (key.as_str(), value) {
                ("changes", Value::Object(changes)) => Value::Object(slim_changes(changes)),
                _ => value.clone(),
            };
            (key.clone(), value)
        })
        .collect::<Map<_, _>>()
        .into()
}

fn slim_changes(changes: &Map<String, Value>) -> Map<String, Value> {
    changes
        .iter()
        .map(|(field, change)| {
            let mut budget = INLINE_CHANGE_BYTES;
            let change = if fits(change, &mut budget) {
                change.clone()
            } else {
                json!({ "truncated": true })
            };
            (field.clone(), change)
        })
        .collect()
}

/// Whether `value` is at most `budget` bytes, roughly as JSON; stops counting once over.
fn fits(value: &Value, budget: &mut usize) -> bool {
    let size = match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => return spend(budget, 2) && items.iter().all(|v| fits(v, budget)),
        Value::Object(map) => {
            return spend(budget, 2)
                && map
                    .iter()
                    .all(|(k, v)| spend(budget, k.len() + 4) && fits(v, budget));
        }
    };
    spend(budget, size)
}

fn spend(budget: &mut usize, bytes: usize) -> bool {
    match budget.checked_sub(bytes) {
        Some(left) => {
            *budget = left;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn large_changes_are_truncated_small_ones_and_other_fields_kept() {
        let data = json!({
            "task": {"description": "d".repeat(5000)},
            "changes": {
                "description": {"before": "a".repeat(5000), "after": "d".repeat(5000)},
                "priority": {"before": "low", "after": "high"},
            },
        });
        let slimmed = slim(&data);
        assert_eq!(slimmed["task"], data["task"]);
        assert_eq!(slimmed["changes"]["priority"], data["changes"]["priority"]);
        assert_eq!(slimmed["changes"]["description"], json!({"truncated": true}));
    }

    proptest! {
        #[test]
        fn fits_never_accepts_what_serializes_much_larger(s in ".{0,600}", n in 0usize..40) {
            let value = json!({"before": s, "after": vec![s.clone(); n % 4]});
            let mut budget = INLINE_CHANGE_BYTES;
            if fits(&value, &mut budget) {
                // JSON escapes may grow a character at most sixfold (`\u0001`).
                prop_assert!(value.to_string().len() <= 6 * INLINE_CHANGE_BYTES + 64);
            }
        }
    }
}
