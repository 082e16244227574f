//! The validator: one value that holds the configuration and the live key set, and runs the
//! validation pipeline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use url::Url;

use crate::access::AccessPaths;
use crate::algorithm::Algorithm;
use crate::builder::ValidatorBuilder;
use crate::claims::{ClaimsPolicy, check_claims};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::http::Fetcher;
use crate::json;
use crate::jws::CompactJws;
use crate::keys::KeySet;
use crate::keys::refresh::{Outcome, RefreshGate};
use crate::response::ResponseOptions;
use crate::token::VerifiedToken;

/// A boxed future, as returned by asynchronous claim checks.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pub(crate) type SyncCheck = Arc<dyn Fn(&VerifiedToken) -> Result<(), Error> + Send + Sync>;
pub(crate) type AsyncCheck =
    Arc<dyn Fn(VerifiedToken) -> BoxFuture<Result<(), Error>> + Send + Sync>;

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
    pub(crate) issuer: String,
    pub(crate) policy: ClaimsPolicy,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) max_token_size: usize,
    pub(crate) type_check: TypeCheck,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) access: Arc<AccessPaths>,
    pub(crate) sync_checks: Vec<SyncCheck>,
    pub(crate) async_checks: Vec<AsyncCheck>,
    pub(crate) secrets: KeySet,
    pub(crate) response: ResponseOptions,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) keys: ArcSwap<KeySet>,
    pub(crate) jwks_uri: Option<Url>,
    pub(crate) fetcher: Fetcher,
    pub(crate) gate: Arc<RefreshGate>,
}

/// Validates access tokens for one issuer.
///
/// Build it once with [`Validator::builder`] and share it: it is cheap to clone (an `Arc`
/// inside), `Send + Sync`, and every clone sees the same live key set. Readers load the key
/// set without a lock; a refresh builds a whole new set and swaps it in at once.
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
    /// header (`alg` allow-list, `crit`, `typ`), key lookup by `kid` (an unknown `kid` triggers
    /// at most one coalesced refresh per cooldown), signature, registered claims, then the
    /// user's checks (synchronous first, then asynchronous).
    ///
    /// A token whose key can't be known because the IdP is unreachable fails with
    /// [`ErrorKind::KeysUnavailable`] (503), not as an invalid token.
    pub async fn validate(&self, token: &str) -> Result<VerifiedToken, Error> {
        let config = &self.inner.config;
        let jws = CompactJws::parse(token, config.max_token_size, &config.algorithms)?;
        if !config.type_check.accepts(jws.header().typ.as_deref()) {
            return Err(Error::new(ErrorKind::InvalidType, "typ is not accepted"));
        }
        let first = jws.verify(&self.inner.keys.load());
        let verified = match first {
            Err(err) if err.kind() == ErrorKind::UnknownKey && self.inner.jwks_uri.is_some() => {
                match self.refresh_for_unknown_key().await {
                    Outcome::Refreshed => jws.verify(&self.inner.keys.load())?,
                    Outcome::CoolingDown { last_failed: false } => return Err(err),
                    Outcome::Failed | Outcome::CoolingDown { last_failed: true } => {
                        return Err(Error::new(
                            ErrorKind::KeysUnavailable,
                            "unknown kid and the key set can't be refreshed",
                        ));
                    }
                }
            }
            other => other?,
        };
        let claims = json::parse_object(&verified.payload)
            .map_err(|_| Error::new(ErrorKind::Malformed, "payload is not a JSON object"))?;
        let registered = check_claims(&claims, &config.policy, config.clock.unix_seconds())?;
        let token = VerifiedToken::new(
            verified.header,
            registered,
            claims,
            Arc::clone(&config.access),
        );
        for check in &config.sync_checks {
            check(&token)?;
        }
        for check in &config.async_checks {
            check(token.clone()).await?;
        }
        Ok(token)
    }

    /// Fetches the key set again and swaps it in whole. On failure the current set stays.
    ///
    /// A no-op for inline keys.
    pub async fn refresh(&self) -> Result<(), Error> {
        let result = fetch_and_swap(&self.inner).await;
        self.inner.gate.record(result.is_ok());
        result
    }

    async fn refresh_for_unknown_key(&self) -> Outcome {
        let inner = Arc::clone(&self.inner);
        self.inner
            .gate
            .refresh(move || async move {
                match fetch_and_swap(&inner).await {
                    Ok(()) => true,
                    Err(err) => {
                        tracing::warn!(error = %err, "key set refresh for an unknown kid failed");
                        false
                    }
                }
            })
            .await
    }

    /// The current key set.
    pub fn key_set(&self) -> Arc<KeySet> {
        self.inner.keys.load_full()
    }

    /// The issuer this validator trusts.
    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    /// The JWKS location, when keys are fetched (not given inline).
    pub fn jwks_uri(&self) -> Option<&Url> {
        self.inner.jwks_uri.as_ref()
    }

    /// How error responses are rendered by the adapters.
    pub fn response_options(&self) -> &ResponseOptions {
        &self.inner.config.response
    }

    /// The leeway on `exp`, `nbf` and `iat`.
    pub fn leeway(&self) -> Duration {
        self.inner.config.policy.leeway
    }
}

/// Fetches the JWKS and swaps in the new set; an unusable document keeps the old set.
pub(crate) async fn fetch_and_swap(inner: &Inner) -> Result<(), Error> {
    let Some(uri) = &inner.jwks_uri else {
        return Ok(());
    };
    let set = fetch_key_set(&inner.fetcher, uri, &inner.config).await?;
    tracing::info!(jwks_uri = %uri, keys = set.len(), "key set swapped in");
    inner.keys.store(Arc::new(set));
    Ok(())
}

pub(crate) async fn fetch_key_set(
    fetcher: &Fetcher,
    uri: &Url,
    config: &Config,
) -> Result<KeySet, Error> {
    let fetched = fetcher.get(uri).await?;
    if !(200..300).contains(&fetched.status) {
        return Err(Error::new(
            ErrorKind::Fetch,
            format!("GET {uri} answered {}", fetched.status),
        ));
    }
    let mut set = KeySet::from_jwks(&fetched.body, &config.algorithms)?;
    if set.is_empty() {
        return Err(Error::new(
            ErrorKind::Fetch,
            format!("the key set at {uri} holds no usable key"),
        ));
    }
    set.extend_with(&config.secrets);
    Ok(set)
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("issuer", &self.inner.config.issuer)
            .field("audiences", &self.inner.config.policy.audiences)
            .field("jwks_uri", &self.inner.jwks_uri.as_ref().map(Url::as_str))
            .field("keys", &**self.inner.keys.load())
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
