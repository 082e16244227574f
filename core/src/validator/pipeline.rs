//! The validator: one value that holds the configuration and the live key sets of the trusted
//! issuers, and runs the validation pipeline.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::config::Inner;
use super::status::{IssuerStatus, ValidatorStatus};
use super::token::VerifiedToken;
use super::token_cache::{CachedToken, TokenCache};
use crate::claims::registered::{Field, check_raw};
use crate::claims::scan::scan_claims;
use crate::error::{Error, ErrorKind};
use crate::jose::CompactJws;
use crate::jose::json;
use crate::keys::KeySet;
use crate::keys::background::{self, BackgroundRefresh};
use crate::provider::discovery::{self, Endpoint};

/// Why [`Validator::verify_now`] failed.
enum Failure {
    /// For good.
    Final(Error),
    /// The `kid` (if any) is not in the key set of the issuer at this index: a refresh may
    /// bring it.
    UnknownKey {
        issuer: usize,
        error: Error,
        kid: Option<String>,
    },
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

/// What [`Validator::check_now`] found without waiting.
enum Checked {
    /// The answer, the user's synchronous checks included.
    Done(Result<VerifiedToken, Error>),
    /// The token's `kid` is not in the current key set of this issuer (its index).
    UnknownKey {
        issuer: usize,
        error: Error,
        kid: Option<String>,
    },
}

/// Counts a validation's outcome. Literal labels: the counter's key is then static and costs
/// no allocation.
fn count(result: &Result<VerifiedToken, Error>) {
    let counter = match result {
        Ok(_) => metrics::counter!("jwtguard_validations_total", "outcome" => "valid"),
        Err(err) if err.is_unavailable() => {
            metrics::counter!("jwtguard_validations_total", "outcome" => "unavailable")
        }
        Err(_) => metrics::counter!("jwtguard_validations_total", "outcome" => "invalid"),
    };
    counter.increment(1);
}

/// What an issuer's metadata said, fetched by [`Validator::discovered`].
pub(crate) struct Discovered {
    /// The metadata is OpenID Connect discovery (not only RFC 8414 metadata).
    #[cfg_attr(not(feature = "utoipa"), allow(dead_code))]
    pub(crate) openid: bool,
    /// Its token endpoint, checked; or why there is none.
    pub(crate) token_endpoint: Result<Url, Error>,
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
        count(&result);
        result
    }

    /// [`validate`](Self::validate) without waiting, when it needs no waiting: `None` when
    /// the token's key is not in the current key set (a refresh may bring it: then
    /// `validate` waits for it) or asynchronous checks are configured. The same checks, the
    /// same cache, the same answers; a server answers most requests this way without a
    /// future of its own.
    pub fn validate_now(&self, token: &str) -> Option<Result<VerifiedToken, Error>> {
        if !self.inner.config.async_checks.is_empty() {
            return None;
        }
        let result = match self.check_now(token) {
            Checked::Done(result) => result,
            Checked::UnknownKey { .. } => return None,
        };
        count(&result);
        Some(result)
    }

    async fn run(&self, token: &str) -> Result<VerifiedToken, Error> {
        let verified = match self.check_now(token) {
            Checked::Done(result) => result?,
            // An unknown `kid`: wait for the refresh that may bring its key, then check again.
            Checked::UnknownKey { issuer, error, kid } => {
                self.inner.issuers[issuer]
                    .keys
                    .wait_for_unknown_kid(error, kid.as_deref())
                    .await?;
                let (verified, placed) = self.verify_now(token).map_err(Failure::into_error)?;
                self.admit(token, verified, placed)?
            }
        };
        self.run_async_checks(&verified).await?;
        Ok(verified)
    }

    /// The token cache, when there is one and `token` is not over the size cap (which the full
    /// check refuses before anything is hashed).
    fn token_cache_for(&self, token: &str) -> Option<&TokenCache> {
        let config = &self.inner.config;
        (config.token_cache.as_ref()).filter(|_| token.len() <= config.max_token_size)
    }

    /// Everything but the asynchronous checks, without waiting: a usable cached token, else
    /// the full check with the current keys, else the unknown `kid` to wait for.
    fn check_now(&self, token: &str) -> Checked {
        if let Some(cache) = self.token_cache_for(token)
            && let Some(hit) = cache.get(token)
        {
            if self.still_usable(&hit) {
                return Checked::Done(self.run_sync_checks(&hit.token).map(|()| hit.token.clone()));
            }
            cache.forget(token);
        }
        match self.verify_now(token) {
            Err(Failure::UnknownKey { issuer, error, kid }) => {
                Checked::UnknownKey { issuer, error, kid }
            }
            Err(failure) => Checked::Done(Err(failure.into_error())),
            Ok((verified, placed)) => Checked::Done(self.admit(token, verified, placed)),
        }
    }

