//! Verifying tokens from an external identity provider against its published JWKS.
//!
//! Keys are fetched once and cached for `cache_ttl`. A token whose `kid` is not in the cache triggers
//! one refetch (the provider may have rotated keys), at most once per `refetch_cooldown`, so a flood of
//! made-up key ids cannot turn into a flood of requests to the provider. When the provider is down, the
//! last good key set keeps serving.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, decode};
use tokio::sync::{Mutex, RwLock};

use crate::AuthError;
use crate::tokens::{Claims, LEEWAY_SECS};

const MAX_JWKS_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct JwksConfig {
    pub url: String,
    /// Checked against `iss` when set.
    pub issuer: Option<String>,
    /// Checked against `aud` when set.
    pub audience: Option<String>,
    pub cache_ttl: Duration,
    pub refetch_cooldown: Duration,
}

#[derive(Default)]
struct Cache {
    keys: Option<JwkSet>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

pub struct JwksVerifier {
    config: JwksConfig,
    client: reqwest::Client,
    cache: RwLock<Cache>,
    refresh: Mutex<()>,
}

impl std::fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksVerifier")
            .field("url", &self.config.url)
            .finish()
    }
}

/// Whether `jwk` may verify a token signed with `alg`.
fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let declared = match jwk.common.key_algorithm {
        None => true,
        Some(KeyAlgorithm::EdDSA) => alg == Algorithm::EdDSA,
        Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
        Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
        Some(_) => false,
    };
    let shape = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) => alg == Algorithm::EdDSA && p.curve == EllipticCurve::Ed25519,
        AlgorithmParameters::EllipticCurve(p) => alg == Algorithm::ES256 && p.curve == EllipticCurve::P256,
        AlgorithmParameters::RSA(_) => alg == Algorithm::RS256,
        // Symmetric ("oct") keys in a public key set are never trusted.
        _ => false,
    };
    declared && shape
}

fn pick(keys: &JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<Jwk> {
    match kid {
        Some(kid) => keys.find(kid).filter(|k| key_fits(k, alg)).cloned(),
        None => keys.keys.iter().find(|k| key_fits(k, alg)).cloned(),
    }
}

impl JwksVerifier {
    pub fn new(config: JwksConfig) -> Result<Self, AuthError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?;
        Ok(Self {
            config,
            client,
            cache: RwLock::new(Cache::default()),
            refresh: Mutex::new(()),
        })
    }

    async fn fetch(&self) -> Result<JwkSet, AuthError> {
        let unavailable =
            |e: &dyn std::fmt::Display| AuthError::KeysUnavailable(format!("{}: {e}", self.config.url));
        let response = self
            .client
            .get(&self.config.url)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if !response.status().is_success() {
            return Err(unavailable(&response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(unavailable(&"key set too large"));
        }
        let body = response.bytes().await.map_err(|e| unavailable(&e))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(unavailable(&"key set too large"));
        }
        serde_json::from_slice(&body).map_err(|e| unavailable(&e))
    }

    /// Refetches the key set unless someone else just did; returns the keys now cached.
    async fn refresh(&self, force: bool) -> Result<Option<JwkSet>, AuthError> {
        let _guard = self.refresh.lock().await;
        {
            let cache = self.cache.read().await;
            let fresh = cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.config.cache_ttl);
            let cooling = cache
                .attempted_at
                .is_some_and(|t| t.elapsed() < self.config.refetch_cooldown);
            if (fresh && !force) || (cache.keys.is_some() && cooling) {
                return Ok(cache.keys.clone());
            }
        }
        let result = self.fetch().await;
        let mut cache = self.cache.write().await;
        cache.attempted_at = Some(Instant::now());
        match result {
            Ok(keys) => {
                tracing::info!(url = %self.config.url, keys = keys.keys.len(), "fetched identity provider keys");
                cache.keys = Some(keys);
                cache.fetched_at = Some(Instant::now());
                Ok(cache.keys.clone())
            }
            Err(e) if cache.keys.is_some() => {
                tracing::warn!(error = %e, "identity provider keys not refreshed; using the cached set");
                Ok(cache.keys.clone())
            }
            Err(e) => Err(e),
        }
    }

    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Jwk, AuthError> {
        let cached = {
            let cache = self.cache.read().await;
            let fresh = cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.config.cache_ttl);
            if fresh { cache.keys.clone() } else { None }
        };
        let keys = match cached {
            Some(keys) => keys,
            None => self.refresh(false).await?.unwrap_or_default(),
        };
        if let Some(jwk) = pick(&keys, kid, alg) {
            return Ok(jwk);
        }
        // Maybe the provider rotated its keys since we fetched them.
        let keys = self.refresh(true).await?.unwrap_or_default();
        pick(&keys, kid, alg).ok_or_else(|| AuthError::UnknownKey(kid.map(str::to_owned)))
    }

    pub(crate) async fn verify(&self, token: &str, header: &Header) -> Result<Claims, AuthError> {
        let jwk = self.key_for(header.kid.as_deref(), header.alg).await?;
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|e| AuthError::Rejected(format!("unusable key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &self.config.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &self.config.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        decode::<Claims>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Rejected(e.to_string()))
    }
}
