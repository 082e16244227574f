//! The example API on actix-web: `--issuer URL --audience AUD [--bind ADDR]`, serving
//! `/health`, `/me`, `/admin` (role `admin`) and `/scoped` (scope `write`).

use jwtguard::Validator;
use jwtguard_examples::{ServerArgs, actix_server};

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
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let server = match actix_server(validator, args.bind, workers) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("could not listen on {}: {err}", args.bind);
            std::process::exit(1);
        }
    };
    eprintln!("actix-server listening on http://{}", server.addr);
    let _ = tokio::signal::ctrl_c().await;
    server.handle.stop(true).await;
}
