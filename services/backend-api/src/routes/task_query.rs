//! Parsing the task list's query string.
//!
//! Done by hand rather than with `web::Query` because `tag` repeats, and so every bad value becomes a
//! 400 that names its parameter instead of a generic deserialisation error.

use chrono::{DateTime, Utc};
use taskflow_domain::{Category, Priority, tags, text};
use taskflow_runtime::ApiError;
use taskflow_store::{SortBy, SortOrder, StatusFilter, TaskFilter};
use utoipa::IntoParams;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;
const MAX_SEARCH_CHARS: usize = 200;
const MAX_CURSOR_CHARS: usize = 1000;

/// Query parameters of `GET /api/{user_id}/tasks` (documentation; parsing is [`parse`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListTasksParams {
    /// `all` (default), `pending` or `completed`.
    #[param(inline)]
    status: Option<StatusParam>,
    /// The predecessors' name for `status` (not both).
    #[param(inline)]
    #[deprecated]
    status_filter: Option<StatusParam>,
    /// `low`, `medium` or `high`.
    priority: Option<taskflow_domain::Priority>,
    /// `work`, `personal`, `home` or `other`.
    category: Option<taskflow_domain::Category>,
    /// Repeat to require several tags (`tag=a&tag=b`), at most 20.
    #[param(max_items = 20)]
    tag: Option<Vec<String>>,
    /// Case-insensitive text in the title or description, up to 200 characters, no NUL.
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    search: Option<String>,
    /// Only tasks due strictly before this instant (RFC 3339).
    due_before: Option<DateTime<Utc>>,
    /// Only tasks due strictly after this instant (RFC 3339).
    due_after: Option<DateTime<Utc>>,
    /// `created_at` (default), `due_at` (or the predecessors' `due_date`), `priority` or `title`.
    /// Tasks without a due date sort last.
    #[param(inline)]
    sort_by: Option<SortByParam>,
    /// `desc` (default) or `asc`.
    #[param(inline)]
    sort_order: Option<SortOrderParam>,
    /// Page size, 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

// The documented values of the enumerated parameters (parsing is by hand, below).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code, non_camel_case_types)]
enum StatusParam {
    all,
    pending,
    completed,
}

#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code, non_camel_case_types)]
enum SortByParam {
    created_at,
    due_at,
    due_date,
    priority,
    title,
}

#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code, non_camel_case_types)]
enum SortOrderParam {
    asc,
    desc,
}

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message).with_field(field)
}

fn one_of<T: Copy>(field: &str, value: &str, options: &[(&str, T)]) -> Result<T, ApiError> {
    options
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value.trim()))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            bad(field, format!("must be one of {}", names.join(", ")))
        })
}

fn instant(field: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            bad(
                field,
                "must be an RFC 3339 timestamp such as 2026-12-01T09:00:00Z",
            )
        })
}

/// The page size of a paged list: the default when absent, 1–[`MAX_LIMIT`] otherwise.
pub fn page_limit(raw: Option<u64>) -> Result<u64, ApiError> {
    let limit = raw.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(bad("limit", format!("must be from 1 to {MAX_LIMIT}")))
    }
}

/// A paged list's cursor: checked for NUL and length; an empty one means the first page.
pub fn page_cursor(raw: Option<String>) -> Result<Option<String>, ApiError> {
    if let Some(c) = &raw {
        text::filter_value("cursor", c, MAX_CURSOR_CHARS).map_err(|e| bad(&e.field, e.message))?;
    }
    Ok(raw.filter(|c| !c.trim().is_empty()))
}

