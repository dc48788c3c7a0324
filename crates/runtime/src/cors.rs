//! Cross-origin access for browser frontends served from another origin (`CORS_ALLOWED_ORIGINS`).
//!
//! Browsers refuse a page on `https://app.example` the answers of `https://api.example` unless the
//! API says so. The rules, after the Fetch standard's CORS protocol:
//! - Only origins listed exactly (scheme, host and port) get access; unset means none, and `*` is
//!   refused at start: the API is called with credentials (`Authorization`), and a wildcard would
//!   hand every site on the web a user's answers.
//! - A preflight (`OPTIONS` with `Access-Control-Request-Method`) from a listed origin is answered
//!   here, 204, with the methods and request headers the API understands and a max-age; from any
//!   other origin it goes on to routing like any request and gets no CORS headers.
//! - Every answer to a listed origin (errors too, so the page can read the JSON error) names that
//!   origin and exposes the headers a client reads (`ETag`, `Idempotent-Replayed`, `Location`, `Retry-After`, `X-Request-Id`).
//! - `Vary: Origin` on all of them, so a cache never serves one origin's answer to another.
//!
//! The policy is app data ([`CorsPolicy`], registered by the binaries that serve browsers); the
//! middleware is in every app ([`crate::wrap_common`]) and does nothing where no policy is registered.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use crate::config::{self, ConfigError};

/// The variable listing the origins that may call the API from a browser.
pub const VARIABLE: &str = "CORS_ALLOWED_ORIGINS";

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, If-Match, Idempotency-Key, Last-Event-ID, X-Request-Id, traceparent";
const EXPOSE_HEADERS: &str = "ETag, Idempotent-Replayed, Location, Retry-After, X-Request-Id";
/// How long a browser may reuse a preflight's answer, in seconds.
const MAX_AGE: &str = "600";

/// The origins allowed to call from a browser: exact, normalised `scheme://host[:port]` strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Vec<String>,
}

impl CorsPolicy {
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins; unset or empty allows none.
    pub fn from_env() -> Result<Self, ConfigError> {
        match config::var(VARIABLE) {
            None => Ok(Self::default()),
            Some(value) => Self::parse(&value).map_err(|reason| ConfigError::Invalid {
                name: VARIABLE,
                value,
                reason,
            }),
        }
    }

    /// Parses a comma-separated list of origins such as `https://app.example.com, http://localhost:5173`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut origins = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let origin = normalise(item)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(Self { origins })
    }

    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// Whether `origin` (as a browser sends it) is listed.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }
}

/// An origin as browsers send it: lower-case scheme and host, no path, no trailing slash.
fn normalise(item: &str) -> Result<String, String> {
    if item == "*" {
        return Err("`*` is not allowed: list each origin (the API is called with credentials)".into());
    }
    let lower = item.trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = lower
        .split_once("://")
        .ok_or_else(|| format!("{item:?} is not an origin such as https://app.example.com"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("{item:?}: only http and https origins can be listed"));
    }
    let valid_host = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !valid_host {
        return Err(format!(
            "{item:?} is not an origin: scheme, host and optional port only, no path"
        ));
    }
    Ok(lower)
}

/// The middleware: answers allowed preflights, and marks every answer to an allowed origin.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(policy) = req
        .app_data::<web::Data<CorsPolicy>>()
        .filter(|p| !p.is_empty())
        .cloned()
    else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let allowed = req
        .headers()
        .get(header::ORIGIN)
        .filter(|origin| origin.to_str().is_ok_and(|o| policy.allows(o)))
        .cloned();
    let Some(origin) = allowed else {
        let mut res = next.call(req).await?;
        add_vary(res.headers_mut());
        return Ok(res.map_into_left_body());
    };
    if req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        let mut preflight = HttpResponse::build(StatusCode::NO_CONTENT);
        preflight
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE))
            .insert_header((
                header::VARY,
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ));
        return Ok(req.into_response(preflight.finish()).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    add_vary(headers);
    Ok(res.map_into_left_body())
}

/// `Vary: Origin`, keeping whatever the response already varies on.
fn add_vary(headers: &mut HeaderMap) {
    let varies = headers.get_all(header::VARY).any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case("origin")))
    });
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::CorsPolicy;

    #[test]
    fn origins_are_exact_and_normalised() {
        let policy = CorsPolicy::parse(" https://App.example.com/ ,http://localhost:5173,,").unwrap();
        assert!(policy.allows("https://app.example.com"));
        assert!(policy.allows("http://localhost:5173"));
        assert!(!policy.allows("https://app.example.com.evil.test"));
        assert!(
            !policy.allows("http://app.example.com"),
            "the scheme is part of the origin"
        );
        assert!(!policy.allows("http://localhost:5174"), "so is the port");
        assert!(!policy.allows("null"));
        assert!(CorsPolicy::parse("").unwrap().is_empty());
    }

    #[test]
    fn wildcards_paths_and_other_schemes_are_refused() {
        for bad in [
            "*",
            "app.example.com",
            "https://app.example.com/path",
            "ftp://x.example",
            "https://",
            "null",
        ] {
            assert!(CorsPolicy::parse(bad).is_err(), "{bad}");
        }
        assert!(CorsPolicy::parse("https://ok.example, *").is_err());
    }
}
