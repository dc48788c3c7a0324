//! HTTP routes of backend-api, one module per resource.

pub mod audit;
pub mod auth;
pub mod notifications;
pub mod task_query;
pub mod tasks;
