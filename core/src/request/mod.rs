//! One HTTP request, for every web framework alike: where its token is
//! ([`TokenLocation`]) or its API key ([`ApiKeyLocation`]), who decides ([`Authenticator`]), the requirement a route sets on roles
//! and scopes ([`Requirement`]), the decision ([`RequestAuth`]) and the RFC 6750 answer
//! ([`Rejection`], [`ErrorResponse`]). The adapters only translate their framework's request
//! and response types.

mod auth;
mod credential;
mod dpop;
mod location;
mod rejection;
pub(crate) mod requirement;

pub use auth::{Anonymous, Authenticator, RequestAuth, TokenRouting};
pub use credential::{API_KEY_SCHEME, ApiKeyLocation, CredentialOrder, DEFAULT_API_KEY_HEADER};
pub use location::{
    ClientAddr, FindToken, HeaderLookup, HeaderPairs, RequestView, TokenLocation, bearer_token,
    find_token,
};
pub use rejection::{BodyRenderer, ErrorResponse, Rejection, ResponseOptions};
pub use requirement::{AccessKind, Match, Requirement};
