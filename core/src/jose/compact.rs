//! A compact JWS: split, decoded into one buffer, its header checked, its signature verified
//! with the one key a [`KeyLookup`] finds for it.

use std::fmt;

use super::algorithm::Algorithm;
use super::base64url;
use super::header::{HeaderFields, JwsHeader, parse_header, parse_proof_header};
use super::header_cache::HeaderCache;
use super::verify::{KeyLookup, Verifier};
use crate::error::{Error, ErrorKind};

/// The longest signature: RSA with an 8192-bit key.
const MAX_SIGNATURE: usize = 1024;
/// The longest decoded header accepted (the whole token is capped lower by default).
const MAX_HEADER: usize = 8192;

/// The decoded parts of a JWS, in one buffer: the header's JSON, the payload, the signature.
/// Its `Debug` shows the header only: the payload and signature are token material.
#[derive(Clone)]
pub(crate) struct Decoded {
    pub(crate) header: HeaderFields,
    pub(crate) bytes: Vec<u8>,
    pub(crate) header_len: usize,
    pub(crate) payload_end: usize,
}

impl Decoded {
    pub(crate) fn header(&self) -> JwsHeader<'_> {
        self.header.view(&self.bytes)
    }

    pub(crate) fn payload(&self) -> &[u8] {
        &self.bytes[self.header_len..self.payload_end]
    }

    fn signature(&self) -> &[u8] {
        &self.bytes[self.payload_end..]
    }
}

/// A compact JWS whose header has been parsed and checked, and whose signature is not yet
/// verified. Its `Debug` shows the header only, never the token.
pub struct CompactJws<'a> {
    decoded: Decoded,
    signing_input: &'a str,
    header_known: bool,
}

/// A JWS whose signature verified. Its `Debug` shows the header only, never the payload.
#[derive(Clone)]
pub struct VerifiedJws {
    decoded: Decoded,
}

impl fmt::Debug for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoded")
            .field("header", &self.header())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CompactJws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactJws")
            .field("header", &self.header())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for VerifiedJws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedJws")
            .field("header", &self.header())
            .finish_non_exhaustive()
    }
}

