//! The one error type of jwtguard, and what each kind means over HTTP (RFC 6750).

use std::borrow::Cow;
use std::fmt;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while configuring a [`Validator`](crate::validator::Validator) or
/// validating a token.
///
/// The error is opaque: ask it what it is with [`Error::kind`] or the `is_*` predicates, and
/// what it means over HTTP with [`Error::status`] and [`Error::bearer_code`]. Its message names
/// the check that failed but never contains the token or any value taken from it.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    detail: Cow<'static, str>,
    scope: Option<String>,
    step_up: Option<StepUp>,
    nonce: Option<String>,
    source: Option<BoxError>,
}

/// What a step-up challenge asks for (RFC 9470 §3).
#[derive(Clone)]
struct StepUp {
    acr_values: Option<String>,
    max_age: Option<u64>,
}

/// What went wrong. Each kind maps to one RFC 6750 meaning (see [`ErrorKind::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request carried no token. 401 with a bare `Bearer` challenge.
    MissingToken,
    /// The request is malformed: a broken `Authorization` header, or a token in two places.
    InvalidRequest,
    /// The token is larger than the configured cap.
    TokenTooLarge,
    /// The token is not a well-formed compact JWS carrying a JSON claim set.
    Malformed,
    /// The `alg` in the header is not allowed (`none`, HMAC without a secret, unknown, ...).
    AlgorithmNotAllowed,
    /// The header asks for something not supported: `crit` extensions, `b64: false`.
    UnsupportedHeader,
    /// The `typ` header is not one the validator accepts.
    InvalidType,
    /// No key of the issuer's key set has the token's `kid`.
    UnknownKey,
    /// More than one key could verify the token, so none is used.
    AmbiguousKey,
    /// The key found by `kid` may not be used this way (its `alg`, `use` or `key_ops`).
    KeyMismatch,
    /// The signature does not verify.
    InvalidSignature,
    /// `iss` is not the expected issuer.
    InvalidIssuer,
    /// `aud` names none of the expected audiences.
    InvalidAudience,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// The token is older than the configured maximum age.
    TooOld,
    /// A required claim is absent.
    MissingClaim,
    /// A claim is present but of the wrong type or out of range.
    InvalidClaim,
    /// One of the user's claim validators refused the token.
    Rejected,
    /// The API key is not known to the key store (never created, or revoked). 401.
    UnknownApiKey,
    /// The DPoP proof (RFC 9449) is missing where the token needs one, malformed, not signed
    /// by the token's key, made for another request, too old, or replayed. 401
    /// `invalid_dpop_proof`.
    InvalidDpopProof,
    /// The DPoP proof lacks the server's current nonce: retry with the one in the `DPoP-Nonce`
    /// header (RFC 9449 §9). 401 `use_dpop_nonce`.
    UseDpopNonce,
    /// The token is valid but lacks a required role or scope. 403.
    InsufficientScope,
    /// The token is valid, but the user's authentication behind it is not the one required:
    /// another `acr`, or an `auth_time` too long ago (RFC 9470). 401
    /// `insufficient_user_authentication`, with `acr_values` and/or `max_age` in the challenge.
    InsufficientUserAuthentication,
    /// The keys needed to check the token can't be had right now (the IdP is unreachable, or
    /// the API key store failed). 503.
    KeysUnavailable,
    /// The key set, discovery document or an HTTP exchange with the IdP was unusable.
    Fetch,
    /// The validator was configured wrongly. Raised while building, never per request.
    Config,
    /// The application is wired wrongly (an extractor without its layer, say). 500.
    Misconfigured,
}

/// What a kind means over HTTP: every kind belongs to exactly one class, and every answer
/// (status, `error` code, body code) is decided by the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// No token at all: 401 with a bare challenge.
    NoToken,
    /// A malformed request: 400 `invalid_request`.
    BadRequest,
    /// The token itself is not acceptable: 401 `invalid_token`.
    BadToken,
    /// The DPoP proof is not acceptable: 401 `invalid_dpop_proof`.
    BadProof,
    /// The DPoP proof needs the server's nonce: 401 `use_dpop_nonce`.
    NonceNeeded,
    /// A valid token without the role or scope: 403 `insufficient_scope`.
    Forbidden,
    /// A valid token from a weaker or older authentication: 401
    /// `insufficient_user_authentication` (RFC 9470).
    StepUp,
    /// The server is wired or configured wrongly: 500.
    ServerFault,
    /// The token can't be checked right now: 503.
    Unavailable,
}

