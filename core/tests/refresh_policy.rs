//! The refresh policy, driven with an injectable clock against a local issuer: refresh ahead
//! of the max age, conditional requests, the stale limit, rediscovery, background refresh, and
//! several issuers.

use std::sync::Arc;
use std::time::Duration;

use jwtguard_core::clock::{Clock, ManualClock};
use jwtguard_core::{ErrorKind, IssuerTemplate, RefreshPolicy, Validator};
use jwtguard_testkit::{DEFAULT_AUDIENCE, Issuer, TestKey};

async fn validator_at(issuer: &Issuer, clock: &Arc<ManualClock>) -> Validator {
    Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .shared_clock(clock.clone())
        .http_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap()
}

/// Waits (bounded) for a background task to reach the issuer.
async fn wait_for_hits(issuer: &Issuer, path: &str, at_least: usize) -> usize {
    for _ in 0..100 {
        let hits = issuer.hits(path);
        if hits >= at_least {
            return hits;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    issuer.hits(path)
}

#[tokio::test]
async fn keys_are_refreshed_ahead_of_their_max_age_with_a_conditional_request() {
    let issuer = Issuer::start().await;
    issuer.set_cache_control(Some("public, max-age=120"));
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = validator_at(&issuer, &clock).await;
    assert_eq!(
        validator.status().issuers[0].max_age,
        Some(Duration::from_secs(120))
    );
    let token = issuer.token().sign();

    clock.advance(Duration::from_secs(89));
    assert!(validator.validate(&token).await.is_ok());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        issuer.hits("/jwks"),
        1,
        "not due yet (refresh starts 30 s ahead)"
    );

    clock.advance(Duration::from_secs(2));
    assert!(
        validator.validate(&token).await.is_ok(),
        "served from the current set"
    );
    assert_eq!(
        wait_for_hits(&issuer, "/jwks", 2).await,
        2,
        "one background refresh"
    );
    assert_eq!(
        issuer.not_modified_answers(),
        1,
        "an unchanged set costs a 304"
    );
    for _ in 0..50 {
        if validator.status().issuers[0].age == Some(Duration::ZERO) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        validator.status().issuers[0].age,
        Some(Duration::ZERO),
        "confirmed fresh"
    );
}

#[tokio::test]
async fn cache_control_is_clamped_to_the_policy() {
    let issuer = Issuer::start().await;
    issuer.set_cache_control(Some("max-age=5"));
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = validator_at(&issuer, &clock).await;
    assert_eq!(
        validator.status().issuers[0].max_age,
        Some(Duration::from_secs(60))
    );
    issuer.set_cache_control(Some("max-age=31536000"));
    validator.refresh().await.unwrap();
    assert_eq!(
        validator.status().issuers[0].max_age,
        Some(Duration::from_secs(86_400))
    );
}

#[tokio::test]
async fn last_known_good_keys_are_served_until_the_stale_limit() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let mut policy = RefreshPolicy::default();
    policy.stale_limit = Duration::from_secs(3600);
    let validator = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .shared_clock(clock.clone())
        .refresh_policy(policy)
        .http_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    issuer.take_down().await;
    // Tokens are checked against the moving clock: mint them for it.
    let token_at = |clock: &ManualClock| {
        let now = clock.unix_seconds();
        issuer
            .token()
            .claim("iat", now)
            .claim("exp", now + 300)
            .sign()
    };

    clock.advance(Duration::from_secs(600 + 3000));
    assert!(
        validator.validate(&token_at(&clock)).await.is_ok(),
        "stale but within the limit"
    );
    assert!(validator.status().issuers[0].stale);

    clock.advance(Duration::from_secs(601));
    let err = validator.validate(&token_at(&clock)).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::KeysUnavailable,
        "past the stale limit"
    );
    assert!(validator.status().issuers[0].expired);
    assert!(!validator.status().is_healthy());

    issuer.bring_up().await;
    validator.refresh().await.unwrap();
    assert!(
        validator.validate(&token_at(&clock)).await.is_ok(),
        "healed"
    );
    assert!(validator.status().is_healthy());
}

#[tokio::test]
async fn discovery_runs_again_when_the_jwks_url_keeps_failing() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = validator_at(&issuer, &clock).await;
    assert_eq!(issuer.hits("/.well-known/openid-configuration"), 1);
    issuer.override_jwks(Some((503, "{}".into())));
    for _ in 0..2 {
        assert!(validator.refresh().await.is_err());
    }
    assert_eq!(issuer.hits("/.well-known/openid-configuration"), 1);
    issuer.override_jwks(None);
    validator.refresh().await.unwrap();
    assert_eq!(
        issuer.hits("/.well-known/openid-configuration"),
        2,
        "after two failures in a row, discovery runs before the next fetch"
    );
}