    /// A token that passed the check: the user's synchronous checks, then into the cache.
    fn admit(
        &self,
        token: &str,
        verified: VerifiedToken,
        placed: (usize, Arc<KeySet>),
    ) -> Result<VerifiedToken, Error> {
        let config = &self.inner.config;
        self.run_sync_checks(&verified)?;
        if let Some(cache) = self.token_cache_for(token) {
            cache.insert(
                token,
                &verified,
                config.clock.unix_seconds(),
                placed,
                config.policy.max_age,
            );
        }
        Ok(verified)
    }

    /// Whether a cached token may be served: before its end, and while the very key set that
    /// verified it is current and within its stale limit. Any change of keys sends the token
    /// through the full check again.
    fn still_usable(&self, hit: &CachedToken) -> bool {
        self.inner.config.clock.unix_seconds() < hit.usable_until
            && self.inner.issuers[hit.issuer]
                .keys
                .usable_state()
                .is_ok_and(|state| Arc::ptr_eq(&hit.key_set, &state.set))
    }

    /// The user's synchronous checks: on every validation, cache hits included (a deny list
    /// must see every request).
    fn run_sync_checks(&self, token: &VerifiedToken) -> Result<(), Error> {
        for check in &self.inner.config.sync_checks {
            check(token)?;
        }
        Ok(())
    }

