//! The calendar feed: `GET /api/{user_id}/calendar.ics`, and its token
//! (`POST`/`DELETE /api/{user_id}/calendar/feed-token`).
//!
//! Calendar apps subscribe by URL and cannot send headers, so besides the usual bearer token the
//! feed takes `?token=` with the user's feed token — which opens this feed only (it is no JWT, so
//! every other route refuses it). A wrong, rotated or disabled token, or one for a user that does
//! not exist, is the same 401, so the answer never tells whether a user exists. A personal access
//! token reads the feed with `tasks:read`; the feed token itself is a credential, so only a session
//! creates or disables it. The token POST is
//! not under `Idempotency-Key`: a stored response would keep the secret in plain text.
//!
//! The body is bounded ([`MAX_TASKS`] latest-due tasks, [`MAX_BYTES`] of text) and its ETag is
//! the SHA-256 of the text, so an unchanged feed is a 304 for a client that sends `If-None-Match`.

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono_tz::Tz;
use serde::Serialize;
use sha2::{Digest, Sha256};
use taskflow_auth::{AuthenticatedUser, Scope};
use taskflow_runtime::ApiError;
use taskflow_store::Store;
use utoipa::{IntoParams, ToSchema};

use crate::calendar::feed::{self, Calendar, Component};
use crate::calendar::token;
use crate::error::HandlerResult;
use crate::rate_limit::{Throttled, Writes};

/// The most tasks one feed holds: the latest due first.
pub const MAX_TASKS: u64 = 2_000;
/// The most text one feed holds before later tasks are left out.
pub const MAX_BYTES: usize = 4 << 20;
/// How long a client may reuse a feed without asking again.
const CACHE_CONTROL: &str = "private, max-age=300";

/// A new calendar feed token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedToken {
    /// `tf_cal_…`: put it in `?token=` of the feed URL. It opens the feed and nothing else.
    pub token: String,
    /// The feed URL with the token, ready to paste into a calendar app.
    pub url: String,
}

/// Query parameters of the feed (documentation; parsing is [`FeedQuery::parse`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FeedParams {
    /// The calendar feed token (`tf_cal_…`), for apps that cannot send `Authorization`.
    token: Option<String>,
    /// `completed` adds completed tasks.
    #[param(inline)]
    include: Option<IncludeParam>,
    /// `vevent` (default): events; `vtodo`: to-dos, for clients that show tasks.
    #[param(inline)]
    component: Option<ComponentParam>,
}

// The documented values of the enumerated parameters.
#[derive(Debug, ToSchema)]
#[allow(dead_code, non_camel_case_types)]
enum IncludeParam {
    completed,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code, non_camel_case_types)]
enum ComponentParam {
    vevent,
    vtodo,
}

/// What the feed's query asks for.
#[derive(Debug, Default, PartialEq, Eq)]
struct FeedQuery {
    token: Option<String>,
    include_completed: bool,
    component: Option<Component>,
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::bad_request(message).with_field(field)
}

