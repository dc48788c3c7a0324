//! CloudEvent decoding under arbitrary input (property tests "at scale"): whatever arrives on a
//! subscription route — random bytes, random JSON, envelopes with any attribute of any type — is
//! decoded or refused with an `EnvelopeError`, never a panic; and what we publish decodes to itself.
//!
//! The case count is proptest's: 256 by default (CI); `PROPTEST_CASES=100000 cargo test -p
//! taskflow-bus --test bus envelopes` for a long run (see SECURITY.md).

use base64::Engine;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use taskflow_bus::cloudevent::{CloudEvent, EnvelopeError, parse};

fn json_value() -> impl Strategy<Value = Value> {
    json_tree(true)
}

/// JSON values; without floats when they must survive a round trip exactly (serde_json prints the
/// shortest decimal that parses back to *nearly* the same f64 — no TaskFlow event carries a float).
fn json_tree(floats: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(move |f| match serde_json::Number::from_f64(f) {
            Some(n) if floats => Value::Number(n),
            _ => Value::Null,
        }),
        ".{0,12}".prop_map(Value::String),
        // Strings that look like what daprd sends, to reach the deeper branches.
        prop::sample::select(vec![
            "1.0",
            "1.1",
            "0.3",
            "",
            "application/json",
            "text/plain",
            "application/cloudevents+json",
            "2026-11-23T10:00:00Z",
            "not a time",
            "{\"a\":1}",
            "[",
            "eyJhIjoxfQ==",
            "***",
            "null",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const ATTRIBUTES: [&str; 10] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "data",
    "data_base64",
    "traceparent",
];

/// An envelope in which each attribute is absent, valid, or any JSON value at all.
fn envelope() -> impl Strategy<Value = Map<String, Value>> {
    let valid = json!({
        "specversion": "1.0", "id": "e-1", "source": "backend-api", "type": "com.taskflow.task.created.v1",
        "subject": "t-1", "time": "2026-11-23T10:00:00Z", "datacontenttype": "application/json",
        "data": {"event_id": "e-1"}, "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    });
    let choices = ATTRIBUTES.map(|_| {
        prop_oneof![
            Just(None),
            Just(Some(None)),
            json_value().prop_map(|v| Some(Some(v)))
        ]
    });
    (
        choices,
        prop::collection::btree_map("[a-z_]{1,8}", json_value(), 0..3),
    )
        .prop_map(move |(choice, extra)| {
            let mut env: Map<String, Value> = extra.into_iter().collect();
            for (name, choice) in ATTRIBUTES.iter().zip(choice) {
                match choice {
                    None => {
                        if let Some(v) = valid.get(*name) {
                            env.insert((*name).to_owned(), v.clone());
                        }
                    }
                    Some(None) => {
                        env.remove(*name);
                    }
                    Some(Some(v)) => {
                        env.insert((*name).to_owned(), v);
                    }
                }
            }
            env
        })
}

fn non_empty_string(env: &Map<String, Value>, name: &str) -> bool {
    env.get(name)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(event) = parse(&bytes) {
            let _ = event.task_event();
        }
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        let decoded = parse(&bytes);
        if !value.is_object() {
            prop_assert!(decoded.is_err());
        }
    }

    /// The decoder accepts exactly the envelopes with non-empty string `id`, `source` and `type`, a
    /// 1.x `specversion`, and, when `data_base64` is a string, valid base64 in it.
    #[test]
    fn envelopes_are_accepted_exactly_when_well_formed(env in envelope()) {
        let bytes = serde_json::to_vec(&Value::Object(env.clone())).unwrap();
        let decoded = parse(&bytes);
        let base64_ok = match env.get("data_base64") {
            Some(Value::String(s)) => base64::engine::general_purpose::STANDARD.decode(s.trim()).is_ok(),
            _ => true,
        };
        let well_formed = ["id", "source", "type"].iter().all(|a| non_empty_string(&env, a))
            && env.get("specversion").and_then(Value::as_str).is_some_and(|v| v.starts_with("1."))
            && base64_ok;
        prop_assert_eq!(decoded.is_ok(), well_formed, "{:?}", decoded);
        if let Ok(event) = decoded {
            prop_assert_eq!(Some(event.id.as_str()), env.get("id").and_then(Value::as_str));
            let _ = event.task_event();
        } else if !base64_ok && ["id", "source", "type"].iter().all(|a| non_empty_string(&env, a)) {
            prop_assert!(matches!(decoded, Err(EnvelopeError::BadBase64) | Err(EnvelopeError::NotAnEnvelope(_))));
        }
    }

    /// What the relay publishes decodes to the same id, type, subject and data, also when daprd
    /// re-wraps the data as base64.
    #[test]
    fn published_envelopes_round_trip(
        id in "[0-9a-f-]{1,36}",
        payload in prop::collection::btree_map(".{0,8}", json_tree(false), 0..6),
        as_base64 in any::<bool>(),
    ) {
        let payload = Value::Object(payload.into_iter().collect());
        let mut envelope = CloudEvent::for_outbox_payload("task-created", &id, payload.clone(), "backend-api");
        if as_base64 {
            let raw = serde_json::to_vec(&payload).unwrap();
            envelope.data = None;
            envelope.data_base64 = Some(base64::engine::general_purpose::STANDARD.encode(raw));
        }
        let event = parse(&serde_json::to_vec(&envelope).unwrap()).unwrap();
        prop_assert_eq!(event.id, id);
        prop_assert_eq!(event.event_type, "com.taskflow.task.created.v1");
        prop_assert_eq!(event.data, payload);
    }
}
