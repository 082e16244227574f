//! The middleware that validates the token of every request.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::HeaderValue;
use actix_web::{HttpMessage, ResponseError};
use futures_util::TryFutureExt as _;
use futures_util::future::{Either, MapOk};
use jwtguard_core::request::{HeaderLookup, RequestView};
use jwtguard_core::{Anonymous, Authenticator, Rejection};

use crate::rejection::AuthError;

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Validates the token of every request with an [`Authenticator`] (or a
/// [`Validator`](jwtguard_core::Validator), which becomes one with the defaults: the token from
/// `Authorization: Bearer`), and puts the outcome into the request for
/// [`Claims`](crate::Claims) and the guards.
///
/// By default a request without a valid token is answered at once (see [`AuthError`]). With
/// [`JwtAuth::optional`], requests without any token go through anonymously, while a bad token
/// is still refused.
///
/// ```no_run
/// use actix_web::{App, HttpServer, get};
/// use jwtguard_actix::{Claims, JwtAuth};
///
/// #[get("/me")]
/// async fn me(Claims(claims): Claims) -> String {
///     claims.to_string()
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let validator = jwtguard_core::Validator::builder()
///     .issuer("https://idp.example.com")
///     .audience("https://api.example.com")
///     .build()
///     .await?;
/// HttpServer::new(move || App::new().wrap(JwtAuth::new(validator.clone())).service(me))
///     .bind("127.0.0.1:8080")?
///     .run()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct JwtAuth {
    authenticator: Authenticator,
    anonymous: Anonymous,
}

impl JwtAuth {
    /// A middleware that requires a valid token on every request.
    pub fn new(authenticator: impl Into<Authenticator>) -> Self {
        Self {
            authenticator: authenticator.into(),
            anonymous: Anonymous::Refused,
        }
    }

    /// A middleware that lets requests without a token through anonymously (a present but bad
    /// token is still refused).
    pub fn optional(authenticator: impl Into<Authenticator>) -> Self {
        Self {
            authenticator: authenticator.into(),
            anonymous: Anonymous::Allowed,
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for JwtAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = JwtAuthService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(JwtAuthService {
            service: Rc::new(service),
            authenticator: self.authenticator.clone(),
            anonymous: self.anonymous,
        }))
    }
}

/// The service made by [`JwtAuth`].
pub struct JwtAuthService<S> {
    service: Rc<S>,
    authenticator: Authenticator,
    anonymous: Anonymous,
}

/// The view of a request the core reads: its headers, query, method, path and peer.
fn view_of(request: &ServiceRequest) -> impl RequestView + '_ {
    let headers = request.headers();
    HeaderLookup::new(|name| headers.get_all(name).map(HeaderValue::as_bytes))
        .with_query(Some(request.query_string()).filter(|query| !query.is_empty()))
        .with_target(request.method().as_str(), request.path())
        .with_peer(request.peer_addr().map(|addr| addr.ip()))
}

/// The answer of [`JwtAuthService`] when the inner service answers: its body on the left.
type Answered<B> = fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>;

/// `request` refused with `rejection`.
fn refused<B>(request: ServiceRequest, rejection: Rejection) -> ServiceResponse<EitherBody<B>> {
    let response = AuthError::from(rejection).error_response();
    request.into_response(response).map_into_right_body()
}

impl<S, B> Service<ServiceRequest> for JwtAuthService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    /// The inner service's future at once when the request was decided without waiting
    /// ([`Authenticator::authenticate_now`]), or a refusal, or the boxed wait.
    type Future = Either<
        MapOk<S::Future, Answered<B>>,
        Either<
            Ready<Result<Self::Response, Self::Error>>,
            LocalBoxFuture<Result<Self::Response, Self::Error>>,
        >,
    >;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let decided = self
            .authenticator
            .authenticate_now(&view_of(&request), self.anonymous);
        match decided {
            Some(Ok(auth)) => {
                request.extensions_mut().insert(auth);
                let answered: Answered<B> = ServiceResponse::map_into_left_body;
                Either::Left(self.service.call(request).map_ok(answered))
            }
            Some(Err(rejection)) => {
                Either::Right(Either::Left(ready(Ok(refused(request, rejection)))))
            }
            None => {
                let service = Rc::clone(&self.service);
                let authenticator = self.authenticator.clone();
                let anonymous = self.anonymous;
                Either::Right(Either::Right(Box::pin(async move {
                    let decided = authenticator
                        .authenticate(&view_of(&request), anonymous)
                        .await;
                    let auth = match decided {
                        Ok(auth) => auth,
                        Err(rejection) => return Ok(refused(request, rejection)),
                    };
                    request.extensions_mut().insert(auth);
                    service
                        .call(request)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                })))
            }
        }
    }
}
