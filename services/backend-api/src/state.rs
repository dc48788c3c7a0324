//! The glue that lets the auth crate provision identity-provider users in the store.

use taskflow_auth::{AuthError, Identity, ProvisionFuture, Provisioner};
use taskflow_store::{NewUser, Store, StoreError};

/// Creates local rows for identity-provider users on their first request.
pub struct StoreProvisioner(pub Store);

impl StoreProvisioner {
    async fn provision(&self, identity: &Identity) -> Result<(), StoreError> {
        let users = self.0.users();
        if users.find(&identity.user_id).await?.is_some() {
            return Ok(());
        }
        // An account provisioned under the raw `sub` (before ids were bound to the issuer) moves to
        // the new id; `adopt_legacy` leaves local accounts (with a password) alone.
        if let Some(external) = &identity.external
            && external.subject != identity.user_id
            && users.adopt_legacy(&external.subject, &identity.user_id).await?
        {
            return Ok(());
        }
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
        users
            .ensure_exists(NewUser {
                id: identity.user_id.clone(),
                name,
                email,
                password_hash: None,
                timezone: "UTC".into(),
            })
            .await
    }
}

impl Provisioner for StoreProvisioner {
    fn ensure_user<'a>(&'a self, identity: &'a Identity) -> ProvisionFuture<'a> {
        Box::pin(async move {
            self.provision(identity)
                .await
                .map_err(|e| AuthError::Provisioning(e.to_string()))
        })
    }
}
