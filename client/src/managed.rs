//! One managed token: the current token in an arc-swap, renewed ahead of expiry by one
//! token request however many callers ask, optionally shared with other instances.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use jwtguard_core::provider::SecretString;
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

use crate::dpop::DpopKey;
use crate::error::{Error, ErrorKind};
use crate::policy::random_unit;
use crate::shared::{SharedToken, SharedTokens};
use crate::source::{Obtained, TokenSource};
use crate::token::AccessToken;

/// The token being handed out, and when things happen to it.
struct Current {
    token: Arc<AccessToken>,
    /// From here on a renewal starts (and the current token is still handed out).
    renew_at: Instant,
    /// From here on callers wait for a new token, if one can be had.
    hand_out_until: Instant,
    /// From here on the token is never handed out.
    expires_at: Instant,
}

type Outcome = Option<Result<Arc<Current>, Error>>;

/// After a refusal (`invalid_client`, `invalid_grant`, ...), no token request for this long:
/// 5 s. Credentials that were revoked do not turn every call into a request.
const REFUSAL_PAUSE: Duration = Duration::from_secs(5);
/// After a renewal forced by a 401, no other one for this long: 5 s. An API that refuses every
/// token (a wrong audience, say) does not turn every call into a token request.
const FORCED_PAUSE: Duration = Duration::from_secs(5);
/// The least time between two background renewals of one token: 1 s.
const RENEWAL_SPACING: Duration = Duration::from_secs(1);

/// How long a renewal may take, and how long instances wait for each other.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// The longest one token request can take, retries included; the shared lease lasts this
    /// long.
    pub(crate) fetch: Duration,
    /// How long an instance waits for the lease holder's token.
    pub(crate) shared_wait: Duration,
}

impl Timing {
    /// After this long a renewal is given up on (its task may sit on a runtime nobody drives).
    fn deadline(&self) -> Duration {
        self.fetch
            .saturating_mul(2)
            .saturating_add(self.shared_wait)
            .saturating_add(Duration::from_secs(1))
    }
}

/// `at + after`, or `None` past the end of time.
fn later(at: Instant, after: Duration) -> Option<Instant> {
    at.checked_add(after)
}

/// A renewal in flight.
struct Flight {
    /// Which renewal it is: only the flight in the slot applies its outcome.
    id: u64,
    receiver: watch::Receiver<Outcome>,
    started: Instant,
    task: Option<AbortHandle>,
}

pub(crate) struct Inner {
    /// What identifies the token in logs and metrics: the client id.
    label: String,
    /// Where other instances find it, when tokens are shared.
    shared_key: String,
    source: TokenSource,
    current: ArcSwapOption<Current>,
    /// The renewal in flight, if any: callers wait on its outcome.
    flight: Mutex<Option<Flight>>,
    /// The id of the next flight.
    flights: std::sync::atomic::AtomicU64,
    /// Woken when a new token is installed (the background task rereads its renewal point).
    renewed: Arc<Notify>,
    /// The last refusal, and when it came.
    refused: Mutex<Option<(Instant, Error)>>,
    /// When the last renewal forced by a 401 ended.
    forced_at: Mutex<Option<Instant>>,
    /// The refresh token to renew with (refresh-token grants); replaced by a rotated one
    /// before the new access token is handed out.
    refresh_token: Mutex<Option<SecretString>>,
    shared: Option<Arc<SharedTokens>>,
    timing: Timing,
}

/// A token for outgoing calls, kept current. Cheap to clone (the clones share it).
///
/// [`get`](Self::get) is an atomic load while the token is fresh; a renewal starts
/// [`lead`](crate::RenewalPolicy) before expiry and runs once, however many callers ask.
/// While the token endpoint fails, the current token is served until it expires; then
/// `get` fails with the endpoint's error.
#[derive(Clone)]
pub struct ManagedToken {
    inner: Arc<Inner>,
    background: Option<Arc<Background>>,
}

