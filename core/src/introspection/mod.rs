//! Opaque tokens, verified by the authorization server (RFC 7662 token introspection), with a
//! cache that never serves a result past the token's `exp`.
//!
//! An [`Introspector`] asks the introspection endpoint (found by discovery, or given) about a
//! token, authenticating with the client authentication of the provider room
//! ([`ClientAuth`]). Only a real boolean `active: true` is accepted; then `iss`, `aud`, `exp`
//! and `nbf` are checked locally with the same rules and errors as a JWT's, and the answer
//! becomes a [`VerifiedToken`] ([`CredentialKind::Introspected`]), so that roles, scopes and
//! typed claims work unchanged.
//!
//! Results are cached by SHA-256 over the endpoint and the token: an active one for
//! `min(cache TTL, exp − now)`, an inactive one for a short time. Concurrent requests with the
//! same new token make one call. While the server is down, cached results are served until
//! their time is up; anything else is a 503 ([`ErrorKind::KeysUnavailable`]), never a 401.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use aws_lc_rs::digest;
use moka::sync::Cache;
use tokio::sync::watch;
use url::Url;

use crate::claims::registered::check_raw;
use crate::claims::{AccessPaths, ClaimsPolicy};
use crate::clock::{Clock, SystemClock};
use crate::defaults;
use crate::error::{Error, ErrorKind};
use crate::jose::json;
use crate::provider::{Breaker, ClientAuth, Endpoint, Fetcher, backoff, discover_metadata, shown};
use crate::validator::{CredentialKind, VerifiedToken};

/// What the cache keeps for a token.
enum Verdict {
    /// Active, and checked: the token, until `until` (Unix seconds, never past its `exp`).
    Active(VerifiedToken),
    /// Not active (or refused by the local checks): the error to answer with.
    Refused(Error),
}

impl Verdict {
    fn answer(&self) -> Result<VerifiedToken, Error> {
        match self {
            Verdict::Active(token) => Ok(token.clone()),
            Verdict::Refused(error) => Err(error.duplicate()),
        }
    }
}

impl Clone for Verdict {
    fn clone(&self) -> Self {
        match self {
            Verdict::Active(token) => Verdict::Active(token.clone()),
            Verdict::Refused(error) => Verdict::Refused(error.duplicate()),
        }
    }
}

/// An entry and how long it may be served.
#[derive(Clone)]
struct Entry {
    verdict: Verdict,
    ttl: Duration,
    /// The token's `exp` (Unix seconds), checked again on every hit.
    exp: Option<u64>,
}

struct PerEntry;

impl moka::Expiry<[u8; 32], Entry> for PerEntry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        entry: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

type Flight = watch::Receiver<Option<Result<Entry, Arc<Error>>>>;

/// Verifies tokens by introspection (RFC 7662). Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), jwtguard_core::Error> {
/// use jwtguard_core::introspection::Introspector;
/// use jwtguard_core::provider::ClientAuth;
///
/// let introspector = Introspector::builder()
///     .issuer("https://idp.example.com")
///     .audience("https://api.example.com")
///     .client(ClientAuth::secret_basic("orders-api", "s3cr3t"))
///     .build()
///     .await?;
/// let verified = introspector.introspect("an-opaque-token").await?;
/// # let _ = verified; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    endpoint: Url,
    auth: ClientAuth,
    fetcher: Fetcher,
    policy: ClaimsPolicy,
    access: Arc<AccessPaths>,
    cache: Cache<[u8; 32], Entry>,
    in_flight: Mutex<HashMap<[u8; 32], Flight>>,
    breaker: Breaker,
    /// The calls that may be under way at once, and how long a call waits for its turn.
    calls_at_once: tokio::sync::Semaphore,
    queue_timeout: Duration,
    /// The most calls under way and waiting at once.
    max_pending: usize,
    active_ttl: Duration,
    inactive_ttl: Duration,
    clock: Arc<dyn Clock>,
    calls: std::sync::atomic::AtomicU64,
    /// Bumped by every `invalidate`: a call that started before brings back nothing to cache.
    invalidations: std::sync::atomic::AtomicU64,
}

/// Removes a flight's slot when its task ends, however it ends.
struct FreeSlot(Arc<Inner>, [u8; 32]);

impl Drop for FreeSlot {
    fn drop(&mut self) {
        self.0
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.1);
    }
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &shown(&self.inner.endpoint))
            .field("client", &self.inner.auth)
            .field("cached", &self.inner.cache.entry_count())
            .finish_non_exhaustive()
    }
}

