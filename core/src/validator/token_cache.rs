//! An opt-in cache of validated tokens: a repeated token skips parsing and the signature check.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use moka::Expiry;

use super::token::VerifiedToken;
use crate::defaults;
use crate::keys::KeySet;

/// How the validated-token cache is bounded. Off unless set with
/// [`ValidatorBuilder::token_cache`](super::ValidatorBuilder::token_cache).
///
/// Entries are keyed by the SHA-256 of the whole token, so two different tokens never share
/// one; an entry expires no later than the token's `exp` (and its maximum age, and
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

impl Expiry<[u8; 32], Arc<CachedToken>> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<CachedToken>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

pub(crate) struct TokenCache {
    entries: moka::sync::Cache<[u8; 32], Arc<CachedToken>>,
    max_ttl: Duration,
}

impl TokenCache {
    pub(crate) fn new(config: TokenCacheConfig) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(config.max_bytes)
                .weigher(|_key, value: &Arc<CachedToken>| value.weight)
                .expire_after(UntilExp)
                .build(),
            max_ttl: config.max_ttl,
        }
    }

    /// The entry's key for `token`: its SHA-256. (BLAKE3, keyed, measured 1.3× slower on a
    /// 720-byte token on a CPU with the SHA extensions, which aws-lc uses.)
    pub(crate) fn key(&self, token: &str) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        key
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Arc<CachedToken>> {
        self.entries.get(key)
    }

    pub(crate) fn forget(&self, key: &[u8; 32]) {
        self.entries.invalidate(key);
    }

    /// Caches a token that passed, until its `exp` (the leeway is not extended to cached
    /// entries), its `iat` plus the maximum age when there is one, and at most `max_ttl`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &self,
        key: [u8; 32],
        token: &VerifiedToken,
        now: u64,
        issuer: usize,
        key_set: Arc<KeySet>,
        token_len: usize,
        max_age: Option<Duration>,
    ) {
        let registered = token.registered();
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
        let weight = u32::try_from(token_len)
            .unwrap_or(u32::MAX)
            .saturating_add(ENTRY_OVERHEAD);
        self.entries.insert(
            key,
            Arc::new(CachedToken {
                token: token.clone(),
                usable_until: now + ttl.as_secs(),
                issuer,
                key_set,
                ttl,
                weight,
            }),
        );
    }
}
