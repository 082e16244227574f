//! The framework-independent core of jwtguard: it validates OAuth 2.0 / OpenID Connect JWT
//! access tokens (RFC 9068) strictly, following RFC 8725, with keys found by OIDC discovery
//! and kept in a key set that is swapped atomically.
//!
//! Two layers can be used on their own:
//! - [`jws`]: a compact JWS against a [`KeySet`] (header checks, key selection, signature);
//! - [`claims`]: the registered claims of a payload, with strict types.
//!
//! [`Validator`] runs both, plus key fetching, refresh and the user's checks. Web adapters
//! (`jwtguard-axum`) read the token with [`extract::bearer_token`] and answer errors with
//! [`Error::to_response`].

pub mod access;
mod algorithm;
mod base64url;
mod builder;
pub mod cache;
pub mod claims;
pub mod clock;
pub mod discovery;
pub mod env;
mod error;
pub mod extract;
mod header_cache;
mod http;
mod issuer;
mod jose_header;
mod json;
pub mod jws;
mod keys;
pub mod request_auth;
mod response;
mod status;
mod text;
mod token;
mod token_cache;
mod validator;

pub use access::{AccessPaths, ClaimPath, Match, Requirement, Subject};
pub use algorithm::Algorithm;
pub use builder::{
    DEFAULT_HTTP_TIMEOUT, DEFAULT_LEEWAY, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_MAX_TOKEN_SIZE,
    DEFAULT_UNKNOWN_KID_COOLDOWN, ValidatorBuilder,
};
pub use error::{Error, ErrorKind};
pub use extract::{RequestView, TokenSource};
pub use issuer::IssuerTemplate;
pub use keys::{BreakerState, KeySet, RefreshPolicy, SkippedKey};
pub use request_auth::{Rejection, RequestAuth};
pub use response::{BodyRenderer, ErrorResponse, ResponseOptions};
pub use status::{IssuerStatus, ValidatorStatus};
pub use token::VerifiedToken;
pub use token_cache::TokenCacheConfig;
pub use validator::{BackgroundRefresh, BoxFuture, TypeCheck, Validator};
