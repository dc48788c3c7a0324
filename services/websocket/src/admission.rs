//! Who may open a stream: the credential of a WebSocket or SSE request, checked before anything is
//! streamed. Headers carry tokens (`Authorization`, or `Sec-WebSocket-Protocol: bearer, <token>`);
//! a browser, which cannot set them here, sends a single-use stream ticket in `?ticket=`. The
//! long-lived access token in `?token=` is refused unless `STREAM_TOKEN_IN_URL` allows it, because
//! URLs end up in proxies' access logs and browser history. A personal access token streams only
//! with the `tasks:read` scope (403 `insufficient_scope` otherwise).

use actix_web::HttpRequest;
use taskflow_auth::{Authenticator, Identity, Scope, bearer_token, insufficient_scope};
use taskflow_runtime::{ApiError, ErrorCode};

use crate::query_param;
use crate::tickets::{LedgerError, StreamAccess, StreamConfig};

/// Where a request's credential came from.
enum Credential {
    /// `Authorization: Bearer` (or, with `via_protocol`, `Sec-WebSocket-Protocol: bearer, <token>`).
    Token { token: String, via_protocol: bool },
    /// `?ticket=`: a single-use stream ticket.
    Ticket(String),
}

const USE_A_TICKET: &str = "get a single-use ticket from POST /api/{user_id}/stream-tickets and pass it as ?ticket=, \
     or send the token in the Authorization header or as Sec-WebSocket-Protocol: bearer, <token>";

/// The credential of a WebSocket or SSE request: `Authorization: Bearer`, else `?ticket=` (browsers
/// cannot set headers on these requests), else the `Sec-WebSocket-Protocol: bearer, <token>` carrier.
/// `?token=` — a long-lived token in a URL, which proxies log — only when `STREAM_TOKEN_IN_URL` allows it.
fn credential(req: &HttpRequest, config: StreamConfig) -> Result<Option<Credential>, ApiError> {
    if let Some(t) = query_param(req, "token") {
        if !config.token_in_url {
            return Err(ApiError::unauthorized(format!(
                "an access token in the URL (?token=) is not accepted: {USE_A_TICKET}"
            )));
        }
        return Ok(Some(Credential::Token {
            token: t,
            via_protocol: false,
        }));
    }
    if let Some(t) = bearer_token(req) {
        return Ok(Some(Credential::Token {
            token: t.to_owned(),
            via_protocol: false,
        }));
    }
    if let Some(t) = query_param(req, "ticket") {
        return Ok(Some(Credential::Ticket(t)));
    }
    let protocols = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    let Some(protocols) = protocols else {
        return Ok(None);
    };
    let mut parts = protocols.split(',').map(str::trim);
    Ok((parts.next() == Some("bearer"))
        .then(|| parts.next())
        .flatten()
        .map(|t| Credential::Token {
            token: t.to_owned(),
            via_protocol: true,
        }))
}

/// Redeems a ticket: valid, for `for_user` when the path names one, and never used before.
async fn redeem(
    ticket: &str,
    for_user: Option<&str>,
    auth: &Authenticator,
    access: &StreamAccess,
) -> Result<Identity, ApiError> {
    let redeemed = auth.verify_ticket(ticket).map_err(|e| {
        tracing::debug!(reason = %e, "stream ticket rejected");
        ApiError::unauthorized(format!("invalid or expired ticket: {USE_A_TICKET}"))
    })?;
    // Checked before spending: another user's ticket is refused without burning it.
    if for_user.is_some_and(|u| u != redeemed.user_id) {
        return Err(ApiError::unauthorized(
            "this ticket is not for this user's stream",
        ));
    }
    match access.ledger.spend(&redeemed.jti, redeemed.usable_until).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(user_id = %redeemed.user_id, "stream ticket replayed");
            return Err(ApiError::unauthorized(
                "this ticket was already used; get a new one from POST /api/{user_id}/stream-tickets",
            ));
        }
        Err(e @ LedgerError::Full(_)) => {
            tracing::warn!(error = %e, "stream ticket refused");
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "too many stream tickets in flight; retry shortly",
            )
            .with_header("Retry-After", "5"));
        }
        Err(e @ LedgerError::Unavailable(_)) => {
            tracing::warn!(error = %e, "stream ticket refused: cannot record it as used");
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "stream tickets cannot be checked right now (the state store is unreachable); \
                 retry shortly, or send the token in the Authorization header",
            )
            .with_header("Retry-After", "1"));
        }
    }
    Ok(Identity {
        user_id: redeemed.user_id,
        email: None,
        name: None,
        external: None,
        // A ticket only opens a stream; who asked for it already needed `tasks:read`.
        scopes: None,
    })
}

/// Verifies the request's token or ticket (for `for_user`'s stream, when the path names one); 401
/// without a valid one. Returns whom it identifies and whether it came as a WebSocket sub-protocol.
pub(crate) async fn authenticate(
    req: &HttpRequest,
    auth: &Authenticator,
    access: &StreamAccess,
    for_user: Option<&str>,
) -> Result<(Identity, bool), ApiError> {
    let credential = credential(req, access.config)?
        .ok_or_else(|| ApiError::unauthorized(format!("a token or ticket is required: {USE_A_TICKET}")))?;
    let (identity, via_protocol) = match credential {
        Credential::Token { token, via_protocol } => {
            (auth.verify(&token).await.map_err(ApiError::from)?, via_protocol)
        }
        Credential::Ticket(ticket) => (redeem(&ticket, for_user, auth, access).await?, false),
    };
    // The access-log line of the upgrade names the user, as the API's extractor does.
    tracing::Span::current().record("user_id", identity.user_id.as_str());
    // A personal access token streams task events only with `tasks:read`.
    if !identity.allows(Scope::TasksRead) {
        return Err(insufficient_scope(Scope::TasksRead));
    }
    Ok((identity, via_protocol))
}