impl ErrorKind {
    /// The class of the kind. Every kind is listed, with no wildcard: a new kind must choose
    /// its meaning here, and can never fall into 401 unnoticed.
    fn class(self) -> Class {
        match self {
            Self::MissingToken => Class::NoToken,
            Self::InvalidRequest => Class::BadRequest,
            Self::TokenTooLarge
            | Self::Malformed
            | Self::AlgorithmNotAllowed
            | Self::UnsupportedHeader
            | Self::InvalidType
            | Self::UnknownKey
            | Self::AmbiguousKey
            | Self::KeyMismatch
            | Self::InvalidSignature
            | Self::InvalidIssuer
            | Self::InvalidAudience
            | Self::Expired
            | Self::NotYetValid
            | Self::IssuedInFuture
            | Self::TooOld
            | Self::MissingClaim
            | Self::InvalidClaim
            | Self::Rejected
            | Self::UnknownApiKey => Class::BadToken,
            Self::InvalidDpopProof => Class::BadProof,
            Self::UseDpopNonce => Class::NonceNeeded,
            Self::InsufficientScope => Class::Forbidden,
            Self::InsufficientUserAuthentication => Class::StepUp,
            Self::Config | Self::Misconfigured => Class::ServerFault,
            Self::KeysUnavailable | Self::Fetch => Class::Unavailable,
        }
    }

    /// The HTTP status this kind answers with.
    ///
    /// `400` for [`InvalidRequest`](Self::InvalidRequest), `403` for
    /// [`InsufficientScope`](Self::InsufficientScope), `503` for
    /// [`KeysUnavailable`](Self::KeysUnavailable) and [`Fetch`](Self::Fetch), `500` for
    /// [`Config`](Self::Config) and [`Misconfigured`](Self::Misconfigured), and `401` for a
    /// missing token and every problem with the token itself.
    pub fn status(self) -> u16 {
        match self.class() {
            Class::BadRequest => 400,
            Class::NoToken
            | Class::BadToken
            | Class::BadProof
            | Class::NonceNeeded
            | Class::StepUp => 401,
            Class::Forbidden => 403,
            Class::ServerFault => 500,
            Class::Unavailable => 503,
        }
    }

    /// The gRPC status code this kind answers with, in a trailers-only gRPC response.
    ///
    /// `16` (`UNAUTHENTICATED`) for a missing, malformed or refused credential (every `400`
    /// and `401`), `7` (`PERMISSION_DENIED`) for a missing role or scope, `14`
    /// (`UNAVAILABLE`) when keys or the authorization server are unavailable, `13`
    /// (`INTERNAL`) for a server fault.
    pub fn grpc_code(self) -> u8 {
        match self.class() {
            Class::BadRequest
            | Class::NoToken
            | Class::BadToken
            | Class::BadProof
            | Class::NonceNeeded
            | Class::StepUp => 16,
            Class::Forbidden => 7,
            Class::ServerFault => 13,
            Class::Unavailable => 14,
        }
    }

    /// The RFC 6750 `error` code, if this kind has one.
    ///
    /// `None` for a missing token (RFC 6750 §3.1: no error code when the request had no
    /// authentication) and for server-side kinds.
    pub fn bearer_code(self) -> Option<&'static str> {
        match self.class() {
            Class::BadRequest => Some("invalid_request"),
            Class::BadToken => Some("invalid_token"),
            Class::BadProof => Some("invalid_dpop_proof"),
            Class::NonceNeeded => Some("use_dpop_nonce"),
            Class::Forbidden => Some("insufficient_scope"),
            Class::StepUp => Some("insufficient_user_authentication"),
            Class::NoToken | Class::ServerFault | Class::Unavailable => None,
        }
    }

    /// The `error` member of the JSON body: the RFC 6750 code where there is one, else the
    /// name of the situation (`missing_token`, `temporarily_unavailable`, `server_error`).
    pub fn body_code(self) -> &'static str {
        match self.class() {
            Class::NoToken => "missing_token",
            Class::BadRequest => "invalid_request",
            Class::BadToken => "invalid_token",
            Class::BadProof => "invalid_dpop_proof",
            Class::NonceNeeded => "use_dpop_nonce",
            Class::Forbidden => "insufficient_scope",
            Class::StepUp => "insufficient_user_authentication",
            Class::ServerFault => "server_error",
            Class::Unavailable => "temporarily_unavailable",
        }
    }

    /// A short description fit to show to a client (it says which check failed, nothing
    /// more). Used as `error_description` when that is switched on.
    pub fn description(self) -> &'static str {
        match self {
            Self::MissingToken => "no credential in the request",
            Self::InvalidRequest => "the request carries a malformed or duplicated credential",
            Self::TokenTooLarge => "the credential is too large",
            Self::Malformed => "the token is malformed",
            Self::AlgorithmNotAllowed => "the token's algorithm is not allowed",
            Self::UnsupportedHeader => "the token's header is not supported",
            Self::InvalidType => "the token's type is not accepted",
            Self::UnknownKey => "the token's signing key is unknown",
            Self::AmbiguousKey => "the token's signing key is ambiguous",
            Self::KeyMismatch => "the token's signing key may not be used this way",
            Self::InvalidSignature => "the token's signature is invalid",
            Self::InvalidIssuer => "the token's issuer is not trusted",
            Self::InvalidAudience => "the token is meant for another audience",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::IssuedInFuture => "the token is issued in the future",
            Self::TooOld => "the token is too old",
            Self::MissingClaim => "the token lacks a required claim",
            Self::InvalidClaim => "the token has an invalid claim",
            Self::Rejected => "the token was rejected",
            Self::UnknownApiKey => "the API key is not known",
            Self::InvalidDpopProof => "the DPoP proof is missing or not acceptable",
            Self::UseDpopNonce => "the DPoP proof must carry the server's nonce",
            Self::InsufficientScope => "the credential lacks a required role or scope",
            Self::InsufficientUserAuthentication => {
                "a different or more recent authentication is required"
            }
            Self::KeysUnavailable | Self::Fetch => "the credential can't be checked right now",
            Self::Config | Self::Misconfigured => "the server is misconfigured",
        }
    }
}

