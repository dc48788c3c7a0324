//! [`Throttled<A>`]: the authenticated caller, admitted by their `A` token bucket. A route that takes
//! it in place of `AuthenticatedUser` is rate-limited per user, after the token is checked (so nobody
//! can spend another user's budget) and before the handler does any work; a spent bucket answers 429
//! with `Retry-After`.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use taskflow_auth::AuthenticatedUser;
use taskflow_runtime::ApiError;

use super::{AuthLimiter, RateKind};

/// Which bucket a [`Throttled`] route draws from.
pub trait Action {
    const KIND: RateKind;
}

/// Task writes: POST/PUT/PATCH/DELETE on tasks, quick-add.
#[derive(Debug)]
pub struct Writes;
/// Chat turns, plain and streamed.
#[derive(Debug)]
pub struct ChatTurns;
/// Requests to `/mcp`.
#[derive(Debug)]
pub struct McpCalls;

impl Action for Writes {
    const KIND: RateKind = RateKind::Writes;
}
impl Action for ChatTurns {
    const KIND: RateKind = RateKind::ChatTurns;
}
impl Action for McpCalls {
    const KIND: RateKind = RateKind::McpCalls;
}

/// The caller, let through by their `A` bucket.
#[derive(Debug)]
pub struct Throttled<A> {
    pub user: AuthenticatedUser,
    action: PhantomData<A>,
}

impl<A> Deref for Throttled<A> {
    type Target = AuthenticatedUser;

    fn deref(&self) -> &AuthenticatedUser {
        &self.user
    }
}

impl<A: Action + 'static> FromRequest for Throttled<A> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthenticatedUser::from_request(req, payload);
        let limiter = req.app_data::<web::Data<AuthLimiter>>().cloned();
        Box::pin(async move {
            let user = user.await?;
            if let Some(limiter) = limiter {
                limiter.user_request(A::KIND, &user.user_id).await?;
            }
            Ok(Self {
                user,
                action: PhantomData,
            })
        })
    }
}
