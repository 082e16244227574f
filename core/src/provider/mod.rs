//! Talking to the authorization server: one HTTP client with its URL policy, timeouts and
//! body caps, and the discovery of its metadata (OpenID Connect, then RFC 8414).

pub(crate) mod discovery;
pub(crate) mod http;
