//! Every Wycheproof JOSE vector (JSON Web Signature and JSON Web Key) against the JWS layer.
//! The suite fails unless every verdict is right.
//!
//! How a test group's keys reach jwtguard, following the product's own rules:
//! - a group with `public` keys: they are parsed as a JWKS, exactly as a fetched key set is;
//! - a group with only `private` keys (symmetric material): the HMAC keys are configured as
//!   secrets one by one, which is the only way HMAC keys enter jwtguard. A set that mixes
//!   symmetric and asymmetric keys can't be configured at all (HMAC secrets are never taken
//!   from a key set, and private keys are never verification keys), so its tokens have no key.
//!   The secrets are decoded leniently: they stand for the user's configuration, and a
//!   non-canonical encoding there must not hide what the vector is about (duplicate `kid`s).
//!
//! Where jwtguard deliberately answers otherwise than a vector, the vector is listed in
//! [`DIVERGENCES`] with jwtguard's exact answer and the reason; the test asserts that answer,
//! so a change in behaviour fails the suite as surely as a wrong verdict.

use std::fs;
use std::path::Path;

use jwtguard_core::jose::CompactJws;
use jwtguard_core::{Algorithm, ErrorKind, KeySet};
use serde_json::{Value, json};

fn load(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/wycheproof")
        .join(name);
    serde_json::from_slice(&fs::read(path).expect("test vectors")).expect("vector JSON")
}

fn as_keys(set_or_key: &Value) -> Vec<Value> {
    match set_or_key.get("keys") {
        Some(Value::Array(keys)) => keys.clone(),
        _ => vec![set_or_key.clone()],
    }
}

/// The group's keys as jwtguard would take them, and why any were not taken.
fn key_set(group: &Value) -> (KeySet, Vec<String>) {
    if let Some(public) = group.get("public") {
        let document = json!({ "keys": as_keys(public) }).to_string();
        let set = KeySet::from_jwks(document.as_bytes(), &Algorithm::ALL).expect("a JWKS document");
        let reasons = set.skipped().iter().map(|k| k.reason.to_owned()).collect();
        return (set, reasons);
    }
    let private = as_keys(&group["private"]);
    let mut set = KeySet::new();
    if private.iter().any(|k| k["kty"] != "oct") {
        let why = "a set mixing symmetric and asymmetric keys can't be configured".to_owned();
        return (set, vec![why]);
    }
    let mut reasons = Vec::new();
    for key in private {
        let Some(alg) = key["alg"]
            .as_str()
            .and_then(|a| a.parse::<Algorithm>().ok())
            .filter(|a| a.is_hmac())
        else {
            reasons.push("not an HMAC algorithm".to_owned());
            continue;
        };
        let Some(secret) = key["k"].as_str().and_then(decode) else {
            reasons.push("not base64url".to_owned());
            continue;
        };
        // Short and empty secrets are refused here, so their tokens find no key.
        if let Err(err) = set.insert_secret(key["kid"].as_str(), alg, &secret) {
            reasons.push(err.to_string());
        }
    }
    (set, reasons)
}

/// Why each invalid JSON Web Key vector must be refused: the error kind, and for the keys that
/// are not taken, why not.
const JWK_REASONS: &[(u64, ErrorKind, &str)] = &[
    (1, ErrorKind::UnknownKey, "mixing symmetric and asymmetric"),
    (3, ErrorKind::InvalidSignature, ""),
    (4, ErrorKind::AmbiguousKey, ""),
    (6, ErrorKind::UnknownKey, "use is not \"sig\""),
    (7, ErrorKind::UnknownKey, "ROCA"),
    (8, ErrorKind::UnknownKey, "shorter than 2048 bits"),
    (9, ErrorKind::UnknownKey, "exponent"),
    (10, ErrorKind::UnknownKey, "at least 32 bytes"),
    (11, ErrorKind::UnknownKey, "at least 48 bytes"),
    (12, ErrorKind::UnknownKey, "at least 64 bytes"),
    (16, ErrorKind::UnknownKey, "at least 32 bytes"),
    (17, ErrorKind::UnknownKey, "at least 48 bytes"),
    (18, ErrorKind::UnknownKey, "at least 64 bytes"),
    (19, ErrorKind::UnknownKey, "unknown alg"),
    (20, ErrorKind::UnknownKey, "unknown alg"),
    (21, ErrorKind::UnknownKey, "use is not \"sig\""),
    (22, ErrorKind::UnknownKey, "EC point rejected"),
    (
        23,
        ErrorKind::UnknownKey,
        "alg contradicts the key type or curve",
    ),
    (24, ErrorKind::UnknownKey, "unsupported key type"),
    (25, ErrorKind::UnknownKey, "not an HMAC algorithm"),
    (26, ErrorKind::UnknownKey, "not an HMAC algorithm"),
];

fn decode(b64: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let lenient = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    lenient.decode(b64).ok()
}

