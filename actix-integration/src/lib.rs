//! actix-web 4 adapter for jwtguard.
//!
//! - [`JwtAuth`] validates the token of every request with an
//!   [`Authenticator`](jwtguard_core::Authenticator) (a
//!   [`Validator`](jwtguard_core::Validator) with where to find the token and how to answer);
//! - [`Claims<T>`] hands the claims to handlers as the handler's own type ([`MaybeClaims<T>`]
//!   for optional authentication), [`Authenticated`] the whole verified token
//!   ([`MaybeAuthenticated`] for optional authentication);
//! - [`Require`] guards scopes of routes by role or scope;
//! - [`AuthError`] answers every failure per RFC 6750, exactly as the axum adapter does.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, get};
//! use jwtguard_actix::{Claims, JwtAuth};
//!
//! #[derive(serde::Deserialize)]
//! struct User { sub: String }
//!
//! #[get("/me")]
//! async fn me(Claims(user): Claims<User>) -> String { user.sub }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let validator = jwtguard_core::Validator::builder()
//!     .issuer("https://idp.example.com")
//!     .audience("https://api.example.com")
//!     .build()
//!     .await?;
//! HttpServer::new(move || App::new().wrap(JwtAuth::new(validator.clone())).service(me))
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
mod extract;
mod guard;
mod metadata;
mod middleware;
mod rejection;

pub use extract::{Authenticated, Claims, MaybeAuthenticated, MaybeClaims};
pub use guard::{Require, RequireService};
pub use metadata::resource_metadata_service;
pub use middleware::{JwtAuth, JwtAuthService};
pub use rejection::AuthError;

/// Requires a role on an actix-web handler, with or without actix's route macros:
/// `#[require_role("admin")]`, `#[require_role(any("admin", "ops"))]` or
/// `#[require_role(all("a", "b"))]`. A failure answers 403 `insufficient_scope`; the handler
/// needs [`JwtAuth`] around it.
///
/// ```
/// use actix_web::get;
/// use jwtguard_actix::{Claims, require_role};
///
/// #[get("/admin")]
/// #[require_role("admin")]
/// async fn admin(Claims(claims): Claims) -> String {
///     claims["sub"].to_string()
/// }
/// ```
pub use jwtguard_macros::require_role_actix as require_role;

/// Requires a scope on an actix-web handler: `#[require_scope("orders:write")]`, with
/// `any(..)` and `all(..)` as for [`require_role`].
pub use jwtguard_macros::require_scope_actix as require_scope;

/// Requires the user to have authenticated with an `acr` (RFC 9470):
/// `#[require_acr("mfa")]` or `#[require_acr(any("mfa", "hwk"))]`. A failure answers 401
/// `insufficient_user_authentication` with `acr_values`, so that the client can have the user
/// authenticate again. With [`require_auth_age`] on the same handler, the two make one
/// requirement, and the challenge names both.
pub use jwtguard_macros::require_acr_actix as require_acr;

/// Requires the user to have authenticated at most this many seconds ago (the token's
/// `auth_time`, RFC 9470): `#[require_auth_age(300)]`. A token without `auth_time` counts as
/// too old. A failure answers 401 `insufficient_user_authentication` with `max_age`.
///
/// ```
/// use jwtguard_actix::{require_acr, require_auth_age};
///
/// #[require_acr("mfa")]
/// #[require_auth_age(300)]
/// async fn transfer() -> &'static str {
///     "done"
/// }
/// ```
pub use jwtguard_macros::require_auth_age_actix as require_auth_age;

#[doc(hidden)]
pub mod __private {
    pub use crate::guard::Guard;
    pub use jwtguard_core::__private::*;
}
