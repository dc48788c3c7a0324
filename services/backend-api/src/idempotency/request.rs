//! The pieces of `Idempotency-Key` handling that need no database: reading the header, the request
//! fingerprint, which responses and headers are kept, and a kept response sent again.

use actix_web::HttpResponse;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use sha2::{Digest, Sha256};
use taskflow_runtime::ApiError;
use taskflow_store::StoredResponse;

/// The request header (draft-ietf-httpapi-idempotency-key-header-07).
pub const HEADER: &str = "Idempotency-Key";
/// Marks a response sent again from the stored first one.
pub const REPLAYED: &str = "Idempotent-Replayed";
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// What [`key`] accepts, for the OpenAPI document: printable ASCII, and (since HTTP drops a
/// value's surrounding white space before it arrives) no space at either end.
pub const KEY_PATTERN: &str = "^[!-~]([ -~]{0,253}[!-~])?$";

/// The headers a client needs from a created resource's response; the rest (request id, rate
/// budget, CORS, …) belong to the request that carries them and are sent afresh on a replay.
const KEPT_HEADERS: [&str; 4] = ["content-type", "etag", "location", "cache-control"];

fn invalid(message: &str) -> ApiError {
    ApiError::bad_request(message).with_field(HEADER)
}

/// The key of a request: `None` without the header; 400 (naming the header) unless there is one
/// value of 1–255 printable ASCII characters. The value is opaque: the draft's quoted form
/// (`"8e03…"`) is a key like any other, quotes included.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid("send one Idempotency-Key header"));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(invalid(
            "Idempotency-Key must be 1 to 255 printable ASCII characters, e.g. a UUID",
        ));
    }
    // Printable ASCII is valid UTF-8.
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// What tells a retry from another request under the same key: SHA-256 over the method, the path
/// with its query, and the body bytes, hex-encoded.
pub fn fingerprint(method: &Method, path_and_query: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update(b"\n");
    hash.update(path_and_query.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a result is kept and replayed: a success, or a client error that a retry of the same
/// request would meet again. Not a server error, 409 or 429 (retrying later may succeed): their
/// marker is deleted so the retry runs.
pub fn keep(status: StatusCode) -> bool {
    status.is_success()
        || (status.is_client_error()
            && status != StatusCode::CONFLICT
            && status != StatusCode::TOO_MANY_REQUESTS)
}

/// The response to store: its status, the [`KEPT_HEADERS`] it has, and its body.
pub fn to_store(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> StoredResponse {
    let headers = KEPT_HEADERS
        .iter()
        .flat_map(|name| {
            headers
                .get_all(*name)
                .filter_map(|v| v.to_str().ok())
                .map(|v| ((*name).to_owned(), v.to_owned()))
        })
        .collect();
    StoredResponse {
        status: status.as_u16(),
        headers,
        body: body.to_vec(),
    }
}

/// The stored response again, byte for byte, marked `Idempotent-Replayed: true`.
pub fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
            res.append_header((n, v));
        }
    }
    res.insert_header((REPLAYED, "true")).body(stored.body)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                HeaderName::from_static("idempotency-key"),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn keys_are_one_to_255_printable_ascii_characters() {
        assert_eq!(key(&headers(&[])).unwrap(), None);
        assert_eq!(key(&headers(&[b"abc-123"])).unwrap().as_deref(), Some("abc-123"));
        assert_eq!(
            key(&headers(&[b"\"quoted\""])).unwrap().as_deref(),
            Some("\"quoted\"")
        );
        assert!(key(&headers(&[&[b'k'; 255]])).unwrap().is_some());
        for bad in [
            &b""[..],
            &[b'k'; 256],
            b"tab\there",
            "caf\u{e9}".as_bytes(),
            b"\xff",
        ] {
            let e = key(&headers(&[bad])).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(HEADER), "{bad:?}");
        }
        assert!(key(&headers(&[b"a", b"b"])).is_err());
    }

    #[test]
    fn the_fingerprint_covers_method_path_and_body() {
        let base = fingerprint(&Method::POST, "/api/u/tasks", b"{}");
        assert_eq!(base.len(), 64);
        assert_eq!(base, fingerprint(&Method::POST, "/api/u/tasks", b"{}"));
        assert_ne!(base, fingerprint(&Method::PUT, "/api/u/tasks", b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, "/api/u/tasks/quick", b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, "/api/u/tasks", b"{ }"));
    }

    #[test]
    fn successes_and_final_client_errors_are_kept() {
        for kept in [200, 201, 400, 403, 404, 413, 415, 422] {
            assert!(keep(StatusCode::from_u16(kept).unwrap()), "{kept}");
        }
        for dropped in [409, 429, 500, 502, 503, 504] {
            assert!(!keep(StatusCode::from_u16(dropped).unwrap()), "{dropped}");
        }
    }
}
