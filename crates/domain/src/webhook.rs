//! Webhook endpoints (issue 20): what a user may register, and the message every delivery sends.
//!
//! The rules live here so the REST API and the delivery service agree on them. The URL is checked
//! for shape only (scheme, host, length); whether its addresses may be reached is decided when the
//! delivery service connects, because a name can resolve elsewhere tomorrow.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::events::{EventType, TaskEvent};
use crate::{ValidationError, text};

/// The longest URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// The OpenAPI pattern of a URL: the scheme, spelt in lower case, then something.
pub const URL_PATTERN: &str = r"^https?://\S+$";

/// The body of `POST /api/{user_id}/webhooks`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are POSTed: `https://…` (`http://` only to `localhost` or a loopback
    /// address, or anywhere when the server allows private networks). At most 2048 bytes; no
    /// user name or password.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 2048,
            pattern = r"^https?://\S+$",
            example = "https://hooks.example.com/taskflow"
        )
    )]
    pub url: String,
    /// The event types to deliver: at least one (repeats are ignored).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, example = json!(["task-created", "task-completed"])))]
    pub events: Vec<EventType>,
    /// A note for the user, up to 500 characters, single line.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 500,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub description: Option<String>,
}

/// The body of `PATCH /api/{user_id}/webhooks/{webhook_id}`: only the fields sent change.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    /// As on create.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 2048, pattern = r"^https?://\S+$")
    )]
    pub url: Option<String>,
    /// As on create.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub events: Option<Vec<EventType>>,
    /// As on create.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 500,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub description: Option<String>,
    /// `true` re-enables an endpoint the server disabled (after a 410 or a day of failures);
    /// `false` pauses it (events meanwhile are not recorded).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A create request once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidWebhook {
    pub url: String,
    pub events: Vec<EventType>,
    pub description: Option<String>,
}

/// An update once checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidWebhookUpdate {
    pub url: Option<String>,
    pub events: Option<Vec<EventType>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

impl CreateWebhook {
    /// `allow_private`: the server may reach private networks (`WEBHOOK_ALLOW_PRIVATE_NETWORKS`),
    /// so plain `http://` is accepted for any host.
    pub fn validate(self, allow_private: bool) -> Result<ValidWebhook, ValidationError> {
        Ok(ValidWebhook {
            url: url(&self.url, allow_private)?,
            events: events(self.events)?,
            description: self.description.as_deref().map(description).transpose()?,
        })
    }
}

impl WebhookUpdate {
    pub fn validate(self, allow_private: bool) -> Result<ValidWebhookUpdate, ValidationError> {
        Ok(ValidWebhookUpdate {
            url: self.url.as_deref().map(|u| url(u, allow_private)).transpose()?,
            events: self.events.map(events).transpose()?,
            description: self.description.as_deref().map(description).transpose()?,
            enabled: self.enabled,
        })
    }
}

/// Checks a URL's shape and returns it normalised.
pub fn url(raw: &str, allow_private: bool) -> Result<String, ValidationError> {
    let invalid = |message: &str| ValidationError::new("url", message);
    if raw.len() > MAX_URL_LEN {
        return Err(invalid("must be at most 2048 bytes"));
    }
    let https = raw.starts_with("https://");
    if !https && !raw.starts_with("http://") {
        return Err(invalid("must start with https:// (or http://)"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("must not contain spaces or control characters"));
    }
    let parsed = Url::parse(raw).map_err(|e| invalid(&format!("is not a valid URL: {e}")))?;
    let Some(host) = parsed.host() else {
        return Err(invalid("must name a host"));
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("must not contain a user name or password"));
    }
    if !https && !allow_private && !is_loopback(&host) {
        return Err(invalid(
            "must use https:// (http:// is accepted only for localhost or a loopback address)",
        ));
    }
    let normalised = parsed.to_string();
    if normalised.len() > MAX_URL_LEN {
        return Err(invalid("must be at most 2048 bytes"));
    }
    Ok(normalised)
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// At least one event type; repeats removed; in a stable order.
fn events(list: Vec<EventType>) -> Result<Vec<EventType>, ValidationError> {
    let set: BTreeSet<EventType> = list.into_iter().collect();
    if set.is_empty() {
        return Err(ValidationError::new(
            "events",
            "must name at least one event type",
        ));
    }
    Ok(set.into_iter().collect())
}

fn description(raw: &str) -> Result<String, ValidationError> {
    text::single_line("description", raw, MAX_DESCRIPTION_LEN)
}

/// The event types as stored: comma-separated topics.
pub fn events_to_column(events: &[EventType]) -> String {
    events.iter().map(|e| e.topic()).collect::<Vec<_>>().join(",")
}

/// The stored column back as event types; unknown names (none are written) are skipped.
pub fn events_from_column(column: &str) -> Vec<EventType> {
    column.split(',').filter_map(EventType::from_topic).collect()
}

/// The JSON body of a delivery, as the Standard Webhooks spec shapes it: `type` is the event's
/// topic (`task-created`, …), `timestamp` when the event happened (RFC 3339, UTC), `data` the event
/// as published (the task snapshot, and for updates the changed fields).
#[derive(Debug, Clone, Serialize)]
pub struct WebhookMessage<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub timestamp: String,
    pub data: &'a TaskEvent,
}

impl<'a> WebhookMessage<'a> {
    pub fn of(event: &'a TaskEvent) -> Self {
        Self {
            kind: event.event_type.topic(),
            timestamp: rfc3339(event.occurred_at),
            data: event,
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_to_loopback() {
        assert_eq!(
            url("https://Example.com/hook", false).as_deref(),
            Ok("https://example.com/hook")
        );
        for ok in [
            "http://localhost:8080/x",
            "http://127.0.0.1:9/",
            "http://[::1]:9/",
        ] {
            assert!(url(ok, false).is_ok(), "{ok}");
        }
        assert!(url("http://example.com/", true).is_ok());
        for bad in [
            "http://example.com/",
            "ftp://example.com/",
            "HTTPS://example.com/",
            "https://",
            "https://user:pw@example.com/",
            "https://exa mple.com/",
            "example.com",
        ] {
            let e = url(bad, false).unwrap_err();
            assert_eq!(e.field, "url", "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(url(&long, false).is_err());
    }

    #[test]
    fn events_must_be_a_non_empty_set() {
        let e = events(Vec::new()).unwrap_err();
        assert_eq!(e.field, "events");
        assert_eq!(
            events(vec![
                EventType::TaskDeleted,
                EventType::TaskCreated,
                EventType::TaskDeleted
            ]),
            Ok(vec![EventType::TaskCreated, EventType::TaskDeleted])
        );
        let column = events_to_column(&[EventType::TaskCreated, EventType::ReminderDue]);
        assert_eq!(column, "task-created,reminder-due");
        assert_eq!(
            events_from_column(&column),
            vec![EventType::TaskCreated, EventType::ReminderDue]
        );
    }
}
