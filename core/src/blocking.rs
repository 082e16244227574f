//! The blocking front (feature `blocking`): the [`Validator`] for programs without an async
//! runtime, and the [`Runtime`] it (and the client side's blocking token manager) runs on.
//!
//! Each front owns a private tokio runtime on a thread of its own, which drives the I/O
//! (discovery, key fetches, token requests); the calling thread drives the work itself, so
//! that many threads validate in parallel. No `reqwest::blocking`.
//!
//! **The sync/async boundary.** Called from inside an async runtime, a blocking call would
//! block a worker thread and stall every task on it, or deadlock a single-threaded runtime. So
//! it is refused: the call returns an error ([`Error::is_misconfigured`]) that says what to
//! do instead, in release builds as in debug builds, never a panic. Code in a
//! `tokio::task::spawn_blocking` closure (a thread meant for blocking) opts in with
//! [`allow_in_blocking_task`].
//!
//! ```
//! # fn main() -> Result<(), jwtguard_core::Error> {
//! use jwtguard_core::blocking::Validator;
//!
//! // In a plain `fn main`, no runtime needed.
//! let validator = Validator::build(
//!     jwtguard_core::Validator::builder()
//!         .issuer("https://idp.example.com")
//!         .audience("https://api.example.com")
//!         .key_set(jwtguard_core::KeySet::from_jwks(
//!             br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
//!             &[jwtguard_core::Algorithm::EdDSA],
//!         )?),
//! )?;
//! let err = validator.validate("not-a-token").unwrap_err();
//! assert!(err.is_invalid_token());
//! # Ok(()) }
//! ```

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};

use tokio::sync::oneshot;

use crate::error::{Error, ErrorKind};
use crate::validator::{ValidatorBuilder, VerifiedToken};

thread_local! {
    static ALLOWED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `call` with blocking calls allowed on this thread although it belongs to an async
/// runtime: for `tokio::task::spawn_blocking` closures only, whose threads are meant to block.
/// Never use it on a runtime's worker thread (in an `async` block or function).
///
/// ```
/// # async fn run(validator: jwtguard_core::blocking::Validator, token: String) {
/// use jwtguard_core::blocking::allow_in_blocking_task;
///
/// let verified = tokio::task::spawn_blocking(move || {
///     allow_in_blocking_task(|| validator.validate(&token))
/// })
/// .await;
/// # let _ = verified; }
/// ```
pub fn allow_in_blocking_task<R>(call: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ALLOWED.with(|allowed| allowed.set(self.0));
        }
    }
    let _restore = Restore(ALLOWED.with(|allowed| allowed.replace(true)));
    call()
}

/// The error a blocking call inside an async runtime gets.
fn inside_runtime() -> Error {
    Error::new(
        ErrorKind::Misconfigured,
        "a jwtguard blocking call was made inside an async runtime, where it would block a \
         worker thread: use the async API there (`.await`), or make the call in a \
         `tokio::task::spawn_blocking` closure wrapped in \
         `jwtguard::blocking::allow_in_blocking_task`",
    )
}