/// jwtguard's answer where it deliberately differs from a vector's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Valid,
    Refused(ErrorKind),
}

/// (file, tcId, jwtguard's answer, why).
const DIVERGENCES: &[(&str, u64, Answer, &str)] = &[
    (
        "json_web_signature_test.json",
        346,
        Answer::Refused(ErrorKind::KeyMismatch),
        "the key declares alg PS256 and the token says PS384: a JWK's alg binds the key to that \
         one algorithm (RFC 7517 §4.4, RFC 8725 §3.1), and the token can't widen it",
    ),
    (
        "json_web_signature_test.json",
        350,
        Answer::Refused(ErrorKind::KeyMismatch),
        "as tcId 346, with key_ops",
    ),
    (
        "json_web_signature_test.json",
        347,
        Answer::Refused(ErrorKind::UnknownKey),
        "the key declares alg \"ES521\", which is no JWA algorithm (P-521 is ES512): a key with \
         an unknown alg is skipped, so the token has no key",
    ),
    (
        "json_web_signature_test.json",
        351,
        Answer::Refused(ErrorKind::UnknownKey),
        "as tcId 347, with key_ops",
    ),
    (
        "json_web_signature_test.json",
        367,
        Answer::Valid,
        "byte for byte the same JWS as tcId 357, which the same group marks valid with the same \
         key: no answer can satisfy both, and the token is correct",
    ),
    (
        "json_web_signature_test.json",
        370,
        Answer::Valid,
        "as tcId 367: identical to the valid tcId 357",
    ),
    (
        "json_web_signature_test.json",
        372,
        Answer::Refused(ErrorKind::Malformed),
        "a '?' inside the header segment is not base64url (RFC 7515 §2, §7.1); decoders that \
         skip it accept a string that is not the signed one",
    ),
    (
        "json_web_signature_test.json",
        373,
        Answer::Refused(ErrorKind::Malformed),
        "as tcId 372, in the payload segment",
    ),
];

/// Runs every vector of a file; returns (passed, total) and the failures.
fn run(file: &str) -> (usize, usize, Vec<String>) {
    let doc = load(file);
    let mut passed = 0;
    let mut total = 0;
    let mut failures = Vec::new();
    for group in doc["testGroups"].as_array().expect("test groups") {
        let (keys, reasons) = key_set(group);
        for test in group["tests"].as_array().expect("tests") {
            total += 1;
            let jws = test["jws"].as_str().unwrap_or_default();
            let outcome = CompactJws::parse(jws, 1 << 20, &Algorithm::ALL)
                .and_then(|parsed| parsed.verify(&keys));
            let answer = match &outcome {
                Ok(_) => Answer::Valid,
                Err(e) => Answer::Refused(e.kind()),
            };
            let divergence = DIVERGENCES
                .iter()
                .find(|(f, id, _, _)| *f == file && test["tcId"] == *id);
            let reason = JWK_REASONS
                .iter()
                .find(|(id, _, _)| file == "json_web_key_test.json" && test["tcId"] == *id);
            let right = match (divergence, reason) {
                (Some((_, _, ours, _)), _) => answer == *ours,
                (None, Some((_, kind, why))) => {
                    test["result"] == "invalid"
                        && answer == Answer::Refused(*kind)
                        && (why.is_empty() || reasons.iter().any(|r| r.contains(why)))
                }
                (None, None) => outcome.is_ok() == (test["result"] == "valid"),
            };
            if right {
                passed += 1;
            } else {
                failures.push(format!(
                    "{file} tcId {} ({} / {}): expected {} {:?}, got {:?}",
                    test["tcId"],
                    group["comment"],
                    test["comment"],
                    test["result"],
                    divergence.map(|d| d.2),
                    outcome.map(|_| "valid").map_err(|e| e.to_string()),
                ));
                failures.push(format!("    keys not taken: {reasons:?}"));
            }
        }
    }
    (passed, total, failures)
}

#[test]
fn json_web_signature_vectors() {
    let (passed, total, failures) = run("json_web_signature_test.json");
    assert!(
        failures.is_empty(),
        "{passed}/{total} right:\n{}",
        failures.join("\n")
    );
    assert_eq!(total, 401, "every vector of the file ran");
}

#[test]
fn every_divergence_names_a_real_vector() {
    let doc = load("json_web_signature_test.json");
    for (_, id, _, why) in DIVERGENCES {
        assert!(!why.is_empty());
        let found = doc["testGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["tests"].as_array().into_iter().flatten())
            .any(|t| t["tcId"] == *id);
        assert!(found, "tcId {id}");
    }
}

#[test]
fn json_web_key_vectors() {
    let (passed, total, failures) = run("json_web_key_test.json");
    assert!(
        failures.is_empty(),
        "{passed}/{total} right:\n{}",
        failures.join("\n")
    );
    assert_eq!(total, 26, "every vector of the file ran");
}
