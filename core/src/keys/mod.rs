//! One issuer's keys: JWKs parsed into a [`KeySet`], kept live (refreshed ahead of their max
//! age, on unknown `kid`s, in the background), with retries, a circuit breaker, rediscovery,
//! and a [`KeyCache`] shared by instances (in memory, or Redis with the `redis` feature).

pub(crate) mod background;
pub mod cache;
pub(crate) mod discovery;
pub(crate) mod issuer_keys;
pub(crate) mod jwk;
mod policy;
pub(crate) mod refresh;
mod rsa_checks;
mod set;

pub use crate::provider::breaker::BreakerState;
pub use background::BackgroundRefresh;
#[cfg(feature = "redis")]
pub use cache::RedisKeyCache;
pub use cache::{CachedJwks, KeyCache, LockToken, MemoryKeyCache};
pub use policy::RefreshPolicy;
pub use set::KeySet;
pub use set::SkippedKey;
