//! jwtguard protects web APIs with OAuth 2.0 / OpenID Connect access tokens.
//!
//! One framework-independent core (re-exported here) validates tokens strictly: RFC 8725,
//! RFC 9068 and RFC 6750, keys found by discovery and swapped atomically, the algorithm always
//! taken from the key and the configuration, never from the token. Adapters put it into web
//! frameworks:
//!
//! - feature `axum`: [`axum`] (`jwtguard::axum::{JwtLayer, Claims, RequireLayer}`);
//! - feature `actix`: [`actix`] (`jwtguard::actix::{JwtAuth, Claims, Require}`);
//! - feature `client`: [`client`], tokens for the service's own outgoing calls
//!   (`jwtguard::client::{TokenManager, BearerMiddleware, BearerLayer}`);
//! - feature `blocking`: [`blocking`], the validator (and, with `client`, the token manager)
//!   for programs without an async runtime;
//! - feature `redis`: a key cache (and a store for the client side's tokens) shared by
//!   instances through Redis;
//! - feature `utoipa`: `openapi`, the security of a utoipa OpenAPI document from the
//!   configuration and the guards (`jwtguard::openapi::OpenApiSecurity`);
//! - feature `tonic`: `jwtguard::axum::grpc`, tonic services behind the axum layer (implies
//!   `axum`);
//! - feature `test-util`: [`testkit`], a local issuer and token minting for your tests.
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use ::axum::{Router, routing::get};
//! use jwtguard::axum::{Claims, JwtLayer, RequireLayer};
//!
//! #[derive(serde::Deserialize)]
//! struct User { sub: String }
//!
//! let validator = jwtguard::Validator::builder()
//!     .issuer("https://idp.example.com")
//!     .audience("https://api.example.com")
//!     .build()
//!     .await?;
//! let app: Router = Router::new()
//!     .route("/me", get(|Claims(user): Claims<User>| async move { user.sub }))
//!     .layer(JwtLayer::new(validator));
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
pub use jwtguard_core::*;

/// The axum adapter (feature `axum`).
#[cfg(feature = "axum")]
pub use jwtguard_axum as axum;

/// The actix-web adapter (feature `actix`).
#[cfg(feature = "actix")]
pub use jwtguard_actix as actix;

/// The client side (feature `client`): tokens for outgoing calls.
#[cfg(feature = "client")]
pub use jwtguard_client as client;

/// The blocking front (feature `blocking`): for programs without an async runtime. Called
/// inside an async runtime, each call returns an error that says what to do instead (in
/// release builds too); a `spawn_blocking` closure opts in with [`allow_in_blocking_task`](blocking::allow_in_blocking_task).
#[cfg(feature = "blocking")]
pub mod blocking {
    pub use jwtguard_core::blocking::{Runtime, Validator, allow_in_blocking_task};

    #[cfg(feature = "client")]
    pub use jwtguard_client::blocking::{ManagedToken, TokenManager};
}

/// The test kit (feature `test-util`).
#[cfg(feature = "test-util")]
pub use jwtguard_testkit as testkit;