/// A private tokio runtime on a thread of its own, for blocking fronts. Dropping it stops the
/// thread.
pub struct Runtime {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts the runtime and its thread, named `name`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the runtime or the thread can't be created.
    pub fn start(name: &str) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Config, "could not build a runtime").with_source(e)
            })?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Drives the I/O and timers until the front is dropped.
                let _ = runtime.block_on(stopped);
            })
            .map_err(|e| {
                Error::new(ErrorKind::Config, "could not start the runtime thread").with_source(e)
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread_id: thread.thread().id(),
            thread: Some(thread),
        })
    }

    /// The runtime's handle, to create what must live on it (background tasks, say).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `work` to completion and returns its output.
    ///
    /// # Errors
    /// [`ErrorKind::Misconfigured`] when called inside an async runtime (outside
    /// [`allow_in_blocking_task`]); [`ErrorKind::KeysUnavailable`] if the runtime stopped.
    pub fn run<F>(&self, work: F) -> Result<F::Output, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            // A plain thread: it drives the work itself; the runtime's thread drives the I/O.
            return Ok(self.handle.block_on(work));
        }
        if !ALLOWED.with(Cell::get) || thread::current().id() == self.thread_id {
            return Err(inside_runtime());
        }
        // A blocking task of another runtime: the work runs on this runtime's thread.
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = sender.send(work.await);
        });
        receiver.recv().map_err(|_| {
            Error::new(
                ErrorKind::KeysUnavailable,
                "the blocking front's runtime stopped",
            )
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Joined only from a plain thread: dropped on the runtime's own thread, or on a worker
        // of another runtime, the thread is left to end by itself.
        if let Some(thread) = self.thread.take()
            && thread::current().id() != self.thread_id
            && tokio::runtime::Handle::try_current().is_err()
        {
            let _ = thread.join();
        }
    }
}

/// The [`Validator`](crate::validator::Validator) for programs without an async runtime. Cheap to clone;
/// the clones share the validator and its runtime.
#[derive(Clone, Debug)]
pub struct Validator {
    validator: crate::validator::Validator,
    runtime: Arc<Runtime>,
}

impl Validator {
    /// Builds the validator from `builder` (discovery and the first key fetch happen here).
    ///
    /// # Errors
    /// As [`ValidatorBuilder::build`], and [`ErrorKind::Misconfigured`] inside an async
    /// runtime.
    pub fn build(builder: ValidatorBuilder) -> Result<Self, Error> {
        let runtime = Arc::new(Runtime::start("jwtguard-blocking")?);
        let validator = runtime.run(builder.build())??;
        Ok(Self { validator, runtime })
    }

    /// Validates `token`, as [`Validator::validate`](crate::validator::Validator::validate) does.
    ///
    /// # Errors
    /// As the async validation, and [`ErrorKind::Misconfigured`] inside an async runtime.
    pub fn validate(&self, token: &str) -> Result<VerifiedToken, Error> {
        let validator = self.validator.clone();
        let token = token.to_owned();
        self.runtime
            .run(async move { validator.validate(&token).await })?
    }

    /// The async validator inside, for code that has a runtime after all.
    pub fn as_async(&self) -> &crate::validator::Validator {
        &self.validator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator() -> Validator {
        Validator::build(
            crate::validator::Validator::builder()
                .issuer("https://idp.example")
                .audience("api")
                .key_set(
                    crate::keys::KeySet::from_jwks(
                        br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
                        &[crate::jose::Algorithm::EdDSA],
                    )
                    .unwrap(),
                ),
        )
        .unwrap()
    }

    #[test]
    fn works_from_a_plain_thread() {
        let validator = validator();
        let err = validator.validate("a.b.c").unwrap_err();
        assert!(err.is_invalid_token());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let validator = validator.clone();
                thread::spawn(move || validator.validate("x").unwrap_err().is_invalid_token())
            })
            .collect();
        for thread in threads {
            assert!(thread.join().unwrap());
        }
    }

    #[test]
    fn inside_a_runtime_it_is_an_error_not_a_panic() {
        let validator = validator();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = runtime.block_on(async { validator.validate("a.b.c").unwrap_err() });
        assert!(err.is_misconfigured(), "{err}");
        assert!(err.to_string().contains("spawn_blocking"));
        let err = runtime
            .block_on(async {
                Validator::build(
                    crate::validator::Validator::builder()
                        .issuer("https://x")
                        .audience("a"),
                )
            })
            .unwrap_err();
        assert!(err.is_misconfigured());

        // From a blocking task, opted in: it works.
        let answer = runtime.block_on(async move {
            tokio::task::spawn_blocking(move || {
                allow_in_blocking_task(|| validator.validate("a.b.c"))
            })
            .await
            .unwrap()
        });
        assert!(answer.unwrap_err().is_invalid_token());
    }
}
