//! The signature check, and the key lookup it takes: the JOSE layer never knows where keys
//! come from.

use std::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::ParsedPublicKey;

use super::algorithm::Algorithm;
use crate::error::Error;

/// Finds the one key that may verify a JWS with this `kid` and `alg`.
///
/// [`KeySet`](crate::keys::KeySet) is the lookup jwtguard uses; the JOSE layer only ever sees
/// this trait.
pub trait KeyLookup {
    /// The verifier for a JWS whose header names `kid` (if any) and `alg`: exactly one key, or
    /// [`ErrorKind::UnknownKey`](crate::ErrorKind::UnknownKey),
    /// [`ErrorKind::KeyMismatch`](crate::ErrorKind::KeyMismatch) or
    /// [`ErrorKind::AmbiguousKey`](crate::ErrorKind::AmbiguousKey).
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Verifier, Error>;
}

/// A key ready to verify signatures: a parsed public key, or an HMAC secret. Built by the key
/// set from JWKs and configured secrets; it never holds a private key.
#[derive(Clone)]
pub struct Verifier(Kind);

#[derive(Clone)]
enum Kind {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

impl Verifier {
    pub(crate) fn public(key: ParsedPublicKey) -> Self {
        Self(Kind::Public(key))
    }

    pub(crate) fn hmac(key: hmac::Key) -> Self {
        Self(Kind::Hmac(Box::new(key)))
    }

    /// Whether `signature` is a valid signature of `message` under this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.0 {
            Kind::Public(key) => key.verify_sig(message, signature).is_ok(),
            Kind::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Kind::Public(_) => "Verifier::Public",
            Kind::Hmac(_) => "Verifier::Hmac",
        })
    }
}
