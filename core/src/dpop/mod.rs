//! DPoP (RFC 9449): tokens bound to a key the client holds, proven on each request.
//!
//! A DPoP-bound access token carries `cnf.jkt`, the thumbprint of the client's key. With it
//! the client sends `Authorization: DPoP <token>` and a `DPoP` header: a proof, a JWT signed
//! by that key, made for this request (method, URI, the token's hash) and used once. A token
//! that leaks is of no use without the key.
//!
//! - [`DpopVerifier`]: the check of a proof, with its [`DpopMode`] (allowed or required);
//!   the [`Authenticator`](crate::Authenticator) uses it with `.dpop(verifier)` and checks the
//!   binding;
//! - [`ReplayStore`]: where seen proofs are recorded ([`MemoryReplayStore`], or
//!   `RedisReplayStore` with the feature `redis`);
//! - [`NonceSource`]: stateless server nonces;
//! - [`jwk_thumbprint`] (RFC 7638) and [`normalize_htu`] (RFC 3986 §6.2).

mod htu;
mod nonce;
mod replay;
mod thumbprint;
mod verifier;

pub use self::htu::normalize_htu;
pub use self::nonce::NonceSource;
#[cfg(feature = "redis")]
pub use self::replay::RedisReplayStore;
pub use self::replay::{MemoryReplayStore, ReplayStore};
pub use self::thumbprint::jwk_thumbprint;
pub use self::verifier::{
    CheckedProof, DEFAULT_PROOF_ALGORITHMS, DpopMode, DpopVerifier, DpopVerifierBuilder,
};
