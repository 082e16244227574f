//! Extractors: the caller's claims as the handler's own type.

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use jwtguard_core::{RequestAuth, VerifiedToken};
use serde::de::DeserializeOwned;

use crate::rejection::AuthRejection;

/// The validated claims, deserialized into `T` (by default the whole claim set as JSON).
///
/// Needs [`JwtLayer`](crate::JwtLayer) on the route; without it the extractor answers 500, as
/// the application is wired wrongly. Claims that don't fit `T` answer 401 `invalid_token`.
/// `Option<Claims<T>>` is `None` for anonymous requests under
/// [`JwtLayer::optional`](crate::JwtLayer::optional).
///
/// ```
/// use jwtguard_axum::Claims;
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

/// The verified token itself: header, registered claims, roles and scopes.
#[derive(Debug, Clone)]
pub struct Authenticated(pub VerifiedToken);

/// The authentication outcome the layer left in the request.
fn request_auth(parts: &Parts) -> Result<&RequestAuth, AuthRejection> {
    Ok(RequestAuth::installed(parts.extensions.get())?)
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Claims(request_auth(parts)?.claims()?))
    }
}

impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(request_auth(parts)?.optional_claims()?.map(Claims))
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Authenticated(request_auth(parts)?.required()?.clone()))
    }
}

impl<S> OptionalFromRequestParts<S> for Authenticated
where
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(request_auth(parts)?.token().cloned().map(Authenticated))
    }
}
