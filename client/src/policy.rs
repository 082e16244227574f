//! When a token is renewed, and how hard the token endpoint is tried.

use std::time::Duration;

/// When a managed token is renewed, and how long a token may be handed out.
///
/// For a token of lifetime `L` (from `expires_in`):
/// - renewal starts `lead = min(renew_before, L / 2)` before it expires, moved earlier by a
///   random part of `jitter × lead`, so that a fleet does not renew in the same second. A
///   300 s token is renewed 60–66 s before expiry; a 20 s token at 9–10 s into its life, not
///   after it is dead;
/// - callers get the current token at once while the renewal runs;
/// - a token with less than `min(min_lifetime, L / 4)` left is not handed out while a new one
///   can be had: callers wait for the renewal. If the token endpoint fails, the current token
///   is still served until it expires.
///
/// ```
/// use std::time::Duration;
/// use jwtguard_client::RenewalPolicy;
///
/// let policy = RenewalPolicy::default()
///     .renew_before(Duration::from_secs(120))
///     .min_lifetime(Duration::from_secs(30));
/// assert_eq!(policy.lead(Duration::from_secs(3600)), Duration::from_secs(120));
/// assert_eq!(policy.lead(Duration::from_secs(20)), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenewalPolicy {
    renew_before: Duration,
    min_lifetime: Duration,
    jitter: f64,
    assumed_lifetime: Duration,
    max_lifetime: Duration,
}

/// The longest lifetime a policy takes: a year.
const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

/// When, within a token's life, things happen (offsets from when it was obtained).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// Start a renewal from here on; serve the current token meanwhile.
    pub(crate) renew_after: Duration,
    /// Don't hand the token out from here on, if a new one can be had.
    pub(crate) hand_out_until: Duration,
    /// The token's lifetime.
    pub(crate) lifetime: Duration,
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        Self {
            renew_before: Duration::from_secs(60),
            min_lifetime: Duration::from_secs(10),
            jitter: 0.1,
            assumed_lifetime: Duration::from_secs(300),
            max_lifetime: Duration::from_secs(24 * 3600),
        }
    }
}

impl RenewalPolicy {
    /// How long before expiry renewal starts. Default 60 s; at most half the lifetime.
    pub fn renew_before(mut self, before: Duration) -> Self {
        self.renew_before = before;
        self
    }

    /// The least lifetime a handed-out token has left while a new one can be had. Default
    /// 10 s; at most a quarter of the lifetime.
    pub fn min_lifetime(mut self, min: Duration) -> Self {
        self.min_lifetime = min;
        self
    }

    /// The random share of the lead by which renewal is moved earlier. Default 0.1; clamped
    /// to 0..=0.5.
    pub fn jitter(mut self, share: f64) -> Self {
        self.jitter = if share.is_finite() {
            share.clamp(0.0, 0.5)
        } else {
            0.0
        };
        self
    }

    /// The lifetime assumed when the answer has no `expires_in` (and the token is not a JWT
    /// with an `exp`). Default 300 s; at most a year.
    pub fn assumed_lifetime(mut self, lifetime: Duration) -> Self {
        self.assumed_lifetime = lifetime.min(LONGEST);
        self
    }

    /// The longest a token is kept, whatever `expires_in` says. Default 24 h; at most a year.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime.min(LONGEST);
        self
    }

    /// How long before expiry a token of `lifetime` starts being renewed (before jitter).
    pub fn lead(&self, lifetime: Duration) -> Duration {
        self.renew_before.min(lifetime / 2)
    }

    /// The earliest a token of `lifetime` may be renewed, counted back from its expiry: the
    /// lead with the whole jitter.
    pub(crate) fn earliest_lead(&self, lifetime: Duration) -> Duration {
        let lead = self.lead(lifetime);
        lead + lead.mul_f64(self.jitter)
    }

    /// The lifetime of a token: `expires_in` when given, else the JWT's own lifetime or the
    /// assumed lifetime; never more than the JWT's own lifetime or the maximum.
    pub(crate) fn lifetime(&self, expires_in: Option<u64>, jwt_lifetime: Option<u64>) -> Duration {
        let stated = expires_in
            .or(jwt_lifetime)
            .map_or(self.assumed_lifetime, Duration::from_secs);
        let capped = jwt_lifetime.map_or(stated, |own| stated.min(Duration::from_secs(own)));
        capped.min(self.max_lifetime)
    }

    /// The schedule of a token of `lifetime`; `random` in 0..1 picks the jitter.
    pub(crate) fn schedule(&self, lifetime: Duration, random: f64) -> Schedule {
        let lead = self.lead(lifetime);
        let jitter = lead.mul_f64(self.jitter * random.clamp(0.0, 1.0));
        let floor = self.min_lifetime.min(lifetime / 4);
        let hand_out_until = lifetime.saturating_sub(floor);
        let renew_after = lifetime
            .saturating_sub(lead)
            .saturating_sub(jitter)
            .min(hand_out_until);
        Schedule {
            renew_after,
            hand_out_until,
            lifetime,
        }
    }
}

