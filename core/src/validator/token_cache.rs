//! An opt-in cache of validated tokens: a repeated token skips parsing and the signature check.

use std::sync::Arc;
use std::time::Duration;

use moka::Expiry;

use super::token::VerifiedToken;
use crate::defaults;
use crate::keys::KeySet;

/// How the validated-token cache is bounded. Off unless set with
/// [`ValidatorBuilder::token_cache`](super::ValidatorBuilder::token_cache).
///
/// Entries are keyed by the whole token, so two different tokens never share one (a lookup
/// compares the token itself, not only a digest of it); an entry expires no later than the token's `exp` (and its maximum age, and
/// `max_ttl`), and is only served while the key set that verified it is current: when the keys
/// change, the token is checked in full again. The user's checks, synchronous and asynchronous,
/// still run on every hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCacheConfig {
    /// At most this many bytes of tokens (each entry weighs its token's length plus a fixed
    /// overhead). Default [`defaults::TOKEN_CACHE_MAX_BYTES`] (32 MiB).
    pub max_bytes: u64,
    /// No entry lives longer than this, whatever its `exp`. Default
    /// [`defaults::TOKEN_CACHE_MAX_TTL`] (5 minutes).
    pub max_ttl: Duration,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: defaults::TOKEN_CACHE_MAX_BYTES,
            max_ttl: defaults::TOKEN_CACHE_MAX_TTL,
        }
    }
}

/// What each entry costs beyond its token's bytes (the parsed claims, the map, the key).
const ENTRY_OVERHEAD: u32 = 512;

pub(crate) struct CachedToken {
    pub(crate) token: VerifiedToken,
    /// Unix seconds after which the entry must not be used.
    pub(crate) usable_until: u64,
    /// The index of the issuer whose keys verified it.
    pub(crate) issuer: usize,
    /// The key set it was verified with: while it is still current, the key is too.
    pub(crate) key_set: Arc<KeySet>,
    ttl: Duration,
    weight: u32,
}

struct UntilExp;

impl Expiry<Box<str>, Arc<CachedToken>> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &Box<str>,
        value: &Arc<CachedToken>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Entries are found by a fast hash of the token, seeded at random per process, and then the
/// token is compared in full. A digest as the key would cost more than the rest of a hit (SHA-256
/// of a 720-byte token takes about 0.6 µs), and a 64-bit hash alone could collide; with the
/// token as the key, a collision costs only a second comparison.
type TokenHasher = foldhash::quality::RandomState;

pub(crate) struct TokenCache {
    entries: moka::sync::Cache<Box<str>, Arc<CachedToken>, TokenHasher>,
    max_ttl: Duration,
}

impl TokenCache {
    pub(crate) fn new(config: TokenCacheConfig) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(config.max_bytes)
                .weigher(|_key, value: &Arc<CachedToken>| value.weight)
                .expire_after(UntilExp)
                .build_with_hasher(TokenHasher::default()),
            max_ttl: config.max_ttl,
        }
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<CachedToken>> {
        self.entries.get(token)
    }

    pub(crate) fn forget(&self, token: &str) {
        self.entries.invalidate(token);
    }

    /// Caches a token that passed, until its `exp` (the leeway is not extended to cached
    /// entries), its `iat` plus the maximum age when there is one, and at most `max_ttl`.
    pub(crate) fn insert(
        &self,
        token: &str,
        verified: &VerifiedToken,
        now: u64,
        (issuer, key_set): (usize, Arc<KeySet>),
        max_age: Option<Duration>,
    ) {
        let registered = verified.registered();
        let Some(mut until) = registered.exp else {
            return;
        };
        // With a maximum age, the entry ends when the token gets too old.
        if let (Some(max_age), Some(iat)) = (max_age, registered.iat) {
            until = until.min(iat.saturating_add(max_age.as_secs()));
        }
        if until <= now {
            return;
        }
        let ttl = Duration::from_secs(until - now).min(self.max_ttl);
        let weight = u32::try_from(token.len())
            .unwrap_or(u32::MAX)
            .saturating_add(ENTRY_OVERHEAD);
        self.entries.insert(
            token.into(),
            Arc::new(CachedToken {
                token: verified.clone(),
                usable_until: now + ttl.as_secs(),
                issuer,
                key_set,
                ttl,
                weight,
            }),
        );
    }
}
