//! An MCP server (rmcp, streamable HTTP at `/mcp`) with one tool, `whoami`, protected by
//! jwtguard, with the same command line as the other servers: `--issuer URL --audience AUD
//! [--bind ADDR] [--public-url URL] ...`. The audience is the server's own URL (RFC 8707), such
//! as `http://127.0.0.1:8080/mcp`; the resource's metadata (RFC 9728) is at
//! `/.well-known/oauth-protected-resource`, and every 401 names it.

use jwtguard_examples::{mcp_app, public_url, serve_axum, start_up};

#[tokio::main]
async fn main() {
    let (args, authenticator) = start_up().await;
    let hosts: Vec<String> = url_host(&public_url(&args)).into_iter().collect();
    serve_axum(&args, mcp_app(authenticator, &hosts), "mcp-server").await;
}

/// The host of `url` (with its port when it has one), which the transport must answer to.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| authority.to_owned())
}
