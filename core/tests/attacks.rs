//! Attacks on the validator, one case each, each asserting the exact error kind.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use jwtguard_core::{Algorithm, ErrorKind, KeySet, TypeCheck, Validator};
use jwtguard_testkit::{Issuer, TestKey, b64, jwks, mint_raw};
use serde_json::{Value, json};

const ISS: &str = "https://idp.example.test";
const AUD: &str = "https://api.example.test";

struct Keys {
    rsa: TestKey,
    ec: TestKey,
    attacker: TestKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: TestKey::rsa("rsa-1"),
        ec: TestKey::ec_p256("ec-1"),
        attacker: TestKey::rsa("attacker"),
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "iat": now(), "exp": now() + 300})
}

async fn validator() -> Validator {
    let k = keys();
    let document = jwks([&k.rsa, &k.ec]).to_string();
    Validator::builder()
        .issuer(ISS)
        .audience(AUD)
        .algorithms(Algorithm::DEFAULT_ALLOWED)
        .key_set(KeySet::from_jwks(document.as_bytes(), &Algorithm::ALL).unwrap())
        .build()
        .await
        .unwrap()
}

async fn kind_of(token: &str) -> ErrorKind {
    validator().await.validate(token).await.unwrap_err().kind()
}

fn good() -> String {
    keys().rsa.token().claims(claims()).sign()
}

#[tokio::test]
async fn a_good_token_passes() {
    let token = validator().await.validate(&good()).await.unwrap();
    assert_eq!(token.subject(), Some("alice"));
    let es = keys().ec.token().claims(claims()).sign();
    assert!(validator().await.validate(&es).await.is_ok());
}

#[tokio::test]
async fn alg_none_in_any_case() {
    for none in ["none", "None", "NONE", "nOnE"] {
        let token = keys()
            .rsa
            .token()
            .claims(claims())
            .header("alg", none)
            .unsigned();
        assert_eq!(
            kind_of(&token).await,
            ErrorKind::AlgorithmNotAllowed,
            "{none}"
        );
        let with_sig = keys()
            .rsa
            .token()
            .claims(claims())
            .header("alg", none)
            .sign();
        assert_eq!(
            kind_of(&with_sig).await,
            ErrorKind::AlgorithmNotAllowed,
            "{none}"
        );
    }
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key() {
    let public = keys().rsa.public_jwk().to_string();
    let token = keys()
        .rsa
        .token()
        .claims(claims())
        .header("alg", "HS256")
        .sign_hmac(public.as_bytes());
    assert_eq!(kind_of(&token).await, ErrorKind::AlgorithmNotAllowed);

    // Even with an HMAC secret configured, the RSA key's kid never verifies HMAC.
    let k = keys();
    let document = jwks([&k.rsa]).to_string();
    let with_secret = Validator::builder()
        .issuer(ISS)
        .audience(AUD)
        .key_set(KeySet::from_jwks(document.as_bytes(), &Algorithm::ALL).unwrap())
        .hmac_secret_with_kid("hmac-1", Algorithm::HS256, [7u8; 32])
        .build()
        .await
        .unwrap();
    let err = with_secret.validate(&token).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyMismatch);
}

#[tokio::test]
async fn a_jwk_whose_alg_differs_from_the_header() {
    // rsa-1 is published with alg RS256; the token says PS256 and is signed as PS256.
    let token = keys()
        .rsa
        .token()
        .claims(claims())
        .header("alg", "PS256")
        .sign();
    assert_eq!(kind_of(&token).await, ErrorKind::KeyMismatch);
    // An EC key named in an RSA token.
    let token = keys()
        .rsa
        .token()
        .claims(claims())
        .header("kid", "ec-1")
        .sign();
    assert_eq!(kind_of(&token).await, ErrorKind::KeyMismatch);
}

#[tokio::test]
async fn unknown_crit_header() {
    let token = keys()
        .rsa
        .token()
        .claims(claims())
        .header("crit", json!(["exp"]))
        .header("exp", 1)
        .sign();
    assert_eq!(kind_of(&token).await, ErrorKind::UnsupportedHeader);
}

#[tokio::test]
async fn unencoded_payload_b64_false() {
    for header in [
        json!({"b64": false, "crit": ["b64"]}),
        json!({"b64": false}),
    ] {
        let mut builder = keys().rsa.token().claims(claims());
        for (name, value) in header.as_object().unwrap() {
            builder = builder.header(name, value.clone());
        }
        assert_eq!(
            kind_of(&builder.sign()).await,
            ErrorKind::UnsupportedHeader,
            "{header}"
        );
    }
}

