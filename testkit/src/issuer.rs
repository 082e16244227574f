//! A local OpenID issuer on loopback: discovery, JWKS and an OAuth 2.0 token endpoint over
//! real HTTP, with knobs for the situations a validator or a client must survive.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::keys::TestKey;
use crate::token::TokenBuilder;

mod token_endpoint;

use token_endpoint::RefreshGrant;

/// The audience of the tokens an [`Issuer`] mints unless told otherwise.
pub const DEFAULT_AUDIENCE: &str = "https://api.example.test";

/// An OpenID issuer serving `/.well-known/openid-configuration`, `/jwks` and an OAuth 2.0
/// token endpoint (`POST /token`) on `127.0.0.1:<free port>`, and minting tokens with its
/// current key.
///
/// It counts requests per path, rotates keys, serves broken documents on demand, and can be
/// taken down (connections refused) and brought back on the same port.
///
/// The token endpoint (RFC 6749) authenticates the clients registered with
/// [`register_client`](Self::register_client) by `client_secret_basic` or
/// `client_secret_post`, and grants `client_credentials` and `refresh_token` (refresh tokens
/// come from [`issue_refresh_token`](Self::issue_refresh_token) and rotate on use). Its
/// answers can be slowed down ([`set_delay`](Self::set_delay)), made to fail
/// ([`set_token_failure`](Self::set_token_failure)) or refused altogether
/// ([`take_down`](Self::take_down)).
///
/// ```no_run
/// # async fn run() {
/// use jwtguard_testkit::Issuer;
///
/// let issuer = Issuer::start().await;
/// let token = issuer.token().claim("scope", "read").sign();
/// assert_eq!(issuer.hits("/jwks"), 0);
/// issuer.rotate();                 // a new current key; the old one stays published
/// issuer.take_down().await;         // the IdP is unreachable
/// issuer.bring_up().await;          // and back
///
/// issuer.register_client("svc", "s3cret");
/// let refresh = issuer.issue_refresh_token("svc", "read write");
/// // POST client_credentials or refresh_token grants to `issuer.token_endpoint()`.
/// # let _ = refresh;
/// # }
/// ```
pub struct Issuer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

struct Shared {
    url: String,
    state: Mutex<IssuerState>,
}

struct IssuerState {
    /// Published keys; the first is the current signing key.
    keys: Vec<Arc<TestKey>>,
    hits: HashMap<String, usize>,
    jwks_override: Option<(u16, String)>,
    discovery_issuer: Option<String>,
    openid_configuration: bool,
    cache_control: Option<String>,
    not_modified: usize,
    delay: Duration,
    /// Registered clients: `client_id` → secret.
    clients: HashMap<String, String>,
    /// Live refresh tokens and what they grant.
    refresh_tokens: HashMap<String, RefreshGrant>,
    refresh_rotation: bool,
    token_ttl: Duration,
    token_failure: Option<u16>,
    omit_expires_in: bool,
    /// `/token` requests per `grant_type` value.
    grant_requests: HashMap<String, usize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, IssuerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A token signed by the current key, with the default claims of [`Issuer::token`].
    fn issued_token(&self) -> IssuedToken {
        IssuedToken {
            key: Arc::clone(&self.lock().keys[0]),
            issuer: self.url.clone(),
            extra: Vec::new(),
        }
    }
}

impl Issuer {
    /// Starts an issuer with one RS256 key (`kid` `"rsa-1"`).
    pub async fn start() -> Self {
        Self::start_with(vec![TestKey::rsa("rsa-1")]).await
    }

