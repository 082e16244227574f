//! The validator against a local issuer over real HTTP: discovery, its checks, key rotation,
//! unknown kids, outages and broken documents.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jwtguard_core::clock::{Clock, ManualClock};
use jwtguard_core::keys::CachedJwks;
use jwtguard_core::{Algorithm, BreakerState, ErrorKind, KeyCache, MemoryKeyCache, Validator};
use jwtguard_testkit::{DEFAULT_AUDIENCE, Issuer, TestKey};

async fn validator_for(issuer: &Issuer) -> Validator {
    Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
        .expect("validator")
}

/// A validator for `issuer` on a clock the test moves.
async fn validator_with_clock(issuer: &Issuer, clock: &Arc<ManualClock>) -> Validator {
    Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .shared_clock(clock.clone())
        .build()
        .await
        .expect("validator")
}

/// A validator for `issuer` whose key cache is `cache`.
async fn validator_with_cache(issuer: &Issuer, cache: MemoryKeyCache) -> Validator {
    Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .key_cache(cache)
        .build()
        .await
        .expect("validator")
}

/// Writes `document` into `cache` where jwtguard keeps the keys of `issuer`, as if another
/// instance had fetched it at `fetched_at` with a max age of `max_age_secs`.
async fn put_jwks(
    cache: &MemoryKeyCache,
    issuer: &Issuer,
    document: String,
    fetched_at: std::time::SystemTime,
    max_age_secs: u64,
) {
    let entry = CachedJwks {
        document,
        fetched_at_ms: unix_ms(fetched_at),
        max_age_secs,
        etag: None,
        mac: None,
    };
    let key = format!("jwtguard:jwks:{}", issuer.jwks_uri());
    cache
        .put(&key, entry, Duration::from_secs(600))
        .await
        .unwrap();
}

#[tokio::test]
async fn discovery_then_keys_then_a_valid_token() {
    let issuer = Issuer::start().await;
    let validator = validator_for(&issuer).await;
    assert_eq!(
        validator.jwks_uri(issuer.url()).unwrap().as_str(),
        issuer.jwks_uri()
    );
    assert_eq!(validator.issuers().collect::<Vec<_>>(), [issuer.url()]);
    assert_eq!(validator.key_set(issuer.url()).unwrap().len(), 1);
    // No accessor stands for "the first issuer": another issuer has nothing.
    assert!(validator.jwks_uri("https://other.example").is_none());
    assert!(validator.key_set("https://other.example").is_none());
    let token = issuer.token().claim("roles", vec!["admin"]).sign();
    let verified = validator.validate(&token).await.unwrap();
    assert!(verified.has_role("admin"));
    assert_eq!(issuer.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(issuer.hits("/jwks"), 1);
}

#[tokio::test]
async fn rfc_8414_metadata_is_the_fallback() {
    let issuer = Issuer::start().await;
    issuer.serve_openid_configuration(false);
    let validator = validator_for(&issuer).await;
    assert!(validator.validate(&issuer.token().sign()).await.is_ok());
    assert_eq!(issuer.hits("/.well-known/oauth-authorization-server"), 1);
}

#[tokio::test]
async fn a_jwks_uri_can_be_set_directly() {
    let issuer = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(issuer.url())
        .jwks_uri(issuer.jwks_uri())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
        .unwrap();
    assert!(validator.validate(&issuer.token().sign()).await.is_ok());
    assert_eq!(issuer.hits("/.well-known/openid-configuration"), 0);
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let issuer = Issuer::start().await;
    issuer.override_discovery_issuer(Some("https://evil.example.test".into()));
    let err = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fetch);
    assert!(err.to_string().contains("evil.example.test"), "{err}");
    assert_eq!(issuer.hits("/jwks"), 0);
}

#[tokio::test]
async fn plain_http_is_refused_off_loopback_before_any_request() {
    let err = Validator::builder()
        .issuer("http://idp.example.test")
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn an_unreachable_idp_is_a_clear_error_at_build() {
    let issuer = Issuer::start().await;
    issuer.take_down().await;
    let err = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .http_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeysUnavailable);
    assert_eq!(err.status(), 503);
}

