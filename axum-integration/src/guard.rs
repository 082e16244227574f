//! Role and scope guards for route groups, as tower layers.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::extract::FromRequestParts;
use axum_core::response::Response;
use http::Request;
use http::request::Parts;
use jwtguard_core::__private::StaticRequirement;
use jwtguard_core::{Rejection, RequestAuth, Requirement};
use tower_layer::Layer;
use tower_service::Service;

use crate::rejection::{AuthRejection, is_grpc, respond};

/// Refuses requests whose token does not meet a [`Requirement`], as the requirement's kind
/// says (a gRPC call: status 7 or 16): 403 `insufficient_scope` for a role or scope, 401 `invalid_token` for another
/// audience, 401 `insufficient_user_authentication` for a weaker or older login (RFC 9470).
/// Goes inside [`JwtLayer`](crate::JwtLayer) (add it to the routes first, then `JwtLayer` to
/// the router).
///
/// ```
/// use axum::{Router, routing::get};
/// use jwtguard_axum::RequireLayer;
///
/// let admin: Router = Router::new()
///     .route("/admin", get(|| async { "welcome" }))
///     .route_layer(RequireLayer::role("admin"));
/// let writers: Router = Router::new()
///     .route("/orders", get(|| async { "ok" }))
///     .route_layer(RequireLayer::any_scope(["orders:write", "orders:admin"]));
/// ```
#[derive(Clone, Debug)]
pub struct RequireLayer {
    requirement: Arc<Requirement>,
}

impl RequireLayer {
    /// A guard for any requirement.
    pub fn new(requirement: Requirement) -> Self {
        Self {
            requirement: Arc::new(requirement),
        }
    }

    /// The token must have this role.
    pub fn role(role: impl Into<String>) -> Self {
        Self::new(Requirement::role(role))
    }

    /// The token must have at least one of these roles.
    pub fn any_role<I: IntoIterator<Item: Into<String>>>(roles: I) -> Self {
        Self::new(Requirement::any_role(roles))
    }

    /// The token must have all of these roles.
    pub fn all_roles<I: IntoIterator<Item: Into<String>>>(roles: I) -> Self {
        Self::new(Requirement::all_roles(roles))
    }

    /// The token must have this scope.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::new(Requirement::scope(scope))
    }

    /// The token must have at least one of these scopes.
    pub fn any_scope<I: IntoIterator<Item: Into<String>>>(scopes: I) -> Self {
        Self::new(Requirement::any_scope(scopes))
    }

    /// The token must have all of these scopes.
    pub fn all_scopes<I: IntoIterator<Item: Into<String>>>(scopes: I) -> Self {
        Self::new(Requirement::all_scopes(scopes))
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            requirement: Arc::clone(&self.requirement),
        }
    }
}

/// The service made by [`RequireLayer`].
#[derive(Clone, Debug)]
pub struct RequireService<S> {
    inner: S,
    requirement: Arc<Requirement>,
}

impl<S, B> Service<Request<B>> for RequireService<S>
where
    S: Service<Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let checked = RequestAuth::check(request.extensions().get(), &self.requirement);
        call_checked(&mut self.inner, request, checked)
    }
}

/// The future of a guard's service: `inner` with `request` when `checked` passed, else the
/// refusal (in gRPC form for a gRPC call).
pub(crate) fn call_checked<S, B>(
    inner: &mut S,
    request: Request<B>,
    checked: Result<(), Rejection>,
) -> Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>
where
    S: Service<Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    match checked {
        Ok(()) => Box::pin(inner.call(request)),
        Err(rejection) => {
            let response = respond(rejection, is_grpc(&request));
            Box::pin(async move { Ok(response) })
        }
    }
}

/// The extractor the attribute guards put in front of a handler's arguments: it checks the
/// requirement `R` declares.
#[doc(hidden)]
pub struct Guard<R>(PhantomData<fn() -> R>);

impl<S, R> FromRequestParts<S> for Guard<R>
where
    S: Send + Sync,
    R: StaticRequirement,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        RequestAuth::check(parts.extensions.get(), R::requirement())?;
        Ok(Guard(PhantomData))
    }
}
