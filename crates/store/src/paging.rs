//! Newest-first keyset paging on `(timestamp, id)`, shared by every list that pages that way: the
//! audit trail, the inbox, conversations and their messages ([`newest_first`]); a conversation's
//! messages may also be read from the start ([`keyset`] with [`Direction::OldestFirst`]).
//!
//! The cursor is the last row's key, base64-encoded JSON: the next page starts strictly after it,
//! which stays correct while rows are added. One more row than the page is fetched to know whether
//! another page follows.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{CursorError, StoreError};

#[derive(Serialize, Deserialize)]
struct TimeCursor<I> {
    t: DateTime<Utc>,
    i: I,
}

fn decode<I: DeserializeOwned>(raw: &str) -> Result<TimeCursor<I>, CursorError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim())
        .map_err(|_| CursorError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)
}

/// Which way a keyset page runs through `(time, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    NewestFirst,
    OldestFirst,
}

/// Rows past the cursor `raw` in `direction`, in `(time, id)` order.
fn beyond<C, I>(time: C, id: C, raw: &str, direction: Direction) -> Result<Condition, CursorError>
where
    C: ColumnTrait,
    I: DeserializeOwned + Into<sea_orm::Value>,
{
    let c: TimeCursor<I> = decode(raw)?;
    let (time_past, id_past) = match direction {
        Direction::NewestFirst => (time.lt(c.t), id.lt(c.i)),
        Direction::OldestFirst => (time.gt(c.t), id.gt(c.i)),
    };
    Ok(Condition::any()
        .add(time_past)
        .add(Condition::all().add(time.eq(c.t)).add(id_past)))
}

/// Trims rows fetched with `limit + 1` to a page, with the cursor after its last row when more follow.
fn page<T, I: Serialize>(
    mut rows: Vec<T>,
    limit: u64,
    key: impl Fn(&T) -> (DateTime<Utc>, I),
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let cursor = more
        .then(|| rows.last().map(&key))
        .flatten()
        .map(|(t, i)| cursor_after(t, i));
    (rows, cursor)
}

/// The cursor of the page that starts strictly after the row keyed `(t, i)` (for a list that cuts
/// its page short, e.g. at a byte budget).
pub(crate) fn cursor_after<I: Serialize>(t: DateTime<Utc>, i: I) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&TimeCursor { t, i }).unwrap_or_default())
}

/// One page of `query`'s rows, newest first by `(time, id)`: at most `limit` (at least one), starting
/// strictly after `cursor`, with the cursor of the next page when more rows follow. `key` reads a
/// row's `(time, id)`, the same columns as `time` and `id`.
pub(crate) async fn newest_first<E, I>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    columns: (E::Column, E::Column),
    cursor: Option<&str>,
    limit: u64,
    key: impl Fn(&E::Model) -> (DateTime<Utc>, I),
) -> Result<(Vec<E::Model>, Option<String>), StoreError>
where
    E: EntityTrait,
    I: Serialize + DeserializeOwned + Into<sea_orm::Value>,
{
    keyset(db, query, columns, cursor, limit, key, Direction::NewestFirst).await
}

/// [`newest_first`], either way: [`Direction::OldestFirst`] reads from the start (a conversation
/// read like ChatKit's `order: "asc"`), the next page starting strictly after `cursor` in time.
pub(crate) async fn keyset<E, I>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    (time, id): (E::Column, E::Column),
    cursor: Option<&str>,
    limit: u64,
    key: impl Fn(&E::Model) -> (DateTime<Utc>, I),
    direction: Direction,
) -> Result<(Vec<E::Model>, Option<String>), StoreError>
where
    E: EntityTrait,
    I: Serialize + DeserializeOwned + Into<sea_orm::Value>,
{
    let query = match cursor {
        Some(raw) => query.filter(beyond::<_, I>(time, id, raw, direction)?),
        None => query,
    };
    let order = match direction {
        Direction::NewestFirst => sea_orm::Order::Desc,
        Direction::OldestFirst => sea_orm::Order::Asc,
    };
    let limit = Ord::max(limit, 1);
    let rows = query
        .order_by(time, order.clone())
        .order_by(id, order)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(page(rows, limit, key))
}
