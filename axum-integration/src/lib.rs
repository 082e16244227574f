//! axum 0.8 adapter for jwtguard.
//!
//! - [`JwtLayer`] validates the bearer token of every request with an
//!   [`Authenticator`](jwtguard_core::Authenticator) (a
//!   [`Validator`](jwtguard_core::Validator) with where to find the token and how to answer);
//! - [`Claims<T>`] hands the claims to handlers as the handler's own type
//!   (`Option<Claims<T>>` for optional authentication), [`Authenticated`] the whole verified
//!   token;
//! - [`RequireLayer`] guards route groups by role or scope;
//! - [`AuthRejection`] answers every failure per RFC 6750.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use jwtguard_axum::{Claims, JwtLayer, RequireLayer};
//!
//! #[derive(serde::Deserialize)]
//! struct User { sub: String }
//!
//! async fn me(Claims(user): Claims<User>) -> String { user.sub }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let validator = jwtguard_core::Validator::builder()
//!     .issuer("https://idp.example.com")
//!     .audience("https://api.example.com")
//!     .build()
//!     .await?;
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .merge(Router::new().route("/admin", get(|| async { "hi" })).route_layer(RequireLayer::role("admin")))
//!     .layer(JwtLayer::new(validator));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
mod extract;
#[cfg(feature = "tonic")]
pub mod grpc;
mod guard;
mod layer;
mod metadata;
mod rejection;

pub use extract::{Authenticated, Claims};
pub use guard::{RequireLayer, RequireService};
pub use layer::{JwtLayer, JwtService};
pub use metadata::resource_metadata_router;
pub use rejection::AuthRejection;

/// Requires a role on an axum handler: `#[require_role("admin")]`,
/// `#[require_role(any("admin", "ops"))]` or `#[require_role(all("a", "b"))]`. A failure
/// answers 403 `insufficient_scope`; the handler needs [`JwtLayer`] on its route.
///
/// ```
/// use jwtguard_axum::{Claims, require_role};
///
/// #[require_role(any("admin", "ops"))]
/// async fn admin(Claims(claims): Claims) -> String {
///     claims["sub"].to_string()
/// }
/// ```
pub use jwtguard_macros::require_role_axum as require_role;

/// Requires a scope on an axum handler: `#[require_scope("orders:write")]`, with `any(..)` and
/// `all(..)` as for [`require_role`].
pub use jwtguard_macros::require_scope_axum as require_scope;

/// Requires the user to have authenticated with an `acr` (RFC 9470):
/// `#[require_acr("mfa")]` or `#[require_acr(any("mfa", "hwk"))]`. A failure answers 401
/// `insufficient_user_authentication` with `acr_values`, so that the client can have the user
/// authenticate again. With [`require_auth_age`] on the same handler, the two make one
/// requirement, and the challenge names both.
pub use jwtguard_macros::require_acr_axum as require_acr;

/// Requires the user to have authenticated at most this many seconds ago (the token's
/// `auth_time`, RFC 9470): `#[require_auth_age(300)]`. A token without `auth_time` counts as
/// too old. A failure answers 401 `insufficient_user_authentication` with `max_age`.
///
/// ```
/// use jwtguard_axum::{require_acr, require_auth_age};
///
/// #[require_acr("mfa")]
/// #[require_auth_age(300)]
/// async fn transfer() -> &'static str {
///     "done"
/// }
/// ```
pub use jwtguard_macros::require_auth_age_axum as require_auth_age;

#[doc(hidden)]
pub mod __private {
    pub use crate::guard::Guard;
    pub use jwtguard_core::__private::*;
}
