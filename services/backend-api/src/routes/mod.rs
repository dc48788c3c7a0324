//! HTTP routes of backend-api, one module per resource.

pub mod audit;
pub mod auth;
pub mod chat;
pub mod chat_stream;
pub mod mcp;
pub mod notifications;
pub mod task_query;
pub mod tasks;
