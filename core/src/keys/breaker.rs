//! A circuit breaker in front of the IdP, so that a dead IdP is not hammered.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// The state of a circuit breaker.
///
/// - **Closed**: fetches go through; consecutive failures are counted.
/// - **Open**: after `breaker_threshold` consecutive failures; no fetch is attempted until
///   `breaker_open_for` has passed.
/// - **Half-open**: after that, one trial fetch goes through; success closes the breaker,
///   failure opens it again for another period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Fetches go through.
    Closed,
    /// Fetches are refused until the period is over.
    Open,
    /// One trial fetch may go through.
    HalfOpen,
}

pub(crate) struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<Inner>,
}

struct Inner {
    failures: u32,
    open_until: Option<SystemTime>,
    trial_in_flight: bool,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(Inner {
                failures: 0,
                open_until: None,
                trial_in_flight: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a fetch may be attempted now (taking the half-open trial if it is one).
    pub(crate) fn allow(&self, now: SystemTime) -> bool {
        let mut inner = self.lock();
        match inner.open_until {
            None => true,
            Some(until) if now < until => false,
            Some(_) if inner.trial_in_flight => false,
            Some(_) => {
                inner.trial_in_flight = true;
                true
            }
        }
    }

    pub(crate) fn record(&self, ok: bool, now: SystemTime) {
        let mut inner = self.lock();
        inner.trial_in_flight = false;
        if ok {
            inner.failures = 0;
            inner.open_until = None;
        } else {
            inner.failures = inner.failures.saturating_add(1);
            if inner.failures >= self.threshold || inner.open_until.is_some() {
                inner.open_until = Some(now + self.open_for);
            }
        }
    }

    /// Gives the half-open trial back without a verdict (the attempt was cancelled).
    pub(crate) fn abandon(&self) {
        self.lock().trial_in_flight = false;
    }

    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.lock().failures
    }

    pub(crate) fn state(&self, now: SystemTime) -> BreakerState {
        match self.lock().open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_lets_one_trial_through() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let breaker = Breaker::new(3, Duration::from_secs(30));
        for _ in 0..2 {
            assert!(breaker.allow(t0));
            breaker.record(false, t0);
        }
        assert_eq!(breaker.state(t0), BreakerState::Closed);
        breaker.record(false, t0);
        assert_eq!(breaker.state(t0), BreakerState::Open);
        assert!(!breaker.allow(t0 + Duration::from_secs(29)));

        let later = t0 + Duration::from_secs(31);
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        assert!(breaker.allow(later), "one trial");
        assert!(!breaker.allow(later), "only one");
        breaker.record(false, later);
        assert_eq!(
            breaker.state(later),
            BreakerState::Open,
            "a failed trial opens it again"
        );

        let much_later = later + Duration::from_secs(31);
        assert!(breaker.allow(much_later));
        breaker.record(true, much_later);
        assert_eq!(breaker.state(much_later), BreakerState::Closed);
        assert_eq!(breaker.consecutive_failures(), 0);
    }

    #[test]
    fn an_abandoned_trial_is_given_back() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let breaker = Breaker::new(1, Duration::from_secs(30));
        breaker.record(false, t0);
        let later = t0 + Duration::from_secs(31);
        assert!(breaker.allow(later));
        breaker.abandon();
        assert!(
            breaker.allow(later),
            "the cancelled trial does not block the next one"
        );
    }
}
