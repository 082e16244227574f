//! DPoP (RFC 9449) against the real provider, which binds client-credentials tokens to the key
//! of the proof in the token request: a bound token passes with its proof only, on both
//! frameworks; forged, misdirected, stale and replayed proofs are refused (a replay on another
//! instance too, through Redis); the public URL behind a proxy; the nonce dance; and the client
//! crate end to end.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jwtguard::client::{BearerMiddleware, DpopKey, OAuthClient, TokenManager, TokenParams};
use jwtguard::dpop::{DpopMode, DpopVerifier, NonceSource, RedisReplayStore};
use jwtguard::provider::ClientAuth;
use jwtguard::testkit::TestKey;
use jwtguard::{Authenticator, Validator};
use jwtguard_examples::{actix_server_on, axum_app};
use jwtguard_tests::{CLIENTS, IDP_AUDIENCE, Idp, RedisServer};

const ADMIN: (&str, &str) = (CLIENTS[0].0, CLIENTS[0].1);

async fn validator(idp: &Idp) -> Validator {
    Validator::builder()
        .issuer(idp.issuer())
        .audience(IDP_AUDIENCE)
        .http_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("a validator for the provider")
}

fn verifier(public_url: &str) -> jwtguard::dpop::DpopVerifierBuilder {
    DpopVerifier::builder()
        .public_url(public_url)
        .mode(DpopMode::Allowed)
}

/// An axum server and an actix-web server, each with its own authenticator from `make`
/// (given the server's base URL), on loopback.
async fn servers(make: impl Fn(&str) -> Authenticator) -> (String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let axum_base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum_app(make(&axum_base));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let actix_base = format!("http://{}", listener.local_addr().unwrap());
    let actix = actix_server_on(make(&actix_base), listener, 1).unwrap();
    std::mem::forget(actix.handle);
    (axum_base, actix_base)
}

/// Status and `WWW-Authenticate` of `GET {url}` with `Authorization` and `DPoP` headers.
async fn call(url: &str, authorization: &str, proofs: &[&str]) -> (u16, Option<String>) {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("authorization", authorization);
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    let response = request.send().await.expect("an answer");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned());
    (response.status().as_u16(), challenge)
}