/// Stops the background renewal when the last handle of its token is dropped.
struct Background(AbortHandle);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl fmt::Debug for ManagedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedToken")
            .field("client", &self.inner.label)
            .field("source", &self.inner.source)
            .field("background", &self.background.is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The instant at which wall-clock time `at` comes (now, if it has passed).
fn instant_at(at: SystemTime, now: SystemTime, now_instant: Instant) -> Instant {
    match at.duration_since(now) {
        // A year at most: far enough for any token, and no overflow.
        Ok(ahead) => now_instant + ahead.min(Duration::from_secs(365 * 24 * 3600)),
        Err(_) => now_instant,
    }
}

impl ManagedToken {
    pub(crate) fn new(
        source: TokenSource,
        shared_key: String,
        refresh_token: Option<SecretString>,
        shared: Option<Arc<SharedTokens>>,
        timing: Timing,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                label: source.client_id().to_owned(),
                shared_key,
                source,
                current: ArcSwapOption::empty(),
                flight: Mutex::new(None),
                flights: std::sync::atomic::AtomicU64::new(0),
                renewed: Arc::new(Notify::new()),
                refused: Mutex::new(None),
                forced_at: Mutex::new(None),
                refresh_token: Mutex::new(refresh_token),
                shared,
                timing,
            }),
            background: None,
        }
    }

    /// The same token, renewed in the background ahead of expiry (on the current tokio
    /// runtime) until the last handle is dropped or [`stop_background`] is called.
    ///
    /// [`stop_background`]: Self::stop_background
    pub(crate) fn with_background(mut self) -> Self {
        let weak = Arc::downgrade(&self.inner);
        let renewed = Arc::clone(&self.inner.renewed);
        let task = tokio::spawn(background(weak, renewed));
        self.background = Some(Arc::new(Background(task.abort_handle())));
        self
    }

    /// Stops the background renewal of this token, if it runs (for every handle).
    pub fn stop_background(&self) {
        if let Some(background) = &self.background {
            background.0.abort();
        }
    }

    /// A token to send: the current one while it is fresh (a load, no lock), else a new one
    /// (one token request, shared by every caller waiting for it).
    ///
    /// # Errors
    /// The token endpoint's error when no token can be had and the last one has expired:
    /// [`Error::is_unavailable`] for an endpoint that is down, [`Error::is_invalid_client`]
    /// and the other RFC 6749 codes for a refusal.
    pub async fn get(&self) -> Result<Arc<AccessToken>, Error> {
        let now = Instant::now();
        if let Some(current) = self.inner.current.load().as_ref() {
            if now < current.renew_at {
                return Ok(Arc::clone(&current.token));
            }
            if now < current.hand_out_until {
                if self.inner.may_try() {
                    drop(self.inner.flight());
                }
                return Ok(Arc::clone(&current.token));
            }
            if now < current.expires_at && !self.inner.may_try() {
                return Ok(Arc::clone(&current.token));
            }
        }
        self.inner.wait(None).await
    }

    /// The current token if it may be handed out now, without any I/O and without starting a
    /// renewal; `None` when there is none yet or it is due for a new one.
    pub fn cached(&self) -> Option<Arc<AccessToken>> {
        let current = self.inner.current.load();
        let current = current.as_ref()?;
        (Instant::now() < current.hand_out_until).then(|| Arc::clone(&current.token))
    }

    /// A new token in place of `rejected`, which an API refused (a 401): when `rejected` is
    /// still the current token, one renewal runs (shared by every caller that reports the same
    /// token); when it was already replaced, the current token comes back at once.
    pub async fn renew_rejected(&self, rejected: &AccessToken) -> Result<Arc<AccessToken>, Error> {
        let now = Instant::now();
        if let Some(current) = self.inner.current.load().as_ref()
            && now < current.expires_at
        {
            let replaced = !current.token.is(rejected.expose());
            let recently_forced =
                lock(&self.inner.forced_at).is_some_and(|at| now < at + FORCED_PAUSE);
            if replaced || recently_forced {
                return Ok(Arc::clone(&current.token));
            }
        }
        metrics::counter!(
            "jwtguard_client_forced_renewals_total",
            "client" => self.inner.label.clone()
        )
        .increment(1);
        self.inner.wait(Some(rejected.expose())).await
    }

    /// The refresh token the next renewal will present (the last one the server rotated to),
    /// for a refresh-token grant: to keep it across restarts. `None` for client credentials.
    pub fn refresh_token(&self) -> Option<SecretString> {
        lock(&self.inner.refresh_token).clone()
    }

    pub(crate) fn same_as(&self, other: &ManagedToken) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The key this token is bound to (DPoP), when its manager has one: the outgoing
    /// middleware signs each call's proof with it.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.inner.source.dpop_key()
    }

    /// How many token requests this token has sent so far (retries included; none for a
    /// token another instance shared).
    pub fn token_requests(&self) -> u64 {
        self.inner.source.requests()
    }

    /// Renews now, whatever the current token's age (one request, shared with any renewal in
    /// flight; a renewal that ends while this call starts counts).
    pub async fn renew(&self) -> Result<Arc<AccessToken>, Error> {
        let current = self
            .inner
            .current
            .load()
            .as_ref()
            .map(|current| current.token.expose().to_owned());
        self.inner.wait(current.as_deref()).await
    }
}