impl FeedQuery {
    /// Other parameters are ignored (calendar apps may add their own); a known one given twice or
    /// with an unknown value is a 400.
    fn parse(query: &str) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|_| ApiError::bad_request("malformed query string"))?;
        let mut out = Self::default();
        let (mut seen_include, mut seen_token) = (false, false);
        for (key, value) in pairs {
            match key.as_str() {
                "token" if !seen_token => {
                    seen_token = true;
                    out.token = Some(value);
                }
                "include" if !seen_include => {
                    seen_include = true;
                    out.include_completed = match value.as_str() {
                        "completed" => true,
                        _ => return Err(bad("include", "include must be `completed`")),
                    };
                }
                "component" if out.component.is_none() => {
                    out.component = Some(match value.as_str() {
                        "vevent" => Component::Event,
                        "vtodo" => Component::Todo,
                        _ => return Err(bad("component", "component must be `vevent` or `vtodo`")),
                    });
                }
                "token" | "include" | "component" => {
                    return Err(bad(&key, &format!("{key} is given more than once")));
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

fn refused() -> ApiError {
    ApiError::unauthorized("a valid bearer token or calendar feed token (`?token=`) is required")
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 §13.1.2).
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The caller's tasks as an iCalendar feed.
///
/// Every pending task with a due date is a `VEVENT` at its due time lasting 30 minutes; a recurring
/// task carries its `RRULE` with `DTSTART;TZID=` in the owner's time zone (and a `VTIMEZONE`),
/// other times are UTC; reminders are `VALARM`s. `component=vtodo` gives `VTODO`s instead (`DUE`,
/// `STATUS`, `COMPLETED`). At most 2 000 tasks, latest due first.
#[utoipa::path(get, path = "/api/{user_id}/calendar.ics", tag = "calendar",
    security(("bearer" = []), ()),
    params(("user_id" = String, Path), FeedParams,
        ("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer: 304 when the feed is unchanged")),
    responses(
        (status = 200, description = "The feed (RFC 5545)", content_type = "text/calendar", body = String,
            headers(("ETag" = String, description = "Strong; from the content"), ("Cache-Control" = String))),
        (status = 304, description = "Unchanged since the ETag in `If-None-Match`"),
        (status = 400, description = "A query parameter is malformed", body = taskflow_runtime::error::ErrorBody),
        (status = 401, description = "No valid bearer token or feed token (also for an unknown user)", body = taskflow_runtime::error::ErrorBody),
        (status = 404, description = "A bearer token for another user's path", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn feed(
    req: HttpRequest,
    store: web::Data<Store>,
    path: web::Path<String>,
) -> HandlerResult<HttpResponse> {
    let user_id = path.into_inner();
    let query = FeedQuery::parse(req.query_string())?;
    if req.headers().contains_key(header::AUTHORIZATION) {
        let caller = AuthenticatedUser::from_request(&req, &mut Payload::None).await?;
        caller.must_be(&user_id)?;
        caller.require(Scope::TasksRead)?;
    } else {
        let presented = query.token.as_deref().ok_or_else(refused)?;
        let stored = store.calendar_feed().token_hash(&user_id).await?;
        if !stored.is_some_and(|hash| token::matches(presented, &hash)) {
            return Err(refused().into());
        }
    }
    let user = store.users().find(&user_id).await?.ok_or_else(refused)?;
    let tz: Tz = user.timezone.parse().unwrap_or(Tz::UTC);
    let tasks = store
        .tasks()
        .calendar_feed(&user_id, query.include_completed, MAX_TASKS)
        .await?;
    let name = format!("TaskFlow: {}", user.name);
    let body = feed::render(
        &Calendar {
            name: &name,
            tz,
            component: query.component.unwrap_or(Component::Event),
            max_bytes: MAX_BYTES,
        },
        &tasks,
    );
    let digest = Sha256::digest(body.as_bytes());
    let etag = format!(
        "\"{}\"",
        digest[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    if not_modified(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/calendar; charset=utf-8"),
        ))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .insert_header((header::CONTENT_DISPOSITION, "inline; filename=\"taskflow.ics\""))
        .body(body))
}

/// Create or rotate the caller's calendar feed token.
///
/// The token is shown once; the one before stops working at once.
#[utoipa::path(post, path = "/api/{user_id}/calendar/feed-token", tag = "calendar", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 201, body = FeedToken),
        (status = 401, description = "Missing, invalid or expired token", body = taskflow_runtime::error::ErrorBody),
        (status = 404, description = "Another user's path", body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn rotate(
    req: HttpRequest,
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<String>,
) -> HandlerResult<HttpResponse> {
    caller.must_be(&path)?;
    caller.require_session("creating a calendar feed token")?;
    let issued = token::generate();
    store
        .calendar_feed()
        .replace(
            &caller.user_id,
            &token::hash(&issued),
            taskflow_domain::time::now(),
        )
        .await?;
    let info = req.connection_info();
    let url = format!(
        "{}://{}/api/{}/calendar.ics?token={issued}",
        info.scheme(),
        info.host(),
        caller.user_id
    );
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(FeedToken { token: issued, url }))
}

/// Disable the caller's calendar feed token (the feed then answers only bearer tokens).
#[utoipa::path(delete, path = "/api/{user_id}/calendar/feed-token", tag = "calendar", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204, description = "No feed token any more (also when there was none)"),
        (status = 401, description = "Missing, invalid or expired token", body = taskflow_runtime::error::ErrorBody),
        (status = 404, description = "Another user's path", body = taskflow_runtime::error::ErrorBody),
        (status = 429, description = "too many writes; see `Retry-After`", body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn disable(
    store: web::Data<Store>,
    caller: Throttled<Writes>,
    path: web::Path<String>,
) -> HandlerResult<HttpResponse> {
    caller.must_be(&path)?;
    caller.require_session("disabling the calendar feed token")?;
    store.calendar_feed().remove(&caller.user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/{user_id}/calendar.ics").route(web::get().to(feed)))
        .service(
            web::resource("/api/{user_id}/calendar/feed-token")
                .route(web::post().to(rotate))
                .route(web::delete().to(disable)),
        );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_feed_query() {
        let q = FeedQuery::parse("token=tf_cal_x&include=completed&component=vtodo&utm=1").unwrap();
        assert_eq!(
            q,
            FeedQuery {
                token: Some("tf_cal_x".into()),
                include_completed: true,
                component: Some(Component::Todo),
            }
        );
        for bad in [
            "include=all",
            "component=vjournal",
            "component=VTODO",
            "token=a&token=b",
            "include=completed&include=completed",
        ] {
            assert!(FeedQuery::parse(bad).is_err(), "{bad}");
        }
    }
}
