//! The JWS layer: a compact JWS checked against a key set, with nothing about JWT claims.
//!
//! ```
//! use jwtguard_core::jws::CompactJws;
//! use jwtguard_core::{Algorithm, ErrorKind};
//!
//! // `alg: none` is refused before any key is looked at.
//! let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
//! let err = CompactJws::parse(token, 8192, &Algorithm::DEFAULT_ALLOWED).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::AlgorithmNotAllowed);
//! ```

use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::base64url;
use crate::error::{Error, ErrorKind};
use crate::json;
use crate::keys::KeySet;

/// The protected header of a JWS, as far as jwtguard reads it.
///
/// `jku`, `x5u`, `jwk` and `x5c` are never read: keys come only from the configured key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    /// `alg`, already checked against the allow-list.
    pub alg: Algorithm,
    /// `kid`, if present.
    pub kid: Option<String>,
    /// `typ`, if present.
    pub typ: Option<String>,
}

/// A compact JWS whose header has been parsed and checked, and whose signature is not yet
/// verified.
#[derive(Debug)]
pub struct CompactJws<'a> {
    header: JwsHeader,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// A JWS whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    /// The protected header.
    pub header: JwsHeader,
    /// The decoded payload.
    pub payload: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// Splits and checks a compact JWS, cheapest checks first:
    ///
    /// 1. at most `max_size` bytes ([`ErrorKind::TokenTooLarge`]);
    /// 2. exactly three segments of canonical base64url; a JWE (five segments) or the JSON
    ///    serialization is [`ErrorKind::Malformed`];
    /// 3. a header that is one JSON object without duplicate members, with a string `alg`
    ///    ([`ErrorKind::Malformed`]);
    /// 4. `alg` one of `allowed` ([`ErrorKind::AlgorithmNotAllowed`]; `none` never is);
    /// 5. no `crit`, and no `b64` other than `true` ([`ErrorKind::UnsupportedHeader`]);
    /// 6. payload and signature of canonical base64url ([`ErrorKind::Malformed`]).
    pub fn parse(token: &'a str, max_size: usize, allowed: &[Algorithm]) -> Result<Self, Error> {
        if token.len() > max_size {
            return Err(Error::new(
                ErrorKind::TokenTooLarge,
                format!("over the cap of {max_size} bytes"),
            ));
        }
        let malformed = |what: &'static str| Error::new(ErrorKind::Malformed, what);
        if token.starts_with('{') {
            return Err(malformed("the JSON serialization is not accepted"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(if token.split('.').count() == 5 {
                malformed("a JWE is not accepted")
            } else {
                malformed("not three dot-separated segments")
            });
        };
        let header_bytes =
            base64url::decode(header_b64).map_err(|_| malformed("header is not base64url"))?;
        let header = parse_header(&header_bytes, allowed)?;
        let payload_bytes =
            base64url::decode(payload).map_err(|_| malformed("payload is not base64url"))?;
        let signature = base64url::decode(signature_b64)
            .map_err(|_| malformed("signature is not base64url"))?;
        let signing_input = &token[..header_b64.len() + 1 + payload.len()];
        Ok(Self {
            header,
            signing_input,
            payload: payload_bytes,
            signature,
        })
    }

    /// The checked header.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// Verifies the signature with the one key of `keys` that matches the header's `kid` and
    /// `alg` ([`ErrorKind::UnknownKey`], [`ErrorKind::KeyMismatch`] or
    /// [`ErrorKind::AmbiguousKey`] when there is no such single key,
    /// [`ErrorKind::InvalidSignature`] when it does not verify).
    pub fn verify(&self, keys: &KeySet) -> Result<VerifiedJws, Error> {
        self.check_signature(keys)?;
        Ok(VerifiedJws {
            header: self.header.clone(),
            payload: self.payload.clone(),
        })
    }

    /// Like [`verify`](Self::verify), without copying the header and payload out.
    pub fn check_signature(&self, keys: &KeySet) -> Result<(), Error> {
        let verifier = keys.select(self.header.kid.as_deref(), self.header.alg)?;
        if verifier.verify(self.signing_input.as_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidSignature,
                "signature mismatch",
            ))
        }
    }

    /// The decoded payload, not yet verified.
    pub(crate) fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Takes the checked header out.
    pub(crate) fn into_header(self) -> JwsHeader {
        self.header
    }
}

fn parse_header(bytes: &[u8], allowed: &[Algorithm]) -> Result<JwsHeader, Error> {
    let map = json::parse_object(bytes)
        .map_err(|_| Error::new(ErrorKind::Malformed, "header is not a JSON object"))?;
    let alg = match map.get("alg") {
        Some(Value::String(name)) => name
            .parse::<Algorithm>()
            .ok()
            .filter(|alg| allowed.contains(alg))
            .ok_or_else(|| Error::new(ErrorKind::AlgorithmNotAllowed, "alg is not allowed"))?,
        Some(_) => return Err(Error::new(ErrorKind::Malformed, "alg is not a string")),
        None => return Err(Error::new(ErrorKind::Malformed, "header has no alg")),
    };
    if map.contains_key("crit") {
        return Err(Error::new(
            ErrorKind::UnsupportedHeader,
            "crit names extensions that are not understood",
        ));
    }
    match map.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(_) => {
            return Err(Error::new(
                ErrorKind::UnsupportedHeader,
                "unencoded payloads (b64) are not accepted",
            ));
        }
    }
    Ok(JwsHeader {
        alg,
        kid: optional_string(&map, "kid")?,
        typ: optional_string(&map, "typ")?,
    })
}

fn optional_string(map: &Map<String, Value>, name: &'static str) -> Result<Option<String>, Error> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::new(
            ErrorKind::Malformed,
            format!("header member {name} is not a string"),
        )),
    }
}
