//! tonic services behind [`JwtLayer`](crate::JwtLayer) (feature `tonic`): the verified token
//! and typed claims in a method, guards per gRPC method, and refusals as `tonic::Status`.
//!
//! The layer answers a gRPC call that it refuses with a trailers-only response: status 16
//! (`UNAUTHENTICATED`) for a missing or bad credential, 14 (`UNAVAILABLE`) when the keys can't
//! be had, each with `www-authenticate` in the metadata. [`RequireLayer`](crate::RequireLayer)
//! (a whole service) and [`MethodRequireLayer`] (per method) answer 7 (`PERMISSION_DENIED`).
//!
//! ```
//! use jwtguard_axum::grpc::{GrpcRequestExt, MethodRequireLayer};
//! use jwtguard_core::Requirement;
//!
//! #[derive(serde::Deserialize)]
//! struct Caller {
//!     sub: String,
//! }
//!
//! // In a method of a tonic service: the caller, or a `Status` to return.
//! fn caller<M>(request: &tonic::Request<M>) -> Result<String, tonic::Status> {
//!     request.require(&Requirement::scope("orders:read"))?;
//!     Ok(request.claims::<Caller>()?.sub)
//! }
//!
//! // Or guards per method, in front of the service (inside `JwtLayer`).
//! let guards = MethodRequireLayer::new()
//!     .method("/orders.Orders/Create", Requirement::scope("orders:write"))
//!     .method("/orders.Orders/Watch", Requirement::scope("orders:read"));
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::Response;
use http::Request;
use jwtguard_core::{Error, Rejection, RequestAuth, Requirement, VerifiedToken};
use serde::de::DeserializeOwned;
use tonic::metadata::{MetadataMap, MetadataValue};
use tower_layer::Layer;
use tower_service::Service;

use crate::guard::call_checked;
use crate::rejection::AuthRejection;

/// `rejection` as a `tonic::Status`: its gRPC code and message, and `www-authenticate` (and
/// `dpop-nonce`) in the metadata.
fn status(rejection: &Rejection) -> tonic::Status {
    let kind = rejection.error().kind();
    let mut metadata = MetadataMap::new();
    for (name, value) in rejection.render_grpc() {
        // The status carries its code and message itself; the rest is the response's.
        if matches!(
            name,
            "grpc-status" | "grpc-message" | "content-type" | "cache-control"
        ) {
            continue;
        }
        if let Ok(value) = MetadataValue::try_from(value.as_str()) {
            metadata.insert(name, value);
        }
    }
    tonic::Status::with_metadata(
        tonic::Code::from(i32::from(kind.grpc_code())),
        rejection.grpc_message(),
        metadata,
    )
}

impl From<AuthRejection> for tonic::Status {
    fn from(rejection: AuthRejection) -> Self {
        status(rejection.rejection())
    }
}

/// What [`JwtLayer`](crate::JwtLayer) left in a tonic request, for the service's methods.
pub trait GrpcRequestExt {
    /// The verified token. A request the layer let through anonymously
    /// ([`JwtLayer::optional`](crate::JwtLayer::optional)) is `UNAUTHENTICATED`; a service
    /// without the layer is `INTERNAL`.
    fn verified_token(&self) -> Result<&VerifiedToken, tonic::Status>;

    /// The token's claims as `T`. Claims that do not fit `T` are `UNAUTHENTICATED`.
    fn claims<T: DeserializeOwned>(&self) -> Result<T, tonic::Status>;

    /// Checks a role or scope requirement: `PERMISSION_DENIED` when it fails.
    fn require(&self, requirement: &Requirement) -> Result<(), tonic::Status>;
}

impl<M> GrpcRequestExt for tonic::Request<M> {
    fn verified_token(&self) -> Result<&VerifiedToken, tonic::Status> {
        RequestAuth::installed(self.extensions().get())
            .and_then(RequestAuth::required)
            .map_err(|rejection| status(&rejection))
    }

    fn claims<T: DeserializeOwned>(&self) -> Result<T, tonic::Status> {
        RequestAuth::installed(self.extensions().get())
            .and_then(RequestAuth::claims)
            .map_err(|rejection| status(&rejection))
    }