impl Inner {
    /// Whether a token request may be tried now: not while the breaker is open.
    fn may_try(&self) -> bool {
        self.source.may_try()
    }

    /// The renewal in flight, or a new one.
    fn flight(self: &Arc<Self>) -> watch::Receiver<Outcome> {
        self.flight_for(None)
    }

    /// The renewal in flight, or a new one if one is still needed: the token is due (no
    /// `rejected`), or `rejected` is still the current token. A renewal that ended just
    /// before this call took the lock has already replaced the token: its result is handed
    /// back without another request.
    fn flight_for(self: &Arc<Self>, rejected: Option<String>) -> watch::Receiver<Outcome> {
        let now = Instant::now();
        let mut slot = lock(&self.flight);
        if let Some(running) = slot.as_ref() {
            let alive = running.receiver.has_changed().is_ok();
            let in_time =
                later(running.started, self.timing.deadline()).is_none_or(|end| now < end);
            if alive && in_time {
                return running.receiver.clone();
            }
            // Given up: its task never runs on (a runtime nobody drives, say), so that two
            // renewals never overlap.
            if let Some(task) = &running.task {
                task.abort();
            }
            *slot = None;
        }
        if let Some((at, refusal)) = lock(&self.refused).as_ref()
            && later(*at, REFUSAL_PAUSE).is_none_or(|end| now < end)
        {
            return settled(Err(refusal.clone()));
        }
        if let Some(current) = self.current.load_full()
            && now < current.expires_at
        {
            let still_needed = match &rejected {
                None => now >= current.renew_at,
                Some(value) => current.token.is(value),
            };
            if !still_needed {
                return settled(Ok(current));
            }
        }
        if !self.may_try() {
            // The breaker is open, or the server asked to wait: no task, no request.
            return settled(Err(self.source.not_now()));
        }
        let id = self
            .flights
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (sender, receiver) = watch::channel(None);
        *slot = Some(Flight {
            id,
            receiver: receiver.clone(),
            started: now,
            task: None,
        });
        drop(slot);
        let inner = Arc::clone(self);
        let task = tokio::spawn(async move {
            let forced = rejected.is_some();
            let outcome = inner.renew_once(rejected.as_deref()).await;
            let mut slot = lock(&inner.flight);
            // A flight given up on applies nothing: another one has taken its place.
            if slot.as_ref().is_some_and(|flight| flight.id == id) {
                match &outcome {
                    Ok((current, rotated)) => {
                        if let Some(rotated) = rotated {
                            *lock(&inner.refresh_token) = Some(rotated.clone());
                        }
                        inner.current.store(Some(Arc::clone(current)));
                        inner.renewed.notify_waiters();
                        if forced {
                            *lock(&inner.forced_at) = Some(Instant::now());
                        }
                    }
                    Err(err) if !err.is_retryable() => {
                        *lock(&inner.refused) = Some((Instant::now(), err.clone()));
                    }
                    Err(_) => {}
                }
                *slot = None;
            }
            drop(slot);
            let _ = sender.send(Some(outcome.map(|(current, _)| current)));
        });
        if let Some(flight) = lock(&self.flight).as_mut()
            && flight.id == id
        {
            flight.task = Some(task.abort_handle());
        }
        receiver
    }

