//! Errors that know their status: every failure answers per RFC 6750, exactly as the axum
//! adapter does.

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpResponse, ResponseError};
use jwtguard_core::{Error, Rejection};

/// Why a request was refused: the core [`Error`], rendered with the authenticator's
/// [`ResponseOptions`](jwtguard_core::ResponseOptions).
///
/// | situation | status | `WWW-Authenticate` |
/// |---|---|---|
/// | no token | 401 | `Bearer` |
/// | malformed request (two tokens, bad header) | 400 | `Bearer error="invalid_request"` |
/// | bad token (expired, forged, wrong audience, ...) | 401 | `Bearer error="invalid_token"` |
/// | missing role or scope | 403 | `Bearer error="insufficient_scope"` |
/// | a weaker or older login than required (RFC 9470) | 401 | `Bearer error="insufficient_user_authentication"`, `acr_values`, `max_age` |
/// | keys unavailable (IdP unreachable) | 503 | none |
/// | extractor or guard without [`JwtAuth`](crate::JwtAuth) | 500 | none |
///
/// The body is a small JSON object (`{"error":"invalid_token"}`); it never contains the
/// token.
#[derive(Debug)]
pub struct AuthError(Rejection);

impl AuthError {
    /// The underlying error.
    pub fn error(&self) -> &Error {
        self.0.error()
    }

    /// Turns the rejection back into its error.
    pub fn into_error(self) -> Error {
        self.0.into_error()
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<Rejection> for AuthError {
    fn from(rejection: Rejection) -> Self {
        Self(rejection)
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.error())
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let parts = self.0.render();
        let mut response = HttpResponse::build(self.status());
        for (name, value) in parts.headers() {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.insert_header((name, value));
            }
        }
        response.body(parts.body)
    }
}