/// `url` with the port after its own (a valid port, so that only the port differs).
fn other_port(url: &str) -> String {
    let mut parsed = reqwest::Url::parse(url).unwrap();
    let port = parsed.port().unwrap();
    parsed.set_port(Some(port.wrapping_add(1).max(1))).unwrap();
    parsed.to_string()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_token_passes_with_its_proof_only_and_forgeries_are_refused() {
    let idp = Idp::start().await;
    let validator = validator(&idp).await;
    let (axum_base, actix_base) =
        servers(|base| Authenticator::new(validator.clone()).dpop(verifier(base).build().unwrap()))
            .await;
    let key = TestKey::ec_p256("client");
    let token = idp.dpop_token(ADMIN.0, ADMIN.1, IDP_AUDIENCE, &key).await;
    let claims: serde_json::Value = jwtguard::client::decode_unverified(&token).unwrap();
    assert_eq!(
        claims["cnf"]["jkt"],
        key.jwk_thumbprint(),
        "bound by the provider"
    );
    let dpop = format!("DPoP {token}");
    let thief = TestKey::ec_p256("thief");

    for base in [&axum_base, &actix_base] {
        let url = format!("{base}/me");
        let good = || key.dpop_proof("GET", &url, &token);
        // Accepted, once.
        let proof = good().sign();
        assert_eq!(call(&url, &dpop, &[&proof]).await.0, 200, "{base}");
        let (status, challenge) = call(&url, &dpop, &[&proof]).await;
        assert_eq!(status, 401, "a replayed jti on {base}");
        assert!(challenge.unwrap().contains(r#"error="invalid_dpop_proof""#));
        // As Bearer: no downgrade, whatever the proof.
        let (status, challenge) = call(&url, &format!("Bearer {token}"), &[&good().sign()]).await;
        assert_eq!(
            (status, challenge.as_deref()),
            (401, Some(r#"Bearer error="invalid_token""#))
        );
        // Refused proofs.
        let private = {
            let mut jwk = key.public_key_members();
            jwk["d"] = "AAAA".into();
            jwk
        };
        let big = good().claim("pad", "x".repeat(4096)).sign();
        let refusals = [
            ("no proof", None),
            (
                "wrong htm",
                Some(key.dpop_proof("POST", &url, &token).sign()),
            ),
            (
                "another path",
                Some(
                    key.dpop_proof("GET", &format!("{base}/admin"), &token)
                        .sign(),
                ),
            ),
            (
                "another port",
                Some(key.dpop_proof("GET", &other_port(&url), &token).sign()),
            ),
            (
                "another scheme",
                Some(
                    key.dpop_proof("GET", &url.replace("http:", "https:"), &token)
                        .sign(),
                ),
            ),
            (
                "a doubled slash",
                Some(key.dpop_proof("GET", &format!("{base}//me"), &token).sign()),
            ),
            ("a stale iat", Some(good().claim("iat", now() - 120).sign())),
            ("a future iat", Some(good().claim("iat", now() + 60).sign())),
            ("no ath", Some(good().without_claim("ath").sign())),
            (
                "a wrong ath",
                Some(key.dpop_proof("GET", &url, "another-token").sign()),
            ),
            (
                "another key",
                Some(thief.dpop_proof("GET", &url, &token).sign()),
            ),
            ("a private jwk", Some(good().header("jwk", private).sign())),
            ("alg none", Some(good().header("alg", "none").unsigned())),
            (
                "HS256 with the jwk",
                Some(
                    good()
                        .header("alg", "HS256")
                        .sign_hmac(key.public_key_members().to_string().as_bytes()),
                ),
            ),
            ("over 4 KiB", Some(big)),
        ];
        for (what, proof) in refusals {
            let proofs: Vec<&str> = proof.iter().map(String::as_str).collect();
            let (status, challenge) = call(&url, &dpop, &proofs).await;
            assert_eq!(status, 401, "{what} on {base}");
            let challenge = challenge.unwrap_or_default();
            assert!(
                challenge.starts_with(
                    r#"Bearer, DPoP algs="ES256 RS256 PS256 EdDSA", error="invalid_dpop_proof""#
                ),
                "{what} on {base}: {challenge}"
            );
            if let Some(proof) = proof {
                assert!(
                    !challenge.contains(&proof[..20]),
                    "the proof is never echoed"
                );
            }
        }
        // Two proofs, or a proof without a token: 400.
        let (a, b) = (good().sign(), good().sign());
        assert_eq!(call(&url, &dpop, &[&a, &b]).await.0, 400);
        let alone = reqwest::Client::new()
            .get(&url)
            .header("dpop", good().sign())
            .send()
            .await
            .unwrap();
        assert_eq!(alone.status(), 400);
    }
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_on_another_instance_is_refused_through_redis() {
    let idp = Idp::start().await;
    let redis = RedisServer::start().await;
    let validator = validator(&idp).await;
    // Two instances behind one public URL, sharing a Redis replay store.
    let public = "https://api.example.test";
    let instance = || {
        let store = RedisReplayStore::new(&redis.url())
            .unwrap()
            .fail_closed(true);
        Authenticator::new(validator.clone())
            .dpop(verifier(public).replay_store(store).build().unwrap())
    };
    let (first, second) = servers(|_| instance()).await;
    let key = TestKey::ec_p256("client");
    let token = idp.dpop_token(ADMIN.0, ADMIN.1, IDP_AUDIENCE, &key).await;
    let dpop = format!("DPoP {token}");
    let proof = key
        .dpop_proof("GET", &format!("{public}/me"), &token)
        .sign();
    assert_eq!(call(&format!("{first}/me"), &dpop, &[&proof]).await.0, 200);
    let (status, challenge) = call(&format!("{second}/me"), &dpop, &[&proof]).await;
    assert_eq!(status, 401, "the proof was used on the first instance");
    assert!(challenge.unwrap().contains("invalid_dpop_proof"));
    let fresh = key
        .dpop_proof("GET", &format!("{public}/me"), &token)
        .sign();
    assert_eq!(call(&format!("{second}/me"), &dpop, &[&fresh]).await.0, 200);
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_the_public_url_is_what_proofs_name() {
    let idp = Idp::start().await;
    let validator = validator(&idp).await;
    // Clients address https://edge.example.test/orders/...; a proxy strips /orders and
    // forwards to this server on loopback.
    let (axum_base, actix_base) = servers(|_| {
        Authenticator::new(validator.clone()).dpop(
            verifier("https://edge.example.test/orders")
                .build()
                .unwrap(),
        )
    })
    .await;
    let key = TestKey::ec_p256("client");
    let token = idp.dpop_token(ADMIN.0, ADMIN.1, IDP_AUDIENCE, &key).await;
    let dpop = format!("DPoP {token}");
    for base in [&axum_base, &actix_base] {
        let public = key
            .dpop_proof("GET", "https://EDGE.example.test:443/orders/me", &token)
            .sign();
        assert_eq!(call(&format!("{base}/me"), &dpop, &[&public]).await.0, 200);
        let internal = key.dpop_proof("GET", &format!("{base}/me"), &token).sign();
        assert_eq!(
            call(&format!("{base}/me"), &dpop, &[&internal]).await.0,
            401
        );
        // A Host header the client chose changes nothing.
        let evil = reqwest::Client::new()
            .get(format!("{base}/me"))
            .header("host", "evil.example.test")
            .header("authorization", &dpop)
            .header(
                "dpop",
                key.dpop_proof("GET", "http://evil.example.test/me", &token)
                    .sign(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(evil.status(), 401);
    }
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_crate_end_to_end_with_the_nonce_dance() {
    let idp = Idp::start_with(&[("IDP_DPOP_NONCE", "1".into())]).await;
    let validator = validator(&idp).await;
    let nonces = NonceSource::random(Duration::from_secs(60)).unwrap();
    let (axum_base, actix_base) = servers(|base| {
        Authenticator::new(validator.clone())
            .dpop(verifier(base).nonces(nonces.clone()).build().unwrap())
    })
    .await;
    let key = DpopKey::generate().unwrap();
    let manager = TokenManager::builder()
        .allow_insecure_http(true)
        .dpop(key.clone())
        .build()
        .unwrap();
    let client = OAuthClient::discover(idp.issuer(), ClientAuth::secret_basic(ADMIN.0, ADMIN.1));
    let token = manager
        .client_credentials(
            &client,
            TokenParams::new().resource(IDP_AUDIENCE).scope("read"),
        )
        .unwrap();
    let access = token
        .get()
        .await
        .expect("a bound token, after the provider's nonce");
    assert!(access.is_dpop());
    assert_eq!(
        token.token_requests(),
        2,
        "the first asked for the provider's nonce"
    );
    let claims: serde_json::Value = jwtguard::client::decode_unverified(access.expose()).unwrap();
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());

    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerMiddleware::new(token.clone(), [&axum_base, &actix_base]).unwrap())
        .build();
    for base in [&axum_base, &actix_base] {
        for _ in 0..3 {
            let answer = http.get(format!("{base}/me")).send().await.unwrap();
            assert_eq!(answer.status(), 200, "{base}");
            let me: serde_json::Value = answer.json().await.unwrap();
            assert_eq!(me["cnf"]["jkt"], key.thumbprint());
        }
    }
    // Without the nonce, a hand-made proof is asked for one.
    let url = format!("{axum_base}/me");
    let response = reqwest::Client::new()
        .get(&url)
        .header("authorization", format!("DPoP {}", access.expose()))
        .header(
            "dpop",
            key.proof("GET", &url.parse().unwrap(), Some(access.expose()), None)
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("dpop-nonce"));
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="use_dpop_nonce""#),
        "{challenge}"
    );
    assert_eq!(token.token_requests(), 2, "no other token was needed");
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_away_falls_back_to_memory_or_fails_closed() {
    let idp = Idp::start().await;
    let mut redis = RedisServer::start().await;
    let validator = validator(&idp).await;
    let public = "https://api.example.test";
    let with_store = |fail_closed: bool| {
        let store = RedisReplayStore::new(&redis.url())
            .unwrap()
            .fail_closed(fail_closed);
        Authenticator::new(validator.clone())
            .dpop(verifier(public).replay_store(store).build().unwrap())
    };
    let (open, _) = servers(|_| with_store(false)).await;
    let (closed, _) = servers(|_| with_store(true)).await;
    let key = TestKey::ec_p256("client");
    let token = idp.dpop_token(ADMIN.0, ADMIN.1, IDP_AUDIENCE, &key).await;
    let dpop = format!("DPoP {token}");
    let proof = || {
        key.dpop_proof("GET", &format!("{public}/me"), &token)
            .sign()
    };
    redis.kill().await;
    // Fallen back to this instance's memory: a proof passes once, its replay is refused.
    let first = proof();
    assert_eq!(call(&format!("{open}/me"), &dpop, &[&first]).await.0, 200);
    assert_eq!(call(&format!("{open}/me"), &dpop, &[&first]).await.0, 401);
    // Failing closed: 503, never a pass.
    let (status, challenge) = call(&format!("{closed}/me"), &dpop, &[&proof()]).await;
    assert_eq!((status, challenge), (503, None));
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tower_layer_signs_a_proof_per_call() {
    use jwtguard::client::BearerLayer;
    use tower::{Service as _, ServiceExt as _};

    let idp = Idp::start().await;
    let validator = validator(&idp).await;
    let (axum_base, actix_base) =
        servers(|base| Authenticator::new(validator.clone()).dpop(verifier(base).build().unwrap()))
            .await;
    let manager = TokenManager::builder()
        .allow_insecure_http(true)
        .dpop(DpopKey::generate().unwrap())
        .build()
        .unwrap();
    let client = OAuthClient::discover(idp.issuer(), ClientAuth::secret_basic(ADMIN.0, ADMIN.1));
    let token = manager
        .client_credentials(&client, TokenParams::new().resource(IDP_AUDIENCE))
        .unwrap();
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<String>();
    let layer = BearerLayer::new(token.clone(), [&axum_base, &actix_base]).unwrap();
    let mut service = tower::ServiceBuilder::new().layer(layer).service(hyper);
    for base in [&axum_base, &actix_base] {
        for _ in 0..3 {
            let request = axum::http::Request::get(format!("{base}/me"))
                .body(String::new())
                .unwrap();
            let answer = service.ready().await.unwrap().call(request).await.unwrap();
            assert_eq!(answer.status(), 200, "{base}");
        }
    }
    assert_eq!(token.token_requests(), 1);
    idp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keeps_each_key_to_its_quota_across_instances() {
    use jwtguard::dpop::ReplayStore as _;

    let redis = RedisServer::start().await;
    let instance = || {
        RedisReplayStore::new(&redis.url())
            .unwrap()
            .with_quota(3)
            .fail_closed(false)
    };
    let (first, second) = (instance(), instance());
    let ttl = Duration::from_secs(60);
    let (key, other_key) = ([7u8; 32], [8u8; 32]);
    // Three proofs of one key, on two instances: recorded; the fourth is refused, unrecorded.
    assert!(first.first_use(&[1; 32], &key, ttl).await.unwrap());
    assert!(second.first_use(&[2; 32], &key, ttl).await.unwrap());
    assert!(first.first_use(&[3; 32], &key, ttl).await.unwrap());
    let refused = second.first_use(&[4; 32], &key, ttl).await.unwrap_err();
    assert_eq!(refused.kind(), jwtguard::ErrorKind::InvalidDpopProof);
    // A replay is still a replay, on either instance; another key has its own quota.
    assert!(!second.first_use(&[1; 32], &key, ttl).await.unwrap());
    assert!(first.first_use(&[4; 32], &other_key, ttl).await.unwrap());
}
