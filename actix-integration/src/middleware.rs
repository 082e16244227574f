//! The middleware that validates the token of every request.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::HeaderMap;
use actix_web::{HttpMessage, ResponseError};
use jwtguard_core::{RequestAuth, RequestView, Validator};

use crate::rejection::AuthError;

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Validates the token of every request with a [`Validator`] (from the `Authorization: Bearer`
/// header, or the validator's other [`TokenSource`](jwtguard_core::TokenSource)s), and puts the
/// outcome into the request for [`Claims`](crate::Claims) and the guards.
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
    validator: Validator,
    optional: bool,
}

impl JwtAuth {
    /// A middleware that requires a valid token on every request.
    pub fn new(validator: Validator) -> Self {
        Self {
            validator,
            optional: false,
        }
    }

    /// A middleware that lets requests without a token through anonymously (a present but bad
    /// token is still refused).
    pub fn optional(validator: Validator) -> Self {
        Self {
            validator,
            optional: true,
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
            validator: self.validator.clone(),
            optional: self.optional,
        }))
    }
}

/// The service made by [`JwtAuth`].
pub struct JwtAuthService<S> {
    service: Rc<S>,
    validator: Validator,
    optional: bool,
}

/// The request's headers, as the core's token sources see them.
struct Headers<'a>(&'a HeaderMap);

impl RequestView for Headers<'_> {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.0.get_all(name).map(|v| v.as_bytes()).collect()
    }
}

impl<S, B> Service<ServiceRequest> for JwtAuthService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let validator = self.validator.clone();
        let optional = self.optional;
        Box::pin(async move {
            let headers = Headers(request.headers());
            let auth = match RequestAuth::authenticate(&validator, &headers, optional).await {
                Ok(auth) => auth,
                Err(error) => {
                    let response =
                        AuthError::new(error, validator.response_options()).error_response();
                    return Ok(request.into_response(response).map_into_right_body());
                }
            };
            request.extensions_mut().insert(auth);
            service
                .call(request)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}
