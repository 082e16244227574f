//! Refusing a DPoP proof seen before (RFC 9449 §11.1): an atomic insert-if-absent of
//! SHA-256(jkt ‖ jti), in memory or in Redis so that a fleet shares it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::defaults;
use crate::error::{Error, ErrorKind};
use crate::future::BoxFuture;

/// Where seen proofs are remembered. [`MemoryReplayStore`] keeps them in this process;
/// `RedisReplayStore` (feature `redis`) in Redis, for a fleet.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `proof` (a digest of the proof's key thumbprint and `jti`) for `ttl`, atomically:
    /// `true` when it was not recorded yet, `false` for a replay. `key` is the digest of the
    /// key thumbprint alone, for per-key quotas. An error when the store can't tell.
    fn first_use<'a>(
        &'a self,
        proof: &'a [u8; 32],
        key: &'a [u8; 32],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, Error>>;
}

/// Remembers proofs in this process, each for its TTL, and never forgets one earlier (a proof
/// forgotten early could be replayed). Bounded all the same: at most
/// [`DPOP_REPLAY_CAPACITY`](defaults::DPOP_REPLAY_CAPACITY) proofs at a time (200 000; past
/// it a new proof is a 503), and at most
/// [`DPOP_PROOFS_PER_KEY`](defaults::DPOP_PROOFS_PER_KEY) (20 000) of one client key, so that
/// one client can't take the store from the others (past it, its proofs are refused until some
/// of its remembered ones expire). The verifier records a proof only once it is bound to the
/// token's key, so a client can't dodge its quota with fresh keys.
///
/// ```
/// use std::time::Duration;
/// use jwtguard_core::dpop::{MemoryReplayStore, ReplayStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), jwtguard_core::Error> {
/// let store = MemoryReplayStore::new();
/// let ttl = Duration::from_secs(65);
/// assert!(store.first_use(&[1; 32], &[9; 32], ttl).await?);
/// assert!(!store.first_use(&[1; 32], &[9; 32], ttl).await?); // a replay
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryReplayStore {
    /// Each proof's TTL, and the key it came from. Never evicted before its TTL: a proof
    /// forgotten early could be replayed.
    seen: moka::sync::Cache<[u8; 32], (Duration, [u8; 32])>,
    /// How many proofs are remembered now, and of each key.
    total: Arc<AtomicU64>,
    per_key: moka::sync::Cache<[u8; 32], Arc<AtomicU32>>,
    capacity: u64,
    quota: u32,
}

impl MemoryReplayStore {
    /// A store with the default bounds.
    pub fn new() -> Self {
        Self::with_bounds(
            defaults::DPOP_REPLAY_CAPACITY,
            defaults::DPOP_PROOFS_PER_KEY,
        )
    }

    /// A store of at most `capacity` proofs at a time, and at most `per_key` of one client
    /// key.
    pub fn with_bounds(capacity: u64, per_key: u32) -> Self {
        let per_key_counts: moka::sync::Cache<[u8; 32], Arc<AtomicU32>> =
            moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(600))
                .build();
        let total = Arc::new(AtomicU64::new(0));
        let (counts, remembered) = (per_key_counts.clone(), Arc::clone(&total));
        Self {
            seen: moka::sync::Cache::builder()
                .expire_after(OwnTtl)
                // A proof let go of (its TTL over) no longer counts.
                .eviction_listener(move |_, value: (Duration, [u8; 32]), _| {
                    release(&remembered, counts.get(&value.1).as_deref());
                })
                .build(),
            total,
            per_key: per_key_counts,
            capacity,
            quota: per_key,
        }
    }

    /// The check, without waiting: what both stores do in memory.
    pub(crate) fn check(
        &self,
        proof: &[u8; 32],
        key: &[u8; 32],
        ttl: Duration,
    ) -> Result<bool, Error> {
        if self.seen.contains_key(proof) {
            return Ok(false);
        }
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            release(&self.total, None);
            return Err(Error::new(
                ErrorKind::KeysUnavailable,
                "the DPoP replay store is full",
            ));
        }
        let count = self.per_key.get_with(*key, || Arc::new(AtomicU32::new(0)));
        if count.fetch_add(1, Ordering::AcqRel) >= self.quota {
            release(&self.total, Some(&count));
            return Err(Error::new(
                ErrorKind::InvalidDpopProof,
                "too many proofs from this key in the replay window",
            ));
        }
        let fresh = self.seen.entry(*proof).or_insert((ttl, *key)).is_fresh();
        if !fresh {
            release(&self.total, Some(&count));
        }
        Ok(fresh)
    }
}