#[tokio::test]
async fn missing_settings_are_config_errors() {
    let no_issuer = Validator::builder()
        .audience("a")
        .build()
        .await
        .unwrap_err();
    assert_eq!(no_issuer.kind(), ErrorKind::Config);
    let no_audience = Validator::builder()
        .issuer("https://x")
        .build()
        .await
        .unwrap_err();
    assert_eq!(no_audience.kind(), ErrorKind::Config);
    let short_secret = Validator::builder()
        .issuer("https://x")
        .audience("a")
        .hmac_secret(jwtguard_core::Algorithm::HS256, b"short".to_vec())
        .build()
        .await
        .unwrap_err();
    assert_eq!(short_secret.kind(), ErrorKind::Config);
    let secret_for_two = Validator::builder()
        .issuer("https://a")
        .issuer("https://b")
        .audience("a")
        .hmac_secret(jwtguard_core::Algorithm::HS256, [1u8; 32])
        .build()
        .await
        .unwrap_err();
    assert!(
        secret_for_two.to_string().contains("single issuer"),
        "{secret_for_two}"
    );
}

#[tokio::test]
async fn a_rotation_costs_one_fetch_however_many_requests_see_it() {
    let issuer = Issuer::start().await;
    let validator = validator_for(&issuer).await;
    let old = issuer.token().sign();
    issuer.rotate();
    let new = issuer.token().sign();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let validator = validator.clone();
        let token = if i % 2 == 0 { old.clone() } else { new.clone() };
        tasks.push(tokio::spawn(
            async move { validator.validate(&token).await },
        ));
    }
    for task in tasks {
        task.await.unwrap().expect("old and new tokens both pass");
    }
    assert_eq!(issuer.hits("/jwks"), 2, "the initial fetch and one refresh");
}

/// An HMAC secret without a `kid` serves any `kid`, but must not make an unknown one look
/// known: a rotated key is still fetched.
#[tokio::test]
async fn a_secret_without_kid_does_not_hide_a_rotation() {
    let issuer = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .hmac_secret(Algorithm::HS256, [7u8; 32])
        .build()
        .await
        .expect("validator");
    issuer.rotate();
    assert!(validator.validate(&issuer.token().sign()).await.is_ok());
    assert_eq!(issuer.hits("/jwks"), 2, "the initial fetch and one refresh");
}

#[tokio::test]
async fn random_kids_cause_at_most_one_fetch_per_cooldown() {
    let issuer = Issuer::start().await;
    let validator = validator_for(&issuer).await;
    let good = issuer.token().sign();
    for i in 0..300 {
        let token = issuer.token().header("kid", format!("random-{i}")).sign();
        let err = validator.validate(&token).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownKey);
        if i % 50 == 0 {
            assert!(validator.validate(&good).await.is_ok());
        }
    }
    assert_eq!(issuer.hits("/jwks"), 2, "the initial fetch and one refresh");
}

#[tokio::test]
async fn an_outage_keeps_known_keys_and_answers_503_for_unknown_ones() {
    let issuer = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .http_timeout(Duration::from_secs(2))
        .unknown_kid_cooldown(Duration::ZERO)
        .build()
        .await
        .unwrap();
    let known = issuer.token().sign();
    issuer.rotate();
    let unknown = issuer.token().sign();
    issuer.take_down().await;

    assert!(validator.validate(&known).await.is_ok());
    let err = validator.validate(&unknown).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeysUnavailable);
    assert_eq!(err.status(), 503);

    issuer.bring_up().await;
    assert!(
        validator.validate(&unknown).await.is_ok(),
        "healed without a restart"
    );
}