    /// Starts an issuer publishing `keys`; the first one signs.
    ///
    /// # Panics
    /// If `keys` is empty or no loopback port can be bound.
    pub async fn start_with(keys: Vec<TestKey>) -> Self {
        assert!(!keys.is_empty(), "an issuer needs at least one key");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            url: format!("http://{addr}"),
            state: Mutex::new(IssuerState {
                keys: keys.into_iter().map(Arc::new).collect(),
                hits: HashMap::new(),
                jwks_override: None,
                discovery_issuer: None,
                openid_configuration: true,
                cache_control: None,
                not_modified: 0,
                delay: Duration::ZERO,
                clients: HashMap::new(),
                refresh_tokens: HashMap::new(),
                refresh_rotation: true,
                token_ttl: Duration::from_secs(300),
                token_failure: None,
                omit_expires_in: false,
                grant_requests: HashMap::new(),
            }),
        });
        Self {
            server: Mutex::new(Some(serve(listener, Arc::clone(&shared)))),
            shared,
            addr,
        }
    }

    /// The issuer identifier: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The JWKS location: `{url}/jwks`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.shared.url)
    }

    /// The token endpoint: `{url}/token` (also named by both discovery documents).
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.shared.url)
    }

    /// The current signing key.
    pub fn signing_key(&self) -> Arc<TestKey> {
        Arc::clone(&self.shared.lock().keys[0])
    }

    /// The published JWKS document.
    pub fn jwks(&self) -> Value {
        let state = self.shared.lock();
        crate::keys::jwks(state.keys.iter().map(|k| &**k))
    }

    /// A token from this issuer, signed by the current key, with `iss`, `aud`
    /// ([`DEFAULT_AUDIENCE`]), `sub` (`"user-1"`), `iat` (now), `exp` (now + 300 s) and `jti`.
    /// Change any of it before signing.
    pub fn token(&self) -> IssuedToken {
        self.shared.issued_token()
    }

    /// Generates a new RS256 key and makes it the signing key; the old keys stay published.
    /// Returns the new key's `kid`.
    pub fn rotate(&self) -> String {
        let mut state = self.shared.lock();
        let kid = format!("rsa-{}", state.keys.len() + 1);
        state.keys.insert(0, Arc::new(TestKey::rsa(kid.clone())));
        kid
    }

    /// Makes `key` the signing key; the old keys stay published.
    pub fn rotate_to(&self, key: TestKey) {
        self.shared.lock().keys.insert(0, Arc::new(key));
    }

    /// Stops publishing the key with this `kid` (unless it is the only one).
    pub fn retire(&self, kid: &str) {
        let mut state = self.shared.lock();
        if state.keys.len() > 1 {
            state.keys.retain(|k| k.kid() != kid);
        }
    }

    /// Serves this status and body at `/jwks` instead of the keys (`None`: the keys again).
    pub fn override_jwks(&self, answer: Option<(u16, String)>) {
        self.shared.lock().jwks_override = answer;
    }

    /// Publishes this `issuer` in the discovery document instead of the real one (`None`: the
    /// real one again).
    pub fn override_discovery_issuer(&self, issuer: Option<String>) {
        self.shared.lock().discovery_issuer = issuer;
    }

    /// Whether `/.well-known/openid-configuration` is served (default `true`); the RFC 8414
    /// `/.well-known/oauth-authorization-server` document is always served.
    pub fn serve_openid_configuration(&self, serve: bool) {
        self.shared.lock().openid_configuration = serve;
    }

    /// Sends this `Cache-Control` with the JWKS (default none).
    pub fn set_cache_control(&self, value: Option<&str>) {
        self.shared.lock().cache_control = value.map(str::to_owned);
    }

    /// Registers a confidential client of the token endpoint, authenticated by `secret`
    /// (`client_secret_basic` or `client_secret_post`). Registering a `client_id` again
    /// replaces its secret. No client is registered by default.
    pub fn register_client(&self, client_id: &str, secret: &str) {
        self.shared
            .lock()
            .clients
            .insert(client_id.to_owned(), secret.to_owned());
    }

    /// A new refresh token for `client_id`, granting `scope` (space-separated scope values;
    /// `""` for none) for the audience [`DEFAULT_AUDIENCE`], as an authorization-code flow
    /// would have issued it. The token is an opaque random string kept in memory; only
    /// `client_id` may redeem it, at `POST /token` with `grant_type=refresh_token`.
    ///
    /// The client does not have to be registered yet.
    ///
    /// # Panics
    /// If the system's random number generator fails.
    pub fn issue_refresh_token(&self, client_id: &str, scope: &str) -> String {
        let token = token_endpoint::random_string().expect("system randomness");
        let grant = RefreshGrant::new(client_id, scope, vec![DEFAULT_AUDIENCE.to_owned()]);
        self.shared
            .lock()
            .refresh_tokens
            .insert(token.clone(), grant);
        token
    }

    /// Whether redeeming a refresh token rotates it (default `true`): the answer carries a
    /// new `refresh_token` and the one presented stops working. With `false`, a refresh
    /// token stays valid after use and answers carry no `refresh_token`.
    pub fn set_refresh_rotation(&self, rotate: bool) {
        self.shared.lock().refresh_rotation = rotate;
    }

    /// The lifetime of the access tokens minted by the token endpoint: their `exp` is
    /// `iat + ttl` and the answer's `expires_in` is `ttl`, both in whole seconds (a fraction
    /// of a second is dropped). Default 300 s. Tokens from [`token`](Self::token) are not
    /// affected.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.shared.lock().token_ttl = ttl;
    }

    /// Makes every `POST /token` answer this HTTP status until called with `None` (the
    /// default), whatever the request. The body is an OAuth 2.0 error: `invalid_grant` for
    /// 400, `invalid_client` for 401, `server_error` for 500 and `temporarily_unavailable`
    /// for any other status (such as 503). A status outside `200..=599` is answered as 500.
    ///
    /// The request is still counted by [`hits`](Self::hits) and
    /// [`token_requests_by_grant`](Self::token_requests_by_grant).
    pub fn set_token_failure(&self, status: Option<u16>) {
        self.shared.lock().token_failure = status;
    }

    /// Whether the token endpoint leaves `expires_in` out of its answers (default `false`:
    /// `expires_in` is sent). The tokens' `exp` claim is unchanged.
    pub fn omit_expires_in(&self, omit: bool) {
        self.shared.lock().omit_expires_in = omit;
    }

    /// How many `POST /token` requests carried `grant_type=<grant>` (such as
    /// `"client_credentials"` or `"refresh_token"`), whether they were granted or not. A
    /// request whose form could not be read is counted by [`hits`](Self::hits) only.
    pub fn token_requests_by_grant(&self, grant: &str) -> usize {
        self.shared
            .lock()
            .grant_requests
            .get(grant)
            .copied()
            .unwrap_or(0)
    }

    /// Delays every answer by this long (default none).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// How many requests reached `path` (such as `"/jwks"`).
    pub fn hits(&self, path: &str) -> usize {
        self.shared.lock().hits.get(path).copied().unwrap_or(0)
    }

    /// How many JWKS requests were answered `304 Not Modified`.
    pub fn not_modified_answers(&self) -> usize {
        self.shared.lock().not_modified
    }

    /// Forgets the request counts ([`hits`](Self::hits) and
    /// [`token_requests_by_grant`](Self::token_requests_by_grant)).
    pub fn reset_hits(&self) {
        let mut state = self.shared.lock();
        state.hits.clear();
        state.grant_requests.clear();
    }

    /// Closes the listener and every connection: requests are refused until
    /// [`bring_up`](Self::bring_up).
    pub async fn take_down(&self) {
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((stop, task)) = server {
            let _ = stop.send(());
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Listens again on the same port.
    ///
    /// # Panics
    /// If the port can't be bound again within a few seconds.
    pub async fn bring_up(&self) {
        if self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return;
        }
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) if attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("could not bind {} again: {e}", self.addr),
            }
        };
        *self.server.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(serve(listener, Arc::clone(&self.shared)));
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        if let Some((stop, task)) = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = stop.send(());
            task.abort();
        }
    }
}

