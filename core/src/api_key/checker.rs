//! The check of an API key: the store, behind a bounded cache of its answers.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::digest::KeyDigest;
use super::principal::ApiKeyPrincipal;
use super::store::ApiKeyStore;
use crate::defaults;
use crate::error::{Error, ErrorKind};

/// Checks API keys against an [`ApiKeyStore`], through a cache of the store's answers.
///
/// [`check`](Self::check) hashes the key (SHA-256, see [`KeyDigest`]) and asks the store by
/// digest. The answers are cached, by digest:
///
/// - a known key for [`found_ttl`](ApiKeysBuilder::found_ttl) (default
///   [`API_KEY_FOUND_TTL`](defaults::API_KEY_FOUND_TTL), 60 s): a key removed from the store
///   still passes for that long, unless [`invalidate`](Self::invalidate) is called for it;
/// - an unknown key for [`miss_ttl`](ApiKeysBuilder::miss_ttl) (default
///   [`API_KEY_MISS_TTL`](defaults::API_KEY_MISS_TTL), 5 s), so that a client retrying a bad
///   key does not reach the store each time;
/// - at most [`max_entries`](ApiKeysBuilder::max_entries) known keys (default
///   [`API_KEY_CACHE_CAPACITY`](defaults::API_KEY_CACHE_CAPACITY), 10 000) and, apart from
///   them, at most [`max_misses`](ApiKeysBuilder::max_misses) unknown ones (default
///   [`API_KEY_MISS_CAPACITY`](defaults::API_KEY_MISS_CAPACITY), 10 000), the least useful
///   evicted or refused first: a flood of random keys never evicts a known key, and a bad key
///   that is retried is kept over keys tried once;
/// - never a store error: the next check asks again.
///
/// Concurrent checks of a key that is not cached make one store call, whose answer they all
/// share. The key itself is never kept, logged, or put in an error; the store sees its
/// digest only.
///
/// Cloning is cheap and shares the cache. Its [`Debug`](fmt::Debug) output shows the settings
/// and the number of cached answers.
///
/// ```
/// use std::sync::Arc;
/// use jwtguard_core::ErrorKind;
/// use jwtguard_core::api_key::{ApiKeyPrincipal, ApiKeys, MemoryApiKeyStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), jwtguard_core::Error> {
/// let store = Arc::new(MemoryApiKeyStore::new());
/// store.insert("s3cr3t-key", ApiKeyPrincipal::new("batch-job").with_roles(["admin"]));
/// let keys = ApiKeys::new(store.clone());
///
/// let principal = keys.check("s3cr3t-key").await?;
/// assert_eq!(principal.sub, "batch-job");
/// assert_eq!(principal.roles, ["admin"]);
///
/// let err = keys.check("wrong-key").await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::UnknownApiKey);
/// assert_eq!(err.status(), 401);
///
/// // Revoking: remove the key from the store, and its cached answer from the checker.
/// store.remove("s3cr3t-key");
/// keys.invalidate("s3cr3t-key").await;
/// assert_eq!(keys.check("s3cr3t-key").await.unwrap_err().status(), 401);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ApiKeys {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ApiKeyStore>,
    /// The keys the store knows.
    found: moka::future::Cache<KeyDigest, Arc<ApiKeyPrincipal>>,
    /// The keys it does not know.
    misses: moka::future::Cache<KeyDigest, ()>,
    found_ttl: Duration,
    miss_ttl: Duration,
    max_entries: u64,
    max_misses: u64,
    max_key_size: usize,
    /// Counts the calls of the `invalidate` methods, so that a check whose store call ran
    /// across one drops the answer it cached (it may predate the invalidation).
    invalidations: AtomicU64,
}

impl ApiKeys {
    /// A checker of the keys of `store`, with the default settings (see [`ApiKeysBuilder`]).
    pub fn new(store: Arc<dyn ApiKeyStore>) -> Self {
        Self::builder(store).build()
    }

