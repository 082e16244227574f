//! The example servers' shared parts: the command line and the routes of the contract
//! (`/health`, `/openapi.json`, `/me`, `/sub`, `/admin`, `/scoped`, `/stepup`, and the
//! resource's metadata), on axum and on actix-web.

mod actix_app;
pub mod grpc;
pub mod mcp;

pub use actix_app::{ActixServer, actix_routes, actix_server, actix_server_on};
pub use grpc::grpc_app;
pub use mcp::mcp_app;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::routing::get;
use jwtguard::api_key::{ApiKeys, FileApiKeyStore};
use jwtguard::axum::{
    Claims, JwtLayer, require_acr, require_auth_age, require_role, require_scope,
};
use jwtguard::dpop::{DpopMode, DpopVerifier, NonceSource};
use jwtguard::introspection::Introspector;
use jwtguard::openapi::OpenApiSecurity;
use jwtguard::provider::ClientAuth;
use jwtguard::resource_metadata::{ResourceMetadata, WELL_KNOWN_PATH};
use jwtguard::{ApiKeyLocation, Authenticator, TokenCacheConfig, TokenRouting, Validator};
use serde_json::Value;
use utoipa::OpenApi;

/// The command line both example servers take (`--help` prints it).
#[derive(Debug, Clone, PartialEq, Eq, clap::Parser)]
#[command(
    version,
    about = "A jwtguard-protected example API: /health, /openapi.json, /me, /sub, /admin (role admin), /scoped (scope write), /stepup (acr mfa within 300 s), /.well-known/oauth-protected-resource; on gRPC, example.Account (WhoAmI, Count with scope read); on MCP, the tool whoami at /mcp."
)]
pub struct ServerArgs {
    /// The issuer to trust (discovery at URL/.well-known/openid-configuration).
    #[arg(long, value_name = "URL")]
    pub issuer: String,
    /// The audience a token must name.
    #[arg(long, value_name = "AUD")]
    pub audience: String,
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Share fetched keys through this Redis (redis://host:port). Default: keys cached in the
    /// process.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// Also accept opaque tokens, by introspection at the issuer's discovered endpoint,
    /// authenticating with client_secret_basic. Default: JWTs only.
    #[arg(long, value_name = "CLIENT_ID:CLIENT_SECRET")]
    pub introspect: Option<ClientPair>,
    /// Also accept API keys in X-API-Key, from this JSON file: [{"sha256": "HEX", "sub": "...",
    /// "roles": [...], "scopes": [...]}], HEX the lower-case hex SHA-256 of the key. Default:
    /// no API keys.
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<std::path::PathBuf>,
    /// The URL clients address the server by: for DPoP proofs' htu, and the base of the
    /// resource metadata's URL named in every 401. Default: http:// and the bind address.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// DPoP proofs must carry a server nonce (RFC 9449 §8). Default: off.
    #[arg(long)]
    pub dpop_nonce: bool,
    /// Keep validated tokens, so that a token seen again skips the signature check (until
    /// its exp, at most 5 minutes, 32 MiB of tokens). Default: off.
    #[arg(long)]
    pub token_cache: bool,
}

/// A client id and secret given as `CLIENT_ID:CLIENT_SECRET`. Its `Debug` shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientPair {
    /// The client id.
    pub id: String,
    /// The client secret.
    pub secret: String,
}

impl std::str::FromStr for ClientPair {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (id, secret) = text
            .split_once(':')
            .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
            .ok_or("expected CLIENT_ID:CLIENT_SECRET")?;
        Ok(Self {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }
}

impl std::fmt::Debug for ClientPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPair")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ServerArgs {
    /// Parses the arguments after the program's name, as `--help` shows them: the error (or
    /// the help) as clap renders it otherwise.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        use clap::Parser as _;
        Self::try_parse_from(std::iter::once("server".to_owned()).chain(args))
            .map_err(|error| error.to_string())
    }
}

