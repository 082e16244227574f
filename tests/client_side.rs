//! The client side (`jwtguard::client`, `jwtguard::blocking`) against real parts: access
//! tokens for a service's outgoing calls from the real `oidc-provider` (`client_secret_basic`,
//! `client_secret_post`, `private_key_jwt`), renewed ahead of expiry, one token request for a
//! thousand callers and for two instances sharing a real Redis, an outage of the provider
//! ridden out and healed, the outgoing middleware against a jwtguard-protected API (one retry
//! on a 401, tokens only for the allowed origin), and the blocking front from plain code.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use jwtguard::client::{
    AccessToken, BearerLayer, BearerMiddleware, ClientAuth, ClientKey, ManagedToken, OAuthClient,
    RenewalPolicy, RetryPolicy, TokenManager, TokenParams, decode_unverified,
};
use jwtguard::keys::RedisKeyCache;
use jwtguard::testkit::TestKey;
use jwtguard::{Algorithm, TypeCheck, Validator};
use jwtguard_examples::axum_app;
use jwtguard_tests::{CLIENTS, IDP_AUDIENCE, Idp, JWT_CLIENT, POST_CLIENT, RedisServer, serve};
use reqwest_middleware::ClientWithMiddleware;
use serde_json::{Value, json};

/// A resource other than the provider's default audience.
const OTHER_RESOURCE: &str = "https://other.example.test";
/// The secret every instance shares to encrypt the tokens they store in Redis.
const SHARED_SECRET: &str = "a-secret-shared-by-every-instance-of-the-service";

/// The `client_secret_basic` client used throughout: `admin-rs`.
const ADMIN: (&str, &str) = (CLIENTS[0].0, CLIENTS[0].1);

/// `work`, or a panic naming `what` if it takes longer than `limit`.
async fn within<F: Future>(limit: Duration, what: &str, work: F) -> F::Output {
    match tokio::time::timeout(limit, work).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: nothing within {limit:?}"),
    }
}

/// A token from `token`, within 15 s.
async fn fetch(token: &ManagedToken) -> Arc<AccessToken> {
    within(Duration::from_secs(15), "a token", token.get())
        .await
        .expect("a token from the provider")
}

fn admin_client(idp: &Idp) -> OAuthClient {
    OAuthClient::discover(idp.issuer(), ClientAuth::secret_basic(ADMIN.0, ADMIN.1))
}

fn claims(token: &AccessToken) -> Value {
    decode_unverified(token.expose()).expect("a JWT access token")
}

/// A path in a directory of this test run.
fn temp_path(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("jwtguard-client-side-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name).to_string_lossy().into_owned()
}

/// How long ago `token` was obtained (its schedule counts from then).
fn age(token: &AccessToken) -> Duration {
    SystemTime::now()
        .duration_since(token.obtained_at())
        .unwrap_or_default()
}

/// Sleeps until `token` is `offset` old.
async fn sleep_until_age(token: &AccessToken, offset: Duration) {
    tokio::time::sleep(offset.saturating_sub(age(token))).await;
}

/// A `reqwest-middleware` client that sends `token` to `origin` only.
fn bearer_client(token: &ManagedToken, origin: &str) -> ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerMiddleware::new(token.clone(), [origin]).expect("a loopback origin"))
        .build()
}

