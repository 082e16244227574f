//! The load-run peer: `/me` behind jwt-authorizer, on one worker thread, with RS256 keys given
//! as a JWKS file.
//!
//! `jwt-authorizer-target --jwks FILE --issuer ISS --audience AUD` prints `READY <address>`.

use axum::routing::get;
use axum::Router;
use jwt_authorizer::{IntoLayer, JwtAuthorizer, JwtClaims, Validation};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut jwks, mut issuer, mut audience) = (None, None, None);
    while let (Some(name), Some(value)) = (args.next(), args.next()) {
        match name.as_str() {
            "--jwks" => jwks = Some(value),
            "--issuer" => issuer = Some(value),
            "--audience" => audience = Some(value),
            _ => break,
        }
    }
    let (Some(jwks), Some(issuer), Some(audience)) = (jwks, issuer, audience) else {
        eprintln!("usage: jwt-authorizer-target --jwks FILE --issuer ISS --audience AUD");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let text = std::fs::read_to_string(&jwks).expect("JWKS file");
        let authorizer = JwtAuthorizer::<serde_json::Value>::from_jwks_text(&text)
            .validation(Validation::new().iss(&[issuer]).aud(&[audience]))
            .build()
            .await
            .expect("authorizer");
        let app = Router::new()
            .route(
                "/me",
                get(|JwtClaims(claims): JwtClaims<serde_json::Value>| async move {
                    claims["sub"].as_str().unwrap_or_default().to_owned()
                }),
            )
            .layer(authorizer.into_layer());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("READY {}", listener.local_addr().expect("address"));
        axum::serve(listener, app).await.expect("serve");
    });
}