#[tokio::test]
async fn a_garbage_key_set_keeps_the_old_one_and_the_breaker_opens() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = validator_with_clock(&issuer, &clock).await;
    let token = issuer.token().sign();
    let garbage = [
        (200, "not json".to_owned()),
        (200, r#"{"keys":[]}"#.to_owned()),
        (200, r#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#.to_owned()),
        (404, "{}".to_owned()),
        (500, "{}".to_owned()),
    ];
    for (status, body) in &garbage {
        issuer.override_jwks(Some((*status, body.clone())));
        let err = validator.refresh().await.unwrap_err();
        assert!(err.is_unavailable(), "{status} {body}: {err}");
        assert!(validator.validate(&token).await.is_ok(), "{status} {body}");
    }
    let jwks_fetches = issuer.hits("/jwks");
    let status = &validator.status().issuers[0];
    assert_eq!(status.breaker, BreakerState::Open, "five failures in a row");
    assert!(status.last_error.is_some());
    assert_eq!(status.keys, 1);

    issuer.override_jwks(None);
    let err = validator.refresh().await.unwrap_err();
    assert!(err.to_string().contains("circuit breaker"), "{err}");
    assert_eq!(
        issuer.hits("/jwks"),
        jwks_fetches,
        "an open breaker does not call the IdP"
    );

    clock.advance(Duration::from_secs(31));
    assert_eq!(
        validator.status().issuers[0].breaker,
        BreakerState::HalfOpen
    );
    validator.refresh().await.unwrap();
    let status = &validator.status().issuers[0];
    assert_eq!(status.breaker, BreakerState::Closed);
    assert_eq!(status.last_error, None);
}

#[tokio::test]
async fn an_oversized_key_set_is_refused() {
    let keys: Vec<TestKey> = (0..12)
        .map(|i| TestKey::ec_p256(format!("ec-{i}")))
        .collect();
    let issuer = Issuer::start_with(keys).await;
    let err = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .max_response_size(1024)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fetch);
    assert!(err.to_string().contains("cap"), "{err}");
}

#[tokio::test]
async fn async_and_sync_checks_run_after_the_built_in_ones() {
    let issuer = Issuer::start().await;
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let validator = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .check(
            |token| match token.claims().get("tenant").and_then(|t| t.as_str()) {
                Some("acme") => Ok(()),
                _ => Err(jwtguard_core::Error::rejected("wrong tenant")),
            },
        )
        .check_async(move |token| {
            let counter = Arc::clone(&counter);
            async move {
                tokio::task::yield_now().await;
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if token.subject() == Some("banned") {
                    Err(jwtguard_core::Error::rejected("revoked"))
                } else {
                    Ok(())
                }
            }
        })
        .build()
        .await
        .unwrap();
    let ok = issuer.token().claim("tenant", "acme").sign();
    assert!(validator.validate(&ok).await.is_ok());
    let wrong_tenant = issuer.token().claim("tenant", "other").sign();
    assert!(
        validator
            .validate(&wrong_tenant)
            .await
            .unwrap_err()
            .is_rejected()
    );
    let banned = issuer
        .token()
        .claim("tenant", "acme")
        .claim("sub", "banned")
        .sign();
    assert!(validator.validate(&banned).await.unwrap_err().is_rejected());
    let expired = issuer
        .token()
        .claim("tenant", "acme")
        .claim("exp", 1000)
        .sign();
    assert!(validator.validate(&expired).await.unwrap_err().is_expired());
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "async checks only after sync ones pass"
    );
}

/// Every refresh, whatever caused it, goes through one single-flight path: explicit refreshes
/// racing each other (and the keys coming due) make one fetch, so no slow fetch can outlive a
/// newer one and put an older key set back.
#[tokio::test]
async fn concurrent_refreshes_share_one_fetch() {
    let issuer = Issuer::start().await;
    let validator = validator_for(&issuer).await;
    issuer.reset_hits();
    issuer.set_delay(Duration::from_millis(300));
    let refreshes = (0..5).map(|_| {
        let validator = validator.clone();
        async move { validator.refresh().await }
    });
    for result in futures_join(refreshes).await {
        result.unwrap();
    }
    assert_eq!(issuer.hits("/jwks"), 1);
}

/// An unknown `kid` is not "cured" by a newer document in the shared cache that lacks it:
/// the IdP is asked, and the token with the new key passes at once.
#[tokio::test]
async fn a_cached_document_without_the_kid_does_not_stand_in_for_a_fetch() {
    let issuer = Issuer::start().await;
    let cache = MemoryKeyCache::new();
    let validator = validator_with_cache(&issuer, cache.clone()).await;
    let old_document = issuer.jwks().to_string();
    issuer.rotate_to(TestKey::ec_p256("ec-2"));
    // Another instance (or a lagging one) stored the pre-rotation document just now.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let now = std::time::SystemTime::now();
    put_jwks(&cache, &issuer, old_document, now, 600).await;
    issuer.reset_hits();
    let token = issuer.token().sign();
    assert_eq!(issuer.signing_key().kid(), "ec-2");
    validator
        .validate(&token)
        .await
        .expect("fetched the new key");
    assert_eq!(issuer.hits("/jwks"), 1);
}

