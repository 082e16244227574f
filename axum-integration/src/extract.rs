//! Extractors: the caller's claims as the handler's own type.

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use jwtguard_core::{Error, ErrorKind, VerifiedToken};
use serde::de::DeserializeOwned;

use crate::context::AuthContext;
use crate::rejection::AuthRejection;

/// The validated claims, deserialized into `T` (by default the whole claim set as JSON).
///
/// Needs [`JwtLayer`](crate::JwtLayer) on the route; without it the extractor answers 500, as
/// the application is wired wrongly. Claims that don't fit `T` answer 401 `invalid_token`.
/// `Option<Claims<T>>` is `None` for anonymous requests under [`JwtLayer::optional`](crate::JwtLayer::optional).
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

fn context(parts: &Parts) -> Result<&AuthContext, AuthRejection> {
    parts.extensions.get::<AuthContext>().ok_or_else(|| {
        AuthRejection::missing_layer("a jwtguard extractor is used on a route without JwtLayer")
    })
}

fn required(context: &AuthContext) -> Result<&VerifiedToken, AuthRejection> {
    context.token.as_ref().ok_or_else(|| {
        AuthRejection::new(
            Error::new(ErrorKind::MissingToken, "no bearer token"),
            context.validator.response_options(),
        )
    })
}

fn typed<T: DeserializeOwned>(
    context: &AuthContext,
    token: &VerifiedToken,
) -> Result<T, AuthRejection> {
    token
        .deserialize()
        .map_err(|e| AuthRejection::new(e, context.validator.response_options()))
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let context = context(parts)?;
        typed(context, required(context)?).map(Claims)
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
        let context = context(parts)?;
        match &context.token {
            Some(token) => typed(context, token).map(|t| Some(Claims(t))),
            None => Ok(None),
        }
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let context = context(parts)?;
        required(context).cloned().map(Authenticated)
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
        Ok(context(parts)?.token.clone().map(Authenticated))
    }
}
