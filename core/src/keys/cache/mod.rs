//! Key caches: where fetched JWKS documents are kept so that many instances of a service share
//! one fetch and start warm while the IdP is down.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::defaults;
use crate::error::{Error, ErrorKind};
use crate::future::BoxFuture;

#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "redis")]
pub use self::redis::RedisKeyCache;

/// How far in the future an entry may say it was fetched (the clocks of instances differ a
/// little); an entry beyond that is not taken.
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// A fetched JWKS document and what is known about its freshness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedJwks {
    /// The JWKS document as fetched.
    pub document: String,
    /// When it was fetched (or confirmed by a `304`), in milliseconds since the Unix epoch.
    pub fetched_at_ms: u64,
    /// How long it is fresh, in seconds (from `Cache-Control`, clamped by the policy).
    pub max_age_secs: u64,
    /// Its `ETag`, for conditional requests.
    pub etag: Option<String>,
    /// An HMAC-SHA256 over the entry and its cache key (base64url), when entries are sealed
    /// with [`ValidatorBuilder::key_cache_secret`](crate::ValidatorBuilder::key_cache_secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// Stores fetched JWKS documents, keyed by a string derived from the JWKS URL.
///
/// Implementations must be cheap to call from async code (no blocking I/O). A failing cache
/// never fails a request: jwtguard logs the failure and fetches from the IdP instead.
///
/// [`try_lock`](KeyCache::try_lock) and [`unlock`](KeyCache::unlock) let instances agree on
/// who fetches: the one that takes the lock fetches, the others wait briefly for its result in
/// the cache. The defaults always grant the lock.
///
/// **The cache is a trust anchor.** Who can write to it can add keys that tokens are then
/// verified with, as who can answer for the IdP can. Keep a shared cache (Redis) as closed as
/// the IdP's keys: authenticated, not reachable from outside. jwtguard bounds what it reads
/// (a `fetched_at` in the future counts as now, a max age is held within the refresh
/// policy), so a forged entry can't outlive the policy's bounds; with
/// [`ValidatorBuilder::key_cache_secret`](crate::ValidatorBuilder::key_cache_secret), entries
/// are authenticated and a forged one is ignored.
pub trait KeyCache: Send + Sync + 'static {
    /// The cached document for `key`, if any. An `Arc`, so that an in-process cache hands out
    /// its entry without copying the document.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Arc<CachedJwks>>, Error>>;

    /// Stores `entry` under `key` for at most `ttl`.
    fn put<'a>(
        &'a self,
        key: &'a str,
        entry: CachedJwks,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// Tries to take the fetch lock for `key` for at most `ttl`: the token that proves it is
    /// held, or `None` when another holds it. Default: always granted.
    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<LockToken>, Error>> {
        let _ = (key, ttl);
        Box::pin(async { Ok(Some(LockToken::new(String::new()))) })
    }

    /// Releases the fetch lock for `key`, if `token` still holds it. Default: nothing to do.
    fn unlock<'a>(&'a self, key: &'a str, token: LockToken) -> BoxFuture<'a, Result<(), Error>> {
        let _ = (key, token);
        Box::pin(async { Ok(()) })
    }
}

/// Seals cache entries with a configured secret and checks the seal on read: an entry written
/// by anyone without the secret (or moved to another key) is not taken. Without a secret,
/// every entry passes.
#[derive(Clone, Default)]
pub(crate) struct EntrySeal(Option<hmac::Key>);

impl EntrySeal {
    /// A seal with `secret` (at least 32 bytes), or none.
    pub(crate) fn new(secret: Option<&[u8]>) -> Result<Self, Error> {
        match secret {
            None => Ok(Self(None)),
            Some(secret) if secret.len() < 32 => Err(Error::new(
                ErrorKind::Config,
                "the key cache secret must be at least 32 bytes",
            )),
            Some(secret) => Ok(Self(Some(hmac::Key::new(hmac::HMAC_SHA256, secret)))),
        }
    }

    /// Sets `entry.mac` for the cache key `key`.
    pub(crate) fn seal(&self, key: &str, entry: &mut CachedJwks) {
        entry.mac = self.0.as_ref().map(|secret| {
            let tag = hmac::sign(secret, &sealed_bytes(key, entry));
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        });
    }

    /// Whether `entry`, read under `key`, carries a valid seal (always, without a secret).
    pub(crate) fn holds(&self, key: &str, entry: &CachedJwks) -> bool {
        let Some(secret) = &self.0 else {
            return true;
        };
        let Some(tag) = entry
            .mac
            .as_deref()
            .and_then(|mac| URL_SAFE_NO_PAD.decode(mac).ok())
        else {
            return false;
        };
        hmac::verify(secret, &sealed_bytes(key, entry), &tag).is_ok()
    }
}