/// Builds an [`Introspector`]. Every setting has a stated default.
pub struct IntrospectorBuilder {
    issuer: Option<String>,
    endpoint: Option<String>,
    auth: Option<ClientAuth>,
    audiences: Vec<String>,
    access: AccessPaths,
    leeway: Duration,
    active_ttl: Duration,
    inactive_ttl: Duration,
    max_bytes: u64,
    timeout: Duration,
    max_concurrent_calls: usize,
    allow_insecure_http: bool,
    http: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for IntrospectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectorBuilder")
            .field("issuer", &self.issuer)
            .field("client", &self.auth)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl Introspector {
    /// A builder with the defaults.
    pub fn builder() -> IntrospectorBuilder {
        IntrospectorBuilder {
            issuer: None,
            endpoint: None,
            auth: None,
            audiences: Vec::new(),
            access: AccessPaths::default(),
            leeway: defaults::LEEWAY,
            active_ttl: defaults::INTROSPECTION_CACHE_TTL,
            inactive_ttl: defaults::INTROSPECTION_INACTIVE_TTL,
            max_bytes: defaults::INTROSPECTION_CACHE_MAX_BYTES,
            timeout: defaults::HTTP_TIMEOUT,
            max_concurrent_calls: defaults::INTROSPECTION_MAX_CONCURRENT_CALLS,
            allow_insecure_http: false,
            http: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl IntrospectorBuilder {
    /// The authorization server: its `introspection_endpoint` comes from discovery, and an
    /// active answer's `iss` must be exactly this. Required.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The introspection endpoint, instead of discovering it.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// How this resource server authenticates at the endpoint. Required.
    pub fn client(mut self, auth: ClientAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// An accepted audience: an active answer's `aud` must name one. Required (at least one).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Where roles and scopes are read from in the answer. Default [`AccessPaths::default`].
    pub fn access_paths(mut self, paths: AccessPaths) -> Self {
        self.access = paths;
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`. Default 60 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// How long an active result is kept, at most (never past the token's `exp`). Default
    /// 60 s: a revoked token is accepted for at most this long on this instance.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.active_ttl = ttl;
        self
    }

    /// How long an inactive result is kept. Default 10 s.
    pub fn inactive_ttl(mut self, ttl: Duration) -> Self {
        self.inactive_ttl = ttl;
        self
    }

    /// The cache's bound: about `bytes` of memory, each entry counted as three times its
    /// answer (the bytes, the claims read from them, the claim set built from them) plus 512
    /// bytes (so at most `bytes / 512` entries). Default 16 MiB.
    pub fn cache_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The timeout of each call, connect included. Default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many calls may be under way at once. Default
    /// [`INTROSPECTION_MAX_CONCURRENT_CALLS`](defaults::INTROSPECTION_MAX_CONCURRENT_CALLS):
    /// 32. A call past it waits for its turn for at most [`timeout`](Self::timeout), then is a
    /// 503: a flood of new tokens can't overload the authorization server, and so can't open
    /// the circuit breaker for every other token. At most
    /// [`INTROSPECTION_PENDING_PER_CALL`](defaults::INTROSPECTION_PENDING_PER_CALL) (8) times
    /// as many calls wait or run at once (256 by default): a new token past that is a 503 at
    /// once. At least 1.
    pub fn max_concurrent_calls(mut self, calls: usize) -> Self {
        self.max_concurrent_calls = calls.max(1);
        self
    }

    /// Allows a plain `http` endpoint on a host other than loopback. Default: refused.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The `reqwest` client to use. It must not follow redirects. Default: jwtguard's own.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock (for tests). Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The introspector: discovery runs now, so that a wrong issuer is a clear error at
    /// start-up.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a missing issuer, client or audience, or an unusable URL;
    /// the discovery's errors.
    pub async fn build(self) -> Result<Introspector, Error> {
        let config = |what: &str| Error::new(ErrorKind::Config, what.to_owned());
        let issuer = self
            .issuer
            .ok_or_else(|| config("introspection needs an issuer"))?;
        let auth = self
            .auth
            .ok_or_else(|| config("introspection needs the client's authentication"))?;
        if self.audiences.is_empty() {
            return Err(config("introspection needs at least one audience"));
        }
        let fetcher = Fetcher::new(
            self.http,
            self.timeout,
            defaults::MAX_RESPONSE_SIZE,
            self.allow_insecure_http,
        )?;
        let endpoint = match self.endpoint {
            Some(url) => {
                let url = Url::parse(&url)
                    .map_err(|_| config("the introspection endpoint is not a valid URL"))?;
                fetcher.check_url(&url, "introspection endpoint")?;
                url
            }
            None => discover_metadata(&fetcher, &issuer)
                .await?
                .endpoint(&fetcher, Endpoint::Introspection)?,
        };
        let mut policy = ClaimsPolicy::new([issuer.clone()], self.audiences);
        policy.leeway = self.leeway;
        let cache = Cache::builder()
            .max_capacity(self.max_bytes)
            // What an entry holds: its answer (twice: the bytes, and the claim set built from
            // them when roles or scopes are read) and about 512 bytes of bookkeeping.
            .weigher(|_key: &[u8; 32], entry: &Entry| match &entry.verdict {
                Verdict::Active(token) => {
                    u32::try_from(token.payload().len() * 3 + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
                }
                Verdict::Refused(_) => ENTRY_OVERHEAD as u32,
            })
            .expire_after(PerEntry)
            .build();
        Ok(Introspector {
            inner: Arc::new(Inner {
                issuer,
                endpoint,
                auth,
                fetcher,
                policy,
                access: Arc::new(self.access),
                cache,
                in_flight: Mutex::new(HashMap::new()),
                breaker: Breaker::new(defaults::BREAKER_THRESHOLD, defaults::BREAKER_OPEN_FOR),
                calls_at_once: tokio::sync::Semaphore::new(self.max_concurrent_calls),
                queue_timeout: self.timeout,
                max_pending: self
                    .max_concurrent_calls
                    .saturating_mul(defaults::INTROSPECTION_PENDING_PER_CALL),
                active_ttl: self.active_ttl,
                inactive_ttl: self.inactive_ttl,
                clock: self.clock,
                calls: std::sync::atomic::AtomicU64::new(0),
                invalidations: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}

impl Introspector {
    /// The authorization server whose tokens it introspects: an active answer's `iss` must be
    /// exactly this.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The introspection endpoint in use.
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// How many introspection calls were made so far.
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cache key of `token`: SHA-256 over the endpoint and the token.
    fn key(&self, token: &str) -> [u8; 32] {
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(self.inner.endpoint.as_str().as_bytes());
        context.update(&[0]);
        context.update(token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(context.finish().as_ref());
        key
    }

    /// Forgets what the cache holds for `token`: the next request asks the server again. A
    /// token revoked at the server is otherwise accepted on this instance for at most the
    /// cache TTL (60 s by default), never past its `exp`.
    pub fn invalidate(&self, token: &str) {
        let key = self.key(token);
        // A call in flight may have started before: what it brings back is not cached.
        self.inner
            .invalidations
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        self.inner.cache.invalidate(&key);
    }

    /// Verifies `token` by introspection (or the cache).
    ///
    /// # Errors
    /// - [`ErrorKind::TokenTooLarge`] over the token size cap (8 KiB);
    /// - a 401-class error for a token that is not active, or whose `iss`, `aud`, `exp` or
    ///   `nbf` fail the local checks (the same kinds as for a JWT);
    /// - [`ErrorKind::KeysUnavailable`] (503) when the server can't answer and nothing is
    ///   cached.
    pub async fn introspect(&self, token: &str) -> Result<VerifiedToken, Error> {
        if token.len() > defaults::MAX_TOKEN_SIZE {
            return Err(Error::new(
                ErrorKind::TokenTooLarge,
                "the token is over the size cap",
            ));
        }
        // RFC 6750's b64token: anything else is no token, and is not sent anywhere.
        let b64token = |c: u8| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c);
        if token.is_empty() || !token.bytes().all(b64token) {
            return Err(Error::new(
                ErrorKind::Malformed,
                "the token is not a bearer token's characters",
            ));
        }
        let key = self.key(token);
        if let Some(entry) = self.inner.cache.get(&key) {
            let now = self.inner.clock.unix_seconds();
            if entry.exp.is_none_or(|exp| now < exp) {
                return entry.verdict.answer();
            }
            self.inner.cache.invalidate(&key);
        }
        let mut receiver = self.flight(key, token);
        let outcome = match receiver.wait_for(Option::is_some).await {
            Ok(outcome) => outcome
                .clone()
                .unwrap_or_else(|| Err(Arc::new(abandoned()))),
            Err(_) => Err(Arc::new(abandoned())),
        };
        match outcome {
            Ok(entry) => entry.verdict.answer(),
            Err(error) => Err(error.duplicate()),
        }
    }

    /// The call in flight for `key`, or a new one.
    fn flight(&self, key: [u8; 32], token: &str) -> Flight {
        let mut in_flight = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = in_flight.get(&key)
            && running.has_changed().is_ok()
        {
            return running.clone();
        }
        // A call that ended between this caller's look at the cache and here has cached its
        // answer before it freed its slot: take it rather than ask again.
        if let Some(entry) = self.inner.cache.get(&key)
            && entry
                .exp
                .is_none_or(|exp| self.inner.clock.unix_seconds() < exp)
        {
            let (_done, receiver) = watch::channel(Some(Ok(entry)));
            return receiver;
        }
        // Calls under way and waiting for their turn, each holding its token: bounded, so that
        // a flood of new tokens is refused at once rather than queued without end.
        if in_flight.len() >= self.inner.max_pending {
            let (_done, receiver) = watch::channel(Some(Err(Arc::new(Error::new(
                ErrorKind::KeysUnavailable,
                "too many introspection calls are pending",
            )))));
            return receiver;
        }
        let (sender, receiver) = watch::channel(None);
        in_flight.insert(key, receiver.clone());
        drop(in_flight);
        let this = self.clone();
        let token = token.to_owned();
        let epoch = self
            .inner
            .invalidations
            .load(std::sync::atomic::Ordering::Acquire);
        tokio::spawn(async move {
            // Frees the slot however the task ends (a panic, its runtime shutting down).
            let _slot = FreeSlot(Arc::clone(&this.inner), key);
            let outcome = match tokio::time::timeout(
                this.inner.queue_timeout,
                this.inner.calls_at_once.acquire(),
            )
            .await
            {
                Ok(Ok(_turn)) => this.ask(&token).await,
                _ => Err(Error::new(
                    ErrorKind::KeysUnavailable,
                    "too many introspection calls are under way",
                )),
            };
            let unchanged = this
                .inner
                .invalidations
                .load(std::sync::atomic::Ordering::Acquire)
                == epoch;
            if let Ok(entry) = &outcome
                && unchanged
                && !entry.ttl.is_zero()
            {
                this.inner.cache.insert(key, entry.clone());
            }
            let _ = sender.send(Some(outcome.map_err(Arc::new)));
        });
        receiver
    }

    /// One introspection call, and what to cache of its answer. Errors are the server's
    /// failures (not cached).
    async fn ask(&self, token: &str) -> Result<Entry, Error> {
        let mut tries = 0;
        loop {
            match self.ask_once(token).await {
                Err((error, retry_after))
                    if tries < defaults::RETRIES
                        && retry_after.is_none_or(|after| after <= defaults::MAX_BACKOFF) =>
                {
                    tries += 1;
                    let wait = retry_after.unwrap_or_else(|| {
                        backoff(defaults::BACKOFF, defaults::MAX_BACKOFF, tries)
                    });
                    tracing::debug!(%error, "introspection failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                Err((error, _)) => {
                    metrics::counter!("jwtguard_introspections_total", "outcome" => "unavailable")
                        .increment(1);
                    return Err(error);
                }
                Ok(entry) => {
                    let outcome = match entry.verdict {
                        Verdict::Active(_) => "active",
                        Verdict::Refused(_) => "inactive",
                    };
                    metrics::counter!("jwtguard_introspections_total", "outcome" => outcome)
                        .increment(1);
                    return Ok(entry);
                }
            }
        }
    }

    /// One call. A failure of the server (it can't be reached, 5xx, 429, an answer that is not
    /// an introspection answer) comes with its `Retry-After`; its own client authentication
    /// refused is a 503 too, but not the server's failure.
    async fn ask_once(&self, token: &str) -> Result<Entry, (Error, Option<Duration>)> {
        let inner = &self.inner;
        let unavailable = |detail: String| Error::new(ErrorKind::KeysUnavailable, detail);
        let Some(attempt) = inner.breaker.allow(SystemTime::now()) else {
            return Err((
                unavailable("the introspection endpoint's circuit breaker is open".to_owned()),
                Some(Duration::MAX),
            ));
        };
        let held = inner.breaker.hold(attempt);
        let auth = inner
            .auth
            .authenticate(inner.endpoint.as_str())
            .map_err(|e| (e, Some(Duration::MAX)))?;
        inner
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answer = inner
            .fetcher
            .post_form(
                &inner.endpoint,
                &auth,
                &[("token", token), ("token_type_hint", "access_token")],
                &[],
            )
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(err) => {
                held.record(false, SystemTime::now());
                return Err((unavailable(err.detail().to_owned()), None));
            }
        };
        let retry_after = answer
            .retry_after
            .as_deref()
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match answer.status {
            200 => {}
            // The server refused this token (RFC 7662 servers answer `active: false`, but some
            // answer 400, `unsupported_token_type` for JWTs, say): not one to accept.
            400 => {
                held.record(true, SystemTime::now());
                let detail = if unsupported_token_type(&answer.body) {
                    "the authorization server does not introspect this kind of token"
                } else {
                    "the authorization server refused to introspect the token"
                };
                return Ok(Entry {
                    verdict: Verdict::Refused(Error::new(ErrorKind::Rejected, detail)),
                    ttl: inner.inactive_ttl,
                    exp: None,
                });
            }
            // Our own credentials refused: a configuration problem, not a token one.
            401 | 403 => {
                held.record(true, SystemTime::now());
                tracing::error!(
                    status = answer.status,
                    "the introspection endpoint refused this resource server's credentials"
                );
                return Err((
                    unavailable(format!(
                        "the introspection endpoint refused the resource server's credentials ({})",
                        answer.status
                    )),
                    Some(Duration::MAX),
                ));
            }
            status => {
                held.record(false, SystemTime::now());
                return Err((
                    unavailable(format!("the introspection endpoint answered {status}")),
                    retry_after,
                ));
            }
        }
        match self.judge(answer.body) {
            Some(entry) => {
                held.record(true, SystemTime::now());
                Ok(entry)
            }
            None => {
                // A proxy's error page, or an object without `active`: not the server's answer.
                held.record(false, SystemTime::now());
                Err((
                    unavailable(
                        "the introspection endpoint's answer is not an introspection answer"
                            .to_owned(),
                    ),
                    None,
                ))
            }
        }
    }

    /// What an answer means: active and checked, or refused (kept for the inactive TTL);
    /// `None` when it is not an introspection answer at all (not a JSON object, no `active`).
    fn judge(&self, body: Vec<u8>) -> Option<Entry> {
        let inner = &self.inner;
        let refused = |error: Error| Entry {
            verdict: Verdict::Refused(error),
            ttl: inner.inactive_ttl,
            exp: None,
        };
        let object = json::parse_object(&body).ok()?;
        let active = object.get("active")?;
        if active != &serde_json::Value::Bool(true) {
            return Some(refused(Error::new(
                ErrorKind::Rejected,
                "the token is not active",
            )));
        }
        if let Some(kind) = object.get("token_type")
            && !kind.as_str().is_some_and(|kind| {
                kind.eq_ignore_ascii_case("bearer")
                    || kind.eq_ignore_ascii_case("access_token")
                    || kind.eq_ignore_ascii_case("dpop")
            })
        {
            return Some(refused(Error::new(
                ErrorKind::InvalidType,
                "the introspected token is not an access token",
            )));
        }
        let now = inner.clock.unix_seconds();
        let token = match VerifiedToken::from_claims(
            CredentialKind::Introspected,
            body,
            Arc::clone(&inner.access),
        ) {
            Ok(token) => token,
            Err(error) => return Some(refused(error)),
        };
        let checked = check_raw(token.raw_claims(), &inner.policy, now, |name| {
            json::has_member(token.payload(), name)
        });
        let exp = match checked {
            Ok(claims) => claims.exp,
            Err(error) => return Some(refused(error)),
        };
        // Never past `exp` (RFC 7662 §4): the entry goes when the token does.
        let left = exp.map_or(inner.active_ttl, |exp| {
            Duration::from_secs(exp.saturating_sub(now))
        });
        Some(Entry {
            verdict: Verdict::Active(token),
            ttl: inner.active_ttl.min(left),
            exp,
        })
    }
}

/// Whether an error answer is RFC 7009's `unsupported_token_type`.
fn unsupported_token_type(body: &[u8]) -> bool {
    json::parse_object(body).is_ok_and(|object| {
        object.get("error").and_then(serde_json::Value::as_str) == Some("unsupported_token_type")
    })
}

/// The bookkeeping of one cache entry, in bytes (the key, the entry, the cache's own).
const ENTRY_OVERHEAD: usize = 512;

fn abandoned() -> Error {
    Error::new(
        ErrorKind::KeysUnavailable,
        "the introspection call ended without an answer",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const NOW: u64 = 1_700_000_000;

    async fn introspector() -> Introspector {
        Introspector::builder()
            .issuer("https://idp.example")
            .endpoint("http://127.0.0.1:9/introspect")
            .audience("https://api.example")
            .client(ClientAuth::secret_basic("rs", "rs-secret"))
            .clock(ManualClock::at_unix(NOW))
            .build()
            .await
            .unwrap()
    }

    fn answer(extra: serde_json::Value) -> Vec<u8> {
        let mut object = serde_json::json!({
            "active": true,
            "iss": "https://idp.example",
            "aud": "https://api.example",
            "sub": "svc",
            "scope": "read write",
            "exp": NOW + 300,
            "iat": NOW - 10,
            "token_type": "Bearer",
        });
        for (name, value) in extra.as_object().unwrap() {
            if value.is_null() {
                object.as_object_mut().unwrap().remove(name);
            } else {
                object[name] = value.clone();
            }
        }
        serde_json::to_vec(&object).unwrap()
    }

    #[tokio::test]
    async fn only_a_real_true_is_active_and_the_claims_are_checked_as_a_jwts() {
        let introspector = introspector().await;
        let active = introspector
            .judge(answer(serde_json::json!({})))
            .expect("an answer");
        let Verdict::Active(token) = &active.verdict else {
            panic!("active");
        };
        assert_eq!(token.credential(), CredentialKind::Introspected);
        assert!(token.header().is_none());
        assert_eq!(token.subject(), Some("svc"));
        assert!(token.has_scope("write"));
        assert_eq!(active.ttl, Duration::from_secs(60));

        let soon = introspector
            .judge(answer(serde_json::json!({"exp": NOW + 20})))
            .expect("an answer");
        assert_eq!(soon.ttl, Duration::from_secs(20), "never past exp");

        for (extra, kind) in [
            (serde_json::json!({"active": false}), ErrorKind::Rejected),
            (serde_json::json!({"active": "true"}), ErrorKind::Rejected),
            (serde_json::json!({"active": 1}), ErrorKind::Rejected),
            (
                serde_json::json!({"token_type": "refresh_token"}),
                ErrorKind::InvalidType,
            ),
            (
                serde_json::json!({"iss": "https://other.example"}),
                ErrorKind::InvalidIssuer,
            ),
            (
                serde_json::json!({"aud": "https://other-api.example"}),
                ErrorKind::InvalidAudience,
            ),
            (serde_json::json!({"exp": NOW - 120}), ErrorKind::Expired),
            (serde_json::json!({"exp": null}), ErrorKind::MissingClaim),
            (
                serde_json::json!({"nbf": NOW + 600}),
                ErrorKind::NotYetValid,
            ),
            (serde_json::json!({"exp": "soon"}), ErrorKind::InvalidClaim),
        ] {
            let entry = introspector
                .judge(answer(extra.clone()))
                .expect("an answer");
            let Verdict::Refused(error) = &entry.verdict else {
                panic!("refused: {extra}");
            };
            assert_eq!(error.kind(), kind, "{extra}");
            assert_eq!(error.status(), 401, "{extra}");
            assert_eq!(entry.ttl, Duration::from_secs(10));
        }
        // Not an introspection answer (a proxy's page, no `active`): the server failed, and
        // nothing about the token is concluded.
        assert!(introspector.judge(b"[1,2]".to_vec()).is_none());
        assert!(introspector.judge(b"<html>".to_vec()).is_none());
        assert!(
            introspector
                .judge(answer(serde_json::json!({"active": null})))
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_503_and_nothing_is_cached() {
        let introspector = introspector().await;
        let err = introspector.introspect("opaque-token").await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert_eq!(introspector.inner.cache.entry_count(), 0);
        for bad in ["", "a b", "tok\u{e9}n", "a\nb"] {
            assert_eq!(
                introspector.introspect(bad).await.unwrap_err().kind(),
                ErrorKind::Malformed,
                "{bad:?} is never sent"
            );
        }
        let oversized = "x".repeat(defaults::MAX_TOKEN_SIZE + 1);
        assert_eq!(
            introspector
                .introspect(&oversized)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::TokenTooLarge
        );
    }
}
