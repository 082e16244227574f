//! Building a [`Validator`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::config::{AsyncCheck, Config, Inner, IssuerEntry, IssuerMatch, SyncCheck, TypeCheck};
use super::pipeline::Validator;
use super::token::VerifiedToken;
use super::token_cache::{TokenCache, TokenCacheConfig};
use crate::claims::registered::ClaimsPolicy;
use crate::claims::{AccessPaths, ClaimPath, IssuerTemplate};
use crate::clock::{Clock, SystemClock};
use crate::defaults;
use crate::error::{Error, ErrorKind};
use crate::jose::Algorithm;
use crate::jose::header_cache::HeaderCache;
use crate::keys::cache::{EntrySeal, KeyCache, MemoryKeyCache};
use crate::keys::discovery::discover_through_cache;
use crate::keys::issuer_keys::{IssuerKeys, KeySettings, Origin};
use crate::keys::{KeySet, RefreshPolicy, background};
use crate::provider::http::Fetcher;

/// Where an issuer's keys come from, as configured.
enum KeysFrom {
    Discovery,
    JwksUri(String),
    Inline(KeySet),
}

struct IssuerSpec {
    matcher: IssuerMatch,
    keys: KeysFrom,
}

impl Validator {
    /// A builder with the defaults (see [`ValidatorBuilder`]).
    pub fn builder() -> ValidatorBuilder {
        ValidatorBuilder::default()
    }
}

/// Configures a [`Validator`]. Every setting states its default; at least one issuer and one
/// `audience` are required.
///
/// ```
/// use std::time::Duration;
/// use jwtguard_core::{Algorithm, TypeCheck, Validator};
///
/// # async fn run() -> Result<(), jwtguard_core::Error> {
/// let validator = Validator::builder()
///     .issuer("https://login.example.com/realms/main")
///     .audience("orders-api")
///     .algorithms([Algorithm::RS256, Algorithm::ES256])
///     .type_check(TypeCheck::AccessToken)
///     .leeway(Duration::from_secs(30))
///     .role_path("resource_access.orders-api.roles")
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
pub struct ValidatorBuilder {
    issuers: Vec<IssuerSpec>,
    misuse: Option<&'static str>,
    algorithms: Option<Vec<Algorithm>>,
    secrets: Vec<(Option<String>, Algorithm, Vec<u8>)>,
    /// Audiences, leeway, maximum age and required claims; the issuers are added at build.
    claims: ClaimsPolicy,
    max_token_size: usize,
    type_check: TypeCheck,
    clock: Arc<dyn Clock>,
    allow_insecure_http: bool,
    http_client: Option<reqwest::Client>,
    http_timeout: Duration,
    max_response_size: usize,
    refresh: RefreshPolicy,
    cache: Arc<dyn KeyCache>,
    cache_secret: Option<Vec<u8>>,
    background_refresh: Option<Duration>,
    access: AccessPaths,
    sync_checks: Vec<SyncCheck>,
    async_checks: Vec<AsyncCheck>,
    pub(super) token_cache: Option<TokenCacheConfig>,
}

impl Default for ValidatorBuilder {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            misuse: None,
            algorithms: None,
            secrets: Vec::new(),
            claims: ClaimsPolicy::new(Vec::<String>::new(), Vec::<String>::new()),
            max_token_size: defaults::MAX_TOKEN_SIZE,
            type_check: TypeCheck::default(),
            clock: Arc::new(SystemClock),
            allow_insecure_http: false,
            http_client: None,
            http_timeout: defaults::HTTP_TIMEOUT,
            max_response_size: defaults::MAX_RESPONSE_SIZE,
            refresh: RefreshPolicy::default(),
            cache: Arc::new(MemoryKeyCache::new()),
            cache_secret: None,
            background_refresh: None,
            access: AccessPaths::default(),
            sync_checks: Vec::new(),
            async_checks: Vec::new(),
            token_cache: None,
        }
    }
}

