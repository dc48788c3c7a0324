//! Optional span export to an OpenTelemetry collector, over OTLP/HTTP with JSON encoding.
//!
//! Switched on by `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); without it
//! nothing here runs. It exports the spans that carry W3C ids — `request` (kind server), `event`
//! (kind consumer) and `tick` — with exactly the trace and span ids that travel in `traceparent`
//! headers, outbox rows and CloudEvents, so a collector joins the REST call, its consumers and their
//! follow-up events into one trace.
//!
//! Hand-written instead of the `opentelemetry` crates: those add about thirty crates (prost, a
//! second reqwest, the SDK) to every build, and generate span ids of their own that we would have
//! to reconcile with the ids already carried by the outbox. OTLP/JSON is a documented, stable
//! encoding that every collector (and Jaeger and Tempo) accepts on port 4318.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{self, ConfigError};

/// Spans waiting for the exporter; beyond this they are dropped (and counted), never buffered
/// without bound.
const QUEUE: usize = 4096;
const BATCH: usize = 512;
const INTERVAL: Duration = Duration::from_secs(2);

/// Where and as whom to export.
#[derive(Clone)]
pub struct OtlpConfig {
    /// The full traces URL (`…/v1/traces`).
    pub url: String,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`), e.g. an API key. Never logged.
    pub headers: Vec<(String, String)>,
    pub service_name: String,
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("url", &self.url)
            .field("headers", &format!("{} header(s)", self.headers.len()))
            .field("service_name", &self.service_name)
            .finish()
    }
}

impl OtlpConfig {
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL), else `OTEL_EXPORTER_OTLP_ENDPOINT` +
    /// `/v1/traces`; `None` when neither is set. `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`) and
    /// `OTEL_SERVICE_NAME` (default: the executable's name) as the OpenTelemetry SDKs read them.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        let url = match (
            config::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            config::var("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(url), _) => url,
            (None, Some(base)) => format!("{}/v1/traces", base.trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                name: "OTEL_EXPORTER_OTLP_ENDPOINT",
                value: url,
                reason: "expected an http:// or https:// URL (OTLP over HTTP, port 4318)".into(),
            });
        }
        if let Some(protocol) = config::var("OTEL_EXPORTER_OTLP_PROTOCOL")
            && protocol != "http/json"
        {
            return Err(ConfigError::Invalid {
                name: "OTEL_EXPORTER_OTLP_PROTOCOL",
                value: protocol,
                reason: "TaskFlow exports OTLP over HTTP with JSON encoding: use http/json or leave it unset"
                    .into(),
            });
        }
        let headers = config::var("OTEL_EXPORTER_OTLP_HEADERS")
            .map(|h| {
                h.split(',')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .filter(|(k, _)| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let service_name = config::var("OTEL_SERVICE_NAME").unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "taskflow".into())
        });
        Ok(Some(Self {
            url,
            headers,
            service_name,
        }))
    }
}

/// What the layer keeps for an open span that carries W3C ids.
#[derive(Default)]
struct OpenSpan {
    fields: BTreeMap<String, String>,
    start: Option<SystemTime>,
}

struct FieldsVisitor<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

enum Message {
    Span(Value),
    Flush(mpsc::Sender<()>),
}

/// The `tracing` layer that turns closed spans into OTLP spans.
pub struct OtlpLayer {
    tx: mpsc::SyncSender<Message>,
}

/// Waits for queued spans to be sent; see [`OtlpHandle::flush`].
#[derive(Clone)]
pub struct OtlpHandle {
    tx: mpsc::SyncSender<Message>,
}

impl OtlpHandle {
    /// Sends what is queued now, waiting at most `timeout` (at shutdown, so the last spans arrive).
    pub fn flush(&self, timeout: Duration) {
        let (done, wait) = mpsc::channel();
        if self.tx.try_send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(timeout);
        }
    }
}

/// Starts the exporter thread and returns the layer that feeds it.
pub fn spawn(config: OtlpConfig) -> std::io::Result<(OtlpLayer, OtlpHandle)> {
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    std::thread::Builder::new()
        .name("otlp-exporter".into())
        .spawn(move || export_loop(&config, &rx))?;
    Ok((OtlpLayer { tx: tx.clone() }, OtlpHandle { tx }))
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

/// OTLP span kinds: 1 internal, 2 server, 5 consumer.
fn kind(name: &str) -> u8 {
    match name {
        "request" => 2,
        "event" => 5,
        _ => 1,
    }
}

/// OTLP status: 2 (error) for a 5xx answer or a dropped event, else unset.
fn status(fields: &BTreeMap<String, String>) -> Value {
    let failed = fields
        .get("status")
        .and_then(|s| s.parse::<u16>().ok())
        .is_some_and(|s| s >= 500)
        || fields.get("outcome").is_some_and(|o| o == "drop");
    if failed { json!({"code": 2}) } else { json!({}) }
}

fn otlp_span(
    name: &str,
    mut fields: BTreeMap<String, String>,
    start: SystemTime,
    end: SystemTime,
) -> Option<Value> {
    let trace_id = fields.remove("trace_id")?;
    let span_id = fields.remove("span_id")?;
    let parent = fields.remove("parent_span_id");
    let status = status(&fields);
    let attributes: Vec<Value> = fields
        .into_iter()
        .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
        .collect();
    let mut span = json!({
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": kind(name),
        "startTimeUnixNano": nanos(start),
        "endTimeUnixNano": nanos(end),
        "attributes": attributes,
        "status": status,
    });
    if let Some(parent) = parent {
        span["parentSpanId"] = Value::String(parent);
    }
    Some(span)
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let names = attrs.metadata().fields();
        if names.field("trace_id").is_none() || names.field("span_id").is_none() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut open = OpenSpan {
            start: Some(SystemTime::now()),
            ..OpenSpan::default()
        };
        attrs.record(&mut FieldsVisitor(&mut open.fields));
        span.extensions_mut().insert(open);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(open) = span.extensions_mut().get_mut::<OpenSpan>()
        {
            values.record(&mut FieldsVisitor(&mut open.fields));
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<OpenSpan>() else {
            return;
        };
        let end = SystemTime::now();
        let start = open.start.unwrap_or(end);
        let Some(value) = otlp_span(span.name(), open.fields, start, end) else {
            return;
        };
        if self.tx.try_send(Message::Span(value)).is_err() {
            metrics::counter!("otlp_spans_dropped_total").increment(1);
        }
    }
}

fn export_loop(config: &OtlpConfig, rx: &mpsc::Receiver<Message>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("otlp exporter: cannot start: {e}");
            return;
        }
    };
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(5)).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("otlp exporter: cannot build an HTTP client: {e}");
            return;
        }
    };
    let mut failures: u64 = 0;
    loop {
        let mut batch = Vec::new();
        let mut flushed = Vec::new();
        match rx.recv_timeout(INTERVAL) {
            Ok(Message::Span(s)) => batch.push(s),
            Ok(Message::Flush(done)) => flushed.push(done),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(Message::Span(s)) => batch.push(s),
                Ok(Message::Flush(done)) => flushed.push(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let count = batch.len() as u64;
            let body = json!({"resourceSpans": [{
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": config.service_name}},
                ]},
                "scopeSpans": [{"scope": {"name": "taskflow"}, "spans": batch}],
            }]});
            let mut req = client.post(&config.url).json(&body);
            for (k, v) in &config.headers {
                req = req.header(k, v);
            }
            let sent = runtime.block_on(async { req.send().await.map(|r| r.status()) });
            match sent {
                Ok(status) if status.is_success() => {
                    metrics::counter!("otlp_spans_exported_total").increment(count);
                }
                outcome => {
                    failures += 1;
                    metrics::counter!("otlp_export_failures_total").increment(1);
                    metrics::counter!("otlp_spans_dropped_total").increment(count);
                    // Rate-limited: a collector that is down must not flood the logs.
                    if failures == 1 || failures.is_multiple_of(100) {
                        let why = match outcome {
                            Ok(status) => format!("collector answered {status}"),
                            Err(e) => e.to_string(),
                        };
                        tracing::warn!(url = %config.url, failures, error = %why, "span export failed");
                    }
                }
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}