impl Error {
    /// A new error of `kind`. `detail` says what failed; it must not contain token data.
    pub fn new(kind: ErrorKind, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                detail: detail.into(),
                scope: None,
                step_up: None,
                nonce: None,
                source: None,
            }),
        }
    }

    /// An [`ErrorKind::Rejected`] error, for the user's own claim validators.
    ///
    /// ```
    /// let err = jwtguard_core::Error::rejected("tenant is suspended");
    /// assert!(err.is_rejected());
    /// assert_eq!(err.status(), 401);
    /// ```
    pub fn rejected(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Rejected, detail)
    }

    /// An [`ErrorKind::InsufficientScope`] error naming the scopes that would have been
    /// enough (sent as the `scope` attribute of the challenge).
    pub fn insufficient_scope(detail: impl Into<Cow<'static, str>>, scope: Option<String>) -> Self {
        let mut err = Self::new(ErrorKind::InsufficientScope, detail);
        err.inner.scope = scope;
        err
    }

    /// An [`ErrorKind::InsufficientUserAuthentication`] error (RFC 9470): `acr_values`, the
    /// acceptable `acr` values space-separated, and `max_age`, the most seconds since the
    /// user's authentication, are sent in the challenge.
    ///
    /// ```
    /// let err = jwtguard_core::Error::insufficient_user_authentication(
    ///     "acr mfa",
    ///     Some("mfa".into()),
    ///     Some(300),
    /// );
    /// assert_eq!(err.status(), 401);
    /// assert_eq!(err.bearer_code(), Some("insufficient_user_authentication"));
    /// assert_eq!((err.required_acr_values(), err.required_max_age()), (Some("mfa"), Some(300)));
    /// ```
    pub fn insufficient_user_authentication(
        detail: impl Into<Cow<'static, str>>,
        acr_values: Option<String>,
        max_age: Option<u64>,
    ) -> Self {
        let mut err = Self::new(ErrorKind::InsufficientUserAuthentication, detail);
        err.inner.step_up = Some(StepUp {
            acr_values,
            max_age,
        });
        err
    }

    /// An [`ErrorKind::UseDpopNonce`] error carrying the nonce to send back in the
    /// `DPoP-Nonce` header.
    pub fn use_dpop_nonce(nonce: String) -> Self {
        let mut err = Self::new(
            ErrorKind::UseDpopNonce,
            "the DPoP proof lacks the current nonce",
        );
        err.inner.nonce = Some(nonce);
        err
    }

    /// The nonce of an [`ErrorKind::UseDpopNonce`] error, for the `DPoP-Nonce` header.
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.inner.nonce.as_deref()
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// A copy of the kind, the detail and the scope (not the source), for an error that
    /// several waiters share.
    pub(crate) fn duplicate(&self) -> Self {
        let mut copy = Self::new(self.inner.kind, self.inner.detail.clone());
        copy.inner.scope.clone_from(&self.inner.scope);
        copy.inner.step_up.clone_from(&self.inner.step_up);
        copy.inner.nonce.clone_from(&self.inner.nonce);
        copy
    }

    /// What failed, without the kind's description (which [`Display`](fmt::Display) puts
    /// first).
    pub fn detail(&self) -> &str {
        &self.inner.detail
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The HTTP status to answer with (see [`ErrorKind::status`]).
    pub fn status(&self) -> u16 {
        self.inner.kind.status()
    }

    /// The RFC 6750 `error` code (see [`ErrorKind::bearer_code`]).
    pub fn bearer_code(&self) -> Option<&'static str> {
        self.inner.kind.bearer_code()
    }

    /// The scopes that would have satisfied a failed scope requirement, space-separated.
    pub fn required_scope(&self) -> Option<&str> {
        self.inner.scope.as_deref()
    }

    /// The `acr` values that would have satisfied a failed step-up requirement (RFC 9470),
    /// space-separated.
    pub fn required_acr_values(&self) -> Option<&str> {
        self.inner.step_up.as_ref()?.acr_values.as_deref()
    }

    /// The most seconds since the user's authentication that a failed step-up requirement
    /// allows (RFC 9470 `max_age`).
    pub fn required_max_age(&self) -> Option<u64> {
        self.inner.step_up.as_ref()?.max_age
    }

    /// The request had no token.
    pub fn is_missing_token(&self) -> bool {
        self.kind() == ErrorKind::MissingToken
    }

    /// The request was malformed (400).
    pub fn is_invalid_request(&self) -> bool {
        self.kind() == ErrorKind::InvalidRequest
    }

    /// The token itself is not acceptable (401 `invalid_token`).
    pub fn is_invalid_token(&self) -> bool {
        self.bearer_code() == Some("invalid_token")
    }

    /// The token's `exp` has passed.
    pub fn is_expired(&self) -> bool {
        self.kind() == ErrorKind::Expired
    }

    /// The signature did not verify.
    pub fn is_invalid_signature(&self) -> bool {
        self.kind() == ErrorKind::InvalidSignature
    }

    /// A user validator refused the token.
    pub fn is_rejected(&self) -> bool {
        self.kind() == ErrorKind::Rejected
    }

    /// A role or scope requirement failed (403).
    pub fn is_insufficient_scope(&self) -> bool {
        self.kind() == ErrorKind::InsufficientScope
    }

    /// The user's authentication behind a valid token is too weak or too old (401
    /// `insufficient_user_authentication`, RFC 9470).
    pub fn is_insufficient_user_authentication(&self) -> bool {
        self.kind() == ErrorKind::InsufficientUserAuthentication
    }

    /// The keys or the IdP can't be reached: try again later (503).
    pub fn is_unavailable(&self) -> bool {
        self.status() == 503
    }

    /// [`ErrorKind::Misconfigured`]: the application is wired wrongly (an extractor without
    /// its layer, a blocking call inside an async runtime).
    pub fn is_misconfigured(&self) -> bool {
        self.inner.kind == ErrorKind::Misconfigured
    }

    /// The validator or the application is configured wrongly.
    pub fn is_config(&self) -> bool {
        matches!(self.kind(), ErrorKind::Config | ErrorKind::Misconfigured)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("detail", &self.inner.detail);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.inner.kind.description())?;
        if !self.inner.detail.is_empty() {
            write!(f, ": {}", self.inner.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source.as_deref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_rfc_6750() {
        assert_eq!(ErrorKind::MissingToken.status(), 401);
        assert_eq!(ErrorKind::MissingToken.bearer_code(), None);
        assert_eq!(ErrorKind::InvalidRequest.status(), 400);
        assert_eq!(ErrorKind::Expired.bearer_code(), Some("invalid_token"));
        assert_eq!(ErrorKind::InsufficientScope.status(), 403);
        assert_eq!(ErrorKind::KeysUnavailable.status(), 503);
        assert_eq!(ErrorKind::Misconfigured.status(), 500);
        assert_eq!(ErrorKind::MissingToken.body_code(), "missing_token");
        assert_eq!(ErrorKind::Fetch.body_code(), "temporarily_unavailable");
        assert_eq!(ErrorKind::Config.body_code(), "server_error");
        assert_eq!(ErrorKind::TooOld.body_code(), "invalid_token");
        assert_eq!(ErrorKind::UnknownApiKey.status(), 401);
        assert_eq!(
            ErrorKind::UnknownApiKey.bearer_code(),
            Some("invalid_token")
        );
        assert_eq!(ErrorKind::UnknownApiKey.body_code(), "invalid_token");
        let step_up = ErrorKind::InsufficientUserAuthentication;
        assert_eq!((step_up.status(), step_up.grpc_code()), (401, 16));
        assert_eq!(
            (step_up.bearer_code(), step_up.body_code()),
            (
                Some("insufficient_user_authentication"),
                "insufficient_user_authentication"
            )
        );
    }

    #[test]
    fn display_names_the_check_not_the_token() {
        let err = Error::new(
            ErrorKind::InvalidAudience,
            "aud matched none of 1 audience(s)",
        );
        assert_eq!(
            err.to_string(),
            "the token is meant for another audience: aud matched none of 1 audience(s)"
        );
        assert!(err.is_invalid_token());
    }
}