    /// Waits for a renewal (joining the one in flight) and hands out its token; when it
    /// fails, the current token while it has not expired (unless it is `rejected`).
    async fn wait(self: &Arc<Self>, rejected: Option<&str>) -> Result<Arc<AccessToken>, Error> {
        let mut receiver = self.flight_for(rejected.map(str::to_owned));
        let waited =
            tokio::time::timeout(self.timing.deadline(), receiver.wait_for(Option::is_some)).await;
        let outcome = match waited {
            Ok(Ok(outcome)) => outcome.clone().unwrap_or_else(|| Err(cancelled())),
            Ok(Err(_)) | Err(_) => Err(cancelled()),
        };
        match outcome {
            Ok(current) => Ok(Arc::clone(&current.token)),
            Err(err) => {
                if let Some(current) = self.current.load().as_ref()
                    && Instant::now() < current.expires_at
                    && rejected.is_none_or(|value| !current.token.is(value))
                {
                    return Ok(Arc::clone(&current.token));
                }
                Err(err)
            }
        }
    }

    /// One renewal: through the shared store when there is one, else from the endpoint.
    /// One renewal; the new token, and the refresh token it was rotated to, if any.
    async fn renew_once(
        &self,
        rejected: Option<&str>,
    ) -> Result<(Arc<Current>, Option<SecretString>), Error> {
        let obtained = match &self.shared {
            Some(store) => self.through_store(store.as_ref(), rejected).await?,
            None => self.fetch().await?,
        };
        let current = self.install(&obtained);
        metrics::counter!("jwtguard_client_renewals_total", "client" => self.label.clone())
            .increment(1);
        // The Unix time of expiry: a dashboard shows the time left as `expiry - time()`.
        let expiry = obtained
            .token
            .expires_at()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        metrics::gauge!(
            "jwtguard_client_token_expiry_timestamp_seconds",
            "client" => self.label.clone()
        )
        .set(expiry.as_secs_f64());
        tracing::debug!(
            client = %self.label,
            lifetime_s = obtained.lifetime.as_secs(),
            "new access token"
        );
        Ok((current, obtained.refresh_token))
    }

    fn install(&self, obtained: &Obtained) -> Arc<Current> {
        let now = SystemTime::now();
        let now_instant = Instant::now();
        let schedule = self
            .source
            .renewal()
            .schedule(obtained.lifetime, random_unit());
        let from = obtained.token.obtained_at();
        Arc::new(Current {
            token: Arc::new(obtained.token.clone()),
            renew_at: instant_at(from + schedule.renew_after, now, now_instant),
            hand_out_until: instant_at(from + schedule.hand_out_until, now, now_instant),
            expires_at: instant_at(from + schedule.lifetime, now, now_instant),
        })
    }

    /// A token from the endpoint, presenting the current refresh token for a refresh grant
    /// (the flight that gets a rotated one installs it with the access token).
    async fn fetch(&self) -> Result<Obtained, Error> {
        let refresh_token = lock(&self.refresh_token).clone();
        self.source.obtain(refresh_token.as_ref()).await
    }

    /// Whether a token another instance stored may be taken: it is not the rejected one, and
    /// it is not yet due for renewal itself.
    fn adoptable(&self, token: &SharedToken, rejected: Option<&str>) -> bool {
        if rejected.is_some_and(|value| token.access_token.is(value)) {
            return false;
        }
        let lifetime = token.lifetime();
        let earliest = self.source.renewal().earliest_lead(lifetime);
        token.access_token.remaining_at(SystemTime::now()) > earliest
    }

