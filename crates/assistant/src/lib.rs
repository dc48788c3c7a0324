//! The assistant: a chat agent that manages a user's tasks through one catalogue of tools.
//!
//! The same tools serve the chat API (online agent over any OpenAI-compatible model, or the offline
//! parser agent when no key is configured) and the MCP server, so every path validates, scopes and
//! answers identically.

pub mod agent;
pub mod mcp;
pub mod offline;
pub mod online;
pub mod tools;

pub use agent::{Agent, HistoryMessage, Progress, Turn, TurnEvent};
