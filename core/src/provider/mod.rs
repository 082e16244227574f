//! Talking to the authorization server: one HTTP client with its URL policy, timeouts and
//! body caps ([`Fetcher`]), the discovery of its metadata (OpenID Connect, then RFC 8414),
//! client authentication at its endpoints ([`ClientAuth`]), the circuit breaker in front of it
//! ([`Breaker`]) and the backoff between retries ([`backoff`]). The key refresh, and the client side (`jwtguard-client`), use it.

pub mod breaker;
pub mod client_auth;
pub mod discovery;
pub mod http;
pub mod retry;

pub use breaker::{Attempt, Breaker, BreakerState, HeldAttempt};
pub use client_auth::{Authentication, ClientAuth, ClientKey};
pub use discovery::{Endpoint, ProviderMetadata, discover_metadata};
pub use http::{Fetched, Fetcher, is_loopback, shown};
pub use retry::backoff;
pub use secrecy::{ExposeSecret, SecretString};