#[tokio::test]
async fn jwe_and_json_serialization() {
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
        b64(&[1; 256]),
        b64(&[2; 12]),
        b64(b"ciphertext"),
        b64(&[3; 16])
    );
    assert_eq!(kind_of(&jwe).await, ErrorKind::Malformed);
    let good = good();
    let parts: Vec<&str> = good.split('.').collect();
    let json = json!({
        "payload": parts[1],
        "signatures": [{"protected": parts[0], "signature": parts[2]}],
    })
    .to_string();
    assert_eq!(kind_of(&json).await, ErrorKind::Malformed);
    let flattened =
        json!({"payload": parts[1], "protected": parts[0], "signature": parts[2]}).to_string();
    assert_eq!(kind_of(&flattened).await, ErrorKind::Malformed);
}

#[tokio::test]
async fn jku_x5u_and_jwk_headers_are_never_fetched_nor_used() {
    let evil = Issuer::start().await;
    let attacker = &keys().attacker;
    let real = Issuer::start_with(vec![TestKey::rsa("real")]).await;
    let validator = Validator::builder()
        .issuer(real.url())
        .audience(AUD)
        .build()
        .await
        .unwrap();
    let mut claims = claims();
    claims["iss"] = real.url().into();
    for (name, value) in [
        ("jku", json!(evil.jwks_uri())),
        ("x5u", json!(format!("{}/cert.pem", evil.url()))),
        ("jwk", attacker.public_jwk()),
    ] {
        // Signed by the attacker, whose key is only in the header or behind the URL.
        let token = attacker
            .token()
            .claims(claims.clone())
            .header(name, value.clone())
            .sign();
        let err = validator.validate(&token).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownKey, "{name}");
        // The same, naming the real key's kid.
        let token = attacker
            .token()
            .claims(claims.clone())
            .header(name, value)
            .header("kid", "real")
            .sign();
        let err = validator.validate(&token).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidSignature, "{name}");
    }
    assert_eq!(evil.hits("/jwks"), 0);
    assert_eq!(evil.hits("/cert.pem"), 0);
    assert_eq!(evil.hits("/.well-known/openid-configuration"), 0);
}

#[tokio::test]
async fn kid_with_path_or_sql_text() {
    for kid in [
        "../../../../etc/passwd",
        "' OR '1'='1",
        "rsa-1' --",
        "/dev/null",
        "rsa-1\u{0}",
        "",
    ] {
        let token = keys()
            .rsa
            .token()
            .claims(claims())
            .header("kid", kid)
            .sign();
        assert_eq!(kind_of(&token).await, ErrorKind::UnknownKey, "{kid:?}");
    }
    let token = keys().rsa.token().claims(claims()).header("kid", 5).sign();
    assert_eq!(kind_of(&token).await, ErrorKind::Malformed);
}

#[tokio::test]
async fn time_claims_of_the_wrong_type() {
    for name in ["exp", "nbf", "iat"] {
        for bad in [
            json!("1999999999"),
            Value::Null,
            json!(1.7e9),
            json!(99_999_999_999_999_999_999.0),
            json!(u64::MAX),
            json!(-1),
            json!(i64::MIN),
        ] {
            let mut claims = claims();
            claims[name] = bad.clone();
            let token = keys().rsa.token().claims(claims).sign();
            assert_eq!(
                kind_of(&token).await,
                ErrorKind::InvalidClaim,
                "{name}: {bad}"
            );
        }
    }
}

#[tokio::test]
async fn audience_as_empty_array_or_number() {
    for (bad, kind) in [
        (json!([]), ErrorKind::InvalidClaim),
        (json!(42), ErrorKind::InvalidClaim),
        (json!([42]), ErrorKind::InvalidClaim),
        (json!({"aud": AUD}), ErrorKind::InvalidClaim),
        (
            json!("https://other.example.test"),
            ErrorKind::InvalidAudience,
        ),
    ] {
        let mut claims = claims();
        claims["aud"] = bad.clone();
        let token = keys().rsa.token().claims(claims).sign();
        assert_eq!(kind_of(&token).await, kind, "{bad}");
    }
}

