//! The reference servers of the load runs (`scripts/load-run`): axum 0.8 on tokio's default
//! runtime, answering every `GET` with a fixed string.
//!
//! `limit-server --bind ADDR [--jwks FILE]`
//!
//! - without `--jwks`: no authentication at all, the no-auth server;
//! - with `--jwks FILE` (a JWKS): the limit, the least a protected server must do: the bearer
//!   token's RS256 signature checked by aws-lc-rs with the first RSA key of the set, parsed
//!   once. No claims, no `kid` lookup, no header parsing; any failure is a bare 401.
//!
//! Prints `READY <address>` once it listens.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use jwtguard_benches::{limit_check, limit_key};

const USAGE: &str = "usage: limit-server --bind ADDR [--jwks FILE]";

#[tokio::main]
async fn main() {
    let mut bind = None;
    let mut jwks = None;
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        match (name.as_str(), args.next()) {
            ("--bind", Some(value)) => bind = Some(value),
            ("--jwks", Some(value)) => jwks = Some(value),
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let Some(bind) = bind else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let app = match jwks {
        None => Router::new().fallback(get(|| async { "user-1" })),
        Some(path) => {
            let key = std::fs::read_to_string(&path)
                .map_err(|err| format!("{path}: {err}"))
                .and_then(|jwks| {
                    serde_json::from_str(&jwks)
                        .map_err(|err| format!("the JWKS is not JSON: {err}"))
                })
                .and_then(|jwks| limit_key(&jwks))
                .unwrap_or_else(|err| {
                    eprintln!("{err}");
                    std::process::exit(2);
                });
            let key = Arc::new(key);
            Router::new().fallback(get(move |headers: HeaderMap| {
                let key = Arc::clone(&key);
                async move {
                    let authorization = headers.get(header::AUTHORIZATION);
                    if limit_check(&key, authorization.map(|value| value.as_bytes())) {
                        Ok("user-1")
                    } else {
                        Err(StatusCode::UNAUTHORIZED)
                    }
                }
            }))
        }
    };
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .unwrap_or_else(|err| {
            eprintln!("could not listen on {bind}: {err}");
            std::process::exit(1);
        });
    println!("READY {}", listener.local_addr().expect("an address"));
    let _ = axum::serve(listener, app).await;
}
