//! The contract's routes on actix-web.

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use jwtguard::Authenticator;
use jwtguard::actix::{Claims, JwtAuth, require_role, require_scope};
use serde_json::{Value, json};

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
/// | `GET /me` | valid credential | 200, the token's claims as JSON (an API key's: `sub`, `roles`, `scope`) |
/// | `GET /admin` | role `admin` | 200; 403 without the role |
/// | `GET /scoped` | scope `write` | 200; 403 without the scope |
///
/// `/admin` and `/scoped` are guarded with the attribute macros (the axum example uses the
/// guard layers instead; both answer the same). The server runs in a task of the current tokio
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
    let authenticator: Authenticator = authenticator.into();
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .route("/health", web::get().to(|| async { "ok" }))
            .service(
                web::scope("")
                    .wrap(JwtAuth::new(authenticator.clone()))
                    .route("/me", web::get().to(me))
                    .route("/admin", web::get().to(admin))
                    .route("/scoped", web::get().to(scoped)),
            )
    })
    .workers(workers.max(1))
    .disable_signals()
    .listen(listener)?;
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(ActixServer { addr, handle })
}

async fn me(Claims(claims): Claims<Value>) -> HttpResponse {
    HttpResponse::Ok().json(claims)
}

#[require_role("admin")]
async fn admin() -> HttpResponse {
    HttpResponse::Ok().json(json!({"admin": true}))
}

#[require_scope("write")]
async fn scoped() -> HttpResponse {
    HttpResponse::Ok().json(json!({"write": true}))
}
