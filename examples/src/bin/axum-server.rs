//! The example API on axum: `--issuer URL --audience AUD [--bind ADDR]`, serving `/health`,
//! `/me`, `/admin` (role `admin`) and `/scoped` (scope `write`).

use jwtguard::Validator;
use jwtguard_examples::{ServerArgs, axum_app};

#[tokio::main]
async fn main() {
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
    let validator = match Validator::builder()
        .issuer(&args.issuer)
        .audience(&args.audience)
        .build()
        .await
    {
        Ok(validator) => validator,
        Err(err) => {
            eprintln!(
                "could not set up token validation for {}: {err}",
                args.issuer
            );
            std::process::exit(1);
        }
    };
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
    if let Err(err) = axum::serve(listener, axum_app(validator))
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("server error: {err}");
        std::process::exit(1);
    }
}
