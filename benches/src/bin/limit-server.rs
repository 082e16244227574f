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

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const USAGE: &str = "usage: limit-server --bind ADDR [--jwks FILE]";

/// The first RSA key of a JWKS, parsed for RS256.
fn rsa_key(jwks: &str) -> Result<ParsedPublicKey, String> {
    let jwks: serde_json::Value =
        serde_json::from_str(jwks).map_err(|err| format!("the JWKS is not JSON: {err}"))?;
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|key| key["kty"] == "RSA"))
        .ok_or("the JWKS has no RSA key")?;
    let member = |name: &str| {
        key[name]
            .as_str()
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or(format!("the RSA key has no usable {name}"))
    };
    let (n, e) = (member("n")?, member("e")?);
    RsaPublicKeyComponents {
        n: &n[..],
        e: &e[..],
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .map_err(|_| "the RSA key can't be parsed".to_owned())
}

/// The signature check, and nothing else.
fn signature_holds(key: &ParsedPublicKey, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let Some((input, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    key.verify_sig(input.as_bytes(), &signature).is_ok()
}

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
                .and_then(|jwks| rsa_key(&jwks))
                .unwrap_or_else(|err| {
                    eprintln!("{err}");
                    std::process::exit(2);
                });
            let key = Arc::new(key);
            Router::new().fallback(get(move |headers: HeaderMap| {
                let key = Arc::clone(&key);
                async move {
                    if signature_holds(&key, &headers) {
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
