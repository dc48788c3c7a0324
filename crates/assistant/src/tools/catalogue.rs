//! What each tool is, for the model and for MCP clients: name, description, JSON Schema of its
//! arguments and hints about its effects. The schemas mirror the argument structs in [`super::args`].

use serde_json::{Value, json};

/// One tool as advertised.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
    /// Only reads.
    pub read_only: bool,
    /// May destroy data (delete).
    pub destructive: bool,
    /// Calling it twice with the same arguments has no further effect.
    pub idempotent: bool,
}

impl ToolSpec {
    /// The MCP `annotations` object.
    pub fn annotations(&self) -> Value {
        json!({
            "title": self.title,
            "readOnlyHint": self.read_only,
            "destructiveHint": self.destructive,
            "idempotentHint": self.idempotent,
            "openWorldHint": false,
        })
    }
}

const PRIORITY: &str = "low, medium or high (default medium)";

fn task_ref() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "description": "The task's id, or its title (or a distinctive part of it). If several tasks match, the tool answers with the candidates instead of guessing."
    })
}

fn priority() -> Value {
    json!({"type": "string", "enum": ["low", "medium", "high"], "description": PRIORITY})
}

fn category() -> Value {
    json!({"type": "string", "enum": ["work", "personal", "home", "other"]})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// Every tool, in a stable order.
pub fn catalogue() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "add_task",
            title: "Add a task",
            description: "Create a task for the user. Dates, repetition and reminders may be written in plain English.",
            input_schema: object(
                json!({
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "description": {"type": "string", "maxLength": 10000},
                    "priority": priority(),
                    "category": category(),
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
                    "due": {"type": "string", "description": "When it is due: 'tomorrow 5pm', 'next friday', 'in 3 days', '2026-12-01', or RFC 3339. A date alone means the end of that day."},
                    "recurrence": {"type": "string", "description": "How it repeats: 'every weekday', 'every monday and wednesday', 'every month on the 1st', 'daily', or an RFC 5545 RRULE."},
                    "remind": {"type": "string", "description": "A reminder: '30 minutes before', '1 day before' (relative to due) or a time such as 'tomorrow 9am'."}
                }),
                &["title"],
            ),
            read_only: false,
            destructive: false,
            idempotent: false,
        },
        ToolSpec {
            name: "list_tasks",
            title: "List tasks",
            description: "List the user's tasks, pending by default, filtered by priority, category, tag, words or a due window.",
            input_schema: object(
                json!({
                    "status": {"type": "string", "enum": ["pending", "completed", "all"]},
                    "priority": priority(),
                    "category": category(),
                    "tag": {"type": "string"},
                    "search": {"type": "string", "description": "Words in the title or description."},
                    "due": {"type": "string", "enum": ["overdue", "today", "tomorrow", "this_week", "next_week"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50}
                }),
                &[],
            ),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        ToolSpec {
            name: "complete_task",
            title: "Complete a task",
            description: "Mark a task done (or reopen it with completed=false). Completing a recurring task schedules its next occurrence.",
            input_schema: object(
                json!({"task": task_ref(), "completed": {"type": "boolean", "description": "false reopens the task; default true"}}),
                &["task"],
            ),
            read_only: false,
            destructive: false,
            idempotent: true,
        },
        ToolSpec {
            name: "delete_task",
            title: "Delete a task",
            description: "Delete a task permanently.",
            input_schema: object(json!({"task": task_ref()}), &["task"]),
            read_only: false,
            destructive: true,
            idempotent: true,
        },
        ToolSpec {
            name: "update_task",
            title: "Update a task",
            description: "Change a task's title, description, priority, category, tags, due date or repetition. Only the fields given change.",
            input_schema: object(
                json!({
                    "task": task_ref(),
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "description": {"type": "string", "maxLength": 10000},
                    "priority": priority(),
                    "category": category(),
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20, "description": "Replaces the task's tags."},
                    "due": {"type": "string", "description": "New due date in plain English or RFC 3339; 'none' removes it."},
                    "recurrence": {"type": "string", "description": "New repetition in plain English, a preset or an RRULE; 'none' stops it."}
                }),
                &["task"],
            ),
            read_only: false,
            destructive: false,
            idempotent: true,
        },
        ToolSpec {
            name: "get_stats",
            title: "Task statistics",
            description: "Counts of the user's tasks: total, pending, completed, overdue, by priority and by category.",
            input_schema: object(json!({}), &[]),
            read_only: true,
            destructive: false,
            idempotent: true,
        },
        ToolSpec {
            name: "set_reminder",
            title: "Set a reminder",
            description: "Add a reminder to a task: relative to its due date ('30 minutes before') or at a time ('tomorrow 9am').",
            input_schema: object(
                json!({"task": task_ref(), "when": {"type": "string", "minLength": 1}}),
                &["task", "when"],
            ),
            read_only: false,
            destructive: false,
            idempotent: false,
        },
    ]
}

/// The catalogue in the Chat Completions `tools` shape.
pub fn openai_tools() -> Value {
    Value::Array(
        catalogue()
            .into_iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}
                })
            })
            .collect(),
    )
}