    /// A builder for a checker of the keys of `store`, starting from the defaults.
    pub fn builder(store: Arc<dyn ApiKeyStore>) -> ApiKeysBuilder {
        ApiKeysBuilder {
            store,
            found_ttl: defaults::API_KEY_FOUND_TTL,
            miss_ttl: defaults::API_KEY_MISS_TTL,
            max_entries: defaults::API_KEY_CACHE_CAPACITY,
            max_misses: defaults::API_KEY_MISS_CAPACITY,
            max_key_size: defaults::MAX_API_KEY_SIZE,
        }
    }

    /// The principal `key` stands for.
    ///
    /// - an empty key: [`ErrorKind::InvalidRequest`] (400), without a store call;
    /// - a key longer than [`max_key_size`](ApiKeysBuilder::max_key_size) bytes:
    ///   [`ErrorKind::TokenTooLarge`] (401), before it is hashed;
    /// - a key the store does not know: [`ErrorKind::UnknownApiKey`] (401);
    /// - a store that fails: [`ErrorKind::KeysUnavailable`] (503), with the store's error as
    ///   its [`source`](std::error::Error::source), whatever that error's kind.
    ///
    /// The answer comes from the cache when it holds one for the key.
    pub async fn check(&self, key: &str) -> Result<Arc<ApiKeyPrincipal>, Error> {
        if key.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                "the API key is empty",
            ));
        }
        if key.len() > self.inner.max_key_size {
            return Err(Error::new(
                ErrorKind::TokenTooLarge,
                format!(
                    "the API key is longer than {} bytes",
                    self.inner.max_key_size
                ),
            ));
        }
        self.answer(KeyDigest::of(key)).await
    }

    /// Drops the cached answer for `key`, if any: the next check of it asks the store. Call it
    /// after removing (or adding) the key in the store, for the change to take effect at once
    /// on this checker. A check whose store call was already under way may still answer
    /// with what the store said before, but does not leave that answer in the cache.
    pub async fn invalidate(&self, key: &str) {
        if key.len() <= self.inner.max_key_size {
            self.invalidate_digest(&KeyDigest::of(key)).await;
        }
    }

    /// Drops the cached answer for the key whose digest is `digest`, if any (as
    /// [`invalidate`](Self::invalidate), for callers that only know the digest).
    pub async fn invalidate_digest(&self, digest: &KeyDigest) {
        self.inner.invalidations.fetch_add(1, Ordering::AcqRel);
        self.inner.found.invalidate(digest).await;
        self.inner.misses.invalidate(digest).await;
    }

    /// Drops every cached answer.
    pub fn invalidate_all(&self) {
        self.inner.invalidations.fetch_add(1, Ordering::AcqRel);
        self.inner.found.invalidate_all();
        self.inner.misses.invalidate_all();
    }

    /// The principal for `digest`: from the caches, or from one store call shared by every
    /// concurrent check of the same digest. An unknown key is [`ErrorKind::UnknownApiKey`].
    async fn answer(&self, digest: KeyDigest) -> Result<Arc<ApiKeyPrincipal>, Error> {
        let inner = &*self.inner;
        if let Some(principal) = inner.found.get(&digest).await {
            return Ok(principal);
        }
        // A read, not `contains_key`: a key retried during a flood gains the popularity that
        // keeps it cached over keys tried once.
        if inner.misses.get(&digest).await.is_some() {
            return Err(unknown());
        }
        let invalidations = inner.invalidations.load(Ordering::Acquire);
        let lookup = async {
            // A call that ended between the look at the misses above and here cached its
            // miss before it ended: take it rather than ask again.
            if inner.misses.get(&digest).await.is_some() {
                return Err(unknown());
            }
            let asked_at = inner.invalidations.load(Ordering::Acquire);
            // A store that hangs is a store that failed: every check of the key waits on this
            // call, so it must end.
            let found =
                tokio::time::timeout(defaults::API_KEY_STORE_TIMEOUT, inner.store.lookup(&digest))
                    .await
                    .map_err(|_| {
                        Error::new(
                            ErrorKind::KeysUnavailable,
                            "the API key store did not answer in time",
                        )
                    })?
                    .map_err(|error| {
                        // A store's error is never an answer about the key, even one that
                        // says so: only `Ok(None)` is.
                        if error.kind() == ErrorKind::UnknownApiKey {
                            Error::new(ErrorKind::KeysUnavailable, "the API key store failed")
                                .with_source(error)
                        } else {
                            error
                        }
                    })?;
            // The unknown key travels as an error, which the found cache does not keep but
            // hands to every check waiting on this call. Only this call, the one that asked
            // the store, caches the miss, and only if no invalidation ran meanwhile.
            let Some(principal) = found else {
                if inner.invalidations.load(Ordering::Acquire) == asked_at {
                    inner.misses.insert(digest, ()).await;
                }
                return Err(unknown());
            };
            Ok(Arc::new(principal))
        };
        let answer = inner.found.try_get_with(digest, lookup).await;
        if inner.invalidations.load(Ordering::Acquire) != invalidations {
            // An invalidation ran while the store was asked: the answer now cached may be
            // older than it. (The check that asked the store read the count first, so it
            // sees any invalidation that ran during the call, whoever else waited on it.)
            inner.found.invalidate(&digest).await;
            inner.misses.invalidate(&digest).await;
        }
        answer.map_err(|error| {
            if error.kind() == ErrorKind::UnknownApiKey {
                unknown()
            } else {
                Error::new(
                    ErrorKind::KeysUnavailable,
                    "the API key store can't be asked right now",
                )
                .with_source(error)
            }
        })
    }
}