/// Parses the raw query string into a [`TaskFilter`].
pub fn parse(query: &str) -> Result<TaskFilter, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let mut filter = TaskFilter {
        limit: DEFAULT_LIMIT,
        ..TaskFilter::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in &pairs {
        text::filter_value(key, value, MAX_CURSOR_CHARS).map_err(|e| bad(&e.field, e.message))?;
        // The predecessors' name of a parameter counts as the parameter itself.
        let name = match key.as_str() {
            "status_filter" => "status",
            other => other,
        };
        if name != "tag" {
            if seen.contains(&name) {
                return Err(bad(
                    key,
                    format!("{name} may appear only once, under one of its names"),
                ));
            }
            seen.push(name);
        }
        match name {
            "status" => {
                filter.status = one_of(
                    key,
                    value,
                    &[
                        ("all", StatusFilter::All),
                        ("pending", StatusFilter::Pending),
                        ("completed", StatusFilter::Completed),
                    ],
                )?
            }
            "priority" => {
                filter.priority =
                    Some(Priority::parse(value).ok_or_else(|| bad(key, "must be one of low, medium, high"))?)
            }
            "category" => {
                filter.category = Some(
                    Category::parse(value)
                        .ok_or_else(|| bad(key, "must be one of work, personal, home, other"))?,
                )
            }
            "tag" => {
                let tag = tags::normalise_tag(value).map_err(|e| bad("tag", e.message))?;
                if !filter.tags.contains(&tag) {
                    filter.tags.push(tag);
                }
                if filter.tags.len() > tags::MAX_TAGS {
                    return Err(bad("tag", format!("at most {} tags", tags::MAX_TAGS)));
                }
            }
            "search" => {
                if value.chars().count() > MAX_SEARCH_CHARS {
                    return Err(bad(key, format!("must be at most {MAX_SEARCH_CHARS} characters")));
                }
                let trimmed = value.trim();
                filter.search = (!trimmed.is_empty()).then(|| trimmed.to_owned());
            }
            "due_before" => filter.due_before = Some(instant(key, value)?),
            "due_after" => filter.due_after = Some(instant(key, value)?),
            "sort_by" => {
                filter.sort_by = one_of(
                    key,
                    value,
                    &[
                        ("created_at", SortBy::CreatedAt),
                        ("due_at", SortBy::DueAt),
                        ("due_date", SortBy::DueAt),
                        ("priority", SortBy::Priority),
                        ("title", SortBy::Title),
                    ],
                )?
            }
            "sort_order" => {
                filter.sort_order = one_of(key, value, &[("asc", SortOrder::Asc), ("desc", SortOrder::Desc)])?
            }
            "limit" => {
                filter.limit = value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| bad(key, format!("must be a whole number from 1 to {MAX_LIMIT}")))?
            }
            "cursor" => filter.cursor = Some(value.clone()).filter(|c| !c.trim().is_empty()),
            other => return Err(bad(other, format!("unknown query parameter {other:?}"))),
        }
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_parameter() {
        let f = parse("status=pending&priority=HIGH&category=work&tag=a&tag=%23B&search=%20bug%20&due_before=2026-12-01T00:00:00Z&sort_by=due_at&sort_order=asc&limit=10").unwrap();
        assert_eq!(f.status, StatusFilter::Pending);
        assert_eq!(f.priority, Some(Priority::High));
        assert_eq!(f.tags, vec!["a", "b"]);
        assert_eq!(f.search.as_deref(), Some("bug"));
        assert_eq!(f.sort_by, SortBy::DueAt);
        assert_eq!(f.limit, 10);
    }

    #[test]
    fn names_the_bad_parameter() {
        for (q, field) in [
            ("sort_by=colour", "sort_by"),
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("limit=ten", "limit"),
            ("status=done", "status"),
            ("due_after=tomorrow", "due_after"),
            ("search=a%00b", "search"),
            ("sortby=title", "sortby"),
            ("limit=1&limit=2", "limit"),
            ("status=all&status_filter=pending", "status_filter"),
            ("status_filter=done", "status_filter"),
        ] {
            assert_eq!(parse(q).unwrap_err().field.as_deref(), Some(field), "{q}");
        }
    }

    #[test]
    fn takes_the_predecessors_names() {
        let f = parse("status_filter=completed&sort_by=due_date&sort_order=asc").unwrap();
        assert_eq!(f.status, StatusFilter::Completed);
        assert_eq!(f.sort_by, SortBy::DueAt);
    }
}
