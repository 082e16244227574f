//! JWK thumbprints (RFC 7638): what a DPoP-bound token's `cnf.jkt` names.

use aws_lc_rs::digest;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::jose::base64url;

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url-encoded: the form of
/// `cnf.jkt` (RFC 9449 §6.1).
///
/// Only the required members of the key's type count, in lexicographic order, as JSON strings
/// without white space: `e`, `kty`, `n` for RSA; `crv`, `kty`, `x`, `y` for EC; `crv`, `kty`,
/// `x` for OKP. Other members (`kid`, `alg`, `use`) change nothing. A key of another type, or
/// with a required member missing or not a string, is [`ErrorKind::InvalidDpopProof`].
///
/// ```
/// use jwtguard_core::dpop::jwk_thumbprint;
///
/// // RFC 7638 §3.1's example key.
/// let jwk = serde_json::json!({
///     "kty": "RSA",
///     "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
///     "e": "AQAB",
///     "alg": "RS256",
///     "kid": "2011-04-29"
/// });
/// assert_eq!(
///     jwk_thumbprint(jwk.as_object().unwrap()).unwrap(),
///     "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
/// );
/// ```
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Result<String, Error> {
    let invalid = |what: &'static str| Error::new(ErrorKind::InvalidDpopProof, what);
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(invalid("the key's type has no thumbprint here")),
    };
    let mut canonical = String::from("{");
    for (index, name) in required.iter().enumerate() {
        let value = jwk
            .get(*name)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("a required key member is missing or not a string"))?;
        if index > 0 {
            canonical.push(',');
        }
        canonical.push('"');
        canonical.push_str(name);
        canonical.push_str("\":");
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    Ok(base64url::encode(
        digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thumbprint(jwk: Value) -> Result<String, ErrorKind> {
        jwk_thumbprint(jwk.as_object().unwrap()).map_err(|e| e.kind())
    }

    #[test]
    fn only_the_required_members_count_in_their_order() {
        let ec = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        });
        let mut with_extras = ec.clone();
        with_extras["kid"] = "k1".into();
        with_extras["use"] = "sig".into();
        assert_eq!(thumbprint(ec.clone()), thumbprint(with_extras));
        // The canonical form, hashed by hand.
        let canonical = r#"{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let expected =
            base64url::encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
        assert_eq!(thumbprint(ec).unwrap(), expected);
        let okp = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        // RFC 8037 appendix A.3.
        assert_eq!(
            thumbprint(okp).unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn keys_without_a_thumbprint_are_refused() {
        for jwk in [
            serde_json::json!({"kty": "oct", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AA"}),
            serde_json::json!({"kty": "RSA", "n": "AQAB", "e": 65537}),
            serde_json::json!({"n": "AQAB", "e": "AQAB"}),
        ] {
            assert_eq!(thumbprint(jwk), Err(ErrorKind::InvalidDpopProof));
        }
    }
}
