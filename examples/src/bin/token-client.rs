//! A calling service from the command line: gets tokens with jwtguard-client (client
//! credentials at `--issuer`), makes `--count` calls to `--call`, `--concurrency` at a time,
//! through the bearer middleware, and prints a status histogram and how many token requests it
//! made.
//!
//! ```text
//! token-client --issuer URL --client-id ID --client-secret S [--scope S] [--resource R]
//!              --call URL [--count N] [--concurrency C]
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Parser;
use jwtguard::client::{BearerMiddleware, ClientAuth, OAuthClient, TokenManager, TokenParams};

/// Gets tokens by client credentials and calls an API with them.
#[derive(Parser, Debug)]
#[command(name = "token-client")]
struct Args {
    /// The issuer (discovery at URL/.well-known/openid-configuration).
    #[arg(long)]
    issuer: String,
    /// The client id.
    #[arg(long)]
    client_id: String,
    /// The client secret (sent with client_secret_basic).
    #[arg(long)]
    client_secret: String,
    /// The scope to ask for.
    #[arg(long)]
    scope: Option<String>,
    /// The resource (RFC 8707) the token is for.
    #[arg(long)]
    resource: Option<String>,
    /// The URL to GET.
    #[arg(long)]
    call: String,
    /// How many calls.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// How many at a time.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("token-client: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let manager = TokenManager::builder().build().map_err(|e| e.to_string())?;
    let client = OAuthClient::discover(
        &args.issuer,
        ClientAuth::secret_basic(&args.client_id, &args.client_secret),
    );
    let mut params = TokenParams::new();
    if let Some(scope) = &args.scope {
        params = params.scope(scope);
    }
    if let Some(resource) = &args.resource {
        params = params.resource(resource);
    }
    let token = manager
        .client_credentials(&client, params)
        .map_err(|e| e.to_string())?;
    // A token that can't be had is reported once, before any call.
    token
        .get()
        .await
        .map_err(|e| format!("no token from {}: {e}", args.issuer))?;
    let middleware =
        BearerMiddleware::new(token.clone(), [&args.call]).map_err(|e| e.to_string())?;
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build();

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (http, next, url, count) = (
                http.clone(),
                Arc::clone(&next),
                args.call.clone(),
                args.count,
            );
            tokio::spawn(async move {
                let mut seen = BTreeMap::<String, usize>::new();
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let outcome = match http.get(&url).send().await {
                        Ok(response) => format!("status {}", response.status().as_u16()),
                        Err(err) => format!("error: {err}"),
                    };
                    *seen.entry(outcome).or_default() += 1;
                }
                seen
            })
        })
        .collect();
    let mut histogram = BTreeMap::<String, usize>::new();
    for worker in workers {
        for (outcome, n) in worker.await.map_err(|e| e.to_string())? {
            *histogram.entry(outcome).or_default() += n;
        }
    }
    println!(
        "{} calls to GET {}, {} at a time, in {:.2} s",
        args.count,
        args.call,
        args.concurrency.max(1),
        started.elapsed().as_secs_f64()
    );
    for (outcome, n) in &histogram {
        println!("  {outcome}: {n}");
    }
    println!("token requests: {}", token.token_requests());
    Ok(())
}