/// Joins futures without a helper crate: each runs in its own task.
async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// `validate` polled outside a tokio runtime (a sync program driving the future by hand)
/// never panics: keys that come due stay in use, and an unknown `kid`, which would need a
/// fetch, is a clear configuration error.
#[tokio::test]
async fn validate_outside_a_runtime_does_not_panic() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = validator_with_clock(&issuer, &clock).await;
    let now = clock.unix_seconds();
    let token = issuer
        .token()
        .claim("iat", now)
        .claim("exp", now + 3600)
        .sign();
    let stranger = TestKey::ec_p256("stranger");
    let unknown = stranger
        .token()
        .claims(
            serde_json::json!({"iss": issuer.url(), "aud": DEFAULT_AUDIENCE, "exp": now + 3600}),
        )
        .sign();
    // The keys are due for a refresh ahead of their max age (10 minutes by default).
    clock.advance(Duration::from_secs(590));
    let outcomes = std::thread::spawn(move || {
        let poll_once = |token: &str| {
            let waker = std::task::Waker::noop();
            let mut context = std::task::Context::from_waker(waker);
            let mut validation = std::pin::pin!(validator.validate(token));
            match validation.as_mut().poll(&mut context) {
                std::task::Poll::Ready(result) => result.map(|_| ()).map_err(|e| e.kind()),
                std::task::Poll::Pending => panic!("validation waited on nothing"),
            }
        };
        (poll_once(&token), poll_once(&unknown))
    })
    .join()
    .expect("no panic outside a runtime");
    assert_eq!(outcomes, (Ok(()), Err(ErrorKind::Misconfigured)));
}

/// A refresh policy whose bounds are the wrong way round is refused when the validator is
/// built, not found out later inside a refresh task.
#[tokio::test]
async fn an_inconsistent_refresh_policy_is_refused_at_build() {
    let mut policy = jwtguard_core::RefreshPolicy::default();
    policy.min_max_age = Duration::from_secs(7200);
    policy.max_max_age = Duration::from_secs(3600);
    let err = Validator::builder()
        .issuer("https://idp.example")
        .audience(DEFAULT_AUDIENCE)
        .refresh_policy(policy)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("min_max_age"), "{err}");
}

