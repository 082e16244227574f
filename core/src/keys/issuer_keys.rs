//! One issuer's keys, kept live: the current key set in an `ArcSwap`, refreshed ahead of its
//! max age, on unknown `kid`s (coalesced, with a cooldown), or in the background; fetched
//! through a shared cache, with retries, a circuit breaker and rediscovery.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use url::Url;

use super::cache::{CLOCK_SKEW, CachedJwks, EntrySeal, KeyCache, LockToken, cache_key};
use super::policy::RefreshPolicy;
use super::refresh::{Cooldown, Outcome, RefreshGate};
use super::set::KeySet;
use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::jose::Algorithm;
use crate::provider::breaker::{Attempt, Breaker, BreakerState};
use crate::provider::discovery;
use crate::provider::http::Fetcher;

/// How long one instance may hold the shared fetch lock.
const FETCH_LOCK_TTL: Duration = Duration::from_secs(5);
const CLOCK_SKEW_MS: u64 = CLOCK_SKEW.as_millis() as u64;
/// How often an instance that did not get the lock looks for the other's result.
const FETCH_LOCK_POLL: Duration = Duration::from_millis(50);

/// The key set in use and what is known about its freshness.
pub(crate) struct KeyState {
    pub(crate) set: Arc<KeySet>,
    pub(crate) fetched_at: SystemTime,
    pub(crate) max_age: Duration,
    pub(crate) etag: Option<String>,
    pub(crate) document: Option<Arc<str>>,
}

impl KeyState {
    /// No keys yet, fetched never: any document is newer.
    fn empty() -> Self {
        Self {
            set: Arc::new(KeySet::new()),
            fetched_at: UNIX_EPOCH,
            max_age: Duration::ZERO,
            etag: None,
            document: None,
        }
    }
}

/// Where the keys come from.
pub(crate) enum Origin {
    /// Given inline: never fetched.
    Inline,
    /// A JWKS URL set directly.
    Jwks(Url),
    /// A JWKS URL found by discovery of this issuer; discovery may run again.
    Discovered { issuer: String, jwks_uri: Url },
}

/// Everything an issuer's keys need that the validator configures once.
pub(crate) struct KeySettings {
    pub(crate) algorithms: Arc<[Algorithm]>,
    pub(crate) secrets: Arc<KeySet>,
    pub(crate) policy: RefreshPolicy,
    pub(crate) fetcher: Fetcher,
    pub(crate) cache: Arc<dyn KeyCache>,
    /// Seals what goes into the shared cache and checks what comes out.
    pub(crate) seal: EntrySeal,
    pub(crate) clock: Arc<dyn Clock>,
}

/// What the status report says about one issuer's keys.
#[derive(Debug, Default, Clone)]
pub(crate) struct History {
    pub(crate) last_attempt: Option<SystemTime>,
    pub(crate) last_success: Option<SystemTime>,
    pub(crate) last_error: Option<String>,
}