/// How hard the token endpoint is tried: retries with exponential backoff and full jitter on
/// [`Unavailable`](crate::ErrorKind::Unavailable) (transport errors, timeouts, 5xx, 429), none
/// on the RFC 6749 §5.2 errors; and a circuit breaker, so that a dead endpoint is not
/// hammered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) retries: u32,
    pub(crate) backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_open_for: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 2,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            breaker_threshold: 5,
            breaker_open_for: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Retries after the first try. Default 2.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The first backoff (doubled each retry, full jitter) and its cap. Default 200 ms and
    /// 2 s.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        let day = Duration::from_secs(24 * 3600);
        self.backoff = first.min(day);
        self.max_backoff = max.min(day).max(self.backoff);
        self
    }

    /// The circuit breaker: open after `threshold` consecutive failed tries, for `open_for`
    /// (at most a day); then one trial. Default 5 and 30 s.
    pub fn breaker(mut self, threshold: u32, open_for: Duration) -> Self {
        self.breaker_threshold = threshold.max(1);
        self.breaker_open_for = open_for.min(Duration::from_secs(24 * 3600));
        self
    }

    /// The wait before retry `n` (0-based), given `random` in 0..1.
    pub(crate) fn backoff_for(&self, n: u32, random: f64) -> Duration {
        let ceiling = self
            .backoff
            .saturating_mul(1u32.checked_shl(n.min(16)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        ceiling.mul_f64(random.clamp(0.0, 1.0))
    }
}

/// A random number in 0..1.
pub(crate) fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_long_token_is_renewed_a_minute_ahead_with_jitter() {
        let policy = RenewalPolicy::default();
        let early = policy.schedule(S(300), 1.0);
        let late = policy.schedule(S(300), 0.0);
        assert_eq!(late.renew_after, S(240));
        assert_eq!(early.renew_after, S(234));
        assert_eq!(late.hand_out_until, S(290));
    }

    #[test]
    fn a_short_token_is_renewed_within_its_life() {
        let policy = RenewalPolicy::default();
        let twenty = policy.schedule(S(20), 0.0);
        assert_eq!(twenty.renew_after, S(10));
        assert_eq!(twenty.hand_out_until, S(15));
        let two = policy.schedule(S(2), 1.0);
        assert!(two.renew_after < two.hand_out_until);
        assert!(two.hand_out_until < S(2));
        let zero = policy.schedule(Duration::ZERO, 0.5);
        assert_eq!(zero.renew_after, Duration::ZERO);
    }

    #[test]
    fn renewal_never_starts_after_the_hand_out_limit() {
        let policy = RenewalPolicy::default()
            .renew_before(S(5))
            .min_lifetime(S(30));
        let schedule = policy.schedule(S(300), 0.0);
        assert_eq!(schedule.hand_out_until, S(270));
        assert_eq!(schedule.renew_after, S(270));
    }

    #[test]
    fn lifetime_without_expires_in_is_bounded() {
        let policy = RenewalPolicy::default();
        assert_eq!(policy.lifetime(None, None), S(300));
        assert_eq!(policy.lifetime(None, Some(40)), S(40));
        assert_eq!(policy.lifetime(Some(3600), Some(40)), S(40));
        assert_eq!(policy.lifetime(Some(u64::MAX), None), S(24 * 3600));
    }

    #[test]
    fn lifetimes_stay_in_range() {
        let policy = RenewalPolicy::default()
            .max_lifetime(Duration::MAX)
            .assumed_lifetime(Duration::MAX);
        let year = S(365 * 24 * 3600);
        assert_eq!(policy.lifetime(Some(u64::MAX), None), year);
        assert_eq!(policy.lifetime(None, None), year);
        let schedule = policy.schedule(year, 1.0);
        assert!(schedule.renew_after < schedule.hand_out_until);
        // A JWT's own lifetime (exp - iat) caps what expires_in claims.
        assert_eq!(
            RenewalPolicy::default().lifetime(Some(600), Some(60)),
            S(60)
        );
        assert_eq!(RenewalPolicy::default().earliest_lead(S(300)), S(66));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff_for(0, 1.0), Duration::from_millis(200));
        assert_eq!(policy.backoff_for(2, 1.0), Duration::from_millis(800));
        assert_eq!(policy.backoff_for(40, 1.0), S(2));
        assert_eq!(policy.backoff_for(3, 0.0), Duration::ZERO);
        let r = random_unit();
        assert!((0.0..1.0).contains(&r));
    }
}
