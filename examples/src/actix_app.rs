//! The contract's routes on actix-web.

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use jwtguard::Authenticator;
use jwtguard::actix::{
    Claims, JwtAuth, require_acr, require_auth_age, require_role, require_scope,
};
use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::{OpenApiJson, Subject, resource_metadata};

/// A running actix-web example server.
pub struct ActixServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Stops it.
    pub handle: ServerHandle,
}

/// Serves the contract's routes on actix-web, at `bind` (port 0 for a free one), with `workers`
/// worker threads:
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
///
/// `/admin`, `/scoped` and `/stepup` are guarded with the attribute macros, as on axum: the OpenAPI
/// document takes each route's requirement from them. The server runs in a task of the current tokio
/// runtime; the returned handle stops it.
pub fn actix_server(
    authenticator: impl Into<Authenticator>,
    bind: SocketAddr,
    workers: usize,
) -> std::io::Result<ActixServer> {
    actix_server_on(authenticator, std::net::TcpListener::bind(bind)?, workers)
}

/// [`actix_server`] on a listener already bound (so that its address is known before the
/// authenticator is made: a DPoP public URL, say).
pub fn actix_server_on(
    authenticator: impl Into<Authenticator>,
    listener: std::net::TcpListener,
    workers: usize,
) -> std::io::Result<ActixServer> {
    let addr = listener.local_addr()?;
    let routes = actix_routes(authenticator);
    let server = HttpServer::new(move || App::new().configure(routes.clone()))
        .workers(workers.max(1))
        .disable_signals()
        .listen(listener)?;
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(ActixServer { addr, handle })
}

/// The routes of [`actix_server`], for `App::configure`: the same app in process (in benches
/// and tests, through `actix_web::test`).
pub fn actix_routes(
    authenticator: impl Into<Authenticator>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let authenticator: Authenticator = authenticator.into();
    let document = OpenApiJson::new(authenticator.clone(), <ActixApi as OpenApi>::openapi);
    let metadata = resource_metadata(&authenticator);
    move |config: &mut web::ServiceConfig| {
        if let Some(metadata) = &metadata {
            config.service(jwtguard::actix::resource_metadata_service(metadata));
        }
        config
            .app_data(web::Data::new(document.clone()))
            .route("/health", web::get().to(health))
            .route("/openapi.json", web::get().to(openapi_json))
            .service(
                web::scope("")
                    .wrap(JwtAuth::new(authenticator.clone()))
                    .route("/me", web::get().to(me))
                    .route("/sub", web::get().to(sub))
                    .route("/admin", web::get().to(admin))
                    .route("/scoped", web::get().to(scoped))
                    .route("/stepup", web::get().to(stepup)),
            );
    }
}

/// The routes of [`actix_server`], for its OpenAPI document (the same as axum's).
#[derive(OpenApi)]
#[openapi(
    paths(health, me, sub, admin, scoped, stepup),
    info(
        title = "jwtguard example API",
        description = "The example servers' routes."
    )
)]
struct ActixApi;

async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.get().await)
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
async fn me(Claims(claims): Claims<Value>) -> HttpResponse {
    HttpResponse::Ok().json(claims)
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
async fn admin() -> HttpResponse {
    HttpResponse::Ok().json(json!({"admin": true}))
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
async fn scoped() -> HttpResponse {
    HttpResponse::Ok().json(json!({"write": true}))
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
async fn stepup() -> HttpResponse {
    HttpResponse::Ok().json(json!({"step_up": true}))
}