/// The error for a key the store does not know.
fn unknown() -> Error {
    Error::new(ErrorKind::UnknownApiKey, "no such API key in the store")
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("ApiKeys")
            .field("found_ttl", &inner.found_ttl)
            .field("miss_ttl", &inner.miss_ttl)
            .field("max_entries", &inner.max_entries)
            .field("max_misses", &inner.max_misses)
            .field("max_key_size", &inner.max_key_size)
            .field("found", &inner.found.entry_count())
            .field("misses", &inner.misses.entry_count())
            .finish_non_exhaustive()
    }
}

/// The settings of an [`ApiKeys`], from [`ApiKeys::builder`]; each starts from its default
/// in [`defaults`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use jwtguard_core::api_key::{ApiKeys, MemoryApiKeyStore};
///
/// let keys = ApiKeys::builder(Arc::new(MemoryApiKeyStore::new()))
///     .found_ttl(Duration::from_secs(30))
///     .miss_ttl(Duration::from_secs(2))
///     .max_entries(50_000)
///     .max_misses(20_000)
///     .max_key_size(256)
///     .build();
/// # drop(keys);
/// ```
#[must_use]
pub struct ApiKeysBuilder {
    store: Arc<dyn ApiKeyStore>,
    found_ttl: Duration,
    miss_ttl: Duration,
    max_entries: u64,
    max_misses: u64,
    max_key_size: usize,
}

impl ApiKeysBuilder {
    /// How long the answer for a key the store knows is kept. Default
    /// [`API_KEY_FOUND_TTL`](defaults::API_KEY_FOUND_TTL): 60 s. This is how long a key
    /// removed from the store may still pass, unless [`ApiKeys::invalidate`] is called for
    /// it. Zero asks the store on every check (concurrent checks of a key still share a call).
    pub fn found_ttl(mut self, ttl: Duration) -> Self {
        self.found_ttl = ttl;
        self
    }

    /// How long the answer for a key the store does not know is kept. Default
    /// [`API_KEY_MISS_TTL`](defaults::API_KEY_MISS_TTL): 5 s. This is how long a key added to
    /// the store may still be refused if it was tried just before (unless
    /// [`ApiKeys::invalidate`] is called for it).
    pub fn miss_ttl(mut self, ttl: Duration) -> Self {
        self.miss_ttl = ttl;
        self
    }

