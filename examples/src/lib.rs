//! The example servers' shared parts: the command line and the routes of the contract
//! (`/health`, `/me`, `/admin`, `/scoped`), on axum and on actix-web.

mod actix_app;

pub use actix_app::{ActixServer, actix_server, actix_server_on};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::routing::get;
use jwtguard::api_key::{ApiKeys, FileApiKeyStore};
use jwtguard::axum::{Claims, JwtLayer, RequireLayer};
use jwtguard::dpop::{DpopMode, DpopVerifier, NonceSource};
use jwtguard::introspection::Introspector;
use jwtguard::provider::ClientAuth;
use jwtguard::{ApiKeyLocation, Authenticator, TokenRouting, Validator};
use serde_json::Value;

/// The command line both example servers take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArgs {
    /// `--issuer URL`: the issuer to trust (discovery at `URL/.well-known/openid-configuration`).
    pub issuer: String,
    /// `--audience AUD`: the expected audience.
    pub audience: String,
    /// `--bind ADDR`: where to listen. Default `127.0.0.1:8080`.
    pub bind: SocketAddr,
    /// `--redis URL`: share fetched keys through this Redis (`redis://host:port`). Default:
    /// none, keys are cached in the process.
    pub redis: Option<String>,
    /// `--introspect CLIENT_ID:CLIENT_SECRET`: also accept opaque tokens, by introspection at
    /// the issuer's discovered endpoint, authenticating with `client_secret_basic`. Default:
    /// JWTs only.
    pub introspect: Option<(String, String)>,
    /// `--api-keys FILE`: also accept API keys in `X-API-Key`, from this JSON file
    /// (`[{"sha256": "<hex SHA-256 of the key>", "sub": "...", "roles": [...], "scopes":
    /// [...]}]`). Default: no API keys.
    pub api_keys: Option<std::path::PathBuf>,
    /// `--public-url URL`: the URL clients address the server by, for DPoP proofs' `htu`.
    /// Default `http://<bind address>`.
    pub public_url: Option<String>,
    /// `--dpop-nonce`: DPoP proofs must carry a server nonce (RFC 9449 §8). Default off.
    pub dpop_nonce: bool,
}

/// The usage line.
pub const USAGE: &str = "usage: --issuer URL --audience AUD [--bind ADDR (default 127.0.0.1:8080)] [--redis URL] [--introspect CLIENT_ID:CLIENT_SECRET] [--api-keys FILE] [--public-url URL] [--dpop-nonce]";

impl ServerArgs {
    /// Parses `--issuer`, `--audience` and `--bind` (also as `--name=value`).
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut issuer = None;
        let mut audience = None;
        let mut bind: SocketAddr = ([127, 0, 0, 1], 8080).into();
        let mut redis = None;
        let mut introspect = None;
        let mut api_keys = None;
        let mut public_url = None;
        let mut dpop_nonce = false;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
            };
            match name.as_str() {
                "--issuer" => issuer = Some(value()?),
                "--audience" => audience = Some(value()?),
                "--bind" => {
                    let text = value()?;
                    bind = text.parse().map_err(|_| {
                        format!("--bind {text:?} is not an address like 127.0.0.1:8080")
                    })?;
                }
                "--redis" => redis = Some(value()?),
                "--introspect" => {
                    let text = value()?;
                    let Some((id, secret)) = text.split_once(':') else {
                        return Err(format!(
                            "--introspect takes CLIENT_ID:CLIENT_SECRET\n{USAGE}"
                        ));
                    };
                    introspect = Some((id.to_owned(), secret.to_owned()));
                }
                "--api-keys" => api_keys = Some(value()?.into()),
                "--public-url" => public_url = Some(value()?),
                "--dpop-nonce" if inline.is_none() => dpop_nonce = true,
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        Ok(Self {
            issuer: issuer.ok_or_else(|| format!("--issuer is required\n{USAGE}"))?,
            audience: audience.ok_or_else(|| format!("--audience is required\n{USAGE}"))?,
            bind,
            redis,
            introspect,
            api_keys,
            public_url,
            dpop_nonce,
        })
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
    let args = match ServerArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    match authenticator_for(&args).await {
        Ok(authenticator) => (args, authenticator),
        Err(failure) => {
            eprintln!("{}", failure.message);
            std::process::exit(failure.exit_code);
        }
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
    if let Some((id, secret)) = &args.introspect {
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
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.bind));
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
    Ok(authenticator.dpop(dpop))
}

/// The contract's routes on axum (see [`actix_server`] for actix-web):
///
/// | route | auth | answer |
/// |---|---|---|
/// | `GET /health` | none | 200 |
/// | `GET /me` | valid credential | 200, the token's claims as JSON (an API key's: `sub`, `roles`, `scope`) |
/// | `GET /admin` | role `admin` | 200; 403 without the role |
/// | `GET /scoped` | scope `write` | 200; 403 without the scope |
pub fn axum_app(authenticator: impl Into<Authenticator>) -> Router {
    let protected = Router::new()
        .route("/me", get(me))
        .merge(
            Router::new()
                .route(
                    "/admin",
                    get(|| async { Json(serde_json::json!({"admin": true})) }),
                )
                .route_layer(RequireLayer::role("admin")),
        )
        .merge(
            Router::new()
                .route(
                    "/scoped",
                    get(|| async { Json(serde_json::json!({"write": true})) }),
                )
                .route_layer(RequireLayer::scope("write")),
        )
        .layer(JwtLayer::new(authenticator));
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(protected)
}

async fn me(Claims(claims): Claims<Value>) -> Json<Value> {
    Json(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServerArgs, String> {
        ServerArgs::parse(args.iter().map(|s| s.to_string()))
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
        assert!(
            parse(&["--issuer", "i"])
                .unwrap_err()
                .contains("--audience is required")
        );
        assert!(parse(&["--issuer"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--nope"]).unwrap_err().contains("unknown argument"));
        assert!(parse(&["--issuer", "i", "--audience", "a", "--bind", "x"]).is_err());
    }
}