/// A token being minted by an [`Issuer`]: registered claims filled in, the rest yours.
pub struct IssuedToken {
    key: Arc<TestKey>,
    issuer: String,
    extra: Vec<Edit>,
}

enum Edit {
    Claim(String, Value),
    RemoveClaim(String),
    Header(String, Value),
}

impl IssuedToken {
    /// Sets a claim (replacing a default one).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extra.push(Edit::Claim(name.to_owned(), value.into()));
        self
    }

    /// Removes a claim (a default one too).
    pub fn without_claim(mut self, name: &str) -> Self {
        self.extra.push(Edit::RemoveClaim(name.to_owned()));
        self
    }

    /// Sets a header member.
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extra.push(Edit::Header(name.to_owned(), value.into()));
        self
    }

    /// Signs the token with the issuer's current key.
    pub fn sign(self) -> String {
        self.with_builder(|b| b.sign())
    }

    /// Hands the finished builder over for any other ending (unsigned, HMAC, raw signature).
    pub fn with_builder<R>(self, finish: impl FnOnce(TokenBuilder<'_>) -> R) -> R {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut builder = self.key.token().claims(json!({
            "iss": self.issuer,
            "aud": DEFAULT_AUDIENCE,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "jti": format!("jti-{now}-{}", std::process::id()),
        }));
        for edit in self.extra {
            builder = match edit {
                Edit::Claim(name, value) => builder.claim(&name, value),
                Edit::RemoveClaim(name) => builder.without_claim(&name),
                Edit::Header(name, value) => builder.header(&name, value),
            };
        }
        finish(builder)
    }
}

fn serve(listener: TcpListener, shared: Arc<Shared>) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/.well-known/oauth-authorization-server", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token_endpoint::token))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            count_and_delay,
        ))
        .with_state(shared);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    (stop, task)
}

async fn count_and_delay(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let delay = {
        let mut state = shared.lock();
        *state
            .hits
            .entry(request.uri().path().to_owned())
            .or_default() += 1;
        state.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
}

async fn openid_configuration(state: State<Arc<Shared>>) -> Response {
    if !state.lock().openid_configuration {
        return StatusCode::NOT_FOUND.into_response();
    }
    discovery(state).await
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    let issuer = shared
        .lock()
        .discovery_issuer
        .clone()
        .unwrap_or_else(|| shared.url.clone());
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/jwks", shared.url),
        "token_endpoint": format!("{}/token", shared.url),
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
    }))
    .into_response()
}

/// Serves the keys with an `ETag` (a digest of the document) and answers `304 Not Modified`
/// to a matching `If-None-Match`.
async fn jwks(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let mut state = shared.lock();
    if let Some((status, body)) = &state.jwks_override {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.clone(),
        )
            .into_response();
    }
    let document = crate::keys::jwks(state.keys.iter().map(|k| &**k)).to_string();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, document.as_bytes());
    let etag = format!("\"{}\"", crate::b64(&digest.as_ref()[..12]));
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        state.not_modified += 1;
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], document).into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Some(value) = state
        .cache_control
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}
