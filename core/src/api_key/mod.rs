//! API keys: long-lived secrets that stand for a principal (a batch job, a partner), checked
//! against a store the application brings.
//!
//! A key is never stored, compared or logged as such: it is hashed once with SHA-256 into a
//! [`KeyDigest`], and stores are asked by digest only. [`ApiKeys`] is the checker: it asks an
//! [`ApiKeyStore`] through a bounded cache of answers, with one store call at a time per key
//! however many requests carry it.
//!
//! - [`ApiKeyPrincipal`]: who a key stands for (its subject, roles and scopes);
//! - [`KeyDigest`]: the SHA-256 of a whole key string;
//! - [`ApiKeyStore`]: where keys are kept (a trait: bring a database);
//!   [`MemoryApiKeyStore`] keeps them in memory, [`FileApiKeyStore`] reads them from a JSON
//!   file at start-up;
//! - [`ApiKeys`] and its [`ApiKeysBuilder`]: the check, with its cache.
//!
//! What each outcome of [`ApiKeys::check`] means over HTTP:
//!
//! | outcome | kind | status |
//! |---|---|---|
//! | the store knows the key | (the principal) | |
//! | the store does not know it | [`ErrorKind::UnknownApiKey`](crate::ErrorKind::UnknownApiKey) | 401 |
//! | an empty key | [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) | 400 |
//! | a key over the size cap | [`ErrorKind::TokenTooLarge`](crate::ErrorKind::TokenTooLarge) | 401 |
//! | the store failed | [`ErrorKind::KeysUnavailable`](crate::ErrorKind::KeysUnavailable) | 503 |

mod checker;
mod digest;
mod file;
pub(crate) mod principal;
mod store;

pub use self::checker::{ApiKeys, ApiKeysBuilder};
pub use self::digest::KeyDigest;
pub use self::file::FileApiKeyStore;
pub use self::principal::ApiKeyPrincipal;
pub use self::store::{ApiKeyStore, MemoryApiKeyStore};