    async fn run_async_checks(&self, token: &VerifiedToken) -> Result<(), Error> {
        for check in &self.inner.config.async_checks {
            check(token.clone()).await?;
        }
        Ok(())
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
        let index = self.issuer_index(&raw.iss)?;
        let state = self.inner.issuers[index].keys.usable_state()?;
        match jws.check_signature(&*state.set) {
            Err(error) if error.kind() == ErrorKind::UnknownKey => {
                return Err(Failure::UnknownKey {
                    issuer: index,
                    error,
                    kid: jws.header().kid.map(str::to_owned),
                });
            }
            other => other?,
        }
        // The guard of the key state goes at once; the set that verified lives on in its Arc.
        let key_set = Arc::clone(&state.set);
        drop(state);
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

    /// The index of the issuer entry of the token's (not yet verified) `iss`.
    fn issuer_index(&self, iss: &Field<&str>) -> Result<usize, Error> {
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
            .position(|entry| entry.matcher.matches(iss))
            .ok_or_else(|| Error::new(ErrorKind::InvalidIssuer, "iss is not a trusted issuer"))
    }

    /// Fetches every issuer's key set again (one attempt each, through the circuit breaker)
    /// and swaps each in whole. On failure the current sets stay, and the first error is
    /// returned. A no-op for inline keys.
    pub async fn refresh(&self) -> Result<(), Error> {
        let mut first_error = None;
        for entry in &self.inner.issuers {
            if let Err(err) = entry.keys.refresh(0).await {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The trusted issuers (and issuer templates), in configuration order.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner
            .issuers
            .iter()
            .map(|entry| entry.matcher.as_str())
    }

    /// The audiences a token must name (one of them), in configuration order.
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        self.inner
            .config
            .policy
            .audiences
            .iter()
            .map(String::as_str)
    }

    /// The trusted issuers named exactly, in configuration order: [`issuers`](Self::issuers)
    /// without the templates.
    pub(crate) fn exact_issuers(&self) -> impl Iterator<Item = &str> {
        (self.inner.issuers.iter())
            .filter(|entry| matches!(entry.matcher, super::config::IssuerMatch::Exact(_)))
            .map(|entry| entry.matcher.as_str())
    }

    /// The current key set of `issuer` (as configured: an issuer, or an issuer template), or
    /// `None` when it is not one of [`issuers`](Self::issuers).
    pub fn key_set(&self, issuer: &str) -> Option<Arc<KeySet>> {
        self.entry(issuer)
            .map(|entry| Arc::clone(&entry.keys.state().set))
    }

    /// Where the keys of `issuer` (as configured) are fetched from; `None` for inline keys or
    /// an issuer that is not one of [`issuers`](Self::issuers).
    pub fn jwks_uri(&self, issuer: &str) -> Option<Url> {
        self.entry(issuer).and_then(|entry| entry.keys.jwks_uri())
    }

    /// Where OpenID Connect discovery of `issuer` (as configured) is looked for first:
    /// `<issuer>/.well-known/openid-configuration`, when its keys are found by discovery. A
    /// provider may publish only RFC 8414 metadata instead: `discovered`
    /// says which answered. `None` for keys from a JWKS URL or inline, an issuer template, or an
    /// issuer that is not one of [`issuers`](Self::issuers).
    pub fn discovery_url(&self, issuer: &str) -> Option<Url> {
        let entry = self.entry(issuer)?;
        if !entry.keys.is_discovered() {
            return None;
        }
        let url = Url::parse(issuer).ok()?;
        let [openid, _] = discovery::metadata_urls(&url).ok()?;
        Some(openid)
    }

    /// Fetches the metadata of `issuer` (as configured; its keys must be found by discovery)
    /// with the validator's HTTP client, and returns its `token_endpoint`, checked by the same
    /// URL policy as every URL a document names. An error when the issuer's keys are not
    /// found by discovery or the metadata names no usable token endpoint
    /// ([`ErrorKind::Fetch`]), or the server can't be reached
    /// ([`ErrorKind::KeysUnavailable`]).
    pub async fn token_endpoint(&self, issuer: &str) -> Result<Url, Error> {
        self.discovered(issuer).await?.token_endpoint
    }

    /// Fetches the metadata of `issuer` now: where it was found and its token endpoint.
    pub(crate) async fn discovered(&self, issuer: &str) -> Result<Discovered, Error> {
        let Some(entry) = self
            .entry(issuer)
            .filter(|entry| entry.keys.is_discovered())
        else {
            return Err(Error::new(
                ErrorKind::Fetch,
                format!("{issuer} is not an issuer whose keys are found by discovery"),
            ));
        };
        let fetcher = entry.keys.fetcher();
        let (metadata, at) = discovery::discover_metadata_at(fetcher, issuer).await?;
        Ok(Discovered {
            openid: self
                .discovery_url(issuer)
                .is_some_and(|openid| openid == at),
            token_endpoint: metadata.endpoint(fetcher, Endpoint::Token),
        })
    }

    fn entry(&self, issuer: &str) -> Option<&super::config::IssuerEntry> {
        self.inner
            .issuers
            .iter()
            .find(|entry| entry.matcher.as_str() == issuer)
    }

    /// The leeway on `exp`, `nbf` and `iat`.
    pub fn leeway(&self) -> Duration {
        self.inner.config.policy.leeway
    }

    /// Starts a task that refreshes every issuer's keys every `every` (conditional requests
    /// make an unchanged key set cheap). It stops when the returned handle is dropped or
    /// [`BackgroundRefresh::cancel`] is called, and also when every clone of the validator is
    /// gone. Needs a tokio runtime.
    pub fn spawn_background_refresh(&self, every: Duration) -> BackgroundRefresh {
        background::spawn(
            self.inner
                .issuers
                .iter()
                .map(|e| Arc::downgrade(&e.keys))
                .collect(),
            every,
        )
    }

    /// For a health endpoint: per issuer, when the keys were fetched, how old they are, the
    /// last error, and the circuit breaker's state.
    pub fn status(&self) -> ValidatorStatus {
        let issuers = self
            .inner
            .issuers
            .iter()
            .map(|entry| {
                let keys = &entry.keys;
                let state = keys.state();
                let now = keys.clock().now();
                let fetched = keys.jwks_uri().is_some() && state.document.is_some();
                let age = now.duration_since(state.fetched_at).unwrap_or_default();
                let history = keys.history();
                IssuerStatus {
                    issuer: entry.matcher.as_str().to_owned(),
                    jwks_uri: keys.jwks_uri().map(String::from),
                    keys: state.set.len(),
                    fetched_at: fetched.then_some(state.fetched_at),
                    age: fetched.then_some(age),
                    max_age: fetched.then_some(state.max_age),
                    stale: fetched && age > state.max_age,
                    expired: fetched && age > state.max_age.saturating_add(keys.stale_limit()),
                    last_attempt: history.last_attempt,
                    last_success: history.last_success,
                    last_error: history.last_error,
                    breaker: keys.breaker_state(),
                }
            })
            .collect();
        ValidatorStatus { issuers }
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
                    .map(|e| e.matcher.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("audiences", &self.inner.config.policy.audiences)
            .field("background_refresh", &self.inner.background.is_some())
            .finish_non_exhaustive()
    }
}
