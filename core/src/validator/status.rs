//! What a health endpoint wants to know about the keys.

use std::time::{Duration, SystemTime};

use crate::keys::BreakerState;

/// The state of every trusted issuer's keys, from
/// [`Validator::status`](super::Validator::status).
#[derive(Debug, Clone)]
pub struct ValidatorStatus {
    /// One entry per issuer (or issuer template), in configuration order.
    pub issuers: Vec<IssuerStatus>,
}

impl ValidatorStatus {
    /// Whether every issuer has keys that are not past their stale limit.
    pub fn is_healthy(&self) -> bool {
        self.issuers.iter().all(|i| i.keys > 0 && !i.expired)
    }
}

/// The state of one issuer's keys.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuerStatus {
    /// The issuer (or template).
    pub issuer: String,
    /// Where its keys are fetched from; `None` for inline keys.
    pub jwks_uri: Option<String>,
    /// How many usable keys the current set holds.
    pub keys: usize,
    /// When the current set was fetched or confirmed; `None` for inline keys.
    pub fetched_at: Option<SystemTime>,
    /// How old the current set is.
    pub age: Option<Duration>,
    /// How long the current set is fresh.
    pub max_age: Option<Duration>,
    /// Whether the set is past its max age (served as last known good).
    pub stale: bool,
    /// Whether the set is past its stale limit (every token answers 503).
    pub expired: bool,
    /// When a refresh was last attempted.
    pub last_attempt: Option<SystemTime>,
    /// When a refresh last succeeded.
    pub last_success: Option<SystemTime>,
    /// The last refresh error, cleared by a success.
    pub last_error: Option<String>,
    /// The circuit breaker in front of the IdP.
    pub breaker: BreakerState,
}
