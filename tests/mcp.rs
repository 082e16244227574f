//! The MCP example server, found and called as the MCP authorization specification describes,
//! against the real oidc-provider: a call without a token gets 401 naming the resource's
//! metadata (RFC 9728); the metadata names the authorization server; its metadata (RFC 8414)
//! names the token endpoint; a client-credentials token for the MCP server itself (RFC 8707)
//! calls the tool. rmcp's own client does each step where it can. A token for another
//! resource of the same issuer is refused.

use jwtguard_examples::{ServerArgs, authenticator_for, mcp_app};
use jwtguard_tests::{IDP_AUDIENCE, Idp, POST_CLIENT};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthClient, ClientCredentialsConfig, OAuthState};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

/// Starts the MCP example server on loopback, as its command line would: the audience is its
/// own `/mcp` URL. Answers that URL.
async fn start(idp: &Idp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mcp = format!("http://{addr}/mcp");
    let args = ServerArgs::from_args(
        [
            "--issuer",
            idp.issuer(),
            "--audience",
            &mcp,
            "--bind",
            &addr.to_string(),
        ]
        .map(str::to_owned),
    )
    .unwrap();
    let authenticator = authenticator_for(&args).await.expect("the server starts");
    let app = mcp_app(authenticator, &[]);
    tokio::spawn(async move { axum::serve(listener, app).await });
    mcp
}

/// The text of the `whoami` tool's answer, as JSON.
async fn whoami<S: rmcp::service::Service<rmcp::RoleClient>>(
    client: &RunningService<rmcp::RoleClient, S>,
) -> Value {
    let tools = client.list_tools(None).await.expect("tools/list");
    let names: Vec<&str> = tools.tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(names, ["whoami"]);
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .expect("tools/call");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let text = result
        .content
        .first()
        .and_then(|content| content.as_text())
        .map(|text| text.text.clone())
        .expect("a text answer");
    serde_json::from_str(&text).expect("JSON")
}

#[tokio::test]
async fn an_mcp_client_finds_the_authorization_server_and_calls_the_tool() {
    let idp = Idp::start().await;
    let mcp = start(&idp).await;
    let base = mcp.trim_end_matches("/mcp").to_owned();
    // RFC 9728 §3.1: the well-known path, then the resource's path.
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/mcp");
    let challenge = format!(r#"resource_metadata="{metadata_url}""#);
    let http = reqwest::Client::new();

    // 1. No token: 401, and the challenge names the metadata. rmcp's client sees the same.
    let refused = ().serve(StreamableHttpClientTransport::from_uri(mcp.as_str())).await;
    let err = refused.expect_err("no token, no session");
    assert!(err.is_authorization_required(), "{err}");
    let seen = err.auth_challenge().expect("a challenge").to_owned();
    assert!(
        seen.starts_with("Bearer ") && seen.contains(&challenge),
        "{seen}"
    );
    let bare = http
        .post(&mcp)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    assert!(
        bare.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with(&format!("Bearer {challenge}"))
    );

    // 2. The resource's metadata: this server, and the provider that issues its tokens.
    let metadata: Value = http
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], mcp.as_str());
    assert_eq!(metadata["authorization_servers"], json!([idp.issuer()]));
    assert_eq!(metadata["scopes_supported"], json!(["read", "write"]));
    assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
    let authorization_server = metadata["authorization_servers"][0].as_str().unwrap();

    // 3. The authorization server's metadata (RFC 8414; an OpenID provider publishes it at
    // the OpenID Connect location, which RFC 8414 §5 allows).
    let mut server_metadata = None;
    for suffix in ["oauth-authorization-server", "openid-configuration"] {
        let response = http
            .get(format!("{authorization_server}/.well-known/{suffix}"))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            server_metadata = Some(response.json::<Value>().await.unwrap());
            break;
        }
    }
    let server_metadata = server_metadata.expect("the authorization server's metadata");
    assert_eq!(server_metadata["issuer"], authorization_server);
    let token_endpoint = server_metadata["token_endpoint"].as_str().unwrap();

    // 4. A token for this server (resource = its URL), by client credentials.
    let token: Value = http
        .post(token_endpoint)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", POST_CLIENT.0),
            ("client_secret", POST_CLIENT.1),
            ("resource", &mcp),
            ("scope", "read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = token["access_token"].as_str().expect("a token").to_owned();

    // 5. The tool, through rmcp's client with that token.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(mcp.as_str()).auth_header(&access_token),
    );
    let client = ().serve(transport).await.expect("an MCP session");
    assert_eq!(
        whoami(&client).await,
        json!({"sub": POST_CLIENT.0, "scopes": ["read"]})
    );
    client.cancel().await.unwrap();

    // Steps 1 to 5 again, all by rmcp's own OAuth client: its discovery from the server's URL,
    // and its client-credentials grant with the server as the resource.
    let mut state = OAuthState::new(mcp.as_str(), None).await.unwrap();
    state
        .authenticate_client_credentials(ClientCredentialsConfig::ClientSecret {
            client_id: POST_CLIENT.0.to_owned(),
            client_secret: POST_CLIENT.1.to_owned(),
            scopes: vec!["read".to_owned()],
            resource: Some(mcp.clone()),
        })
        .await
        .expect("rmcp's client-credentials flow");
    let manager = state.into_authorization_manager().expect("authorized");
    let transport = StreamableHttpClientTransport::with_client(
        AuthClient::new(reqwest::Client::new(), manager),
        StreamableHttpClientTransportConfig::with_uri(mcp.as_str()),
    );
    let client = ().serve(transport).await.expect("an MCP session");
    assert_eq!(
        whoami(&client).await,
        json!({"sub": POST_CLIENT.0, "scopes": ["read"]})
    );
    client.cancel().await.unwrap();

    // A token of the same provider for another resource is refused (RFC 8707).
    let elsewhere = idp
        .token("admin-rs", "admin-rs-secret", IDP_AUDIENCE, "read")
        .await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(mcp.as_str()).auth_header(&elsewhere),
    );
    let err = ().serve(transport).await.expect_err("another audience");
    assert!(err.is_authorization_required(), "{err}");
    assert_eq!(
        err.auth_challenge(),
        Some(format!(r#"Bearer error="invalid_token", {challenge}"#).as_str())
    );
    idp.stop().await;
}
