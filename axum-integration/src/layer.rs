//! The tower layer that validates the bearer token of every request.

use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_core::response::Response;
use futures_util::future::Either;
use http::{HeaderValue, Request};
use jwtguard_core::request::{ClientAddr, HeaderLookup, RequestView};
use jwtguard_core::{Anonymous, Authenticator};
use tower_layer::Layer;
use tower_service::Service;

use crate::rejection::{is_grpc, respond};

/// Validates the token of every request with an [`Authenticator`] (or a
/// [`Validator`](jwtguard_core::Validator), which becomes one with the defaults: the token from
/// `Authorization: Bearer`), and puts the verified token into the request for
/// [`Claims`](crate::Claims) and the guards.
///
/// By default a request without a valid token is answered at once (401, or 400/503, see
/// [`AuthRejection`](crate::AuthRejection)); a gRPC call (a tonic service behind the layer)
/// gets the gRPC status instead, in a trailers-only response with `www-authenticate`. With
/// [`JwtLayer::optional`], requests without any token go through
/// anonymously (`Option<Claims<T>>` is `None`), while a bad token is still refused.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use jwtguard_axum::{Claims, JwtLayer};
///
/// # async fn run() -> Result<(), jwtguard_core::Error> {
/// let validator = jwtguard_core::Validator::builder()
///     .issuer("https://idp.example.com")
///     .audience("https://api.example.com")
///     .build()
///     .await?;
/// let app: Router = Router::new()
///     .route("/me", get(|Claims(claims): Claims| async move { claims.to_string() }))
///     .layer(JwtLayer::new(validator));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct JwtLayer {
    authenticator: Authenticator,
    anonymous: Anonymous,
}

impl JwtLayer {
    /// A layer that requires a valid token on every request.
    pub fn new(authenticator: impl Into<Authenticator>) -> Self {
        Self {
            authenticator: authenticator.into(),
            anonymous: Anonymous::Refused,
        }
    }

    /// A layer that lets requests without a token through anonymously (a present but bad
    /// token is still refused).
    pub fn optional(authenticator: impl Into<Authenticator>) -> Self {
        Self {
            authenticator: authenticator.into(),
            anonymous: Anonymous::Allowed,
        }
    }
}

impl<S> Layer<S> for JwtLayer {
    type Service = JwtService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtService {
            inner,
            authenticator: self.authenticator.clone(),
            anonymous: self.anonymous,
        }
    }
}

/// The service made by [`JwtLayer`].
#[derive(Clone, Debug)]
pub struct JwtService<S> {
    inner: S,
    authenticator: Authenticator,
    anonymous: Anonymous,
}

/// The view of a request the core reads: its headers, query, method, path and peer.
fn view_of<B>(request: &Request<B>) -> impl RequestView + '_ {
    let headers = request.headers();
    HeaderLookup::new(|name| headers.get_all(name).into_iter().map(HeaderValue::as_bytes))
        .with_query(request.uri().query())
        .with_target(request.method().as_str(), request.uri().path())
        .with_peer(request.extensions().get::<ClientAddr>().map(|addr| addr.0))
}

/// The future of [`JwtService`]: the inner service's, at once when the request was decided
/// without waiting ([`Authenticator::authenticate_now`]), or a refusal, or the boxed wait.
type JwtFuture<F, E> =
    Either<F, Either<Ready<Result<Response, E>>, BoxFuture<Result<Response, E>>>>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for JwtService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = JwtFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let decided = self
            .authenticator
            .authenticate_now(&view_of(&request), self.anonymous);
        match decided {
            Some(Ok(auth)) => {
                request.extensions_mut().insert(auth);
                Either::Left(self.inner.call(request))
            }
            Some(Err(rejection)) => {
                // The ready service is not called: a fresh clone takes its place, so that what
                // its readiness holds (a permit, a slot) goes now.
                let clone = self.inner.clone();
                drop(std::mem::replace(&mut self.inner, clone));
                let response = respond(rejection, is_grpc(&request));
                Either::Right(Either::Left(std::future::ready(Ok(response))))
            }
            None => {
                // The clone is the one that is ready; keep a fresh clone for the next call.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let authenticator = self.authenticator.clone();
                let anonymous = self.anonymous;
                Either::Right(Either::Right(Box::pin(async move {
                    let decided = authenticator
                        .authenticate(&view_of(&request), anonymous)
                        .await;
                    match decided {
                        Ok(auth) => {
                            request.extensions_mut().insert(auth);
                            inner.call(request).await
                        }
                        Err(rejection) => Ok(respond(rejection, is_grpc(&request))),
                    }
                })))
            }
        }
    }
}
