//! The one error type of the client side: opaque, with a kind and predicates.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What went wrong while getting a token. The RFC 6749 §5.2 error codes each have a kind;
/// anything the server said beyond its code stays out of the message except a short,
/// printable `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `invalid_client`: the client's credentials were refused. Not retried.
    InvalidClient,
    /// `invalid_grant`: the refresh token (or other grant) is invalid, expired or revoked.
    /// Not retried.
    InvalidGrant,
    /// `unauthorized_client`: this client may not use this grant. Not retried.
    UnauthorizedClient,
    /// `unsupported_grant_type`. Not retried.
    UnsupportedGrantType,
    /// `invalid_scope`: the scope asked for is refused. Not retried.
    InvalidScope,
    /// `invalid_target` (RFC 8707): the resource or audience asked for is refused. Not retried.
    InvalidTarget,
    /// `invalid_request`, or another error code the server sent. Not retried.
    Refused,
    /// The token endpoint can't be reached, timed out, answered 5xx or 429, or its circuit
    /// breaker is open. Retried with backoff; the current token is served while it lasts.
    Unavailable,
    /// The server's answer is not a usable token response (not JSON, no `access_token`, an
    /// unknown `token_type`, over the size cap, ...).
    Protocol,
    /// The configuration is unusable (a bad URL, a key that can't sign, plain http to a
    /// remote host, ...).
    Config,
    /// The program is wired wrongly: a blocking call from inside an async runtime, say.
    Misconfigured,
}

impl ErrorKind {
    /// The RFC 6749 §5.2 code this kind stands for, if it stands for one.
    pub fn oauth_code(self) -> Option<&'static str> {
        Some(match self {
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            _ => return None,
        })
    }

    pub(crate) fn from_oauth_code(code: &str) -> Self {
        match code {
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "invalid_target" => Self::InvalidTarget,
            // RFC 6749 §4.1.2.1 codes a token endpoint may still send.
            "temporarily_unavailable" | "server_error" => Self::Unavailable,
            _ => Self::Refused,
        }
    }
}

/// The error of the client side. Cheap to clone (callers that waited on one token request
/// share it). Its message never holds a secret or a token.
///
/// ```
/// use jwtguard_client::{Error, ErrorKind};
///
/// let err = Error::new(ErrorKind::InvalidClient, "the token endpoint refused the client");
/// assert!(err.is_invalid_client());
/// assert!(!err.is_retryable());
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    detail: Cow<'static, str>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// A new error of `kind`; `detail` says what failed and must hold no secret.
    pub fn new(kind: ErrorKind, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                kind,
                detail: detail.into(),
                source: None,
            }),
        }
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        detail: impl Into<Cow<'static, str>>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                kind,
                detail: detail.into(),
                source: Some(Box::new(source)),
            }),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The RFC 6749 §5.2 code the server answered with, if any.
    pub fn oauth_code(&self) -> Option<&'static str> {
        self.inner.kind.oauth_code()
    }

    /// Whether another try later may succeed ([`ErrorKind::Unavailable`]).
    pub fn is_retryable(&self) -> bool {
        self.inner.kind == ErrorKind::Unavailable
    }

    /// The client's credentials were refused (`invalid_client`).
    pub fn is_invalid_client(&self) -> bool {
        self.inner.kind == ErrorKind::InvalidClient
    }

    /// The grant was refused (`invalid_grant`): a refresh token that is used up or revoked.
    pub fn is_invalid_grant(&self) -> bool {
        self.inner.kind == ErrorKind::InvalidGrant
    }

    /// The client may not use this grant (`unauthorized_client`).
    pub fn is_unauthorized_client(&self) -> bool {
        self.inner.kind == ErrorKind::UnauthorizedClient
    }

    /// The token endpoint can't be used right now.
    pub fn is_unavailable(&self) -> bool {
        self.inner.kind == ErrorKind::Unavailable
    }

    /// The configuration is unusable.
    pub fn is_config(&self) -> bool {
        self.inner.kind == ErrorKind::Config
    }

    /// The program is wired wrongly (a blocking call inside an async runtime).
    pub fn is_misconfigured(&self) -> bool {
        self.inner.kind == ErrorKind::Misconfigured
    }
}

impl From<jwtguard_core::Error> for Error {
    fn from(err: jwtguard_core::Error) -> Self {
        use jwtguard_core::ErrorKind as Core;
        let kind = match err.kind() {
            Core::KeysUnavailable => ErrorKind::Unavailable,
            Core::Config => ErrorKind::Config,
            Core::Misconfigured => ErrorKind::Misconfigured,
            _ => ErrorKind::Protocol,
        };
        Self::with_source(kind, err.detail().to_owned(), err)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("detail", &self.inner.detail)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.detail)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_codes_round_trip() {
        for kind in [
            ErrorKind::InvalidClient,
            ErrorKind::InvalidGrant,
            ErrorKind::UnauthorizedClient,
            ErrorKind::UnsupportedGrantType,
            ErrorKind::InvalidScope,
            ErrorKind::InvalidTarget,
        ] {
            let code = kind.oauth_code().unwrap();
            assert_eq!(ErrorKind::from_oauth_code(code), kind);
        }
        assert_eq!(
            ErrorKind::from_oauth_code("temporarily_unavailable"),
            ErrorKind::Unavailable
        );
        assert_eq!(ErrorKind::from_oauth_code("whatever"), ErrorKind::Refused);
    }
}
