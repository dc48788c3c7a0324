//! Structured logging with `tracing`.
//!
//! `LOG_FORMAT=json|pretty` picks the output (services default to JSON, the all-in-one binary to pretty
//! on a terminal); `RUST_LOG` filters as usual.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{self, ConfigError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
    /// Pretty on a terminal, JSON otherwise.
    Auto,
}

const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,actix_server=warn";

/// Installs the global subscriber. Safe to call more than once (tests do): later calls do nothing.
pub fn init(default: LogFormat) -> Result<(), ConfigError> {
    let format = match config::var("LOG_FORMAT").map(|v| v.to_ascii_lowercase()) {
        None => default,
        Some(v) if v == "json" => LogFormat::Json,
        Some(v) if v == "pretty" || v == "text" => LogFormat::Pretty,
        Some(v) if v == "auto" => LogFormat::Auto,
        Some(value) => {
            return Err(ConfigError::Invalid {
                name: "LOG_FORMAT",
                value,
                reason: "expected json or pretty".into(),
            });
        }
    };
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    Ok(())
}
