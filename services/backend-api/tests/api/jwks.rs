//! Tokens from an external identity provider (EdDSA, ES256, RS256) verified against its JWKS.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use taskflow_auth::{ExternalSubject, JwksConfig};

use crate::helpers::{TestApp, assert_error};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const ISSUER: &str = "https://idp.example.com";
const AUDIENCE: &str = "taskflow-api";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

/// A stand-in identity provider serving a key set that tests can change, counting fetches.
struct FakeIdp {
    url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl FakeIdp {
    async fn start() -> Self {
        let keys = Arc::new(Mutex::new(
            serde_json::from_slice::<Value>(&fixture("jwks.json")).unwrap(),
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        let server = HttpServer::new(move || {
            let (k, f) = (k.clone(), f.clone());
            App::new().route(
                "/.well-known/jwks.json",
                web::get().to(move || {
                    let (k, f) = (k.clone(), f.clone());
                    async move {
                        f.fetch_add(1, Ordering::SeqCst);
                        let body = k.lock().unwrap().clone();
                        HttpResponse::Ok().json(body)
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Self {
            url: format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
            keys,
            fetches,
        }
    }

    fn config(&self) -> JwksConfig {
        JwksConfig {
            url: self.url.clone(),
            issuer: Some(ISSUER.into()),
            audience: Some(AUDIENCE.into()),
            cache_ttl: Duration::from_secs(600),
            refetch_cooldown: Duration::ZERO,
        }
    }
}

/// The TaskFlow user id of the provider's user `sub` (derived from `iss` and `sub`).
fn idp_id(sub: &str) -> String {
    ExternalSubject {
        issuer: Some(ISSUER.into()),
        subject: sub.into(),
    }
    .user_id()
}

fn claims(sub: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now, "email": format!("{sub}@idp.example.com"), "name": "IdP User"})
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let key = match alg {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&fixture("ed25519.pem")).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&fixture("p256.pem")).unwrap(),
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&fixture("rsa.pem")).unwrap(),
        other => panic!("no fixture for {other:?}"),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &key).unwrap()
}

#[tokio::test]
async fn eddsa_es256_and_rs256_tokens_are_accepted_and_users_provisioned() {
    let idp = FakeIdp::start().await;
    let app = TestApp::spawn_with(Some(idp.config())).await;
    for (alg, kid, sub) in [
        (Algorithm::EdDSA, "ed-1", "idp-user-ed"),
        (Algorithm::ES256, "ec-1", "idp-user-ec"),
        (Algorithm::RS256, "rsa-1", "idp-user-rsa"),
    ] {
        let token = sign(alg, Some(kid), &claims(sub));
        let res = app
            .post_json(
                &format!("/api/{}/tasks", idp_id(sub)),
                Some(&token),
                &json!({"title": "from the IdP"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{alg:?}");
        let me: Value = app.get("/api/auth/me", &token).await.json().await.unwrap();
        assert_eq!(me["id"], idp_id(sub));
        assert_eq!(me["email"], format!("{sub}@idp.example.com"));
        assert_eq!(me["name"], "IdP User");
        // Isolation holds for provisioned users too.
        let res = app.get("/api/someone-else/tasks", &token).await;
        assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "keys are cached");
    // A token without kid is matched by algorithm.
    let token = sign(Algorithm::ES256, None, &claims("idp-user-ec"));
    assert_eq!(
        app.get(&format!("/api/{}/tasks", idp_id("idp-user-ec")), &token)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_issuer_audience_time_or_key_is_rejected() {
    let idp = FakeIdp::start().await;
    let app = TestApp::spawn_with(Some(idp.config())).await;
    let now = chrono::Utc::now().timestamp();
    let with = |patch: Value| {
        let mut c = claims("idp-user");
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let cases = [
        (
            "wrong issuer",
            sign(
                Algorithm::ES256,
                Some("ec-1"),
                &with(json!({"iss": "https://evil.example.com"})),
            ),
        ),
        (
            "wrong audience",
            sign(
                Algorithm::ES256,
                Some("ec-1"),
                &with(json!({"aud": "another-api"})),
            ),
        ),
        (
            "expired",
            sign(Algorithm::ES256, Some("ec-1"), &with(json!({"exp": now - 3600}))),
        ),
        (
            "not yet valid",
            sign(Algorithm::ES256, Some("ec-1"), &with(json!({"nbf": now + 3600}))),
        ),
        (
            "key of another algorithm",
            sign(Algorithm::ES256, Some("rsa-1"), &claims("idp-user")),
        ),
        (
            "unknown kid",
            sign(Algorithm::ES256, Some("nope"), &claims("idp-user")),
        ),
    ];
    for (why, token) in cases {
        let res = app.get("/api/idp-user/tasks", &token).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    }
}

#[tokio::test]
async fn hs256_forged_with_the_public_key_is_rejected() {
    let idp = FakeIdp::start().await;
    let app = TestApp::spawn_with(Some(idp.config())).await;
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims("idp-user"),
        &EncodingKey::from_secret(&fixture("rsa_public.pem")),
    )
    .unwrap();
    assert_error(
        app.get("/api/idp-user/tasks", &forged).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    let hs384 = encode(
        &Header::new(Algorithm::HS384),
        &claims("idp-user"),
        &EncodingKey::from_secret(b"whatever"),
    )
    .unwrap();
    assert_error(
        app.get("/api/idp-user/tasks", &hs384).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
}

#[tokio::test]
async fn an_unknown_kid_triggers_one_refetch_and_rotated_keys_are_picked_up() {
    let idp = FakeIdp::start().await;
    let app = TestApp::spawn_with(Some(idp.config())).await;
    let token = sign(Algorithm::ES256, Some("ec-1"), &claims("rotating"));
    assert_eq!(
        app.get(&format!("/api/{}/tasks", idp_id("rotating")), &token)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);

    // The provider rotates to a new key; a token signed with it names a kid we have not seen.
    let rotated: Value = serde_json::from_slice(&fixture("rotated_jwk.json")).unwrap();
    idp.keys.lock().unwrap()["keys"]
        .as_array_mut()
        .unwrap()
        .push(rotated);
    let key = EncodingKey::from_ec_pem(&fixture("p256_rotated.pem")).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-2".into());
    let new_token = encode(&header, &claims("rotating"), &key).unwrap();
    assert_eq!(
        app.get(&format!("/api/{}/tasks", idp_id("rotating")), &new_token)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        2,
        "refetched once for the new kid"
    );

    // A kid that does not exist even after refetching is refused.
    let bogus = sign(Algorithm::ES256, Some("made-up"), &claims("rotating"));
    assert_error(
        app.get("/api/rotating/tasks", &bogus).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn refetches_are_rate_limited() {
    let idp = FakeIdp::start().await;
    let mut config = idp.config();
    config.refetch_cooldown = Duration::from_secs(300);
    let app = TestApp::spawn_with(Some(config)).await;
    let good = sign(Algorithm::EdDSA, Some("ed-1"), &claims("limited"));
    assert_eq!(
        app.get(&format!("/api/{}/tasks", idp_id("limited")), &good)
            .await
            .status(),
        StatusCode::OK
    );
    for i in 0..5 {
        let bogus = sign(Algorithm::EdDSA, Some(&format!("random-{i}")), &claims("limited"));
        assert_eq!(
            app.get("/api/limited/tasks", &bogus).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        1,
        "made-up kids must not hammer the provider"
    );
}

#[tokio::test]
async fn asymmetric_tokens_are_refused_when_no_jwks_is_configured() {
    let app = TestApp::spawn().await;
    let token = sign(Algorithm::RS256, Some("rsa-1"), &claims("someone"));
    assert_error(
        app.get("/api/someone/tasks", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
}

/// A local token for `sub`, signed with the test app's secret, as the app issues them.
fn local_token(sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": sub, "iss": taskflow_auth::LOCAL_ISSUER, "exp": now + 600, "iat": now});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(crate::helpers::SECRET.as_bytes()),
    )
    .unwrap()
}

async fn task_titles(app: &TestApp, user_id: &str, token: &str) -> Vec<String> {
    let page: Value = app
        .get(&format!("/api/{user_id}/tasks"), token)
        .await
        .json()
        .await
        .unwrap();
    crate::helpers::titles(&page)
}

/// The identity provider cannot speak for a local account: a token whose `sub` is a local user's
/// id gets a user of its own (issue 22; before, it became that user and read their tasks).
#[tokio::test]
async fn a_provider_subject_equal_to_a_local_id_does_not_become_that_user() {
    let idp = FakeIdp::start().await;
    let app = TestApp::spawn_with(Some(idp.config())).await;
    let alice = app.user().await;
    app.create_task(&alice, json!({"title": "alice's secret"})).await;
    let token = sign(Algorithm::ES256, Some("ec-1"), &claims(&alice.id));
    let res = app.get(&format!("/api/{}/tasks", alice.id), &token).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    let me: Value = app.get("/api/auth/me", &token).await.json().await.unwrap();
    assert_eq!(me["id"], idp_id(&alice.id));
    assert_ne!(me["id"], alice.id.as_str());
    assert!(task_titles(&app, &idp_id(&alice.id), &token).await.is_empty());
    // Alice's account is untouched.
    assert_eq!(
        task_titles(&app, &alice.id, &alice.token).await,
        ["alice's secret"]
    );
}

/// Two issuers behind one key set (a multi-tenant endpoint, `JWT_ISSUER` unset) each have their
/// own user `1`.
#[tokio::test]
async fn the_same_subject_from_two_issuers_is_two_users() {
    let idp = FakeIdp::start().await;
    let config = JwksConfig {
        issuer: None,
        ..idp.config()
    };
    let app = TestApp::spawn_with(Some(config)).await;
    let mut ids = Vec::new();
    for issuer in ["https://tenant-a.example", "https://tenant-b.example"] {
        let mut c = claims("1");
        c["iss"] = json!(issuer);
        let token = sign(Algorithm::ES256, Some("ec-1"), &c);
        let me: Value = app.get("/api/auth/me", &token).await.json().await.unwrap();
        let id = me["id"].as_str().unwrap().to_owned();
        let res = app
            .post_json(
                &format!("/api/{id}/tasks"),
                Some(&token),
                &json!({"title": issuer}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(task_titles(&app, &id, &token).await, [issuer]);
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
}

/// An account provisioned under the raw `sub` (before ids were bound to the issuer) moves, with
/// its data, to the new id the next time that user signs in.
#[tokio::test]
async fn an_account_provisioned_under_the_raw_subject_moves_to_the_new_id() {
    let idp = FakeIdp::start().await;
    let app = TestApp::spawn_with(Some(idp.config())).await;
    let sub = "legacy-user";
    app.store
        .users()
        .ensure_exists(taskflow_store::NewUser {
            id: sub.into(),
            name: "Legacy".into(),
            email: Some(format!("{sub}@idp.example.com")),
            password_hash: None,
            timezone: "Europe/Berlin".into(),
        })
        .await
        .unwrap();
    let legacy_token = local_token(sub);
    let res = app
        .post_json(
            &format!("/api/{sub}/tasks"),
            Some(&legacy_token),
            &json!({"title": "kept"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let token = sign(Algorithm::ES256, Some("ec-1"), &claims(sub));
    let me: Value = app.get("/api/auth/me", &token).await.json().await.unwrap();
    assert_eq!(me["id"], idp_id(sub));
    assert_eq!(me["email"], format!("{sub}@idp.example.com"));
    assert_eq!(me["timezone"], "Europe/Berlin");
    assert_eq!(task_titles(&app, &idp_id(sub), &token).await, ["kept"]);
    assert!(app.store.users().find(sub).await.unwrap().is_none());
    // The task moved with its events' owner: completing it works under the new id.
    let page: Value = app
        .get(&format!("/api/{}/tasks", idp_id(sub)), &token)
        .await
        .json()
        .await
        .unwrap();
    let id = page["tasks"][0]["id"].as_str().unwrap();
    let res = app
        .client
        .patch(app.url(&format!("/api/{}/tasks/{id}/complete", idp_id(sub))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
