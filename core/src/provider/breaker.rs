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

/// One attempt the breaker allowed: give it back with [`Breaker::record`] or
/// [`Breaker::abandon`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Whether it is the half-open trial.
    trial: bool,
}

/// An attempt held until its verdict ([`Breaker::hold`]).
pub struct HeldAttempt<'a> {
    breaker: &'a Breaker,
    attempt: Option<Attempt>,
}

impl HeldAttempt<'_> {
    /// The attempt's verdict at `now`.
    pub fn record(mut self, ok: bool, now: SystemTime) {
        if let Some(attempt) = self.attempt.take() {
            self.breaker.record(attempt, ok, now);
        }
    }
}

impl Drop for HeldAttempt<'_> {
    fn drop(&mut self) {
        if let Some(attempt) = self.attempt.take() {
            self.breaker.abandon(attempt);
        }
    }
}

/// A time no breaker stays open past: the end of year 9999.
fn far_future() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799)
}

/// A circuit breaker: after `threshold` consecutive failures it stays open for `open_for`,
/// then lets one trial through (see [`BreakerState`]). Times are passed in, so that tests
/// can move them.
pub struct Breaker {
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
    /// A closed breaker that opens after `threshold` consecutive failures (at least 1) for
    /// `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
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

    /// Whether a fetch may be attempted now: `Some` with the attempt (which may be the
    /// half-open trial, then held by this caller alone), or `None`.
    pub fn allow(&self, now: SystemTime) -> Option<Attempt> {
        let mut inner = self.lock();
        match inner.open_until {
            None => Some(Attempt { trial: false }),
            Some(until) if now < until => None,
            Some(_) if inner.trial_in_flight => None,
            Some(_) => {
                inner.trial_in_flight = true;
                Some(Attempt { trial: true })
            }
        }
    }

    /// The verdict of an attempt. Only the holder of the trial frees it: an attempt allowed
    /// before the breaker opened, and ending during the trial, can't let a second trial in.
    pub fn record(&self, attempt: Attempt, ok: bool, now: SystemTime) {
        let mut inner = self.lock();
        if attempt.trial {
            inner.trial_in_flight = false;
        }
        if ok {
            inner.failures = 0;
            inner.open_until = None;
        } else {
            inner.failures = inner.failures.saturating_add(1);
            if inner.failures >= self.threshold || inner.open_until.is_some() {
                // Saturating: a huge `breaker_open_for` means "open until the end of time".
                inner.open_until = Some(now.checked_add(self.open_for).unwrap_or(far_future()));
            }
        }
    }

    /// Gives the attempt back without a verdict (it was cancelled): a trial is freed.
    pub fn abandon(&self, attempt: Attempt) {
        if attempt.trial {
            self.lock().trial_in_flight = false;
        }
    }

    /// Holds `attempt` until its verdict: dropped without one (its future was cancelled, its
    /// runtime shut down), it is given back, so that a half-open trial never stays taken.
    pub fn hold(&self, attempt: Attempt) -> HeldAttempt<'_> {
        HeldAttempt {
            breaker: self,
            attempt: Some(attempt),
        }
    }

    /// Failures since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.lock().failures
    }

    /// Its state at `now`.
    pub fn state(&self, now: SystemTime) -> BreakerState {
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
            let attempt = breaker.allow(t0).unwrap();
            breaker.record(attempt, false, t0);
        }
        assert_eq!(breaker.state(t0), BreakerState::Closed);
        let attempt = breaker.allow(t0).unwrap();
        breaker.record(attempt, false, t0);
        assert_eq!(breaker.state(t0), BreakerState::Open);
        assert!(breaker.allow(t0 + Duration::from_secs(29)).is_none());

        let later = t0 + Duration::from_secs(31);
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        let trial = breaker.allow(later).expect("one trial");
        assert!(breaker.allow(later).is_none(), "only one");
        breaker.record(trial, false, later);
        assert_eq!(
            breaker.state(later),
            BreakerState::Open,
            "a failed trial opens it again"
        );

        let much_later = later + Duration::from_secs(31);
        let trial = breaker.allow(much_later).unwrap();
        breaker.record(trial, true, much_later);
        assert_eq!(breaker.state(much_later), BreakerState::Closed);
        assert_eq!(breaker.consecutive_failures(), 0);
    }

    #[test]
    fn an_abandoned_trial_is_given_back() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let breaker = Breaker::new(1, Duration::from_secs(30));
        let attempt = breaker.allow(t0).unwrap();
        breaker.record(attempt, false, t0);
        let later = t0 + Duration::from_secs(31);
        let trial = breaker.allow(later).unwrap();
        breaker.abandon(trial);
        assert!(
            breaker.allow(later).is_some(),
            "the cancelled trial does not block the next one"
        );
    }

    #[test]
    fn only_the_trial_frees_the_trial() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let breaker = Breaker::new(1, Duration::from_secs(30));
        // A slow attempt, allowed while the breaker was closed.
        let slow = breaker.allow(t0).unwrap();
        let failing = breaker.allow(t0).unwrap();
        breaker.record(failing, false, t0);
        let later = t0 + Duration::from_secs(31);
        let trial = breaker.allow(later).expect("the trial");
        // The slow attempt fails (or is cancelled) while the trial runs, which keeps the breaker
        // open for another period; the trial is still running after it.
        breaker.record(slow, false, later);
        breaker.abandon(slow);
        let after = later + Duration::from_secs(31);
        assert!(
            breaker.allow(after).is_none(),
            "a second trial while the first runs"
        );
        breaker.record(trial, true, after);
        assert_eq!(breaker.state(after), BreakerState::Closed);
    }

    #[test]
    fn a_huge_open_period_does_not_overflow() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let breaker = Breaker::new(1, Duration::MAX);
        let attempt = breaker.allow(t0).unwrap();
        breaker.record(attempt, false, t0);
        assert_eq!(breaker.state(t0), BreakerState::Open);
    }
}
