//! The example API on gRPC (tonic behind the axum layer), with the same command line as the
//! other servers: `--issuer URL --audience AUD [--bind ADDR] [--redis URL] [--introspect
//! CLIENT_ID:CLIENT_SECRET] [--api-keys FILE] [--public-url URL] [--dpop-nonce]`, serving
//! `example.Account`: `WhoAmI` (unary) and `Count` (server streaming, scope `read`), over
//! HTTP/2 without TLS (h2c).

use jwtguard_examples::{grpc_app, serve_axum, start_up};

#[tokio::main]
async fn main() {
    let (args, authenticator) = start_up().await;
    serve_axum(&args, grpc_app(authenticator), "grpc-server (h2c)").await;
}
