//! The tower layer, for hyper and tonic clients.

use std::fmt;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use jwtguard_core::BoxFuture;
use tower_layer::Layer;
use tower_service::Service;
use url::Url;

use super::{Origins, Proofs};
use crate::error::{Error, ErrorKind};
use crate::managed::ManagedToken;

/// The error of a [`BearerService`]: the inner service's, or the token's ([`Error`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A tower layer that attaches `Authorization: Bearer <token>` from a [`ManagedToken`] to
/// requests for the given origins, and to no others; a request that already has an
/// `Authorization` header is left alone.
///
/// When the API answers 401 (or gRPC status 16, `UNAUTHENTICATED`, in the headers) and the
/// token sent is still the current one, the token is renewed once (shared with every request
/// that got the same answer) in the background, so that the next request carries a new one;
/// the answer is not held back. The request itself is not sent again: a request body here is
/// a stream, which can't be replayed.
///
/// For a tonic `Channel` (or any service bound to one origin, whose requests carry only a
/// path), use [`for_channel`](Self::for_channel).
///
/// ```no_run
/// # fn run(token: jwtguard_client::ManagedToken) -> Result<(), jwtguard_client::Error> {
/// use jwtguard_client::BearerLayer;
///
/// // A tonic client: `MyServiceClient::new(tower::ServiceBuilder::new().layer(layer).service(channel))`.
/// let layer = BearerLayer::for_channel(token, "https://orders.example.com")?;
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct BearerLayer {
    token: ManagedToken,
    origins: Origins,
    relative: bool,
    proofs: Proofs,
}

impl fmt::Debug for BearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerLayer")
            .field("origins", &self.origins)
            .field("relative", &self.relative)
            .finish_non_exhaustive()
    }
}

impl BearerLayer {
    /// A layer sending `token` to requests whose absolute URI is on one of `origins`.
    /// Requests with a relative URI get no token.
    ///
    /// # Errors
    /// As [`BearerMiddleware::new`](crate::BearerMiddleware::new).
    pub fn new<I, S>(token: ManagedToken, origins: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self {
            token,
            origins: Origins::parse(origins)?,
            relative: false,
            proofs: Proofs::default(),
        })
    }

    /// A layer for a service bound to `origin` (a tonic `Channel` to it): requests with a
    /// relative URI (a path only, which the service sends to its origin) get the token, and
    /// so do absolute URIs on `origin`. `origin` is checked as for [`new`](Self::new): `https`,
    /// or plain `http` on loopback only.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn for_channel(token: ManagedToken, origin: &str) -> Result<Self, Error> {
        Ok(Self {
            token,
            origins: Origins::parse([origin])?,
            relative: true,
            proofs: Proofs::default(),
        })
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`BearerLayer`].
#[derive(Clone)]
pub struct BearerService<S> {
    inner: S,
    layer: BearerLayer,
}

impl<S> fmt::Debug for BearerService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerService")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl<S> BearerService<S> {
    /// The absolute URL of `request` (for a relative one, on the channel's origin), for a
    /// DPoP proof's `htu`.
    fn target<B>(&self, request: &Request<B>) -> Option<Url> {
        let uri = request.uri();
        if uri.authority().is_some() {
            return Url::parse(&uri.to_string()).ok();
        }
        let path = uri.path_and_query().map_or("/", |path| path.as_str());
        self.layer.origins.first()?.join(path).ok()
    }

    fn attaches<B>(&self, request: &Request<B>) -> bool {
        if request.headers().contains_key(AUTHORIZATION) {
            return false;
        }
        let uri = request.uri();
        if uri.authority().is_none() {
            return self.layer.relative;
        }
        self.layer.origins.allows_uri(uri)
    }
}

/// Whether an answer says the token was refused: 401, or gRPC `UNAUTHENTICATED`.
fn refused<B>(response: &Response<B>) -> bool {
    response.status() == StatusCode::UNAUTHORIZED
        || response
            .headers()
            .get("grpc-status")
            .is_some_and(|status| status.as_bytes() == b"16")
}

impl<S, B, R> Service<Request<B>> for BearerService<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<R>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The service that was polled ready handles this request; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !self.attaches(&request) {
            return Box::pin(async move { inner.call(request).await.map_err(Into::into) });
        }
        let token = self.layer.token.clone();
        let target = self.target(&request);
        let proofs = self.layer.proofs.clone();
        Box::pin(async move {
            let sent = token.get().await?;
            request
                .headers_mut()
                .insert(AUTHORIZATION, sent.authorization().clone());
            let mut dpop_url = None;
            if sent.is_dpop() {
                let url = target.ok_or_else(|| {
                    Error::new(ErrorKind::Config, "no URL to sign a DPoP proof for")
                })?;
                let method = request.method().as_str().to_owned();
                if let Some(proof) = proofs.header(&token, &sent, &method, &url)? {
                    request.headers_mut().insert("dpop", proof);
                }
                dpop_url = Some(url);
            }
            let response = inner.call(request).await.map_err(Into::into)?;
            // A nonce serves the next request: a body can't be sent twice here, so a
            // `use_dpop_nonce` answer goes back as it is, and the token is not to blame.
            let nonce_asked = dpop_url.is_some_and(|url| {
                proofs.keep_nonce(&url, response.status().as_u16(), response.headers())
            });
            if refused(&response) && !nonce_asked {
                // The answer goes back at once; the next request carries the new token.
                tokio::spawn(async move {
                    if let Err(err) = token.renew_rejected(&sent).await {
                        tracing::warn!(error = %err, "the API refused the token and no new one could be had");
                    }
                });
            }
            Ok(response)
        })
    }
}
