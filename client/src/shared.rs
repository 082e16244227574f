//! Tokens shared between instances through a [`KeyCache`] (Redis, with the core's `redis`
//! feature): one token request for a whole fleet, under a `SET NX PX` lease.
//!
//! Tokens are secrets, so they are stored encrypted (AES-256-GCM, with a key derived from a
//! secret the instances share, bound to the cache key): who can read the cache can't use
//! them, and an entry moved to another key or written without the secret is not taken.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtguard_core::KeyCache;
use jwtguard_core::keys::{CachedJwks, LockToken};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::source::Obtained;
use crate::token::AccessToken;

/// The shortest secret accepted for sharing tokens: 32 bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// A token as another instance stored it.
pub(crate) struct SharedToken {
    pub(crate) access_token: AccessToken,
}

impl SharedToken {
    pub(crate) fn lifetime(&self) -> Duration {
        self.access_token
            .expires_at()
            .duration_since(self.access_token.obtained_at())
            .unwrap_or_default()
    }
}

impl From<&Obtained> for SharedToken {
    fn from(obtained: &Obtained) -> Self {
        Self {
            access_token: obtained.token.clone(),
        }
    }
}

impl From<SharedToken> for Obtained {
    fn from(shared: SharedToken) -> Self {
        let lifetime = shared.lifetime();
        Obtained {
            token: shared.access_token,
            refresh_token: None,
            lifetime,
        }
    }
}

/// What is encrypted into the cache entry.
#[derive(Serialize, Deserialize)]
struct Sealed {
    access_token: String,
    scope: Option<String>,
    #[serde(default)]
    dpop: bool,
    obtained_at_ms: u64,
    expires_at_ms: u64,
}

/// The shared tier: a key cache and the key that encrypts the tokens in it.
pub(crate) struct SharedTokens {
    cache: Arc<dyn KeyCache>,
    key: LessSafeKey,
    naming: hmac::Key,
}

impl fmt::Debug for SharedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTokens").finish_non_exhaustive()
    }
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn store_error(what: &'static str) -> Error {
    Error::new(ErrorKind::Protocol, format!("a shared token entry {what}"))
}

