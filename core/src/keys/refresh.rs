//! Coalesced refreshes for unknown `kid`s: one fetch at a time, and none within the cooldown
//! after the last one, so random `kid`s can't turn into a flood of fetches.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;

/// What asking for a refresh came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A fetch ran (this caller's or one it joined) and the new key set is in place.
    Refreshed,
    /// A fetch ran and failed; the old key set is still in place.
    Failed,
    /// The last fetch finished less than the cooldown ago; nothing was fetched.
    CoolingDown {
        /// Whether that last fetch failed.
        last_failed: bool,
    },
}

pub(crate) struct RefreshGate {
    cooldown: Duration,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    in_flight: Option<watch::Receiver<Option<bool>>>,
    /// When the last fetch finished (Unix milliseconds) and whether it succeeded.
    last: Option<(u128, bool)>,
}

impl RefreshGate {
    pub(crate) fn new(cooldown: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            cooldown,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    fn now_millis(&self) -> u128 {
        self.clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    }

    /// Joins the fetch in flight, or starts one with `start` unless the cooldown forbids it.
    ///
    /// The fetch runs in its own task, so a caller that goes away does not cancel it. The
    /// lock is never held across an await.
    pub(crate) async fn refresh<F, Fut>(self: &Arc<Self>, start: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool> + Send + 'static,
    {
        let mut receiver = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(receiver) = &state.in_flight {
                receiver.clone()
            } else {
                if let Some((finished, ok)) = state.last
                    && self.now_millis() < finished + self.cooldown.as_millis()
                {
                    return Outcome::CoolingDown { last_failed: !ok };
                }
                let (sender, receiver) = watch::channel(None);
                state.in_flight = Some(receiver.clone());
                let fetch = start();
                let gate = Arc::clone(self);
                tokio::spawn(async move {
                    // Frees the slot however the fetch ends (even by a panic), so that the
                    // next caller can start one.
                    let in_flight = ClearInFlight(Arc::clone(&gate));
                    let ok = fetch.await;
                    let now = gate.now_millis();
                    gate.state
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .last = Some((now, ok));
                    drop(in_flight);
                    let _ = sender.send(Some(ok));
                });
                receiver
            }
        };
        match receiver.wait_for(Option::is_some).await {
            Ok(done) if *done == Some(true) => Outcome::Refreshed,
            _ => Outcome::Failed,
        }
    }
}

/// Frees the in-flight slot when the fetch task ends, however it ends.
struct ClearInFlight(Arc<RefreshGate>);

impl Drop for ClearInFlight {
    fn drop(&mut self) {
        self.0
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn gate(clock: Arc<ManualClock>) -> Arc<RefreshGate> {
        Arc::new(RefreshGate::new(Duration::from_secs(30), clock))
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_the_cooldown_holds() {
        let clock = Arc::new(ManualClock::at_unix(1_000));
        let gate = gate(clock.clone());
        let fetches = Arc::new(AtomicUsize::new(0));
        let (release, released) = watch::channel(false);
        let mut callers = Vec::new();
        for _ in 0..16 {
            let gate = gate.clone();
            let fetches = fetches.clone();
            let mut released = released.clone();
            callers.push(tokio::spawn(async move {
                gate.refresh(move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let _ = released.wait_for(|r| *r).await;
                    true
                })
                .await
            }));
        }
        tokio::task::yield_now().await;
        release.send(true).unwrap();
        for caller in callers {
            let outcome = caller.await.unwrap();
            assert!(matches!(
                outcome,
                Outcome::Refreshed | Outcome::CoolingDown { last_failed: false }
            ));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        let again = gate
            .refresh(|| async { unreachable!("inside the cooldown") })
            .await;
        assert_eq!(again, Outcome::CoolingDown { last_failed: false });

        clock.advance(Duration::from_secs(31));
        assert_eq!(gate.refresh(|| async { false }).await, Outcome::Failed);
        assert_eq!(
            gate.refresh(|| async { true }).await,
            Outcome::CoolingDown { last_failed: true }
        );
    }
}
