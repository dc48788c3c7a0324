//! The tool catalogue shared by the chat agents and the MCP server.

pub mod args;

pub use args::{
    AddTaskArgs, CompleteTaskArgs, DeleteTaskArgs, DueWindow, GetStatsArgs, ListStatus, ListTasksArgs,
    SetReminderArgs, ToolCall, UpdateTaskArgs,
};
