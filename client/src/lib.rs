//! Access tokens for a service's own outgoing calls.
//!
//! A service protected by jwtguard usually calls other APIs too, with tokens of its own. This
//! crate gets them (client credentials, RFC 6749 §4.4, with `scope`, RFC 8707 `resource` and
//! `audience`; refresh tokens, §6, rotated atomically), authenticates the client
//! (`client_secret_basic`, `client_secret_post`, `private_key_jwt`), renews them ahead of
//! expiry with jitter, makes **one** token request however many callers ask (and, with a
//! shared cache, however many instances run), serves the current token while the endpoint is
//! down, and attaches tokens to outgoing requests for the origins they are meant for, and no
//! others.
//!
//! - [`TokenManager`]: many [`ManagedToken`]s side by side, one per client, grant, scope and
//!   target;
//! - [`ManagedToken::get`]: the current token (an atomic load while it is fresh);
//! - [`BearerMiddleware`] (reqwest-middleware) and [`BearerLayer`] (tower, for hyper and
//!   tonic): tokens on outgoing requests, with one renewal and one retry on a 401;
//! - [`decode_unverified`]: a token's claims for inspection, not for trust.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use jwtguard_client::{BearerMiddleware, OAuthClient, TokenManager, TokenParams};
//! use jwtguard_core::provider::ClientAuth;
//!
//! let manager = TokenManager::builder().build()?;
//! let client = OAuthClient::discover(
//!     "https://idp.example.com",
//!     ClientAuth::secret_basic("orders-service", "s3cr3t"),
//! );
//! let token = manager.client_credentials(
//!     &client,
//!     TokenParams::new().resource("https://billing.example.com"),
//! )?;
//! let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(BearerMiddleware::new(token, ["https://billing.example.com"])?)
//!     .build();
//! let invoices = http.get("https://billing.example.com/invoices").send().await?;
//! # let _ = invoices; Ok(()) }
//! ```
//!
//! Metrics (through the `metrics` crate): `jwtguard_client_token_requests_total` (labels
//! `client`, `outcome`), `jwtguard_client_renewals_total`,
//! `jwtguard_client_forced_renewals_total`, `jwtguard_client_token_expiry_timestamp_seconds`
//! (when the newest token expires, Unix seconds: the time left is `expiry - time()`) and `jwtguard_client_shared_store_errors_total`.

#![cfg_attr(docsrs, feature(doc_cfg))]
#[cfg(feature = "blocking")]
pub mod blocking;
mod dpop;
mod error;
mod managed;
mod manager;
pub mod outgoing;
mod policy;
mod shared;
mod source;
mod token;

pub use dpop::DpopKey;
pub use error::{Error, ErrorKind};
pub use jwtguard_core::provider::{ClientAuth, ClientKey};
pub use managed::ManagedToken;
pub use manager::{
    DEFAULT_MAX_BODY, DEFAULT_MAX_TOKENS, DEFAULT_TIMEOUT, TokenManager, TokenManagerBuilder,
};
pub use outgoing::{BearerLayer, BearerMiddleware, BearerService};
pub use policy::{RenewalPolicy, RetryPolicy};
pub use shared::MIN_SECRET_LEN;
pub use source::{OAuthClient, TokenParams};
pub use token::{AccessToken, decode_unverified};
