//! The validator: one value that holds the configuration and the live key sets of the trusted
//! issuers, and runs the validation pipeline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use url::Url;

use crate::access::AccessPaths;
use crate::algorithm::Algorithm;
use crate::builder::ValidatorBuilder;
use crate::claims::scan::scan_claims;
use crate::claims::{ClaimsPolicy, Field, check_raw};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::extract::{RequestView, TokenSource, find_token};
use crate::header_cache::HeaderCache;
use crate::issuer::IssuerTemplate;
use crate::json;
use crate::jws::CompactJws;
use crate::keys::KeySet;
use crate::keys::source::KeySource;
use crate::response::ResponseOptions;
use crate::status::{IssuerStatus, ValidatorStatus};
use crate::token::VerifiedToken;
use crate::token_cache::{CachedToken, TokenCache};

/// Why [`Validator::verify_now`] failed.
enum Failure {
    /// For good.
    Final(Error),
    /// The `kid` is not in the source's key set: a refresh may bring it.
    UnknownKey { source: usize, error: Error },
}

impl Failure {
    fn into_error(self) -> Error {
        match self {
            Failure::Final(error) | Failure::UnknownKey { error, .. } => error,
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Final(error)
    }
}

/// A boxed future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub(crate) type SyncCheck = Arc<dyn Fn(&VerifiedToken) -> Result<(), Error> + Send + Sync>;
pub(crate) type AsyncCheck =
    Arc<dyn Fn(VerifiedToken) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// Which `typ` header values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TypeCheck {
    /// `typ` absent, `JWT`, `at+jwt` or `application/at+jwt` (case-insensitive). The default.
    #[default]
    Lenient,
    /// RFC 9068 access tokens only: `at+jwt` or `application/at+jwt` (case-insensitive).
    AccessToken,
}

impl TypeCheck {
    fn accepts(self, typ: Option<&str>) -> bool {
        let is_at_jwt = |t: &str| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        };
        match (self, typ) {
            (Self::Lenient, None) => true,
            (Self::Lenient, Some(t)) => t.eq_ignore_ascii_case("JWT") || is_at_jwt(t),
            (Self::AccessToken, Some(t)) => is_at_jwt(t),
            (Self::AccessToken, None) => false,
        }
    }
}

pub(crate) struct Config {
    pub(crate) policy: ClaimsPolicy,
    pub(crate) algorithms: Arc<[Algorithm]>,
    pub(crate) max_token_size: usize,
    pub(crate) type_check: TypeCheck,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) access: Arc<AccessPaths>,
    pub(crate) sync_checks: Vec<SyncCheck>,
    pub(crate) async_checks: Vec<AsyncCheck>,
    pub(crate) response: ResponseOptions,
    pub(crate) token_sources: Vec<TokenSource>,
    pub(crate) token_cache: Option<TokenCache>,
    pub(crate) headers: HeaderCache,
}

/// Which tokens an issuer entry serves.
pub(crate) enum IssuerMatch {
    Exact(String),
    Template(IssuerTemplate),
}

pub(crate) struct IssuerEntry {
    pub(crate) matcher: IssuerMatch,
    pub(crate) source: Arc<KeySource>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) issuers: Vec<IssuerEntry>,
    pub(crate) background: Option<BackgroundRefresh>,
}

/// Validates access tokens for one or more issuers.
///
/// Build it once with [`Validator::builder`] and share it: it is cheap to clone (an `Arc`
/// inside), `Send + Sync`, and every clone sees the same live key sets. Readers load a key set
/// without a lock; a refresh builds a whole new set and swaps it in at once. Each key is bound
/// to the issuer whose key set it came from.
///
/// ```
/// # async fn run() -> Result<(), jwtguard_core::Error> {
/// let validator = jwtguard_core::Validator::builder()
///     .issuer("https://idp.example.com")
///     .audience("https://api.example.com")
///     .build()
///     .await?;
/// let token = validator.validate("eyJ...").await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

