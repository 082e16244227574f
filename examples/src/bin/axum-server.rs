//! The example API on axum: `--issuer URL --audience AUD [--bind ADDR] [--redis URL]
//! [--introspect CLIENT_ID:CLIENT_SECRET] [--api-keys FILE]`, serving `/health`, `/openapi.json`,
//! `/me`, `/admin` (role `admin`) and `/scoped` (scope `write`).

use jwtguard_examples::{axum_app, start_up};

#[tokio::main]
async fn main() {
    let (args, authenticator) = start_up().await;
    let listener = match tokio::net::TcpListener::bind(args.bind).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not listen on {}: {err}", args.bind);
            std::process::exit(1);
        }
    };
    eprintln!("axum-server listening on http://{}", args.bind);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(err) = axum::serve(listener, axum_app(authenticator))
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("server error: {err}");
        std::process::exit(1);
    }
}
