//! Validation against the floor (the aws-lc-rs signature check with a parsed key) and
//! `jsonwebtoken::decode`, for RS256, PS256, ES256, EdDSA and HS256, valid and invalid, and the
//! validated-token cache. `cargo bench -p jwtguard-benches --bench validation`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{DecodingKey, Validation};
use jwtguard_benches::{AUDIENCE, ISSUER, Setup, complete, floor_verifier, setup, split};

fn benches(c: &mut Criterion) {
    let Setup {
        runtime,
        cases,
        plain,
        cached,
    } = setup();
    let rs256 = &cases[0];
    let key = rs256.key.as_ref().expect("RSA key");
    let jwk = key.public_jwk();
    let decode_b64 = |field: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk[field].as_str().unwrap_or_default())
            .unwrap_or_default()
    };
    let (n, e) = (decode_b64("n"), decode_b64("e"));

    let mut group = c.benchmark_group("rs256");
    // The floor: verify the signature with a key parsed once.
    let floor = floor_verifier(rs256);
    let (input, sig) = split(&rs256.valid);
    group.bench_function("floor: aws-lc-rs verify, parsed key", |b| {
        b.iter(|| assert!(floor(black_box(input.as_bytes()), black_box(&sig))))
    });
    let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    group.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(
                black_box(&rs256.valid),
                &decoding,
                &validation,
            )
            .expect("valid")
        })
    });
    group.bench_function("runtime: block_on of an empty future", |b| {
        b.iter(|| runtime.block_on(async { black_box(1) }))
    });
    group.bench_function("runtime: complete of an empty future", |b| {
        b.iter(|| complete(&runtime, async { black_box(1) }))
    });
    group.finish();

    let mut group = c.benchmark_group("floor");
    for case in &cases {
        let (input, sig) = split(&case.valid);
        let verify = floor_verifier(case);
        group.bench_function(case.alg, |b| {
            b.iter(|| assert!(verify(black_box(input.as_bytes()), black_box(&sig))))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("jwtguard");
    for case in &cases {
        group.bench_function(format!("{} valid", case.alg), |b| {
            b.iter(|| complete(&runtime, plain.validate(black_box(&case.valid))).expect("valid"))
        });
        group.bench_function(format!("{} invalid signature", case.alg), |b| {
            b.iter(|| {
                complete(&runtime, plain.validate(black_box(&case.forged))).expect_err("invalid")
            })
        });
    }
    complete(&runtime, cached.validate(&rs256.valid)).expect("valid");
    group.bench_function("RS256 cache hit", |b| {
        b.iter(|| complete(&runtime, cached.validate(black_box(&rs256.valid))).expect("valid"))
    });
    group.bench_function("malformed token", |b| {
        b.iter(|| {
            complete(&runtime, plain.validate(black_box("not.a.token"))).expect_err("invalid")
        })
    });
    group.finish();
}

criterion_group!(validation, benches);
criterion_main!(validation);
