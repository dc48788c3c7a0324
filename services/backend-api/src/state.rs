//! The glue that lets the auth crate provision identity-provider users in the store.

use taskflow_auth::{AuthError, Identity, ProvisionFuture, Provisioner};
use taskflow_store::{NewUser, Store};

/// Creates local rows for identity-provider users on their first request.
pub struct StoreProvisioner(pub Store);

impl Provisioner for StoreProvisioner {
    fn ensure_user<'a>(&'a self, identity: &'a Identity) -> ProvisionFuture<'a> {
        Box::pin(async move {
            let email = identity
                .email
                .as_deref()
                .and_then(|e| taskflow_domain::user::normalise_email(e).ok());
            let name = identity
                .name
                .as_deref()
                .and_then(|n| taskflow_domain::user::validate_name(n).ok())
                .or_else(|| email.clone())
                .unwrap_or_else(|| "user".to_owned());
            self.0
                .users()
                .ensure_exists(NewUser {
                    id: identity.user_id.clone(),
                    name,
                    email,
                    password_hash: None,
                    timezone: "UTC".into(),
                })
                .await
                .map_err(|e| AuthError::Provisioning(e.to_string()))
        })
    }
}
