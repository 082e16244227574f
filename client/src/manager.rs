//! The token manager: many managed tokens side by side (several clients, tenants, scopes and
//! resources), one per key, sharing one HTTP client and their policies.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jwtguard_core::KeyCache;
use jwtguard_core::provider::{Fetcher, SecretString};

use crate::dpop::DpopKey;
use crate::error::{Error, ErrorKind};
use crate::managed::{ManagedToken, Timing};
use crate::policy::{RenewalPolicy, RetryPolicy};
use crate::shared::SharedTokens;
use crate::source::{GrantKind, OAuthClient, Server, TokenParams, TokenSource};

/// The HTTP timeout per token request (connect included): 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The cap on a token endpoint's answer: 64 KiB.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// The longest any wait setting is taken as: a day.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// How many managed tokens a manager holds at most: 1,000.
pub const DEFAULT_MAX_TOKENS: usize = 1_000;

/// Holds the managed tokens of a service: one per (token endpoint or issuer, client, grant,
/// scope, resource, audience), however many times it is asked for. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), jwtguard_client::Error> {
/// use jwtguard_client::{OAuthClient, TokenManager, TokenParams};
/// use jwtguard_core::provider::ClientAuth;
///
/// let manager = TokenManager::builder().background_refresh(true).build()?;
/// let client = OAuthClient::discover(
///     "https://idp.example.com",
///     ClientAuth::secret_basic("orders-service", "s3cr3t"),
/// );
/// let billing = manager.client_credentials(
///     &client,
///     TokenParams::new().scope("billing:read").resource("https://billing.example.com"),
/// )?;
/// let token = billing.get().await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<ManagerInner>,
}

