//! A token that passed every check.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::access::AccessPaths;
use crate::claims::RegisteredClaims;
use crate::error::{Error, ErrorKind};
use crate::jws::JwsHeader;

/// A validated token: its header, its registered claims, and the whole claim set, parsed
/// once. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct VerifiedToken {
    inner: Arc<Inner>,
}

struct Inner {
    header: JwsHeader,
    registered: RegisteredClaims,
    claims: Map<String, Value>,
    access: Arc<AccessPaths>,
}

impl VerifiedToken {
    pub(crate) fn new(
        header: JwsHeader,
        registered: RegisteredClaims,
        claims: Map<String, Value>,
        access: Arc<AccessPaths>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                header,
                registered,
                claims,
                access,
            }),
        }
    }

    /// A token with these claims and defaults for the rest, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(claims: serde_json::Value) -> Self {
        let claims = claims.as_object().cloned().unwrap_or_default();
        let registered = RegisteredClaims {
            iss: String::new(),
            sub: None,
            aud: Vec::new(),
            exp: None,
            nbf: None,
            iat: None,
            jti: None,
        };
        let header = JwsHeader {
            alg: crate::Algorithm::RS256,
            kid: None,
            typ: None,
        };
        Self::new(header, registered, claims, Arc::new(AccessPaths::default()))
    }

    /// The protected header.
    pub fn header(&self) -> &JwsHeader {
        &self.inner.header
    }

    /// The registered claims (`iss`, `sub`, `aud`, `exp`, ...).
    pub fn registered(&self) -> &RegisteredClaims {
        &self.inner.registered
    }

    /// `iss`.
    pub fn issuer(&self) -> &str {
        &self.inner.registered.iss
    }

    /// `sub`, if present.
    pub fn subject(&self) -> Option<&str> {
        self.inner.registered.sub.as_deref()
    }

    /// The whole claim set.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.inner.claims
    }

    /// The claim set as the caller's own type.
    ///
    /// Fails with [`ErrorKind::InvalidClaim`] when the claims don't fit `T` (a missing field,
    /// a wrong type); the message names the problem but no claim value.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.inner.claims).map_err(|e| {
            Error::new(
                ErrorKind::InvalidClaim,
                format!("the claims do not fit the expected type: {}", redact(&e)),
            )
        })
    }

    /// The roles, read from the configured paths (see [`AccessPaths`]).
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        AccessPaths::values(&self.inner.access.roles, &self.inner.claims)
    }

    /// The scopes, read from the configured paths (see [`AccessPaths`]).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        AccessPaths::values(&self.inner.access.scopes, &self.inner.claims)
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
            .field("header", &self.inner.header)
            .field("registered", &self.inner.registered)
            .finish_non_exhaustive()
    }
}
