//! Two validators (two "instances" of a service) sharing a real Redis key cache.

use std::time::Duration;

use jwtguard::Validator;
use jwtguard::keys::RedisKeyCache;
use jwtguard::testkit::{DEFAULT_AUDIENCE, Issuer};
use jwtguard_tests::RedisServer;

async fn instance(issuer: &Issuer, redis: &RedisServer) -> Validator {
    Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .http_timeout(Duration::from_secs(2))
        .key_cache(RedisKeyCache::new(&redis.url()).expect("redis cache"))
        .build()
        .await
        .expect("validator")
}

#[tokio::test]
async fn two_instances_share_one_fetch() {
    let redis = RedisServer::start().await;
    let issuer = Issuer::start().await;
    let first = instance(&issuer, &redis).await;
    let second = instance(&issuer, &redis).await;
    assert_eq!(
        issuer.hits("/jwks"),
        1,
        "the second instance starts from the cache"
    );
    let token = issuer.token().sign();
    assert!(first.validate(&token).await.is_ok());
    assert!(second.validate(&token).await.is_ok());

    // A rotation seen by both instances at once: one takes the lock and fetches, the other
    // reads its result.
    issuer.rotate();
    let rotated = issuer.token().sign();
    let (a, b) = tokio::join!(first.validate(&rotated), second.validate(&rotated));
    a.expect("first instance");
    b.expect("second instance");
    assert_eq!(
        issuer.hits("/jwks"),
        2,
        "one fetch for the rotation, for both instances"
    );
}

#[tokio::test]
async fn an_instance_starts_warm_from_the_cache_while_the_idp_is_down() {
    let redis = RedisServer::start().await;
    let issuer = Issuer::start().await;
    let _first = instance(&issuer, &redis).await;
    let token = issuer.token().sign();
    issuer.take_down().await;
    // Discovery and keys both come from the cache another instance filled.
    let late = instance(&issuer, &redis).await;
    assert!(late.validate(&token).await.is_ok());
}

#[tokio::test]
async fn killing_redis_mid_run_fails_no_request() {
    let mut redis = RedisServer::start().await;
    let issuer = Issuer::start().await;
    let first = instance(&issuer, &redis).await;
    let second = instance(&issuer, &redis).await;
    let token = issuer.token().sign();

    let mut served = 0;
    for round in 0..200 {
        if round == 50 {
            redis.kill().await;
        }
        if round == 100 {
            // A new key while Redis is gone: the instances fall back to the IdP.
            issuer.rotate();
        }
        let token = if round >= 100 {
            issuer.token().sign()
        } else {
            token.clone()
        };
        first.validate(&token).await.expect("first instance");
        second.validate(&token).await.expect("second instance");
        served += 2;
    }
    assert_eq!(served, 400);
    assert_eq!(
        issuer.hits("/jwks"),
        3,
        "one shared fetch at start-up, then the rotation fetched once by each instance"
    );
}

/// A refresh that took the fetch lock and was cancelled never unlocks. The lock expires, and
/// from then on every instance's lock and unlock must still pair up: a later unlock frees the
/// live lock, not the stale one.
#[tokio::test]
async fn a_lock_left_by_a_cancelled_refresh_does_not_hold_later_ones() {
    use jwtguard::KeyCache;

    let redis = RedisServer::start().await;
    let cache = RedisKeyCache::new(&redis.url()).expect("redis cache");
    let abandoned = cache
        .try_lock("jwks", Duration::from_millis(200))
        .await
        .unwrap();
    assert!(abandoned.is_some(), "the lock was free");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let live = cache
        .try_lock("jwks", Duration::from_secs(5))
        .await
        .unwrap()
        .expect("the abandoned lock expired");
    assert!(
        cache
            .try_lock("jwks", Duration::from_secs(5))
            .await
            .unwrap()
            .is_none(),
        "held"
    );
    // The stale token can't free the live lock; its holder's can.
    cache.unlock("jwks", abandoned.unwrap()).await.unwrap();
    assert!(
        cache
            .try_lock("jwks", Duration::from_secs(5))
            .await
            .unwrap()
            .is_none(),
        "still held by its holder"
    );
    cache.unlock("jwks", live).await.unwrap();
    assert!(
        cache
            .try_lock("jwks", Duration::from_secs(5))
            .await
            .unwrap()
            .is_some(),
        "the unlock freed the live lock"
    );
}