/// What the seal covers: the cache key and every field but the seal, each length-prefixed so
/// that no two entries share their bytes.
fn sealed_bytes(key: &str, entry: &CachedJwks) -> Vec<u8> {
    let etag = entry.etag.as_deref().unwrap_or("");
    let mut bytes = Vec::with_capacity(key.len() + entry.document.len() + etag.len() + 48);
    for part in [key.as_bytes(), entry.document.as_bytes(), etag.as_bytes()] {
        bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
        bytes.extend_from_slice(part);
    }
    bytes.push(u8::from(entry.etag.is_some()));
    bytes.extend_from_slice(&entry.fetched_at_ms.to_be_bytes());
    bytes.extend_from_slice(&entry.max_age_secs.to_be_bytes());
    bytes
}

impl std::fmt::Debug for EntrySeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "EntrySeal(secret)"
        } else {
            "EntrySeal(none)"
        })
    }
}

/// The proof that a caller holds a cache's fetch lock, from
/// [`KeyCache::try_lock`], handed back to [`KeyCache::unlock`]: each lock is released by its
/// own holder only, never matched by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockToken(String);

impl LockToken {
    /// A token with this value (for cache implementations: a random value, stored with the
    /// lock and compared on unlock).
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An in-process cache: the default. Share one between validators (it is cheap to clone) so
/// that they share fetches. Each entry lives for the TTL it was put with (at most
/// [`KEY_CACHE_TTL`](defaults::KEY_CACHE_TTL)).
#[derive(Clone)]
pub struct MemoryKeyCache {
    entries: moka::sync::Cache<String, Stored>,
}

#[derive(Clone)]
struct Stored {
    entry: Arc<CachedJwks>,
    ttl: Duration,
}

/// Each entry expires after its own TTL, counted from its last write.
struct PerEntryTtl;

impl moka::Expiry<String, Stored> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Stored,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Stored,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

impl MemoryKeyCache {
    /// An empty cache holding at most [`KEY_CACHE_CAPACITY`](defaults::KEY_CACHE_CAPACITY)
    /// documents (1 024), each for at most [`KEY_CACHE_TTL`](defaults::KEY_CACHE_TTL)
    /// (48 hours).
    pub fn new() -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(defaults::KEY_CACHE_CAPACITY)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }
}

impl Default for MemoryKeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryKeyCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl KeyCache for MemoryKeyCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Arc<CachedJwks>>, Error>> {
        let found = self.entries.get(key).map(|stored| stored.entry);
        Box::pin(async move { Ok(found) })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        entry: CachedJwks,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), Error>> {
        let stored = Stored {
            entry: Arc::new(entry),
            ttl: ttl.min(defaults::KEY_CACHE_TTL),
        };
        self.entries.insert(key.to_owned(), stored);
        Box::pin(async { Ok(()) })
    }
}

/// The cache key of a JWKS URL.
pub(crate) fn cache_key(jwks_uri: &str) -> String {
    format!("jwtguard:jwks:{jwks_uri}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> CachedJwks {
        CachedJwks {
            document: r#"{"keys":[]}"#.to_owned(),
            fetched_at_ms: 1,
            max_age_secs: 600,
            etag: None,
            mac: None,
        }
    }

    #[tokio::test]
    async fn the_memory_cache_honours_each_entrys_ttl() {
        let cache = MemoryKeyCache::new();
        cache
            .put("short", entry(), Duration::from_millis(50))
            .await
            .unwrap();
        cache
            .put("long", entry(), Duration::from_secs(60))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(cache.get("short").await.unwrap().is_none());
        let (first, second) = (
            cache.get("long").await.unwrap(),
            cache.get("long").await.unwrap(),
        );
        // Handed out, not copied.
        assert!(Arc::ptr_eq(&first.unwrap(), &second.unwrap()));
    }

    #[test]
    fn a_seal_holds_for_its_key_and_fields_only() {
        let seal = EntrySeal::new(Some(&[7u8; 32])).unwrap();
        let mut sealed = entry();
        seal.seal("k", &mut sealed);
        assert!(seal.holds("k", &sealed));
        assert!(!seal.holds("other", &sealed), "moved to another key");
        let mut later = sealed.clone();
        later.fetched_at_ms += 1;
        assert!(!seal.holds("k", &later), "a field changed");
        let mut forged = sealed.clone();
        forged.document = r#"{"keys":[{"kty":"oct"}]}"#.to_owned();
        assert!(!seal.holds("k", &forged), "another document");
        assert!(!seal.holds("k", &entry()), "no seal at all");
        let other = EntrySeal::new(Some(&[8u8; 32])).unwrap();
        assert!(!other.holds("k", &sealed), "another secret");
        assert!(
            EntrySeal::default().holds("k", &entry()),
            "no secret: every entry"
        );
        assert!(EntrySeal::new(Some(&[1u8; 31])).unwrap_err().is_config());
    }
}
