//! The local user id of an identity-provider user: a name-based UUID (version 5) of the token's
//! `iss` and `sub`, never the raw `sub`.
//!
//! Taking `sub` as the id let a provider token whose `sub` was a local user's id act as that user,
//! and let two issuers behind one key set (a multi-tenant endpoint) share a user. A version-5 UUID
//! cannot equal a local id (those are version 4) and differs per issuer; every service derives it
//! from the token alone, so the websocket service, which has no database, agrees with backend-api.

use uuid::Uuid;

/// TaskFlow's namespace for identity-provider ids (random, fixed forever: changing it moves every
/// provider user to a new, empty account).
const NAMESPACE: Uuid = Uuid::from_u128(0x05eb_afce_c041_42bf_9386_a7cf_2138_0bc0);

/// Who the identity provider says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSubject {
    /// The token's `iss`, when it has one.
    pub issuer: Option<String>,
    pub subject: String,
}

impl ExternalSubject {
    /// The caller's TaskFlow user id. `sub` holds no control characters (refused before this), so
    /// the NUL between the two parts is unambiguous.
    pub fn user_id(&self) -> String {
        let issuer = self.issuer.as_deref().unwrap_or_default();
        let mut name = Vec::with_capacity(issuer.len() + 1 + self.subject.len());
        name.extend_from_slice(issuer.as_bytes());
        name.push(0);
        name.extend_from_slice(self.subject.as_bytes());
        Uuid::new_v5(&NAMESPACE, &name).to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn subject(issuer: Option<&str>, sub: &str) -> ExternalSubject {
        ExternalSubject {
            issuer: issuer.map(str::to_owned),
            subject: sub.to_owned(),
        }
    }

    #[test]
    fn a_subject_that_looks_like_a_local_id_gets_another_id() {
        let local = Uuid::new_v4().to_string();
        let id = subject(Some("https://idp.example"), &local).user_id();
        assert_ne!(id, local);
        assert_eq!(Uuid::parse_str(&id).unwrap().get_version_num(), 5);
    }

    #[test]
    fn the_id_is_stable_and_bound_to_the_issuer() {
        let a = subject(Some("https://a.example"), "user-1");
        assert_eq!(a.user_id(), a.clone().user_id());
        assert_ne!(
            a.user_id(),
            subject(Some("https://b.example"), "user-1").user_id()
        );
        assert_ne!(a.user_id(), subject(None, "user-1").user_id());
        assert_ne!(
            a.user_id(),
            subject(Some("https://a.example"), "user-2").user_id()
        );
        // The separator keeps the parts apart.
        assert_ne!(
            subject(Some("ab"), "c").user_id(),
            subject(Some("a"), "bc").user_id()
        );
    }
}