#[tokio::test]
async fn a_failed_rediscovery_keeps_the_known_jwks_url() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = validator_at(&issuer, &clock).await;
    issuer.override_jwks(Some((503, "{}".into())));
    for _ in 0..2 {
        assert!(validator.refresh().await.is_err());
    }
    issuer.override_jwks(None);
    issuer.override_discovery_issuer(Some("https://elsewhere.example.test".into()));
    validator.refresh().await.unwrap();
    assert_eq!(
        issuer.hits("/.well-known/openid-configuration"),
        2,
        "discovery ran again, and its answer was refused"
    );
    assert_eq!(
        issuer.hits("/jwks"),
        4,
        "the known JWKS URL was fetched anyway"
    );
}

#[tokio::test]
async fn a_background_task_refreshes_until_its_handle_is_dropped() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = validator_at(&issuer, &clock).await;
    let task = validator.spawn_background_refresh(Duration::from_secs(1));
    assert!(wait_for_hits(&issuer, "/jwks", 2).await >= 2);
    assert!(!task.is_finished());
    drop(task);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after_drop = issuer.hits("/jwks");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        issuer.hits("/jwks"),
        after_drop,
        "no fetch after the handle is dropped"
    );
}

#[tokio::test]
async fn each_key_is_bound_to_its_issuer_even_when_kids_collide() {
    // Both issuers publish a key with kid "rsa-1", each a different key.
    let a = Issuer::start().await;
    let b = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(a.url())
        .issuer(b.url())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
        .unwrap();
    assert!(validator.validate(&a.token().sign()).await.is_ok());
    assert!(validator.validate(&b.token().sign()).await.is_ok());

    // Claims of A, signed with B's key under the same kid.
    let b_key = b.signing_key();
    let forged = a.token().with_builder(|builder| {
        let input = builder.signing_input();
        format!(
            "{input}.{}",
            jwtguard_testkit::b64(&b_key.sign(input.as_bytes()))
        )
    });
    assert_eq!(
        validator.validate(&forged).await.unwrap_err().kind(),
        ErrorKind::InvalidSignature
    );

    // A kid that only B has, in a token that says it comes from A.
    b.rotate_to(TestKey::ec_p256("b-only"));
    validator.refresh().await.unwrap();
    let cross = a
        .token()
        .header("kid", "b-only")
        .header("alg", "ES256")
        .with_builder(|builder| {
            let input = builder.signing_input();
            let key = b.signing_key();
            format!(
                "{input}.{}",
                jwtguard_testkit::b64(&key.sign(input.as_bytes()))
            )
        });
    assert_eq!(
        validator.validate(&cross).await.unwrap_err().kind(),
        ErrorKind::UnknownKey
    );

    let stranger = Issuer::start().await;
    assert_eq!(
        validator
            .validate(&stranger.token().sign())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidIssuer
    );
    assert_eq!(
        stranger.hits("/jwks"),
        0,
        "an unknown issuer is never contacted"
    );
}

#[tokio::test]
async fn issuer_templates_serve_tenants_from_one_key_set() {
    let keys = Issuer::start().await;
    let template = format!("{}/tenants/{{tid}}/v2.0", keys.url());
    let validator = Validator::builder()
        .issuer_template(
            IssuerTemplate::new(&template)
                .unwrap()
                .allow_tenants(["acme", "globex"]),
            keys.jwks_uri(),
        )
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
        .unwrap();
    for tenant in ["acme", "globex"] {
        let iss = template.replace("{tid}", tenant);
        let token = keys.token().claim("iss", iss.clone()).sign();
        let verified = validator.validate(&token).await.unwrap();
        assert_eq!(verified.issuer(), iss);
    }
    for iss in [
        template.replace("{tid}", "initech"),
        template.replace("{tid}", "acme/../globex"),
        keys.url().to_owned(),
    ] {
        let token = keys.token().claim("iss", iss.clone()).sign();
        let err = validator.validate(&token).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidIssuer, "{iss}");
    }
    assert_eq!(
        keys.hits("/.well-known/openid-configuration"),
        0,
        "keys only from the JWKS URL"
    );
}