impl ValidatorBuilder {
    /// Adds an issuer to trust, compared exactly with `iss` and with the discovery document's
    /// `issuer`. At least one issuer is required; each has its own key set, and a token is
    /// only ever checked with the keys of its own `iss`. Unless [`jwks_uri`](Self::jwks_uri)
    /// or [`key_set`](Self::key_set) follows, keys are found by discovery at
    /// `{issuer}/.well-known/openid-configuration` (then RFC 8414's location).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(IssuerSpec {
            matcher: IssuerMatch::Exact(issuer.into()),
            keys: KeysFrom::Discovery,
        });
        self
    }

    /// Adds an issuer template for multi-tenant IdPs (such as
    /// `https://login.microsoftonline.com/{tid}/v2.0`) whose tenants share the keys at
    /// `jwks_uri`. The tenant comes from the token but never names a URL: the keys are only
    /// ever fetched from `jwks_uri`.
    pub fn issuer_template(
        mut self,
        template: IssuerTemplate,
        jwks_uri: impl Into<String>,
    ) -> Self {
        self.issuers.push(IssuerSpec {
            matcher: IssuerMatch::Template(template),
            keys: KeysFrom::JwksUri(jwks_uri.into()),
        });
        self
    }

    /// Fetch the keys of the issuer added last from this JWKS URL directly, without discovery.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        match self.issuers.last_mut() {
            Some(last) => last.keys = KeysFrom::JwksUri(uri.into()),
            None => self.misuse = Some("jwks_uri(..) must follow issuer(..)"),
        }
        self
    }

    /// Use these keys for the issuer added last and never fetch any (for tests, or keys
    /// distributed out of band).
    pub fn key_set(mut self, keys: KeySet) -> Self {
        match self.issuers.last_mut() {
            Some(last) => last.keys = KeysFrom::Inline(keys),
            None => self.misuse = Some("key_set(..) must follow issuer(..)"),
        }
        self
    }

    /// Adds an accepted audience: `aud` must name at least one. At least one is required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.claims.audiences.push(audience.into());
        self
    }

    /// Adds several accepted audiences.
    pub fn audiences<I: IntoIterator<Item: Into<String>>>(mut self, audiences: I) -> Self {
        self.claims
            .audiences
            .extend(audiences.into_iter().map(Into::into));
        self
    }

    /// The asymmetric algorithms allowed. Default: [`Algorithm::DEFAULT_ALLOWED`] (RS256/384/512,
    /// PS256/384/512, ES256, ES384, EdDSA). HMAC algorithms listed here are ignored unless a
    /// secret is configured with [`hmac_secret`](Self::hmac_secret).
    pub fn algorithms<I: IntoIterator<Item = Algorithm>>(mut self, algorithms: I) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Accepts tokens signed with this HMAC secret (`alg` HS256, HS384 or HS512), with any or
    /// no `kid`. The secret must be at least as long as the hash (32, 48 or 64 bytes). HMAC is
    /// never used with a key from a JWKS, and secrets need a single issuer (a secret can't
    /// tell issuers apart). Default: none.
    pub fn hmac_secret(mut self, alg: Algorithm, secret: impl Into<Vec<u8>>) -> Self {
        self.secrets.push((None, alg, secret.into()));
        self
    }

    /// Like [`hmac_secret`](Self::hmac_secret), bound to a `kid`.
    pub fn hmac_secret_with_kid(
        mut self,
        kid: impl Into<String>,
        alg: Algorithm,
        secret: impl Into<Vec<u8>>,
    ) -> Self {
        self.secrets.push((Some(kid.into()), alg, secret.into()));
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default [`defaults::LEEWAY`] (60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.claims.leeway = leeway;
        self
    }

    /// Refuse tokens whose `iat` is older than this (and tokens without `iat`). Default: no
    /// maximum age.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.claims.max_age = Some(max_age);
        self
    }

    /// Claims that must be present, in addition to `iss` and `aud` (always required) and
    /// [`defaults::REQUIRED_CLAIMS`] (`exp`).
    pub fn required_claims<I: IntoIterator<Item: Into<String>>>(mut self, claims: I) -> Self {
        self.claims
            .required
            .extend(claims.into_iter().map(Into::into));
        self
    }

    /// The largest token accepted, in bytes. Default [`defaults::MAX_TOKEN_SIZE`] (8 KiB).
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Which `typ` header values are accepted. Default [`TypeCheck::Lenient`].
    pub fn type_check(mut self, check: TypeCheck) -> Self {
        self.type_check = check;
        self
    }

    /// The clock used for `exp`, `nbf`, `iat` and the refresh cooldown. Default the system
    /// clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Like [`clock`](Self::clock), sharing a clock the caller keeps (to move it in tests).
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Allow plain `http` to non-loopback hosts for discovery and keys. Default `false`:
    /// `http` is accepted only for `127.0.0.0/8`, `::1` and `localhost`.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The HTTP client to talk to the IdP with (custom CA, mTLS, proxy). Default: one client
    /// per validator (shared by all its refreshes) that follows redirects only within the same
    /// host, and trusts the platform's roots, or only those of the PEM file named by
    /// `SSL_CERT_FILE` (and the directory `SSL_CERT_DIR`) when set.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Timeout of each request to the IdP. Default [`defaults::HTTP_TIMEOUT`] (5 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// The largest discovery or JWKS body accepted, in bytes. Default
    /// [`defaults::MAX_RESPONSE_SIZE`] (1 MiB).
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// After a refresh caused by an unknown `kid`, further unknown `kid`s fail at once, without
    /// a fetch, for this long. Default [`defaults::UNKNOWN_KID_COOLDOWN`] (30 s). (A shortcut
    /// for the field of
    /// [`refresh_policy`](Self::refresh_policy).)
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.refresh.unknown_kid_cooldown = cooldown;
        self
    }

    /// How keys are kept fresh: max age, refresh ahead, cooldown, stale limit, retries,
    /// breaker. Default [`RefreshPolicy::default`].
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.refresh = policy;
        self
    }

    /// Where fetched key sets are cached, such as a
    /// `RedisKeyCache` (feature `redis`) shared by many instances. Default: a
    /// [`MemoryKeyCache`] of this validator's own.
    pub fn key_cache(mut self, cache: impl KeyCache) -> Self {
        self.cache = Arc::new(cache);
        self
    }

    /// Seals every entry this validator writes to the key cache (HMAC-SHA256 with `secret`,
    /// at least 32 bytes) and ignores every entry without a valid seal when reading. A shared
    /// cache is a trust anchor: whoever can write to it can add keys. With a secret that only
    /// your instances know, a forged entry is ignored and the keys are fetched from the IdP.
    /// Default: none (entries are trusted as far as the cache's own access control goes).
    ///
    /// Every instance sharing the cache must use the same secret.
    pub fn key_cache_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.cache_secret = Some(secret.into());
        self
    }

    /// Like [`key_cache`](Self::key_cache), for a cache already behind an `Arc`.
    pub fn shared_key_cache(mut self, cache: Arc<dyn KeyCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Refresh every issuer's keys in a background task every `every`, for as long as the
    /// validator lives. Default: no background task (keys are still refreshed ahead of their
    /// max age, on demand). Needs a tokio runtime.
    pub fn background_refresh(mut self, every: Duration) -> Self {
        self.background_refresh = Some(every);
        self
    }

    /// Where roles and scopes are read from. Default [`AccessPaths::default`].
    pub fn access_paths(mut self, paths: AccessPaths) -> Self {
        self.access = paths;
        self
    }

    /// Adds a path read for roles, such as `resource_access.my-api.roles`.
    pub fn role_path(mut self, path: impl Into<ClaimPath>) -> Self {
        self.access.roles.push(path.into());
        self
    }

    /// Adds a path read for scopes.
    pub fn scope_path(mut self, path: impl Into<ClaimPath>) -> Self {
        self.access.scopes.push(path.into());
        self
    }

    /// Adds a synchronous check, run after the built-in ones on every validation (hits of the
    /// token cache included). Return [`Error::rejected`] to refuse the token.
    ///
    /// ```
    /// # use jwtguard_core::{Error, Validator};
    /// let builder = Validator::builder().check(|token| match token.claims().get("tenant") {
    ///     Some(t) if t == "acme" => Ok(()),
    ///     _ => Err(Error::rejected("wrong tenant")),
    /// });
    /// ```
    pub fn check<F>(mut self, check: F) -> Self
    where
        F: Fn(&VerifiedToken) -> Result<(), Error> + Send + Sync + 'static,
    {
        self.sync_checks.push(Arc::new(check));
        self
    }

    /// Adds an asynchronous check, run after the synchronous ones (a revocation list, a
    /// database lookup...).
    pub fn check_async<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(VerifiedToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.async_checks
            .push(Arc::new(move |token| Box::pin(check(token))));
        self
    }

    /// Caches validated tokens, so that a repeated token skips parsing and the signature check
    /// (see [`TokenCacheConfig`] for the bounds and the guarantees). Default: off.
    pub fn token_cache(mut self, config: TokenCacheConfig) -> Self {
        self.token_cache = Some(config);
        self
    }

    /// Checks the configuration, loads the keys of every issuer (from the key cache, by
    /// discovery, from the JWKS URL, or inline), and returns the validator.
    ///
    /// Fails with [`ErrorKind::Config`] for a wrong configuration, and with
    /// [`ErrorKind::KeysUnavailable`] or [`ErrorKind::Fetch`] when an IdP can't be reached or
    /// publishes nothing usable (and no cached key set can stand in).
    pub async fn build(self) -> Result<Validator, Error> {
        let config_error = |msg: &'static str| Error::new(ErrorKind::Config, msg);
        if let Some(misuse) = self.misuse {
            return Err(config_error(misuse));
        }
        if self.issuers.is_empty() {
            return Err(config_error("an issuer is required: call .issuer(..)"));
        }
        self.refresh.check()?;
        if !self.secrets.is_empty() && self.issuers.len() > 1 {
            return Err(config_error(
                "HMAC secrets can't be bound to one of several issuers: use them with a single issuer",
            ));
        }
        if self.claims.audiences.is_empty() {
            return Err(config_error(
                "at least one audience is required: call .audience(..)",
            ));
        }
        let mut algorithms: Vec<Algorithm> = self
            .algorithms
            .clone()
            .unwrap_or_else(|| Algorithm::DEFAULT_ALLOWED.to_vec())
            .into_iter()
            .filter(|alg| !alg.is_hmac())
            .collect();
        let mut secrets = KeySet::new();
        for (kid, alg, secret) in &self.secrets {
            secrets.insert_secret(kid.as_deref(), *alg, secret)?;
            if !algorithms.contains(alg) {
                algorithms.push(*alg);
            }
        }
        if algorithms.is_empty() {
            return Err(config_error("no algorithm is allowed"));
        }
        let algorithms: Arc<[Algorithm]> = algorithms.into();
        let seal = EntrySeal::new(self.cache_secret.as_deref())?;
        let secrets = Arc::new(secrets);
        let fetcher = Fetcher::new(
            self.http_client.clone(),
            self.http_timeout,
            self.max_response_size,
            self.allow_insecure_http,
        )?;
        let mut policy = self.claims;

        let mut issuers = Vec::with_capacity(self.issuers.len());
        for spec in self.issuers {
            let label = match &spec.matcher {
                IssuerMatch::Exact(issuer) => {
                    policy.issuers.push(issuer.clone());
                    issuer.clone()
                }
                IssuerMatch::Template(template) => {
                    policy.issuer_templates.push(template.clone());
                    template.as_str().to_owned()
                }
            };
            let settings = KeySettings {
                algorithms: Arc::clone(&algorithms),
                secrets: Arc::clone(&secrets),
                policy: self.refresh.clone(),
                fetcher: fetcher.clone(),
                cache: Arc::clone(&self.cache),
                seal: seal.clone(),
                clock: Arc::clone(&self.clock),
            };
            let keys = match (spec.keys, &spec.matcher) {
                (KeysFrom::Inline(keys), _) => IssuerKeys::inline(label, keys, settings)?,
                (KeysFrom::JwksUri(uri), _) => {
                    let uri = Url::parse(&uri)
                        .map_err(|_| config_error("the JWKS URL is not a valid URL"))?;
                    fetcher.check_url(&uri, "JWKS URL")?;
                    IssuerKeys::fetched(label, Origin::Jwks(uri), settings).await?
                }
                (KeysFrom::Discovery, IssuerMatch::Exact(issuer)) => {
                    let keep_for = self
                        .refresh
                        .stale_limit
                        .saturating_add(self.refresh.max_max_age);
                    let jwks_uri = discover_through_cache(
                        &fetcher,
                        self.cache.as_ref(),
                        &seal,
                        issuer,
                        keep_for,
                        self.clock.now(),
                    )
                    .await?;
                    let origin = Origin::Discovered {
                        issuer: issuer.clone(),
                        jwks_uri,
                    };
                    IssuerKeys::fetched(label, origin, settings).await?
                }
                (KeysFrom::Discovery, IssuerMatch::Template(_)) => {
                    return Err(config_error("an issuer template needs a JWKS URL"));
                }
            };
            issuers.push(IssuerEntry {
                matcher: spec.matcher,
                keys: Arc::new(keys),
            });
        }
        let background = self.background_refresh.map(|every| {
            background::spawn(
                issuers.iter().map(|e| Arc::downgrade(&e.keys)).collect(),
                every,
            )
        });
        let config = Config {
            policy,
            algorithms,
            max_token_size: self.max_token_size,
            type_check: self.type_check,
            clock: Arc::clone(&self.clock),
            access: Arc::new(self.access),
            sync_checks: self.sync_checks,
            async_checks: self.async_checks,
            token_cache: self.token_cache.map(TokenCache::new),
            headers: HeaderCache::new(),
        };
        tracing::info!(issuers = issuers.len(), "validator ready");
        Ok(Validator::from_inner(Inner {
            config,
            issuers,
            background,
        }))
    }
}