struct ManagerInner {
    fetcher: Fetcher,
    renewal: RenewalPolicy,
    retry: RetryPolicy,
    background: bool,
    shared: Option<Arc<SharedTokens>>,
    timing: Timing,
    max_tokens: usize,
    dpop: Option<DpopKey>,
    tokens: Mutex<HashMap<String, ManagedToken>>,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("tokens", &self.len())
            .field("background", &self.inner.background)
            .field("shared", &self.inner.shared.is_some())
            .field("dpop", &self.inner.dpop)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TokenManager`]. Every setting has a stated default.
pub struct TokenManagerBuilder {
    http: Option<reqwest::Client>,
    timeout: Duration,
    max_body: usize,
    allow_insecure_http: bool,
    renewal: RenewalPolicy,
    retry: RetryPolicy,
    background: bool,
    shared: Option<(Arc<dyn KeyCache>, SecretString)>,
    shared_wait: Option<Duration>,
    max_tokens: usize,
    dpop: Option<DpopKey>,
}

impl fmt::Debug for TokenManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManagerBuilder")
            .field("timeout", &self.timeout)
            .field("renewal", &self.renewal)
            .field("retry", &self.retry)
            .field("background", &self.background)
            .finish_non_exhaustive()
    }
}

impl Default for TokenManagerBuilder {
    fn default() -> Self {
        Self {
            http: None,
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            allow_insecure_http: false,
            renewal: RenewalPolicy::default(),
            retry: RetryPolicy::default(),
            background: false,
            shared: None,
            shared_wait: None,
            max_tokens: DEFAULT_MAX_TOKENS,
            dpop: None,
        }
    }
}

impl TokenManagerBuilder {
    /// The `reqwest` client to use. Default: one with rustls, the timeout, and same-origin
    /// redirects only.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The timeout of each token request, connect included. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(LONGEST_WAIT);
        self
    }

    /// The cap on an answer's body, in bytes. Default 64 KiB.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Allows plain `http` token endpoints on hosts other than loopback. Default: refused.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// When tokens are renewed. Default: [`RenewalPolicy::default`].
    pub fn renewal(mut self, policy: RenewalPolicy) -> Self {
        self.renewal = policy;
        self
    }

    /// Retries and the circuit breaker. Default: [`RetryPolicy::default`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Renews every managed token in the background ahead of expiry, so that callers never
    /// wait (on the tokio runtime the token is created on). Default: off; tokens are then
    /// renewed when a caller asks for one that is due.
    pub fn background_refresh(mut self, on: bool) -> Self {
        self.background = on;
        self
    }

    /// Shares client-credentials tokens with the other instances through `cache` (a
    /// [`RedisKeyCache`](jwtguard_core::keys::RedisKeyCache), say): a fleet makes one token
    /// request where each instance would make one. `secret` (at least 32 bytes, the same on
    /// every instance) encrypts the tokens in the cache. A cache that fails is logged and
    /// skipped. Default: not shared.
    pub fn shared(mut self, cache: impl KeyCache, secret: impl Into<String>) -> Self {
        self.shared = Some((Arc::new(cache), SecretString::from(secret.into())));
        self
    }

    /// How long an instance waits for the one holding the shared lease before it tries the
    /// lease again, and then asks the endpoint itself. Default: as long as one token request
    /// may take with its retries, `(timeout + max(backoff cap, 10 s)) × (retries + 1)`, 60 s
    /// with the defaults; the lease itself lasts that long.
    pub fn shared_wait(mut self, wait: Duration) -> Self {
        self.shared_wait = Some(wait.min(LONGEST_WAIT));
        self
    }

    /// How many managed tokens the manager holds at most. Default 1,000.
    pub fn max_tokens(mut self, max: usize) -> Self {
        self.max_tokens = max;
        self
    }

    /// Binds every token to `key` (DPoP, RFC 9449): token requests carry a proof signed by
    /// it, the issued tokens are DPoP-bound (`token_type` `DPoP`), and the outgoing
    /// middleware signs a fresh proof for every call. A token endpoint's `use_dpop_nonce` is
    /// answered with one more request. Tokens shared through a key cache are kept apart per
    /// key: share the key too ([`DpopKey::from_pkcs8_pem`]) for instances to share tokens.
    /// Default: bearer tokens.
    pub fn dpop(mut self, key: DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// The manager.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a shared-token secret under 32 bytes, or an HTTP client that
    /// can't be built.
    pub fn build(self) -> Result<TokenManager, Error> {
        use jwtguard_core::provider::ExposeSecret;
        let fetcher = Fetcher::new(
            self.http,
            self.timeout,
            self.max_body,
            self.allow_insecure_http,
        )?;
        // The longest one token request may take: each try's timeout and the wait before the
        // next (the backoff, or a `Retry-After` of at most 10 s).
        let per_try = self
            .timeout
            .saturating_add(self.retry.max_backoff.max(Duration::from_secs(10)));
        let longest_fetch = per_try.saturating_mul(self.retry.retries.saturating_add(1));
        let shared = match self.shared {
            Some((cache, secret)) => Some(Arc::new(SharedTokens::new(
                cache,
                secret.expose_secret().as_bytes(),
            )?)),
            None => None,
        };
        Ok(TokenManager {
            inner: Arc::new(ManagerInner {
                fetcher,
                renewal: self.renewal,
                retry: self.retry,
                background: self.background,
                shared,
                timing: Timing {
                    fetch: longest_fetch,
                    shared_wait: self.shared_wait.unwrap_or(longest_fetch),
                },
                max_tokens: self.max_tokens,
                dpop: self.dpop,
                tokens: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl TokenManager {
    /// A builder with the defaults.
    pub fn builder() -> TokenManagerBuilder {
        TokenManagerBuilder::default()
    }

    /// The managed token of `client` by the client-credentials grant (RFC 6749 §4.4) for
    /// `params`: the one already held for the same key, or a new one. Nothing is requested
    /// until the first [`ManagedToken::get`] (or the background renewal's first run).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the manager already holds its maximum of tokens, or when
    /// background renewal is on and this is called outside a tokio runtime.
    pub fn client_credentials(
        &self,
        client: &OAuthClient,
        params: TokenParams,
    ) -> Result<ManagedToken, Error> {
        let identity = identity(
            client,
            &GrantKind::ClientCredentials,
            &params,
            None,
            self.inner.dpop.as_ref(),
        );
        self.managed(identity, client, GrantKind::ClientCredentials, params, None)
    }

    /// The managed token of `client` by the refresh-token grant (RFC 6749 §6), starting from
    /// `refresh_token` (one a user's sign-in produced, say). A rotated refresh token replaces
    /// the old one before the new access token is handed out, and renewals never overlap, so
    /// one refresh token is never sent twice. Refresh-token grants are never shared between
    /// instances.
    ///
    /// # Errors
    /// As [`client_credentials`](Self::client_credentials).
    pub fn refresh_token(
        &self,
        client: &OAuthClient,
        refresh_token: impl Into<String>,
        params: TokenParams,
    ) -> Result<ManagedToken, Error> {
        let refresh_token = SecretString::from(refresh_token.into());
        let identity = identity(
            client,
            &GrantKind::RefreshToken,
            &params,
            Some(&refresh_token),
            self.inner.dpop.as_ref(),
        );
        self.managed(
            identity,
            client,
            GrantKind::RefreshToken,
            params,
            Some(refresh_token),
        )
    }

    fn managed(
        &self,
        identity: String,
        client: &OAuthClient,
        grant: GrantKind,
        params: TokenParams,
        refresh_token: Option<SecretString>,
    ) -> Result<ManagedToken, Error> {
        let inner = &self.inner;
        if inner.background && tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::new(
                ErrorKind::Config,
                "background renewal needs a tokio runtime: create managed tokens inside one",
            ));
        }
        let mut tokens = inner.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = tokens.get(&identity) {
            return Ok(token.clone());
        }
        if tokens.len() >= inner.max_tokens {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "the token manager already holds its maximum of {} tokens",
                    inner.max_tokens
                ),
            ));
        }
        let shared = match grant {
            GrantKind::ClientCredentials => inner.shared.clone(),
            GrantKind::RefreshToken => None,
        };
        let source = TokenSource::new(
            client.clone(),
            grant,
            params,
            inner.fetcher.clone(),
            inner.retry,
            inner.renewal,
            inner.dpop.clone(),
        );
        let shared_key = shared
            .as_ref()
            .map(|shared| shared.cache_key(&identity))
            .unwrap_or_default();
        let mut token = ManagedToken::new(source, shared_key, refresh_token, shared, inner.timing);
        if inner.background {
            token = token.with_background();
        }
        tokens.insert(identity, token.clone());
        Ok(token)
    }

    /// Lets go of `token` (a user's refresh-token grant at sign-out, say): its background
    /// renewal stops, and the manager no longer counts it against its maximum. Handles held
    /// elsewhere keep working, renewing on demand. Whether the manager held it.
    pub fn remove(&self, token: &ManagedToken) -> bool {
        let mut tokens = self
            .inner
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let before = tokens.len();
        tokens.retain(|_, held| !held.same_as(token));
        let removed = tokens.len() < before;
        drop(tokens);
        if removed {
            token.stop_background();
        }
        removed
    }

    /// How many managed tokens the manager holds.
    pub fn len(&self) -> usize {
        self.inner
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops every background renewal and lets go of every token (handles held elsewhere keep
    /// working, renewing on demand).
    pub fn shutdown(&self) {
        let tokens = std::mem::take(
            &mut *self
                .inner
                .tokens
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for token in tokens.values() {
            token.stop_background();
        }
    }
}

/// What identifies a managed token: each part length-prefixed, so that no two keys collide.
/// The client's credential counts (by digest): a rotated secret gets a token of its own.
fn identity(
    client: &OAuthClient,
    grant: &GrantKind,
    params: &TokenParams,
    refresh_token: Option<&SecretString>,
    dpop: Option<&DpopKey>,
) -> String {
    use jwtguard_core::provider::ExposeSecret;
    let grant = match grant {
        GrantKind::ClientCredentials => "client_credentials",
        GrantKind::RefreshToken => "refresh_token",
    };
    let mut resources = params.resources.clone();
    resources.sort();
    let refresh = refresh_token.map(|token| {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.expose_secret().as_bytes());
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    });
    let server = match &client.server {
        Server::Issuer(_) => "issuer",
        Server::TokenEndpoint(_) => "token_endpoint",
    };
    let fingerprint = client.auth.fingerprint();
    let mut parts: Vec<&str> = vec![
        grant,
        server,
        client.server_id(),
        client.client_id(),
        &fingerprint,
        params.scope.as_deref().unwrap_or(""),
        params.audience.as_deref().unwrap_or(""),
        refresh.as_deref().unwrap_or(""),
        dpop.map_or("", DpopKey::thumbprint),
    ];
    parts.extend(resources.iter().map(String::as_str));
    let mut key = String::new();
    for part in parts {
        key.push_str(&part.len().to_string());
        key.push(':');
        key.push_str(part);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwtguard_core::provider::ClientAuth;

    #[test]
    fn one_token_per_key() {
        let manager = TokenManager::builder().max_tokens(3).build().unwrap();
        let client = OAuthClient::with_token_endpoint(
            "https://idp.example/token",
            ClientAuth::secret_basic("svc", "s"),
        );
        let a = manager
            .client_credentials(&client, TokenParams::new().scope("a"))
            .unwrap();
        let _again = manager
            .client_credentials(&client, TokenParams::new().scope("a"))
            .unwrap();
        assert_eq!(manager.len(), 1);
        manager
            .client_credentials(&client, TokenParams::new().scope("b"))
            .unwrap();
        manager
            .client_credentials(&client, TokenParams::new().resource("https://x"))
            .unwrap();
        assert_eq!(manager.len(), 3);
        let err = manager
            .client_credentials(&client, TokenParams::new().scope("c"))
            .unwrap_err();
        assert!(err.is_config());
        assert!(format!("{a:?}").contains("svc"));
        assert!(!format!("{a:?}").contains("\"s\""));
    }

    #[test]
    fn a_short_shared_secret_is_refused() {
        let err = TokenManager::builder()
            .shared(jwtguard_core::MemoryKeyCache::new(), "short")
            .build()
            .unwrap_err();
        assert!(err.is_config());
    }
}