/// One proof less in the counts.
fn release(total: &AtomicU64, key: Option<&AtomicU32>) {
    let _ = total.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    if let Some(key) = key {
        let _ = key.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("proofs", &self.total.load(Ordering::Relaxed))
            .field("capacity", &self.capacity)
            .field("per_key", &self.quota)
            .finish()
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use<'a>(
        &'a self,
        proof: &'a [u8; 32],
        key: &'a [u8; 32],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(std::future::ready(self.check(proof, key, ttl)))
    }
}

/// Each proof is kept for the TTL it was recorded with.
struct OwnTtl;

impl moka::Expiry<[u8; 32], (Duration, [u8; 32])> for OwnTtl {
    fn expire_after_create(
        &self,
        _: &[u8; 32],
        (ttl, _): &(Duration, [u8; 32]),
        _: Instant,
    ) -> Option<Duration> {
        Some(*ttl)
    }
}

#[cfg(feature = "redis")]
pub use self::redis_store::RedisReplayStore;

#[cfg(feature = "redis")]
mod redis_store {
    use std::time::Duration;

    use redis::aio::ConnectionManager;

    use super::{MemoryReplayStore, ReplayStore};
    use crate::defaults;
    use crate::error::{Error, ErrorKind};
    use crate::future::BoxFuture;
    use crate::keys::cache::redis::connect_lazily;

    /// Every Redis call gives up after this long.
    const CALL_TIMEOUT: Duration = Duration::from_millis(500);

    /// Remembers proofs in Redis (`SET NX PX`, feature `redis`), so that a fleet refuses a
    /// proof replayed on another instance.
    ///
    /// Each client key may have at most [`with_quota`](Self::with_quota) proofs recorded
    /// within a TTL across the fleet (20 000 by default).
    ///
    /// When Redis can't be reached (or takes over 500 ms), the check falls back to a
    /// [`MemoryReplayStore`] of this process and logs a warning, unless
    /// [`fail_closed`](Self::fail_closed) is set: then the request is a 503.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), jwtguard_core::Error> {
    /// use jwtguard_core::dpop::RedisReplayStore;
    ///
    /// let store = RedisReplayStore::new("redis://127.0.0.1:6379")?.fail_closed(true);
    /// # drop(store); Ok(()) }
    /// ```
    #[derive(Clone)]
    pub struct RedisReplayStore {
        connection: ConnectionManager,
        prefix: String,
        quota: u32,
        fallback: MemoryReplayStore,
        fail_closed: bool,
    }

    impl RedisReplayStore {
        /// A store on the Redis at `url` (`redis://host:port/db`), under the key prefix
        /// `jwtguard:dpop:`. Does not connect yet; must be called inside a tokio runtime.
        pub fn new(url: &str) -> Result<Self, Error> {
            Ok(Self {
                connection: connect_lazily(url, "RedisReplayStore::new")?,
                prefix: "jwtguard:dpop:".to_owned(),
                quota: defaults::DPOP_PROOFS_PER_KEY,
                fallback: MemoryReplayStore::new(),
                fail_closed: false,
            })
        }

        /// The prefix of the store's Redis keys. Default `jwtguard:dpop:`.
        pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
            self.prefix = prefix.into();
            self
        }

        /// How many proofs of one client key are recorded within a TTL, across the fleet.
        /// Default [`DPOP_PROOFS_PER_KEY`](defaults::DPOP_PROOFS_PER_KEY) (20 000); past it,
        /// the key's proofs are refused, not recorded.
        pub fn with_quota(mut self, proofs: u32) -> Self {
            self.quota = proofs;
            self
        }

        /// Whether a Redis that can't answer makes the request a 503 (`true`) or falls back
        /// to this process's memory (`false`, the default, logged).
        pub fn fail_closed(mut self, fail_closed: bool) -> Self {
            self.fail_closed = fail_closed;
            self
        }

