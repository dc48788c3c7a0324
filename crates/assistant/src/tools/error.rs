//! Why a tool call did not do what was asked. These go back to the model or the MCP client as a tool
//! result (so it can correct itself or ask the user), never as a transport error.

use serde_json::{Value, json};
use taskflow_domain::ValidationError;
use taskflow_domain::quick_add::QuickAddError;
use taskflow_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    /// The arguments do not match the tool's schema.
    #[error("invalid arguments: {0}")]
    Arguments(String),
    /// A field's value breaks a rule (title too long, unreadable date, …).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    /// Several tasks match the name given; the caller must pick one.
    #[error("{message}")]
    Ambiguous { message: String, candidates: Vec<Value> },
    /// The database is unreachable or failed (retrying later may work), or the user's quota is
    /// reached (the message says which).
    #[error("{}", store_message(.0))]
    Store(#[from] StoreError),
}

/// What a store failure tells the client: the quota reached, or only that the store is unavailable.
fn store_message(e: &StoreError) -> String {
    match e {
        StoreError::QuotaExceeded { .. } => format!("{e}; delete some to make room"),
        _ => "the task store is unavailable right now".to_owned(),
    }
}

impl ToolError {
    pub fn invalid(field: &str, err: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: err.to_string(),
        }
    }

    pub fn from_phrase(field: &str, err: QuickAddError) -> Self {
        Self::invalid(field, err)
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownTool(_) => "unknown_tool",
            Self::Arguments(_) => "invalid_arguments",
            Self::Invalid { .. } => "validation_failed",
            Self::NotFound(_) => "not_found",
            Self::Ambiguous { .. } => "ambiguous",
            Self::Store(StoreError::QuotaExceeded { .. }) => "quota_exceeded",
            Self::Store(_) => "unavailable",
        }
    }

    /// The structured result a client sees.
    pub fn to_result(&self) -> Value {
        let mut error = json!({"code": self.code(), "message": self.to_string()});
        match self {
            Self::Invalid { field, .. } => error["field"] = json!(field),
            Self::Ambiguous { candidates, .. } => error["candidates"] = json!(candidates),
            _ => {}
        }
        json!({ "error": error })
    }
}

impl From<ValidationError> for ToolError {
    fn from(e: ValidationError) -> Self {
        Self::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}
