//! The background refresh task: every issuer's keys refreshed on a fixed interval, for as long
//! as a validator holds them.

use std::sync::Weak;
use std::time::Duration;

use super::issuer_keys::IssuerKeys;

/// Starts a task that refreshes each of `issuers` every `every` (at least 1 s). It stops when
/// the handle is dropped, or when none of the issuers' keys is held any more.
pub(crate) fn spawn(issuers: Vec<Weak<IssuerKeys>>, every: Duration) -> BackgroundRefresh {
    let every = every.max(Duration::from_secs(1));
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let mut alive = 0;
            for weak in &issuers {
                let Some(keys) = weak.upgrade() else {
                    continue;
                };
                alive += 1;
                let _ = keys.refresh(keys.retries()).await;
            }
            if alive == 0 {
                return;
            }
        }
    });
    BackgroundRefresh { task }
}

/// The handle of a background refresh task: dropping it, or calling
/// [`cancel`](BackgroundRefresh::cancel), stops the task.
#[derive(Debug)]
pub struct BackgroundRefresh {
    task: tokio::task::JoinHandle<()>,
}

impl BackgroundRefresh {
    /// Stops the task.
    pub fn cancel(self) {}

    /// Whether the task has stopped.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for BackgroundRefresh {
    fn drop(&mut self) {
        self.task.abort();
    }
}
