//! JWKS parsing: each JWK is judged on its own, turned into parsed verifying keys, or skipped
//! with a reason.

use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use serde_json::{Map, Value};

use super::rsa_checks::{MIN_RSA_BITS, bit_length, exponent_is_sane, has_roca_fingerprint};
use super::set::{KeySet, SkippedKey, VerifyingKey};
use crate::error::{Error, ErrorKind};
use crate::jose::algorithm::{Algorithm, Family};
use crate::jose::{Verifier, base64url, json};

impl KeySet {
    /// Parses a JWKS document (`{"keys":[...]}`), keeping the signing keys usable with one of
    /// `allowed`.
    ///
    /// Keys marked `use: enc`, keys whose `key_ops` lack `verify`, private and symmetric keys,
    /// RSA keys under 2048 bits or with a ROCA fingerprint, keys whose `alg` contradicts their
    /// type or curve, and keys of unsupported types are skipped: each skip is logged and listed
    /// by [`KeySet::skipped`], and one bad key never fails the whole set. Keys that share a
    /// `kid` are all kept; a token naming such a `kid` is refused as
    /// [`ErrorKind::AmbiguousKey`] when more than one of them could verify it.
    ///
    /// Fails with [`ErrorKind::Config`] when the document is not a JSON object with a `keys`
    /// array: keys given this way are configuration. (A fetched key set that is unusable is a
    /// [`ErrorKind::Fetch`] error instead.)
    ///
    /// ```
    /// use jwtguard_core::{Algorithm, KeySet};
    ///
    /// let jwks = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"s"}]}"#;
    /// let set = KeySet::from_jwks(jwks, &Algorithm::DEFAULT_ALLOWED).unwrap();
    /// assert!(set.is_empty());
    /// assert_eq!(set.skipped().len(), 1); // symmetric keys never come from a JWKS
    /// ```
    pub fn from_jwks(document: &[u8], allowed: &[Algorithm]) -> Result<Self, Error> {
        parse_jwks(document, allowed, ErrorKind::Config)
    }

    /// [`from_jwks`](Self::from_jwks) for a document fetched from the IdP: an unusable one is
    /// a [`ErrorKind::Fetch`] error.
    pub(crate) fn from_fetched_jwks(document: &[u8], allowed: &[Algorithm]) -> Result<Self, Error> {
        parse_jwks(document, allowed, ErrorKind::Fetch)
    }
}

/// Members that only private or symmetric keys have.
const SECRET_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Parses a JWKS document; a document that is not a key set at all is an error of `kind`.
pub(super) fn parse_jwks(
    document: &[u8],
    allowed: &[Algorithm],
    kind: ErrorKind,
) -> Result<KeySet, Error> {
    let mut doc = json::parse_object(document)
        .map_err(|e| Error::new(kind, format!("the key set is not a JSON object: {e}")))?;
    let Some(Value::Array(entries)) = doc.remove("keys") else {
        return Err(Error::new(kind, "the key set has no \"keys\" array"));
    };
    let mut set = KeySet::default();
    for entry in entries {
        let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
        match parse_key(entry, allowed) {
            Ok(verifiers) => {
                if kid.as_deref().is_some_and(|k| set.contains_kid(k)) {
                    tracing::warn!(kid = ?kid, "JWKS holds several keys with the same kid");
                }
                set.keys.push(VerifyingKey {
                    kid,
                    any_kid: false,
                    verifiers,
                });
            }
            Err(reason) => {
                tracing::warn!(kid = ?kid, reason, "skipping JWK");
                set.skipped.push(SkippedKey { kid, reason });
            }
        }
    }
    Ok(set)
}

/// The verifying key of a DPoP proof's `jwk` (RFC 9449 §4.2), for `alg` only: a public key
/// that passes every check a key set's keys pass. Any private or symmetric member refuses it.
pub(crate) fn proof_key(jwk: Value, alg: Algorithm) -> Result<Verifier, &'static str> {
    parse_key(jwk, &[alg])?
        .into_iter()
        .find_map(|(usable, verifier)| (usable == alg).then_some(verifier))
        .ok_or("the key does not fit the proof's alg")
}