/// Sends a GET through `http`, within 20 s.
async fn call(http: &ClientWithMiddleware, url: String) -> reqwest::Response {
    within(Duration::from_secs(20), "a call", http.get(url).send())
        .await
        .expect("an answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_and_two_resources_side_by_side() {
    let idp = Idp::start().await;
    let manager = TokenManager::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let basic = admin_client(&idp);
    // The provider refuses HTTP Basic for post-rs: a token proves the secret went in the form.
    let post = OAuthClient::discover(
        idp.issuer(),
        ClientAuth::secret_post(POST_CLIENT.0, POST_CLIENT.1),
    );
    let cases = [
        (&basic, ADMIN.0, "read write", IDP_AUDIENCE),
        (&basic, ADMIN.0, "read write", OTHER_RESOURCE),
        (&post, POST_CLIENT.0, "read", IDP_AUDIENCE),
        (&post, POST_CLIENT.0, "read", OTHER_RESOURCE),
    ];
    let tokens: Vec<ManagedToken> = cases
        .iter()
        .map(|(client, _, scope, resource)| {
            manager
                .client_credentials(client, TokenParams::new().scope(*scope).resource(*resource))
                .unwrap()
        })
        .collect();
    assert_eq!(manager.len(), 4);

    // Every managed token asked for by 8 callers at once.
    let callers: Vec<_> = tokens
        .iter()
        .flat_map(|token| {
            (0..8).map(move |_| {
                let token = token.clone();
                tokio::spawn(async move { token.get().await })
            })
        })
        .collect();
    let mut answers = Vec::new();
    for caller in callers {
        let token = within(Duration::from_secs(15), "a caller", caller)
            .await
            .unwrap()
            .expect("a token");
        answers.push(token);
    }
    let mut values = HashSet::new();
    for (answers, (_, client_id, scope, resource)) in answers.chunks(8).zip(cases) {
        let token = &answers[0];
        assert!(answers.iter().all(|t| t.is(token.expose())), "{client_id}");
        let claims = claims(token);
        assert_eq!(claims["iss"], idp.issuer());
        assert_eq!(claims["sub"], client_id);
        assert_eq!(claims["client_id"], client_id);
        assert_eq!(claims["aud"], resource, "{client_id}");
        assert_eq!(claims["scope"], scope, "{client_id}");
        values.insert(token.expose().to_owned());
    }
    assert_eq!(values.len(), 4, "four distinct tokens");

    // The same client and parameters again: the same managed token, no new request.
    let again = manager
        .client_credentials(
            &basic,
            TokenParams::new()
                .scope("read write")
                .resource(IDP_AUDIENCE),
        )
        .unwrap();
    assert!(fetch(&again).await.is(answers[0].expose()));
    assert_eq!(manager.len(), 4);

    let counts = idp.token_requests().await;
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 2);
    assert_eq!(idp.token_requests_for(POST_CLIENT.0).await, 2);
    assert_eq!(counts["requests"], 4, "{counts}");
    assert_eq!(counts["succeeded"], 4, "{counts}");
    println!("two clients x two resources: token requests {counts}");
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_with_the_registered_key_and_a_stranger_key() {
    let key = TestKey::rsa("kid-1");
    let jwks = temp_path("client-jwks.json");
    std::fs::write(&jwks, json!({"keys": [key.public_jwk()]}).to_string()).unwrap();
    let idp = Idp::start_with(&[("IDP_CLIENT_JWKS_FILE", jwks)]).await;
    let client_key = |key: &TestKey| {
        ClientKey::from_pem(key.private_key_pem().as_bytes(), Algorithm::RS256)
            .expect("an RSA private key")
            .with_kid("kid-1")
    };
    let auth = ClientAuth::private_key_jwt(JWT_CLIENT, client_key(&key));
    let manager = TokenManager::builder().build().unwrap();

    // Discovery: the assertion's audience is the issuer.
    let token = manager
        .client_credentials(
            &OAuthClient::discover(idp.issuer(), auth.clone()),
            TokenParams::new().scope("read write"),
        )
        .unwrap();
    let first = claims(&*fetch(&token).await);
    assert_eq!(first["sub"], JWT_CLIENT);
    assert_eq!(first["client_id"], JWT_CLIENT);
    assert_eq!(first["aud"], IDP_AUDIENCE);
    assert_eq!(first["roles"], json!(["service"]));
    assert_eq!(idp.token_requests_for(JWT_CLIENT).await, 1);

    // The token endpoint given: the assertion's audience is the endpoint's URL.
    let direct = manager
        .client_credentials(
            &OAuthClient::with_token_endpoint(format!("{}/token", idp.issuer()), auth),
            TokenParams::new().scope("read").resource(OTHER_RESOURCE),
        )
        .unwrap();
    let second = claims(&*fetch(&direct).await);
    assert_eq!(second["sub"], JWT_CLIENT);
    assert_eq!(second["aud"], OTHER_RESOURCE);
    assert_eq!(second["scope"], "read");
    assert_eq!(idp.token_requests_for(JWT_CLIENT).await, 2);

    // Another key under the same kid: the signature does not verify.
    let stranger = TokenManager::builder().build().unwrap();
    let refused = stranger
        .client_credentials(
            &OAuthClient::discover(
                idp.issuer(),
                ClientAuth::private_key_jwt(JWT_CLIENT, client_key(&TestKey::rsa("kid-1"))),
            ),
            TokenParams::new().scope("read write"),
        )
        .unwrap();
    let err = within(Duration::from_secs(15), "a refusal", refused.get())
        .await
        .unwrap_err();
    assert!(err.is_invalid_client(), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.oauth_code(), Some("invalid_client"));
    assert_eq!(
        idp.token_requests_for(JWT_CLIENT).await,
        3,
        "the refusal is not retried"
    );
    let counts = idp.token_requests().await;
    assert_eq!(counts["clients"][JWT_CLIENT]["succeeded"], 2, "{counts}");
    println!("private_key_jwt: token requests {counts}");
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lived_token_is_renewed_ahead_of_expiry() {
    let idp = Idp::start_with(&[("IDP_TOKEN_TTL", "8".into())]).await;
    let manager = TokenManager::builder()
        .renewal(RenewalPolicy::default().jitter(0.0))
        .build()
        .unwrap();
    let token = manager
        .client_credentials(&admin_client(&idp), TokenParams::new().scope("read"))
        .unwrap();
    let first = fetch(&token).await;
    let lifetime = first
        .expires_at()
        .duration_since(first.obtained_at())
        .unwrap();
    assert_eq!(
        lifetime,
        Duration::from_secs(8),
        "expires_in of the provider"
    );

    // An 8 s token: renewal from 4 s on (half its life), handed out until 6 s.
    let mut polls = 0;
    while age(&first) < Duration::from_millis(3_700) {
        assert!(fetch(&token).await.is(first.expose()), "not renewed early");
        polls += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(polls > 0, "polled before the renewal was due");
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 1);

    sleep_until_age(&first, Duration::from_millis(4_500)).await;
    let during = fetch(&token).await;
    assert!(
        during.is(first.expose()),
        "at 4.5 s the old token is served at once while the renewal runs"
    );

    let renewed = loop {
        let now = fetch(&token).await;
        if !now.is(first.expose()) {
            break now;
        }
        assert!(age(&first) < Duration::from_secs(8), "no renewal in 8 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let renewed_at = age(&first);
    assert!(renewed.expires_at() > first.expires_at());
    let (old_exp, new_exp) = (
        claims(&first)["exp"].as_u64().unwrap(),
        claims(&renewed)["exp"].as_u64().unwrap(),
    );
    assert!(new_exp > old_exp, "exp {old_exp} then {new_exp}");
    assert_eq!(claims(&renewed)["sub"], ADMIN.0);
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 2);
    println!(
        "renewal: {polls} polls of the first token, new token {renewed_at:?} into its life, exp {old_exp} -> {new_exp}, 2 token requests"
    );
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_make_one_token_request() {
    let idp = Idp::start_with(&[("IDP_TOKEN_DELAY_MS", "300".into())]).await;
    let manager = TokenManager::builder().build().unwrap();
    let token = manager
        .client_credentials(&admin_client(&idp), TokenParams::new().scope("read"))
        .unwrap();
    let callers: Vec<_> = (0..1_000)
        .map(|_| {
            let token = token.clone();
            tokio::spawn(async move { token.get().await.map(|t| t.expose().to_owned()) })
        })
        .collect();
    let values = within(Duration::from_secs(30), "1,000 callers", async {
        let mut values = HashSet::new();
        for caller in callers {
            values.insert(caller.await.unwrap().expect("a token"));
        }
        values
    })
    .await;
    assert_eq!(values.len(), 1, "every caller got the same token");
    let counts = idp.token_requests().await;
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 1, "{counts}");
    assert_eq!(counts["requests"], 1, "{counts}");
    assert_eq!(counts["in_flight"], 0, "{counts}");
    assert_eq!(idp.hits().await["/.well-known/openid-configuration"], 1);
    let value = values.into_iter().next().unwrap();
    let peeked: Value = decode_unverified(&value).unwrap();
    assert_eq!(peeked["sub"], ADMIN.0);
    println!("1,000 callers: token requests {counts}");
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_make_one_token_request() {
    let mut redis = RedisServer::start().await;
    // A slow token endpoint, so that both instances ask while the first request runs.
    let idp = Idp::start_with(&[("IDP_TOKEN_DELAY_MS", "200".into())]).await;
    let instance = |url: &str| {
        TokenManager::builder()
            .timeout(Duration::from_secs(5))
            .shared(
                RedisKeyCache::new(url).expect("a Redis cache"),
                SHARED_SECRET,
            )
            .shared_wait(Duration::from_secs(5))
            .build()
            .expect("a shared token manager")
    };
    let instances = [instance(&redis.url()), instance(&redis.url())];
    let params = || TokenParams::new().scope("read").resource(IDP_AUDIENCE);
    let client = admin_client(&idp);
    let tokens: Vec<ManagedToken> = instances
        .iter()
        .map(|manager| manager.client_credentials(&client, params()).unwrap())
        .collect();
    let callers: Vec<_> = (0..50)
        .flat_map(|_| tokens.iter().enumerate())
        .map(|(instance, token)| {
            let token = token.clone();
            tokio::spawn(
                async move { (instance, token.get().await.map(|t| t.expose().to_owned())) },
            )
        })
        .collect();
    let mut per_instance = [HashSet::new(), HashSet::new()];
    within(Duration::from_secs(30), "100 callers", async {
        for caller in callers {
            let (instance, value) = caller.await.unwrap();
            per_instance[instance].insert(value.expect("a token"));
        }
    })
    .await;
    assert_eq!(per_instance[0].len(), 1, "one token on the first instance");
    assert_eq!(per_instance[0], per_instance[1], "the same on both");
    let shared_requests = idp.token_requests_for(ADMIN.0).await;
    assert_eq!(shared_requests, 1, "one token request for both instances");

    // A Redis nobody listens on: the manager asks the provider itself, the caller never fails.
    let closed = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let lonely = instance(&format!("redis://127.0.0.1:{closed}"));
    let alone = lonely.client_credentials(&client, params()).unwrap();
    let token = fetch(&alone).await;
    assert_eq!(claims(&token)["sub"], ADMIN.0);
    assert!(!per_instance[0].contains(token.expose()), "its own token");
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 2);

    // Redis killed under the running instances: a new token for another resource, and a
    // forced renewal of the shared one, each straight from the provider.
    redis.kill().await;
    let other = instances[0]
        .client_credentials(
            &client,
            TokenParams::new().scope("read").resource(OTHER_RESOURCE),
        )
        .unwrap();
    assert_eq!(claims(&*fetch(&other).await)["aud"], OTHER_RESOURCE);
    let renewed = within(Duration::from_secs(15), "a renewal", tokens[1].renew())
        .await
        .expect("a renewal without Redis");
    assert!(!per_instance[1].contains(renewed.expose()));
    let counts = idp.token_requests().await;
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 4, "{counts}");
    println!(
        "shared Redis: {shared_requests} token request for 2 instances x 50 callers; all counts {counts}"
    );
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_killed_then_restarted() {
    let keys = temp_path("outage-keys.json");
    let idp = Idp::start_with(&[
        ("IDP_TOKEN_TTL", "8".into()),
        ("IDP_WRITE_KEYS_FILE", keys.clone()),
    ])
    .await;
    let issuer = idp.issuer().to_owned();
    let port = idp.port();
    let validator = Validator::builder()
        .issuer(&issuer)
        .audience(IDP_AUDIENCE)
        .type_check(TypeCheck::AccessToken)
        .http_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let manager = TokenManager::builder()
        .timeout(Duration::from_secs(2))
        .renewal(RenewalPolicy::default().jitter(0.0))
        .retry(
            RetryPolicy::default()
                .retries(1)
                .backoff(Duration::from_millis(20), Duration::from_millis(50))
                .breaker(3, Duration::from_millis(500)),
        )
        .build()
        .unwrap();
    let token = manager
        .client_credentials(&admin_client(&idp), TokenParams::new().scope("read"))
        .unwrap();
    let first = fetch(&token).await;
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 1);
    idp.stop().await;

    // Renewal due (4 s): it fails behind the caller's back, the token is served.
    sleep_until_age(&first, Duration::from_millis(4_500)).await;
    assert!(fetch(&token).await.is(first.expose()), "served at 4.5 s");
    // Past the hand-out limit (6 s) but before expiry: still the same token.
    sleep_until_age(&first, Duration::from_millis(6_500)).await;
    assert!(fetch(&token).await.is(first.expose()), "served at 6.5 s");
    assert!(token.cached().is_none(), "past the hand-out limit");
    // Expired: a clear error.
    sleep_until_age(&first, Duration::from_millis(8_500)).await;
    let err = within(Duration::from_secs(15), "an error", token.get())
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.is_retryable());

    // The provider back on the same port with the same keys.
    let back = Idp::start_with(&[
        ("IDP_TOKEN_TTL", "8".into()),
        ("IDP_PORT", port.to_string()),
        ("IDP_KEYS_FILE", keys),
    ])
    .await;
    assert_eq!(back.issuer(), issuer);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut failed_polls = 0;
    let recovered = loop {
        match within(Duration::from_secs(15), "a token", token.get()).await {
            Ok(token) => break token,
            Err(err) => {
                assert!(err.is_unavailable(), "{err}");
                assert!(Instant::now() < deadline, "no recovery: {err}");
                failed_polls += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(!recovered.is(first.expose()));
    let verified = validator
        .validate(recovered.expose())
        .await
        .expect("signed with the same keys");
    assert_eq!(verified.subject(), Some(ADMIN.0));
    assert_eq!(
        back.token_requests_for(ADMIN.0).await,
        1,
        "one request once the provider is back"
    );
    println!(
        "outage: recovered after {failed_polls} failed polls, 1 token request at the restarted provider"
    );
    back.stop().await;
}

/// What the plain server saw: the `Authorization` header of each request, if any.
type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// The example API, protected by a validator for the provider's RFC 9068 access tokens.
async fn protected_api(idp: &Idp) -> String {
    let validator = Validator::builder()
        .issuer(idp.issuer())
        .audience(IDP_AUDIENCE)
        .type_check(TypeCheck::AccessToken)
        .build()
        .await
        .unwrap();
    serve(axum_app(validator)).await
}

/// A plain server on another loopback port that records the `Authorization` header of each
/// request to `/hook`.
async fn recording_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let base = serve(
        Router::new()
            .route(
                "/hook",
                get(|State(seen): State<Seen>, headers: HeaderMap| async move {
                    let authorization = headers
                        .get(header::AUTHORIZATION)
                        .map(|v| v.to_str().unwrap_or("?").to_owned());
                    seen.lock().unwrap().push(authorization);
                    "ok"
                }),
            )
            .with_state(Arc::clone(&seen)),
    )
    .await;
    (base, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_middleware_against_a_protected_api_and_only_there() {
    let idp = Idp::start().await;
    let api = protected_api(&idp).await;
    let (elsewhere, seen) = recording_server().await;
    assert_ne!(api, elsewhere, "another port on loopback");

    let manager = TokenManager::builder().build().unwrap();
    let token = manager
        .client_credentials(
            &admin_client(&idp),
            TokenParams::new()
                .scope("read write")
                .resource(IDP_AUDIENCE),
        )
        .unwrap();
    let http = bearer_client(&token, &api);

    let plain = reqwest::Client::new();
    let unauthenticated = within(
        Duration::from_secs(20),
        "a call",
        plain.get(format!("{api}/me")).send(),
    )
    .await
    .unwrap();
    assert_eq!(unauthenticated.status(), 401, "the API is protected");

    for round in 0..20 {
        let response = call(&http, format!("{api}/me")).await;
        assert_eq!(response.status(), 200, "call {round}");
        let me: Value = response.json().await.unwrap();
        assert_eq!(me["client_id"], ADMIN.0);
        assert_eq!(me["aud"], IDP_AUDIENCE);
    }
    assert_eq!(call(&http, format!("{api}/admin")).await.status(), 200);
    assert_eq!(call(&http, format!("{api}/scoped")).await.status(), 200);
    let requests = idp.token_requests_for(ADMIN.0).await;
    assert_eq!(requests, 1, "one token for 22 calls");

    // Another origin: the same client sends no token there.
    for _ in 0..3 {
        assert_eq!(call(&http, format!("{elsewhere}/hook")).await.status(), 200);
    }
    assert_eq!(*seen.lock().unwrap(), vec![None; 3]);

    // A request that brings its own Authorization is left alone: 401, no renewal.
    let own = within(
        Duration::from_secs(20),
        "a call",
        http.get(format!("{api}/me"))
            .bearer_auth("not-a-token")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(own.status(), 401);
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 1);
    println!(
        "middleware: 22 calls to the API with {requests} token request; 3 calls elsewhere, no Authorization"
    );
    idp.stop().await;
}

/// A server that refuses tokens: `/once` answers 401 to every request carrying the first token
/// it saw there (holding those answers until `hold` of them have arrived, at most 10 s) and
/// 200 to any other token; `/never` answers 401 to everything. It records the tokens seen.
#[derive(Default)]
struct Refuser {
    hold: usize,
    refused: Mutex<Option<String>>,
    arrived: AtomicUsize,
    once: Mutex<Vec<String>>,
    never: Mutex<Vec<String>>,
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}

async fn refuser(hold: usize) -> (String, Arc<Refuser>) {
    let state = Arc::new(Refuser {
        hold,
        ..Refuser::default()
    });
    let app = Router::new()
        .route(
            "/once",
            get(
                |State(state): State<Arc<Refuser>>, headers: HeaderMap| async move {
                    let token = bearer(&headers);
                    state.once.lock().unwrap().push(token.clone());
                    let refused = state
                        .refused
                        .lock()
                        .unwrap()
                        .get_or_insert_with(|| token.clone())
                        .clone();
                    if token != refused {
                        return StatusCode::OK;
                    }
                    state.arrived.fetch_add(1, Ordering::SeqCst);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while state.arrived.load(Ordering::SeqCst) < state.hold
                        && Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    StatusCode::UNAUTHORIZED
                },
            ),
        )
        .route(
            "/never",
            get(
                |State(state): State<Arc<Refuser>>, headers: HeaderMap| async move {
                    state.never.lock().unwrap().push(bearer(&headers));
                    StatusCode::UNAUTHORIZED
                },
            ),
        )
        .with_state(Arc::clone(&state));
    (serve(app).await, state)
}

fn distinct(tokens: &[String]) -> usize {
    tokens.iter().collect::<HashSet<_>>().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_costs_one_renewal_and_one_retry() {
    let idp = Idp::start().await;
    let manager = TokenManager::builder().build().unwrap();
    let token = manager
        .client_credentials(&admin_client(&idp), TokenParams::new().scope("read"))
        .unwrap();
    let (base, server) = refuser(1).await;
    let http = bearer_client(&token, &base);

    // The first token is refused: renewed once, sent again once, 200.
    let response = call(&http, format!("{base}/once")).await;
    assert_eq!(response.status(), 200);
    let once = server.once.lock().unwrap().clone();
    assert_eq!(once.len(), 2, "the call and one retry");
    assert_eq!(distinct(&once), 2, "the retry carried a new token");
    assert!(fetch(&token).await.is(&once[1]), "the new token is current");
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 2);

    // Always refused, right after that renewal: the token is not renewed again within the
    // pause after a forced renewal, so the API's 401 stands without a retry.
    let response = call(&http, format!("{base}/never")).await;
    assert_eq!(response.status(), 401);
    let never = server.never.lock().unwrap().clone();
    assert_eq!(never.len(), 1, "no retry with the same token");
    assert_eq!(never[0], once[1]);
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 2);

    // An API that refuses every token (a wrong audience, say) does not turn every call into
    // a token request: 20 calls, no more than one renewal per pause.
    for _ in 0..20 {
        assert_eq!(call(&http, format!("{base}/never")).await.status(), 401);
    }
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 2);

    // After the pause, one renewal and one retry again, and the API's 401 stands.
    tokio::time::sleep(Duration::from_millis(5_100)).await;
    let before = server.never.lock().unwrap().len();
    assert_eq!(call(&http, format!("{base}/never")).await.status(), 401);
    let never = server.never.lock().unwrap().clone();
    assert_eq!(never.len() - before, 2, "the call and exactly one retry");
    assert_eq!(distinct(&never[before..]), 2);
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 3);
    println!("401 retry: 3 token requests for 23 refused calls");
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_401s_for_one_token_cause_one_renewal() {
    let idp = Idp::start().await;
    let manager = TokenManager::builder().build().unwrap();
    let token = manager
        .client_credentials(&admin_client(&idp), TokenParams::new().scope("read"))
        .unwrap();
    let refused = fetch(&token).await;
    let (base, server) = refuser(10).await;
    let http = bearer_client(&token, &base);

    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (http, url) = (http.clone(), format!("{base}/once"));
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    within(Duration::from_secs(30), "10 calls", async {
        for call in calls {
            assert_eq!(call.await.unwrap().expect("an answer"), 200);
        }
    })
    .await;
    let once = server.once.lock().unwrap().clone();
    assert_eq!(once.len(), 20, "10 calls, each retried once");
    let with_refused = once.iter().filter(|t| refused.is(t)).count();
    assert_eq!(with_refused, 10, "all 10 were refused with the same token");
    assert_eq!(distinct(&once), 2, "and all 10 retried with one new token");
    let requests = idp.token_requests_for(ADMIN.0).await;
    assert_eq!(requests, 2, "the first token and ONE forced renewal");
    println!("10 concurrent 401s: {requests} token requests");
    idp.stop().await;
}

#[test]
fn the_blocking_front_from_plain_code() {
    // The provider runs on a runtime of its own; this test's thread has none.
    let servers = tokio::runtime::Runtime::new().unwrap();
    let idp = servers.block_on(Idp::start());

    let manager =
        jwtguard::blocking::TokenManager::build(TokenManager::builder()).expect("a manager");
    let token = manager
        .client_credentials(
            &OAuthClient::discover(idp.issuer(), ClientAuth::secret_basic(ADMIN.0, ADMIN.1)),
            TokenParams::new().scope("read").resource(IDP_AUDIENCE),
        )
        .unwrap();
    let first = token.get().expect("a token from plain code");
    assert!(token.get().unwrap().is(first.expose()));
    assert_eq!(claims(&first)["sub"], ADMIN.0);

    let validator = jwtguard::blocking::Validator::build(
        Validator::builder()
            .issuer(idp.issuer())
            .audience(IDP_AUDIENCE),
    )
    .expect("a validator from plain code");
    let verified = validator.validate(first.expose()).expect("a valid token");
    assert_eq!(verified.subject(), Some(ADMIN.0));
    assert_eq!(verified.issuer(), idp.issuer());

    // Inside a runtime, both refuse with an error that says so.
    let inside = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (token_err, validate_err) = inside.block_on(async {
        (
            token.get().unwrap_err(),
            validator.validate(first.expose()).unwrap_err(),
        )
    });
    assert!(token_err.is_misconfigured(), "{token_err}");
    assert!(validate_err.is_misconfigured(), "{validate_err}");

    let requests = servers.block_on(idp.token_requests_for(ADMIN.0));
    assert_eq!(requests, 1);
    println!("blocking: {requests} token request");
    servers.block_on(idp.stop());
}

/// Sends `GET url` through a tower service, within 20 s; the status and the answer's body.
async fn tower_get<S>(service: &mut S, url: &str) -> u16
where
    S: tower::Service<
            axum::http::Request<String>,
            Response = axum::http::Response<hyper::body::Incoming>,
            Error = jwtguard::client::outgoing::BoxError,
        >,
{
    use tower::ServiceExt as _;
    let request = axum::http::Request::get(url)
        .body(String::new())
        .expect("a request");
    let ready = within(Duration::from_secs(20), "ready", service.ready())
        .await
        .expect("the service is ready");
    within(Duration::from_secs(20), "a call", ready.call(request))
        .await
        .expect("an answer")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tower_layer_on_a_hyper_client() {
    let idp = Idp::start().await;
    let api = protected_api(&idp).await;
    let (elsewhere, seen) = recording_server().await;
    let (refusing, _server) = refuser(1).await;
    let manager = TokenManager::builder().build().unwrap();
    let token = manager
        .client_credentials(
            &admin_client(&idp),
            TokenParams::new().resource(IDP_AUDIENCE),
        )
        .unwrap();
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<String>();
    let layer = BearerLayer::new(token.clone(), [api.as_str(), refusing.as_str()])
        .expect("loopback origins");
    let mut service = tower::ServiceBuilder::new().layer(layer).service(hyper);

    for _ in 0..5 {
        assert_eq!(tower_get(&mut service, &format!("{api}/me")).await, 200);
    }
    assert_eq!(
        tower_get(&mut service, &format!("{elsewhere}/hook")).await,
        200
    );
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [None],
        "no token for another origin"
    );
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 1);

    // A 401 comes back at once; the token is renewed behind it, and the next request carries
    // the new one.
    let refused = fetch(&token).await;
    assert_eq!(
        tower_get(&mut service, &format!("{refusing}/never")).await,
        401
    );
    within(Duration::from_secs(15), "the renewal", async {
        while fetch(&token).await.is(refused.expose()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(idp.token_requests_for(ADMIN.0).await, 2);
    assert_eq!(tower_get(&mut service, &format!("{api}/me")).await, 200);
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_redis_ride_out_a_failing_endpoint_together() {
    use jwtguard::testkit::Issuer;
    let redis = RedisServer::start().await;
    let issuer = Issuer::start().await;
    issuer.register_client("svc", "svc-secret");
    issuer.set_token_ttl(Duration::from_secs(4));
    let instance = || {
        TokenManager::builder()
            .retry(
                RetryPolicy::default()
                    .retries(1)
                    .backoff(Duration::from_millis(10), Duration::from_millis(20)),
            )
            .renewal(RenewalPolicy::default().jitter(0.0))
            .shared(
                RedisKeyCache::new(&redis.url()).expect("a Redis cache"),
                SHARED_SECRET,
            )
            .build()
            .expect("a shared token manager")
    };
    let client = OAuthClient::discover(issuer.url(), ClientAuth::secret_basic("svc", "svc-secret"));
    let tokens: Vec<ManagedToken> = [instance(), instance()]
        .iter()
        .map(|manager| {
            manager
                .client_credentials(&client, TokenParams::new())
                .unwrap()
        })
        .collect();
    let first = fetch(&tokens[0]).await;
    assert!(fetch(&tokens[1]).await.is(first.expose()), "shared");
    assert_eq!(issuer.token_requests_by_grant("client_credentials"), 1);

    // Past the hand-out limit (3 s of 4), the endpoint fails: whichever instance holds the
    // lease fails fast, and the other takes the lease after it instead of waiting out the
    // shared wait (60 s by default). Both keep the token that is still valid.
    sleep_until_age(&first, Duration::from_millis(3_200)).await;
    issuer.set_token_failure(Some(503));
    let started = Instant::now();
    let (a, b) = tokio::join!(tokens[0].get(), tokens[1].get());
    assert!(a.expect("the current token").is(first.expose()));
    assert!(b.expect("the current token").is(first.expose()));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "no instance waited out the shared wait: {:?}",
        started.elapsed()
    );
}
