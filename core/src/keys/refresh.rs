//! Single flight for every refresh of one issuer's keys: at most one fetch at a time, whatever
//! caused it (an unknown `kid`, the keys coming due, the background task, an explicit
//! refresh); callers that come while one runs join it. Refreshes caused by unknown `kid`s also
//! respect a cooldown after the last fetch, so random `kid`s can't turn into a flood of
//! fetches.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::error::{Error, ErrorKind};

/// What asking for a refresh came to.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// A fetch ran (this caller's or one it joined) and the new key set is in place.
    Refreshed,
    /// A fetch ran and failed; the old key set is still in place.
    Failed(Arc<Error>),
    /// The last fetch finished less than the cooldown ago; nothing was fetched.
    CoolingDown {
        /// Whether that last fetch failed.
        last_failed: bool,
    },
}

/// Whether a refresh waits out the cooldown after the last fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cooldown {
    /// Not within the cooldown (refreshes caused by unknown `kid`s).
    Respect,
    /// Whenever asked (the keys are due, the background task, an explicit refresh).
    Ignore,
}

type Done = Option<Result<(), Arc<Error>>>;

pub(crate) struct RefreshGate {
    cooldown: Duration,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The fetch in flight, and the kind of refresh that started it.
    in_flight: Option<(watch::Receiver<Done>, Cooldown)>,
    /// When the last fetch for an unknown `kid` finished (Unix milliseconds) and whether it
    /// succeeded.
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

    /// The cooldown after a fetch that succeeded (`ok`) or failed: a failed fetch holds back
    /// the next unknown `kid` only briefly, so that recovery does not wait out the whole
    /// cooldown.
    fn cooldown_after(&self, ok: bool) -> Duration {
        if ok {
            self.cooldown
        } else {
            self.cooldown
                .min(crate::defaults::UNKNOWN_KID_COOLDOWN_AFTER_FAILURE)
        }
    }

    /// Joins the fetch in flight, or starts one with `start` (unless `cooldown` is respected
    /// and forbids it), and waits for its end. A refresh that respects the cooldown (an
    /// unknown `kid`) and joined one that did not (the keys coming due, say) then asks for its
    /// own fetch: the joined one was not looking for its `kid`.
    pub(crate) async fn refresh<F, Fut>(self: &Arc<Self>, cooldown: Cooldown, start: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let mut start = Some(start);
        loop {
            let (mut receiver, joined) = match self.start(cooldown, &mut start) {
                Ok(flight) => flight,
                Err(outcome) => return outcome,
            };
            let outcome = match receiver.wait_for(Option::is_some).await {
                Ok(done) => match &*done {
                    Some(Ok(())) => Outcome::Refreshed,
                    Some(Err(error)) => Outcome::Failed(Arc::clone(error)),
                    None => Outcome::Failed(Arc::new(abandoned())),
                },
                Err(_) => Outcome::Failed(Arc::new(abandoned())),
            };
            match joined {
                Some(Cooldown::Ignore) if cooldown == Cooldown::Respect && start.is_some() => {}
                _ => return outcome,
            }
        }
    }

    /// Like [`refresh`](Self::refresh), without waiting: the fetch goes on by itself.
    pub(crate) fn start_in_background<F, Fut>(self: &Arc<Self>, start: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        if let Err(Outcome::Failed(error)) = self.start(Cooldown::Ignore, &mut Some(start)) {
            tracing::warn!(%error, "a background key refresh could not start");
        }
    }

    /// The receiver of the fetch in flight, with the kind of refresh it was started as when
    /// this call joined it (`None` when this call started it with `start`, which it takes), or
    /// the outcome when no fetch may run. The fetch runs in its own task, so a caller that goes
    /// away does not cancel it; the lock is never held across an await, nor while spawning.
    fn start<F, Fut>(
        self: &Arc<Self>,
        cooldown: Cooldown,
        start: &mut Option<F>,
    ) -> Result<(watch::Receiver<Done>, Option<Cooldown>), Outcome>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let (fetch, sender, receiver, runtime) = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((receiver, kind)) = &state.in_flight {
                // A fetch whose task is gone (dropped before it ran) frees its slot.
                if receiver.has_changed().is_ok() {
                    return Ok((receiver.clone(), Some(*kind)));
                }
                state.in_flight = None;
            }
            if cooldown == Cooldown::Respect
                && let Some((finished, ok)) = state.last
                && self.now_millis() < finished + self.cooldown_after(ok).as_millis()
            {
                return Err(Outcome::CoolingDown { last_failed: !ok });
            }
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return Err(Outcome::Failed(Arc::new(Error::new(
                    ErrorKind::Misconfigured,
                    "refreshing keys needs a tokio runtime",
                ))));
            };
            let Some(start) = start.take() else {
                return Err(Outcome::Failed(Arc::new(abandoned())));
            };
            let fetch = start();
            let (sender, receiver) = watch::channel(None);
            state.in_flight = Some((receiver.clone(), cooldown));
            (fetch, sender, receiver, runtime)
        };
        // Frees the slot however the task ends: a panic, or a drop before it ever ran.
        let in_flight = ClearInFlight(Arc::clone(self));
        let gate = Arc::clone(self);
        runtime.spawn(async move {
            let in_flight = in_flight;
            let result = fetch.await.map_err(Arc::new);
            // Only refreshes for unknown `kid`s start the cooldown: a refresh for keys that came
            // due must not hold back the next unknown `kid`.
            if cooldown == Cooldown::Respect {
                let now = gate.now_millis();
                gate.state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .last = Some((now, result.is_ok()));
            }
            drop(in_flight);
            let _ = sender.send(Some(result));
        });
        Ok((receiver, None))
    }
}

