//! `/api/auth`: registration, login and the current user.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use taskflow_auth::{AuthenticatedUser, Authenticator, hash_password, verify_password};
use taskflow_domain::user;
use taskflow_runtime::{ApiError, JsonBody};
use taskflow_store::{NewUser, ProfileChange, Store, StoreError};
use utoipa::ToSchema;

use crate::error::HandlerResult;
use crate::rate_limit::{AuthLimiter, too_many};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 1–100 characters, no control characters, not blank; stored trimmed.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$",
        example = "Ada Lovelace"
    )]
    pub name: String,
    /// Unique, compared case-insensitively.
    #[schema(
        max_length = 254,
        pattern = r"^[\t-\r\x85 \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,64}@[^@.\-\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^@.\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@.\-\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?(?:\.[^@.\-\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^@.\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@.\-\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)+[\t-\r\x85 \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        example = "ada@example.com"
    )]
    pub email: String,
    /// 8 to 1024 characters, no NUL.
    #[schema(
        min_length = 8,
        max_length = 1024,
        pattern = r"^[^\x00]*$",
        example = "correct horse battery"
    )]
    pub password: String,
    /// IANA time zone for recurrence and reminders, spelt exactly; default `UTC`.
    #[serde(default)]
    #[schema(value_type = Option<crate::openapi::TimeZoneName>, nullable)]
    pub timezone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub id: String,
    pub name: String,
    pub email: String,
    pub message: &'static str,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserSummary {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: UserSummary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub timezone: String,
    /// Automatic "due soon" notifications this many minutes ahead; `null` when off.
    pub default_reminder_minutes: Option<u32>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Create an account.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, description = "accepted; the same answer when the address already has an account (which stays untouched), so that registration reveals no accounts", body = RegisterResponse),
    (status = 422, description = "invalid field", body = taskflow_runtime::error::ErrorBody),
    (status = 429, description = "too many registrations from this address; see `Retry-After`",
        headers(("Retry-After" = u64, description = "seconds to wait")), body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn register(
    req: HttpRequest,
    store: web::Data<Store>,
    limiter: web::Data<AuthLimiter>,
    body: JsonBody<RegisterRequest>,
) -> HandlerResult<HttpResponse> {
    limiter
        .begin_registration(&req)
        .await
        .map_err(|wait| too_many(wait, "registrations from this address"))?;
    let body = body.into_inner();
    let name = user::validate_name(&body.name)?;
    let email = user::normalise_email(&body.email)?;
    user::validate_password(&body.password)?;
    let timezone = match body.timezone.as_deref() {
        Some(tz) => user::validate_timezone(tz)?,
        None => "UTC".to_owned(),
    };
    let password_hash = hash_password(body.password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let created = store
        .users()
        .create(NewUser {
            id: id.clone(),
            name: name.clone(),
            email: Some(email.clone()),
            password_hash: Some(password_hash),
            timezone,
        })
        .await;
    match created {
        Ok(created) => tracing::info!(user_id = %created.id, "user registered"),
        // The same answer, after the same work, as for a free address: registration must not tell
        // anyone which addresses have accounts. The account is untouched; the id given is unused.
        Err(StoreError::Duplicate(_)) => tracing::info!("registration for an address that has an account"),
        Err(e) => return Err(e.into()),
    }
    Ok(HttpResponse::Created().json(RegisterResponse {
        id,
        name,
        email,
        message: REGISTERED,
    }))
}

/// The answer to every accepted registration, whether or not the address already had an account.
pub const REGISTERED: &str =
    "If this e-mail address had no account, it has one now: sign in with it and this password.";

/// Exchange e-mail and password for a bearer token.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, description = "wrong e-mail or password", body = taskflow_runtime::error::ErrorBody),
    (status = 429, description = "too many login attempts or failed logins for this account or from this address; see `Retry-After`",
        headers(("Retry-After" = u64, description = "seconds to wait")), body = taskflow_runtime::error::ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn login(
    req: HttpRequest,
    store: web::Data<Store>,
    auth: web::Data<Authenticator>,
    limiter: web::Data<AuthLimiter>,
    body: JsonBody<LoginRequest>,
) -> HandlerResult<HttpResponse> {
    let body = body.into_inner();
    let attempt = limiter.begin_login(&req, &body.email).await?;
    // An address that cannot exist is treated like an unknown one: same answer, same time.
    let found = match user::normalise_email(&body.email) {
        Ok(email) => store.users().find_by_email(&email).await?,
        Err(_) => None,
    };
    let stored_hash = found.as_ref().and_then(|u| u.password_hash.clone());
    let verified = verify_password(body.password, stored_hash).await?;
    let Some(found) = found.filter(|_| verified) else {
        tracing::info!("login failed");
        return Err(ApiError::unauthorized("invalid e-mail or password").into());
    };
    limiter.login_succeeded(attempt).await;
    let user = found.user;
    let issued = auth.issue(&user.id, user.email.as_deref(), &user.name)?;
    Ok(HttpResponse::Ok().json(LoginResponse {
        access_token: issued.token,
        token_type: "bearer",
        expires_in: issued.expires_in,
        user: UserSummary {
            id: user.id,
            name: user.name,
            email: user.email,
        },
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// 1–100 characters, no control characters, not blank; stored trimmed.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    /// IANA time zone (e.g. `Europe/Berlin`): recurrence and reminders follow its wall clock.
    #[serde(default)]
    #[schema(value_type = Option<crate::openapi::TimeZoneName>, nullable)]
    pub timezone: Option<String>,
    /// Minutes (1–1440): tasks due that soon with no reminder of their own get a "due soon"
    /// notification. `null` turns it off.
    #[serde(default, deserialize_with = "taskflow_domain::task::nullable_whole_u32")]
    #[schema(value_type = Option<u32>, nullable, minimum = 1, maximum = 1440)]
    pub default_reminder_minutes: Option<Option<u32>>,
}

fn profile(user: taskflow_store::User) -> Profile {
    Profile {
        id: user.id,
        name: user.name,
        email: user.email,
        timezone: user.timezone,
        default_reminder_minutes: user.default_reminder_minutes,
        created_at: user.created_at,
    }
}

/// Change the authenticated user's name, time zone or default reminder.
#[utoipa::path(patch, path = "/api/auth/me", tag = "auth", security(("bearer" = [])), request_body = ProfileUpdate,
    responses((status = 200, body = Profile), (status = 422, body = taskflow_runtime::error::ErrorBody),
        (status = 403, description = "`session_required`: a personal access token cannot change the profile", body = taskflow_runtime::error::ErrorBody)))]
pub async fn update_me(
    store: web::Data<Store>,
    caller: AuthenticatedUser,
    body: JsonBody<ProfileUpdate>,
) -> HandlerResult<HttpResponse> {
    caller.require_session("changing the profile")?;
    let body = body.into_inner();
    let name = body.name.as_deref().map(user::validate_name).transpose()?;
    let timezone = body
        .timezone
        .as_deref()
        .map(user::validate_timezone)
        .transpose()?;
    if let Some(Some(m)) = body.default_reminder_minutes
        && !(1..=1440).contains(&m)
    {
        return Err(
            ApiError::validation("default_reminder_minutes", "must be from 1 to 1440 minutes").into(),
        );
    }
    let change = ProfileChange {
        name,
        timezone,
        default_reminder_minutes: body.default_reminder_minutes,
    };
    let updated = store
        .users()
        .update_profile(&caller.user_id, change)
        .await?
        .ok_or_else(|| ApiError::not_found("the user of this token no longer exists"))?;
    Ok(HttpResponse::Ok().json(profile(updated)))
}

/// The authenticated user's profile.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = Profile),
    (status = 401, body = taskflow_runtime::error::ErrorBody)))]
pub async fn me(store: web::Data<Store>, caller: AuthenticatedUser) -> HandlerResult<HttpResponse> {
    let user = store
        .users()
        .find(&caller.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("the user of this token no longer exists"))?;
    Ok(HttpResponse::Ok().json(profile(user)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/auth")
            .service(web::resource("/register").route(web::post().to(register)))
            .service(web::resource("/login").route(web::post().to(login)))
            .service(
                web::resource("/me")
                    .route(web::get().to(me))
                    .route(web::patch().to(update_me)),
            ),
    );
}