/// What both example servers do before serving: logging, the command line, and
/// [`authenticator_for`] it. Exits with a clear message when any of it fails.
pub async fn start_up() -> (ServerArgs, Authenticator) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = <ServerArgs as clap::Parser>::parse();
    match authenticator_for(&args).await {
        Ok(authenticator) => (args, authenticator),
        Err(failure) => {
            eprintln!("{}", failure.message);
            std::process::exit(failure.exit_code);
        }
    }
}

/// Serves `app` on `args.bind` until Ctrl-C, as the axum-based servers do; `name` is the
/// server's name for the terminal. Exits with a clear message when it can't listen.
pub async fn serve_axum(args: &ServerArgs, app: Router, name: &str) {
    let listener = match tokio::net::TcpListener::bind(args.bind).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not listen on {}: {err}", args.bind);
            std::process::exit(1);
        }
    };
    eprintln!("{name} listening on http://{}", args.bind);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(err) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("server error: {err}");
        std::process::exit(1);
    }
}

/// Why the servers could not start: what to print, and the exit code (2 for a bad command
/// line or file, 1 for an issuer that can't be reached or used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFailure {
    /// What went wrong, for the terminal.
    pub message: String,
    /// The process's exit code.
    pub exit_code: i32,
}

/// The authenticator of the command line: the validator for `--issuer` and `--audience`
/// (sharing keys through `--redis`), with `--introspect` the introspector beside it, with
/// `--api-keys` the keys of that file, read from `X-API-Key`, and DPoP allowed (RFC 9449: a
/// token with `cnf.jkt` passes only with a proof; bearer tokens keep working) for
/// `--public-url`, with server nonces under `--dpop-nonce`.
pub async fn authenticator_for(args: &ServerArgs) -> Result<Authenticator, StartFailure> {
    let fail = |exit_code: i32| move |message: String| StartFailure { message, exit_code };
    let mut builder = Validator::builder()
        .issuer(&args.issuer)
        .audience(&args.audience);
    if args.token_cache {
        builder = builder.token_cache(TokenCacheConfig::default());
    }
    if let Some(url) = &args.redis {
        let cache = jwtguard::keys::RedisKeyCache::new(url)
            .map_err(|err| fail(2)(format!("--redis {url}: {err}")))?;
        builder = builder.key_cache(cache);
    }
    let validator = builder.build().await.map_err(|err| {
        fail(1)(format!(
            "could not set up token validation for {}: {err}",
            args.issuer
        ))
    })?;
    let mut authenticator = Authenticator::new(validator);
    if let Some(ClientPair { id, secret }) = &args.introspect {
        let introspector = Introspector::builder()
            .issuer(&args.issuer)
            .audience(&args.audience)
            .client(ClientAuth::secret_basic(id, secret))
            .build()
            .await
            .map_err(|err| {
                fail(1)(format!(
                    "could not set up introspection at {}: {err}",
                    args.issuer
                ))
            })?;
        authenticator = authenticator.introspection(introspector, TokenRouting::Both);
    }
    if let Some(path) = &args.api_keys {
        let keys = FileApiKeyStore::open(path)
            .map(|store| ApiKeys::new(Arc::new(store)))
            .map_err(|err| fail(2)(format!("--api-keys {}: {err}", path.display())))?;
        authenticator = authenticator
            .api_keys(keys, ApiKeyLocation::default())
            .map_err(|err| fail(2)(format!("--api-keys: {err}")))?;
    }
    let public_url = public_url(args);
    let mut dpop = DpopVerifier::builder()
        .public_url(&public_url)
        .mode(DpopMode::Allowed);
    if args.dpop_nonce {
        let nonces = NonceSource::random(jwtguard::defaults::DPOP_NONCE_LIFETIME)
            .map_err(|err| fail(1)(format!("--dpop-nonce: {err}")))?;
        dpop = dpop.nonces(nonces);
    }
    let dpop = dpop
        .build()
        .map_err(|err| fail(2)(format!("--public-url {public_url}: {err}")))?;
    let authenticator = authenticator.dpop(dpop);
    match metadata_url(&args.audience, &public_url) {
        Ok(url) => Ok(authenticator.resource_metadata_url(url)),
        Err(err) => {
            eprintln!("no resource metadata is served: {err}");
            Ok(authenticator)
        }
    }
}