/// The error of a fetch whose task ended without an answer (it panicked).
fn abandoned() -> Error {
    Error::new(
        ErrorKind::KeysUnavailable,
        "the key refresh ended without an answer",
    )
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
    use crate::defaults;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn gate(clock: Arc<ManualClock>) -> Arc<RefreshGate> {
        Arc::new(RefreshGate::new(Duration::from_secs(30), clock))
    }

    fn failure() -> Result<(), Error> {
        Err(Error::new(ErrorKind::KeysUnavailable, "down"))
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_the_cooldown_holds() {
        let clock = Arc::new(ManualClock::at_unix(1_000));
        let gate = gate(clock.clone());
        let fetches = Arc::new(AtomicUsize::new(0));
        let (release, released) = watch::channel(false);
        let mut callers = Vec::new();
        for i in 0..16 {
            let gate = gate.clone();
            let fetches = fetches.clone();
            let mut released = released.clone();
            // Every cause of a refresh shares the one fetch in flight.
            let cooldown = if i % 2 == 0 {
                Cooldown::Respect
            } else {
                Cooldown::Ignore
            };
            callers.push(tokio::spawn(async move {
                gate.refresh(cooldown, move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let _ = released.wait_for(|r| *r).await;
                    Ok(())
                })
                .await
            }));
        }
        tokio::task::yield_now().await;
        release.send(true).unwrap();
        for caller in callers {
            let outcome = caller.await.unwrap();
            assert!(
                matches!(
                    outcome,
                    Outcome::Refreshed | Outcome::CoolingDown { last_failed: false }
                ),
                "{outcome:?}"
            );
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        let again = gate
            .refresh(Cooldown::Respect, || async {
                unreachable!("inside the cooldown")
            })
            .await;
        assert!(matches!(again, Outcome::CoolingDown { last_failed: false }));
        // An explicit refresh is not held back by the cooldown.
        let explicit = gate.refresh(Cooldown::Ignore, || async { Ok(()) }).await;
        assert!(matches!(explicit, Outcome::Refreshed));

        clock.advance(Duration::from_secs(31));
        let failed = gate
            .refresh(Cooldown::Respect, || async { failure() })
            .await;
        assert!(matches!(&failed, Outcome::Failed(e) if e.is_unavailable()));
        assert!(matches!(
            gate.refresh(Cooldown::Respect, || async { Ok(()) }).await,
            Outcome::CoolingDown { last_failed: true }
        ));
        // After a failed fetch (the IdP was down), an unknown kid is tried again after the
        // short cooldown, not the full one: a key the IdP published meanwhile is found soon
        // after it comes back.
        clock.advance(defaults::UNKNOWN_KID_COOLDOWN_AFTER_FAILURE + Duration::from_millis(1));
        assert!(matches!(
            gate.refresh(Cooldown::Respect, || async { Ok(()) }).await,
            Outcome::Refreshed
        ));
    }

    #[test]
    fn without_a_runtime_a_refresh_fails_clearly() {
        let gate = gate(Arc::new(ManualClock::at_unix(1_000)));
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        let mut refresh = std::pin::pin!(gate.refresh(Cooldown::Ignore, || async { Ok(()) }));
        match refresh.as_mut().poll(&mut context) {
            std::task::Poll::Ready(Outcome::Failed(error)) => assert!(error.is_config()),
            other => panic!("expected a clear failure, got {other:?}"),
        }
    }

    /// An unknown `kid` that joins a refresh for keys that came due gets a fetch of its own
    /// afterwards: the joined one was not looking for its `kid`.
    #[tokio::test]
    async fn an_unknown_kid_does_not_settle_for_a_due_refresh() {
        let gate = gate(Arc::new(ManualClock::at_unix(1_000)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (release, mut released) = watch::channel(false);
        let counted = fetches.clone();
        gate.start_in_background(move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = released.wait_for(|r| *r).await;
            Ok(())
        });
        let counted = fetches.clone();
        let joiner = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.refresh(Cooldown::Respect, move || async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
                .await
            }
        });
        tokio::task::yield_now().await;
        release.send(true).unwrap();
        assert!(matches!(joiner.await.unwrap(), Outcome::Refreshed));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // A due refresh does not start the cooldown of unknown kids; the kid's own fetch does.
        let again = gate
            .refresh(Cooldown::Respect, || async { unreachable!("cooling down") })
            .await;
        assert!(matches!(again, Outcome::CoolingDown { last_failed: false }));
    }
}
