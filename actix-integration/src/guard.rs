//! Role and scope guards for scopes of routes, as middleware. (actix's routing guards only
//! match or don't match, and a failed one answers 404: role checks must answer 403.)

use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::Payload;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError};
use jwtguard_core::__private::StaticRequirement;
use jwtguard_core::{RequestAuth, Requirement};

use crate::rejection::AuthError;

/// Refuses requests whose token does not meet a [`Requirement`], as the requirement's
/// kind says: 403 `insufficient_scope` for a role or scope, 401 `invalid_token` for another
/// audience, 401 `insufficient_user_authentication` for a weaker or older login (RFC 9470).
/// Wrap it inside [`JwtAuth`](crate::JwtAuth) (`JwtAuth` on the app, `Require` on a scope).
///
/// ```
/// use actix_web::{App, web};
/// use jwtguard_actix::Require;
///
/// let app = App::new().service(
///     web::scope("/admin")
///         .wrap(Require::role("admin"))
///         .route("", web::get().to(|| async { "welcome" })),
/// );
/// ```
#[derive(Clone, Debug)]
pub struct Require {
    requirement: Arc<Requirement>,
}

impl Require {
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

impl<S, B> Transform<S, ServiceRequest> for Require
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireService {
            service: Rc::new(service),
            requirement: Arc::clone(&self.requirement),
        }))
    }
}

/// The service made by [`Require`].
pub struct RequireService<S> {
    service: Rc<S>,
    requirement: Arc<Requirement>,
}

impl<S, B> Service<ServiceRequest> for RequireService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let verdict = RequestAuth::check(request.extensions().get(), &self.requirement);
        match verdict {
            Ok(()) => {
                let service = Rc::clone(&self.service);
                Box::pin(async move {
                    service
                        .call(request)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                })
            }
            Err(rejection) => {
                let response = request
                    .into_response(AuthError::from(rejection).error_response())
                    .map_into_right_body();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// The extractor the attribute guards put in front of a handler's arguments: it checks the
/// requirement `R` declares.
#[doc(hidden)]
pub struct Guard<R>(PhantomData<fn() -> R>);

impl<R: StaticRequirement> FromRequest for Guard<R> {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            RequestAuth::check(request.extensions().get(), R::requirement())
                .map(|()| Guard(PhantomData))
                .map_err(AuthError::from),
        )
    }
}
