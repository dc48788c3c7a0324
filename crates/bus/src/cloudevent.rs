//! CloudEvents 1.0 in structured JSON mode.
//!
//! Parsing accepts every shape daprd delivers: `data` as JSON, `data` as a string holding JSON,
//! `data_base64`, extra attributes (`topic`, `pubsubname`, `traceid`, Kafka headers, …) and
//! `traceparent`. Anything that is not an envelope at all is an [`EnvelopeError`], never a panic.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use taskflow_domain::{EventType, TaskEvent};

pub const SPEC_VERSION: &str = "1.0";
const JSON: &str = "application/json";

/// A CloudEvent as sent on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Any other attribute (Dapr's `topic`, `pubsubname`, `traceid`, broker headers, …).
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl CloudEvent {
    /// The envelope for a task event published by `source` (the app id).
    pub fn for_task_event(event: &TaskEvent, source: &str) -> Result<Self, serde_json::Error> {
        Ok(Self {
            specversion: SPEC_VERSION.into(),
            id: event.event_id.to_string(),
            source: source.into(),
            event_type: event.event_type.cloud_event_type().into(),
            subject: Some(event.task.id.to_string()),
            time: Some(
                event
                    .occurred_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ),
            datacontenttype: Some(JSON.into()),
            data: Some(serde_json::to_value(event)?),
            data_base64: None,
            traceparent: None,
            extensions: Map::new(),
        })
    }

    /// The envelope for an outbox row whose payload is a serialised [`TaskEvent`].
    pub fn for_outbox_payload(topic: &str, event_id: &str, payload: Value, source: &str) -> Self {
        let event_type =
            EventType::from_topic(topic).map_or("com.taskflow.event.v1", EventType::cloud_event_type);
        let subject = payload
            .pointer("/task/id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let time = payload
            .get("occurred_at")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Self {
            specversion: SPEC_VERSION.into(),
            id: event_id.into(),
            source: source.into(),
            event_type: event_type.into(),
            subject,
            time,
            datacontenttype: Some(JSON.into()),
            data: Some(payload),
            data_base64: None,
            traceparent: None,
            extensions: Map::new(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a CloudEvent: {0}")]
    NotAnEnvelope(String),
    #[error("data_base64 is not valid base64")]
    BadBase64,
}

/// An event as a handler sees it: the envelope's attributes and its decoded data.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub subject: Option<String>,
    pub time: Option<DateTime<Utc>>,
    /// The topic, when the transport says (Dapr adds it).
    pub topic: Option<String>,
    pub traceparent: Option<String>,
    pub data: Value,
}

impl ReceivedEvent {
    /// The data as a task event.
    pub fn task_event(&self) -> Result<TaskEvent, serde_json::Error> {
        serde_json::from_value(self.data.clone())
    }
}

fn string_attr(obj: &Map<String, Value>, name: &str) -> Result<String, EnvelopeError> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(EnvelopeError::NotAnEnvelope(format!(
            "{name} must be a non-empty string"
        ))),
        None => Err(EnvelopeError::NotAnEnvelope(format!("{name} is missing"))),
    }
}

fn optional_str(obj: &Map<String, Value>, name: &str) -> Option<String> {
    obj.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn is_json_type(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == JSON || essence.ends_with("+json") || essence == "text/json"
    })
}

/// Parses a structured-mode CloudEvent as daprd (or the in-process bus) delivers it.
pub fn parse(bytes: &[u8]) -> Result<ReceivedEvent, EnvelopeError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(EnvelopeError::NotAnEnvelope("expected a JSON object".into()));
    };
    let id = string_attr(&obj, "id")?;
    let source = string_attr(&obj, "source")?;
    let event_type = string_attr(&obj, "type")?;
    match obj.get("specversion").and_then(Value::as_str) {
        Some(v) if v.starts_with("1.") => {}
        Some(v) => {
            return Err(EnvelopeError::NotAnEnvelope(format!(
                "unsupported specversion {v}"
            )));
        }
        None => return Err(EnvelopeError::NotAnEnvelope("specversion is missing".into())),
    }
    let content_type = optional_str(&obj, "datacontenttype");
    let data = match (obj.get("data"), obj.get("data_base64")) {
        (_, Some(Value::String(b64))) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| EnvelopeError::BadBase64)?;
            serde_json::from_slice(&raw)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()))
        }
        // Some publishers hand Dapr JSON as a string; unwrap it when it claims to be JSON.
        (Some(Value::String(s)), _) if is_json_type(content_type.as_deref()) => {
            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
        }
        (Some(v), _) => v.clone(),
        (None, _) => Value::Null,
    };
    let time = optional_str(&obj, "time")
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc));
    Ok(ReceivedEvent {
        id,
        source,
        event_type,
        subject: optional_str(&obj, "subject"),
        time,
        topic: optional_str(&obj, "topic"),
        traceparent: optional_str(&obj, "traceparent"),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn daprd_envelope() -> Value {
        json!({
            "specversion": "1.0",
            "id": "0190aa1b-0000-7000-8000-000000000001",
            "source": "backend-api",
            "type": "com.taskflow.task.created.v1",
            "subject": "task-1",
            "time": "2026-11-23T10:00:00Z",
            "datacontenttype": "application/json",
            "data": {"event_id": "x"},
            "topic": "task-created",
            "pubsubname": "pubsub",
            "traceid": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "tracestate": "",
            "__kafka_headers": {"partitionKey": "u1"}
        })
    }

    #[test]
    fn parses_what_daprd_sends() {
        let e = parse(daprd_envelope().to_string().as_bytes()).unwrap();
        assert_eq!(e.id, "0190aa1b-0000-7000-8000-000000000001");
        assert_eq!(e.topic.as_deref(), Some("task-created"));
        assert!(e.traceparent.is_some());
        assert_eq!(e.data, json!({"event_id": "x"}));
        assert!(e.time.is_some());
    }

    #[test]
    fn decodes_data_base64_and_stringified_json() {
        let mut env = daprd_envelope();
        env.as_object_mut().unwrap().remove("data");
        env["data_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(br#"{"a":1}"#));
        assert_eq!(parse(env.to_string().as_bytes()).unwrap().data, json!({"a": 1}));
        let mut env = daprd_envelope();
        env["data"] = json!(r#"{"b":2}"#);
        assert_eq!(parse(env.to_string().as_bytes()).unwrap().data, json!({"b": 2}));
        let mut env = daprd_envelope();
        env["data"] = json!("plain words");
        env["datacontenttype"] = json!("text/plain");
        assert_eq!(
            parse(env.to_string().as_bytes()).unwrap().data,
            json!("plain words")
        );
    }

    #[test]
    fn rejects_what_is_not_an_envelope() {
        assert!(matches!(parse(b"not json"), Err(EnvelopeError::NotJson(_))));
        assert!(matches!(parse(b"[1,2]"), Err(EnvelopeError::NotAnEnvelope(_))));
        assert!(matches!(
            parse(br#"{"id":"1","source":"s","type":"t"}"#),
            Err(EnvelopeError::NotAnEnvelope(_))
        ));
        assert!(matches!(
            parse(br#"{"specversion":"1.0","id":7,"source":"s","type":"t"}"#),
            Err(EnvelopeError::NotAnEnvelope(_))
        ));
        let mut env = daprd_envelope();
        env.as_object_mut().unwrap().remove("data");
        env["data_base64"] = json!("***");
        assert_eq!(parse(env.to_string().as_bytes()), Err(EnvelopeError::BadBase64));
    }
}
