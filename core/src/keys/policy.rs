//! The refresh policy: when keys are refreshed, how failures are retried, and how long stale
//! keys are served.

use std::time::Duration;

use crate::defaults;
use crate::error::{Error, ErrorKind};
use crate::provider::retry::backoff;

/// How the key set of an issuer is kept fresh. Every field has a documented default (the
/// constants of [`defaults`](crate::defaults)); see `docs/KEYS.md` for how they play together.
///
/// ```
/// use std::time::Duration;
/// use jwtguard_core::RefreshPolicy;
///
/// let mut policy = RefreshPolicy::default();
/// policy.stale_limit = Duration::from_secs(6 * 3600);
/// assert_eq!(policy.unknown_kid_cooldown, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshPolicy {
    /// How long a fetched key set is fresh when the JWKS response has no
    /// `Cache-Control: max-age`. Default 10 minutes.
    pub default_max_age: Duration,
    /// The smallest max age taken from `Cache-Control` (smaller values, `no-cache` and
    /// `no-store` are raised to it). Default 1 minute.
    pub min_max_age: Duration,
    /// The largest max age taken from `Cache-Control`. Default 24 hours.
    pub max_max_age: Duration,
    /// How long before the max age a refresh starts in the background, while requests keep
    /// using the current set. Default 30 seconds (half the max age when that is shorter).
    pub refresh_ahead: Duration,
    /// After a refresh caused by an unknown `kid`, further unknown `kid`s fail at once, without
    /// a fetch, for this long (a refresh for keys that came due, the background task or an
    /// explicit refresh does not start it). Also the least time between two refreshes ahead of
    /// the max age. Default [`UNKNOWN_KID_COOLDOWN`](defaults::UNKNOWN_KID_COOLDOWN) (30 s).
    pub unknown_kid_cooldown: Duration,
    /// How long the last-known-good key set is served after its max age while the IdP can't
    /// be reached. After that every token answers 503. Default 24 hours.
    pub stale_limit: Duration,
    /// Extra attempts after a failed fetch (not for the fetch caused by an unknown `kid`, which
    /// fails fast). Default 2.
    pub retries: u32,
    /// The first backoff between attempts; it doubles each time, with full jitter. Default
    /// 200 ms.
    pub backoff: Duration,
    /// The longest backoff. Default 2 seconds.
    pub max_backoff: Duration,
    /// Consecutive failed refreshes that open the circuit breaker. Default 5.
    pub breaker_threshold: u32,
    /// How long an open breaker refuses to contact the IdP before letting one trial through.
    /// Default 30 seconds.
    pub breaker_open_for: Duration,
    /// Consecutive failed JWKS fetches after which discovery runs again (the JWKS URL may have
    /// moved). Default 2.
    pub rediscover_after: u32,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            default_max_age: defaults::KEYS_MAX_AGE,
            min_max_age: defaults::KEYS_MIN_MAX_AGE,
            max_max_age: defaults::KEYS_MAX_MAX_AGE,
            refresh_ahead: defaults::REFRESH_AHEAD,
            unknown_kid_cooldown: defaults::UNKNOWN_KID_COOLDOWN,
            stale_limit: defaults::STALE_LIMIT,
            retries: defaults::RETRIES,
            backoff: defaults::BACKOFF,
            max_backoff: defaults::MAX_BACKOFF,
            breaker_threshold: defaults::BREAKER_THRESHOLD,
            breaker_open_for: defaults::BREAKER_OPEN_FOR,
            rediscover_after: defaults::REDISCOVER_AFTER,
        }
    }
}