    /// One renewal across instances: a fresh token another instance stored is taken; else
    /// the instance that wins the lease asks the endpoint and stores the token, and the others
    /// wait for it (as long as its request may take, then they try the lease once more, then ask
    /// themselves). A store that fails is
    /// logged and skipped: the caller never fails because of it.
    async fn through_store(
        &self,
        store: &SharedTokens,
        rejected: Option<&str>,
    ) -> Result<Obtained, Error> {
        let key = &self.shared_key;
        let skip = |err: Error| {
            metrics::counter!("jwtguard_client_shared_store_errors_total").increment(1);
            tracing::warn!(client = %self.label, error = %err, "token store failed; asking the endpoint");
        };
        let deadline = later(Instant::now(), self.timing.shared_wait);
        let mut pause = Duration::from_millis(10);
        loop {
            match store.load(key).await {
                Ok(Some(token)) if self.adoptable(&token, rejected) => return Ok(token.into()),
                Ok(_) => {}
                Err(err) => {
                    skip(err);
                    return self.fetch().await;
                }
            }
            // The lease: taken when no instance holds it, which includes one whose holder
            // gave up or failed without storing a token.
            match store.try_lease(key, self.timing.fetch).await {
                Ok(Some(lease)) => {
                    let fetched = self.fetch_and_share(store).await;
                    if let Err(err) = store.release(key, lease).await {
                        skip(err);
                    }
                    return fetched;
                }
                Ok(None) => {}
                Err(err) => {
                    skip(err);
                    return self.fetch().await;
                }
            }
            if deadline.is_some_and(|end| Instant::now() >= end) {
                // The holder takes too long: ask the endpoint, and share what comes.
                return self.fetch_and_share(store).await;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// A token from the endpoint, stored for the other instances (best effort).
    async fn fetch_and_share(&self, store: &SharedTokens) -> Result<Obtained, Error> {
        let fetched = self.fetch().await;
        if let Ok(obtained) = &fetched {
            let token = SharedToken::from(obtained);
            let ttl = token.access_token.remaining_at(SystemTime::now());
            if let Err(err) = store.save(&self.shared_key, &token, ttl).await {
                metrics::counter!("jwtguard_client_shared_store_errors_total").increment(1);
                tracing::warn!(client = %self.label, error = %err, "could not share the token");
            }
        }
        fetched
    }
}

fn cancelled() -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "the token renewal did not finish (its runtime stopped, or it ran past its deadline)",
    )
}

/// Renews the token ahead of expiry until its last handle is gone. `renewed` wakes it when a
/// token is installed by anyone (its renewal point may have moved earlier).
async fn background(token: Weak<Inner>, renewed: Arc<Notify>) {
    let mut last: Option<Instant> = None;
    loop {
        let notified = renewed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        let (due, deadline) = {
            let Some(inner) = token.upgrade() else { return };
            let due = inner
                .current
                .load()
                .as_ref()
                .map(|current| current.renew_at);
            (due, inner.timing.deadline())
        };
        // Never two renewals within a second, however short the token's life.
        let spaced = last.map(|last| later(last, RENEWAL_SPACING).unwrap_or(last));
        if let Some(at) = due.max(spaced)
            && Instant::now() < at
            && tokio::time::timeout_at(at.into(), notified).await.is_ok()
        {
            continue;
        }
        last = Some(Instant::now());
        let mut receiver = {
            let Some(inner) = token.upgrade() else { return };
            inner.flight()
        };
        let failed = match tokio::time::timeout(deadline, receiver.wait_for(Option::is_some)).await
        {
            Ok(Ok(outcome)) => !matches!(*outcome, Some(Ok(_))),
            Ok(Err(_)) | Err(_) => true,
        };
        if failed {
            // The breaker and the pauses space the tries out; this keeps the loop from
            // spinning.
            tokio::time::sleep(RENEWAL_SPACING).await;
        }
    }
}

/// A receiver that already holds `outcome`: waiters see it at once (the value is there before
/// the sender goes).
fn settled(outcome: Result<Arc<Current>, Error>) -> watch::Receiver<Outcome> {
    let (_done, receiver) = watch::channel(Some(outcome));
    receiver
}
