//! A test kit for code protected by jwtguard: generate keys, mint tokens (malformed ones
//! included), and run a local OpenID issuer on loopback that serves discovery, JWKS and an
//! OAuth 2.0 token endpoint (`client_credentials` and `refresh_token` grants) over real HTTP.
//!
//! ```no_run
//! use jwtguard_testkit::{DEFAULT_AUDIENCE, Issuer};
//!
//! # async fn run() {
//! let issuer = Issuer::start().await;
//! // Point the validator under test at `issuer.url()` with audience `DEFAULT_AUDIENCE`, then:
//! let token = issuer.token().claim("roles", vec!["admin"]).sign();
//! let expired = issuer.token().claim("exp", 1_000).sign();
//! let forged = issuer.token().with_builder(|b| b.with_signature(&[0; 256]));
//! # let _ = (token, expired, forged, DEFAULT_AUDIENCE);
//! # }
//! ```
//!
//! Everything binds to `127.0.0.1` only.

#![cfg_attr(docsrs, feature(doc_cfg))]
mod issuer;
mod keys;
mod token;

pub use issuer::{DEFAULT_AUDIENCE, IssuedToken, Issuer};
pub use keys::{TestKey, jwks};
pub use token::{Signer, TokenBuilder, mint_raw};

/// Canonical unpadded base64url, as JOSE uses it.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
