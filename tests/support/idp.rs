//! A real OpenID provider (node `oidc-provider`, from `tests/idp/`) started on loopback for the
//! duration of a test, and a client for its token endpoint.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// The audience the provider issues tokens for unless asked for another resource.
pub const IDP_AUDIENCE: &str = "https://api.example.test";

/// The provider's clients: (client id, secret, roles, scopes, signing algorithm).
pub const CLIENTS: [(&str, &str, &[&str], &str, &str); 4] = [
    (
        "admin-rs",
        "admin-rs-secret",
        &["admin"],
        "read write",
        "RS256",
    ),
    (
        "reader-rs",
        "reader-rs-secret",
        &["reader"],
        "read",
        "RS256",
    ),
    (
        "admin-es",
        "admin-es-secret",
        &["admin"],
        "read write",
        "ES256",
    ),
    (
        "writer-es",
        "writer-es-secret",
        &["user"],
        "read write",
        "ES256",
    ),
];

/// The `client_secret_post` client: (client id, secret). Scope `read`, roles `["reader"]`,
/// tokens signed with RS256. The provider refuses HTTP Basic for it: the secret goes in the form.
pub const POST_CLIENT: (&str, &str) = ("post-rs", "post-rs-secret");

/// The `private_key_jwt` client (RS256 assertions, RFC 7523). Scope `read write`, roles
/// `["service"]`, tokens signed with RS256. Registered only when the provider is started with
/// `IDP_CLIENT_JWKS_FILE` (its public keys); `tests/idp/README.md` lists what the provider
/// requires of an assertion.
pub const JWT_CLIENT: &str = "jwt-rs";

/// A running `oidc-provider` on 127.0.0.1. Stopped when dropped.
pub struct Idp {
    child: Child,
    issuer: String,
    port: u16,
    client: reqwest::Client,
}

fn idp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("idp")
}

impl Idp {
    /// Starts the provider on a free port.
    ///
    /// # Panics
    /// If node or the provider's packages are missing (the README's test command installs
    /// them), or the provider does not come up within 30 s.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts the provider with extra environment variables:
    ///
    /// - `IDP_PORT`: the port to listen on (default: a free port);
    /// - `IDP_AUDIENCE`: the default resource, [`IDP_AUDIENCE`] unless set;
    /// - `IDP_KEYS_FILE`: `{"keys":[private JWKs]}` to sign with (default: new RS256 and ES256
    ///   keys); `IDP_WRITE_KEYS_FILE`: where to write the keys in use; `IDP_ROTATE`: with
    ///   `IDP_KEYS_FILE`, put a new RS256 key first;
    /// - `IDP_TOKEN_TTL`: access-token lifetime in seconds (default 300);
    /// - `IDP_TOKEN_DELAY_MS`: a delay before each token request is handled (default 0);
    /// - `IDP_CLIENT_JWKS_FILE`: `{"keys":[public JWKs]}` of [`JWT_CLIENT`], which is registered
    ///   only with it.
    ///
    /// Restarting on the same `IDP_PORT` (after [`Idp::stop`]) with the same `IDP_KEYS_FILE`
    /// keeps the issuer and the signing keys; the request counts start over.
    ///
    /// # Panics
    /// As [`Idp::start`].
    pub async fn start_with(env: &[(&str, String)]) -> Self {
        let dir = idp_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test IdP's packages are missing: run `npm ci --prefix tests/idp` (the README's test command does)"
        );
        let mut command = Command::new("node");
        command
            .arg("server.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start node (is node installed?)");
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text).await;
                sink.lock().unwrap().push_str(&text);
            });
        }
        let stdout = child.stdout.take().expect("provider stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(json) = line.strip_prefix("IDP_READY ") {
                    return serde_json::from_str::<Value>(json).ok();
                }
            }
            None
        })
        .await;
        let Ok(Some(ready)) = ready else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            panic!(
                "the test IdP did not come up; its stderr:\n{}",
                stderr.lock().unwrap()
            );
        };
        // Keep draining stdout so the provider never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            issuer: ready["issuer"].as_str().expect("issuer").to_owned(),
            port: u16::try_from(ready["port"].as_u64().expect("port")).expect("port"),
            client: reqwest::Client::new(),
        }
    }

    /// The issuer identifier: `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The port the provider listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `client_credentials` access token for `resource` (the audience) and `scope`.
    pub async fn token(
        &self,
        client_id: &str,
        secret: &str,
        resource: &str,
        scope: &str,
    ) -> String {
        let response = self
            .client
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", scope),
            ])
            .send()
            .await
            .expect("token request");
        let status = response.status();
        let body: Value = response.json().await.expect("token response JSON");
        assert!(
            status.is_success(),
            "token request for {client_id} failed: {status} {body}"
        );
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A token for one of [`CLIENTS`] by id, for the default audience and its own scopes.
    pub async fn token_for(&self, client_id: &str) -> String {
        let (id, secret, _, scope, _) = CLIENTS
            .iter()
            .find(|c| c.0 == client_id)
            .copied()
            .unwrap_or_else(|| panic!("no client {client_id}"));
        self.token(id, secret, IDP_AUDIENCE, scope).await
    }

    /// Requests per path so far.
    pub async fn hits(&self) -> Value {
        self.client
            .get(format!("{}/__hits", self.issuer))
            .send()
            .await
            .expect("hits")
            .json()
            .await
            .expect("hits JSON")
    }

    /// The `POST /token` counts so far (`GET /__tokens`): `requests` (answered), `succeeded`
    /// (status 200), `in_flight` (not answered yet), and `{"requests":n,"succeeded":n}` per
    /// grant type under `grant_types` and per client id under `clients`.
    pub async fn token_requests(&self) -> Value {
        self.client
            .get(format!("{}/__tokens", self.issuer))
            .send()
            .await
            .expect("token counts")
            .json()
            .await
            .expect("token counts JSON")
    }

    /// The answered `POST /token` requests (succeeded or failed) made for `client_id` so far.
    pub async fn token_requests_for(&self, client_id: &str) -> u64 {
        self.token_requests().await["clients"][client_id]["requests"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Clears the `POST /token` counts (requests in flight are counted when answered).
    pub async fn reset_token_requests(&self) {
        let response = self
            .client
            .post(format!("{}/__tokens/reset", self.issuer))
            .send()
            .await
            .expect("reset token counts");
        assert!(
            response.status().is_success(),
            "reset token counts: {}",
            response.status()
        );
    }

    /// Stops the provider and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Decodes the (unverified) header and payload of a compact JWS, for assertions.
pub fn peek(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let decode = |part: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let mut parts = token.split('.');
    let header = decode(parts.next().expect("header"));
    let payload = decode(parts.next().expect("payload"));
    (header, payload)
}

/// Serves `app` on `127.0.0.1:0`; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}
