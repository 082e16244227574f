//! JOSE: bytes to a checked compact JWS. base64url, strict JSON, the algorithm, the protected
//! header (and a cache of headers already seen), and the signature check against a
//! [`KeyLookup`]. Nothing about JWT claims, and no I/O.
//!
//! ```
//! use jwtguard_core::jose::CompactJws;
//! use jwtguard_core::{Algorithm, ErrorKind};
//!
//! // `alg: none` is refused before any key is looked at.
//! let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
//! let err = CompactJws::parse(token, 8192, &Algorithm::DEFAULT_ALLOWED).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::AlgorithmNotAllowed);
//! ```

pub(crate) mod algorithm;
pub(crate) mod base64url;
pub(crate) mod compact;
pub(crate) mod header;
pub(crate) mod header_cache;
pub(crate) mod json;
pub(crate) mod text;
pub(crate) mod verify;

pub use algorithm::Algorithm;
pub use compact::{CompactJws, VerifiedJws};
pub use header::JwsHeader;
pub use verify::{KeyLookup, Verifier};
