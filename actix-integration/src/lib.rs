//! actix-web 4 adapter for jwtguard.
//!
//! - [`JwtAuth`] validates the token of every request with a
//!   [`Validator`](jwtguard_core::Validator);
//! - [`Claims<T>`] hands the claims to handlers as the handler's own type ([`MaybeClaims<T>`]
//!   for optional authentication), [`Authenticated`] the whole verified token;
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

mod extract;
mod guard;
mod middleware;
mod rejection;

pub use extract::{Authenticated, Claims, MaybeClaims};
pub use guard::{Require, RequireService};
pub use middleware::{JwtAuth, JwtAuthService};
pub use rejection::AuthError;
