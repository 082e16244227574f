//! A Redis-backed key cache (feature `redis`): many instances share one fetch, and start warm
//! while the IdP is down.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{CachedJwks, KeyCache, LockToken};
use crate::error::{Error, ErrorKind};
use crate::future::BoxFuture;

/// Every Redis call gives up after this long: a slow Redis must not hold up a refresh.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);

const UNLOCK: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// Stores fetched JWKS documents in Redis, with a short lock (`SET NX PX`) so that only one
/// instance fetches while the others wait for its result.
///
/// Connects lazily and reconnects by itself; every call times out after 500 ms. When Redis
/// fails, jwtguard logs it and fetches from the IdP: a Redis outage never fails a request
/// that could be served.
///
/// ```no_run
/// # async fn run() -> Result<(), jwtguard_core::Error> {
/// use jwtguard_core::{Validator, keys::RedisKeyCache};
///
/// let validator = Validator::builder()
///     .issuer("https://idp.example.com")
///     .audience("https://api.example.com")
///     .key_cache(RedisKeyCache::new("redis://127.0.0.1:6379")?)
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisKeyCache {
    connection: ConnectionManager,
}

fn redis_error(what: &'static str) -> impl FnOnce(redis::RedisError) -> Error {
    move |e| Error::new(ErrorKind::Fetch, format!("redis {what} failed")).with_source(e)
}

async fn timed<T>(
    what: &'static str,
    call: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(redis_error(what)),
        Err(_) => Err(Error::new(
            ErrorKind::Fetch,
            format!("redis {what} timed out"),
        )),
    }
}

impl RedisKeyCache {
    /// A cache on the Redis at `url` (`redis://host:port/db`). Does not connect yet; must be
    /// called inside a tokio runtime.
    pub fn new(url: &str) -> Result<Self, Error> {
        Ok(Self {
            connection: connect_lazily(url, "RedisKeyCache::new")?,
        })
    }

    /// Deletes the lock on `key` if `token` still holds it.
    async fn release(&self, key: &str, token: &str) -> Result<(), Error> {
        let mut connection = self.connection.clone();
        timed::<i64>(
            "unlock",
            redis::Script::new(UNLOCK)
                .key(lock_key(key))
                .arg(token)
                .invoke_async(&mut connection),
        )
        .await
        .map(drop)
    }
}

/// A connection to the Redis at `url` that connects when first used and reconnects by itself,
/// each call giving up after 500 ms. `what` names the caller, which must run inside a tokio
/// runtime.
pub(crate) fn connect_lazily(url: &str, what: &str) -> Result<ConnectionManager, Error> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{what} must be called inside a tokio runtime"),
        ));
    }
    let client = redis::Client::open(url)
        .map_err(|e| Error::new(ErrorKind::Config, "the Redis URL is not valid").with_source(e))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CALL_TIMEOUT))
        .set_response_timeout(Some(CALL_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| Error::new(ErrorKind::Config, "could not set up Redis").with_source(e))
}

fn lock_key(key: &str) -> String {
    format!("{key}:lock")
}

impl std::fmt::Debug for RedisKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKeyCache").finish_non_exhaustive()
    }
}

impl KeyCache for RedisKeyCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Arc<CachedJwks>>, Error>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let raw: Option<String> = timed(
                "GET",
                redis::cmd("GET").arg(key).query_async(&mut connection),
            )
            .await?;
            match raw {
                None => Ok(None),
                Some(json) => serde_json::from_str(&json)
                    .map(|e| Some(Arc::new(e)))
                    .map_err(|e| {
                        Error::new(ErrorKind::Fetch, "a cached key set is not readable")
                            .with_source(e)
                    }),
            }
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        entry: CachedJwks,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let json = serde_json::to_string(&entry).map_err(|e| {
                Error::new(ErrorKind::Fetch, "could not encode a key set").with_source(e)
            })?;
            let mut connection = self.connection.clone();
            let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            timed::<()>(
                "SET",
                redis::cmd("SET")
                    .arg(key)
                    .arg(json)
                    .arg("PX")
                    .arg(millis)
                    .query_async(&mut connection),
            )
            .await
        })
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<LockToken>, Error>> {
        Box::pin(async move {
            let mut random = [0u8; 16];
            let _ = aws_lc_rs::rand::fill(&mut random);
            let token: String = random.iter().map(|b| format!("{b:02x}")).collect();
            let mut connection = self.connection.clone();
            let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let set: Result<Option<String>, Error> = timed(
                "SET NX",
                redis::cmd("SET")
                    .arg(lock_key(key))
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis)
                    .query_async(&mut connection),
            )
            .await;
            match set {
                Ok(set) => Ok(set.map(|_| LockToken::new(token))),
                Err(error) => {
                    // The SET may have landed just as the call timed out: release it, if it
                    // did, rather than leave a lock nobody holds for its whole TTL.
                    let cache = self.clone();
                    let key = key.to_owned();
                    tokio::spawn(async move {
                        let _ = cache.release(&key, &token).await;
                    });
                    Err(error)
                }
            }
        })
    }

    fn unlock<'a>(&'a self, key: &'a str, token: LockToken) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move { self.release(key, token.as_str()).await })
    }
}