impl SharedTokens {
    pub(crate) fn new(cache: Arc<dyn KeyCache>, secret: &[u8]) -> Result<Self, Error> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(Error::new(
                ErrorKind::Config,
                "the secret for shared tokens must be at least 32 bytes",
            ));
        }
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(b"jwtguard shared access tokens v1\0");
        context.update(secret);
        let derived = context.finish();
        let key = UnboundKey::new(&AES_256_GCM, derived.as_ref())
            .map_err(|_| Error::new(ErrorKind::Config, "could not set up token encryption"))?;
        let mut naming = digest::Context::new(&digest::SHA256);
        naming.update(b"jwtguard shared token names v1\0");
        naming.update(secret);
        Ok(Self {
            cache,
            key: LessSafeKey::new(key),
            naming: hmac::Key::new(hmac::HMAC_SHA256, naming.finish().as_ref()),
        })
    }

    /// The cache key of a managed token: an HMAC (keyed with the sharing secret) of what
    /// identifies it, so that no client id or scope shows in the cache, and a key name gives
    /// no offline test of a guessed client secret.
    pub(crate) fn cache_key(&self, identity: &str) -> String {
        let tag = hmac::sign(&self.naming, identity.as_bytes());
        format!("jwtguard:token:{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The token stored under `key`. An entry that can't be read (written with another
    /// secret, during a rotation of it, or forged) counts as absent, so that the next token
    /// stored replaces it; only a failing cache is an error.
    pub(crate) async fn load(&self, key: &str) -> Result<Option<SharedToken>, Error> {
        let Some(entry) = self.cache.get(key).await? else {
            return Ok(None);
        };
        match self.open(key, &entry.document) {
            Ok(token) => Ok(token),
            Err(err) => {
                tracing::debug!(error = %err, "an unreadable shared token entry is ignored");
                Ok(None)
            }
        }
    }

    fn open(&self, key: &str, document: &str) -> Result<Option<SharedToken>, Error> {
        let mut bytes = URL_SAFE_NO_PAD
            .decode(document)
            .map_err(|_| store_error("is not base64url"))?;
        if bytes.len() < NONCE_LEN {
            return Err(store_error("is too short"));
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN])
            .map_err(|_| store_error("has no nonce"))?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(key.as_bytes()), &mut bytes[NONCE_LEN..])
            .map_err(|_| store_error("does not decrypt (another secret, or forged)"))?;
        let sealed: Sealed =
            serde_json::from_slice(plain).map_err(|_| store_error("is not readable"))?;
        let obtained_at = UNIX_EPOCH + Duration::from_millis(sealed.obtained_at_ms);
        let expires_at = UNIX_EPOCH + Duration::from_millis(sealed.expires_at_ms);
        if expires_at <= SystemTime::now() {
            return Ok(None);
        }
        let mut access_token =
            AccessToken::new(sealed.access_token, expires_at, obtained_at, sealed.scope)?;
        if sealed.dpop {
            access_token = access_token.bound_to_dpop()?;
        }
        Ok(Some(SharedToken { access_token }))
    }

    pub(crate) async fn save(
        &self,
        key: &str,
        token: &SharedToken,
        ttl: Duration,
    ) -> Result<(), Error> {
        let access = &token.access_token;
        let sealed = Sealed {
            access_token: access.expose().to_owned(),
            scope: access.scope().map(str::to_owned),
            dpop: access.is_dpop(),
            obtained_at_ms: unix_ms(access.obtained_at()),
            expires_at_ms: unix_ms(access.expires_at()),
        };
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| Error::new(ErrorKind::Config, "no random numbers for a nonce"))?;
        let mut plain = serde_json::to_vec(&sealed).map_err(|_| store_error("can't be written"))?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.as_bytes()),
                &mut plain,
            )
            .map_err(|_| store_error("can't be encrypted"))?;
        let mut document = Vec::with_capacity(NONCE_LEN + plain.len());
        document.extend_from_slice(&nonce);
        document.extend_from_slice(&plain);
        let entry = CachedJwks {
            document: URL_SAFE_NO_PAD.encode(document),
            fetched_at_ms: sealed.obtained_at_ms,
            max_age_secs: ttl.as_secs(),
            etag: None,
            mac: None,
        };
        Ok(self.cache.put(key, entry, ttl).await?)
    }

    pub(crate) async fn try_lease(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<LockToken>, Error> {
        Ok(self.cache.try_lock(key, ttl).await?)
    }

    pub(crate) async fn release(&self, key: &str, lease: LockToken) -> Result<(), Error> {
        Ok(self.cache.unlock(key, lease).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwtguard_core::MemoryKeyCache;

    fn token(value: &str, lifetime: u64) -> SharedToken {
        let now = SystemTime::now();
        SharedToken {
            access_token: AccessToken::new(
                value.into(),
                now + Duration::from_secs(lifetime),
                now,
                Some("read".into()),
            )
            .unwrap(),
        }
    }

    #[tokio::test]
    async fn tokens_are_stored_encrypted_and_bound_to_their_key() {
        let cache: Arc<dyn KeyCache> = Arc::new(MemoryKeyCache::new());
        let shared = SharedTokens::new(Arc::clone(&cache), &[7u8; 32]).unwrap();
        let key = shared.cache_key("issuer|client|scope");
        shared
            .save(&key, &token("tok-123", 60), Duration::from_secs(60))
            .await
            .unwrap();
        let raw = cache.get(&key).await.unwrap().unwrap();
        assert!(!raw.document.contains("tok-123"));
        let back = shared.load(&key).await.unwrap().unwrap();
        assert!(back.access_token.is("tok-123"));
        assert_eq!(back.access_token.scope(), Some("read"));

        // Another secret, or the entry under another key: not taken (counted as absent).
        let other = SharedTokens::new(Arc::clone(&cache), &[8u8; 32]).unwrap();
        assert!(other.load(&key).await.unwrap().is_none());
        assert_ne!(
            other.cache_key("issuer|client|scope"),
            key,
            "names depend on the secret"
        );
        let moved = shared.cache_key("elsewhere");
        cache
            .put(&moved, (*raw).clone(), Duration::from_secs(60))
            .await
            .unwrap();
        assert!(shared.load(&moved).await.unwrap().is_none());
        assert!(SharedTokens::new(cache, &[1u8; 31]).is_err());
    }
}
