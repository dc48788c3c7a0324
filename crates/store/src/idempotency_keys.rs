//! Idempotency keys (`Idempotency-Key` on creating POSTs): who holds a (user, key), and the first
//! complete response stored for it.
//!
//! The marker row is inserted before the request runs; the primary key `(user_id, key)` decides
//! every race, across replicas, because it is in the database. Each attempt has its own `claim`
//! id and only ever completes or deletes a row carrying it. A row older than [`KEY_TTL`] counts as
//! absent (and is pruned), as does a marker in flight for longer than [`IN_FLIGHT_LEASE`]: its
//! request died with its process (a request that merely ends early deletes its marker itself).

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, TryInsertResult,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::idempotency_keys as keys;

/// How long a key is remembered.
pub const KEY_TTL: TimeDelta = TimeDelta::hours(24);
/// How long a marker may stay in flight before another attempt may take the key over.
pub const IN_FLIGHT_LEASE: TimeDelta = TimeDelta::minutes(5);

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// Lower-case names with their values, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What [`IdempotencyRepo::claim`] found for a (user, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This attempt holds the key: run the request, then [`IdempotencyRepo::complete`] or
    /// [`IdempotencyRepo::release`] with this id.
    Acquired(Uuid),
    /// The first request finished with this response.
    Replay(StoredResponse),
    /// The key was used for a different request (method, path or body).
    Mismatch,
    /// The first request is still running.
    InProgress,
}

pub struct IdempotencyRepo<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> IdempotencyRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Inserts the in-flight marker for (`user_id`, `key`), or reports what holds it already.
    pub async fn claim(
        &self,
        user_id: &str,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        // Two rounds: an expired or abandoned row is deleted once, then the insert races again.
        for _ in 0..2 {
            let claim = Uuid::new_v4();
            let inserted = keys::Entity::insert(keys::ActiveModel {
                user_id: Set(user_id.to_owned()),
                key: Set(key.to_owned()),
                claim: Set(claim),
                fingerprint: Set(fingerprint.to_owned()),
                created_at: Set(now),
                status: Set(None),
                response_headers: Set(None),
                response_body: Set(None),
                completed_at: Set(None),
            })
            .on_conflict_do_nothing_on([keys::Column::UserId, keys::Column::Key])
            .exec_without_returning(self.db)
            .await?;
            if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
                return Ok(Claim::Acquired(claim));
            }
            let Some(row) = keys::Entity::find_by_id((user_id.to_owned(), key.to_owned()))
                .one(self.db)
                .await?
            else {
                continue; // deleted in between: race for it again
            };
            let expired = row.created_at <= now - KEY_TTL;
            let abandoned = row.status.is_none() && row.created_at <= now - IN_FLIGHT_LEASE;
            if expired || abandoned {
                self.delete(user_id, key, row.claim, false).await?;
                continue;
            }
            if row.fingerprint != fingerprint {
                return Ok(Claim::Mismatch);
            }
            return match (row.status, row.response_body) {
                (Some(status), Some(body)) => Ok(Claim::Replay(StoredResponse {
                    status: u16::try_from(status)
                        .map_err(|_| StoreError::Corrupt(format!("idempotency status {status}")))?,
                    headers: headers_from_json(row.response_headers)?,
                    body,
                })),
                _ => Ok(Claim::InProgress),
            };
        }
        Ok(Claim::InProgress)
    }

    /// Stores the response of the attempt `claim`; `false` if its marker is gone (taken over).
    pub async fn complete(
        &self,
        user_id: &str,
        key: &str,
        claim: Uuid,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let headers = serde_json::Value::Array(
            response
                .headers
                .iter()
                .map(|(n, v)| serde_json::json!([n, v]))
                .collect(),
        );
        let updated = keys::Entity::update_many()
            .col_expr(keys::Column::Status, Expr::val(i32::from(response.status)))
            .col_expr(keys::Column::ResponseHeaders, Expr::val(headers))
            .col_expr(keys::Column::ResponseBody, Expr::val(response.body.clone()))
            .col_expr(keys::Column::CompletedAt, Expr::val(now))
            .filter(owned_by(user_id, key, claim))
            .filter(keys::Column::Status.is_null())
            .exec(self.db)
            .await?;
        Ok(updated.rows_affected > 0)
    }

    /// Deletes the marker of the attempt `claim` (its result is not kept), so a retry runs again.
    pub async fn release(&self, user_id: &str, key: &str, claim: Uuid) -> Result<(), StoreError> {
        self.delete(user_id, key, claim, true).await
    }

    async fn delete(
        &self,
        user_id: &str,
        key: &str,
        claim: Uuid,
        in_flight_only: bool,
    ) -> Result<(), StoreError> {
        let mut delete = keys::Entity::delete_many().filter(owned_by(user_id, key, claim));
        if in_flight_only {
            delete = delete.filter(keys::Column::Status.is_null());
        }
        delete.exec(self.db).await?;
        Ok(())
    }

    /// Deletes keys created before `before`; returns how many.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let res = keys::Entity::delete_many()
            .filter(keys::Column::CreatedAt.lt(before))
            .exec(self.db)
            .await?;
        Ok(res.rows_affected)
    }
}

fn owned_by(user_id: &str, key: &str, claim: Uuid) -> Condition {
    Condition::all()
        .add(keys::Column::UserId.eq(user_id))
        .add(keys::Column::Key.eq(key))
        .add(keys::Column::Claim.eq(claim))
}

fn headers_from_json(value: Option<serde_json::Value>) -> Result<Vec<(String, String)>, StoreError> {
    let corrupt = || StoreError::Corrupt("idempotency response headers".into());
    let Some(serde_json::Value::Array(items)) = value else {
        return Err(corrupt());
    };
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::Array(pair) => match pair.as_slice() {
                [serde_json::Value::String(n), serde_json::Value::String(v)] => Ok((n.clone(), v.clone())),
                _ => Err(corrupt()),
            },
            _ => Err(corrupt()),
        })
        .collect()
}
