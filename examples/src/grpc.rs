//! The contract on gRPC: a tonic service `example.Account` behind the axum adapter's layer.
//!
//! | method | kind | auth | answer |
//! |---|---|---|---|
//! | `/example.Account/WhoAmI` | unary | valid credential | the token's `sub` and scopes |
//! | `/example.Account/Count` | server streaming | scope `read` ([`MethodRequireLayer`]) | `1..=up_to`, one message each |
//!
//! The messages and the service are written out here as `tonic-prost-build` would generate
//! them from this `.proto`, so that the example builds without `protoc`:
//!
//! ```text
//! syntax = "proto3";
//! package example;
//! service Account {
//!   rpc WhoAmI(WhoAmIRequest) returns (WhoAmIReply);
//!   rpc Count(CountRequest) returns (stream CountReply);
//! }
//! message WhoAmIRequest {}
//! message WhoAmIReply { string sub = 1; repeated string scopes = 2; }
//! message CountRequest { uint32 up_to = 1; }
//! message CountReply { uint32 number = 1; }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use jwtguard::Authenticator;
use jwtguard::Requirement;
use jwtguard::axum::JwtLayer;
use jwtguard::axum::grpc::{GrpcRequestExt, MethodRequireLayer};
use serde::Deserialize;
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic_prost::ProstCodec;

/// `WhoAmIRequest {}`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WhoAmIRequest {}

/// `WhoAmIReply`: the caller.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WhoAmIReply {
    /// The token's `sub`.
    #[prost(string, tag = "1")]
    pub sub: String,
    /// The token's scopes.
    #[prost(string, repeated, tag = "2")]
    pub scopes: Vec<String>,
}

/// `CountRequest`: how far to count.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct CountRequest {
    /// The last number (at most 1 000).
    #[prost(uint32, tag = "1")]
    pub up_to: u32,
}

/// `CountReply`: one number.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct CountReply {
    /// The number.
    #[prost(uint32, tag = "1")]
    pub number: u32,
}

/// The service's name.
pub const SERVICE: &str = "example.Account";
/// The path of the unary method.
pub const WHO_AM_I: &str = "/example.Account/WhoAmI";
/// The path of the server-streaming method.
pub const COUNT: &str = "/example.Account/Count";

/// The claims `WhoAmI` reads, through the typed accessor.
#[derive(Deserialize)]
struct Caller {
    sub: String,
    #[serde(default)]
    scope: String,
}

async fn who_am_i(
    request: tonic::Request<WhoAmIRequest>,
) -> Result<tonic::Response<WhoAmIReply>, tonic::Status> {
    let caller: Caller = request.claims()?;
    Ok(tonic::Response::new(WhoAmIReply {
        sub: caller.sub,
        scopes: caller.scope.split_whitespace().map(str::to_owned).collect(),
    }))
}

type CountStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<CountReply, tonic::Status>> + Send>>;

async fn count(
    request: tonic::Request<CountRequest>,
) -> Result<tonic::Response<CountStream>, tonic::Status> {
    let up_to = request.into_inner().up_to;
    if up_to > 1_000 {
        return Err(tonic::Status::invalid_argument("up_to is at most 1000"));
    }
    let numbers = futures_util::stream::iter((1..=up_to).map(|number| Ok(CountReply { number })));
    Ok(tonic::Response::new(Box::pin(numbers)))
}

/// The `example.Account` service, as tonic serves it.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccountService;

impl NamedService for AccountService {
    const NAME: &'static str = SERVICE;
}

impl<B> tower::Service<http::Request<B>> for AccountService
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match request.uri().path() {
            WHO_AM_I => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc.unary(tower::service_fn(who_am_i), request).await)
            }),
            COUNT => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc
                    .server_streaming(tower::service_fn(count), request)
                    .await)
            }),
            _ => Box::pin(
                async move { Ok(tonic::Status::unimplemented("no such method").into_http()) },
            ),
        }
    }
}

/// The gRPC server's routes: [`AccountService`] behind [`JwtLayer`] (every method needs a
/// valid credential) and a [`MethodRequireLayer`] (`Count` needs the scope `read`). Serve it
/// over HTTP/2 (`axum::serve` speaks h2c).
pub fn grpc_app(authenticator: impl Into<Authenticator>) -> Router {
    tonic::service::Routes::new(AccountService)
        .into_axum_router()
        .layer(MethodRequireLayer::new().method(COUNT, Requirement::scope("read")))
        .layer(JwtLayer::new(authenticator))
}

/// A client of `example.Account` over any gRPC transport: a tonic `Channel`, or one wrapped
/// in the client side's `BearerLayer::for_channel`.
#[derive(Clone, Debug)]
pub struct AccountClient<T> {
    grpc: tonic::client::Grpc<T>,
}

impl<T> AccountClient<T>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    /// A client sending its calls through `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            grpc: tonic::client::Grpc::new(transport),
        }
    }

    async fn ready(&mut self) -> Result<(), tonic::Status> {
        self.grpc.ready().await.map_err(|err| {
            tonic::Status::unknown(format!("the service is not ready: {}", err.into()))
        })
    }

    /// Calls `WhoAmI`.
    pub async fn who_am_i(
        &mut self,
        request: tonic::Request<WhoAmIRequest>,
    ) -> Result<tonic::Response<WhoAmIReply>, tonic::Status> {
        self.ready().await?;
        let path = http::uri::PathAndQuery::from_static(WHO_AM_I);
        self.grpc.unary(request, path, ProstCodec::default()).await
    }

    /// Calls `Count`.
    pub async fn count(
        &mut self,
        request: tonic::Request<CountRequest>,
    ) -> Result<tonic::Response<tonic::codec::Streaming<CountReply>>, tonic::Status> {
        self.ready().await?;
        let path = http::uri::PathAndQuery::from_static(COUNT);
        self.grpc
            .server_streaming(request, path, ProstCodec::default())
            .await
    }
}