/// One issuer's keys, kept live (see the module documentation).
pub(crate) struct IssuerKeys {
    pub(crate) label: String,
    origin: Mutex<Origin>,
    state: ArcSwap<KeyState>,
    settings: KeySettings,
    gate: Arc<RefreshGate>,
    breaker: Breaker,
    /// No background refresh-ahead is started before this time (Unix ms).
    next_ahead_ms: AtomicU64,
    history: Mutex<History>,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl IssuerKeys {
    /// Fixed keys, never fetched.
    pub(crate) fn inline(
        label: String,
        mut set: KeySet,
        settings: KeySettings,
    ) -> Result<Self, Error> {
        set.extend_with(&settings.secrets);
        if set.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "the inline key set holds no usable key",
            ));
        }
        let state = KeyState {
            set: Arc::new(set),
            fetched_at: settings.clock.now(),
            max_age: Duration::MAX,
            etag: None,
            document: None,
        };
        Ok(Self::new(label, Origin::Inline, state, settings))
    }

    /// Keys fetched from `origin`, loaded before they are returned: from the
    /// shared cache when it holds a fresh document, else from the IdP; when the IdP can't be
    /// reached, a cached document within the stale limit still lets it start.
    pub(crate) async fn fetched(
        label: String,
        origin: Origin,
        settings: KeySettings,
    ) -> Result<Self, Error> {
        let empty = KeyState::empty();
        let keys = Self::new(label, origin, empty, settings);
        let Some(uri) = keys.jwks_uri() else {
            return Ok(keys);
        };
        let cached = keys.cached(&uri).await;
        let now = keys.settings.clock.now();
        if let Some(entry) = &cached
            && fresh_until(entry) > now
            && keys.install_cached(entry).is_ok()
        {
            tracing::info!(issuer = %keys.label, "keys loaded from the shared cache");
            return Ok(keys);
        }
        match keys.refresh_now(keys.settings.policy.retries, None).await {
            Ok(()) => Ok(keys),
            Err(err) => {
                let usable = cached.filter(|entry| {
                    fresh_until(entry)
                        .checked_add(keys.settings.policy.stale_limit)
                        .unwrap_or_else(far_future)
                        > now
                });
                match usable {
                    Some(entry) if keys.install_cached(&entry).is_ok() => {
                        tracing::warn!(issuer = %keys.label, error = %err,
                            "the IdP can't be reached; starting with cached keys");
                        Ok(keys)
                    }
                    _ => Err(err),
                }
            }
        }
    }

    fn new(label: String, origin: Origin, state: KeyState, settings: KeySettings) -> Self {
        let gate = Arc::new(RefreshGate::new(
            settings.policy.unknown_kid_cooldown,
            Arc::clone(&settings.clock),
        ));
        let breaker = Breaker::new(
            settings.policy.breaker_threshold,
            settings.policy.breaker_open_for,
        );
        Self {
            label,
            origin: Mutex::new(origin),
            state: ArcSwap::from_pointee(state),
            settings,
            gate,
            breaker,
            next_ahead_ms: AtomicU64::new(0),
            history: Mutex::new(History::default()),
        }
    }

    pub(crate) fn jwks_uri(&self) -> Option<Url> {
        match &*self.origin.lock().unwrap_or_else(PoisonError::into_inner) {
            Origin::Inline => None,
            Origin::Jwks(uri) | Origin::Discovered { jwks_uri: uri, .. } => Some(uri.clone()),
        }
    }

    /// Whether the keys are found by discovery of the issuer's metadata.
    pub(crate) fn is_discovered(&self) -> bool {
        matches!(
            &*self.origin.lock().unwrap_or_else(PoisonError::into_inner),
            Origin::Discovered { .. }
        )
    }

    /// The HTTP client the keys are fetched with.
    pub(crate) fn fetcher(&self) -> &Fetcher {
        &self.settings.fetcher
    }

    pub(crate) fn state(&self) -> Arc<KeyState> {
        self.state.load_full()
    }

    /// The current keys, unless they are past their stale limit
    /// ([`ErrorKind::KeysUnavailable`]). Starts a background refresh when they are due. An
    /// unknown `kid` in them may be cured by
    /// [`wait_for_unknown_kid`](Self::wait_for_unknown_kid).
    pub(crate) fn usable_state(self: &Arc<Self>) -> Result<arc_swap::Guard<Arc<KeyState>>, Error> {
        let state = self.state.load();
        self.check_freshness(&state)?;
        Ok(state)
    }

    /// After an unknown `kid` (`unknown`, for the token's `kid`): waits for one coalesced
    /// refresh, and `Ok` when it brought new keys to try. Fails at once inside the cooldown
    /// (with `unknown` itself), and with [`ErrorKind::KeysUnavailable`] when the IdP can't be
    /// reached. Inline keys never refresh.
    pub(crate) async fn wait_for_unknown_kid(
        self: &Arc<Self>,
        unknown: Error,
        kid: Option<&str>,
    ) -> Result<(), Error> {
        if self.jwks_uri().is_none() {
            return Err(unknown);
        }
        let keys = Arc::clone(self);
        let kid = kid.map(str::to_owned);
        let outcome = self
            .gate
            .refresh(Cooldown::Respect, move || async move {
                keys.refresh_now(0, kid.as_deref()).await
            })
            .await;
        match outcome {
            Outcome::Refreshed => Ok(()),
            Outcome::CoolingDown { last_failed: false } => {
                metrics::counter!("jwtguard_unknown_kid_refetch_suppressed_total").increment(1);
                Err(unknown)
            }
            Outcome::Failed(error) if error.kind() == ErrorKind::Misconfigured => {
                Err(error.duplicate())
            }
            Outcome::Failed(_) | Outcome::CoolingDown { last_failed: true } => Err(Error::new(
                ErrorKind::KeysUnavailable,
                "unknown kid and the key set can't be refreshed",
            )),
        }
    }

    /// A refresh now, joining the one in flight if there is one (an explicit refresh, or the
    /// background task), with `retries` extra attempts.
    pub(crate) async fn refresh(self: &Arc<Self>, retries: u32) -> Result<(), Error> {
        if self.jwks_uri().is_none() {
            return Ok(()); // inline keys: nothing to fetch
        }
        let keys = Arc::clone(self);
        let outcome = self
            .gate
            .refresh(Cooldown::Ignore, move || async move {
                keys.refresh_now(retries, None).await
            })
            .await;
        match outcome {
            Outcome::Refreshed | Outcome::CoolingDown { .. } => Ok(()),
            Outcome::Failed(error) => Err(error.duplicate()),
        }
    }

    fn check_freshness(self: &Arc<Self>, state: &KeyState) -> Result<(), Error> {
        if matches!(state.max_age, Duration::MAX) {
            return Ok(());
        }
        let now = self.settings.clock.now();
        let age = now.duration_since(state.fetched_at).unwrap_or_default();
        if age
            > state
                .max_age
                .saturating_add(self.settings.policy.stale_limit)
        {
            self.start_background_refresh(now);
            return Err(Error::new(
                ErrorKind::KeysUnavailable,
                "the key set is past its stale limit and can't be refreshed",
            ));
        }
        if age >= self.settings.policy.refresh_at(state.max_age) {
            self.start_background_refresh(now);
        }
        Ok(())
    }

    /// Starts one refresh in its own task unless one was started less than a cooldown ago.
    fn start_background_refresh(self: &Arc<Self>, now: SystemTime) {
        let now_ms = millis(now);
        let next = self.next_ahead_ms.load(Ordering::Relaxed);
        if now_ms < next {
            return;
        }
        let cooldown = u64::try_from(self.settings.policy.unknown_kid_cooldown.as_millis())
            .unwrap_or(u64::MAX);
        if self
            .next_ahead_ms
            .compare_exchange(
                next,
                now_ms.saturating_add(cooldown.max(1)),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return;
        }
        let keys = Arc::clone(self);
        let retries = self.settings.policy.retries;
        // Without a runtime (a program polling `validate` by hand) the keys stay as they are;
        // they are still served up to their stale limit.
        self.gate
            .start_in_background(move || async move { keys.refresh_now(retries, None).await });
    }

    /// One fetch: through the breaker, the shared cache and its lock, then the IdP with
    /// `retries` extra attempts; discovery runs again after repeated failures. Called through
    /// the refresh gate only (single flight), and once by [`fetched`](Self::fetched) before
    /// the keys are shared. With `wanted_kid` (an unknown `kid` caused it), a document from
    /// the shared cache is taken only if it holds that `kid`.
    async fn refresh_now(&self, retries: u32, wanted_kid: Option<&str>) -> Result<(), Error> {
        let started = self.settings.clock.now();
        let result = if let Some(attempt) = self.breaker.allow(started) {
            // A cancelled attempt must not keep the breaker's trial taken.
            let guard = Abandon(&self.breaker, attempt);
            let result = self.refresh_through_cache(retries, wanted_kid).await;
            std::mem::forget(guard);
            self.breaker
                .record(attempt, result.is_ok(), self.settings.clock.now());
            result
        } else {
            Err(Error::new(
                ErrorKind::KeysUnavailable,
                "the circuit breaker is open: the IdP failed repeatedly",
            ))
        };
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("jwtguard_key_refreshes_total", "outcome" => outcome).increment(1);
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        history.last_attempt = Some(started);
        match &result {
            Ok(()) => {
                history.last_success = Some(self.settings.clock.now());
                history.last_error = None;
            }
            Err(err) => {
                tracing::warn!(issuer = %self.label, error = %err, "key refresh failed");
                history.last_error = Some(err.to_string());
            }
        }
        result
    }

    async fn refresh_through_cache(
        &self,
        retries: u32,
        wanted_kid: Option<&str>,
    ) -> Result<(), Error> {
        // A failed rediscovery keeps the known JWKS location: the keys may still be there, or
        // in the shared cache.
        if self.breaker.consecutive_failures() >= self.settings.policy.rediscover_after
            && let Err(err) = self.rediscover().await
        {
            tracing::warn!(error = %err, "rediscovery failed; keeping the known JWKS location");
        }
        let Some(uri) = self.jwks_uri() else {
            return Ok(());
        };
        let known = millis(self.state.load().fetched_at);
        let key = cache_key(uri.as_str());
        if let Some(entry) = self.cached(&uri).await
            && self.newer_and_wanted(&entry, known, wanted_kid)
            && fresh_until(&entry) > self.settings.clock.now()
        {
            return self.install_cached(&entry);
        }
        // `Some` when this instance fetches: with the lock's guard, or without one when the
        // cache could not be asked.
        let lock = match self.settings.cache.try_lock(&key, FETCH_LOCK_TTL).await {
            Ok(Some(token)) => Some(Some(HeldLock::new(&self.settings.cache, &key, token))),
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(error = %err, "key cache lock failed; fetching directly");
                Some(None)
            }
        };
        let locked = lock.is_some();
        if !locked {
            // Counted in polls, not by the clock: a test clock or a clock step must not make
            // the wait endless.
            for _ in 0..FETCH_LOCK_TTL.as_millis() / FETCH_LOCK_POLL.as_millis() {
                tokio::time::sleep(FETCH_LOCK_POLL).await;
                if let Some(entry) = self.cached(&uri).await
                    && entry.fetched_at_ms > known
                {
                    // The other instance is done: its document serves unless it lacks the
                    // wanted `kid`, and then the IdP is asked at once.
                    if self.newer_and_wanted(&entry, known, wanted_kid) {
                        return self.install_cached(&entry);
                    }
                    break;
                }
            }
        }
        // Another instance may have finished between our first look and taking the lock.
        let newer = if locked {
            self.cached(&uri)
                .await
                .filter(|entry| self.newer_and_wanted(entry, known, wanted_kid))
        } else {
            None
        };
        let result = match newer {
            Some(entry) => self.install_cached(&entry),
            None => self.fetch(&uri, retries).await,
        };
        if let Some(Some(held)) = lock {
            held.release().await;
        }
        result
    }

    /// Whether a document from the shared cache may stand in for a fetch: newer than the keys
    /// in use (`known`, Unix ms) and, when an unknown `kid` caused the refresh, holding that
    /// `kid`. (Else the refresh would be "satisfied" by a document that can't verify the
    /// token, and start the cooldown with a 401 instead of fetching.)
    fn newer_and_wanted(&self, entry: &CachedJwks, known: u64, wanted_kid: Option<&str>) -> bool {
        entry.fetched_at_ms > known
            && wanted_kid.is_none_or(|kid| {
                KeySet::from_fetched_jwks(entry.document.as_bytes(), &self.settings.algorithms)
                    .is_ok_and(|set| set.contains_kid(kid))
            })
    }

    async fn rediscover(&self) -> Result<(), Error> {
        let issuer = match &*self.origin.lock().unwrap_or_else(PoisonError::into_inner) {
            Origin::Discovered { issuer, .. } => issuer.clone(),
            _ => return Ok(()),
        };
        tracing::info!(%issuer, "running discovery again after repeated failures");
        let (_, jwks_uri) = discovery::discover(&self.settings.fetcher, &issuer).await?;
        *self.origin.lock().unwrap_or_else(PoisonError::into_inner) =
            Origin::Discovered { issuer, jwks_uri };
        Ok(())
    }

    async fn fetch(&self, uri: &Url, retries: u32) -> Result<(), Error> {
        let current = self.state.load_full();
        let mut attempt = 0;
        loop {
            let result = self.fetch_once(uri, &current).await;
            match result {
                Err(err) if err.kind() == ErrorKind::KeysUnavailable && attempt < retries => {
                    attempt += 1;
                    tokio::time::sleep(self.settings.policy.backoff_for(attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn fetch_once(&self, uri: &Url, current: &KeyState) -> Result<(), Error> {
        let etag = current.document.as_ref().and(current.etag.as_deref());
        let fetched = self.settings.fetcher.get(uri, etag).await?;
        let now = self.settings.clock.now();
        let max_age = self
            .settings
            .policy
            .max_age(fetched.cache_control.as_deref());
        let (document, etag) = match (fetched.status, &current.document) {
            (304, Some(document)) => (Arc::clone(document), current.etag.clone()),
            (200..=299, _) => {
                let text = String::from_utf8(fetched.body).map_err(|_| {
                    Error::new(
                        ErrorKind::Fetch,
                        format!("the key set at {uri} is not UTF-8"),
                    )
                })?;
                (Arc::from(text), fetched.etag)
            }
            (status, _) => {
                return Err(Error::new(
                    ErrorKind::Fetch,
                    format!("GET {uri} answered {status}"),
                ));
            }
        };
        let mut entry = CachedJwks {
            document: document.to_string(),
            fetched_at_ms: millis(now),
            max_age_secs: max_age.as_secs(),
            etag,
            mac: None,
        };
        self.settings
            .seal
            .seal(&cache_key(uri.as_str()), &mut entry);
        if !self.install(&entry, Some(document))? {
            // Older than the keys in use (a clock step): nothing to share.
            return Ok(());
        }
        let ttl = max_age.saturating_add(self.settings.policy.stale_limit);
        if let Err(err) = self
            .settings
            .cache
            .put(&cache_key(uri.as_str()), entry, ttl)
            .await
        {
            tracing::warn!(error = %err, "storing the key set in the cache failed");
        }
        Ok(())
    }

    /// The shared cache's document for `uri`, held within bounds: the cache is a trust anchor
    /// (who can write to it can add keys), and a skewed instance or a forged entry must not
    /// make a key set that never goes stale. An entry fetched more than [`CLOCK_SKEW`] in the
    /// future is not taken (taken as "now", it would be fresh again at every refresh), a
    /// smaller skew counts as now, and the max age is held within the policy
    /// ([`RefreshPolicy::bound_max_age`]).
    async fn cached(&self, uri: &Url) -> Option<Arc<CachedJwks>> {
        let key = cache_key(uri.as_str());
        match self.settings.cache.get(&key).await {
            Ok(Some(entry)) if !self.settings.seal.holds(&key, &entry) => {
                tracing::warn!(issuer = %self.label, "a cached key set without a valid seal is ignored");
                None
            }
            Ok(Some(entry))
                if entry.fetched_at_ms
                    > millis(self.settings.clock.now()).saturating_add(CLOCK_SKEW_MS) =>
            {
                tracing::warn!(issuer = %self.label, "a cached key set from the future is ignored");
                None
            }
            Ok(entry) => entry.map(|mut entry| {
                let now = millis(self.settings.clock.now());
                let max_age = (self.settings.policy)
                    .bound_max_age(Duration::from_secs(entry.max_age_secs))
                    .as_secs();
                // Copied only when a bound applies: the usual entry is handed on as it is.
                if entry.fetched_at_ms > now || entry.max_age_secs != max_age {
                    let bounded = Arc::make_mut(&mut entry);
                    bounded.fetched_at_ms = bounded.fetched_at_ms.min(now);
                    bounded.max_age_secs = max_age;
                }
                entry
            }),
            Err(err) => {
                tracing::warn!(error = %err, "reading the key cache failed; using the IdP");
                None
            }
        }
    }

    fn install_cached(&self, entry: &CachedJwks) -> Result<(), Error> {
        self.install(entry, None).map(drop)
    }

    /// Parses `entry` into a key set and swaps it in whole; an unusable document keeps the
    /// current set. An unchanged document (a `304`, say) keeps the very same set, so that what
    /// was verified with it (the token cache) stays valid.
    ///
    /// Monotonic: a document fetched before the one in use is refused (compare-and-swap on
    /// `fetched_at`), so that a slow refresh can never put back a key set that a rotation has
    /// replaced. Refusing is not a failure: the keys in use are newer. Returns whether the
    /// document was swapped in.
    fn install(&self, entry: &CachedJwks, document: Option<Arc<str>>) -> Result<bool, Error> {
        let fetched_at = UNIX_EPOCH + Duration::from_millis(entry.fetched_at_ms);
        let mut current = self.state.load_full();
        let set = if current.document.as_deref() == Some(entry.document.as_str()) {
            Arc::clone(&current.set)
        } else {
            let mut set =
                KeySet::from_fetched_jwks(entry.document.as_bytes(), &self.settings.algorithms)?;
            if set.is_empty() {
                return Err(Error::new(
                    ErrorKind::Fetch,
                    format!("the key set of {} holds no usable key", self.label),
                ));
            }
            set.extend_with(&self.settings.secrets);
            Arc::new(set)
        };
        let keys = set.len();
        let next = Arc::new(KeyState {
            set,
            fetched_at,
            max_age: Duration::from_secs(entry.max_age_secs),
            etag: entry.etag.clone(),
            document: Some(document.unwrap_or_else(|| Arc::from(entry.document.as_str()))),
        });
        loop {
            if current.document.is_some() && fetched_at < current.fetched_at {
                tracing::debug!(issuer = %self.label, "an older key set is not swapped in");
                return Ok(false);
            }
            let previous = self.state.compare_and_swap(&current, Arc::clone(&next));
            if Arc::ptr_eq(&previous, &current) {
                break;
            }
            current = arc_swap::Guard::into_inner(previous);
        }
        metrics::gauge!("jwtguard_keys_loaded", "issuer" => self.label.clone()).set(keys as f64);
        tracing::info!(issuer = %self.label, keys, "key set swapped in");
        Ok(true)
    }

    pub(crate) fn history(&self) -> History {
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn breaker_state(&self) -> BreakerState {
        self.breaker.state(self.settings.clock.now())
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.settings.clock
    }

    pub(crate) fn retries(&self) -> u32 {
        self.settings.policy.retries
    }

    pub(crate) fn stale_limit(&self) -> Duration {
        self.settings.policy.stale_limit
    }
}

/// The shared cache's fetch lock, held by this instance: released by its own token when the
/// fetch ends, or, when the refresh is dropped before that, by a task of its own.
struct HeldLock {
    cache: Arc<dyn KeyCache>,
    key: String,
    token: Option<LockToken>,
}

impl HeldLock {
    fn new(cache: &Arc<dyn KeyCache>, key: &str, token: LockToken) -> Self {
        Self {
            cache: Arc::clone(cache),
            key: key.to_owned(),
            token: Some(token),
        }
    }

    async fn release(mut self) {
        if let Some(token) = self.token.take()
            && let Err(err) = self.cache.unlock(&self.key, token).await
        {
            tracing::warn!(error = %err, "key cache unlock failed");
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let cache = Arc::clone(&self.cache);
            let key = std::mem::take(&mut self.key);
            runtime.spawn(async move {
                let _ = cache.unlock(&key, token).await;
            });
        }
    }
}

/// Gives the breaker's attempt back if a refresh is dropped before it ends.
struct Abandon<'a>(&'a Breaker, Attempt);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        self.0.abandon(self.1);
    }
}

/// A time no key set lives to see: the end of year 9999.
fn far_future() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(253_402_300_799)
}

/// When a cached document stops being fresh (saturating: a corrupt entry can't overflow).
fn fresh_until(entry: &CachedJwks) -> SystemTime {
    let fresh_for = Duration::from_millis(entry.fetched_at_ms)
        .saturating_add(Duration::from_secs(entry.max_age_secs));
    UNIX_EPOCH.checked_add(fresh_for).unwrap_or_else(far_future)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::keys::cache::MemoryKeyCache;
    use jwtguard_testkit::{TestKey, jwks};

    fn keys() -> IssuerKeys {
        let settings = KeySettings {
            algorithms: Algorithm::DEFAULT_ALLOWED.into(),
            secrets: Arc::new(KeySet::new()),
            policy: RefreshPolicy::default(),
            fetcher: Fetcher::new(None, Duration::from_secs(1), 1024, false).unwrap(),
            cache: Arc::new(MemoryKeyCache::new()),
            seal: EntrySeal::default(),
            clock: Arc::new(SystemClock),
        };
        let empty = KeyState::empty();
        let origin = Origin::Jwks(Url::parse("https://idp.example/jwks").unwrap());
        IssuerKeys::new("https://idp.example".into(), origin, empty, settings)
    }

    fn entry(key: &TestKey, fetched_at_ms: u64) -> CachedJwks {
        CachedJwks {
            document: jwks([key]).to_string(),
            fetched_at_ms,
            max_age_secs: 600,
            etag: None,
            mac: None,
        }
    }

    /// A slow refresh that read the document before a rotation must not put it back over
    /// the newer one: a removed key would be trusted again.
    #[test]
    fn an_older_document_never_replaces_a_newer_one() {
        let keys = keys();
        let (before, after) = (TestKey::ec_p256("before"), TestKey::ec_p256("after"));
        keys.install_cached(&entry(&after, 2_000_000)).unwrap();
        keys.install_cached(&entry(&before, 1_000_000)).unwrap();
        let state = keys.state();
        assert!(state.set.contains_kid("after"));
        assert!(!state.set.contains_kid("before"));
        assert_eq!(state.fetched_at, UNIX_EPOCH + Duration::from_secs(2_000));
    }
}
