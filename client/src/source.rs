//! The token source: what obtains tokens from a token endpoint, one grant at a time, with
//! client authentication, retries with backoff, and a circuit breaker.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use jwtguard_core::provider::{
    Authentication, Breaker, BreakerState, ClientAuth, Endpoint, ExposeSecret, Fetched, Fetcher,
    SecretString, discover_metadata, shown,
};
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use crate::dpop::DpopKey;
use crate::error::{Error, ErrorKind};
use crate::policy::{RenewalPolicy, RetryPolicy, random_unit};
use crate::token::{AccessToken, decode_unverified};

/// A client registered at an authorization server: where its token endpoint is (found by
/// discovery, or given), and how it authenticates there.
///
/// ```
/// use jwtguard_client::OAuthClient;
/// use jwtguard_core::provider::ClientAuth;
///
/// let client = OAuthClient::discover(
///     "https://idp.example.com",
///     ClientAuth::secret_basic("orders-service", "s3cr3t"),
/// );
/// assert_eq!(client.client_id(), "orders-service");
/// ```
#[derive(Clone)]
pub struct OAuthClient {
    pub(crate) server: Server,
    pub(crate) auth: ClientAuth,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, url) = match &self.server {
            Server::Issuer(url) => ("issuer", url),
            Server::TokenEndpoint(url) => ("token_endpoint", url),
        };
        let url = Url::parse(url).map_or_else(|_| "(not a URL)".to_owned(), |u| shown(&u));
        f.debug_struct("OAuthClient")
            .field(what, &url)
            .field("auth", &self.auth)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Server {
    /// The token endpoint comes from the issuer's metadata.
    Issuer(String),
    /// The token endpoint is given.
    TokenEndpoint(String),
}

impl OAuthClient {
    /// A client of the authorization server `issuer`, whose token endpoint is found by
    /// discovery (`{issuer}/.well-known/openid-configuration`, then RFC 8414) on first use.
    /// `private_key_jwt` assertions name the issuer as their audience.
    pub fn discover(issuer: impl Into<String>, auth: ClientAuth) -> Self {
        Self {
            server: Server::Issuer(issuer.into()),
            auth,
        }
    }

    /// A client of a token endpoint at `url`. `private_key_jwt` assertions name the endpoint
    /// as their audience (RFC 7523 §3).
    pub fn with_token_endpoint(url: impl Into<String>, auth: ClientAuth) -> Self {
        Self {
            server: Server::TokenEndpoint(url.into()),
            auth,
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        self.auth.client_id()
    }

    pub(crate) fn server_id(&self) -> &str {
        match &self.server {
            Server::Issuer(url) | Server::TokenEndpoint(url) => url,
        }
    }
}

/// What a managed token is obtained with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum GrantKind {
    ClientCredentials,
    RefreshToken,
}

/// The parameters of a token request: `scope`, and the target (RFC 8707 `resource`, or the
/// `audience` some servers use instead).
///
/// ```
/// use jwtguard_client::TokenParams;
///
/// let params = TokenParams::new()
///     .scope("orders:read orders:write")
///     .resource("https://orders.example.com");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokenParams {
    pub(crate) scope: Option<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) audience: Option<String>,
}

impl TokenParams {
    /// No scope, no target: what the server grants by default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `scope` to ask for (space-separated).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// A `resource` (RFC 8707) the token is for; may be given more than once.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// An `audience` parameter (Auth0 and others use it instead of `resource`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
}

/// A token as obtained: the access token, the refresh token that came with it, and its
/// lifetime.
pub(crate) struct Obtained {
    pub(crate) token: AccessToken,
    pub(crate) refresh_token: Option<SecretString>,
    pub(crate) lifetime: Duration,
}

