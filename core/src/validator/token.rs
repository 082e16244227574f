//! A token that passed every check.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::claims::registered::RawClaims;
use crate::claims::scan::ScannedClaims;
use crate::claims::{AccessPaths, RegisteredClaims};
use crate::error::{Error, ErrorKind};
use crate::jose::compact::Decoded;
use crate::jose::{JwsHeader, json};

/// A validated credential: a JWT that passed every check, or another credential that did (an
/// opaque token's introspection answer, an API key's principal). Its registered claims and its
/// whole claim set work the same whatever the credential was, so that roles, scopes and typed
/// claims do too. Its strings are read from the decoded token in place; the claim set is built
/// into a JSON tree only when [`claims`](Self::claims), [`roles`](Self::roles) or
/// [`scopes`](Self::scopes) first asks for it. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct VerifiedToken {
    inner: Arc<Inner>,
}

/// What kind of credential a [`VerifiedToken`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    /// A JWT access token, verified locally.
    Jwt,
    /// An opaque (or any) token, verified by the authorization server's introspection
    /// (RFC 7662).
    Introspected,
    /// An API key, found in the configured store.
    ApiKey,
}

struct Inner {
    source: Source,
    registered: ScannedClaims,
    claims: OnceLock<Map<String, Value>>,
    access: Arc<AccessPaths>,
}

/// Where the claims are.
enum Source {
    /// A compact JWS: the header, and the payload as signed.
    Jws(Decoded),
    /// A JSON object that is the claim set itself.
    Document(CredentialKind, Vec<u8>),
}

impl Source {
    /// The buffer the scanned claims point into.
    fn base(&self) -> &[u8] {
        match self {
            Source::Jws(decoded) => &decoded.bytes,
            Source::Document(_, bytes) => bytes,
        }
    }
}

impl VerifiedToken {
    pub(crate) fn new(
        decoded: Decoded,
        registered: ScannedClaims,
        access: Arc<AccessPaths>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                source: Source::Jws(decoded),
                registered,
                claims: OnceLock::new(),
                access,
            }),
        }
    }

    /// A credential whose claim set is the JSON object `claims` (an introspection answer, an
    /// API key's principal), already checked by whoever verified it.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] when `claims` is not a JSON object, and the registered claims'
    /// type errors (a string `exp`, say).
    pub(crate) fn from_claims(
        kind: CredentialKind,
        claims: Vec<u8>,
        access: Arc<AccessPaths>,
    ) -> Result<Self, Error> {
        let registered = crate::claims::scan::scan_claims(&claims, 0, claims.len())?;
        Ok(Self {
            inner: Arc::new(Inner {
                source: Source::Document(kind, claims),
                registered,
                claims: OnceLock::new(),
                access,
            }),
        })
    }

    /// What kind of credential it came from.
    pub fn credential(&self) -> CredentialKind {
        match &self.inner.source {
            Source::Jws(_) => CredentialKind::Jwt,
            Source::Document(kind, _) => *kind,
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

    /// Whether the token is bound to a key the sender must prove (it has a `cnf` claim,
    /// RFC 7800): such a token is never accepted as a plain bearer token.
    pub fn is_sender_constrained(&self) -> bool {
        self.inner.registered.has_cnf()
    }

    /// The thumbprint the token is bound to (`cnf.jkt`, RFC 9449 §6.1): `None` for a token
    /// that is not DPoP-bound (no `cnf`, or a `cnf` of another kind, such as mTLS's
    /// `x5t#S256`). A `cnf` that can't be read, or a `cnf.jkt` that is not a string, is
    /// [`ErrorKind::InvalidClaim`].
    pub fn bound_key(&self) -> Result<Option<&str>, Error> {
        if !self.inner.registered.has_cnf() {
            return Ok(None);
        }
        let invalid = |what: &'static str| Error::new(ErrorKind::InvalidClaim, what);
        let cnf = self
            .claims()
            .get("cnf")
            .ok_or_else(|| invalid("cnf can't be read"))?;
        if !cnf.is_object() {
            return Err(invalid("cnf is not an object"));
        }
        match cnf.get("jkt") {
            None => Ok(None),
            Some(Value::String(jkt)) => Ok(Some(jkt)),
            Some(_) => Err(invalid("cnf.jkt is not a string")),
        }
    }

    /// The protected header of a JWT; `None` for other credentials.
    pub fn header(&self) -> Option<JwsHeader<'_>> {
        match &self.inner.source {
            Source::Jws(decoded) => Some(decoded.header()),
            Source::Document(..) => None,
        }
    }

    /// The registered claims (`iss`, `sub`, `aud`, `exp`, ...).
    pub fn registered(&self) -> RegisteredClaims<'_> {
        self.inner.registered.checked(self.inner.source.base())
    }

    /// `iss`.
    pub fn issuer(&self) -> &str {
        self.registered().iss
    }

    /// `sub`, if present.
    pub fn subject(&self) -> Option<&str> {
        self.registered().sub
    }

    /// The registered claims as scanned, unchecked (for checks run on another credential's
    /// claim set).
    pub(crate) fn raw_claims(&self) -> RawClaims<'_> {
        self.inner.registered.raw(self.inner.source.base())
    }

    /// The claim set's JSON: a JWT's payload exactly as signed, or the JSON object another
    /// credential was verified as.
    pub fn payload(&self) -> &[u8] {
        match &self.inner.source {
            Source::Jws(decoded) => decoded.payload(),
            Source::Document(_, bytes) => bytes,
        }
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
            .field("credential", &self.credential())
            .field("header", &self.header())
            .field("registered", &self.registered())
            .finish_non_exhaustive()
    }
}