/// Where the example servers serve the resource's metadata (RFC 9728) for `audience`: at the
/// URL RFC 9728 derives from the audience when the audience is on the public URL's origin (an
/// MCP server's `http://127.0.0.1:8080/mcp`: `/.well-known/oauth-protected-resource/mcp`),
/// else at the public URL's `/.well-known/oauth-protected-resource`. Fails when the audience
/// is not a URL RFC 9728 allows for a resource (`https`, or `http` on loopback: not
/// `account`, say), or the public URL is not one to serve metadata at (plain `http` off
/// loopback: `--bind 0.0.0.0:8080` without `--public-url`).
pub fn metadata_url(audience: &str, public_url: &str) -> Result<String, String> {
    let derived =
        ResourceMetadata::new(audience).map_err(|err| format!("the audience {audience}: {err}"))?;
    let origin = |url: &str| url::Url::parse(url).ok().map(|url| url.origin());
    if origin(audience).is_some() && origin(audience) == origin(public_url) {
        return Ok(derived.url().to_owned());
    }
    let url = format!("{}{WELL_KNOWN_PATH}", public_url.trim_end_matches('/'));
    derived
        .served_at(&url)
        .map(|metadata| metadata.url().to_owned())
        .map_err(|err| format!("--public-url {public_url}: {err}"))
}

/// The URL clients address the server by: `--public-url`, else `http://` and `--bind`.
pub fn public_url(args: &ServerArgs) -> String {
    args.public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.bind))
}

/// The scopes the example API uses, as its metadata lists them.
pub const SCOPES: [&str; 2] = ["read", "write"];

/// The example servers' resource metadata (RFC 9728), when `authenticator`'s challenges name
/// one (see [`authenticator_for`]): `resource` = the first audience, `authorization_servers` =
/// the trusted issuers, `scopes_supported` = [`SCOPES`], the bearer methods and DPoP as the
/// authenticator is configured, served at the URL the challenges name.
pub fn resource_metadata(authenticator: &Authenticator) -> Option<ResourceMetadata> {
    let url = authenticator.options().resource_metadata.as_deref()?;
    let audience = authenticator.validator().audiences().next()?;
    let metadata = ResourceMetadata::for_authenticator(audience, authenticator)
        .and_then(|metadata| metadata.served_at(url));
    match metadata {
        Ok(metadata) => Some(metadata.scopes_supported(SCOPES)),
        Err(err) => {
            tracing::warn!(%err, "no resource metadata is served");
            None
        }
    }
}

/// The contract's routes on axum (see [`actix_server`] for actix-web):
///
/// | route | auth | answer |
/// |---|---|---|
/// | `GET /health` | none | 200 |
/// | `GET /openapi.json` | none | 200, the OpenAPI 3.1 document of these routes and their security |
/// | `GET /me` | valid credential | 200, the token's claims as JSON (an API key's: `sub`, `roles`, `scope`) |
/// | `GET /sub` | valid credential | 200, the token's `sub` as plain text, through a typed `Claims<T>` |
/// | `GET /admin` | role `admin` | 200; 403 without the role |
/// | `GET /scoped` | scope `write` | 200; 403 without the scope |
/// | `GET /stepup` | `acr` `mfa`, `auth_time` within 300 s | 200; 401 `insufficient_user_authentication` otherwise |
/// | `GET /.well-known/oauth-protected-resource` | none | the resource's metadata (RFC 9728), see [`resource_metadata`] |
pub fn axum_app(authenticator: impl Into<Authenticator>) -> Router {
    let authenticator: Authenticator = authenticator.into();
    let document = OpenApiJson::new(authenticator.clone(), <AxumApi as OpenApi>::openapi);
    let metadata = resource_metadata(&authenticator);
    let protected = Router::new()
        .route("/me", get(me))
        .route("/sub", get(sub))
        .route("/admin", get(admin))
        .route("/scoped", get(scoped))
        .route("/stepup", get(stepup))
        .layer(JwtLayer::new(authenticator));
    let public = match &metadata {
        Some(metadata) => jwtguard::axum::resource_metadata_router(metadata),
        None => Router::new(),
    };
    public
        .route("/health", get(health))
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        document.get().await,
                    )
                }
            }),
        )
        .merge(protected)
}

