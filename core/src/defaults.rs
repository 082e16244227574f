//! Every default a user can change, stated once: the builders, the policies and the docs
//! refer to these constants. (Fixed internal limits, such as the 5 s hold of the shared
//! cache's fetch lock or the 500 ms bound on each Redis call, live beside the code they
//! bound.)
//!
//! ```
//! use std::time::Duration;
//! use jwtguard_core::{RefreshPolicy, defaults};
//!
//! assert_eq!(defaults::LEEWAY, Duration::from_secs(60));
//! assert_eq!(RefreshPolicy::default().stale_limit, defaults::STALE_LIMIT);
//! ```

use std::time::Duration;

// The token.

/// The largest token accepted: 8 KiB.
pub const MAX_TOKEN_SIZE: usize = 8 * 1024;
/// The clock skew tolerated on `exp`, `nbf` and `iat`: 60 s.
pub const LEEWAY: Duration = Duration::from_secs(60);
/// The claims a token must carry besides `iss` and `aud` (which are always required): `exp`.
pub const REQUIRED_CLAIMS: &[&str] = &["exp"];

// Talking to the IdP.

/// The timeout of one request to the IdP: 5 s.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest discovery or JWKS body accepted: 1 MiB.
pub const MAX_RESPONSE_SIZE: usize = 1024 * 1024;

// Keeping keys fresh (the fields of `RefreshPolicy`).

/// How long a key set is fresh when the JWKS response has no `Cache-Control: max-age`:
/// 10 minutes.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(600);
/// The smallest max age taken from `Cache-Control`: 1 minute.
pub const KEYS_MIN_MAX_AGE: Duration = Duration::from_secs(60);
/// The largest max age taken from `Cache-Control`: 24 hours.
pub const KEYS_MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long before its max age a key set is refreshed in the background: 30 s.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(30);
/// After a refresh caused by an unknown `kid`, how long further unknown `kid`s fail without a
/// fetch: 30 s.
pub const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);

/// The cooldown for unknown `kid`s after a fetch that failed (the IdP was unreachable): 2 s, or
/// the cooldown if that is shorter. A key the IdP published during its outage is then found
/// soon after it comes back, while the circuit breaker keeps a dead IdP from being hammered.
pub const UNKNOWN_KID_COOLDOWN_AFTER_FAILURE: Duration = Duration::from_secs(2);
/// How long the last-known-good key set is served past its max age while the IdP can't be
/// reached: 24 hours.
pub const STALE_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// Extra attempts after a failed fetch: 2.
pub const RETRIES: u32 = 2;
/// The first backoff between attempts (doubled each time, with jitter): 200 ms.
pub const BACKOFF: Duration = Duration::from_millis(200);
/// The longest backoff between attempts: 2 s.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Consecutive failed refreshes that open the circuit breaker: 5.
pub const BREAKER_THRESHOLD: u32 = 5;
/// How long an open circuit breaker refuses to contact the IdP: 30 s.
pub const BREAKER_OPEN_FOR: Duration = Duration::from_secs(30);
/// Consecutive failed fetches after which discovery runs again: 2.
pub const REDISCOVER_AFTER: u32 = 2;
/// The interval of the background refresh task when the environment does not set one
/// (`JWKS_REFRESH_INTERVAL_SECONDS`): 300 s.
pub const BACKGROUND_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

// Caches.

/// How many JWKS documents the in-memory key cache holds: 1 024.
pub const KEY_CACHE_CAPACITY: u64 = 1024;
/// How long the in-memory key cache keeps a document at most: 48 hours.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(48 * 3600);
/// The validated-token cache's bound, in bytes of tokens: 32 MiB.
pub const TOKEN_CACHE_MAX_BYTES: u64 = 32 * 1024 * 1024;
/// The longest a validated token stays cached, whatever its `exp`: 5 minutes.
pub const TOKEN_CACHE_MAX_TTL: Duration = Duration::from_secs(300);

/// How long an active introspection result is kept, at most (never past the token's `exp`):
/// 60 s. A token revoked at the server is accepted on an instance for at most this long.
pub const INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(60);
/// How long an inactive introspection result is kept: 10 s.
pub const INTROSPECTION_INACTIVE_TTL: Duration = Duration::from_secs(10);
/// The bound of the introspection cache: 16 MiB of answers (each entry counted as its answer
/// plus 96 bytes).
pub const INTROSPECTION_CACHE_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// How many introspection calls one `Introspector` makes at once: 32. Past it, a call waits
/// for its turn for at most the call timeout.
pub const INTROSPECTION_MAX_CONCURRENT_CALLS: usize = 32;
/// How many introspection calls may be pending (under way or waiting for their turn) per call
/// allowed at once: 8, so 256 by default. A new token past that is a 503 at once.
pub const INTROSPECTION_PENDING_PER_CALL: usize = 8;

// API keys (the settings of `ApiKeysBuilder`).

/// How long `ApiKeys` keeps the answer for a key the store knows: 60 s. A key removed from the
/// store still passes for up to this long, unless `ApiKeys::invalidate` is called for it.
pub const API_KEY_FOUND_TTL: Duration = Duration::from_secs(60);
/// How long `ApiKeys` keeps the answer for a key the store does not know: 5 s. A key added to
/// the store is refused for up to this long if it was tried just before.
pub const API_KEY_MISS_TTL: Duration = Duration::from_secs(5);
/// How many known keys `ApiKeys` keeps: 10 000 entries.
pub const API_KEY_CACHE_CAPACITY: u64 = 10_000;
/// How many unknown keys `ApiKeys` keeps, apart from the known ones: 10 000 entries.
pub const API_KEY_MISS_CAPACITY: u64 = 10_000;
/// How long an API key store may take to answer before the check is a 503: 2 s.
pub const API_KEY_STORE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest API key accepted: 1 KiB (1 024 bytes). A longer key is refused before it is
/// hashed.
pub const MAX_API_KEY_SIZE: usize = 1024;
/// The largest file `FileApiKeyStore::open` reads: 16 MiB.
pub const MAX_API_KEY_FILE_SIZE: u64 = 16 * 1024 * 1024;

// DPoP (the settings of `DpopVerifierBuilder`).

/// The largest DPoP proof read: 4 KiB. A longer one is refused before it is parsed.
pub const MAX_DPOP_PROOF_SIZE: usize = 4 * 1024;
/// How far in the past a DPoP proof's `iat` may be: 60 s.
pub const DPOP_IAT_PAST: Duration = Duration::from_secs(60);
/// How far in the future a DPoP proof's `iat` may be: 5 s.
pub const DPOP_IAT_FUTURE: Duration = Duration::from_secs(5);
/// How many DPoP proofs `MemoryReplayStore` remembers at a time: 200 000 (some 30 MB at the
/// most). Past it, a new proof is a 503: a proof is never forgotten before its time.
pub const DPOP_REPLAY_CAPACITY: u64 = 200_000;
/// How many DPoP proofs of one client key `MemoryReplayStore` remembers at a time: 20 000
/// (some 280 proofs a second, sustained over the 71 s a proof is kept). Past it, the key's
/// proofs are refused until some of its remembered ones expire.
pub const DPOP_PROOFS_PER_KEY: u32 = 20_000;
/// What a DPoP proof is kept for beyond its `iat` window, for clocks that differ between
/// instances sharing a replay store: 5 s.
pub const DPOP_REPLAY_MARGIN: Duration = Duration::from_secs(5);
/// How long a DPoP nonce period lasts: 60 s (a nonce is accepted for one to two periods).
pub const DPOP_NONCE_LIFETIME: Duration = Duration::from_secs(60);
