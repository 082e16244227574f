//! The example API on axum: `--issuer URL --audience AUD [--bind ADDR] [--redis URL]
//! [--introspect CLIENT_ID:CLIENT_SECRET] [--api-keys FILE]`, serving `/health`, `/openapi.json`,
//! `/me`, `/admin` (role `admin`) and `/scoped` (scope `write`).

use jwtguard_examples::{axum_app, serve_axum, start_up};

#[tokio::main]
async fn main() {
    let (args, authenticator) = start_up().await;
    serve_axum(&args, axum_app(authenticator), "axum-server").await;
}
