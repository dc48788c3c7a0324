//! Standard Webhooks signatures (spec "Signature scheme"): `v1,` + base64 of HMAC-SHA256, keyed with
//! the base64-decoded bytes after `whsec_`, over `{webhook-id}.{webhook-timestamp}.{body}`. Several
//! secrets (a rotation's grace period) give several signatures, space-separated.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// A stored secret that does not decode; never written by the API, so a bug or a manual edit.
#[derive(Debug, thiserror::Error)]
#[error("the endpoint's signing secret is not `whsec_` + base64")]
pub struct BadSecret;

/// The `webhook-signature` header for `body` sent as `id` at `timestamp`, one `v1,` entry per secret.
pub fn header(secrets: &[String], id: &str, timestamp: i64, body: &str) -> Result<String, BadSecret> {
    let signed = format!("{id}.{timestamp}.{body}");
    let mut entries = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = secret
            .strip_prefix("whsec_")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .ok_or(BadSecret)?;
        let mac = Hmac::<Sha256>::new_from_slice(&key)
            .map_err(|_| BadSecret)?
            .chain_update(signed.as_bytes())
            .finalize()
            .into_bytes();
        entries.push(format!("v1,{}", STANDARD.encode(mac)));
    }
    Ok(entries.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector the Standard Webhooks reference libraries test against.
    #[test]
    fn matches_the_reference_implementations() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let signed = header(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signed.unwrap(), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn each_secret_signs_and_a_bad_one_is_an_error() {
        let two = [
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
            "whsec_AAAA".to_owned(),
        ];
        let signed = header(&two, "msg_1", 1, "{}").unwrap();
        assert_eq!(signed.split(' ').count(), 2);
        assert!(signed.split(' ').all(|s| s.starts_with("v1,")));
        assert!(header(&["nope".to_owned()], "msg_1", 1, "{}").is_err());
    }
}