impl RefreshPolicy {
    /// The max age for a response with this `Cache-Control` value.
    pub(crate) fn max_age(&self, cache_control: Option<&str>) -> Duration {
        let Some(header) = cache_control else {
            return self.default_max_age;
        };
        let mut max_age = None;
        for directive in header.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return self.min_max_age;
            }
            if let Some(seconds) = lower.strip_prefix("max-age=") {
                max_age = seconds.trim_matches('"').parse::<u64>().ok();
            }
        }
        max_age.map_or(self.default_max_age, |seconds| {
            // `max` then `min`, never `clamp`: bounds the wrong way round must not panic.
            Duration::from_secs(seconds)
                .max(self.min_max_age)
                .min(self.max_max_age)
        })
    }

    /// A max age read from the shared cache, held within what this policy could have set:
    /// between the smallest and the largest of `min_max_age`, `max_max_age` and
    /// `default_max_age`.
    pub(crate) fn bound_max_age(&self, max_age: Duration) -> Duration {
        let low = self.min_max_age.min(self.default_max_age);
        let high = self.max_max_age.max(self.default_max_age);
        max_age.max(low).min(high)
    }

    /// Checks the policy as a whole: a [`ErrorKind::Config`] error names the first field that
    /// does not fit.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let bad = |what: &'static str| Err(Error::new(ErrorKind::Config, what));
        if self.min_max_age > self.max_max_age {
            return bad("refresh policy: min_max_age is larger than max_max_age");
        }
        if self.backoff > self.max_backoff {
            return bad("refresh policy: backoff is larger than max_backoff");
        }
        if self.breaker_threshold == 0 {
            return bad("refresh policy: breaker_threshold must be at least 1");
        }
        if self.breaker_open_for.is_zero() {
            return bad("refresh policy: breaker_open_for must be longer than zero");
        }
        Ok(())
    }

    /// How old a key set may get before a background refresh starts.
    pub(crate) fn refresh_at(&self, max_age: Duration) -> Duration {
        max_age.saturating_sub(self.refresh_ahead.min(max_age / 2))
    }

    /// The backoff before retry `attempt` (1-based), jittered.
    pub(crate) fn backoff_for(&self, attempt: u32) -> Duration {
        backoff(self.backoff, self.max_backoff, attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::retry::jittered;

    #[test]
    fn cache_control_is_clamped() {
        let p = RefreshPolicy::default();
        assert_eq!(p.max_age(None), Duration::from_secs(600));
        assert_eq!(
            p.max_age(Some("public, max-age=3600")),
            Duration::from_secs(3600)
        );
        assert_eq!(p.max_age(Some("max-age=5")), Duration::from_secs(60));
        assert_eq!(
            p.max_age(Some("max-age=999999999")),
            Duration::from_secs(86_400)
        );
        assert_eq!(p.max_age(Some("no-store")), Duration::from_secs(60));
        assert_eq!(p.max_age(Some("max-age=abc")), Duration::from_secs(600));
    }

    #[test]
    fn refresh_starts_ahead_of_the_max_age() {
        let p = RefreshPolicy::default();
        assert_eq!(
            p.refresh_at(Duration::from_secs(600)),
            Duration::from_secs(570)
        );
        assert_eq!(
            p.refresh_at(Duration::from_secs(40)),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = RefreshPolicy::default();
        for _ in 0..50 {
            let first = p.backoff_for(1);
            assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200));
            let third = p.backoff_for(3);
            assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(800));
            assert!(p.backoff_for(30) <= Duration::from_secs(2));
        }
    }

    #[test]
    fn odd_policies_never_panic_and_are_refused_at_build() {
        let inverted = RefreshPolicy {
            min_max_age: Duration::from_secs(7200),
            max_max_age: Duration::from_secs(3600),
            ..RefreshPolicy::default()
        };
        assert_eq!(
            inverted.max_age(Some("max-age=100")),
            Duration::from_secs(3600)
        );
        assert_eq!(inverted.check().unwrap_err().kind(), ErrorKind::Config);
        assert!(RefreshPolicy::default().check().is_ok());
        for fraction in [0.0, 0.5, 1.0] {
            let backoff = jittered(Duration::MAX, fraction);
            assert!(backoff >= Duration::MAX / 2 && backoff <= Duration::MAX);
        }
        let huge = RefreshPolicy {
            backoff: Duration::MAX,
            max_backoff: Duration::MAX,
            ..RefreshPolicy::default()
        };
        assert!(huge.backoff_for(40) <= Duration::MAX);
    }

    #[test]
    fn cached_max_ages_stay_within_the_policy() {
        let policy = RefreshPolicy::default();
        assert_eq!(
            policy.bound_max_age(Duration::from_secs(u64::MAX / 2)),
            policy.max_max_age
        );
        assert_eq!(policy.bound_max_age(Duration::ZERO), policy.min_max_age);
        assert_eq!(
            policy.bound_max_age(Duration::from_secs(900)),
            Duration::from_secs(900)
        );
    }
}
