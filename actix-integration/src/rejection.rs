//! Errors that know their status: every failure answers per RFC 6750, exactly as the axum
//! adapter does.

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpResponse, ResponseError};
use jwtguard_core::{Error, Rejection, RequestAuth, ResponseOptions};

/// Why a request was refused: the core [`Error`], rendered with the validator's
/// [`ResponseOptions`].
///
/// | situation | status | `WWW-Authenticate` |
/// |---|---|---|
/// | no token | 401 | `Bearer` |
/// | malformed request (two tokens, bad header) | 400 | `Bearer error="invalid_request"` |
/// | bad token (expired, forged, wrong audience, ...) | 401 | `Bearer error="invalid_token"` |
/// | missing role or scope | 403 | `Bearer error="insufficient_scope"` |
/// | keys unavailable (IdP unreachable) | 503 | none |
/// | extractor or guard without [`JwtAuth`](crate::JwtAuth) | 500 | none |
#[derive(Debug)]
pub struct AuthError(Rejection);

impl AuthError {
    pub(crate) fn new(error: Error, options: &ResponseOptions) -> Self {
        Self(Rejection::new(error, options))
    }

    pub(crate) fn for_request(error: Error, auth: &RequestAuth) -> Self {
        Self(Rejection::for_request(error, auth))
    }

    pub(crate) fn plain(error: Error) -> Self {
        Self(Rejection::plain(error))
    }

    /// The underlying error.
    pub fn error(&self) -> &Error {
        self.0.error()
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.error().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let parts = self.0.render();
        let mut response = HttpResponse::build(self.status_code());
        for (name, value) in parts.headers() {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.insert_header((name, value));
            }
        }
        response.body(parts.body)
    }
}
