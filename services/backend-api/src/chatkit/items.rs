//! TaskFlow's conversations as ChatKit threads, and their messages as thread items.
//!
//! A conversation is a thread (same id, same title). A user message is a `user_message` item; an
//! assistant message is an `assistant_message` item, preceded — when the assistant ran tools for it
//! — by a `workflow` item listing them, whose id is the message's id with [`TOOLS_SUFFIX`], and by a
//! confirmation card for each deletion it proposed (`confirm.rs`). So the
//! items a client streamed are the items it reads back later, and every item id leads back to one
//! stored message.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use taskflow_store::{Conversation, Message};
use uuid::Uuid;

use super::confirm;
use super::protocol::{Item, OutputText, Page, Thread, ToolTask, Workflow};

/// Appended to an assistant message's id to name the workflow item of its tools.
pub const TOOLS_SUFFIX: &str = ".tools";

/// The stored message an item id names (a workflow or widget item names its assistant message).
pub fn message_id(item_id: &str) -> Option<Uuid> {
    let raw = item_id.split_once('.').map_or(item_id, |(id, _)| id);
    Uuid::parse_str(raw).ok()
}

pub fn thread(c: &Conversation, items: Page<Item>) -> Thread {
    Thread {
        id: c.id.to_string(),
        title: c.title.clone(),
        created_at: c.created_at,
        status: json!({"type": "active"}),
        items,
    }
}

pub fn user_item(thread_id: Uuid, id: Uuid, created_at: DateTime<Utc>, text: &str) -> Item {
    Item::User {
        id: id.to_string(),
        thread_id: thread_id.to_string(),
        created_at,
        content: vec![json!({"type": "input_text", "text": text})],
        attachments: Vec::new(),
        inference_options: json!({}),
    }
}

pub fn assistant_item(thread_id: Uuid, id: Uuid, created_at: DateTime<Utc>, text: &str) -> Item {
    Item::Assistant {
        id: id.to_string(),
        thread_id: thread_id.to_string(),
        created_at,
        content: vec![OutputText::new(text.to_owned())],
    }
}

pub fn workflow_item(
    thread_id: Uuid,
    message_id: Uuid,
    created_at: DateTime<Utc>,
    tasks: Vec<ToolTask>,
) -> Item {
    let summary = json!({"title": tools_summary(tasks.len()), "icon": "bolt"});
    Item::Workflow {
        id: format!("{message_id}{TOOLS_SUFFIX}"),
        thread_id: thread_id.to_string(),
        created_at,
        workflow: Workflow {
            kind: "custom",
            tasks,
            summary: Some(summary),
            expanded: false,
        },
    }
}

fn tools_summary(n: usize) -> String {
    if n == 1 {
        "Used 1 tool".to_owned()
    } else {
        format!("Used {n} tools")
    }
}

/// One tool as a workflow task: its sentence for people when there is one (recorded since ChatKit
/// came), otherwise its name; a tool that failed says so.
pub fn tool_task(name: &str, message: Option<&str>, result: &Value) -> ToolTask {
    let failed = result.get("error").is_some();
    let title = match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => m.to_owned(),
        None if failed => format!("{name} failed"),
        None => name.replace('_', " "),
    };
    ToolTask {
        kind: "custom",
        title,
        content: None,
        icon: if failed { "info" } else { "check-circle" },
        status_indicator: "complete",
    }
}

/// The tasks of a stored assistant message's `tool_calls` (`[{name, arguments, result, message?}]`).
fn stored_tasks(tool_calls: Option<&Value>) -> Vec<ToolTask> {
    tool_calls
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|c| {
                    tool_task(
                        c.get("name").and_then(Value::as_str).unwrap_or("tool"),
                        c.get("message").and_then(Value::as_str),
                        c.get("result").unwrap_or(&Value::Null),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A stored message as its items, in time order (a workflow before the answer it led to).
pub fn message_items(m: &Message) -> Vec<Item> {
    if m.role == "user" {
        return vec![user_item(m.conversation_id, m.id, m.created_at, &m.content)];
    }
    let mut items = Vec::with_capacity(2);
    let tasks = stored_tasks(m.tool_calls.as_ref());
    if !tasks.is_empty() {
        items.push(workflow_item(m.conversation_id, m.id, m.created_at, tasks));
    }
    let calls = m
        .tool_calls
        .as_ref()
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (n, call) in calls.iter().enumerate() {
        if let Some(p) = call.get("result").and_then(confirm::proposal) {
            items.push(confirm::widget_item(m.conversation_id, m.id, n, m.created_at, p));
        }
    }
    items.push(assistant_item(m.conversation_id, m.id, m.created_at, &m.content));
    items
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_workflow_item_leads_back_to_its_message() {
        let id = Uuid::now_v7();
        assert_eq!(message_id(&format!("{id}{TOOLS_SUFFIX}")), Some(id));
        assert_eq!(message_id(&id.to_string()), Some(id));
        assert_eq!(message_id("not-an-id"), None);
    }

    #[test]
    fn an_answer_with_tools_is_a_workflow_then_the_message() {
        let m = Message {
            id: Uuid::now_v7(),
            conversation_id: Uuid::now_v7(),
            role: "assistant".into(),
            content: "Added it.".into(),
            tool_calls: Some(json!([
                {"name": "add_task", "arguments": {}, "result": {"task": {}}, "message": "✅ Added “Milk”"},
                {"name": "list_tasks", "arguments": {}, "result": {"error": {"code": "x"}}}
            ])),
            feedback: None,
            created_at: Utc::now(),
        };
        let items = message_items(&m);
        assert_eq!(items.len(), 2);
        let w = serde_json::to_value(&items[0]).unwrap();
        assert_eq!(w["type"], "workflow");
        assert_eq!(w["workflow"]["tasks"][0]["title"], "✅ Added “Milk”");
        assert_eq!(w["workflow"]["tasks"][1]["title"], "list_tasks failed");
        assert_eq!(items[1].id(), m.id.to_string());
    }
}
