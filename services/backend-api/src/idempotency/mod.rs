//! `Idempotency-Key` on the POSTs that create something (tasks, quick-add, chat turns, stream
//! tickets, webhook endpoints), per draft-ietf-httpapi-idempotency-key-header-07: a client may retry such a request
//! after a lost response without creating the thing twice.
//!
//! One middleware ([`middleware`], wrapped around those resources) does it all, before and after
//! the unchanged handler. For a POST with the header: the key is checked (400), the caller
//! authenticated (without a valid token the handler answers 401 as usual, with no key involved),
//! the body buffered and fingerprinted, and a marker row claimed in the database for (caller, key)
//! — the database decides races across replicas. Then:
//! - the key is new: the handler runs; a kept result ([`request::keep`]) is stored, any other
//!   deletes the marker so a retry runs again (as does a request cancelled half-way, see [`Marker`]);
//! - the same request finished before: its stored response, byte for byte, with
//!   `Idempotent-Replayed: true`;
//! - the key came with a different method, path or body: 422 `idempotency_key_reused`;
//! - the first is still running: 409 `request_in_progress` with `Retry-After: 1`.
//!
//! Keys belong to the authenticated user, never to the `{user_id}` of the path: one user's key
//! cannot replay another's response. Replays and 409s do not spend the caller's write budget (the
//! rate limiter sits in the handler); they cost one indexed read.

pub mod request;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use taskflow_auth::AuthenticatedUser;
use taskflow_domain::time;
use taskflow_runtime::json::{body_limit, read_body};
use taskflow_runtime::{ApiError, ErrorCode};
use taskflow_store::{Claim, Store};
use uuid::Uuid;

use crate::error::HandlerError;

/// The creating POSTs that [`middleware`] wraps (their `configure` functions), as the OpenAPI
/// document names them.
pub const ROUTES: [&str; 7] = [
    "/api/{user_id}/tasks",
    "/api/{user_id}/tasks/quick",
    "/api/{user_id}/chat",
    "/api/chat",
    "/api/{user_id}/stream-tickets",
    "/api/{user_id}/tokens",
    "/api/{user_id}/webhooks",
];

/// Set by a handler on its response (`extensions_mut().insert`) when the body it sends must not be
/// kept: this body is stored and replayed instead. Creating a personal access token keeps its answer
/// without the secret, which is never stored anywhere but as a hash.
#[derive(Debug, Clone)]
pub struct StoreInstead(pub actix_web::web::Bytes);

/// The middleware: wrap a resource with `.wrap(from_fn(idempotency::middleware))`. Requests other
/// than POST, and POSTs without the header, pass through untouched.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != actix_web::http::Method::POST {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let key = match request::key(req.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return Ok(next.call(req).await?.map_into_boxed_body()),
        Err(e) => return Ok(req.error_response(e)),
    };
    let (Some(store), Ok(caller)) = (
        req.app_data::<web::Data<Store>>().cloned(),
        req.extract::<AuthenticatedUser>().await,
    ) else {
        // Unauthenticated: the handler refuses it (401), and nothing is remembered.
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let body = {
        let (http, payload) = req.parts_mut();
        match read_body(http, payload, body_limit(http)).await {
            Ok(body) => body.freeze(),
            Err(e) => return Ok(req.error_response(e)),
        }
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |p| p.as_str().to_owned());
    let fingerprint = request::fingerprint(req.method(), &path, &body);
    req.set_payload(actix_web::dev::Payload::from(body));

    let claimed = store
        .idempotency_keys()
        .claim(&caller.user_id, &key, &fingerprint, time::now())
        .await;
    let claim = match claimed {
        Ok(Claim::Acquired(claim)) => claim,
        Ok(Claim::Replay(stored)) => {
            tracing::debug!("idempotent replay");
            return Ok(req.into_response(request::replay(stored)));
        }
        Ok(Claim::Mismatch) => return Ok(req.error_response(reused())),
        Ok(Claim::InProgress) => return Ok(req.error_response(in_progress())),
        Err(e) => return Ok(req.into_response(HandlerError::from(e).error_response())),
    };
    let marker = Marker {
        store: store.get_ref().clone(),
        user_id: caller.user_id,
        key,
        claim,
        settled: false,
    };
    marker.run(req, next).await
}

fn reused() -> ApiError {
    ApiError::new(
        ErrorCode::IdempotencyKeyReused,
        "this Idempotency-Key was used for a different request; send a new key for a new request",
    )
    .with_field(request::HEADER)
}

fn in_progress() -> ApiError {
    ApiError::new(
        ErrorCode::RequestInProgress,
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
    .with_field(request::HEADER)
    .with_header("Retry-After", "1")
}

/// The marker this request holds. Settled by storing the response or deleting the marker. If the
/// request's future is dropped before that (cancelled at shutdown), the marker is deleted in the
/// background, so the key does not stay "in progress" until its lease ends. A client that merely
/// disconnects does not stop its request: actix runs the handler to the end, so the response is
/// stored and the client's retry gets it.
struct Marker {
    store: Store,
    user_id: String,
    key: String,
    claim: Uuid,
    settled: bool,
}

impl Marker {
    async fn run(
        mut self,
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        let res = match next.call(req).await {
            Ok(res) => res,
            Err(e) => {
                self.release().await;
                return Err(e);
            }
        };
        let (http, res) = res.into_parts();
        let (head, body) = res.into_parts();
        let body = match actix_web::body::to_bytes(body).await {
            Ok(body) => body,
            Err(e) => {
                self.release().await;
                let cause: Box<dyn std::error::Error> = e.into();
                let error =
                    ApiError::internal("reading the response to store for its Idempotency-Key", &cause);
                return Ok(ServiceResponse::new(http, error.error_response()));
            }
        };
        let status = head.status();
        if request::keep(status) {
            let kept = head
                .extensions()
                .get::<StoreInstead>()
                .map_or_else(|| body.clone(), |instead| instead.0.clone());
            let stored = request::to_store(status, head.headers(), &kept);
            let repo = self.store.idempotency_keys();
            match repo
                .complete(&self.user_id, &self.key, self.claim, &stored, time::now())
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("the Idempotency-Key marker was taken over before the response was stored")
                }
                // The effect happened: leave the marker in flight (409 until its lease ends)
                // rather than let a retry do it again at once.
                Err(e) => tracing::error!(error = %e, "cannot store the response for its Idempotency-Key"),
            }
            self.settled = true;
        } else {
            self.release().await;
        }
        let res: HttpResponse<BoxBody> = head.set_body(BoxBody::new(body));
        Ok(ServiceResponse::new(http, res))
    }

    async fn release(&mut self) {
        self.settled = true;
        if let Err(e) = self
            .store
            .idempotency_keys()
            .release(&self.user_id, &self.key, self.claim)
            .await
        {
            tracing::warn!(error = %e, "cannot release an Idempotency-Key marker; it expires with its lease");
        }
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, user_id, key, claim) = (
            self.store.clone(),
            std::mem::take(&mut self.user_id),
            std::mem::take(&mut self.key),
            self.claim,
        );
        runtime.spawn(async move {
            if let Err(e) = store.idempotency_keys().release(&user_id, &key, claim).await {
                tracing::warn!(error = %e, "cannot release an abandoned Idempotency-Key marker");
            }
        });
    }
}