    /// How many known keys are kept at most, in entries. Default
    /// [`API_KEY_CACHE_CAPACITY`](defaults::API_KEY_CACHE_CAPACITY): 10 000. Past it, the
    /// least useful are evicted.
    pub fn max_entries(mut self, entries: u64) -> Self {
        self.max_entries = entries;
        self
    }

    /// How many unknown keys are kept at most, in entries, apart from the known ones. Default
    /// [`API_KEY_MISS_CAPACITY`](defaults::API_KEY_MISS_CAPACITY): 10 000. A client that
    /// retries a bad key within [`miss_ttl`](Self::miss_ttl) reaches the store once, as long
    /// as fewer than this many other bad keys were tried in between.
    pub fn max_misses(mut self, entries: u64) -> Self {
        self.max_misses = entries;
        self
    }

    /// The longest key accepted, in bytes; a longer key is refused before it is hashed.
    /// Default [`MAX_API_KEY_SIZE`](defaults::MAX_API_KEY_SIZE): 1 024 bytes.
    pub fn max_key_size(mut self, bytes: usize) -> Self {
        self.max_key_size = bytes;
        self
    }

    /// The checker.
    pub fn build(self) -> ApiKeys {
        ApiKeys {
            inner: Arc::new(Inner {
                store: self.store,
                found: moka::future::Cache::builder()
                    .max_capacity(self.max_entries)
                    .time_to_live(self.found_ttl)
                    .build(),
                misses: moka::future::Cache::builder()
                    .max_capacity(self.max_misses)
                    .time_to_live(self.miss_ttl)
                    .build(),
                found_ttl: self.found_ttl,
                miss_ttl: self.miss_ttl,
                max_entries: self.max_entries,
                max_misses: self.max_misses,
                max_key_size: self.max_key_size,
                invalidations: AtomicU64::new(0),
            }),
        }
    }
}

