//! `JsonBody<T>`: a JSON request body with errors clients can act on.
//!
//! Unlike `web::Json`, it answers 415 for a wrong content type, 413 past the size limit, 400 for
//! malformed JSON or invalid UTF-8, and 422 naming the offending field (via `serde_path_to_error`)
//! when the JSON is well-formed but does not fit the schema.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::{ApiError, ErrorCode};

/// Default and maximum body size: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Per-app body limit; register with `app_data(BodyLimit(n))` to change the default.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Whether the request declares a JSON body (`application/json` or `application/*+json`).
pub fn is_json(req: &HttpRequest) -> bool {
    let Some(ct) = req.headers().get(actix_web::http::header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(ct) = ct.to_str() else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The app's body limit ([`BodyLimit`]), or 1 MiB.
pub fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<BodyLimit>().map_or(DEFAULT_BODY_LIMIT, |l| l.0)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body is larger than {limit} bytes"),
    )
}

/// Reads the whole body, refusing to buffer more than `limit` bytes.
pub async fn read_body<S>(req: &HttpRequest, payload: &mut S, limit: usize) -> Result<web::BytesMut, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, PayloadError>> + Unpin,
{
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(too_large(limit));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            PayloadError::Overflow => too_large(limit),
            other => ApiError::bad_request(format!("could not read the request body: {other}")),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses a request body, which must be a JSON object (every TaskFlow body is one), naming the field
/// at fault when the shape is wrong.
///
/// serde's derived structs also accept a JSON array of their fields in order, so `["Buy milk"]`
/// would create a task; the API documents objects only, so a top-level array is a 422 (after the
/// syntax check, so malformed JSON stays a 400). Nesting depth is bounded by serde_json's recursion
/// limit (128), which answers 400 without growing the stack.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.trim_ascii_start().first() == Some(&b'[') {
        let well_formed = serde_json::from_slice::<serde::de::IgnoredAny>(bytes);
        return Err(match well_formed {
            Ok(_) => ApiError::new(
                ErrorCode::ValidationFailed,
                "the request body must be a JSON object, not an array",
            ),
            Err(e) => ApiError::bad_request(format!("malformed JSON: {}", strip_position(&e.to_string()))),
        });
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Data => {
                let field = if path == "." { None } else { Some(path) };
                let message = strip_position(&inner.to_string());
                let e = ApiError::new(ErrorCode::ValidationFailed, message);
                match field {
                    Some(f) => e.with_field(f),
                    None => e,
                }
            }
            Category::Eof if bytes.iter().all(u8::is_ascii_whitespace) => {
                ApiError::bad_request("the request body is empty; send a JSON object")
            }
            _ => ApiError::bad_request(format!("malformed JSON: {}", strip_position(&inner.to_string()))),
        }
    })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 17"; useful for syntax errors, noise for field errors.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json(&req) {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    "send the body as JSON with Content-Type: application/json",
                ));
            }
            let body = read_body(&req, &mut payload, body_limit(&req)).await?;
            parse_json(&body).map(JsonBody)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        tags: Option<Vec<String>>,
    }

    #[test]
    fn names_the_field_that_does_not_fit() {
        let err = parse_json::<Body>(br#"{"title":"x","tags":["a",3]}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert_eq!(err.field.as_deref(), Some("tags[1]"));
        let err = parse_json::<Body>(br#"{"title":"x","colour":1}"#).unwrap_err();
        assert!(err.message.contains("colour"), "{}", err.message);
        let err = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert!(err.message.contains("title"));
    }

    #[test]
    fn malformed_json_and_bad_utf8_are_bad_requests() {
        assert_eq!(
            parse_json::<Body>(br#"{"title":"#).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            parse_json::<Body>(b"{\"title\":\"\xff\"}").unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            parse_json::<Body>(b"   ").unwrap_err().code,
            ErrorCode::BadRequest
        );
        // Well-formed but not an object: skimmed without recursion, then refused.
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(
            parse_json::<serde_json::Value>(deep.as_bytes()).unwrap_err().code,
            ErrorCode::ValidationFailed
        );
        let deep = "{\"a\":".repeat(100_000) + "1" + &"}".repeat(100_000);
        let err = parse_json::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert!(err.message.contains("recursion limit"), "{}", err.message);
    }

    #[test]
    fn an_array_is_not_an_object_body() {
        // serde would map the array onto the struct's fields in order.
        let err = parse_json::<Body>(br#" ["x", null]"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert!(err.message.contains("JSON object"), "{}", err.message);
        assert_eq!(
            parse_json::<Body>(br#"["x", "#).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            parse_json::<Body>(b"123").unwrap_err().code,
            ErrorCode::ValidationFailed
        );
    }
}
