//! The validated-token cache: hits skip the signature, but never outlive `exp` or the key,
//! never mix two tokens, and still run the user's checks, synchronous and asynchronous.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jwtguard_core::clock::{Clock, ManualClock};
use jwtguard_core::{ErrorKind, RefreshPolicy, TokenCacheConfig, Validator};
use jwtguard_testkit::{DEFAULT_AUDIENCE, Issuer, TestKey, b64};

/// How many times the user's checks ran (both kinds run on every validation), and how many
/// full checks there were: a hit hands the checks the very token the full check made, so each
/// full check shows as a new payload buffer (one the cache keeps alive, so never reused while
/// it is cached).
#[derive(Default)]
struct Runs {
    sync: AtomicUsize,
    asynchronous: AtomicUsize,
    payloads: Mutex<HashSet<usize>>,
}

impl Runs {
    fn full_checks(&self) -> usize {
        self.payloads.lock().unwrap().len()
    }
}

async fn cached_validator(issuer: &Issuer, clock: &Arc<ManualClock>, runs: Arc<Runs>) -> Validator {
    cached_validator_with(issuer, clock, runs, RefreshPolicy::default()).await
}

async fn cached_validator_with(
    issuer: &Issuer,
    clock: &Arc<ManualClock>,
    runs: Arc<Runs>,
    policy: RefreshPolicy,
) -> Validator {
    let sync_runs = Arc::clone(&runs);
    Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .shared_clock(clock.clone())
        .leeway(Duration::ZERO)
        .refresh_policy(policy)
        .token_cache(TokenCacheConfig::default())
        .check(move |token| {
            sync_runs.sync.fetch_add(1, Ordering::SeqCst);
            let payload = token.payload().as_ptr() as usize;
            sync_runs.payloads.lock().unwrap().insert(payload);
            Ok(())
        })
        .check_async(move |_| {
            let runs = Arc::clone(&runs);
            async move {
                runs.asynchronous.fetch_add(1, Ordering::SeqCst);
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
    let runs = Arc::new(Runs::default());
    let validator = cached_validator(&issuer, &clock, Arc::clone(&runs)).await;
    let token = token_for(&issuer, &clock, 100);
    assert!(validator.validate(&token).await.is_ok());
    assert!(validator.validate(&token).await.is_ok());
    assert_eq!(runs.full_checks(), 1, "the second was a hit");
    // No leeway here: at exp itself a cache that outlived exp would still answer.
    clock.advance(Duration::from_secs(100));
    assert_eq!(
        validator.validate(&token).await.unwrap_err().kind(),
        ErrorKind::Expired
    );
}

/// While the IdP is down the keys are used up to their stale limit, and no further: a cached
/// token is refused with them, as a new one is.
#[tokio::test]
async fn a_cached_token_goes_when_its_keys_pass_the_stale_limit() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let mut policy = RefreshPolicy::default();
    policy.default_max_age = Duration::from_secs(60);
    policy.min_max_age = Duration::from_secs(60);
    policy.stale_limit = Duration::from_secs(60);
    policy.retries = 0;
    let runs = Arc::new(Runs::default());
    let validator = cached_validator_with(&issuer, &clock, Arc::clone(&runs), policy).await;
    let token = token_for(&issuer, &clock, 3600);
    assert!(validator.validate(&token).await.is_ok());
    issuer.take_down().await;
    clock.advance(Duration::from_secs(100));
    assert!(
        validator.validate(&token).await.is_ok(),
        "stale, within the limit"
    );
    assert_eq!(runs.full_checks(), 1, "served from the cache");
    clock.advance(Duration::from_secs(100));
    let fresh = token_for(&issuer, &clock, 3600);
    for token in [&token, &fresh] {
        assert_eq!(
            validator.validate(token).await.unwrap_err().kind(),
            ErrorKind::KeysUnavailable
        );
    }
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
async fn the_checks_run_on_every_hit() {
    let issuer = Issuer::start().await;
    let clock = Arc::new(ManualClock::now_frozen());
    let runs = Arc::new(Runs::default());
    let validator = cached_validator(&issuer, &clock, Arc::clone(&runs)).await;
    let token = token_for(&issuer, &clock, 300);
    for _ in 0..5 {
        assert!(validator.validate(&token).await.is_ok());
    }
    assert_eq!(runs.full_checks(), 1, "one full check, four hits");
    assert_eq!(runs.sync.load(Ordering::SeqCst), 5);
    assert_eq!(runs.asynchronous.load(Ordering::SeqCst), 5);
}

/// A stateful synchronous check (an in-memory deny list) is not bypassed by a cached token.
#[tokio::test]
async fn a_deny_list_check_refuses_a_cached_token() {
    let issuer = Issuer::start().await;
    let denied = Arc::new(AtomicBool::new(false));
    let deny = Arc::clone(&denied);
    let validator = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .token_cache(TokenCacheConfig::default())
        .check(move |_| match deny.load(Ordering::SeqCst) {
            true => Err(jwtguard_core::Error::rejected("on the deny list")),
            false => Ok(()),
        })
        .build()
        .await
        .unwrap();
    let token = issuer.token().sign();
    assert!(validator.validate(&token).await.is_ok());
    assert!(validator.validate(&token).await.is_ok());
    denied.store(true, Ordering::SeqCst);
    assert_eq!(
        validator.validate(&token).await.unwrap_err().kind(),
        ErrorKind::Rejected
    );
}