/// The token source: obtains tokens for one client, one grant and one set of parameters.
pub(crate) struct TokenSource {
    client: OAuthClient,
    grant: GrantKind,
    params: TokenParams,
    fetcher: Fetcher,
    endpoint: OnceCell<(Url, String)>,
    retry: RetryPolicy,
    renewal: RenewalPolicy,
    breaker: Breaker,
    /// Token requests sent, retries included.
    requests: AtomicU64,
    /// No request before this: the server asked to wait (`Retry-After`).
    not_before: Mutex<Option<Instant>>,
    /// The key the tokens are bound to (RFC 9449), if any.
    dpop: Option<DpopKey>,
    /// The token endpoint's last DPoP nonce.
    dpop_nonce: Mutex<Option<String>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("client", &self.client)
            .field("grant", &self.grant)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct Times {
    exp: Option<u64>,
    iat: Option<u64>,
}

impl TokenSource {
    pub(crate) fn new(
        client: OAuthClient,
        grant: GrantKind,
        params: TokenParams,
        fetcher: Fetcher,
        retry: RetryPolicy,
        renewal: RenewalPolicy,
        dpop: Option<DpopKey>,
    ) -> Self {
        Self {
            client,
            grant,
            params,
            fetcher,
            endpoint: OnceCell::new(),
            breaker: Breaker::new(retry.breaker_threshold, retry.breaker_open_for),
            retry,
            renewal,
            requests: AtomicU64::new(0),
            not_before: Mutex::new(None),
            dpop,
            dpop_nonce: Mutex::new(None),
        }
    }

    /// The key the tokens are bound to, if any.
    pub(crate) fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_ref()
    }

