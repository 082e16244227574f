//! Opaque tokens verified by introspection (RFC 7662) against the real provider: accepted with
//! their roles and scopes, expired and revoked ones refused, the cache (one call for many
//! requests, its TTL, nothing past `exp`), and the provider going away and coming back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jwtguard::introspection::Introspector;
use jwtguard::provider::ClientAuth;
use jwtguard::{CredentialKind, ErrorKind};
use jwtguard_tests::{CLIENTS, INTROSPECTION_CLIENT, Idp, OPAQUE_RESOURCE, serve};

const ADMIN: (&str, &str) = (CLIENTS[0].0, CLIENTS[0].1);
const READER: (&str, &str) = (CLIENTS[1].0, CLIENTS[1].1);

async fn introspector(idp: &Idp, cache_ttl: Duration) -> Introspector {
    Introspector::builder()
        .issuer(idp.issuer())
        .audience(OPAQUE_RESOURCE)
        .client(ClientAuth::secret_basic(
            INTROSPECTION_CLIENT.0,
            INTROSPECTION_CLIENT.1,
        ))
        .cache_ttl(cache_ttl)
        .timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("an introspector for the provider")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opaque_token_is_accepted_with_its_roles_and_scopes() {
    let idp = Idp::start().await;
    let introspector = introspector(&idp, Duration::from_secs(60)).await;
    assert!(
        introspector
            .endpoint()
            .as_str()
            .ends_with("/token/introspection"),
        "found by discovery"
    );
    let admin = idp.opaque_token(ADMIN.0, ADMIN.1, "read write").await;
    assert_eq!(admin.split('.').count(), 1, "an opaque token");
    let verified = introspector.introspect(&admin).await.expect("active");
    assert_eq!(verified.credential(), CredentialKind::Introspected);
    assert_eq!(verified.subject(), Some(ADMIN.0));
    assert_eq!(verified.issuer(), idp.issuer());
    assert!(verified.has_role("admin"));
    assert!(verified.has_scope("write"));

    let reader = idp.opaque_token(READER.0, READER.1, "read").await;
    let verified = introspector.introspect(&reader).await.expect("active");
    assert!(verified.has_role("reader") && !verified.has_role("admin"));
    assert!(verified.has_scope("read") && !verified.has_scope("write"));

    // A token the server does not know, and a JWT for another audience (the provider does not
    // introspect JWTs: `unsupported_token_type`), both 401.
    let unknown = introspector.introspect("no-such-token").await.unwrap_err();
    assert_eq!(unknown.status(), 401);
    let other = idp
        .token(ADMIN.0, ADMIN.1, "https://other.example.test", "read")
        .await;
    assert_eq!(
        introspector.introspect(&other).await.unwrap_err().status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_with_one_token_make_one_call() {
    let idp = Idp::start().await;
    let introspector = introspector(&idp, Duration::from_secs(60)).await;
    let token = idp.opaque_token(ADMIN.0, ADMIN.1, "read").await;
    let before = idp.introspection_hits().await;
    let requests: Vec<_> = (0..1_000)
        .map(|_| {
            let (introspector, token) = (introspector.clone(), token.clone());
            tokio::spawn(async move { introspector.introspect(&token).await.is_ok() })
        })
        .collect();
    for request in requests {
        assert!(request.await.unwrap(), "active");
    }
    assert_eq!(idp.introspection_hits().await - before, 1);
    assert_eq!(introspector.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_ttl_is_honoured_and_a_revoked_token_lives_at_most_that_long() {
    let idp = Idp::start().await;
    let introspector = introspector(&idp, Duration::from_secs(1)).await;
    let token = idp.opaque_token(ADMIN.0, ADMIN.1, "read").await;
    introspector.introspect(&token).await.expect("active");
    idp.revoke(ADMIN.0, ADMIN.1, &token).await;
    // Within the TTL the cached result stands; after it, the server's answer.
    introspector
        .introspect(&token)
        .await
        .expect("cached within the TTL");
    assert_eq!(introspector.calls(), 1);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let err = introspector.introspect(&token).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    assert_eq!(err.status(), 401);
    assert_eq!(introspector.calls(), 2);
    // The inactive answer is cached too, for its own short time.
    introspector.introspect(&token).await.unwrap_err();
    assert_eq!(introspector.calls(), 2);

    // `invalidate` revokes at once on this instance.
    let long = self::introspector(&idp, Duration::from_secs(60)).await;
    let other = idp.opaque_token(ADMIN.0, ADMIN.1, "read").await;
    long.introspect(&other).await.expect("active");
    idp.revoke(ADMIN.0, ADMIN.1, &other).await;
    long.introspect(&other).await.expect("still cached");
    long.invalidate(&other);
    assert_eq!(long.introspect(&other).await.unwrap_err().status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_served_past_exp() {
    let idp = Idp::start_with(&[("IDP_TOKEN_TTL", "2".into())]).await;
    let introspector = introspector(&idp, Duration::from_secs(60)).await;
    let token = idp.opaque_token(ADMIN.0, ADMIN.1, "read").await;
    introspector.introspect(&token).await.expect("active");
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let err = introspector.introspect(&token).await.unwrap_err();
    assert_eq!(err.status(), 401, "{err}");
    assert_eq!(introspector.calls(), 2, "the cached result went with exp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_away_cached_results_served_new_tokens_503_then_recovery() {
    let idp = Idp::start().await;
    let port = idp.port();
    let introspector = introspector(&idp, Duration::from_secs(60)).await;
    let known = idp.opaque_token(ADMIN.0, ADMIN.1, "read").await;
    let unseen = idp.opaque_token(ADMIN.0, ADMIN.1, "read").await;
    introspector.introspect(&known).await.expect("active");
    idp.stop().await;

    introspector
        .introspect(&known)
        .await
        .expect("the cached result while the server is away");
    let err = introspector.introspect(&unseen).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert_eq!(
        err.status(),
        503,
        "never a 401 while the server can't answer"
    );

    // The server back on the same port: a new token is verified, without a restart here.
    let back = Idp::start_with(&[("IDP_PORT", port.to_string())]).await;
    let fresh = back.opaque_token(ADMIN.0, ADMIN.1, "read").await;
    let verified = introspector
        .introspect(&fresh)
        .await
        .expect("verified once the server is back");
    assert_eq!(verified.subject(), Some(ADMIN.0));
}

/// A stand-in introspection endpoint on loopback whose answers the test scripts: each call
/// takes the next (status, body, delay) of `script`, the last one repeating.
async fn scripted(script: Vec<(u16, &'static str, u64)>) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/introspect",
        axum::routing::post(move || {
            let seen = Arc::clone(&seen);
            let script = script.clone();
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let (status, body, delay) = script[n.min(script.len() - 1)];
                tokio::time::sleep(Duration::from_millis(delay)).await;
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
            }
        }),
    );
    (format!("{}/introspect", serve(app).await), calls)
}

fn stand_in(
    endpoint: &str,
) -> impl std::future::Future<Output = Result<Introspector, jwtguard::Error>> {
    Introspector::builder()
        .issuer("https://idp.example.test")
        .endpoint(endpoint)
        .audience("https://api.example.test")
        .client(ClientAuth::secret_basic("rs", "rs-secret"))
        .build()
}

const ACTIVE: &str = r#"{"active":true,"iss":"https://idp.example.test","aud":"https://api.example.test","sub":"svc","exp":4102444800}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_is_not_an_introspection_answer_is_a_503_and_not_kept() {
    let (endpoint, calls) = scripted(vec![(200, "<html>busy</html>", 0), (200, ACTIVE, 0)]).await;
    let introspector = stand_in(&endpoint).await.unwrap();
    // The proxy page on the first try, the real answer on the retry.
    let verified = introspector
        .introspect("opaque")
        .await
        .expect("active on the retry");
    assert_eq!(verified.subject(), Some("svc"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let (endpoint, _) = scripted(vec![(200, "{}", 0)]).await;
    let introspector = stand_in(&endpoint).await.unwrap();
    let err = introspector.introspect("opaque").await.unwrap_err();
    assert_eq!(
        err.status(),
        503,
        "no `active`: the server failed, not the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_a_call_keeps_its_answer_out_of_the_cache() {
    let (endpoint, calls) =
        scripted(vec![(200, ACTIVE, 400), (200, r#"{"active":false}"#, 0)]).await;
    let introspector = stand_in(&endpoint).await.unwrap();
    let racing = introspector.clone();
    let first = tokio::spawn(async move { racing.introspect("revoked-meanwhile").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    introspector.invalidate("revoked-meanwhile");
    assert!(
        first.await.unwrap().is_ok(),
        "the call in flight answers as it was"
    );
    let err = introspector
        .introspect("revoked-meanwhile")
        .await
        .unwrap_err();
    assert_eq!(err.status(), 401, "asked again after the invalidation");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_new_tokens_makes_at_most_the_configured_calls_at_once() {
    let idp = Idp::start_with(&[("IDP_INTROSPECTION_DELAY_MS", "150".into())]).await;
    let introspector = Introspector::builder()
        .issuer(idp.issuer())
        .audience(OPAQUE_RESOURCE)
        .client(ClientAuth::secret_basic(
            INTROSPECTION_CLIENT.0,
            INTROSPECTION_CLIENT.1,
        ))
        .max_concurrent_calls(3)
        .timeout(Duration::from_secs(5))
        .build()
        .await
        .expect("an introspector for the provider");
    let before = idp.introspection_hits().await;
    let mut checks = tokio::task::JoinSet::new();
    for n in 0..24 {
        let introspector = introspector.clone();
        checks.spawn(async move { introspector.introspect(&format!("flood-{n}")).await });
    }
    while let Some(outcome) = checks.join_next().await {
        // Each unknown token waits its turn and gets its own answer: inactive, so 401.
        assert_eq!(outcome.expect("a check").unwrap_err().status(), 401);
    }
    assert_eq!(idp.introspection_hits().await - before, 24);
    assert_eq!(idp.most_introspections_at_once().await, 3);

    // A call that can't get its turn within the call timeout is a 503, not a 401: one call at
    // a time, each at least 150 ms, so the eighth waits over a second.
    let impatient = Introspector::builder()
        .issuer(idp.issuer())
        .audience(OPAQUE_RESOURCE)
        .client(ClientAuth::secret_basic(
            INTROSPECTION_CLIENT.0,
            INTROSPECTION_CLIENT.1,
        ))
        .max_concurrent_calls(1)
        .timeout(Duration::from_secs(1))
        .build()
        .await
        .expect("an introspector for the provider");
    let before = idp.introspection_hits().await;
    let mut checks = tokio::task::JoinSet::new();
    for n in 0..10 {
        let impatient = impatient.clone();
        checks.spawn(async move { impatient.introspect(&format!("queue-{n}")).await });
    }
    let mut statuses = Vec::new();
    while let Some(outcome) = checks.join_next().await {
        statuses.push(outcome.expect("a check").unwrap_err().status());
    }
    assert!(
        statuses.iter().all(|s| *s == 503 || *s == 401),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&401) && statuses.contains(&503),
        "{statuses:?}"
    );
    // At most 8 calls pending per call allowed at once: the ninth and tenth new tokens were
    // refused at once, never sent.
    assert!(idp.introspection_hits().await - before <= 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwts_of_the_introspected_issuer_are_introspected_only_when_asked() {
    use jwtguard::testkit::{DEFAULT_AUDIENCE, Issuer};
    use jwtguard::{Authenticator, TokenRouting, Validator};

    let idp = Idp::start().await;
    let kit = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(idp.issuer())
        .issuer(kit.url())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
        .expect("a validator");
    let introspector = introspector(&idp, Duration::from_secs(60)).await;
    let jwt = idp.token_for(ADMIN.0).await;
    let kit_jwt = kit.token().sign();
    let tampered = format!("{}x", &jwt[..jwt.len() - 1]);

    let both = Authenticator::new(validator.clone())
        .introspection(introspector.clone(), TokenRouting::Both);
    let before = idp.introspection_hits().await;
    both.verify(&jwt).await.expect("validated locally");
    assert_eq!(idp.introspection_hits().await, before);

    let asked = Authenticator::new(validator)
        .introspection(introspector, TokenRouting::IntrospectIssuerJwts);
    // The provider introspects no JWT (400 unsupported_token_type): its own JWT, valid
    // locally, is then refused.
    let refused = asked.verify(&jwt).await.unwrap_err();
    assert_eq!(refused.status(), 401);
    assert_eq!(idp.introspection_hits().await, before + 1);
    // A JWT of another trusted issuer is not introspected, nor is one that fails locally.
    asked.verify(&kit_jwt).await.expect("another issuer's JWT");
    assert_eq!(asked.verify(&tampered).await.unwrap_err().status(), 401);
    assert_eq!(idp.introspection_hits().await, before + 1);
    // Opaque tokens are introspected as with Both.
    let opaque = idp.opaque_token(ADMIN.0, ADMIN.1, "read").await;
    asked.verify(&opaque).await.expect("active");
}