fn parse_key(
    entry: Value,
    allowed: &[Algorithm],
) -> Result<Vec<(Algorithm, Verifier)>, &'static str> {
    let Value::Object(members) = entry else {
        return Err("not a JSON object");
    };
    check_purpose(&members)?;
    let declared = match members.get("alg") {
        None => None,
        Some(Value::String(name)) => Some(
            name.parse::<Algorithm>()
                .map_err(|_| "unsupported or unknown alg")?,
        ),
        Some(_) => return Err("alg is not a string"),
    };
    if declared.is_some_and(Algorithm::is_hmac) {
        return Err("HMAC keys never come from a key set");
    }
    let jwk: Jwk = serde_json::from_value(Value::Object(members))
        .map_err(|_| "unsupported key type or malformed members")?;
    let candidates =
        |family: Family, fixed: Option<Algorithm>| -> Result<Vec<Algorithm>, &'static str> {
            if let Some(alg) = declared
                && (alg.family() != family || fixed.is_some_and(|f| f != alg))
            {
                return Err("alg contradicts the key type or curve");
            }
            let algs: Vec<Algorithm> = allowed
                .iter()
                .copied()
                .filter(|a| a.family() == family)
                .filter(|a| fixed.is_none_or(|f| f == *a))
                .filter(|a| declared.is_none_or(|d| d == *a))
                .collect();
            if algs.is_empty() {
                Err("no allowed algorithm for this key")
            } else {
                Ok(algs)
            }
        };
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let algs = candidates(Family::Rsa, None)?;
            let n = decode_unsigned(&rsa.n).ok_or("n is not canonical base64url")?;
            let e = decode_unsigned(&rsa.e).ok_or("e is not canonical base64url")?;
            if bit_length(&n) < MIN_RSA_BITS {
                return Err("RSA key shorter than 2048 bits");
            }
            if !exponent_is_sane(&e) {
                return Err("RSA public exponent is not odd and greater than one");
            }
            if has_roca_fingerprint(&n) {
                return Err("RSA key has the ROCA fingerprint (CVE-2017-15361)");
            }
            let components = RsaPublicKeyComponents {
                n: &n[..],
                e: &e[..],
            };
            algs.into_iter()
                .map(|alg| {
                    let params = alg.rsa_parameters().ok_or("not an RSA algorithm")?;
                    components
                        .to_parsed_public_key(params)
                        .map(|key| (alg, Verifier::public(key)))
                        .map_err(|_| "RSA key rejected by the crypto backend")
                })
                .collect()
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let (fixed, len) = match ec.curve {
                EllipticCurve::P256 => (Algorithm::ES256, 32),
                EllipticCurve::P384 => (Algorithm::ES384, 48),
                EllipticCurve::P521 => (Algorithm::ES512, 66),
                _ => return Err("unsupported EC curve"),
            };
            let algs = candidates(Family::Ec, Some(fixed))?;
            let x = base64url::decode(&ec.x).map_err(|_| "x is not canonical base64url")?;
            let y = base64url::decode(&ec.y).map_err(|_| "y is not canonical base64url")?;
            if x.len() != len || y.len() != len {
                return Err("EC coordinates of the wrong length");
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            public_verifiers(algs, &point, "EC point rejected by the crypto backend")
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            if okp.curve != EllipticCurve::Ed25519 {
                return Err("unsupported OKP curve");
            }
            let algs = candidates(Family::Okp, Some(Algorithm::EdDSA))?;
            let x = base64url::decode(&okp.x).map_err(|_| "x is not canonical base64url")?;
            if x.len() != 32 {
                return Err("Ed25519 key of the wrong length");
            }
            public_verifiers(algs, &x, "Ed25519 key rejected by the crypto backend")
        }
        AlgorithmParameters::OctetKey(_) => Err("symmetric keys never come from a key set"),
        _ => Err("unsupported key type"),
    }
}

/// `use` must be `sig` when present; `key_ops` must contain `verify` when present; no private
/// or symmetric key material.
fn check_purpose(members: &Map<String, Value>) -> Result<(), &'static str> {
    if SECRET_MEMBERS.iter().any(|m| members.contains_key(*m)) {
        return Err("private or symmetric key material");
    }
    match members.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err("use is not \"sig\""),
    }
    match members.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op == "verify") => {}
        Some(_) => return Err("key_ops does not allow verify"),
    }
    Ok(())
}

fn public_verifiers(
    algs: Vec<Algorithm>,
    bytes: &[u8],
    rejected: &'static str,
) -> Result<Vec<(Algorithm, Verifier)>, &'static str> {
    algs.into_iter()
        .map(|alg| {
            let verification = alg.verification().ok_or("not an asymmetric algorithm")?;
            ParsedPublicKey::new(verification, bytes)
                .map(|key| (alg, Verifier::public(key)))
                .map_err(|_| rejected)
        })
        .collect()
}

