//! Credentials beside JWTs, against a JWT validation measured in the same run: an
//! introspection cache hit (the answer came once from a local endpoint on loopback) and an API
//! key check answered by its cache; and whole requests through the `Authenticator` (finding
//! the credential, checking it, the verified token), with a JWT and with an API key; and a
//! DPoP proof check, alone and with its bound token through the `Authenticator`. `cargo bench -p jwtguard-benches --bench credentials`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::post;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jwtguard_benches::{AUDIENCE, ISSUER, Setup, claims, complete, setup};
use jwtguard_core::api_key::{ApiKeyPrincipal, ApiKeys, MemoryApiKeyStore};
use jwtguard_core::dpop::{DpopVerifier, MemoryReplayStore, normalize_htu};
use jwtguard_core::introspection::Introspector;
use jwtguard_core::provider::ClientAuth;
use jwtguard_core::request::HeaderPairs;
use jwtguard_core::{Anonymous, ApiKeyLocation, Authenticator};
use jwtguard_testkit::TestKey;

fn benches(c: &mut Criterion) {
    let Setup {
        runtime,
        cases,
        plain,
        ..
    } = setup();
    let rs256 = &cases[0];
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3_600;
    let answer = serde_json::json!({
        "active": true,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "svc",
        "scope": "read write",
        "roles": ["admin"],
        "exp": exp,
        "token_type": "Bearer",
    });
    let endpoint = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let app = Router::new().route(
            "/introspect",
            post(move || {
                let answer = answer.clone();
                async move { axum::Json(answer) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}/introspect")
    });
    let introspector = runtime
        .block_on(
            Introspector::builder()
                .issuer(ISSUER)
                .endpoint(endpoint)
                .audience(AUDIENCE)
                .client(ClientAuth::secret_basic("rs", "rs-secret"))
                .build(),
        )
        .expect("an introspector");
    let opaque = "Ey3-cZw3R-fTRIGuI60aJRvpZHrXs5SY9DU8t_7EzOw";
    runtime
        .block_on(introspector.introspect(opaque))
        .expect("active");

    let store = MemoryApiKeyStore::new();
    let key = "jg_live_3b8f0c1e9a7d4f2b8c6e5a1d0f9b7c3e";
    store.insert(key, ApiKeyPrincipal::new("batch-job").with_roles(["admin"]));
    let api_keys = ApiKeys::new(Arc::new(store));
    runtime.block_on(api_keys.check(key)).expect("a known key");

    let mut group = c.benchmark_group("credentials");
    group.bench_function("reference: JWT validation, RS256", |b| {
        b.iter(|| complete(&runtime, plain.validate(black_box(&rs256.valid))).expect("valid"))
    });
    group.bench_function("introspection, cache hit", |b| {
        b.iter(|| complete(&runtime, introspector.introspect(black_box(opaque))).expect("active"))
    });
    group.bench_function("API key check, cache hit", |b| {
        b.iter(|| complete(&runtime, api_keys.check(black_box(key))).expect("known"))
    });
    let authenticator = Authenticator::new(plain.clone())
        .api_keys(api_keys.clone(), ApiKeyLocation::default())
        .expect("the default location");
    let bearer = format!("Bearer {}", rs256.valid);
    let jwt_headers = [("authorization", bearer.as_str())];
    let key_headers = [("x-api-key", key)];
    group.bench_function("request with a JWT, through the Authenticator", |b| {
        b.iter(|| {
            complete(
                &runtime,
                authenticator.authenticate(
                    &HeaderPairs::new(black_box(&jwt_headers)),
                    Anonymous::Refused,
                ),
            )
            .expect("valid")
        })
    });
    group.bench_function(
        "request with an API key, through the Authenticator, cache hit",
        |b| {
            b.iter(|| {
                complete(
                    &runtime,
                    authenticator.authenticate(
                        &HeaderPairs::new(black_box(&key_headers)),
                        Anonymous::Refused,
                    ),
                )
                .expect("known")
            })
        },
    );
    // DPoP: an RS256 access token bound to an ES256 client key, and a fresh proof per request
    // (signed outside the measurement).
    let client_key = TestKey::ec_p256("client");
    let bound = rs256
        .key
        .as_ref()
        .expect("the RS256 key")
        .token()
        .claims(claims())
        .claim(
            "cnf",
            serde_json::json!({"jkt": client_key.jwk_thumbprint()}),
        )
        .sign();
    // A replay store that lets one key send every proof the bench makes.
    let verifier = DpopVerifier::builder()
        .public_url("https://api.example.com")
        .replay_store(MemoryReplayStore::with_bounds(10_000_000, u32::MAX))
        .build()
        .expect("a verifier");
    let uri = normalize_htu("https://api.example.com/orders").expect("a URI");
    let client_key_jkt = client_key.jwk_thumbprint();
    let fresh_proof = || {
        client_key
            .dpop_proof("GET", "https://api.example.com/orders", &bound)
            .sign()
    };
    let es256 = &cases[2];
    group.bench_function("reference: JWT validation, ES256", |b| {
        b.iter(|| complete(&runtime, plain.validate(black_box(&es256.valid))).expect("valid"))
    });
    group.bench_function("DPoP proof check, ES256", |b| {
        b.iter_batched(
            fresh_proof,
            |proof| {
                complete(
                    &runtime,
                    verifier.check(&proof, "GET", &uri, &bound, Some(client_key_jkt.as_str())),
                )
                .expect("good")
            },
            BatchSize::SmallInput,
        )
    });
    let with_dpop = Authenticator::new(plain.clone()).dpop(verifier.clone());
    let scheme = format!("DPoP {bound}");
    group.bench_function(
        "request with a DPoP-bound JWT and its proof, through the Authenticator",
        |b| {
            b.iter_batched(
                fresh_proof,
                |proof| {
                    let headers = [("authorization", scheme.as_str()), ("dpop", proof.as_str())];
                    let view = HeaderPairs::new(&headers).with_target("GET", "/orders");
                    complete(&runtime, with_dpop.authenticate(&view, Anonymous::Refused))
                        .expect("good")
                },
                BatchSize::SmallInput,
            )
        },
    );
    group.finish();
    assert_eq!(introspector.calls(), 1, "the bench only used the cache");
}

criterion_group!(credentials, benches);
criterion_main!(credentials);
