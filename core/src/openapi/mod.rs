//! OpenAPI 3.1 security for utoipa documents (feature `utoipa`): the security schemes an
//! [`Authenticator`](crate::request::Authenticator) accepts, and each operation's requirement
//! taken from the role and scope guards on its handler, so that a requirement is written once.
//!
//! [`OpenApiSecurity`] adds to a document:
//!
//! | scheme name | OpenAPI type | when |
//! |---|---|---|
//! | `openid`, `openid_2`, … | `openIdConnect`, the discovery URL | per issuer whose keys are found by discovery |
//! | `oauth2`, `oauth2_2`, … | `oauth2`, the `clientCredentials` flow with its token URL | per issuer whose metadata names a token endpoint ([`OpenApiSecurity::discover`]), or one given |
//! | `bearer` | `http`, scheme `bearer`, `bearerFormat: JWT` | tokens in `Authorization: Bearer` |
//! | `token_cookie`, `token_header` | `apiKey` in a cookie or header | tokens in a cookie or a header of their own |
//! | `dpop` | `apiKey` in the `Authorization` header, with `x-auth-scheme: DPoP` | DPoP is on (see below) |
//! | `api_key` | `apiKey` in a header or the query | API keys are accepted |
//!
//! **DPoP** (RFC 9449) has no OpenAPI type of its own, and utoipa's `HttpAuthScheme` is a
//! closed list without `DPoP`, so the `dpop` scheme is an `apiKey` in the `Authorization`
//! header whose extensions say what to send: `x-auth-scheme: DPoP`, `x-dpop-proof-header:
//! DPoP` and `x-dpop-signing-alg-values-supported`. Tools that do not know the extensions
//! still show which header carries the credential.
//!
//! With DPoP required, there is no `bearer` scheme, and the `openid` and `oauth2` schemes say
//! `x-dpop-required: true`.
//!
//! **Per operation.** With the feature `utoipa` (of `jwtguard`, or of `jwtguard-axum` and
//! `jwtguard-actix`), a handler's guards, written above its `#[utoipa::path]` (also inside
//! `#[cfg_attr(..)]`), leave their requirement in the operation's `security`;
//! [`OpenApiSecurity::apply`] turns it into one alternative per scheme:
//!
//! - scopes are listed on every scheme (OpenAPI 3.1 lists scopes for `oauth2` and
//!   `openIdConnect`, and role names for the other types);
//! - roles are listed on the schemes that are not `oauth2` or `openIdConnect`;
//! - `any(..)` becomes one alternative per value, stacked guards are all required;
//! - the guards' own words (`"role admin"`) are kept in the operation's
//!   `x-jwtguard-requirements`.
//!
//! Operations without guards need a credential of any accepted scheme (the document's
//! top-level `security`), unless [`OpenApiSecurity::every_route`] is off; a public operation
//! says so with `security(())` in its `#[utoipa::path]` (under a guard, that `()` goes: the
//! guard needs a credential). A guard below `#[utoipa::path]` is not seen (utoipa has already
//! read the attribute), and an operation whose `security` the user wrote keeps those
//! alternatives beside the guards'.
//!
//! ```
//! use jwtguard_core::openapi::OpenApiSecurity;
//! use jwtguard_core::{Authenticator, Validator};
//! use utoipa::openapi::OpenApi;
//!
//! # async fn run() -> Result<(), jwtguard_core::Error> {
//! let validator = Validator::builder()
//!     .issuer("https://idp.example.com/realms/main")
//!     .audience("orders-api")
//!     .build()
//!     .await?;
//! let authenticator = Authenticator::new(validator);
//! // With the token URL from the issuer's metadata (fetched once, here).
//! let security = OpenApiSecurity::discover(&authenticator).await;
//! let mut document = OpenApi::default();
//! security.apply(&mut document);
//! # Ok(()) }
//! ```

mod operations;
mod schemes;

pub use schemes::OpenApiSecurity;
