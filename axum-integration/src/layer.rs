//! The tower layer that validates the bearer token of every request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_core::response::{IntoResponse, Response};
use http::{HeaderMap, Request};
use jwtguard_core::{RequestAuth, RequestView, Validator};
use tower_layer::Layer;
use tower_service::Service;

use crate::rejection::AuthRejection;

/// Validates the token of every request with a [`Validator`] (from the `Authorization: Bearer`
/// header, or the validator's other [`TokenSource`](jwtguard_core::TokenSource)s), and puts the
/// verified token into the request for [`Claims`](crate::Claims) and the guards.
///
/// By default a request without a valid token is answered at once (401, or 400/503, see
/// [`AuthRejection`]). With [`JwtLayer::optional`], requests without any token go through
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
    validator: Validator,
    optional: bool,
}

impl JwtLayer {
    /// A layer that requires a valid token on every request.
    pub fn new(validator: Validator) -> Self {
        Self {
            validator,
            optional: false,
        }
    }

    /// A layer that lets requests without a token through anonymously (a present but bad
    /// token is still refused).
    pub fn optional(validator: Validator) -> Self {
        Self {
            validator,
            optional: true,
        }
    }
}

impl<S> Layer<S> for JwtLayer {
    type Service = JwtService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtService {
            inner,
            validator: self.validator.clone(),
            optional: self.optional,
        }
    }
}

/// The service made by [`JwtLayer`].
#[derive(Clone, Debug)]
pub struct JwtService<S> {
    inner: S,
    validator: Validator,
    optional: bool,
}

impl<S, B> Service<Request<B>> for JwtService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is the one that is ready; keep a fresh clone for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        let optional = self.optional;
        Box::pin(async move {
            let headers = Headers(request.headers());
            let auth = match RequestAuth::authenticate(&validator, &headers, optional).await {
                Ok(auth) => auth,
                Err(error) => return Ok(reject(error, &validator)),
            };
            request.extensions_mut().insert(auth);
            inner.call(request).await
        })
    }
}

/// The request's headers, as the core's token sources see them.
struct Headers<'a>(&'a HeaderMap);

impl RequestView for Headers<'_> {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.0.get_all(name).iter().map(|v| v.as_bytes()).collect()
    }
}

fn reject(error: jwtguard_core::Error, validator: &Validator) -> Response {
    AuthRejection::new(error, validator.response_options()).into_response()
}
