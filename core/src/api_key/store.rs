//! Where API keys are kept: the trait a store implements, and the in-memory store.

use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::digest::KeyDigest;
use super::principal::ApiKeyPrincipal;
use crate::error::Error;
use crate::future::BoxFuture;

/// Where API keys are kept, by the SHA-256 digest of each key: implement it over a database to
/// bring your own.
///
/// [`lookup`](ApiKeyStore::lookup) answers `Ok(Some(principal))` for a known key and
/// `Ok(None)` for an unknown one (never created, or revoked). An `Err` means the store can't
/// tell right now (the database is down): [`ApiKeys`](super::ApiKeys) then answers with a 503
/// ([`ErrorKind::KeysUnavailable`](crate::ErrorKind::KeysUnavailable)), whatever the error's
/// kind, and never lets the request through nor refuses it as a bad key. Errors are not
/// cached: the next check asks again.
///
/// The store only ever sees digests, never a key. Calls are bounded by the checker's cache,
/// but a flood of distinct keys reaches the store once per key: a store should answer a
/// miss cheaply.
///
/// ```
/// use jwtguard_core::BoxFuture;
/// use jwtguard_core::api_key::{ApiKeyPrincipal, ApiKeyStore, KeyDigest};
///
/// /// One fixed key, as an example of a store.
/// struct OneKey(KeyDigest);
///
/// impl ApiKeyStore for OneKey {
///     fn lookup<'a>(
///         &'a self,
///         digest: &'a KeyDigest,
///     ) -> BoxFuture<'a, Result<Option<ApiKeyPrincipal>, jwtguard_core::Error>> {
///         Box::pin(async move { Ok((*digest == self.0).then(|| ApiKeyPrincipal::new("job"))) })
///     }
/// }
/// ```
pub trait ApiKeyStore: Send + Sync + 'static {
    /// The principal the key with this digest stands for, `None` if the key is unknown, or an
    /// error if the store can't tell right now.
    fn lookup<'a>(
        &'a self,
        digest: &'a KeyDigest,
    ) -> BoxFuture<'a, Result<Option<ApiKeyPrincipal>, Error>>;
}

/// API keys kept in memory, by digest: for tests, and for keys the application loads or
/// rotates itself.
///
/// Changes take effect in the store at once; an [`ApiKeys`](super::ApiKeys) in front of it
/// keeps its cached answers until they expire or are
/// [invalidated](super::ApiKeys::invalidate). Share the store through an `Arc` to change it
/// while a checker uses it. Its [`Debug`](fmt::Debug) output shows the number of keys only.
#[derive(Default)]
pub struct MemoryApiKeyStore {
    keys: RwLock<HashMap<KeyDigest, ApiKeyPrincipal>>,
}

impl MemoryApiKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key` (stored as its digest, never as such) for `principal`, and gives back the
    /// principal it stood for before, if any.
    pub fn insert(&self, key: &str, principal: ApiKeyPrincipal) -> Option<ApiKeyPrincipal> {
        self.insert_digest(KeyDigest::of(key), principal)
    }

    /// Adds the key whose digest is `digest` for `principal`, and gives back the principal it
    /// stood for before, if any.
    pub fn insert_digest(
        &self,
        digest: KeyDigest,
        principal: ApiKeyPrincipal,
    ) -> Option<ApiKeyPrincipal> {
        self.write().insert(digest, principal)
    }

    /// Removes `key` (revokes it), and gives back the principal it stood for, if any.
    pub fn remove(&self, key: &str) -> Option<ApiKeyPrincipal> {
        self.remove_digest(&KeyDigest::of(key))
    }

    /// Removes the key whose digest is `digest`, and gives back the principal it stood for, if
    /// any.
    pub fn remove_digest(&self, digest: &KeyDigest) -> Option<ApiKeyPrincipal> {
        self.write().remove(digest)
    }

    /// How many keys the store holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    // A panic while the lock is held can't leave the map half-changed (each change is one
    // map operation), so a poisoned lock is taken as it is.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<KeyDigest, ApiKeyPrincipal>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<KeyDigest, ApiKeyPrincipal>> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ApiKeyStore for MemoryApiKeyStore {
    fn lookup<'a>(
        &'a self,
        digest: &'a KeyDigest,
    ) -> BoxFuture<'a, Result<Option<ApiKeyPrincipal>, Error>> {
        // The lock is released here, before the future is first polled.
        let found = self.read().get(digest).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
}

impl fmt::Debug for MemoryApiKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryApiKeyStore")
            .field("keys", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_found_by_digest_and_removed() {
        let store = MemoryApiKeyStore::new();
        assert!(store.is_empty());
        assert!(store.insert("key-1", ApiKeyPrincipal::new("a")).is_none());
        store.insert_digest(KeyDigest::of("key-2"), ApiKeyPrincipal::new("b"));
        assert_eq!(store.len(), 2);

        let found = store.lookup(&KeyDigest::of("key-1")).await.unwrap();
        assert_eq!(found.unwrap().sub, "a");
        let found = store.lookup(&KeyDigest::of("key-2")).await.unwrap();
        assert_eq!(found.unwrap().sub, "b");
        assert!(
            store
                .lookup(&KeyDigest::of("key-3"))
                .await
                .unwrap()
                .is_none()
        );

        assert_eq!(store.remove("key-1").unwrap().sub, "a");
        assert!(store.remove("key-1").is_none());
        assert!(
            store
                .lookup(&KeyDigest::of("key-1"))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.remove_digest(&KeyDigest::of("key-2")).unwrap().sub,
            "b"
        );
        assert!(store.is_empty());
    }

    #[test]
    fn debug_shows_no_key_nor_digest() {
        let store = MemoryApiKeyStore::new();
        store.insert("sk_live_secret", ApiKeyPrincipal::new("a"));
        let shown = format!("{store:?}");
        assert_eq!(shown, "MemoryApiKeyStore { keys: 1 }");
    }
}
