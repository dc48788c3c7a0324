//! Newest-first keyset paging on `(timestamp, id)`, shared by the audit trail and the inbox.
//!
//! The cursor is the last row's key, base64-encoded JSON: the next page starts strictly after it,
//! which stays correct while rows are added.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::CursorError;

#[derive(Serialize, Deserialize)]
struct TimeCursor<I> {
    t: DateTime<Utc>,
    i: I,
}

/// Rows older than the cursor `raw`, in `(time, id)` order.
pub(crate) fn older_than<C, I>(time: C, id: C, raw: &str) -> Result<Condition, CursorError>
where
    C: ColumnTrait,
    I: DeserializeOwned + Into<sea_orm::Value>,
{
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim())
        .map_err(|_| CursorError::Malformed)?;
    let c: TimeCursor<I> = serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
    Ok(Condition::any()
        .add(time.lt(c.t))
        .add(Condition::all().add(time.eq(c.t)).add(id.lt(c.i))))
}

/// Trims rows fetched with `limit + 1` to a page, with the cursor after its last row when more follow.
pub(crate) fn page<T, I: Serialize>(
    mut rows: Vec<T>,
    limit: u64,
    key: impl Fn(&T) -> (DateTime<Utc>, I),
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let cursor = more
        .then(|| rows.last().map(&key))
        .flatten()
        .map(|(t, i)| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&TimeCursor { t, i }).unwrap_or_default()));
    (rows, cursor)
}