/// The routes of [`axum_app`], for its OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(health, me, sub, admin, scoped, stepup),
    info(
        title = "jwtguard example API",
        description = "The example servers' routes."
    )
)]
struct AxumApi;

/// Who the caller is: what `/sub` reads of the claims.
#[derive(serde::Deserialize)]
pub struct Subject {
    /// The token's `sub`.
    pub sub: String,
}

/// An OpenAPI document with the security of an authenticator, made on request (the token URL
/// comes from the issuer's metadata) and kept once that metadata has been had.
#[derive(Clone)]
pub struct OpenApiJson {
    authenticator: Authenticator,
    /// Makes the routes' document: only when it is asked for, so that a server that is never
    /// asked keeps none of it in memory.
    routes: fn() -> utoipa::openapi::OpenApi,
    made: Arc<std::sync::OnceLock<String>>,
}

impl OpenApiJson {
    /// The document `routes` makes (a utoipa document of the routes and their guards, such
    /// as `<Api as utoipa::OpenApi>::openapi`), with the schemes `authenticator` accepts.
    pub fn new(authenticator: Authenticator, routes: fn() -> utoipa::openapi::OpenApi) -> Self {
        Self {
            authenticator,
            routes,
            made: Arc::default(),
        }
    }

    /// The document as JSON. While an issuer's metadata can't be had, the document lacks its
    /// `oauth2` scheme and is made again on the next request.
    pub async fn get(&self) -> String {
        if let Some(made) = self.made.get() {
            return made.clone();
        }
        let security = OpenApiSecurity::discover(&self.authenticator).await;
        let mut document = (self.routes)();
        security.apply(&mut document);
        let json = document.to_pretty_json().unwrap_or_else(|err| {
            serde_json::json!({"error": format!("the document can't be written: {err}")})
                .to_string()
        });
        let validator = self.authenticator.validator();
        let discovered = validator
            .issuers()
            .filter(|issuer| validator.discovery_url(issuer).is_some())
            .count();
        if security.client_credentials_count() >= discovered {
            let _ = self.made.set(json.clone());
        }
        json
    }
}

/// Health check.
#[utoipa::path(get, path = "/health", security(()), responses((status = 200, description = "The server is up")))]
async fn health() -> &'static str {
    "ok"
}

/// The caller's claims.
#[utoipa::path(
    get,
    path = "/me",
    responses(
        (status = 200, description = "The credential's claims"),
        (status = 401, description = "No valid credential"),
    )
)]
async fn me(Claims(claims): Claims<Value>) -> Json<Value> {
    Json(claims)
}

/// The caller's `sub`.
#[utoipa::path(
    get,
    path = "/sub",
    responses(
        (status = 200, description = "The credential's sub, as plain text"),
        (status = 401, description = "No valid credential"),
    )
)]
async fn sub(Claims(subject): Claims<Subject>) -> String {
    subject.sub
}

/// For administrators.
#[require_role("admin")]
#[utoipa::path(
    get,
    path = "/admin",
    responses(
        (status = 200, description = "Welcome"),
        (status = 401, description = "No valid credential"),
        (status = 403, description = "The credential lacks the role admin"),
    )
)]
async fn admin() -> Json<Value> {
    Json(serde_json::json!({"admin": true}))
}

