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

use crate::algorithm::Algorithm;
use crate::base64url;
use crate::error::{Error, ErrorKind};
use crate::jose_header::parse_header;
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

/// The longest signature: RSA with an 8192-bit key.
const MAX_SIGNATURE: usize = 1024;
/// The longest decoded header accepted (the whole token is capped lower by default).
const MAX_HEADER: usize = 8192;

/// A compact JWS whose header has been parsed and checked, and whose signature is not yet
/// verified.
#[derive(Debug)]
pub struct CompactJws<'a> {
    header: JwsHeader,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: [u8; MAX_SIGNATURE],
    signature_len: usize,
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
        let mut header_bytes = [0u8; MAX_HEADER];
        let header_len = base64url::decode_into(header_b64, &mut header_bytes)
            .ok_or_else(|| malformed("header is not base64url or too long"))?;
        let header = parse_header(&header_bytes[..header_len], allowed)?;
        let payload_bytes =
            base64url::decode(payload).map_err(|_| malformed("payload is not base64url"))?;
        let mut signature = [0u8; MAX_SIGNATURE];
        let signature_len = base64url::decode_into(signature_b64, &mut signature)
            .ok_or_else(|| malformed("signature is not base64url or too long"))?;
        let signing_input = &token[..header_b64.len() + 1 + payload.len()];
        Ok(Self {
            header,
            signing_input,
            payload: payload_bytes,
            signature,
            signature_len,
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
        let signature = &self.signature[..self.signature_len];
        if verifier.verify(self.signing_input.as_bytes(), signature) {
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
