//! The MCP example: an MCP server (rmcp, streamable HTTP transport on axum) with one tool,
//! `whoami`, behind jwtguard, as the MCP authorization specification asks of a server:
//!
//! - `/mcp` needs an access token whose audience is this server (RFC 8707: `--audience`,
//!   such as `http://127.0.0.1:8080/mcp`);
//! - every 401 names the resource's metadata (RFC 9728) in its challenge;
//! - the metadata, at `/.well-known/oauth-protected-resource`, names `--issuer` as the
//!   authorization server, so that a client finds where to get a token on its own.

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jwtguard::Authenticator;
use jwtguard::axum::{Claims, JwtLayer};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};

use crate::resource_metadata;

/// The MCP server's tools.
#[derive(Clone)]
pub struct Tools {
    tool_router: ToolRouter<Self>,
}

/// What `whoami` reads of the caller's token.
#[derive(serde::Deserialize)]
struct Caller {
    sub: String,
    /// RFC 9068's space-separated scopes.
    #[serde(default)]
    scope: String,
}

#[tool_router]
impl Tools {
    /// The tools, ready to serve.
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    /// The caller's `sub` and scopes, read from the access token through `Claims<T>`, as
    /// JSON: `{"sub": "...", "scopes": ["..."]}`.
    #[tool(description = "Who is calling: the access token's sub and scopes, as JSON")]
    async fn whoami(&self, Extension(parts): Extension<Parts>) -> Result<String, ErrorData> {
        // The HTTP request's parts, with what jwtguard's layer found in their extensions.
        let mut parts = parts;
        let Claims(caller) = Claims::<Caller>::from_request_parts(&mut parts, &())
            .await
            .map_err(|_| {
                ErrorData::invalid_request("the access token's claims are not usable", None)
            })?;
        let scopes: Vec<&str> = caller.scope.split_whitespace().collect();
        Ok(serde_json::json!({"sub": caller.sub, "scopes": scopes}).to_string())
    }
}

impl Default for Tools {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "jwtguard-mcp-example",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions("Call `whoami` to see who the server takes you for.")
    }
}

/// The MCP server's routes: `/mcp` (rmcp's streamable HTTP transport) behind [`JwtLayer`],
/// and the resource's metadata (see [`resource_metadata`]) without a token. `hosts` are the
/// host names the transport answers to besides loopback (it refuses others, against DNS
/// rebinding): the host of the public URL, say.
pub fn mcp_app(authenticator: impl Into<Authenticator>, hosts: &[String]) -> Router {
    let authenticator: Authenticator = authenticator.into();
    let metadata = resource_metadata(&authenticator);
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(
        ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(str::to_owned)
            .chain(hosts.iter().cloned()),
    );
    let service: StreamableHttpService<Tools, LocalSessionManager> =
        StreamableHttpService::new(|| Ok(Tools::new()), Default::default(), config);
    let mcp = Router::new()
        .nest_service("/mcp", service)
        .layer(JwtLayer::new(authenticator));
    match &metadata {
        Some(metadata) => jwtguard::axum::resource_metadata_router(metadata).merge(mcp),
        None => mcp,
    }
}
