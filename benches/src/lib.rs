//! What the benchmarks share: one key and one token per algorithm, a validator that knows the
//! keys (inline, so nothing touches the network), and the pieces of the baselines.

use jwtguard_core::{Algorithm, KeySet, TokenCacheConfig, Validator};
use jwtguard_testkit::{TestKey, b64, jwks};
use serde_json::json;

/// The issuer of the benchmark tokens.
pub const ISSUER: &str = "https://idp.bench.test";
/// Their audience.
pub const AUDIENCE: &str = "https://api.bench.test";
/// The HMAC secret of the HS256 case.
pub const SECRET: [u8; 32] = [42; 32];

/// One algorithm's key and tokens.
pub struct Case {
    /// The algorithm's name.
    pub alg: &'static str,
    /// The key (absent for HS256).
    pub key: Option<TestKey>,
    /// A valid token.
    pub valid: String,
    /// The same token with a wrong signature.
    pub forged: String,
}

/// The claims of every benchmarked token: an access token as an IdP issues one.
pub fn claims() -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "248289761001", "iat": now, "exp": now + 3600,
        "jti": "d3d1c5a2-2f34-4f4e-9a59-6cfb2b9f4e10", "client_id": "orders-web",
        "scope": "openid profile orders:read orders:write", "roles": ["user", "clerk"],
    })
}

/// The five benchmarked algorithms.
pub fn cases() -> Vec<Case> {
    let keys = [
        TestKey::rsa_for("rs256", "RS256"),
        TestKey::rsa_for("ps256", "PS256"),
        TestKey::ec_p256("es256"),
        TestKey::ed25519("eddsa"),
    ];
    let mut cases: Vec<Case> = keys
        .into_iter()
        .map(|key| {
            let builder = key.token().claims(claims());
            let valid = builder.sign();
            let (input, _) = valid.rsplit_once('.').unwrap_or_default();
            let forged = format!("{input}.{}", b64(&key.sign(b"something else")));
            Case {
                alg: key.alg(),
                key: Some(key),
                valid,
                forged,
            }
        })
        .collect();
    let any_key = TestKey::ed25519("unused");
    let hs = any_key
        .token()
        .claims(claims())
        .header("alg", "HS256")
        .header("kid", "hs");
    cases.push(Case {
        alg: "HS256",
        key: None,
        valid: hs.sign_hmac(&SECRET),
        forged: hs.sign_hmac(&[7; 32]),
    });
    cases
}

/// A validator that knows every case's key, optionally with the token cache.
pub async fn validator(cases: &[Case], cache: bool) -> Validator {
    let document = jwks(cases.iter().filter_map(|c| c.key.as_ref())).to_string();
    let keys = KeySet::from_jwks(document.as_bytes(), &Algorithm::DEFAULT_ALLOWED).expect("keys");
    let mut builder = Validator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key_set(keys)
        .hmac_secret_with_kid("hs", Algorithm::HS256, SECRET);
    if cache {
        builder = builder.token_cache(TokenCacheConfig::default());
    }
    builder.build().await.expect("validator")
}

/// What every bench starts from: a current-thread runtime, the cases, and a validator for
/// them without and with the token cache.
pub struct Setup {
    /// The runtime the validators were built on.
    pub runtime: tokio::runtime::Runtime,
    /// One case per algorithm.
    pub cases: Vec<Case>,
    /// A validator without the token cache.
    pub plain: Validator,
    /// A validator with the token cache.
    pub cached: Validator,
}

/// Builds the [`Setup`].
pub fn setup() -> Setup {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cases = cases();
    let plain = runtime.block_on(validator(&cases, false));
    let cached = runtime.block_on(validator(&cases, true));
    Setup {
        runtime,
        cases,
        plain,
        cached,
    }
}

/// Runs `future` the way a server's task would: polled in place, inside `runtime`'s context.
/// A validation whose key is known completes on its first poll, so this measures the
/// validation alone, without the cost of [`tokio::runtime::Runtime::block_on`] (which
/// finishes the future if it does wait).
pub fn complete<F: std::future::Future>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let _context = runtime.enter();
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => runtime.block_on(future),
    }
}

/// The signing input and the signature bytes of a compact JWS.
pub fn split(token: &str) -> (&str, Vec<u8>) {
    use base64::Engine as _;
    let (input, signature) = token.rsplit_once('.').unwrap_or_default();
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap_or_default();
    (input, signature)
}

/// A bare signature check: message and signature in, verdict out.
pub type Verify = Box<dyn Fn(&[u8], &[u8]) -> bool>;

/// The bare signature check of a case, with the key parsed once.
pub fn floor_verifier(case: &Case) -> Verify {
    use aws_lc_rs::signature::{self, RsaPublicKeyComponents};
    use base64::Engine as _;
    let Some(key) = &case.key else {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &SECRET);
        return Box::new(move |m, s| aws_lc_rs::hmac::verify(&key, m, s).is_ok());
    };
    let jwk = key.public_jwk();
    let field = |name: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk[name].as_str().unwrap_or_default())
            .unwrap_or_default()
    };
    let parsed = match case.alg {
        "RS256" | "PS256" => {
            let params = if case.alg == "RS256" {
                &signature::RSA_PKCS1_2048_8192_SHA256
            } else {
                &signature::RSA_PSS_2048_8192_SHA256
            };
            let (n, e) = (field("n"), field("e"));
            RsaPublicKeyComponents {
                n: &n[..],
                e: &e[..],
            }
            .to_parsed_public_key(params)
            .expect("key")
        }
        "ES256" => {
            let point = [&[4u8][..], &field("x"), &field("y")].concat();
            signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .expect("key")
        }
        _ => signature::ParsedPublicKey::new(&signature::ED25519, field("x")).expect("key"),
    };
    Box::new(move |m, s| parsed.verify_sig(m, s).is_ok())
}

/// The limit's key: the first RSA key of a JWKS, parsed once for RS256.
pub fn limit_key(
    jwks: &serde_json::Value,
) -> Result<aws_lc_rs::signature::ParsedPublicKey, String> {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
    use base64::Engine as _;
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|key| key["kty"] == "RSA"))
        .ok_or("the JWKS has no RSA key")?;
    let member = |name: &str| {
        key[name]
            .as_str()
            .and_then(|text| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text)
                    .ok()
            })
            .ok_or(format!("the RSA key has no usable {name}"))
    };
    let (n, e) = (member("n")?, member("e")?);
    RsaPublicKeyComponents {
        n: &n[..],
        e: &e[..],
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .map_err(|_| "the RSA key can't be parsed".to_owned())
}

/// The limit's check of a request: the RS256 signature of the token in `Authorization: Bearer`
/// (the header's value), and nothing else: no claims, no `kid`, no header parsing.
pub fn limit_check(
    key: &aws_lc_rs::signature::ParsedPublicKey,
    authorization: Option<&[u8]>,
) -> bool {
    let Some(token) = authorization
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (input, signature) = split(token);
    key.verify_sig(input.as_bytes(), &signature).is_ok()
}
