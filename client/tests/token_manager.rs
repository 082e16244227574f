//! The token manager against the test kit's issuer over real HTTP on loopback: single flight,
//! renewal ahead of expiry, background renewal, refresh-token rotation, failures.

use std::time::{Duration, Instant};

use jwtguard_client::{
    ClientAuth, ManagedToken, OAuthClient, RenewalPolicy, RetryPolicy, TokenManager, TokenParams,
    decode_unverified,
};
use jwtguard_testkit::{DEFAULT_AUDIENCE, Issuer};

const ID: &str = "svc";
const SECRET: &str = "svc-secret";

async fn issuer() -> Issuer {
    let issuer = Issuer::start().await;
    issuer.register_client(ID, SECRET);
    issuer
}

fn client(issuer: &Issuer) -> OAuthClient {
    OAuthClient::discover(issuer.url(), ClientAuth::secret_basic(ID, SECRET))
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy::default()
        .retries(1)
        .backoff(Duration::from_millis(10), Duration::from_millis(20))
        .breaker(100, Duration::from_millis(200))
}

fn token_of(manager: &TokenManager, issuer: &Issuer) -> ManagedToken {
    manager
        .client_credentials(&client(issuer), TokenParams::new().scope("read"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_make_one_token_request() {
    let issuer = issuer().await;
    issuer.set_delay(Duration::from_millis(200));
    let manager = TokenManager::builder().build().unwrap();
    let token = token_of(&manager, &issuer);
    let callers: Vec<_> = (0..1_000)
        .map(|_| {
            let token = token.clone();
            tokio::spawn(async move { token.get().await.map(|t| t.expose().to_owned()) })
        })
        .collect();
    let mut values = std::collections::HashSet::new();
    for caller in callers {
        values.insert(caller.await.unwrap().expect("a token"));
    }
    assert_eq!(values.len(), 1, "every caller got the same token");
    assert_eq!(issuer.token_requests_by_grant("client_credentials"), 1);
    assert_eq!(issuer.hits("/.well-known/openid-configuration"), 1);

    // The token is what was asked for.
    let claims: serde_json::Value = decode_unverified(values.iter().next().unwrap()).unwrap();
    assert_eq!(claims["sub"], ID);
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["aud"], DEFAULT_AUDIENCE);
}

#[tokio::test]
async fn a_token_is_renewed_ahead_of_expiry_while_the_old_one_is_served() {
    let issuer = issuer().await;
    issuer.set_token_ttl(Duration::from_secs(4));
    let manager = TokenManager::builder()
        .renewal(RenewalPolicy::default().jitter(0.0))
        .build()
        .unwrap();
    let token = token_of(&manager, &issuer);
    let first = token.get().await.unwrap();
    // A 4 s token: renewal from 2 s on (half its life), handed out until 3 s.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let during = token.get().await.unwrap();
    assert!(during.is(first.expose()), "served at once while renewing");
    let deadline = Instant::now() + Duration::from_secs(3);
    let renewed = loop {
        let now = token.get().await.unwrap();
        if !now.is(first.expose()) {
            break now;
        }
        assert!(Instant::now() < deadline, "no renewal");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(renewed.expires_at() > first.expires_at());
    assert_eq!(issuer.token_requests_by_grant("client_credentials"), 2);
}

#[tokio::test]
async fn background_renewal_runs_without_callers_and_stops_with_the_token() {
    let issuer = issuer().await;
    issuer.set_token_ttl(Duration::from_secs(2));
    let manager = TokenManager::builder()
        .background_refresh(true)
        .build()
        .unwrap();
    let token = token_of(&manager, &issuer);
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let requests = issuer.token_requests_by_grant("client_credentials");
    assert!(
        requests >= 2,
        "the first token and at least one renewal: {requests}"
    );
    let fresh = token.cached().expect("a fresh token without asking");
    assert!(fresh.remaining_at(std::time::SystemTime::now()) > Duration::from_millis(400));

    drop(token);
    manager.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = issuer.token_requests_by_grant("client_credentials");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        issuer.token_requests_by_grant("client_credentials"),
        after,
        "no renewal once the token is dropped"
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_replaces_the_old_one() {
    let issuer = issuer().await;
    let initial = issuer.issue_refresh_token(ID, "read");
    let manager = TokenManager::builder().build().unwrap();
    let token = manager
        .refresh_token(&client(&issuer), initial.clone(), TokenParams::new())
        .unwrap();
    let first = token.get().await.unwrap();
    // Each renewal presents the refresh token the last answer rotated to: the initial one is
    // used up, so reusing it would fail.
    let second = token.renew().await.unwrap();
    let third = token.renew().await.unwrap();
    assert!(!second.is(first.expose()) && !third.is(second.expose()));
    assert_eq!(issuer.token_requests_by_grant("refresh_token"), 3);

    let other = TokenManager::builder().build().unwrap();
    let stale = other
        .refresh_token(&client(&issuer), initial, TokenParams::new())
        .unwrap();
    let err = stale.get().await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err}");
    assert!(!err.is_retryable());

    // Concurrent renewals of one refresh-token grant never send one refresh token twice.
    let renewals: Vec<_> = (0..20)
        .map(|_| {
            let token = token.clone();
            tokio::spawn(async move { token.renew().await })
        })
        .collect();
    for renewal in renewals {
        renewal.await.unwrap().expect("each renewal succeeds");
    }
}

#[tokio::test]
async fn refused_credentials_are_not_retried() {
    let issuer = issuer().await;
    let manager = TokenManager::builder().build().unwrap();
    let wrong = OAuthClient::discover(issuer.url(), ClientAuth::secret_post(ID, "hunter2-x9"));
    let token = manager
        .client_credentials(&wrong, TokenParams::new())
        .unwrap();
    let err = token.get().await.unwrap_err();
    assert!(err.is_invalid_client(), "{err}");
    assert_eq!(err.oauth_code(), Some("invalid_client"));
    assert!(!err.to_string().contains("hunter2-x9"), "{err}");
    assert_eq!(issuer.hits("/token"), 1);
}

#[tokio::test]
async fn an_outage_is_ridden_out_until_expiry_then_a_clear_error_then_recovery() {
    let issuer = issuer().await;
    issuer.set_token_ttl(Duration::from_secs(3));
    let manager = TokenManager::builder()
        .retry(quick_retries())
        .renewal(RenewalPolicy::default().jitter(0.0))
        .build()
        .unwrap();
    let token = token_of(&manager, &issuer);
    let first = token.get().await.unwrap();
    issuer.set_token_failure(Some(503));

    // Past the hand-out limit (2.25 s) but before expiry: the endpoint fails, the current
    // token is still served.
    tokio::time::sleep(Duration::from_millis(2_400)).await;
    let served = token.get().await.expect("the current token while it lasts");
    assert!(served.is(first.expose()));
    assert!(
        issuer.hits("/token") >= 2,
        "a renewal was tried (and retried)"
    );

    tokio::time::sleep(Duration::from_millis(800)).await;
    let err = token.get().await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.is_retryable());

    issuer.set_token_failure(None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let recovered = token
        .get()
        .await
        .expect("a new token once the endpoint is back");
    assert!(!recovered.is(first.expose()));
}

#[tokio::test]
async fn without_expires_in_the_jwt_exp_bounds_the_lifetime() {
    let issuer = issuer().await;
    issuer.set_token_ttl(Duration::from_secs(100));
    issuer.omit_expires_in(true);
    let manager = TokenManager::builder().build().unwrap();
    let token = token_of(&manager, &issuer).get().await.unwrap();
    let lifetime = token
        .expires_at()
        .duration_since(token.obtained_at())
        .unwrap();
    assert!(
        lifetime <= Duration::from_secs(100) && lifetime >= Duration::from_secs(98),
        "{lifetime:?}"
    );
}

#[tokio::test]
async fn tokens_for_two_clients_and_two_resources_live_side_by_side() {
    let issuer = issuer().await;
    issuer.register_client("other", "other-secret");
    let manager = TokenManager::builder().build().unwrap();
    let other = OAuthClient::with_token_endpoint(
        issuer.token_endpoint(),
        ClientAuth::secret_post("other", "other-secret"),
    );
    let tokens = [
        manager
            .client_credentials(
                &client(&issuer),
                TokenParams::new().resource("https://a.test"),
            )
            .unwrap(),
        manager
            .client_credentials(
                &client(&issuer),
                TokenParams::new().resource("https://b.test"),
            )
            .unwrap(),
        manager
            .client_credentials(&other, TokenParams::new().audience("https://a.test"))
            .unwrap(),
    ];
    let mut seen = Vec::new();
    for token in &tokens {
        let value = token.get().await.unwrap();
        let claims: serde_json::Value = decode_unverified(value.expose()).unwrap();
        seen.push((claims["sub"].clone(), claims["aud"].clone()));
    }
    assert_eq!(
        seen,
        [
            (ID.into(), "https://a.test".into()),
            (ID.into(), "https://b.test".into()),
            ("other".into(), "https://a.test".into()),
        ]
    );
    assert_eq!(manager.len(), 3);
    // The same key again: the same token, no new request.
    let again = manager
        .client_credentials(
            &client(&issuer),
            TokenParams::new().resource("https://a.test"),
        )
        .unwrap();
    again.get().await.unwrap();
    assert_eq!(manager.len(), 3);
    assert_eq!(issuer.token_requests_by_grant("client_credentials"), 3);
}

#[tokio::test]
async fn a_token_that_is_already_expired_is_refused_without_a_request_storm() {
    let issuer = issuer().await;
    issuer.set_token_ttl(Duration::ZERO);
    let manager = TokenManager::builder()
        .background_refresh(true)
        .build()
        .unwrap();
    let token = token_of(&manager, &issuer);
    for _ in 0..50 {
        let err = token.get().await.unwrap_err();
        assert_eq!(err.kind(), jwtguard_client::ErrorKind::Protocol, "{err}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        issuer.token_requests_by_grant("client_credentials"),
        1,
        "one request, then a pause"
    );
}

#[tokio::test]
async fn revoked_credentials_do_not_turn_every_call_into_a_request() {
    let issuer = issuer().await;
    let manager = TokenManager::builder().build().unwrap();
    let revoked = OAuthClient::discover(issuer.url(), ClientAuth::secret_basic(ID, "revoked"));
    let token = manager
        .client_credentials(&revoked, TokenParams::new())
        .unwrap();
    for _ in 0..200 {
        assert!(token.get().await.unwrap_err().is_invalid_client());
    }
    assert_eq!(issuer.hits("/token"), 1);
}

#[tokio::test]
async fn a_refresh_token_is_not_sent_again_after_a_failure() {
    let issuer = issuer().await;
    let initial = issuer.issue_refresh_token(ID, "read");
    issuer.set_token_failure(Some(503));
    let manager = TokenManager::builder().build().unwrap();
    let token = manager
        .refresh_token(&client(&issuer), initial, TokenParams::new())
        .unwrap();
    assert!(token.get().await.unwrap_err().is_unavailable());
    assert_eq!(
        issuer.token_requests_by_grant("refresh_token"),
        1,
        "no automatic retry: the server may have rotated it already"
    );
    assert!(token.refresh_token().is_some());
}

#[tokio::test]
async fn a_rotated_secret_is_another_token() {
    let issuer = issuer().await;
    let manager = TokenManager::builder().build().unwrap();
    let old = OAuthClient::discover(issuer.url(), ClientAuth::secret_basic(ID, "old-secret"));
    let new = client(&issuer);
    let stale = manager
        .client_credentials(&old, TokenParams::new())
        .unwrap();
    let fresh = manager
        .client_credentials(&new, TokenParams::new())
        .unwrap();
    assert!(stale.get().await.unwrap_err().is_invalid_client());
    assert!(fresh.get().await.is_ok());
    assert_eq!(manager.len(), 2);
    assert!(manager.remove(&stale));
    assert!(!manager.remove(&stale));
    assert_eq!(manager.len(), 1);
}

#[test]
fn a_renewal_cut_off_with_its_runtime_does_not_wedge_the_breaker() {
    let servers = tokio::runtime::Runtime::new().unwrap();
    let issuer = servers.block_on(issuer());
    let manager = TokenManager::builder()
        .retry(
            RetryPolicy::default()
                .retries(0)
                .breaker(1, Duration::from_millis(200)),
        )
        .build()
        .unwrap();
    let token = token_of(&manager, &issuer);
    let caller = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    // One failure opens the breaker.
    issuer.set_token_failure(Some(503));
    assert!(caller().block_on(token.get()).unwrap_err().is_unavailable());
    issuer.set_token_failure(None);
    std::thread::sleep(Duration::from_millis(300));
    // The half-open trial starts on a runtime that goes away while the endpoint is slow.
    issuer.set_delay(Duration::from_millis(500));
    {
        let runtime = caller();
        let cut = runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(100), token.get()).await
        });
        assert!(cut.is_err(), "still waiting when its runtime goes");
    }
    issuer.set_delay(Duration::ZERO);
    std::thread::sleep(Duration::from_millis(300));
    let runtime = caller();
    let got = runtime.block_on(token.get());
    assert!(got.is_ok(), "the trial was given back: {got:?}");
}

#[tokio::test]
async fn a_late_401_for_an_old_token_never_gets_an_expired_one() {
    let issuer = issuer().await;
    issuer.set_token_ttl(Duration::from_secs(2));
    let manager = TokenManager::builder()
        .retry(quick_retries())
        .build()
        .unwrap();
    let token = token_of(&manager, &issuer);
    let first = token.get().await.unwrap();
    let second = token.renew().await.unwrap();
    assert!(!second.is(first.expose()));
    issuer.set_token_failure(Some(503));
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let answer = token.renew_rejected(&first).await;
    assert!(
        answer.as_ref().is_err_and(|e| e.is_unavailable()),
        "the current token has expired and no new one can be had: {answer:?}"
    );
}

#[tokio::test]
async fn an_open_breaker_sends_nothing_and_answers_at_once() {
    let issuer = issuer().await;
    issuer.set_token_failure(Some(503));
    let manager = TokenManager::builder()
        .retry(
            RetryPolicy::default()
                .retries(0)
                .breaker(1, Duration::from_secs(60)),
        )
        .build()
        .unwrap();
    let token = token_of(&manager, &issuer);
    assert!(token.get().await.unwrap_err().is_unavailable());
    let started = Instant::now();
    for _ in 0..1_000 {
        let err = token.get().await.unwrap_err();
        assert!(err.to_string().contains("circuit breaker"), "{err}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(token.token_requests(), 1);
    assert_eq!(issuer.hits("/token"), 1);
}

#[tokio::test]
async fn the_background_renewal_follows_a_token_replaced_early() {
    let issuer = issuer().await;
    issuer.set_token_ttl(Duration::from_secs(30));
    let manager = TokenManager::builder()
        .background_refresh(true)
        .renewal(RenewalPolicy::default().jitter(0.0))
        .build()
        .unwrap();
    let token = token_of(&manager, &issuer);
    token.get().await.unwrap();
    // A 30 s token is renewed at 15 s; it is replaced by a 2 s one, due at 1 s.
    issuer.set_token_ttl(Duration::from_secs(2));
    token.renew().await.unwrap();
    assert_eq!(issuer.token_requests_by_grant("client_credentials"), 2);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        issuer.token_requests_by_grant("client_credentials") >= 3,
        "the background task woke for the earlier renewal point"
    );
}
