//! Key caches: where fetched JWKS documents are kept so that many instances of a service share
//! one fetch and start warm while the IdP is down.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::defaults;
use crate::error::Error;
use crate::future::BoxFuture;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::RedisKeyCache;

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
}

/// Stores fetched JWKS documents, keyed by a string derived from the JWKS URL.
///
/// Implementations must be cheap to call from async code (no blocking I/O). A failing cache
/// never fails a request: jwtguard logs the failure and fetches from the IdP instead.
///
/// [`try_lock`](KeyCache::try_lock) and [`unlock`](KeyCache::unlock) let instances agree on
/// who fetches: the one that takes the lock fetches, the others wait briefly for its result in
/// the cache. The defaults always grant the lock.
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

    /// Tries to take the fetch lock for `key` for at most `ttl`. Default: always granted.
    fn try_lock<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, Error>> {
        let _ = (key, ttl);
        Box::pin(async { Ok(true) })
    }

    /// Releases the fetch lock for `key`. Default: nothing to do.
    fn unlock<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        let _ = key;
        Box::pin(async { Ok(()) })
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
}