    /// Token requests sent so far, retries included.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn client_id(&self) -> &str {
        self.client.client_id()
    }

    /// Whether a token request may be tried now: not while the breaker is open, nor before
    /// the time a server's `Retry-After` named.
    pub(crate) fn may_try(&self) -> bool {
        self.breaker.state(SystemTime::now()) != BreakerState::Open && !self.asked_to_wait()
    }

    fn asked_to_wait(&self) -> bool {
        self.not_before
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| Instant::now() < at)
    }

    /// Why no request is tried now.
    pub(crate) fn not_now(&self) -> Error {
        if self.asked_to_wait() {
            Error::new(
                ErrorKind::Unavailable,
                "the token endpoint asked to wait (Retry-After) before the next request",
            )
        } else {
            Error::new(
                ErrorKind::Unavailable,
                "the token endpoint's circuit breaker is open after repeated failures",
            )
        }
    }

    pub(crate) fn renewal(&self) -> &RenewalPolicy {
        &self.renewal
    }

    /// The token endpoint and the audience of client assertions, found once.
    async fn endpoint(&self) -> Result<&(Url, String), Error> {
        self.endpoint
            .get_or_try_init(|| async {
                match &self.client.server {
                    Server::TokenEndpoint(url) => {
                        let parsed = Url::parse(url).map_err(|_| {
                            Error::new(ErrorKind::Config, "the token endpoint is not a valid URL")
                        })?;
                        self.fetcher.check_url(&parsed, "token endpoint")?;
                        Ok((parsed, url.clone()))
                    }
                    Server::Issuer(issuer) => {
                        let metadata = discover_metadata(&self.fetcher, issuer).await?;
                        let url = metadata.endpoint(&self.fetcher, Endpoint::Token)?;
                        Ok((url, issuer.clone()))
                    }
                }
            })
            .await
    }

    /// Obtains a token, with retries and the breaker; `refresh_token` for the refresh grant.
    pub(crate) async fn obtain(
        &self,
        refresh_token: Option<&SecretString>,
    ) -> Result<Obtained, Error> {
        // A refresh token the server may already have rotated is not sent again: a lost answer
        // can't be retried without risking the reuse detection of the whole token family.
        let retries = match self.grant {
            GrantKind::ClientCredentials => self.retry.retries,
            GrantKind::RefreshToken => 0,
        };
        let mut tries = 0;
        loop {
            let Some(attempt) = self.breaker.allow(SystemTime::now()) else {
                return Err(self.failed(Error::new(
                    ErrorKind::Unavailable,
                    "the token endpoint's circuit breaker is open after repeated failures",
                )));
            };
            // Gives the attempt back if this future is dropped mid-request (its runtime shut
            // down): a half-open trial never stays taken.
            let held = self.breaker.hold(attempt);
            let (outcome, retry_after) = match self.request_once(refresh_token).await {
                Ok(obtained) => (Ok(obtained), None),
                Err((err, retry_after)) => (Err(err), retry_after),
            };
            let endpoint_failed = outcome.as_ref().is_err_and(Error::is_retryable);
            held.record(!endpoint_failed, SystemTime::now());
            match outcome {
                Ok(obtained) => {
                    metrics::counter!(
                        "jwtguard_client_token_requests_total",
                        "client" => self.client_id().to_owned(),
                        "outcome" => "ok"
                    )
                    .increment(1);
                    return Ok(obtained);
                }
                Err(err)
                    if err.is_retryable()
                        && tries < retries
                        && retry_after.is_none_or(|after| after <= MAX_RETRY_AFTER) =>
                {
                    let backoff = self.retry.backoff_for(tries, random_unit());
                    let wait = retry_after.map_or(backoff, |after| after.max(backoff));
                    tracing::debug!(
                        client = self.client_id(),
                        error = %err,
                        retry_in_ms = wait.as_millis() as u64,
                        "token request failed; retrying"
                    );
                    tries += 1;
                    tokio::time::sleep(wait).await;
                }
                Err(err) => {
                    if let Some(after) = retry_after {
                        // Honoured across renewals too: nothing is sent before that time.
                        let until = Instant::now().checked_add(after.min(MAX_PAUSE));
                        *self
                            .not_before
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) = until;
                    }
                    return Err(self.failed(err));
                }
            }
        }
    }

    fn failed(&self, err: Error) -> Error {
        metrics::counter!(
            "jwtguard_client_token_requests_total",
            "client" => self.client_id().to_owned(),
            "outcome" => if err.is_retryable() { "unavailable" } else { "refused" }
        )
        .increment(1);
        tracing::warn!(client = self.client_id(), error = %err, "no token from the token endpoint");
        err
    }

    /// One token request; a failure comes with the server's `Retry-After`, if it sent one.
    async fn request_once(
        &self,
        refresh_token: Option<&SecretString>,
    ) -> Result<Obtained, (Error, Option<Duration>)> {
        let (url, audience) = self.endpoint().await.map_err(|e| (e, None))?;
        let mut form: Vec<(&str, &str)> = Vec::with_capacity(6);
        match self.grant {
            GrantKind::ClientCredentials => form.push(("grant_type", "client_credentials")),
            GrantKind::RefreshToken => {
                let Some(refresh_token) = refresh_token else {
                    return Err((
                        Error::new(
                            ErrorKind::InvalidGrant,
                            "no refresh token is left to renew with",
                        ),
                        None,
                    ));
                };
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", refresh_token.expose_secret()));
            }
        }
        if let Some(scope) = &self.params.scope {
            form.push(("scope", scope));
        }
        for resource in &self.params.resources {
            form.push(("resource", resource));
        }
        if let Some(audience) = &self.params.audience {
            form.push(("audience", audience));
        }
        let auth = self
            .client
            .auth
            .authenticate(audience)
            .map_err(|e| (e.into(), None))?;
        let mut requested_at = SystemTime::now();
        let mut answer = self.post(url, &auth, &form).await?;
        if let Some(nonce) = self.needs_nonce(&answer) {
            // RFC 9449 §8: once more, with the server's nonce.
            tracing::debug!("the token endpoint asked for a DPoP nonce; asking once more");
            *self
                .dpop_nonce
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(nonce);
            requested_at = SystemTime::now();
            answer = self.post(url, &auth, &form).await?;
        }
        if let (Some(_), Some(nonce)) = (&self.dpop, &answer.dpop_nonce) {
            *self
                .dpop_nonce
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(nonce.clone());
        }
        let retry_after = answer
            .retry_after
            .as_deref()
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        self.read_answer(answer.status, &answer.body, requested_at)
            .map_err(|e| (e, retry_after))
    }

    /// One POST to the token endpoint, with a DPoP proof when tokens are bound.
    async fn post(
        &self,
        url: &Url,
        auth: &Authentication,
        form: &[(&str, &str)],
    ) -> Result<Fetched, (Error, Option<Duration>)> {
        let proof = match &self.dpop {
            Some(key) => {
                let nonce = self
                    .dpop_nonce
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                Some(
                    key.proof("POST", url, None, nonce.as_deref())
                        .map_err(|e| (e, None))?,
                )
            }
            None => None,
        };
        let headers: Vec<(&str, &str)> =
            proof.iter().map(|proof| ("dpop", proof.as_str())).collect();
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.fetcher
            .post_form(url, auth, form, &headers)
            .await
            .map_err(|e| (e.into(), None))
    }

    /// The nonce to retry with, when the answer is RFC 9449's `use_dpop_nonce`.
    fn needs_nonce(&self, answer: &Fetched) -> Option<String> {
        self.dpop.as_ref()?;
        if answer.status != 400 && answer.status != 401 {
            return None;
        }
        let error: ErrorResponse = serde_json::from_slice(&answer.body).ok()?;
        (error.error == "use_dpop_nonce").then(|| answer.dpop_nonce.clone())?
    }

    fn read_answer(
        &self,
        status: u16,
        body: &[u8],
        requested_at: SystemTime,
    ) -> Result<Obtained, Error> {
        match status {
            200..=299 => {}
            400 | 401 => {
                let Ok(answer) = serde_json::from_slice::<ErrorResponse>(body) else {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!("the token endpoint answered {status} without an OAuth error"),
                    ));
                };
                let kind = ErrorKind::from_oauth_code(&answer.error);
                let mut detail = format!(
                    "the token endpoint answered {status} {}",
                    printable(&answer.error, 64)
                );
                if let Some(description) = answer.error_description {
                    detail.push_str(": ");
                    detail.push_str(&printable(&description, 200));
                }
                return Err(Error::new(kind, detail));
            }
            429 | 500..=599 => {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("the token endpoint answered {status}"),
                ));
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("the token endpoint answered {status}"),
                ));
            }
        }
        let answer: TokenResponse = serde_json::from_slice(body).map_err(|e| {
            Error::with_source(
                ErrorKind::Protocol,
                "the token endpoint's answer is not a token response",
                e,
            )
        })?;
        let dpop = self.dpop.is_some() && answer.token_type.eq_ignore_ascii_case("dpop");
        if !dpop && !answer.token_type.eq_ignore_ascii_case("bearer") {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!(
                    "the token endpoint issued a {} token; only Bearer (and, with a DPoP key, DPoP) tokens are sent",
                    printable(&answer.token_type, 32)
                ),
            ));
        }
        if answer.access_token.is_empty() {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the token endpoint issued an empty access token",
            ));
        }
        let expires_in = match &answer.expires_in {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => n.as_u64().or_else(|| {
                // A fractional or negative number: whole seconds, not below zero.
                n.as_f64().map(|f| f.max(0.0) as u64)
            }),
            // Some servers send it as a string.
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        if expires_in == Some(0) {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the token endpoint issued a token that has already expired (expires_in 0)",
            ));
        }
        // A JWT's own lifetime, `exp - iat` (from the server's clock, so that a skewed local
        // clock does not shorten it), else `exp` against the local clock.
        let now_unix = requested_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let jwt_lifetime = decode_unverified::<Times>(&answer.access_token)
            .ok()
            .and_then(|times| {
                let exp = times.exp?;
                let own = exp.saturating_sub(times.iat.unwrap_or(now_unix));
                // A token issued long ago (a server that hands out a cached one) has less left:
                // its `exp` against this clock, with a minute of allowance for skew.
                let left = exp.saturating_sub(now_unix).saturating_add(CLOCK_SKEW_SECS);
                Some(own.min(left))
            });
        let lifetime = self.renewal.lifetime(expires_in, jwt_lifetime);
        if lifetime.is_zero() {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the token endpoint issued a token that has already expired",
            ));
        }
        // Measured from when the request was sent: the token can't live longer than that.
        let expires_at = requested_at.checked_add(lifetime).ok_or_else(|| {
            Error::new(ErrorKind::Protocol, "the token's lifetime is out of range")
        })?;
        let mut token =
            AccessToken::new(answer.access_token, expires_at, requested_at, answer.scope)?;
        if dpop {
            token = token.bound_to_dpop()?;
        } else if self.dpop.is_some() {
            tracing::warn!("the token endpoint issued a Bearer token despite the DPoP proof");
        }
        Ok(Obtained {
            token,
            refresh_token: answer.refresh_token.map(SecretString::from),
            lifetime,
        })
    }
}

