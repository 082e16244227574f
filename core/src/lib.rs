//! The framework-independent core of jwtguard: it validates OAuth 2.0 / OpenID Connect JWT
//! access tokens (RFC 9068) strictly, following RFC 8725, with keys found by OIDC discovery
//! and kept in a key set that is swapped atomically.
//!
//! The crate is organised in rooms, each a module; the arrows between them run one way
//! (`request` → `validator` → `claims` / `keys` → `jose`, and `validator` / `keys` →
//! `provider`; see ARCHITECTURE.md):
//!
//! - [`jose`]: bytes to a checked compact JWS (base64url, strict JSON, header, signature),
//!   against any [`KeyLookup`](jose::KeyLookup); no claims, no I/O;
//! - `provider` (internal): talking to the authorization server: URL policy, HTTP, discovery;
//! - [`keys`]: one issuer's keys: JWK parsing, the [`KeySet`], refresh, caches;
//! - [`claims`]: registered claims with strict types, audiences, issuer templates, claim paths;
//! - [`validator`]: the [`Validator`], its builder and pipeline, [`VerifiedToken`];
//! - [`request`]: one HTTP request: where its token is, requirements, the decision
//!   ([`RequestAuth`]) and the RFC 6750 answer ([`Rejection`]).
//!
//! Web adapters (`jwtguard-axum`, `jwtguard-actix`) hold an [`Authenticator`], call
//! [`Authenticator::authenticate`] for each request, and answer with [`Rejection::render`].

pub mod claims;
pub mod clock;
pub mod defaults;
mod error;
mod future;
pub mod jose;
pub mod keys;
mod provider;
pub mod request;
pub mod validator;

pub use claims::{AccessPaths, ClaimPath, IssuerTemplate};
pub use error::{Error, ErrorKind};
pub use future::BoxFuture;
pub use jose::Algorithm;
pub use keys::{
    BackgroundRefresh, BreakerState, KeyCache, KeySet, MemoryKeyCache, RefreshPolicy, SkippedKey,
};
pub use request::{
    AccessKind, Anonymous, Authenticator, BodyRenderer, ErrorResponse, Match, Rejection,
    RequestAuth, RequestView, Requirement, ResponseOptions, TokenLocation,
};
pub use validator::{
    IssuerStatus, TokenCacheConfig, TypeCheck, Validator, ValidatorBuilder, ValidatorStatus,
    VerifiedToken,
};

/// What the attribute guards' expansion names, through the adapters. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::request::requirement::{
        AccessKind, Match, Requirement, StaticRequirement, once,
    };
}
