//! Who a tool runs for: the caller's id and time zone, fixed for the whole call.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use taskflow_store::Store;

use super::ToolError;

#[derive(Clone)]
pub struct ToolContext {
    pub store: Store,
    pub user_id: String,
    /// The user's zone: "tomorrow 9am" is their 9 am.
    pub tz: Tz,
    pub now: DateTime<Utc>,
}

impl ToolContext {
    /// The context for `user_id`, with the zone from their profile (UTC when unset or unknown).
    pub async fn for_user(store: Store, user_id: &str, now: DateTime<Utc>) -> Result<Self, ToolError> {
        let tz = store
            .users()
            .find(user_id)
            .await?
            .and_then(|u| u.timezone.parse::<Tz>().ok())
            .unwrap_or(Tz::UTC);
        Ok(Self {
            store,
            user_id: user_id.to_owned(),
            tz,
            now,
        })
    }
}