/// The longest `Retry-After` waited for before a retry: 10 s. A server asking for more is
/// not retried now; the current token is served meanwhile.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The clock skew allowed between this host and the server when a JWT's `exp` is read: 60 s.
const CLOCK_SKEW_SECS: u64 = 60;

/// The longest a `Retry-After` holds requests back: an hour.
const MAX_PAUSE: Duration = Duration::from_secs(3600);

/// At most `max` characters of what a server said, control characters dropped.
fn printable(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> TokenSource {
        let fetcher = Fetcher::new(None, Duration::from_secs(1), 1024, false).unwrap();
        TokenSource::new(
            OAuthClient::with_token_endpoint(
                "https://idp.example/token",
                ClientAuth::secret_basic("svc", "s"),
            ),
            GrantKind::ClientCredentials,
            TokenParams::new(),
            fetcher,
            RetryPolicy::default(),
            RenewalPolicy::default(),
            None,
        )
    }

    #[test]
    fn answers_are_read_strictly() {
        let source = source();
        let now = SystemTime::now();
        let ok = source
            .read_answer(
                200,
                br#"{"access_token":"abc","token_type":"bearer","expires_in":"120","refresh_token":"r"}"#,
                now,
            )
            .unwrap();
        assert_eq!(ok.lifetime, Duration::from_secs(120));
        assert!(ok.refresh_token.is_some());
        let no_exp = source
            .read_answer(200, br#"{"access_token":"abc","token_type":"Bearer"}"#, now)
            .unwrap();
        assert_eq!(no_exp.lifetime, Duration::from_secs(300));

        // A JWT handed out long after it was issued: what is left of it counts, not its
        // whole life.
        let b64 = |text: &str| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
        };
        let now_unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let old = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256"}"#),
            b64(&format!(
                r#"{{"iat":{},"exp":{}}}"#,
                now_unix - 290,
                now_unix + 10
            ))
        );
        let body = format!(r#"{{"access_token":"{old}","token_type":"Bearer"}}"#);
        let aged = source.read_answer(200, body.as_bytes(), now).unwrap();
        assert_eq!(
            aged.lifetime,
            Duration::from_secs(70),
            "10 s left, 60 s of skew"
        );
        let zero = source.read_answer(
            200,
            br#"{"access_token":"abc","token_type":"Bearer","expires_in":0}"#,
            now,
        );
        assert_eq!(zero.err().unwrap().kind(), ErrorKind::Protocol);

        let cases: [(u16, &[u8], ErrorKind); 7] = [
            (
                400,
                br#"{"error":"invalid_grant","error_description":"used\r\nup"}"#,
                ErrorKind::InvalidGrant,
            ),
            (
                401,
                br#"{"error":"invalid_client"}"#,
                ErrorKind::InvalidClient,
            ),
            (401, b"<html>", ErrorKind::Refused),
            (503, b"", ErrorKind::Unavailable),
            (429, b"", ErrorKind::Unavailable),
            (
                200,
                br#"{"access_token":"abc","token_type":"mac"}"#,
                ErrorKind::Protocol,
            ),
            (200, br#"{"token_type":"Bearer"}"#, ErrorKind::Protocol),
        ];
        for (status, body, kind) in cases {
            let err = source.read_answer(status, body, now).err().unwrap();
            assert_eq!(
                err.kind(),
                kind,
                "{status} {}",
                String::from_utf8_lossy(body)
            );
            assert!(!err.to_string().contains('\n'));
        }
    }
}
