//! Destructive tool calls from the chat agents are proposals, never acts: deleting a task (permanent)
//! needs the user's own confirmation, outside the model's reach. A model misled by a prompt, or by text
//! planted in a task, can at most propose; the user sees what would be deleted and confirms or not.
//!
//! The agent resolves the task now (so the user confirms exactly the task shown) and answers with a
//! `confirmation_required` result; the HTTP layer attaches a signed, expiring confirmation id to it and
//! runs the deletion only when the user sends that id back. At most [`MAX_PROPOSALS`] per turn.

use serde_json::{Value, json};

use super::resolve::{Prefer, resolve};
use super::{ToolCall, ToolContext, ToolOutcome};

/// Most destructive proposals one turn may make; more are refused as tool errors.
pub const MAX_PROPOSALS: usize = 3;
/// The tools that only ever run after the user confirms.
pub const DESTRUCTIVE: [&str; 1] = ["delete_task"];

/// Whether `name` needs the user's confirmation in the chat.
pub fn is_destructive(name: &str) -> bool {
    DESTRUCTIVE.contains(&name)
}

/// Runs `call` for a chat agent: safe tools run; a destructive one becomes a proposal (counted in
/// `proposals`).
pub async fn run_for_chat(ctx: &ToolContext, call: &ToolCall, proposals: &mut usize) -> ToolOutcome {
    if !is_destructive(&call.name) {
        return super::run(ctx, call).await;
    }
    let refuse = |message: String| ToolOutcome {
        name: call.name.clone(),
        arguments: call.arguments.clone(),
        result: json!({"error": {"code": "not_allowed", "message": message}}),
        message: format!("⚠️ {message}"),
        ok: false,
    };
    if *proposals >= MAX_PROPOSALS {
        return refuse(format!(
            "at most {MAX_PROPOSALS} deletions can be proposed in one turn; ask for the rest afterwards"
        ));
    }
    let reference = call
        .arguments
        .get("task")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let task = match resolve(ctx, reference, Prefer::Pending).await {
        Ok(task) => task,
        Err(e) => {
            return ToolOutcome {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                result: e.to_result(),
                message: format!("⚠️ {e}"),
                ok: false,
            };
        }
    };
    *proposals += 1;
    ToolOutcome {
        name: call.name.clone(),
        arguments: call.arguments.clone(),
        result: json!({"confirmation_required": {"action": call.name, "task": {"id": task.id, "title": task.title}}}),
        message: format!(
            "🗑️ Delete \"{}\"? Nothing is deleted until you confirm.",
            task.title
        ),
        ok: true,
    }
}

/// The task a `confirmation_required` result proposes to delete, if `result` is one.
pub fn proposed_task(result: &Value) -> Option<&str> {
    result
        .get("confirmation_required")?
        .get("task")?
        .get("id")?
        .as_str()
}
