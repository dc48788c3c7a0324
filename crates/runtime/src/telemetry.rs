//! Structured logging with `tracing`.
//!
//! `LOG_FORMAT=json|pretty` picks the output (services default to JSON, the all-in-one binary to pretty
//! on a terminal); `RUST_LOG` filters as usual. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the traced
//! spans are also exported to an OpenTelemetry collector ([`crate::otlp`]).

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{self, ConfigError};
use crate::otlp::{self, OtlpConfig, OtlpHandle};

static OTLP: OnceLock<OtlpHandle> = OnceLock::new();

/// Sends the spans still queued for the collector (a no-op without OTLP). Call before exiting.
pub fn flush() {
    if let Some(handle) = OTLP.get() {
        handle.flush(Duration::from_secs(5));
    }
}

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
    let export = match OtlpConfig::from_env()? {
        Some(config) if OTLP.get().is_none() => match otlp::spawn(config.clone()) {
            Ok((layer, handle)) => {
                let _ = OTLP.set(handle);
                Some((layer, config))
            }
            Err(e) => {
                eprintln!("cannot start the OTLP exporter: {e}");
                None
            }
        },
        _ => None,
    };
    let (otlp_layer, exporting) = match export {
        Some((layer, config)) => (Some(layer), Some(config)),
        None => (None, None),
    };
    let registry = tracing_subscriber::registry().with(filter).with(otlp_layer);
    let fmt = tracing_subscriber::fmt::layer().with_span_events(FmtSpan::NONE);
    let installed = if json {
        registry
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()
    } else {
        registry.with(fmt.compact()).try_init()
    };
    if installed.is_ok()
        && let Some(config) = exporting
    {
        tracing::info!(url = %config.url, service = %config.service_name, "exporting traces over OTLP/HTTP");
    }
    Ok(())
}
