//! Deleting through ChatKit: the assistant never deletes on its own (it proposes, and the proposal
//! carries a signed confirmation id, `routes/chat_confirm.rs`), so each proposal becomes a widget
//! item — a card with "Delete" and "Keep it" — whose buttons send `threads.custom_action`
//! (`task.delete.confirm` / `task.delete.cancel`, the confirmation id as payload).
//!
//! The decision is written into the proposal's stored tool call (`confirmation_required.decision`),
//! so the thread read back later shows the card decided, not its buttons again; an expired proposal
//! shows as expired. The widget's id is its answer's id with `.confirm{n}`, `n` the tool call's place
//! in the answer. A confirmed deletion is stored as an assistant message with its tool call.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::protocol::Item;

pub const CONFIRM_ACTION: &str = "task.delete.confirm";
pub const CANCEL_ACTION: &str = "task.delete.cancel";
/// Between an answer's id and the tool call's place in a confirmation widget's id.
pub const WIDGET_INFIX: &str = ".confirm";

/// What became of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Deleted,
    Kept,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Kept => "kept",
        }
    }
}

/// The proposal in a tool call's `result`, if it is one.
pub fn proposal(result: &Value) -> Option<&Value> {
    result.get("confirmation_required")
}

fn title_of(proposal: &Value) -> &str {
    proposal
        .get("task")
        .and_then(|t| t.get("title"))
        .and_then(Value::as_str)
        .unwrap_or("this task")
}

fn text(value: String, extra: Value) -> Value {
    let mut t = json!({"type": "Text", "value": value});
    if let (Some(t), Some(extra)) = (t.as_object_mut(), extra.as_object()) {
        t.extend(extra.clone());
    }
    t
}

/// The card for `proposal` as it stands at `now`.
pub fn card(proposal: &Value, now: DateTime<Utc>) -> Value {
    let title = title_of(proposal);
    let decided = proposal.get("decision").and_then(Value::as_str);
    let expired = proposal
        .get("expires_at")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t < now);
    let status = match decided {
        Some("deleted") => Some(format!("Deleted “{title}”.")),
        Some(_) => Some(format!("Kept “{title}”.")),
        None if expired => Some(format!("This proposal to delete “{title}” expired; ask again.")),
        None => None,
    };
    if let Some(status) = status {
        return json!({"type": "Card", "size": "sm",
            "children": [text(status, json!({"color": "secondary"}))]});
    }
    let id = proposal.get("id").cloned().unwrap_or(Value::Null);
    json!({
        "type": "Card",
        "size": "sm",
        "children": [
            text(format!("Delete “{title}”?"), json!({"weight": "semibold"})),
            text("Nothing is deleted until you confirm.".into(), json!({"color": "secondary", "size": "sm"})),
        ],
        "confirm": {"label": "Delete", "action": {"type": CONFIRM_ACTION, "payload": {"confirmation": id}}},
        "cancel": {"label": "Keep it", "action": {"type": CANCEL_ACTION, "payload": {"confirmation": id}}},
    })
}

pub fn widget_id(message_id: &str, index: usize) -> String {
    format!("{message_id}{WIDGET_INFIX}{index}")
}

/// The place of the tool call a widget id names.
pub fn widget_index(item_id: &str) -> Option<usize> {
    item_id.split_once(WIDGET_INFIX)?.1.parse().ok()
}

pub fn widget_item(
    thread_id: Uuid,
    message_id: Uuid,
    index: usize,
    created_at: DateTime<Utc>,
    proposal: &Value,
) -> Item {
    Item::Widget {
        id: widget_id(&message_id.to_string(), index),
        thread_id: thread_id.to_string(),
        created_at,
        widget: card(proposal, Utc::now()),
        copy_text: format!("Delete “{}”?", title_of(proposal)),
    }
}

/// `tool_calls` with the decision recorded on the proposal at `index`; `None` if there is none.
pub fn decide(tool_calls: &Value, index: usize, decision: Decision) -> Option<Value> {
    let mut calls = tool_calls.clone();
    let p = calls
        .get_mut(index)?
        .get_mut("result")?
        .get_mut("confirmation_required")?
        .as_object_mut()?;
    p.insert("decision".into(), json!(decision.as_str()));
    Some(calls)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn proposal(expires_at: &str) -> Value {
        json!({"action": "delete_task", "task": {"id": "t1", "title": "Milk"}, "id": "t1.1.ab", "expires_at": expires_at})
    }

    #[test]
    fn a_pending_proposal_has_both_buttons_and_a_decided_or_expired_one_none() {
        let now = Utc::now();
        let pending = card(&proposal("2999-01-01T00:00:00Z"), now);
        assert_eq!(pending["confirm"]["action"]["type"], CONFIRM_ACTION);
        assert_eq!(pending["cancel"]["action"]["payload"]["confirmation"], "t1.1.ab");
        let expired = card(&proposal("2000-01-01T00:00:00Z"), now);
        assert!(expired.get("confirm").is_none());
        assert!(
            expired["children"][0]["value"]
                .as_str()
                .unwrap()
                .contains("expired")
        );
        let calls = json!([{"name": "delete_task", "result": {"confirmation_required": proposal("2999-01-01T00:00:00Z")}}]);
        let decided = decide(&calls, 0, Decision::Deleted).unwrap();
        let shown = card(&decided[0]["result"]["confirmation_required"], now);
        assert!(shown.get("confirm").is_none());
        assert_eq!(shown["children"][0]["value"], "Deleted “Milk”.");
        assert!(decide(&calls, 1, Decision::Kept).is_none());
    }

    #[test]
    fn a_widget_id_names_its_tool_call() {
        assert_eq!(widget_index(&widget_id("0190-ab", 2)), Some(2));
        assert_eq!(widget_index("0190-ab.tools"), None);
    }
}
