//! The blocking front (feature `blocking`): the [`TokenManager`] for programs without an
//! async runtime. It runs on the core's blocking [`Runtime`]: a private runtime on a thread
//! of its own. Called inside an async runtime, every call that may wait (`get`,
//! `renew_rejected`) returns an error ([`Error::is_misconfigured`]) that says what to do
//! instead, in release builds too; code in a `spawn_blocking` closure opts in with
//! [`allow_in_blocking_task`]. Building the manager and creating tokens never wait, and work
//! anywhere.
//!
//! ```no_run
//! # fn main() -> Result<(), jwtguard_client::Error> {
//! use jwtguard_client::blocking::TokenManager;
//! use jwtguard_client::{ClientAuth, OAuthClient, TokenParams};
//!
//! let manager = TokenManager::build(jwtguard_client::TokenManager::builder())?;
//! let client = OAuthClient::discover(
//!     "https://idp.example.com",
//!     ClientAuth::secret_basic("batch-job", "s3cr3t"),
//! );
//! let token = manager.client_credentials(&client, TokenParams::new())?;
//! let header = token.get()?.authorization().clone();
//! # let _ = header; Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

pub use jwtguard_core::blocking::{Runtime, allow_in_blocking_task};

use crate::error::Error;
use crate::manager::TokenManagerBuilder;
use crate::source::{OAuthClient, TokenParams};
use crate::token::AccessToken;

/// The [`TokenManager`](crate::TokenManager) for programs without an async runtime. Cheap to
/// clone.
#[derive(Clone)]
pub struct TokenManager {
    manager: crate::TokenManager,
    runtime: Arc<Runtime>,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager built from `builder`, on a private runtime (background renewal, when on,
    /// runs there).
    ///
    /// # Errors
    /// As [`TokenManagerBuilder::build`].
    pub fn build(builder: TokenManagerBuilder) -> Result<Self, Error> {
        let runtime = Arc::new(Runtime::start("jwtguard-client-blocking")?);
        let manager = {
            let _inside = runtime.handle().enter();
            builder.build()?
        };
        Ok(Self { manager, runtime })
    }

    /// As [`TokenManager::client_credentials`](crate::TokenManager::client_credentials).
    ///
    /// # Errors
    /// As there.
    pub fn client_credentials(
        &self,
        client: &OAuthClient,
        params: TokenParams,
    ) -> Result<ManagedToken, Error> {
        let _inside = self.runtime.handle().enter();
        let token = self.manager.client_credentials(client, params)?;
        Ok(self.wrap(token))
    }

    /// As [`TokenManager::refresh_token`](crate::TokenManager::refresh_token).
    ///
    /// # Errors
    /// As there.
    pub fn refresh_token(
        &self,
        client: &OAuthClient,
        refresh_token: impl Into<String>,
        params: TokenParams,
    ) -> Result<ManagedToken, Error> {
        let _inside = self.runtime.handle().enter();
        let token = self.manager.refresh_token(client, refresh_token, params)?;
        Ok(self.wrap(token))
    }

    fn wrap(&self, token: crate::ManagedToken) -> ManagedToken {
        ManagedToken {
            token,
            runtime: Arc::clone(&self.runtime),
        }
    }
}

/// A [`ManagedToken`](crate::ManagedToken) for blocking code.
#[derive(Clone)]
pub struct ManagedToken {
    token: crate::ManagedToken,
    runtime: Arc<Runtime>,
}

impl fmt::Debug for ManagedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.token.fmt(f)
    }
}

impl ManagedToken {
    /// As [`ManagedToken::get`](crate::ManagedToken::get), blocking.
    ///
    /// # Errors
    /// As there, and [`ErrorKind::Misconfigured`](crate::ErrorKind::Misconfigured) inside an
    /// async runtime.
    pub fn get(&self) -> Result<Arc<AccessToken>, Error> {
        // Through the runtime even when the token is fresh: past its renewal point, `get`
        // starts the renewal there, as the async one does.
        let token = self.token.clone();
        self.runtime.run(async move { token.get().await })?
    }

    /// As [`ManagedToken::renew_rejected`](crate::ManagedToken::renew_rejected), blocking.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn renew_rejected(&self, rejected: &AccessToken) -> Result<Arc<AccessToken>, Error> {
        let token = self.token.clone();
        let rejected = rejected.clone();
        self.runtime
            .run(async move { token.renew_rejected(&rejected).await })?
    }

    /// The async managed token inside.
    pub fn as_async(&self) -> &crate::ManagedToken {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientAuth;
    use jwtguard_testkit::Issuer;

    #[test]
    fn works_from_plain_code_and_refuses_inside_a_runtime() {
        // The issuer runs on a runtime of its own; this test's thread has none.
        let servers = tokio::runtime::Runtime::new().unwrap();
        let issuer = servers.block_on(Issuer::start());
        issuer.register_client("batch", "batch-secret");
        let manager = TokenManager::build(crate::TokenManager::builder()).unwrap();
        let client = OAuthClient::discover(
            issuer.url(),
            ClientAuth::secret_basic("batch", "batch-secret"),
        );
        let token = manager
            .client_credentials(&client, TokenParams::new())
            .unwrap();
        let first = token.get().expect("a token from plain code");
        assert!(token.get().unwrap().is(first.expose()));
        assert_eq!(issuer.token_requests_by_grant("client_credentials"), 1);

        // Renewed ahead of expiry from blocking code too: a 2 s token past its renewal
        // point (1 s) is still handed out, and replaced in the background.
        issuer.set_token_ttl(std::time::Duration::from_secs(2));
        let short = manager
            .client_credentials(&client, TokenParams::new().scope("short"))
            .unwrap();
        let old = short.get().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1_200));
        assert!(short.get().unwrap().is(old.expose()), "handed out at once");
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!short.get().unwrap().is(old.expose()), "renewed meanwhile");
        assert_eq!(issuer.token_requests_by_grant("client_credentials"), 3);

        for runtime in [
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        ] {
            let err = runtime.block_on(async { token.get().unwrap_err() });
            assert!(err.is_misconfigured(), "{err}");
            assert!(err.to_string().contains("spawn_blocking"), "{err}");

            let in_task = token.clone();
            let answer = runtime.block_on(async move {
                tokio::task::spawn_blocking(move || allow_in_blocking_task(|| in_task.get()))
                    .await
                    .unwrap()
            });
            assert!(
                answer
                    .expect("allowed in a blocking task")
                    .is(first.expose())
            );
        }
    }
}