impl Validator {
    /// A builder with the defaults (see [`ValidatorBuilder`]).
    pub fn builder() -> ValidatorBuilder {
        ValidatorBuilder::default()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Runs the whole pipeline on a compact token, cheapest checks first: size and shape,
    /// header (`alg` allow-list, `crit`, `typ`), the issuer's key set chosen by `iss`, key
    /// lookup by `kid` (an unknown `kid` triggers at most one coalesced refresh per cooldown),
    /// signature, registered claims, then the user's checks (synchronous first, then
    /// asynchronous).
    ///
    /// A token whose key can't be known because the IdP is unreachable fails with
    /// [`ErrorKind::KeysUnavailable`] (503), not as an invalid token.
    pub async fn validate(&self, token: &str) -> Result<VerifiedToken, Error> {
        let result = self.run(token).await;
        // Literal labels: the counter's key is then static and costs no allocation.
        let counter = match &result {
            Ok(_) => metrics::counter!("jwtguard_validations_total", "outcome" => "valid"),
            Err(err) if err.is_unavailable() => {
                metrics::counter!("jwtguard_validations_total", "outcome" => "unavailable")
            }
            Err(_) => metrics::counter!("jwtguard_validations_total", "outcome" => "invalid"),
        };
        counter.increment(1);
        result
    }

    async fn run(&self, token: &str) -> Result<VerifiedToken, Error> {
        let config = &self.inner.config;
        // A token over the size cap is refused by the full check before anything is hashed.
        let cache = (config.token_cache.as_ref())
            .filter(|_| token.len() <= config.max_token_size)
            .map(|cache| (cache, TokenCache::key(token)));
        if let Some((cache, key)) = &cache
            && let Some(hit) = cache.get(key)
        {
            if self.still_usable(&hit) {
                self.run_async_checks(&hit.token).await?;
                return Ok(hit.token.clone());
            }
            cache.forget(key);
        }
        let (verified, (source, key_set)) = self.verify(token).await?;
        for check in &config.sync_checks {
            check(&verified)?;
        }
        if let Some((cache, key)) = cache {
            cache.insert(
                key,
                &verified,
                config.clock.unix_seconds(),
                source,
                key_set,
                token.len(),
                config.policy.max_age,
            );
        }
        self.run_async_checks(&verified).await?;
        Ok(verified)
    }

    /// Whether a cached token may be served: before its end, and while the very key set that
    /// verified it is current and within its stale limit. Any change of keys sends the token
    /// through the full check again.
    fn still_usable(&self, hit: &CachedToken) -> bool {
        self.inner.config.clock.unix_seconds() < hit.usable_until
            && self.inner.issuers[hit.source]
                .source
                .usable_state()
                .is_ok_and(|state| Arc::ptr_eq(&hit.key_set, &state.set))
    }

    async fn run_async_checks(&self, token: &VerifiedToken) -> Result<(), Error> {
        for check in &self.inner.config.async_checks {
            check(token.clone()).await?;
        }
        Ok(())
    }

    /// Everything but the user's checks: returns the token, and which source verified it
    /// with which key set. Runs without waiting, except once after an unknown `kid`, for the
    /// refresh that may bring its key.
    async fn verify(&self, token: &str) -> Result<(VerifiedToken, (usize, Arc<KeySet>)), Error> {
        match self.verify_now(token) {
            Err(Failure::UnknownKey { source, error }) => {
                self.inner.issuers[source]
                    .source
                    .wait_for_unknown_kid(error)
                    .await?;
                self.verify_now(token).map_err(Failure::into_error)
            }
            other => other.map_err(Failure::into_error),
        }
    }

    /// The whole check of a token against the current key sets, without waiting.
    fn verify_now(&self, token: &str) -> Result<(VerifiedToken, (usize, Arc<KeySet>)), Failure> {
        let config = &self.inner.config;
        let jws = CompactJws::parse_with(
            token,
            config.max_token_size,
            &config.algorithms,
            Some(&config.headers),
        )?;
        if !config.type_check.accepts(jws.header().typ) {
            return Err(Error::new(ErrorKind::InvalidType, "typ is not accepted").into());
        }
        let decoded = jws.unverified();
        let scanned = scan_claims(&decoded.bytes, decoded.header_len, decoded.payload_end)?;
        let raw = scanned.raw(&decoded.bytes);
        let index = self.source_for(&raw.iss)?;
        let key_set = match self.inner.issuers[index].source.check_signature_now(&jws) {
            Err(error) if error.kind() == ErrorKind::UnknownKey => {
                return Err(Failure::UnknownKey {
                    source: index,
                    error,
                });
            }
            other => other?,
        };
        check_raw(raw, &config.policy, config.clock.unix_seconds(), |name| {
            json::has_member(decoded.payload(), name)
        })?;
        if !jws.header_known() {
            config.headers.remember(
                jws.encoded_header(),
                &decoded.bytes[..decoded.header_len],
                &decoded.header,
            );
        }
        let token = VerifiedToken::new(jws.into_decoded(), scanned, Arc::clone(&config.access));
        Ok((token, (index, key_set)))
    }

    /// The index of the key source of the token's (not yet verified) `iss`.
    fn source_for(&self, iss: &Field<&str>) -> Result<usize, Error> {
        let iss = match iss {
            Field::Present(iss) => iss,
            Field::Invalid(_) => {
                return Err(Error::new(ErrorKind::InvalidClaim, "iss is not a string"));
            }
            Field::Absent => return Err(Error::new(ErrorKind::MissingClaim, "iss is required")),
        };
        self.inner
            .issuers
            .iter()
            .position(|entry| match &entry.matcher {
                IssuerMatch::Exact(issuer) => issuer == iss,
                IssuerMatch::Template(template) => template.tenant_of(iss).is_some(),
            })
            .ok_or_else(|| Error::new(ErrorKind::InvalidIssuer, "iss is not a trusted issuer"))
    }

    /// Fetches every issuer's key set again (one attempt each, through the circuit breaker)
    /// and swaps each in whole. On failure the current sets stay, and the first error is
    /// returned. A no-op for inline keys.
    pub async fn refresh(&self) -> Result<(), Error> {
        let mut first_error = None;
        for entry in &self.inner.issuers {
            if let Err(err) = entry.source.refresh_now(0).await {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The current key set of the first issuer.
    pub fn key_set(&self) -> Arc<KeySet> {
        Arc::clone(&self.inner.issuers[0].source.state().set)
    }

    /// The first trusted issuer (or issuer template).
    pub fn issuer(&self) -> &str {
        match &self.inner.issuers[0].matcher {
            IssuerMatch::Exact(issuer) => issuer,
            IssuerMatch::Template(template) => template.as_str(),
        }
    }

    /// The JWKS location of the first issuer, when its keys are fetched.
    pub fn jwks_uri(&self) -> Option<Url> {
        self.inner.issuers[0].source.jwks_uri()
    }

    /// Finds the request's token in the configured [`TokenSource`]s (by default the
    /// `Authorization: Bearer` header). No token is [`ErrorKind::MissingToken`]; a token in
    /// two places is [`ErrorKind::InvalidRequest`].
    pub fn find_token<'r>(
        &self,
        request: &'r dyn RequestView,
    ) -> Result<std::borrow::Cow<'r, str>, Error> {
        find_token(&self.inner.config.token_sources, request)
    }

    /// Finds the request's token and validates it: what an adapter does for each request.
    pub async fn validate_request<R: RequestView>(
        &self,
        request: &R,
    ) -> Result<VerifiedToken, Error> {
        let token = self.find_token(request)?;
        self.validate(&token).await
    }

    /// How error responses are rendered by the adapters.
    pub fn response_options(&self) -> &ResponseOptions {
        &self.inner.config.response
    }

    /// The leeway on `exp`, `nbf` and `iat`.
    pub fn leeway(&self) -> Duration {
        self.inner.config.policy.leeway
    }

    /// For a health endpoint: per issuer, when the keys were fetched, how old they are, the
    /// last error, and the circuit breaker's state.
    pub fn status(&self) -> ValidatorStatus {
        let issuers = self
            .inner
            .issuers
            .iter()
            .map(|entry| {
                let source = &entry.source;
                let state = source.state();
                let now = source.clock().now();
                let fetched = source.jwks_uri().is_some() && state.document.is_some();
                let age = now.duration_since(state.fetched_at).unwrap_or_default();
                let history = source.history();
                IssuerStatus {
                    issuer: source.label.clone(),
                    jwks_uri: source.jwks_uri().map(String::from),
                    keys: state.set.len(),
                    fetched_at: fetched.then_some(state.fetched_at),
                    age: fetched.then_some(age),
                    max_age: fetched.then_some(state.max_age),
                    stale: fetched && age > state.max_age,
                    expired: fetched && age > state.max_age.saturating_add(source.stale_limit()),
                    last_attempt: history.last_attempt,
                    last_success: history.last_success,
                    last_error: history.last_error,
                    breaker: source.breaker_state(),
                }
            })
            .collect();
        ValidatorStatus { issuers }
    }

    /// Starts a task that refreshes every issuer's keys every `every` (conditional requests
    /// make an unchanged key set cheap). It stops when the returned handle is dropped or
    /// [`BackgroundRefresh::cancel`] is called, and also when every clone of the validator is
    /// gone. Needs a tokio runtime.
    pub fn spawn_background_refresh(&self, every: Duration) -> BackgroundRefresh {
        spawn_refresher(
            self.inner
                .issuers
                .iter()
                .map(|e| Arc::downgrade(&e.source))
                .collect(),
            every,
        )
    }
}

pub(crate) fn spawn_refresher(sources: Vec<Weak<KeySource>>, every: Duration) -> BackgroundRefresh {
    let every = every.max(Duration::from_secs(1));
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let mut alive = 0;
            for weak in &sources {
                let Some(source) = weak.upgrade() else {
                    continue;
                };
                alive += 1;
                let _ = source.refresh_now(source.retries()).await;
            }
            if alive == 0 {
                return;
            }
        }
    });
    BackgroundRefresh { task }
}