        /// Records `proof` in Redis if it is new and its key is under its quota, atomically:
        /// `Ok(true)` when recorded, `Ok(false)` for a replay. Both keys share a hash tag (the
        /// client key), so that they live on one node of a cluster.
        async fn set_nx(
            &self,
            proof: &[u8; 32],
            key: &[u8; 32],
            ttl: Duration,
        ) -> Result<bool, Error> {
            let mut connection = self.connection.clone();
            let tag = hex(key);
            let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let script = redis::Script::new(RECORD);
            let mut invocation = script.prepare_invoke();
            invocation
                .key(format!("{}{{{tag}}}:{}", self.prefix, hex(proof)))
                .key(format!("{}{{{tag}}}:count", self.prefix))
                .arg(millis)
                .arg(self.quota);
            let invocation = invocation.invoke_async::<i64>(&mut connection);
            match tokio::time::timeout(CALL_TIMEOUT, invocation).await {
                Ok(Ok(1)) => Ok(true),
                Ok(Ok(0)) => Ok(false),
                Ok(Ok(_)) => Err(Error::new(
                    ErrorKind::InvalidDpopProof,
                    "too many proofs from this key in the replay window",
                )),
                Ok(Err(error)) => Err(Error::new(
                    ErrorKind::KeysUnavailable,
                    "recording a DPoP proof in redis failed",
                )
                .with_source(error)),
                Err(_) => Err(Error::new(
                    ErrorKind::KeysUnavailable,
                    "recording a DPoP proof in redis timed out",
                )),
            }
        }
    }

    /// `KEYS[1]` the proof, `KEYS[2]` its key's count; `ARGV[1]` the TTL in ms, `ARGV[2]` the
    /// quota. 0: a replay; -1: over the quota (nothing recorded); 1: recorded. The count is of
    /// the proofs recorded since the key's first one in the current TTL.
    const RECORD: &str = "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end \
        local n = redis.call('INCR', KEYS[2]) \
        if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end \
        if n > tonumber(ARGV[2]) then redis.call('DECR', KEYS[2]) return -1 end \
        redis.call('SET', KEYS[1], 1, 'PX', ARGV[1]) \
        return 1";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    impl std::fmt::Debug for RedisReplayStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisReplayStore")
                .field("prefix", &self.prefix)
                .field("quota", &self.quota)
                .field("fail_closed", &self.fail_closed)
                .finish_non_exhaustive()
        }
    }

    impl ReplayStore for RedisReplayStore {
        fn first_use<'a>(
            &'a self,
            proof: &'a [u8; 32],
            key: &'a [u8; 32],
            ttl: Duration,
        ) -> BoxFuture<'a, Result<bool, Error>> {
            Box::pin(async move {
                match self.set_nx(proof, key, ttl).await {
                    Ok(first) => {
                        // Kept here too: a replay is still refused on this instance if Redis
                        // goes away within the window, or forgets (a flush, a failover), and a
                        // proof this instance took while Redis was away is not taken again.
                        let here = self.fallback.check(proof, key, ttl)?;
                        Ok(first && here)
                    }
                    // Over the quota is an answer, not a failure of Redis.
                    Err(error) if self.fail_closed || !error.is_unavailable() => Err(error),
                    Err(error) => {
                        tracing::warn!(%error, "DPoP replay check falls back to this process's memory");
                        self.fallback.check(proof, key, ttl)
                    }
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_first_used_once() {
        let store = MemoryReplayStore::new();
        let ttl = Duration::from_secs(60);
        assert!(store.check(&[1; 32], &[7; 32], ttl).unwrap());
        assert!(!store.check(&[1; 32], &[7; 32], ttl).unwrap());
        assert!(store.check(&[2; 32], &[7; 32], ttl).unwrap());
    }

    #[test]
    fn one_key_cannot_fill_the_store() {
        let store = MemoryReplayStore::with_bounds(1_000, 3);
        let ttl = Duration::from_secs(60);
        for n in 0..3u8 {
            assert!(store.check(&[n; 32], &[7; 32], ttl).unwrap());
        }
        let error = store.check(&[9; 32], &[7; 32], ttl).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidDpopProof);
        // Another key still has its own quota.
        assert!(store.check(&[10; 32], &[8; 32], ttl).unwrap());
        // A replay does not count.
        assert!(!store.check(&[10; 32], &[8; 32], ttl).unwrap());
        assert!(store.check(&[11; 32], &[8; 32], ttl).unwrap());
    }

    #[test]
    fn a_key_gets_its_quota_back_as_its_proofs_expire() {
        let store = MemoryReplayStore::with_bounds(1_000, 2);
        let short = Duration::from_millis(50);
        assert!(store.check(&[1; 32], &[7; 32], short).unwrap());
        assert!(store.check(&[2; 32], &[7; 32], short).unwrap());
        assert!(store.check(&[3; 32], &[7; 32], short).is_err());
        // Expired proofs are let go of by the cache's upkeep, whose timer ticks about once a
        // second.
        std::thread::sleep(Duration::from_millis(1_600));
        store.seen.run_pending_tasks();
        assert!(store.check(&[3; 32], &[7; 32], short).unwrap());
    }

    #[test]
    fn a_proof_is_forgotten_after_its_ttl() {
        let store = MemoryReplayStore::new();
        let ttl = Duration::from_millis(50);
        assert!(store.check(&[1; 32], &[7; 32], ttl).unwrap());
        std::thread::sleep(Duration::from_millis(120));
        assert!(store.check(&[1; 32], &[7; 32], ttl).unwrap());
    }
}