#[tokio::test]
async fn duplicate_json_members() {
    let rsa = &keys().rsa;
    let payload = claims().to_string();
    let header = r#"{"alg":"RS256","kid":"rsa-1","alg":"RS256"}"#;
    assert_eq!(
        kind_of(&mint_raw(rsa, header, &payload)).await,
        ErrorKind::Malformed
    );
    let header = r#"{"alg":"RS256","kid":"rsa-1"}"#;
    let doubled = payload.replacen('{', &format!("{{\"iss\":\"{ISS}\","), 1);
    assert_eq!(
        kind_of(&mint_raw(rsa, header, &doubled)).await,
        ErrorKind::Malformed
    );
    let nested = payload.replacen('{', r#"{"realm_access":{"roles":[],"roles":["admin"]},"#, 1);
    assert_eq!(
        kind_of(&mint_raw(rsa, header, &nested)).await,
        ErrorKind::Malformed
    );
    assert!(
        validator()
            .await
            .validate(&mint_raw(rsa, header, &payload))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn non_canonical_base64url() {
    let token = good();
    let parts: Vec<&str> = token.split('.').collect();
    let join = |h: &str, p: &str, s: &str| format!("{h}.{p}.{s}");
    // Padding on any segment.
    for variant in [
        join(&format!("{}=", parts[0]), parts[1], parts[2]),
        join(parts[0], &format!("{}==", parts[1]), parts[2]),
        join(parts[0], parts[1], &format!("{}=", parts[2])),
    ] {
        assert_eq!(kind_of(&variant).await, ErrorKind::Malformed);
    }
    // The standard alphabet instead of the URL-safe one.
    let signature = keys()
        .rsa
        .token()
        .claims(claims())
        .sign()
        .rsplit('.')
        .next()
        .unwrap()
        .to_owned();
    let standard: String = signature.replace('-', "+").replace('_', "/");
    if standard != signature {
        assert_eq!(
            kind_of(&join(parts[0], parts[1], &standard)).await,
            ErrorKind::Malformed
        );
    }
    let plus = join(parts[0], parts[1], &format!("+{}", &parts[2][1..]));
    assert_eq!(kind_of(&plus).await, ErrorKind::Malformed);
    // Non-zero trailing bits: a 256-byte signature leaves 4 unused bits in its last character.
    let last = parts[2].chars().last().unwrap();
    let alphabet = "AQgw";
    let flipped = if alphabet.contains(last) { 'B' } else { 'A' };
    let trailing = join(
        parts[0],
        parts[1],
        &format!("{}{flipped}", &parts[2][..parts[2].len() - 1]),
    );
    assert_eq!(kind_of(&trailing).await, ErrorKind::Malformed);
}

#[tokio::test]
async fn tokens_over_the_size_cap() {
    let mut claims = claims();
    claims["padding"] = "x".repeat(9000).into();
    let token = keys().rsa.token().claims(claims).sign();
    assert_eq!(kind_of(&token).await, ErrorKind::TokenTooLarge);
    let huge = "a".repeat(1 << 20);
    assert_eq!(kind_of(&huge).await, ErrorKind::TokenTooLarge);
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` from a raw `r || s` ECDSA signature.
fn raw_to_der(raw: &[u8]) -> Vec<u8> {
    let integer = |bytes: &[u8]| {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        let mut value = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            Vec::new()
        };
        value.extend(trimmed);
        let mut out = vec![0x02, value.len() as u8];
        out.extend(value);
        out
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [integer(r), integer(s)].concat();
    let mut der = vec![0x30, body.len() as u8];
    der.extend(body);
    der
}

#[tokio::test]
async fn ecdsa_signatures_in_der_or_all_zero() {
    let ec = &keys().ec;
    let builder = ec.token().claims(claims());
    let raw = ec.sign(builder.signing_input().as_bytes());
    assert_eq!(raw.len(), 64);
    assert!(
        validator()
            .await
            .validate(&builder.with_signature(&raw))
            .await
            .is_ok()
    );
    let der = builder.with_signature(&raw_to_der(&raw));
    assert_eq!(kind_of(&der).await, ErrorKind::InvalidSignature);
    let zeros = builder.with_signature(&[0; 64]);
    assert_eq!(kind_of(&zeros).await, ErrorKind::InvalidSignature);
    let empty = builder.with_signature(&[]);
    assert_eq!(kind_of(&empty).await, ErrorKind::InvalidSignature);
}

#[tokio::test]
async fn a_token_from_another_issuer() {
    let mut claims = claims();
    claims["iss"] = "https://evil.example.test".into();
    let token = keys().rsa.token().claims(claims).sign();
    assert_eq!(kind_of(&token).await, ErrorKind::InvalidIssuer);
}

#[tokio::test]
async fn a_forged_signature() {
    let token = good();
    let (input, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{input}.{}", b64(&keys().attacker.sign(input.as_bytes())));
    assert_eq!(kind_of(&forged).await, ErrorKind::InvalidSignature);
    // A payload swapped under a valid signature.
    let mut claims = claims();
    claims["sub"] = "admin".into();
    let parts: Vec<&str> = token.split('.').collect();
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(kind_of(&swapped).await, ErrorKind::InvalidSignature);
}

/// Once a header is known from a valid token, tokens with that very header are still checked
/// in full, and a header that differs by one byte is parsed again.
#[tokio::test]
async fn a_known_header_does_not_vouch_for_the_token() {
    let validator = validator().await;
    let token = good();
    validator.validate(&token).await.unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = claims();
    claims["sub"] = "admin".into();
    let payload = b64(claims.to_string().as_bytes());
    let swapped = format!("{}.{payload}.{}", parts[0], parts[2]);
    let forged = format!(
        "{}.{payload}.{}",
        parts[0],
        b64(&keys()
            .attacker
            .sign(format!("{}.{payload}", parts[0]).as_bytes()))
    );
    let header =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[0]);
    let header: Value = serde_json::from_slice(&header.unwrap()).unwrap();
    let mut none = header.clone();
    none["alg"] = "none".into();
    let none = format!("{}.{}.", b64(none.to_string().as_bytes()), parts[1]);
    let mut other_kid = header;
    other_kid["kid"] = "ec-1".into();
    let other_kid = format!(
        "{}.{}.{}",
        b64(other_kid.to_string().as_bytes()),
        parts[1],
        parts[2]
    );
    for (attack, expected) in [
        (&swapped, ErrorKind::InvalidSignature),
        (&forged, ErrorKind::InvalidSignature),
        (&none, ErrorKind::AlgorithmNotAllowed),
        (&other_kid, ErrorKind::KeyMismatch),
    ] {
        let err = validator.validate(attack).await.unwrap_err();
        assert_eq!(err.kind(), expected, "{attack}");
    }
    let verified = validator.validate(&token).await.unwrap();
    assert_eq!(verified.header().expect("a JWT").kid, Some("rsa-1"));
    assert_eq!(verified.subject(), Some("alice"));
}

#[tokio::test]
async fn typ_can_be_required_and_is_checked_by_default() {
    let jose = keys()
        .rsa
        .token()
        .claims(claims())
        .header("typ", "JOSE")
        .sign();
    assert_eq!(kind_of(&jose).await, ErrorKind::InvalidType);
    // By default (as Keycloak, Entra ID and Okta issue them) typ may be absent or JWT.
    let lenient = validator().await;
    let absent = keys()
        .rsa
        .token()
        .claims(claims())
        .without_header("typ")
        .sign();
    assert!(lenient.validate(&absent).await.is_ok());
    let jwt = keys()
        .rsa
        .token()
        .claims(claims())
        .header("typ", "JWT")
        .sign();
    assert!(lenient.validate(&jwt).await.is_ok());
    let k = keys();
    let document = jwks([&k.rsa]).to_string();
    let strict = Validator::builder()
        .issuer(ISS)
        .audience(AUD)
        .type_check(TypeCheck::AccessToken)
        .key_set(KeySet::from_jwks(document.as_bytes(), &Algorithm::ALL).unwrap())
        .build()
        .await
        .unwrap();
    let jwt = keys()
        .rsa
        .token()
        .claims(claims())
        .header("typ", "JWT")
        .sign();
    assert_eq!(
        strict.validate(&jwt).await.unwrap_err().kind(),
        ErrorKind::InvalidType
    );
    assert!(strict.validate(&good()).await.is_ok());
}

#[tokio::test]
async fn garbage_never_panics() {
    let validator = validator().await;
    for junk in [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "e30.e30.",
        "e30.e30.e30",
        "\u{0}.\u{0}.\u{0}",
        "eyJhbGciOiJSUzI1NiJ9",
        "eyJhbGciOiJSUzI1NiJ9..",
        "💥.💥.💥",
    ] {
        let err = validator.validate(junk).await.unwrap_err();
        assert!(err.is_invalid_token(), "{junk:?}: {err}");
    }
    // No message ever carries the token, or any part of it.
    let token = keys()
        .rsa
        .token()
        .claims(claims())
        .header("kid", "kid-MARKER")
        .sign();
    for bad in [
        format!("{token}x"),
        token.replacen('.', "..", 1),
        format!("{token}.x.y"),
    ] {
        let message = validator.validate(&bad).await.unwrap_err().to_string();
        for part in bad.split('.').filter(|p| p.len() >= 4) {
            assert!(!message.contains(part), "{message}");
        }
        assert!(!message.contains("MARKER"), "{message}");
    }
}

#[tokio::test]
async fn every_supported_algorithm_verifies_end_to_end() {
    let mut keys = vec![
        TestKey::ec_p256("es256"),
        TestKey::ec_p384("es384"),
        TestKey::ed25519("eddsa"),
    ];
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        keys.push(TestKey::rsa_for(alg.to_lowercase(), alg));
    }
    let document = jwks(keys.iter()).to_string();
    let secret = [42u8; 64];
    let validator = Validator::builder()
        .issuer(ISS)
        .audience(AUD)
        .key_set(KeySet::from_jwks(document.as_bytes(), &Algorithm::ALL).unwrap())
        .hmac_secret_with_kid("hs", Algorithm::HS512, secret)
        .build()
        .await
        .unwrap();
    for key in &keys {
        let token = key.token().claims(claims()).sign();
        let verified = validator
            .validate(&token)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.alg()));
        assert_eq!(verified.header().expect("a JWT").alg.as_str(), key.alg());
    }
    let hs = keys[0]
        .token()
        .claims(claims())
        .header("alg", "HS512")
        .header("kid", "hs")
        .sign_hmac(&secret);
    assert!(validator.validate(&hs).await.is_ok());
    let wrong_secret = keys[0]
        .token()
        .claims(claims())
        .header("alg", "HS512")
        .header("kid", "hs")
        .sign_hmac(&[1u8; 64]);
    assert_eq!(
        validator.validate(&wrong_secret).await.unwrap_err().kind(),
        ErrorKind::InvalidSignature
    );
    // A secret configured without a kid serves tokens with any kid.
    let any_kid = Validator::builder()
        .issuer(ISS)
        .audience(AUD)
        .key_set(KeySet::from_jwks(document.as_bytes(), &Algorithm::ALL).unwrap())
        .hmac_secret(Algorithm::HS256, secret)
        .build()
        .await
        .unwrap();
    for kid in [Some("whatever"), None] {
        let mut builder = keys[0].token().claims(claims()).header("alg", "HS256");
        builder = match kid {
            Some(kid) => builder.header("kid", kid),
            None => builder.without_header("kid"),
        };
        assert!(
            any_kid.validate(&builder.sign_hmac(&secret)).await.is_ok(),
            "{kid:?}"
        );
    }
    // HS256 was not configured: only HS512 is allowed.
    let hs256 = keys[0]
        .token()
        .claims(claims())
        .header("alg", "HS256")
        .header("kid", "hs")
        .sign_hmac(&secret);
    assert_eq!(
        validator.validate(&hs256).await.unwrap_err().kind(),
        ErrorKind::AlgorithmNotAllowed
    );
}

#[tokio::test]
async fn a_key_without_alg_serves_every_allowed_algorithm_of_its_type() {
    let rsa = &keys().rsa;
    let document = serde_json::json!({"keys": [rsa.public_jwk_without_alg()]}).to_string();
    let validator = Validator::builder()
        .issuer(ISS)
        .audience(AUD)
        .algorithms([Algorithm::RS256, Algorithm::PS256])
        .key_set(KeySet::from_jwks(document.as_bytes(), &Algorithm::DEFAULT_ALLOWED).unwrap())
        .build()
        .await
        .unwrap();
    for alg in ["RS256", "PS256"] {
        let token = rsa.token().claims(claims()).header("alg", alg).sign();
        assert!(validator.validate(&token).await.is_ok(), "{alg}");
    }
    let rs512 = rsa.token().claims(claims()).header("alg", "RS512").sign();
    assert_eq!(
        validator.validate(&rs512).await.unwrap_err().kind(),
        ErrorKind::AlgorithmNotAllowed
    );
}
