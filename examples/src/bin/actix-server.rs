//! The example API on actix-web: `--issuer URL --audience AUD [--bind ADDR] [--redis URL]
//! [--introspect CLIENT_ID:CLIENT_SECRET] [--api-keys FILE]`, serving `/health`, `/openapi.json`, `/me`,
//! `/admin` (role `admin`) and `/scoped` (scope `write`).

use jwtguard_examples::{actix_server, start_up};

#[tokio::main]
async fn main() {
    let (args, authenticator) = start_up().await;
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let server = match actix_server(authenticator, args.bind, workers) {
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
