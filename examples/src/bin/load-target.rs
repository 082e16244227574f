//! A server for load runs (`scripts/load-run`): one route, `/me`, on one worker thread, with an
//! embedded issuer so that nothing else is needed.
//!
//! `load-target --framework axum|actix --auth none|jwtguard|cached [--bind ADDR]` prints
//! `TOKEN <a valid token>`, `ISSUER <its issuer>`, `AUDIENCE <its audience>`,
//! `JWKS <its key set>` and then
//! `READY <address>` on standard output (the token never expires, so a peer server given the
//! key set can check it too).

use std::net::SocketAddr;

use actix_web::{App, HttpServer, web};
use axum::Router;
use axum::routing::get;
use jwtguard::testkit::{DEFAULT_AUDIENCE, Issuer};
use jwtguard::{TokenCacheConfig, Validator};

struct Options {
    framework: String,
    auth: String,
    bind: SocketAddr,
}

fn options() -> Result<Options, String> {
    let usage =
        "usage: load-target --framework axum|actix --auth none|jwtguard|cached [--bind ADDR]";
    let mut options = Options {
        framework: "axum".into(),
        auth: "jwtguard".into(),
        bind: ([127, 0, 0, 1], 0).into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        let value = args.next().ok_or(usage)?;
        match name.as_str() {
            "--framework" if value == "axum" || value == "actix" => options.framework = value,
            "--auth" if ["none", "jwtguard", "cached"].contains(&value.as_str()) => {
                options.auth = value
            }
            "--bind" => options.bind = value.parse().map_err(|_| usage)?,
            _ => return Err(usage.into()),
        }
    }
    Ok(options)
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(usage) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(serve(options));
}

async fn serve(options: Options) {
    let issuer = Issuer::start().await;
    let mut builder = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE);
    if options.auth == "cached" {
        builder = builder.token_cache(TokenCacheConfig::default());
    }
    let validator = builder.build().await.expect("validator");
    let token = issuer
        .token()
        .claim("exp", 4_000_000_000u64)
        .claim("scope", "openid profile orders:read")
        .claim("roles", vec!["user"])
        .sign();
    println!("TOKEN {token}");
    println!("ISSUER {}", issuer.url());
    println!("AUDIENCE {DEFAULT_AUDIENCE}");
    println!("JWKS {}", issuer.jwks());
    let protected = options.auth != "none";
    if options.framework == "actix" {
        let server = HttpServer::new(move || {
            let app = App::new();
            if protected {
                app.service(
                    web::scope("")
                        .wrap(jwtguard::actix::JwtAuth::new(validator.clone()))
                        .route(
                            "/me",
                            web::get().to(
                                |jwtguard::actix::Claims(c): jwtguard::actix::Claims| async move {
                                    c["sub"].as_str().unwrap_or_default().to_owned()
                                },
                            ),
                        ),
                )
            } else {
                app.service(web::scope("").route("/me", web::get().to(|| async { "user-1" })))
            }
        })
        .workers(1)
        .disable_signals()
        .bind(options.bind)
        .expect("bind");
        println!("READY {}", server.addrs()[0]);
        let _ = server.run().await;
    } else {
        let app = if protected {
            Router::new()
                .route(
                    "/me",
                    get(
                        |jwtguard::axum::Claims(c): jwtguard::axum::Claims| async move {
                            c["sub"].as_str().unwrap_or_default().to_owned()
                        },
                    ),
                )
                .layer(jwtguard::axum::JwtLayer::new(validator))
        } else {
            Router::new().route("/me", get(|| async { "user-1" }))
        };
        let listener = tokio::net::TcpListener::bind(options.bind)
            .await
            .expect("bind");
        println!("READY {}", listener.local_addr().expect("address"));
        let _ = axum::serve(listener, app).await;
    }
}
