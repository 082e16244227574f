//! The key lifecycle against real parts: a rotation at the real `oidc-provider` under
//! concurrent load, a flood of random kids, and an IdP outage and its healing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jwtguard::clock::ManualClock;
use jwtguard::testkit::{DEFAULT_AUDIENCE, Issuer};
use jwtguard::{ErrorKind, TypeCheck, Validator};
use jwtguard_examples::axum_app;
use jwtguard_tests::{IDP_AUDIENCE, Idp, peek, serve};

fn keys_file(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("jwtguard-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("keys.json").to_string_lossy().into_owned()
}

async fn jwks_fetches(idp: &Idp) -> u64 {
    idp.hits().await["/jwks"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_rotation_at_the_real_idp_under_load_costs_one_fetch() {
    let keys = keys_file("rotation");
    let before = Idp::start_with(&[("IDP_WRITE_KEYS_FILE", keys.clone())]).await;
    let port = before.port().to_string();
    let validator = Validator::builder()
        .issuer(before.issuer())
        .audience(IDP_AUDIENCE)
        .type_check(TypeCheck::AccessToken)
        .build()
        .await
        .unwrap();
    assert_eq!(jwks_fetches(&before).await, 1);
    let base = serve(axum_app(validator)).await;
    let old = before.token_for("admin-rs").await;
    before.stop().await;

    // The same issuer, restarted with a new signing key first and the old keys still published.
    let after = Idp::start_with(&[
        ("IDP_PORT", port),
        ("IDP_KEYS_FILE", keys),
        ("IDP_ROTATE", "1".into()),
    ])
    .await;
    let new = after.token_for("admin-rs").await;
    assert_ne!(
        peek(&old).0["kid"],
        peek(&new).0["kid"],
        "a new signing key"
    );

    let client = reqwest::Client::new();
    let failures = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..64 {
        let (client, base, failures) = (client.clone(), base.clone(), Arc::clone(&failures));
        let tokens = [old.clone(), new.clone()];
        workers.push(tokio::spawn(async move {
            for i in 0..8 {
                let token = &tokens[(worker + i) % 2];
                let response = client
                    .get(format!("{base}/me"))
                    .bearer_auth(token)
                    .send()
                    .await;
                if !response.is_ok_and(|r| r.status() == 200) {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "512 requests, old and new keys, all 200"
    );
    assert_eq!(
        jwks_fetches(&after).await,
        1,
        "exactly one fetch for the rotation"
    );
    after.stop().await;
}

#[tokio::test]
async fn a_flood_of_random_kids_costs_at_most_one_fetch_per_cooldown() {
    let issuer = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
        .unwrap();
    let good = issuer.token().sign();
    // The signature is never reached for an unknown kid, so any bytes do.
    let batches: Vec<Vec<String>> = (0..8)
        .map(|task| {
            (0..1250)
                .map(|i| {
                    issuer
                        .token()
                        .header("kid", format!("random-{task}-{i}"))
                        .with_builder(|b| b.with_signature(&[7; 256]))
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let suppressed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for forged in batches {
        let validator = validator.clone();
        let suppressed = Arc::clone(&suppressed);
        let good = good.clone();
        tasks.push(tokio::spawn(async move {
            for (i, token) in forged.iter().enumerate() {
                let err = validator.validate(token).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::UnknownKey);
                suppressed.fetch_add(1, Ordering::SeqCst);
                if i % 100 == 0 {
                    validator
                        .validate(&good)
                        .await
                        .expect("valid tokens keep passing");
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let cooldowns = 1 + (elapsed.as_secs() / 30) as usize;
    let fetches = issuer.hits("/jwks");
    assert_eq!(suppressed.load(Ordering::SeqCst), 10_000);
    assert!(
        fetches <= 1 + cooldowns,
        "{fetches} JWKS fetches for 10 000 random kids in {elapsed:?}"
    );
    println!("random kids: 10000 refused in {elapsed:?}, JWKS fetches {fetches} (1 at start)");
}

#[tokio::test]
async fn an_outage_at_the_real_idp_and_its_healing() {
    let keys = keys_file("outage");
    let idp = Idp::start_with(&[("IDP_WRITE_KEYS_FILE", keys.clone())]).await;
    let port = idp.port().to_string();
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = Validator::builder()
        .issuer(idp.issuer())
        .audience(IDP_AUDIENCE)
        .shared_clock(clock.clone())
        .http_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let known = idp.token_for("reader-rs").await;
    idp.stop().await;

    // While down, a token signed with a key that was rotated in meanwhile.
    let rotated = Idp::start_with(&[
        ("IDP_PORT", port.clone()),
        ("IDP_KEYS_FILE", keys.clone()),
        ("IDP_ROTATE", "1".into()),
        ("IDP_WRITE_KEYS_FILE", keys.clone()),
    ])
    .await;
    let unknown = rotated.token_for("reader-rs").await;
    rotated.stop().await;

    assert!(
        validator.validate(&known).await.is_ok(),
        "known keys pass during the outage"
    );
    let err = validator.validate(&unknown).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeysUnavailable);
    assert_eq!(err.status(), 503);
    let status = validator.status();
    assert!(status.issuers[0].last_error.is_some());

    // The IdP comes back (same keys as the rotated one); after the cooldown the next unknown
    // kid refreshes and everything heals without a restart.
    let back = Idp::start_with(&[("IDP_PORT", port), ("IDP_KEYS_FILE", keys)]).await;
    clock.advance(Duration::from_secs(31));
    validator.validate(&unknown).await.expect("healed");
    assert!(validator.validate(&known).await.is_ok());
    assert_eq!(validator.status().issuers[0].last_error, None);
    back.stop().await;
}
