//! Rejections that know their status: every failure answers per RFC 6750.

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::HeaderValue;
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
/// | extractor or guard without [`JwtLayer`](crate::JwtLayer) | 500 | none |
///
/// The body is a small JSON object (`{"error":"invalid_token"}`); it never contains the
/// token.
#[derive(Debug)]
pub struct AuthRejection(Rejection);

impl AuthRejection {
    /// The underlying error.
    pub fn error(&self) -> &Error {
        self.0.error()
    }

    /// Turns the rejection back into its error.
    pub fn into_error(self) -> Error {
        self.0.into_error()
    }

    /// The status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl AuthRejection {
    /// The same refusal as a gRPC trailers-only response: HTTP 200 with no body, and in the
    /// headers `grpc-status` (16 `UNAUTHENTICATED`, 7 `PERMISSION_DENIED`, 14 `UNAVAILABLE`,
    /// 13 `INTERNAL`), `grpc-message`, `cache-control: no-store` and `www-authenticate` (see
    /// [`Rejection::render_grpc`]). [`JwtLayer`](crate::JwtLayer) and
    /// [`RequireLayer`](crate::RequireLayer) answer this way to gRPC calls (a `POST` over
    /// HTTP/2 with `content-type: application/grpc`, `+proto` and the like).
    pub fn into_grpc_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        for (name, value) in self.0.render_grpc() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }

    /// The core's rejection.
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }
}

/// Whether `request` is a gRPC call, answered with gRPC statuses rather than HTTP ones: a
/// `POST` over HTTP/2 whose content type is `application/grpc`, or `application/grpc+…`
/// (`+proto`, `+json`) or with parameters. gRPC-Web and anything else get the HTTP answer.
pub(crate) fn is_grpc<B>(request: &http::Request<B>) -> bool {
    let Some(content_type) = request.headers().get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let content_type = content_type.as_bytes();
    let grpc = content_type
        .strip_prefix(b"application/grpc")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"+") || rest.starts_with(b";"));
    grpc && request.method() == http::Method::POST && request.version() == http::Version::HTTP_2
}

/// `rejection` as the answer to a gRPC call (`grpc`) or to plain HTTP.
pub(crate) fn respond(rejection: Rejection, grpc: bool) -> Response {
    let rejection = AuthRejection::from(rejection);
    if grpc {
        rejection.into_grpc_response()
    } else {
        rejection.into_response()
    }
}

impl From<Rejection> for AuthRejection {
    fn from(rejection: Rejection) -> Self {
        Self(rejection)
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.error())
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let parts = self.0.render();
        let mut response = Response::new(Body::from(parts.body.clone()));
        *response.status_mut() = self.status();
        for (name, value) in parts.headers() {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::is_grpc;
    use http::{Method, Request, Version};

    fn request(method: Method, version: Version, content_type: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .version(version)
            .header("content-type", content_type)
            .body(())
            .unwrap()
    }

    #[test]
    fn only_a_grpc_call_gets_a_grpc_answer() {
        for content_type in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc;x=1",
        ] {
            assert!(is_grpc(&request(
                Method::POST,
                Version::HTTP_2,
                content_type
            )));
        }
        for content_type in [
            "application/grpc-web",
            "application/grpcx",
            "application/json",
        ] {
            assert!(!is_grpc(&request(
                Method::POST,
                Version::HTTP_2,
                content_type
            )));
        }
        // Anyone can send the header: over HTTP/1.1, or with GET, it is plain HTTP (a 401, not
        // a 200 that a cache could keep).
        assert!(!is_grpc(&request(
            Method::POST,
            Version::HTTP_11,
            "application/grpc"
        )));
        assert!(!is_grpc(&request(
            Method::GET,
            Version::HTTP_2,
            "application/grpc"
        )));
    }
}