/// For writers.
#[require_scope("write")]
#[utoipa::path(
    get,
    path = "/scoped",
    responses(
        (status = 200, description = "Allowed"),
        (status = 401, description = "No valid credential"),
        (status = 403, description = "The credential lacks the scope write"),
    )
)]
async fn scoped() -> Json<Value> {
    Json(serde_json::json!({"write": true}))
}

/// For a recent login with a second factor.
#[require_acr("mfa")]
#[require_auth_age(300)]
#[utoipa::path(
    get,
    path = "/stepup",
    responses(
        (status = 200, description = "Allowed"),
        (status = 401, description = "No valid credential, or not a login with acr mfa within 300 s"),
    )
)]
async fn stepup() -> Json<Value> {
    Json(serde_json::json!({"step_up": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServerArgs, String> {
        ServerArgs::from_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn command_line() {
        let args = parse(&[
            "--issuer",
            "https://idp",
            "--audience=api",
            "--bind",
            "0.0.0.0:9000",
        ])
        .unwrap();
        assert_eq!(args.issuer, "https://idp");
        assert_eq!(args.audience, "api");
        assert_eq!(args.bind.port(), 9000);
        assert_eq!(args.redis, None);
        assert_eq!(args.api_keys, None);
        assert_eq!((args.public_url.as_deref(), args.dpop_nonce), (None, false));
        assert!(!args.token_cache);
        assert!(
            parse(&["--issuer", "i", "--audience", "a", "--token-cache"])
                .unwrap()
                .token_cache
        );
        let dpop = parse(&[
            "--issuer",
            "i",
            "--audience",
            "a",
            "--public-url",
            "https://api.example.test",
            "--dpop-nonce",
        ])
        .unwrap();
        assert_eq!(
            (dpop.public_url.as_deref(), dpop.dpop_nonce),
            (Some("https://api.example.test"), true)
        );
        let with_keys = parse(&["--issuer", "i", "--audience", "a", "--api-keys", "k.json"]);
        assert_eq!(
            with_keys.unwrap().api_keys.as_deref(),
            Some(std::path::Path::new("k.json"))
        );
        let with_redis = parse(&[
            "--issuer",
            "i",
            "--audience",
            "a",
            "--redis",
            "redis://127.0.0.1:1",
        ]);
        assert_eq!(
            with_redis.unwrap().redis.as_deref(),
            Some("redis://127.0.0.1:1")
        );
        assert_eq!(
            parse(&["--issuer", "i", "--audience", "a"])
                .unwrap()
                .bind
                .port(),
            8080
        );
        let missing = parse(&["--issuer", "i"]).unwrap_err();
        assert!(missing.contains("--audience <AUD>"), "{missing}");
        let no_value = parse(&["--issuer"]).unwrap_err();
        assert!(no_value.contains("a value is required"), "{no_value}");
        let unknown = parse(&["--nope"]).unwrap_err();
        assert!(
            unknown.contains("unexpected argument '--nope'"),
            "{unknown}"
        );
        assert!(parse(&["--issuer", "i", "--audience", "a", "--bind", "x"]).is_err());
        let pair = parse(&["--issuer=i", "--audience=a", "--introspect", "rs:s3cret"]).unwrap();
        let introspect = pair.introspect.unwrap();
        assert_eq!(
            (introspect.id.as_str(), introspect.secret.as_str()),
            ("rs", "s3cret")
        );
        assert!(!format!("{introspect:?}").contains("s3cret"));
        assert!(parse(&["--issuer=i", "--audience=a", "--introspect", "nosecret"]).is_err());
        let help = parse(&["--help"]).unwrap_err();
        assert!(
            help.contains("--public-url <URL>") && help.contains("--dpop-nonce"),
            "{help}"
        );
    }
}
