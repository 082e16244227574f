//! Time, injectable so that tests can move it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time in whole seconds since the Unix epoch (0 before the epoch).
    fn unix_seconds(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// The system's wall clock. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to, for tests.
///
/// ```
/// use std::time::Duration;
/// use jwtguard_core::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::at_unix(1_700_000_000);
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.unix_seconds(), 1_700_000_090);
/// ```
pub struct ManualClock {
    millis: AtomicU64,
}

impl ManualClock {
    /// A clock showing `seconds` after the Unix epoch.
    pub fn at_unix(seconds: u64) -> Self {
        Self {
            millis: AtomicU64::new(seconds.saturating_mul(1000)),
        }
    }

    /// A clock showing the current system time (then frozen).
    pub fn now_frozen() -> Self {
        Self::at_unix(SystemClock.unix_seconds())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_add(by, Ordering::SeqCst);
    }

    /// Sets the clock to `seconds` after the Unix epoch.
    pub fn set_unix(&self, seconds: u64) {
        self.millis
            .store(seconds.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.millis.load(Ordering::SeqCst))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("unix_seconds", &self.unix_seconds())
            .finish()
    }
}
