//! The validated-token cache: hits skip the signature, but never outlive `exp` or the key,
//! never mix two tokens, and still run the asynchronous checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jwtguard_core::clock::{Clock, ManualClock};
use jwtguard_core::{ErrorKind, TokenCacheConfig, Validator};
use jwtguard_testkit::{DEFAULT_AUDIENCE, Issuer, TestKey, b64};

async fn cached_validator(
    issuer: &Issuer,
    clock: &Arc<ManualClock>,
    checks: Arc<AtomicUsize>,
) -> Validator {
    Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .shared_clock(clock.clone())
        .token_cache(TokenCacheConfig::default())
        .check_async(move |_| {
            let checks = Arc::clone(&checks);
            async move {
                checks.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .build()
        .await
        .unwrap()
}

fn token_for(issuer: &Issuer, clock: &ManualClock, lifetime: u64) -> String {
    let now = clock.unix_seconds();
    issuer
        .token()
        .claim("iat", now)
        .claim("exp", now + lifetime)
        .sign()
}

#[tokio::test]
async fn a_cached_token_still_expires_at_its_exp() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = cached_validator(&issuer, &clock, Arc::default()).await;
    let token = token_for(&issuer, &clock, 100);
    assert!(validator.validate(&token).await.is_ok());
    assert!(validator.validate(&token).await.is_ok(), "a hit");
    clock.advance(Duration::from_secs(101));
    // Past exp the cache does not answer; the full check does, with the leeway.
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        validator.validate(&token).await.unwrap_err().kind(),
        ErrorKind::Expired
    );
}

#[tokio::test]
async fn a_cached_token_goes_when_its_key_leaves_the_key_set() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = cached_validator(&issuer, &clock, Arc::default()).await;
    let token = token_for(&issuer, &clock, 300);
    assert!(validator.validate(&token).await.is_ok());
    issuer.rotate_to(TestKey::ec_p256("ec-2"));
    validator.refresh().await.unwrap();
    assert!(
        validator.validate(&token).await.is_ok(),
        "the key is still published"
    );
    issuer.retire("rsa-1");
    validator.refresh().await.unwrap();
    assert_eq!(
        validator.validate(&token).await.unwrap_err().kind(),
        ErrorKind::UnknownKey
    );
}

#[tokio::test]
async fn two_tokens_never_share_an_entry() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let validator = cached_validator(&issuer, &clock, Arc::default()).await;
    let token = token_for(&issuer, &clock, 300);
    assert!(validator.validate(&token).await.is_ok());
    let (input, _) = token.rsplit_once('.').unwrap();
    let forged = format!(
        "{input}.{}",
        b64(&TestKey::rsa("rsa-1").sign(input.as_bytes()))
    );
    assert_eq!(
        validator.validate(&forged).await.unwrap_err().kind(),
        ErrorKind::InvalidSignature
    );
    let truncated = &token[..token.len() - 2];
    assert!(validator.validate(truncated).await.is_err());
}

#[tokio::test]
async fn asynchronous_checks_run_on_every_hit() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let checks = Arc::new(AtomicUsize::new(0));
    let validator = cached_validator(&issuer, &clock, Arc::clone(&checks)).await;
    let token = token_for(&issuer, &clock, 300);
    for _ in 0..5 {
        assert!(validator.validate(&token).await.is_ok());
    }
    assert_eq!(checks.load(Ordering::SeqCst), 5);
}