fn unix_ms(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A shared-cache entry is trusted only within bounds: one fetched in the future (by more than
/// a few seconds of clock skew: a skewed instance, or whoever can write to the cache) is not
/// taken at all (else it would count as fresh again at every refresh, and never go stale), and
/// a max age beyond the policy's largest counts as that largest.
#[tokio::test]
async fn a_cached_entry_from_the_future_still_goes_stale() {
    let issuer = Issuer::start().await;
    let cache = MemoryKeyCache::new();
    let far = std::time::UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100
    put_jwks(
        &cache,
        &issuer,
        issuer.jwks().to_string(),
        far,
        u64::MAX / 4,
    )
    .await;
    let validator = validator_with_cache(&issuer, cache).await;
    let status = &validator.status().issuers[0];
    assert!(status.fetched_at.unwrap() <= std::time::SystemTime::now());
    assert_eq!(
        issuer.hits("/jwks"),
        1,
        "the entry from the future was not taken"
    );
}

/// A max age in the shared cache beyond the policy's largest counts as that largest.
#[tokio::test]
async fn a_cached_max_age_is_held_within_the_policy() {
    let issuer = Issuer::start().await;
    let cache = MemoryKeyCache::new();
    let now = std::time::SystemTime::now();
    put_jwks(
        &cache,
        &issuer,
        issuer.jwks().to_string(),
        now,
        u64::MAX / 4,
    )
    .await;
    let validator = validator_with_cache(&issuer, cache).await;
    assert_eq!(issuer.hits("/jwks"), 0, "taken from the cache");
    let status = &validator.status().issuers[0];
    assert_eq!(
        status.max_age,
        Some(jwtguard_core::defaults::KEYS_MAX_MAX_AGE)
    );
}

/// A cached discovery document has an age: one older than the policy keeps keys for is not
/// used to start while the IdP is down.
#[tokio::test]
async fn an_ancient_cached_discovery_document_is_not_used() {
    let issuer = Issuer::start().await;
    let cache = MemoryKeyCache::new();
    let build = |cache: MemoryKeyCache| {
        Validator::builder()
            .issuer(issuer.url())
            .audience(DEFAULT_AUDIENCE)
            .key_cache(cache)
            .build()
    };
    build(cache.clone()).await.unwrap();
    let discovery_key = format!("jwtguard:discovery:{}", issuer.url());
    let mut stored = (*cache.get(&discovery_key).await.unwrap().expect("cached")).clone();
    issuer.take_down().await;
    // Fresh enough: an instance starts from the cache while the IdP is down.
    build(cache.clone()).await.expect("starts from the cache");
    // Three days old: too old to trust.
    let old = std::time::SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
    stored.fetched_at_ms = unix_ms(old);
    cache
        .put(&discovery_key, stored, Duration::from_secs(600))
        .await
        .unwrap();
    let err = build(cache).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeysUnavailable);
}

/// The shared cache is a trust anchor: whoever can write to it can add keys. Without a
/// secret, a forged entry is taken (as far as the cache's access control lets anyone write);
/// with [`key_cache_secret`](jwtguard_core::ValidatorBuilder::key_cache_secret), entries are
/// sealed and a forged one is ignored.
#[tokio::test]
async fn a_forged_cache_entry_is_ignored_with_a_cache_secret() {
    let issuer = Issuer::start().await;
    let cache = MemoryKeyCache::new();
    let secret = [9u8; 32];
    let build = |sealed: bool| {
        let builder = Validator::builder()
            .issuer(issuer.url())
            .audience(DEFAULT_AUDIENCE)
            .key_cache(cache.clone());
        match sealed {
            true => builder.key_cache_secret(secret.to_vec()),
            false => builder,
        }
        .build()
    };
    build(true).await.unwrap();
    let attacker = TestKey::ec_p256("attacker");
    let forged = jwtguard_testkit::jwks([&attacker]).to_string();
    put_jwks(&cache, &issuer, forged, std::time::SystemTime::now(), 600).await;
    let token = attacker
        .token()
        .claims(serde_json::json!({"iss": issuer.url(), "aud": DEFAULT_AUDIENCE, "exp": 4_000_000_000u64}))
        .sign();

    let open = build(false).await.unwrap();
    assert!(
        open.validate(&token).await.is_ok(),
        "the cache is a trust anchor"
    );
    let sealed = build(true).await.unwrap();
    assert_eq!(
        sealed.validate(&token).await.unwrap_err().kind(),
        ErrorKind::UnknownKey
    );
    assert!(sealed.validate(&issuer.token().sign()).await.is_ok());
}

#[tokio::test]
async fn validate_now_answers_what_validate_answers_or_says_it_must_wait() {
    let issuer = Issuer::start().await;
    let validator = validator_for(&issuer).await;
    let valid = issuer.token().sign();
    let now = validator
        .validate_now(&valid)
        .expect("no waiting for a known key");
    assert_eq!(
        now.expect("valid").claims(),
        validator.validate(&valid).await.expect("valid").claims()
    );
    let expired = issuer.token().claim("exp", 1_600_000_000u64).sign();
    let refused = validator.validate_now(&expired).expect("no waiting");
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::Expired);
    // A kid the key set lacks: the refresh that may bring it is awaited by `validate` only.
    let stranger = TestKey::rsa("not-published-yet");
    let unknown = stranger
        .token()
        .claim("iss", issuer.url())
        .claim("aud", DEFAULT_AUDIENCE)
        .claim("exp", 4_000_000_000u64)
        .sign();
    assert!(validator.validate_now(&unknown).is_none());
    assert_eq!(
        validator.validate(&unknown).await.unwrap_err().kind(),
        ErrorKind::UnknownKey
    );
    // With an asynchronous check, nothing is decided without waiting.
    let checked = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .check_async(|_| async { Ok(()) })
        .build()
        .await
        .unwrap();
    assert!(checked.validate_now(&valid).is_none());
    assert!(checked.validate(&valid).await.is_ok());
}
