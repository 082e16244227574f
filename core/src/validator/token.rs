//! A token that passed every check.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::claims::scan::ScannedClaims;
use crate::claims::{AccessPaths, RegisteredClaims};
use crate::error::{Error, ErrorKind};
use crate::jose::compact::Decoded;
use crate::jose::{JwsHeader, json};

/// A validated token: its header, its registered claims, and its whole claim set. Its strings
/// are read from the decoded token in place; the claim set is built into a JSON tree only
/// when [`claims`](Self::claims), [`roles`](Self::roles) or [`scopes`](Self::scopes) first asks
/// for it. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct VerifiedToken {
    inner: Arc<Inner>,
}

struct Inner {
    decoded: Decoded,
    registered: ScannedClaims,
    claims: OnceLock<Map<String, Value>>,
    access: Arc<AccessPaths>,
}

impl VerifiedToken {
    pub(crate) fn new(
        decoded: Decoded,
        registered: ScannedClaims,
        access: Arc<AccessPaths>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                decoded,
                registered,
                claims: OnceLock::new(),
                access,
            }),
        }
    }

    /// A token with these claims and an RS256 header, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(claims: serde_json::Value) -> Self {
        let bytes = serde_json::to_vec(&claims).expect("claims serialize");
        let registered =
            crate::claims::scan::scan_claims(&bytes, 0, bytes.len()).expect("a claims object");
        let decoded = Decoded {
            header: crate::jose::header::HeaderFields {
                alg: crate::jose::Algorithm::RS256,
                kid: None,
                typ: None,
            },
            payload_end: bytes.len(),
            bytes,
            header_len: 0,
        };
        Self::new(decoded, registered, Arc::new(AccessPaths::default()))
    }

    /// The protected header.
    pub fn header(&self) -> JwsHeader<'_> {
        self.inner.decoded.header()
    }

    /// The registered claims (`iss`, `sub`, `aud`, `exp`, ...).
    pub fn registered(&self) -> RegisteredClaims<'_> {
        self.inner.registered.checked(&self.inner.decoded.bytes)
    }

    /// `iss`.
    pub fn issuer(&self) -> &str {
        self.registered().iss
    }

    /// `sub`, if present.
    pub fn subject(&self) -> Option<&str> {
        self.registered().sub
    }

    /// The payload: the claim set's JSON, exactly as signed.
    pub fn payload(&self) -> &[u8] {
        self.inner.decoded.payload()
    }

    /// The whole claim set, built on the first call and kept.
    pub fn claims(&self) -> &Map<String, Value> {
        self.inner
            .claims
            .get_or_init(|| json::parse_object(self.payload()).unwrap_or_default())
    }

    /// The claim set as the caller's own type.
    ///
    /// Fails with [`ErrorKind::InvalidClaim`] when the claims don't fit `T` (a missing field,
    /// a wrong type); the message names the problem but no claim value. Reads the payload
    /// directly, without building the claim set's JSON tree.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(self.payload()).map_err(|e| {
            Error::new(
                ErrorKind::InvalidClaim,
                format!("the claims do not fit the expected type: {}", redact(&e)),
            )
        })
    }

    /// The roles, read from the configured paths (see [`AccessPaths`]).
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.inner.access.roles_in(self.claims())
    }

    /// The scopes, read from the configured paths (see [`AccessPaths`]).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.inner.access.scopes_in(self.claims())
    }

    /// Whether the token has this role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|r| r == role)
    }

    /// Whether the token has this scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
}

/// serde_json messages quote offending values (`invalid type: string "..."`); keep only the
/// part before the first quote or colon-separated value.
fn redact(err: &serde_json::Error) -> String {
    let message = err.to_string();
    match message.find(['"', '`']) {
        Some(at) if message[..at].contains("field") => message,
        Some(at) => message[..at].trim_end().trim_end_matches(':').to_owned(),
        None => message,
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("header", &self.header())
            .field("registered", &self.registered())
            .finish_non_exhaustive()
    }
}
