//! The validator: its configuration and builder (every default in
//! [`defaults`](crate::defaults)), the validation pipeline, the [`VerifiedToken`] it yields,
//! the validated-token cache, the status report, and configuration from the environment
//! ([`env`](mod@env)).

pub(crate) mod builder;
pub(crate) mod config;
pub mod env;
pub(crate) mod pipeline;
pub(crate) mod status;
pub(crate) mod token;
pub(crate) mod token_cache;

pub use builder::ValidatorBuilder;
pub use config::TypeCheck;
pub use pipeline::Validator;
pub use status::{IssuerStatus, ValidatorStatus};
pub use token::{CredentialKind, VerifiedToken};
pub use token_cache::TokenCacheConfig;
