//! Key sets: the verifying keys of one issuer, parsed once into the form the crypto backend
//! verifies with, and looked up by `kid` and algorithm.

use std::collections::BTreeSet;
use std::fmt;

use aws_lc_rs::hmac;

use crate::error::{Error, ErrorKind};
use crate::jose::{Algorithm, KeyLookup, Verifier};

/// The verifying keys of one issuer.
///
/// Built from a JWKS document with [`KeySet::from_jwks`] (each key parsed once, unusable keys
/// skipped and logged), optionally with HMAC secrets added by
/// [`KeySet::insert_secret`]. Immutable once built: a refresh builds a new set and swaps it in.
#[derive(Default)]
pub struct KeySet {
    pub(super) keys: Vec<VerifyingKey>,
    pub(super) skipped: Vec<SkippedKey>,
}

/// One verifying key and the algorithms it may be used with.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    /// A configured secret without a `kid` serves tokens with any `kid`.
    pub(crate) any_kid: bool,
    pub(crate) verifiers: Vec<(Algorithm, Verifier)>,
}

/// A JWK of a fetched document that was not taken into the key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Its `kid`, when it had a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: &'static str,
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {:?} skipped: {}",
            self.kid.as_deref().unwrap_or("-"),
            self.reason
        )
    }
}

impl KeySet {
    /// An empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an HMAC secret for `alg` (HS256, HS384 or HS512), optionally bound to a `kid`.
    ///
    /// The secret must be at least as long as the hash output (32, 48 or 64 bytes, RFC 7518
    /// §3.2); shorter or empty secrets are refused with [`ErrorKind::Config`].
    pub fn insert_secret(
        &mut self,
        kid: Option<&str>,
        alg: Algorithm,
        secret: &[u8],
    ) -> Result<(), Error> {
        let Some((hmac_alg, min_len)) = alg.hmac() else {
            return Err(Error::new(
                ErrorKind::Config,
                "a secret needs an HMAC algorithm (HS256, HS384 or HS512)",
            ));
        };
        if secret.len() < min_len {
            return Err(Error::new(
                ErrorKind::Config,
                format!("an {alg} secret must be at least {min_len} bytes"),
            ));
        }
        self.keys.push(VerifyingKey {
            kid: kid.map(str::to_owned),
            any_kid: kid.is_none(),
            verifiers: vec![(alg, Verifier::hmac(hmac::Key::new(hmac_alg, secret)))],
        });
        Ok(())
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the usable keys (keys without one are not listed).
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// Whether a usable key has this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The algorithms some key of the set can verify.
    pub fn algorithms(&self) -> BTreeSet<Algorithm> {
        self.keys
            .iter()
            .flat_map(|k| k.verifiers.iter().map(|(alg, _)| *alg))
            .collect()
    }

    /// The keys of the document that were skipped, and why.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    pub(crate) fn extend_with(&mut self, other: &KeySet) {
        self.keys.extend(other.keys.iter().cloned());
    }
}

impl KeyLookup for KeySet {
    /// Finds the one key that may verify a token with this `kid` and `alg`.
    ///
    /// With a `kid`: the keys with that `kid`; without one: every key, and then exactly one
    /// must be usable with `alg`.
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Verifier, Error> {
        let mut named = 0usize;
        let mut found: Option<&Verifier> = None;
        let mut usable = 0usize;
        for key in &self.keys {
            let named_here = kid.is_none() || key.kid.as_deref() == kid;
            if !named_here && !key.any_kid {
                continue;
            }
            // A secret without a kid serves any kid, but does not make a kid known: a kid
            // that only it matches is still unknown (and may call for a refresh).
            named += usize::from(named_here);
            if let Some((_, verifier)) = key.verifiers.iter().find(|(a, _)| *a == alg) {
                usable += 1;
                found = Some(verifier);
            }
        }
        match (usable, found) {
            (1, Some(verifier)) => Ok(verifier),
            (0, _) if named == 0 || kid.is_none() => Err(Error::new(
                ErrorKind::UnknownKey,
                if kid.is_some() {
                    "no key with this kid"
                } else {
                    "no kid in the header and no key for its algorithm"
                },
            )),
            (0, _) => Err(Error::new(
                ErrorKind::KeyMismatch,
                "the key with this kid may not be used with the header's algorithm",
            )),
            _ => Err(Error::new(
                ErrorKind::AmbiguousKey,
                if kid.is_some() {
                    "several keys share this kid"
                } else {
                    "no kid in the header and several keys for its algorithm"
                },
            )),
        }
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field(
                "keys",
                &self
                    .keys
                    .iter()
                    .map(|k| {
                        (
                            k.kid.as_deref().unwrap_or("-"),
                            k.verifiers
                                .iter()
                                .map(|(a, _)| a.as_str())
                                .collect::<Vec<_>>(),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
            .field("skipped", &self.skipped.len())
            .finish()
    }
}
