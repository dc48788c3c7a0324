//! The TaskFlow web app: a task app a person can use in a browser, served at `/`.
//!
//! Hand-written ES modules and CSS (no framework, no bundler, no Node.js in the build), embedded in
//! the binary with `include_bytes!` so the app works offline and from one file. It talks only to the
//! public REST API, SSE stream and chat stream, as any other frontend would.
//!
//! It is a crate of its own rather than a module of `taskflow` so that every binary that should serve
//! the app can mount [`configure`]: the all-in-one `taskflow` today, and a small `web` app (or
//! backend-api) under Dapr later, without copying assets.
//!
//! Caching: the HTML is `no-cache` and names its assets under `/assets/{version}/…`, where the version
//! is a hash of every asset, so assets are served `immutable` for a year and a new build is picked up
//! on the next load. The HTML carries a strict Content-Security-Policy (`default-src 'self'`, no inline
//! script or style), so nothing but this origin is ever contacted.

mod assets;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

pub use assets::{Asset, find, version};

/// The policy on the HTML page: this origin only, nothing inline, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// `GET /` (and `/index.html`): the page, with this build's asset version.
async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(assets::index_html())
}

/// `GET /assets/{version}/{file}`: an embedded asset; immutable when the version is this build's.
async fn asset(req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    let (requested, file) = path.into_inner();
    let Some(asset) = find(&file) else {
        return not_found();
    };
    let etag = format!("\"{}\"", version());
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    let cache = if requested == version() {
        "public, max-age=31536000, immutable"
    } else {
        // An old page asking for an asset of another build: serve this build's, but do not keep it.
        "no-cache"
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(asset.bytes)
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("application/json")
        .body(r#"{"error":{"code":"not_found","message":"no such asset"}}"#)
}

/// Mounts `GET /`, `GET /index.html` and `GET /assets/{version}/{file}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(index)))
        .service(web::resource("/index.html").route(web::get().to(index)))
        .service(web::resource("/assets/{version}/{file}").route(web::get().to(asset)));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use actix_web::{App, test as web_test};

    use super::*;

    #[actix_web::test]
    async fn the_page_names_versioned_assets_under_a_strict_policy() {
        let app = web_test::init_service(App::new().configure(configure)).await;
        let res = web_test::call_service(&app, web_test::TestRequest::get().uri("/").to_request()).await;
        assert_eq!(res.status(), 200);
        let headers = res.headers().clone();
        assert_eq!(
            headers.get(header::CONTENT_SECURITY_POLICY).unwrap(),
            CONTENT_SECURITY_POLICY
        );
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'self';"));
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-cache");
        assert!(
            headers
                .get(header::CONTENT_TYPE)
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = String::from_utf8(web_test::read_body(res).await.to_vec()).unwrap();
        assert!(html.contains(&format!("/assets/{}/app.js", version())));
        assert!(!html.contains("__VERSION__"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no other origin"
        );

        let uri = format!("/assets/{}/app.js", version());
        let res = web_test::call_service(&app, web_test::TestRequest::get().uri(&uri).to_request()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            "public, max-age=31536000, immutable"
        );

        let res = web_test::call_service(
            &app,
            web_test::TestRequest::get()
                .uri("/assets/old/app.css")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/css; charset=utf-8"
        );
        assert_eq!(res.headers().get(header::CACHE_CONTROL).unwrap(), "no-cache");

        let res = web_test::call_service(
            &app,
            web_test::TestRequest::get().uri("/assets/x/nope.js").to_request(),
        )
        .await;
        assert_eq!(res.status(), 404);
    }

    #[test]
    fn every_module_an_asset_imports_is_embedded() {
        for asset in assets::ALL {
            let Ok(text) = std::str::from_utf8(asset.bytes) else {
                continue;
            };
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target = line.rsplit(['\'', '"']).nth(1).unwrap();
                let name = target.trim_start_matches("./");
                assert!(find(name).is_some(), "{} imports {target}", asset.name);
            }
        }
    }
}
