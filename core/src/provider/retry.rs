//! The wait before a retry against the authorization server: exponential, capped, jittered.

use std::time::Duration;

/// The wait before retry `attempt` (1-based): `first` doubled each retry, at most `max`, and
/// jittered to between half and all of that, so that many clients don't retry in step.
pub fn backoff(first: Duration, max: Duration, attempt: u32) -> Duration {
    let exponential = first
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(max);
    let mut byte = [0u8; 2];
    let _ = aws_lc_rs::rand::fill(&mut byte);
    let fraction = f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX);
    jittered(exponential, fraction)
}

/// Between half and all of `backoff`, by `fraction` (0 to 1); never panics, even for
/// `Duration::MAX`.
pub(crate) fn jittered(backoff: Duration, fraction: f64) -> Duration {
    Duration::try_from_secs_f64(backoff.as_secs_f64() * (0.5 + fraction / 2.0))
        .unwrap_or(backoff)
        .min(backoff)
}