/// An RSA integer: canonical base64url, leading zero bytes tolerated and stripped.
fn decode_unsigned(b64: &str) -> Option<Vec<u8>> {
    let mut bytes = base64url::decode(b64).ok()?;
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::KeyLookup;

    fn parse(doc: &str) -> KeySet {
        parse_jwks(
            doc.as_bytes(),
            &Algorithm::DEFAULT_ALLOWED,
            ErrorKind::Fetch,
        )
        .unwrap()
    }

    // A P-256 public key (RFC 7515 appendix A.3).
    const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn ec(extra: &str) -> String {
        format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{EC_X}","y":"{EC_Y}"{extra}}}]}}"#)
    }

    #[test]
    fn an_ec_key_is_kept_with_its_curve_algorithm() {
        let set = parse(&ec(r#","kid":"a","use":"sig""#));
        assert_eq!(set.len(), 1);
        assert_eq!(
            set.algorithms().into_iter().collect::<Vec<_>>(),
            [Algorithm::ES256]
        );
        assert!(set.find(Some("a"), Algorithm::ES256).is_ok());
        assert_eq!(
            set.find(Some("a"), Algorithm::RS256).unwrap_err().kind(),
            ErrorKind::KeyMismatch
        );
        assert_eq!(
            set.find(Some("b"), Algorithm::ES256).unwrap_err().kind(),
            ErrorKind::UnknownKey
        );
    }

    #[test]
    fn unusable_keys_are_skipped_one_by_one() {
        for (extra, reason) in [
            (r#","use":"enc""#, "use is not \"sig\""),
            (r#","key_ops":["encrypt"]"#, "key_ops does not allow verify"),
            (r#","d":"AAAA""#, "private or symmetric key material"),
            (r#","alg":"ES384""#, "alg contradicts the key type or curve"),
            (r#","alg":"RS256""#, "alg contradicts the key type or curve"),
            (r#","alg":"HS256""#, "HMAC keys never come from a key set"),
            (r#","alg":"ES521""#, "unsupported or unknown alg"),
        ] {
            let set = parse(&ec(extra));
            assert!(set.is_empty(), "{extra}");
            assert_eq!(set.skipped()[0].reason, reason, "{extra}");
        }
    }

    #[test]
    fn a_bad_key_does_not_spoil_the_set() {
        let doc = format!(
            r#"{{"keys":[{{"kty":"oct","k":"AAAA"}},{{"kty":"XYZ"}},7,{{"kty":"EC","crv":"P-256","x":"{EC_X}","y":"{EC_Y}","kid":"ok"}}]}}"#
        );
        let set = parse(&doc);
        assert_eq!(set.kids().collect::<Vec<_>>(), ["ok"]);
        assert_eq!(set.skipped().len(), 3);
    }

    #[test]
    fn an_off_curve_point_is_skipped() {
        // The last character changed, its trailing bits still zero: canonical base64url of a
        // y that is off the curve, so the crypto backend is what refuses it.
        let doc = ec("").replace(EC_Y, "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4");
        let set = parse(&doc);
        assert!(set.is_empty());
        assert_eq!(
            set.skipped()[0].reason,
            "EC point rejected by the crypto backend"
        );
    }

    #[test]
    fn duplicate_kids_make_selection_ambiguous() {
        let key = format!(r#"{{"kty":"EC","crv":"P-256","x":"{EC_X}","y":"{EC_Y}","kid":"dup"}}"#);
        let set = parse(&format!(r#"{{"keys":[{key},{key}]}}"#));
        assert_eq!(set.len(), 2);
        assert_eq!(
            set.find(Some("dup"), Algorithm::ES256).unwrap_err().kind(),
            ErrorKind::AmbiguousKey
        );
    }

    #[test]
    fn documents_without_keys_are_refused() {
        for doc in [
            "[]",
            "{}",
            r#"{"keys":{}}"#,
            "not json",
            r#"{"keys":[],"keys":[]}"#,
        ] {
            let err = parse_jwks(
                doc.as_bytes(),
                &Algorithm::DEFAULT_ALLOWED,
                ErrorKind::Fetch,
            )
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Fetch, "{doc}");
            // Keys given inline are configuration: a bad document is a configuration error.
            let err = KeySet::from_jwks(doc.as_bytes(), &Algorithm::DEFAULT_ALLOWED).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{doc}");
        }
    }
}