    fn require(&self, requirement: &Requirement) -> Result<(), tonic::Status> {
        RequestAuth::check(self.extensions().get(), requirement)
            .map_err(|rejection| status(&rejection))
    }
}

/// Role and scope guards per gRPC method, keyed by the method's path
/// (`/<package>.<Service>/<Method>`), as tonic routes it. A call to a listed method whose token
/// does not meet the requirement gets status 7 (`PERMISSION_DENIED`) before the service sees
/// it, for unary and streaming methods alike. Methods not listed pass, unless
/// [`deny_unlisted`](Self::deny_unlisted). Goes inside [`JwtLayer`](crate::JwtLayer), on the
/// router of tonic's `Routes` itself: under `Router::nest`, the paths it sees carry the
/// prefix.
#[derive(Clone, Debug, Default)]
pub struct MethodRequireLayer {
    methods: Arc<HashMap<String, Requirement>>,
    deny_unlisted: bool,
}

impl MethodRequireLayer {
    /// No method guarded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Guards the method at `path` with `requirement`, replacing an earlier one for the same
    /// path.
    ///
    /// # Panics
    /// When `path` is not a gRPC method path, `/<package>.<Service>/<Method>` (a leading
    /// slash, two non-empty segments, no spaces): a path that can't match would leave the
    /// method unguarded.
    pub fn method(mut self, path: impl Into<String>, requirement: Requirement) -> Self {
        let path = path.into();
        let well_formed = path.strip_prefix('/').is_some_and(|rest| {
            let mut segments = rest.split('/');
            matches!(
                (segments.next(), segments.next(), segments.next()),
                (Some(service), Some(method), None) if !service.is_empty() && !method.is_empty()
            ) && !rest.contains(|c: char| c.is_whitespace() || c == '?' || c == '%')
        });
        assert!(
            well_formed,
            "{path:?} is not a gRPC method path: write /<package>.<Service>/<Method>"
        );
        Arc::make_mut(&mut self.methods).insert(path, requirement);
        self
    }

    /// Refuses every method that is not listed (status 7), so that a method added to the
    /// service later is closed until it is given a requirement. Default: they pass.
    pub fn deny_unlisted(mut self) -> Self {
        self.deny_unlisted = true;
        self
    }
}

impl<S> Layer<S> for MethodRequireLayer {
    type Service = MethodRequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MethodRequireService {
            inner,
            methods: Arc::clone(&self.methods),
            deny_unlisted: self.deny_unlisted,
        }
    }
}

/// The service made by [`MethodRequireLayer`].
#[derive(Clone, Debug)]
pub struct MethodRequireService<S> {
    inner: S,
    methods: Arc<HashMap<String, Requirement>>,
    deny_unlisted: bool,
}

impl<S, B> Service<Request<B>> for MethodRequireService<S>
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
        let checked = match self.methods.get(request.uri().path()) {
            Some(requirement) => RequestAuth::check(request.extensions().get(), requirement),
            None if self.deny_unlisted => RequestAuth::installed(request.extensions().get())
                .and_then(|auth| {
                    Err(auth.reject(Error::insufficient_scope(
                        "a method without a requirement",
                        None,
                    )))
                }),
            None => Ok(()),
        };
        call_checked(&mut self.inner, request, checked)
    }
}

#[cfg(test)]
mod tests {
    use super::MethodRequireLayer;
    use jwtguard_core::Requirement;

    #[test]
    fn a_method_path_that_can_match_is_taken() {
        let _ = MethodRequireLayer::new()
            .method("/orders.Orders/Create", Requirement::scope("w"))
            .method("/Create/Create", Requirement::scope("w"));
    }

    #[test]
    fn a_path_that_can_never_match_is_refused_at_set_up() {
        for path in [
            "orders.Orders/Create",
            "/orders.Orders",
            "/orders.Orders/",
            "//Create",
            "/orders.Orders/Create/",
            "/orders.Orders/Create?x",
            "/orders.Orders/Cre ate",
        ] {
            let result = std::panic::catch_unwind(|| {
                MethodRequireLayer::new().method(path, Requirement::scope("w"))
            });
            assert!(result.is_err(), "{path}");
        }
    }
}
