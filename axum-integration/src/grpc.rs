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
use jwtguard_core::{Rejection, RequestAuth, Requirement, VerifiedToken};
use serde::de::DeserializeOwned;
use tonic::metadata::{MetadataMap, MetadataValue};
use tower_layer::Layer;
use tower_service::Service;

use crate::rejection::AuthRejection;

/// `rejection` as a `tonic::Status`: its gRPC code and message, and `www-authenticate` (and
/// `dpop-nonce`) in the metadata.
fn status(rejection: &Rejection) -> tonic::Status {
    let kind = rejection.error().kind();
    let mut metadata = MetadataMap::new();
    for (name, value) in rejection.render_grpc() {
        // The status carries its code and message itself.
        if matches!(name, "grpc-status" | "grpc-message" | "content-type") {
            continue;
        }
        if let Ok(value) = MetadataValue::try_from(value.as_str()) {
            metadata.insert(name, value);
        }
    }
    tonic::Status::with_metadata(
        tonic::Code::from(i32::from(kind.grpc_code())),
        kind.body_code(),
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
/// (`/<package>.<Service>/<Method>`). A call to a listed method whose token does not meet the
/// requirement gets status 7 (`PERMISSION_DENIED`) before the service sees it, for unary and
/// streaming methods alike; other methods pass. Goes inside [`JwtLayer`](crate::JwtLayer).
#[derive(Clone, Debug, Default)]
pub struct MethodRequireLayer {
    methods: Arc<HashMap<String, Requirement>>,
}

impl MethodRequireLayer {
    /// No method guarded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Guards the method at `path` (`/<package>.<Service>/<Method>`) with `requirement`,
    /// replacing an earlier one for the same path.
    pub fn method(mut self, path: impl Into<String>, requirement: Requirement) -> Self {
        Arc::make_mut(&mut self.methods).insert(path.into(), requirement);
        self
    }
}

impl<S> Layer<S> for MethodRequireLayer {
    type Service = MethodRequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MethodRequireService {
            inner,
            methods: Arc::clone(&self.methods),
        }
    }
}

/// The service made by [`MethodRequireLayer`].
#[derive(Clone, Debug)]
pub struct MethodRequireService<S> {
    inner: S,
    methods: Arc<HashMap<String, Requirement>>,
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
        let checked = self
            .methods
            .get(request.uri().path())
            .map(|requirement| RequestAuth::check(request.extensions().get(), requirement));
        match checked {
            Some(Err(rejection)) => {
                let response = AuthRejection::from(rejection).into_grpc_response();
                Box::pin(async move { Ok(response) })
            }
            None | Some(Ok(())) => Box::pin(self.inner.call(request)),
        }
    }
}
