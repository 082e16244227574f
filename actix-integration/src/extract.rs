//! Extractors: the caller's claims as the handler's own type.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use jwtguard_core::{Rejection, RequestAuth, VerifiedToken};
use serde::de::DeserializeOwned;

use crate::rejection::AuthError;

/// The validated claims, deserialized into `T` (by default the whole claim set as JSON).
///
/// Needs [`JwtAuth`](crate::JwtAuth) on the app or scope; without it the extractor answers
/// 500, as the application is wired wrongly. Claims that don't fit `T` answer 401
/// `invalid_token`. For optional authentication use [`MaybeClaims<T>`] under
/// [`JwtAuth::optional`](crate::JwtAuth::optional).
///
/// ```
/// use jwtguard_actix::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct User {
///     sub: String,
///     #[serde(default)]
///     roles: Vec<String>,
/// }
///
/// async fn me(Claims(user): Claims<User>) -> String {
///     format!("{} ({})", user.sub, user.roles.join(", "))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Claims<T = serde_json::Value>(pub T);

/// The claims of an optionally authenticated request: `None` when it had no token. Unlike
/// `Option<Claims<T>>` (which actix turns into `None` on any error), claims that don't fit `T`
/// still answer 401 and a missing middleware 500.
#[derive(Debug, Clone)]
pub struct MaybeClaims<T = serde_json::Value>(pub Option<T>);

/// The verified token itself: header, registered claims, roles and scopes.
#[derive(Debug, Clone)]
pub struct Authenticated(pub VerifiedToken);

/// The verified token of an optionally authenticated request: `None` when it had no token.
/// (actix's own `Option<Authenticated>` would also turn a missing middleware into `None`.)
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<VerifiedToken>);

/// What `use_it` makes of the authentication outcome the middleware left in the request.
fn with_request_auth<R>(
    request: &HttpRequest,
    use_it: impl FnOnce(&RequestAuth) -> Result<R, Rejection>,
) -> Result<R, AuthError> {
    Ok(use_it(RequestAuth::installed(request.extensions().get())?)?)
}

impl<T: DeserializeOwned> FromRequest for Claims<T> {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(with_request_auth(request, RequestAuth::claims).map(Claims))
    }
}

impl<T: DeserializeOwned> FromRequest for MaybeClaims<T> {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(with_request_auth(request, RequestAuth::optional_claims).map(MaybeClaims))
    }
}

impl FromRequest for Authenticated {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(with_request_auth(request, |auth| auth.required().cloned()).map(Authenticated))
    }
}

impl FromRequest for MaybeAuthenticated {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(with_request_auth(request, |auth| Ok(auth.token().cloned())).map(MaybeAuthenticated))
    }
}