impl fmt::Debug for ApiKeysBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeysBuilder")
            .field("found_ttl", &self.found_ttl)
            .field("miss_ttl", &self.miss_ttl)
            .field("max_entries", &self.max_entries)
            .field("max_misses", &self.max_misses)
            .field("max_key_size", &self.max_key_size)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::store::MemoryApiKeyStore;
    use crate::future::BoxFuture;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    /// A memory store that counts its calls, can be made to fail, and can be made slow.
    #[derive(Default)]
    struct CountingStore {
        keys: MemoryApiKeyStore,
        calls: AtomicUsize,
        failing: AtomicBool,
        delay: Option<Duration>,
    }

    impl CountingStore {
        fn slow(delay: Duration) -> Self {
            Self {
                delay: Some(delay),
                ..Self::default()
            }
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl ApiKeyStore for CountingStore {
        fn lookup<'a>(
            &'a self,
            digest: &'a KeyDigest,
        ) -> BoxFuture<'a, Result<Option<ApiKeyPrincipal>, Error>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                // The answer as the store has it when asked, given after the delay.
                let found = self.keys.lookup(digest).await;
                if let Some(delay) = self.delay {
                    tokio::time::sleep(delay).await;
                }
                if self.failing.load(Ordering::SeqCst) {
                    // A kind that would be a 401 on its own: the checker must still answer 503.
                    return Err(Error::new(ErrorKind::Rejected, "the database is down"));
                }
                found
            })
        }
    }

    const KEY: &str = "sk_live_7f3a9c2e1b";

    fn setup(
        builder: impl FnOnce(ApiKeysBuilder) -> ApiKeysBuilder,
    ) -> (Arc<CountingStore>, ApiKeys) {
        setup_with(CountingStore::default(), builder)
    }

    fn setup_with(
        store: CountingStore,
        builder: impl FnOnce(ApiKeysBuilder) -> ApiKeysBuilder,
    ) -> (Arc<CountingStore>, ApiKeys) {
        let store = Arc::new(store);
        store.keys.insert(
            KEY,
            ApiKeyPrincipal::new("batch-job")
                .with_roles(["admin"])
                .with_scopes(["write"]),
        );
        let keys = builder(ApiKeys::builder(store.clone())).build();
        (store, keys)
    }

    /// The error is what `kind` says, and shows no key.
    fn assert_refused(err: &Error, kind: ErrorKind, key: &str) {
        assert_eq!(err.kind(), kind, "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(key), "{shown}");
        assert!(!shown.contains(&KeyDigest::of(key).to_hex()), "{shown}");
    }

    #[tokio::test]
    async fn a_known_key_passes_and_is_cached() {
        let (store, keys) = setup(|b| b);
        let principal = keys.check(KEY).await.unwrap();
        assert_eq!(principal.sub, "batch-job");
        assert_eq!(principal.roles, ["admin"]);
        assert_eq!(principal.scopes, ["write"]);
        let again = keys.check(KEY).await.unwrap();
        assert!(Arc::ptr_eq(&principal, &again));
        assert_eq!(store.calls(), 1);
    }

    #[tokio::test]
    async fn a_wrong_key_is_a_401_and_is_cached() {
        let (store, keys) = setup(|b| b);
        for wrong in [
            "sk_live_7f3a9c2e1c",
            "sk_live_7f3a9c2e1b ",
            "SK_LIVE_7F3A9C2E1B",
        ] {
            let err = keys.check(wrong).await.unwrap_err();
            assert_refused(&err, ErrorKind::UnknownApiKey, wrong);
            assert_eq!(err.status(), 401);
            assert!(err.is_invalid_token());
            let err = keys.check(wrong).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnknownApiKey);
        }
        assert_eq!(store.calls(), 3);
    }

    #[tokio::test]
    async fn empty_and_oversized_keys_are_refused_before_the_store() {
        let (store, keys) = setup(|b| b.max_key_size(16));
        let err = keys.check("").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(err.status(), 400);
        let long = "k".repeat(17);
        let err = keys.check(&long).await.unwrap_err();
        assert_refused(&err, ErrorKind::TokenTooLarge, &long);
        assert_eq!(err.status(), 401);
        assert!(keys.check(&"k".repeat(16)).await.unwrap_err().kind() == ErrorKind::UnknownApiKey);
        assert_eq!(store.calls(), 1);

        let (_, keys) = setup(|b| b);
        let at_cap = "k".repeat(defaults::MAX_API_KEY_SIZE);
        assert_eq!(
            keys.check(&at_cap).await.unwrap_err().kind(),
            ErrorKind::UnknownApiKey
        );
        let over = "k".repeat(defaults::MAX_API_KEY_SIZE + 1);
        assert_eq!(
            keys.check(&over).await.unwrap_err().kind(),
            ErrorKind::TokenTooLarge
        );
    }

    #[tokio::test]
    async fn a_revoked_key_is_refused_once_invalidated() {
        let (store, keys) = setup(|b| b);
        keys.check(KEY).await.unwrap();
        store.keys.remove(KEY);
        // Still cached: the found TTL (60 s) has not passed.
        keys.check(KEY).await.unwrap();
        keys.invalidate(KEY).await;
        let err = keys.check(KEY).await.unwrap_err();
        assert_refused(&err, ErrorKind::UnknownApiKey, KEY);
        assert_eq!(store.calls(), 2);

        // Back in the store: found once its miss is invalidated, by digest this time.
        store.keys.insert(KEY, ApiKeyPrincipal::new("batch-job"));
        assert!(keys.check(KEY).await.is_err());
        keys.invalidate_digest(&KeyDigest::of(KEY)).await;
        assert_eq!(keys.check(KEY).await.unwrap().sub, "batch-job");

        store.keys.remove(KEY);
        keys.invalidate_all();
        assert!(keys.check(KEY).await.is_err());
        assert_eq!(store.calls(), 4);
    }

    #[tokio::test]
    async fn an_invalidation_during_a_store_call_leaves_no_stale_answer() {
        let (store, keys) = setup_with(CountingStore::slow(Duration::from_millis(200)), |b| b);
        let checking = tokio::spawn({
            let keys = keys.clone();
            async move { keys.check(KEY).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.keys.remove(KEY);
        keys.invalidate(KEY).await;
        // The check under way answers with what the store said when it was asked ...
        assert!(checking.await.unwrap().is_ok());
        // ... but does not leave it cached.
        assert!(keys.check(KEY).await.is_err());
        assert_eq!(store.calls(), 2);
    }

    #[tokio::test]
    async fn a_check_joining_a_call_after_an_invalidation_leaves_no_stale_miss() {
        let (store, keys) = setup_with(CountingStore::slow(Duration::from_millis(200)), |b| b);
        let first = tokio::spawn({
            let keys = keys.clone();
            async move { keys.check("new-key").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.keys.insert("new-key", ApiKeyPrincipal::new("late"));
        keys.invalidate("new-key").await;
        // Arrives after the invalidation and waits on the call that started before it.
        let second = tokio::spawn({
            let keys = keys.clone();
            async move { keys.check("new-key").await }
        });
        assert!(first.await.unwrap().is_err());
        assert!(second.await.unwrap().is_err());
        assert_eq!(keys.check("new-key").await.unwrap().sub, "late");
        assert_eq!(store.calls(), 2);
    }

    #[tokio::test]
    async fn found_and_miss_ttls_are_honoured() {
        let ttl = Duration::from_millis(200);
        let (store, keys) = setup(|b| b.found_ttl(ttl).miss_ttl(ttl));
        keys.check(KEY).await.unwrap();
        assert!(keys.check("unknown").await.is_err());
        store.keys.remove(KEY);
        store.keys.insert("unknown", ApiKeyPrincipal::new("late"));
        // Within the TTLs: the cached answers.
        keys.check(KEY).await.unwrap();
        assert!(keys.check("unknown").await.is_err());
        assert_eq!(store.calls(), 2);

        tokio::time::sleep(ttl + Duration::from_millis(150)).await;
        assert!(keys.check(KEY).await.is_err());
        assert_eq!(keys.check("unknown").await.unwrap().sub, "late");
        assert_eq!(store.calls(), 4);
    }

    #[tokio::test]
    async fn found_and_miss_ttls_are_apart() {
        let (store, keys) = setup(|b| {
            b.found_ttl(Duration::from_secs(60))
                .miss_ttl(Duration::from_millis(200))
        });
        keys.check(KEY).await.unwrap();
        assert!(keys.check("unknown").await.is_err());
        tokio::time::sleep(Duration::from_millis(350)).await;
        keys.check(KEY).await.unwrap();
        assert_eq!(store.calls(), 2, "the known key is still cached");
        assert!(keys.check("unknown").await.is_err());
        assert_eq!(store.calls(), 3, "the miss has expired");
    }

    #[tokio::test]
    async fn a_failing_store_is_a_503_and_is_not_cached() {
        let (store, keys) = setup(|b| b);
        store.failing.store(true, Ordering::SeqCst);
        for _ in 0..2 {
            let err = keys.check(KEY).await.unwrap_err();
            assert_refused(&err, ErrorKind::KeysUnavailable, KEY);
            assert_eq!(err.status(), 503);
            assert!(err.is_unavailable());
            assert!(!err.is_invalid_token());
            let source = std::error::Error::source(&err).unwrap().to_string();
            assert!(source.contains("the database is down"), "{source}");
        }
        assert_eq!(store.calls(), 2);

        store.failing.store(false, Ordering::SeqCst);
        assert_eq!(keys.check(KEY).await.unwrap().sub, "batch-job");
        assert_eq!(store.calls(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_checks_of_one_new_key_make_one_store_call() {
        let (store, keys) = setup_with(CountingStore::slow(Duration::from_millis(100)), |b| b);
        let barrier = Arc::new(tokio::sync::Barrier::new(100));
        let mut checks = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let (keys, barrier) = (keys.clone(), barrier.clone());
            checks.spawn(async move {
                barrier.wait().await;
                keys.check("not-a-key").await
            });
        }
        while let Some(result) = checks.join_next().await {
            let err = result.unwrap().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnknownApiKey);
        }
        assert_eq!(store.calls(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_checks_share_a_failure_without_caching_it() {
        let (store, keys) = setup_with(CountingStore::slow(Duration::from_millis(100)), |b| b);
        store.failing.store(true, Ordering::SeqCst);
        let barrier = Arc::new(tokio::sync::Barrier::new(50));
        let mut checks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (keys, barrier) = (keys.clone(), barrier.clone());
            checks.spawn(async move {
                barrier.wait().await;
                keys.check(KEY).await
            });
        }
        while let Some(result) = checks.join_next().await {
            assert_eq!(result.unwrap().unwrap_err().status(), 503);
        }
        assert_eq!(store.calls(), 1);
        store.failing.store(false, Ordering::SeqCst);
        keys.check(KEY).await.unwrap();
        assert_eq!(store.calls(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_of_random_keys_reaches_the_store_once_per_key() {
        let (store, keys) = setup(|b| b);
        let random: Vec<String> = (0..1_000)
            .map(|_| {
                let mut bytes = [0u8; 32];
                aws_lc_rs::rand::fill(&mut bytes).unwrap();
                KeyDigest::from_bytes(bytes).to_hex()
            })
            .collect();
        let random = Arc::new(random);
        for round in 0..2 {
            let mut checks = tokio::task::JoinSet::new();
            for worker in 0..10 {
                let (keys, random) = (keys.clone(), random.clone());
                checks.spawn(async move {
                    for key in random.iter().skip(worker).step_by(10) {
                        let err = keys.check(key).await.unwrap_err();
                        assert_eq!(err.kind(), ErrorKind::UnknownApiKey);
                    }
                });
            }
            while let Some(result) = checks.join_next().await {
                result.unwrap();
            }
            assert_eq!(store.calls(), 1_000, "round {round}");
        }
    }

    #[tokio::test]
    async fn a_flood_of_random_keys_never_evicts_a_known_key() {
        let (store, keys) = setup(|b| b.max_entries(10).max_misses(100));
        keys.check(KEY).await.unwrap();
        for n in 0..2_000 {
            let err = keys.check(&format!("random-{n}")).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnknownApiKey);
        }
        keys.inner.misses.run_pending_tasks().await;
        assert!(keys.inner.misses.entry_count() <= 100);
        keys.check(KEY).await.unwrap();
        assert_eq!(store.calls(), 1 + 2_000, "the known key was still cached");
    }

    #[test]
    fn debug_shows_no_key() {
        let (_, keys) = setup(|b| b);
        let shown = format!("{keys:?}");
        assert!(
            shown.starts_with("ApiKeys { found_ttl: 60s, miss_ttl: 5s"),
            "{shown}"
        );
        assert!(!shown.contains(KEY));
        assert!(!shown.contains(&KeyDigest::of(KEY).to_hex()[..8]));
        let shown = format!("{:?}", ApiKeys::builder(Arc::new(MemoryApiKeyStore::new())));
        assert!(shown.contains("max_key_size: 1024"), "{shown}");

        let principal = ApiKeyPrincipal::new("batch-job").with_roles(["admin"]);
        let shown = format!("{principal:?}");
        assert!(!shown.contains(KEY));
        assert!(shown.contains("batch-job"));
    }

    #[test]
    fn check_is_send() {
        fn send<T: Send>(_: T) {}
        let (_, keys) = setup(|b| b);
        send(keys.check(KEY));
        send(keys.invalidate(KEY));
    }
}