/// The handle of a background refresh task: dropping it, or calling
/// [`cancel`](BackgroundRefresh::cancel), stops the task.
#[derive(Debug)]
pub struct BackgroundRefresh {
    task: tokio::task::JoinHandle<()>,
}

impl BackgroundRefresh {
    /// Stops the task.
    pub fn cancel(self) {}

    /// Whether the task has stopped.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for BackgroundRefresh {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field(
                "issuers",
                &self
                    .inner
                    .issuers
                    .iter()
                    .map(|e| e.source.label.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("audiences", &self.inner.config.policy.audiences)
            .field("background_refresh", &self.inner.background.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::TypeCheck;

    #[test]
    fn typ_policies() {
        for ok in [
            None,
            Some("JWT"),
            Some("jwt"),
            Some("at+jwt"),
            Some("application/AT+JWT"),
        ] {
            assert!(TypeCheck::Lenient.accepts(ok), "{ok:?}");
        }
        assert!(!TypeCheck::Lenient.accepts(Some("JOSE")));
        assert!(!TypeCheck::Lenient.accepts(Some("id_token+jwt")));
        assert!(TypeCheck::AccessToken.accepts(Some("at+jwt")));
        assert!(!TypeCheck::AccessToken.accepts(Some("JWT")));
        assert!(!TypeCheck::AccessToken.accepts(None));
    }
}
