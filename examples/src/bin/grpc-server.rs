//! The example API on gRPC (tonic behind the axum layer), with the same command line as the
//! other servers: `--issuer URL --audience AUD [--bind ADDR] [--redis URL] [--introspect
//! CLIENT_ID:CLIENT_SECRET] [--api-keys FILE] [--public-url URL] [--dpop-nonce]`, serving
//! `example.Account`: `WhoAmI` (unary) and `Count` (server streaming, scope `read`), over
//! HTTP/2 without TLS (h2c).

use jwtguard_examples::{grpc_app, start_up};

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
    eprintln!("grpc-server listening on http://{} (h2c)", args.bind);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(err) = axum::serve(listener, grpc_app(authenticator))
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("server error: {err}");
        std::process::exit(1);
    }
}