impl VerifiedJws {
    /// The protected header.
    pub fn header(&self) -> JwsHeader<'_> {
        self.decoded.header()
    }

    /// The decoded payload.
    pub fn payload(&self) -> &[u8] {
        self.decoded.payload()
    }
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
        Self::parse_with(token, max_size, allowed, None)
    }

    /// [`parse`](Self::parse), taking the header from `headers` when it is one of them.
    pub(crate) fn parse_with(
        token: &'a str,
        max_size: usize,
        allowed: &[Algorithm],
        headers: Option<&HeaderCache>,
    ) -> Result<Self, Error> {
        Self::parse_segments(token, max_size, headers, |bytes| {
            parse_header(bytes, allowed)
        })
    }

    /// A DPoP proof (RFC 9449 §4.2): [`parse`](Self::parse)'s checks, with the header's `jwk`
    /// read as well (`None` when absent). Its signature is checked with
    /// [`check_with`](Self::check_with), against that `jwk`.
    pub(crate) fn parse_proof(
        token: &'a str,
        max_size: usize,
        allowed: &[Algorithm],
    ) -> Result<(Self, Option<serde_json::Value>), Error> {
        let mut jwk = None;
        let jws = Self::parse_segments(token, max_size, None, |bytes| {
            let (header, found) = parse_proof_header(bytes, allowed)?;
            jwk = found;
            Ok(header)
        })?;
        Ok((jws, jwk))
    }

    /// Whether the signature verifies with `verifier`.
    pub(crate) fn check_with(&self, verifier: &Verifier) -> bool {
        verifier.verify(self.signing_input.as_bytes(), self.decoded.signature())
    }

    fn parse_segments(
        token: &'a str,
        max_size: usize,
        headers: Option<&HeaderCache>,
        parse_header: impl FnOnce(&[u8]) -> Result<HeaderFields, Error>,
    ) -> Result<Self, Error> {
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
        if header_b64.len() > base64url::encoded_len(MAX_HEADER) {
            return Err(malformed("header is too long"));
        }
        if signature_b64.len() > base64url::encoded_len(MAX_SIGNATURE) {
            return Err(malformed("signature is too long"));
        }
        // One buffer for the decoded parts, sized once.
        let mut bytes = Vec::with_capacity(
            [header_b64, payload, signature_b64]
                .iter()
                .map(|part| base64url::decoded_len_bound(part.len()))
                .sum(),
        );
        let known = headers.and_then(|headers| headers.take(header_b64, &mut bytes));
        let header_known = known.is_some();
        let header = match known {
            Some(known) => known,
            None => {
                base64url::decode_append(header_b64, &mut bytes)
                    .ok_or_else(|| malformed("header is not base64url"))?;
                parse_header(&bytes)?
            }
        };
        let header_len = bytes.len();
        base64url::decode_append(payload, &mut bytes)
            .ok_or_else(|| malformed("payload is not base64url"))?;
        let payload_end = bytes.len();
        base64url::decode_append(signature_b64, &mut bytes)
            .ok_or_else(|| malformed("signature is not base64url"))?;
        let signing_input = &token[..header_b64.len() + 1 + payload.len()];
        Ok(Self {
            decoded: Decoded {
                header,
                bytes,
                header_len,
                payload_end,
            },
            signing_input,
            header_known,
        })
    }

    /// The checked header.
    pub fn header(&self) -> JwsHeader<'_> {
        self.decoded.header()
    }

    /// Verifies the signature with the one key of `keys` that matches the header's `kid` and
    /// `alg` ([`ErrorKind::UnknownKey`], [`ErrorKind::KeyMismatch`] or
    /// [`ErrorKind::AmbiguousKey`] when there is no such single key,
    /// [`ErrorKind::InvalidSignature`] when it does not verify). A
    /// [`KeySet`](crate::keys::KeySet) is a key lookup.
    pub fn verify<K: KeyLookup + ?Sized>(self, keys: &K) -> Result<VerifiedJws, Error> {
        self.check_signature(keys)?;
        Ok(VerifiedJws {
            decoded: self.decoded,
        })
    }

    /// Like [`verify`](Self::verify), keeping the JWS.
    pub fn check_signature<K: KeyLookup + ?Sized>(&self, keys: &K) -> Result<(), Error> {
        let header = self.header();
        let verifier = keys.find(header.kid, header.alg)?;
        if verifier.verify(self.signing_input.as_bytes(), self.decoded.signature()) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidSignature,
                "signature mismatch",
            ))
        }
    }

    /// The decoded header and payload, the signature not yet verified.
    pub(crate) fn unverified(&self) -> &Decoded {
        &self.decoded
    }

    /// Whether the header came from the [`HeaderCache`] given to
    /// [`parse_with`](Self::parse_with).
    pub(crate) fn header_known(&self) -> bool {
        self.header_known
    }

    /// The header as it came, still encoded.
    pub(crate) fn encoded_header(&self) -> &'a str {
        let len = self.signing_input.find('.').unwrap_or_default();
        &self.signing_input[..len]
    }

    /// Takes the decoded header and payload out.
    pub(crate) fn into_decoded(self) -> Decoded {
        self.decoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn debug_shows_the_header_never_the_token() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"ES256","kid":"k1"}"#),
            b64(r#"{"sub":"secret-subject"}"#),
            b64("signature-bytes")
        );
        let jws = CompactJws::parse(&token, 8192, &Algorithm::DEFAULT_ALLOWED).unwrap();
        let shown = format!("{jws:?} {:?}", jws.unverified());
        assert!(shown.contains("k1"), "{shown}");
        for secret in ["secret-subject", "signature-bytes", token.as_str()] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let encoded_payload = token.split('.').nth(1).unwrap();
        assert!(!shown.contains(encoded_payload), "{shown}");
    }
}
