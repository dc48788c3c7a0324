//! Authentication for every TaskFlow service.
//!
//! - Local accounts: Argon2id password hashes and HS256 tokens signed with `JWT_SECRET`.
//! - An external identity provider (Better Auth and the like): EdDSA, ES256 or RS256 tokens checked
//!   against its JWKS, fetched and cached here, with users provisioned on first sight under an id
//!   derived from `iss` and `sub` ([`ExternalSubject`]), never the raw `sub`.
//! - Personal access tokens (`tf_pat_…`), scoped ([`Scope`]) and resolved by the app's [`PatResolver`].
//! - Stream tickets: 60-second, single-use HS256 tokens for `?ticket=` on WebSocket/SSE URLs.
//! - An actix extractor, [`AuthenticatedUser`], so a handler that takes one cannot run unauthenticated.

mod chatkit;
pub mod config;
mod error;
mod external_id;
mod extractor;
mod jwks;
mod password;
mod pat;
mod scopes;
mod tickets;
mod tokens;

pub use chatkit::{CHATKIT_AUDIENCE, CHATKIT_SECRET_TTL_SECS, ChatKitSecret};
pub use error::AuthError;
pub use external_id::ExternalSubject;
pub use extractor::{
    AuthenticatedUser, ProvisionFuture, ProvisionedUsers, Provisioner, bearer_token, insufficient_scope,
    session_required,
};
pub use jwks::{JwksConfig, JwksVerifier};
pub use password::{hash_password, verify_password};
pub use pat::{
    GeneratedPat, PAT_PREFIX, PatFuture, PatResolver, ResolvedPat, generate_pat, is_pat, pat_hash,
};
pub use scopes::{Scope, Scopes};
pub use tickets::{IssuedTicket, RedeemedTicket, STREAM_AUDIENCE, TICKET_LEEWAY_SECS, TICKET_TTL_SECS};
pub use tokens::{Authenticator, Claims, Identity, IssuedToken, LOCAL_ISSUER, LocalTokenConfig};

/// What the unit tests of tokens, tickets and client secrets share.
#[cfg(test)]
pub(crate) mod testing {
    use crate::{Authenticator, LocalTokenConfig};

    pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// An authenticator signing with `secret`, 7-day tokens, no identity provider.
    pub fn auth(secret: &[u8]) -> Authenticator {
        Authenticator::new(
            LocalTokenConfig {
                secret: secret.to_vec(),
                ttl_days: 7,
            },
            None,
        )
    }
}
