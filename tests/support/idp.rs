//! A real OpenID provider (node `oidc-provider`, from `tests/idp/`) started on loopback for the
//! duration of a test, and a client for its token, introspection (RFC 7662) and revocation
//! (RFC 7009) endpoints.

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

/// The resource whose access tokens are opaque (unless the provider is started with another
/// `IDP_OPAQUE_RESOURCE`): a token requested with `resource` set to it is an opaque string, not
/// a JWT, and its audience is this resource. Every other resource gets JWTs.
pub const OPAQUE_RESOURCE: &str = "https://opaque.example.test";

/// The resource server's client for the introspection endpoint: (client id, secret),
/// `client_secret_basic`. It may introspect every token whose audience is the opaque resource
/// ([`OPAQUE_RESOURCE`]); it has no grant types, so the token endpoint refuses it.
pub const INTROSPECTION_CLIENT: (&str, &str) = ("rs-introspect", "rs-introspect-secret");

/// The path of the introspection endpoint (as `introspection_endpoint` in discovery says).
const INTROSPECTION_PATH: &str = "/token/introspection";

/// The path of the revocation endpoint (as `revocation_endpoint` in discovery says).
const REVOCATION_PATH: &str = "/token/revocation";

/// A running `oidc-provider` on 127.0.0.1. Stopped when dropped.
pub struct Idp {
    child: Child,
    issuer: String,
    port: u16,
    opaque_resource: String,
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
    /// - `IDP_OPAQUE_RESOURCE`: the resource whose tokens are opaque, [`OPAQUE_RESOURCE`] unless
    ///   set ([`Idp::opaque_resource`] tells which);
    /// - `IDP_TOKEN_TTL`: access-token lifetime in seconds, JWT and opaque (default 300);
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
        let opaque_resource = env
            .iter()
            .rev()
            .find(|(name, _)| *name == "IDP_OPAQUE_RESOURCE")
            .map_or_else(|| OPAQUE_RESOURCE.to_owned(), |(_, value)| value.clone());
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
            opaque_resource,
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

    /// A `client_credentials` access token for `resource` bound to `key` (DPoP, RFC 9449): the
    /// request carries a proof signed by `key`, and the answer must say `token_type` `DPoP`.
    pub async fn dpop_token(
        &self,
        client_id: &str,
        secret: &str,
        resource: &str,
        key: &jwtguard::testkit::TestKey,
    ) -> String {
        let endpoint = format!("{}/token", self.issuer);
        let proof = key
            .dpop_proof("POST", &endpoint, "")
            .without_claim("ath")
            .sign();
        let response = self
            .client
            .post(&endpoint)
            .basic_auth(client_id, Some(secret))
            .header("dpop", proof)
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", "read"),
            ])
            .send()
            .await
            .expect("token request");
        let status = response.status();
        let body: Value = response.json().await.expect("token response JSON");
        assert!(
            status.is_success() && body["token_type"] == "DPoP",
            "DPoP token request for {client_id} failed: {status} {body}"
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

    /// The resource whose access tokens are opaque: [`OPAQUE_RESOURCE`] unless the provider was
    /// started with another `IDP_OPAQUE_RESOURCE`.
    pub fn opaque_resource(&self) -> &str {
        &self.opaque_resource
    }

    /// An opaque `client_credentials` access token (not a JWT) for `scope`, its audience the
    /// opaque resource ([`Idp::opaque_resource`]). The client authenticates with HTTP Basic.
    /// It lives `IDP_TOKEN_TTL` seconds; the provider keeps it in memory only, so a restart
    /// forgets it.
    ///
    /// # Panics
    /// If the token request fails.
    pub async fn opaque_token(&self, client_id: &str, secret: &str, scope: &str) -> String {
        self.token(client_id, secret, &self.opaque_resource, scope)
            .await
    }

    /// The provider's RFC 7662 answer for `token`, asked as [`INTROSPECTION_CLIENT`] (HTTP
    /// Basic). A live opaque token gives `{"active":true,...}` with `sub` and `client_id` (the
    /// token's client), `scope`, `roles`, `exp`, `iat`, `iss`, `aud` and `token_type`; an
    /// unknown, expired or revoked one `{"active":false}`. The provider does not introspect
    /// JWTs: for one, this is its error answer (status 400),
    /// `{"error":"unsupported_token_type",...}`.
    ///
    /// # Panics
    /// If the request fails or the answer is not JSON.
    pub async fn introspect(&self, token: &str) -> Value {
        let (client_id, secret) = INTROSPECTION_CLIENT;
        self.client
            .post(format!("{}{INTROSPECTION_PATH}", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspection request")
            .json()
            .await
            .expect("introspection response JSON")
    }

    /// Revokes `token` (RFC 7009) as its own client, which authenticates with HTTP Basic; the
    /// provider lets no other client revoke it. Afterwards [`Idp::introspect`] answers
    /// `{"active":false}` for it. Revoking an unknown token succeeds too.
    ///
    /// # Panics
    /// If the provider does not answer 200 (another client's token, bad credentials, a JWT).
    pub async fn revoke(&self, client_id: &str, secret: &str, token: &str) {
        let response = self
            .client
            .post(format!("{}{REVOCATION_PATH}", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .expect("revocation request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "revocation by {client_id} failed: {status} {body}"
        );
    }

    /// The requests made to the introspection endpoint so far, by any client and whatever the
    /// answer, as `GET /__hits` counts them (cleared by a restart).
    pub async fn introspection_hits(&self) -> u64 {
        self.hits().await[INTROSPECTION_PATH].as_u64().unwrap_or(0)
    }

    /// The most introspection requests the IdP has had in flight at once.
    pub async fn most_introspections_at_once(&self) -> u64 {
        let counts: Value = self
            .client
            .get(format!("{}/__introspections", self.issuer))
            .send()
            .await
            .expect("introspection counts")
            .json()
            .await
            .expect("introspection counts as JSON");
        counts["max_in_flight"].as_u64().unwrap_or(0)
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
