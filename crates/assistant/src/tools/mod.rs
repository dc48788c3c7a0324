//! The tool catalogue shared by the chat agents and the MCP server: one set of tools, scoped to the
//! caller, with the same validation and events as the REST API.

pub mod args;
pub mod catalogue;
pub mod confirm;
pub mod context;
mod error;
pub mod exec;
pub mod format;
mod resolve;
pub mod summary;

pub use args::{
    AddTaskArgs, CompleteTaskArgs, DeleteTaskArgs, DueWindow, GetStatsArgs, ListStatus, ListTasksArgs,
    SetReminderArgs, ToolCall, UpdateTaskArgs,
};
pub use catalogue::{ToolSpec, catalogue, openai_tools};
pub use context::ToolContext;
pub use error::ToolError;
pub use exec::{ToolOutcome, run};
