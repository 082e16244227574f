//! The JWS signature algorithms jwtguard knows.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{self as sig, VerificationAlgorithm};

use crate::error::{Error, ErrorKind};

/// A JWS signature algorithm (RFC 7518 §3, RFC 8037).
///
/// The algorithm used for a token is always the one of the key (its `alg`, or else what its
/// `kty`/`crv` allow) and of the validator's allow-list; the token's header can only name one
/// of those, never widen them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512. Not in the default allow-list.
    ES512,
    /// EdDSA with Ed25519.
    EdDSA,
    /// HMAC with SHA-256. Only with a configured secret.
    HS256,
    /// HMAC with SHA-384. Only with a configured secret.
    HS384,
    /// HMAC with SHA-512. Only with a configured secret.
    HS512,
}

/// The family of keys an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Rsa,
    Ec,
    Okp,
    Hmac,
}

impl Algorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [Algorithm; 13] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::ES512,
        Self::EdDSA,
        Self::HS256,
        Self::HS384,
        Self::HS512,
    ];

    /// The default allow-list: every asymmetric algorithm (RS*, PS*, ES256, ES384, EdDSA).
    pub const DEFAULT_ALLOWED: [Algorithm; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The name used in JOSE headers and JWKs (`"RS256"`, `"EdDSA"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// Whether this is an HMAC algorithm (a shared secret, never a key from a JWKS).
    pub fn is_hmac(self) -> bool {
        self.family() == Family::Hmac
    }

    pub(crate) fn family(self) -> Family {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                Family::Rsa
            }
            Self::ES256 | Self::ES384 | Self::ES512 => Family::Ec,
            Self::EdDSA => Family::Okp,
            Self::HS256 | Self::HS384 | Self::HS512 => Family::Hmac,
        }
    }

    /// The aws-lc-rs verification algorithm, for the asymmetric ones.
    pub(crate) fn verification(self) -> Option<&'static dyn VerificationAlgorithm> {
        if let Some(rsa) = self.rsa_parameters() {
            return Some(rsa);
        }
        Some(match self {
            Self::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
            Self::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
            Self::ES512 => &sig::ECDSA_P521_SHA512_FIXED,
            Self::EdDSA => &sig::ED25519,
            _ => return None,
        })
    }

    /// The RSA parameters, for the RSA ones.
    pub(crate) fn rsa_parameters(self) -> Option<&'static sig::RsaParameters> {
        Some(match self {
            Self::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    /// The HMAC algorithm and its minimum key length in bytes (RFC 7518 §3.2: at least the
    /// hash's output size), for the HMAC ones.
    pub(crate) fn hmac(self) -> Option<(aws_lc_rs::hmac::Algorithm, usize)> {
        Some(match self {
            Self::HS256 => (aws_lc_rs::hmac::HMAC_SHA256, 32),
            Self::HS384 => (aws_lc_rs::hmac::HMAC_SHA384, 48),
            Self::HS512 => (aws_lc_rs::hmac::HMAC_SHA512, 64),
            _ => return None,
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    /// Parses a JOSE algorithm name. Exact and case-sensitive: `"none"`, `"None"` and
    /// `"rs256"` are all refused.
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or_else(|| Error::new(ErrorKind::AlgorithmNotAllowed, "unknown algorithm name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_refused() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
        }
        for bad in ["none", "None", "NONE", "rs256", "ES521", ""] {
            assert_eq!(
                bad.parse::<Algorithm>().unwrap_err().kind(),
                ErrorKind::AlgorithmNotAllowed
            );
        }
    }
}
