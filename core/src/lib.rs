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
//! - [`provider`]: talking to the authorization server: URL policy, HTTP, discovery, client
//!   authentication, the circuit breaker;
//! - [`keys`]: one issuer's keys: JWK parsing, the [`KeySet`], refresh, caches;
//! - [`claims`]: registered claims with strict types, audiences, issuer templates, claim paths;
//! - [`validator`]: the [`Validator`], its builder and pipeline, [`VerifiedToken`];
//! - [`introspection`]: opaque tokens verified by the authorization server (RFC 7662);
//! - [`api_key`]: API keys, kept as SHA-256 digests in a store, checked through a cache;
//! - [`request`]: one HTTP request: where its token is, requirements, the decision
//!   ([`RequestAuth`]) and the RFC 6750 answer ([`Rejection`]);
//! - [`resource_metadata`]: the resource's metadata for clients (RFC 9728), from an
//!   [`Authenticator`];
//! - `openapi` (feature `utoipa`): the security of an OpenAPI document, from an
//!   [`Authenticator`] and the guards.
//!
//! Web adapters (`jwtguard-axum`, `jwtguard-actix`) hold an [`Authenticator`], call
//! [`Authenticator::authenticate`] for each request, and answer with [`Rejection::render`].

#![cfg_attr(docsrs, feature(doc_cfg))]
pub mod api_key;
#[cfg(feature = "blocking")]
pub mod blocking;
pub mod claims;
pub mod clock;
pub mod defaults;
pub mod dpop;
mod error;
mod future;
pub mod introspection;
pub mod jose;
pub mod keys;
#[cfg(feature = "utoipa")]
pub mod openapi;
pub mod provider;
pub mod request;
pub mod resource_metadata;
pub mod validator;

pub use api_key::{
    ApiKeyPrincipal, ApiKeyStore, ApiKeys, ApiKeysBuilder, FileApiKeyStore, KeyDigest,
    MemoryApiKeyStore,
};
pub use claims::{AccessPaths, ClaimPath, IssuerTemplate};
pub use error::{Error, ErrorKind};
pub use future::BoxFuture;
pub use jose::Algorithm;
pub use keys::{
    BackgroundRefresh, BreakerState, KeyCache, KeySet, MemoryKeyCache, RefreshPolicy, SkippedKey,
};
pub use request::{
    AccessKind, Anonymous, ApiKeyLocation, Authenticator, BodyRenderer, CredentialOrder,
    ErrorResponse, Match, Rejection, RequestAuth, RequestView, Requirement, ResponseOptions,
    TokenLocation, TokenRouting,
};
pub use validator::{
    CredentialKind, IssuerStatus, TokenCacheConfig, TypeCheck, Validator, ValidatorBuilder,
    ValidatorStatus, VerifiedToken,
};

/// Entry points for the fuzz targets (`fuzz/`), built only under `cargo fuzz` (`--cfg
/// fuzzing`): the internal parsers, each fed arbitrary bytes. Not a public API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzzing {
    /// The strict header reader on a decoded header.
    pub fn parse_header(bytes: &[u8]) {
        let _ = crate::jose::header::parse_header(bytes, &crate::jose::Algorithm::ALL);
    }

    /// The one-pass claims scan on a payload, then the claim checks on what it read.
    pub fn scan_claims(bytes: &[u8]) {
        if let Ok(scanned) = crate::claims::scan::scan_claims(bytes, 0, bytes.len()) {
            let policy = crate::claims::ClaimsPolicy::new(["https://idp.example"], ["api"]);
            let _ = crate::claims::registered::check_raw(
                scanned.raw(bytes),
                &policy,
                1_700_000_000,
                |name| crate::jose::json::has_member(bytes, name),
            );
        }
    }

    /// A discovery document, as jwtguard reads and checks it for `issuer`.
    pub fn discovery_document(bytes: &[u8], issuer: &str) {
        static FETCHER: std::sync::OnceLock<Option<crate::provider::http::Fetcher>> =
            std::sync::OnceLock::new();
        let fetcher = FETCHER.get_or_init(|| {
            let timeout = std::time::Duration::from_secs(1);
            crate::provider::http::Fetcher::new(None, timeout, 1024, false).ok()
        });
        let Some(fetcher) = fetcher else {
            return;
        };
        if let Ok(metadata) =
            serde_json::from_slice::<crate::provider::discovery::ProviderMetadata>(bytes)
        {
            let _ = crate::provider::discovery::checked_jwks_uri(fetcher, &metadata, issuer);
        }
    }
}

/// What the attribute guards' expansion names, through the adapters. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::request::requirement::{
        AccessKind, Match, Requirement, StaticRequirement, once,
    };
}
