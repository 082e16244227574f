//! The OpenAPI documents of the example servers, set up from their command line against the
//! real `oidc-provider`: the schemes come from the configuration (the token URL from the
//! provider's metadata), each route's scopes and roles from its guards, both frameworks serve
//! the same document, and the document is valid OpenAPI 3.1 by `openapi-spec-validator`
//! (which `scripts/test` installs).

use std::process::Command;

use jwtguard::api_key::KeyDigest;
use jwtguard::axum::{require_role, require_scope};
use jwtguard::openapi::OpenApiSecurity;
use jwtguard_examples::{ServerArgs, actix_server, authenticator_for, axum_app};
use jwtguard_tests::{IDP_AUDIENCE, Idp, serve};
use serde_json::{Value, json};
use utoipa::OpenApi;

/// The validator to run: `$OPENAPI_SPEC_VALIDATOR`, else `openapi-spec-validator` on the path.
fn validate(document: &Value) {
    let program = std::env::var("OPENAPI_SPEC_VALIDATOR")
        .unwrap_or_else(|_| "openapi-spec-validator".to_owned());
    let path = std::env::temp_dir().join(format!("jwtguard-openapi-{}.json", std::process::id()));
    std::fs::write(&path, document.to_string()).unwrap();
    let output = Command::new(&program)
        .args(["--schema", "3.1"])
        .arg(&path)
        .output()
        .unwrap_or_else(|err| panic!("{program} did not run ({err}); scripts/test installs it"));
    std::fs::remove_file(&path).unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "not valid OpenAPI 3.1:\n{said}");
    assert!(said.contains("OK"), "{said}");
}

/// The alternatives of `security` that name `scheme`, as `(scheme, list)`.
fn lists(security: &Value, scheme: &str) -> Vec<Value> {
    security
        .as_array()
        .expect("a security list")
        .iter()
        .filter_map(|object| object.get(scheme).cloned())
        .collect()
}

#[tokio::test]
async fn both_servers_describe_their_security_from_the_configuration_and_the_guards() {
    let idp = Idp::start().await;
    let keys =
        std::env::temp_dir().join(format!("jwtguard-openapi-keys-{}.json", std::process::id()));
    std::fs::write(
        &keys,
        format!(
            r#"[{{"sha256": "{}", "sub": "batch-job", "roles": ["admin"], "scopes": ["write"]}}]"#,
            KeyDigest::of("jg_openapi_key").to_hex()
        ),
    )
    .unwrap();
    let args = ServerArgs::from_args(
        [
            "--issuer",
            idp.issuer(),
            "--audience",
            IDP_AUDIENCE,
            "--api-keys",
            keys.to_str().unwrap(),
        ]
        .map(str::to_owned),
    )
    .unwrap();
    let authenticator = authenticator_for(&args).await.expect("the servers start");
    std::fs::remove_file(&keys).unwrap();
    let axum = serve(axum_app(authenticator.clone())).await;
    let actix = actix_server(authenticator, "127.0.0.1:0".parse().unwrap(), 1).unwrap();
    let client = reqwest::Client::new();
    let fetch = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.expect("request");
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "application/json");
            response.json::<Value>().await.expect("JSON")
        }
    };
    let document = fetch(format!("{axum}/openapi.json")).await;
    let from_actix = fetch(format!("http://{}/openapi.json", actix.addr)).await;
    assert_eq!(
        document, from_actix,
        "both frameworks describe the same API"
    );

    // The schemes, from the configuration and the provider's metadata.
    let metadata: Value = client
        .get(format!("{}/.well-known/openid-configuration", idp.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(
        schemes["openid"],
        json!({
            "type": "openIdConnect",
            "openIdConnectUrl": format!("{}/.well-known/openid-configuration", idp.issuer()),
            "description": "OpenID Connect: an access token from this provider",
        })
    );
    let flow = &schemes["oauth2"]["flows"]["clientCredentials"];
    assert_eq!(schemes["oauth2"]["type"], "oauth2");
    assert_eq!(flow["tokenUrl"], metadata["token_endpoint"]);
    assert_eq!(flow["scopes"], json!({"write": "write"}));
    assert_eq!(
        (&schemes["bearer"]["type"], &schemes["bearer"]["scheme"]),
        (&json!("http"), &json!("bearer"))
    );
    assert_eq!(schemes["bearer"]["bearerFormat"], "JWT");
    let dpop = &schemes["dpop"];
    assert_eq!(
        (&dpop["type"], &dpop["in"], &dpop["name"]),
        (&json!("apiKey"), &json!("header"), &json!("Authorization"))
    );
    assert_eq!(dpop["x-auth-scheme"], "DPoP");
    assert_eq!(dpop["x-dpop-proof-header"], "DPoP");
    assert!(
        dpop["x-dpop-signing-alg-values-supported"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256"))
    );
    assert_eq!(
        (&schemes["api_key"]["in"], &schemes["api_key"]["name"]),
        (&json!("header"), &json!("X-API-Key"))
    );

    // Every route needs a credential of any scheme, unless it says otherwise.
    let every: Vec<Value> = ["openid", "oauth2", "bearer", "dpop", "api_key"]
        .iter()
        .map(|name| json!({ *name: [] }))
        .collect();
    assert_eq!(document["security"], json!(every));
    assert_eq!(document["paths"]["/health"]["get"]["security"], json!([{}]));
    assert!(document["paths"]["/me"]["get"].get("security").is_none());

    // The guards' requirements, per route: scopes on every scheme, roles where OpenAPI 3.1
    // lists role names.
    let scoped = &document["paths"]["/scoped"]["get"];
    for scheme in ["openid", "oauth2", "bearer", "dpop", "api_key"] {
        assert_eq!(lists(&scoped["security"], scheme), vec![json!(["write"])]);
    }
    assert_eq!(scoped["x-jwtguard-requirements"], json!(["scope write"]));
    let admin = &document["paths"]["/admin"]["get"];
    for scheme in ["openid", "oauth2"] {
        assert_eq!(lists(&admin["security"], scheme), vec![json!([])]);
    }
    for scheme in ["bearer", "dpop", "api_key"] {
        assert_eq!(lists(&admin["security"], scheme), vec![json!(["admin"])]);
    }
    assert_eq!(admin["x-jwtguard-requirements"], json!(["role admin"]));
    // A step-up requirement (RFC 9470) names no scope: any scheme will do, and the words say
    // what the login must be.
    let stepup = &document["paths"]["/stepup"]["get"];
    for scheme in ["openid", "oauth2", "bearer", "dpop", "api_key"] {
        assert_eq!(lists(&stepup["security"], scheme), vec![json!([])]);
    }
    assert_eq!(
        stepup["x-jwtguard-requirements"],
        json!(["acr mfa, authenticated within 300 s"])
    );
    let no_placeholder = document.to_string();
    assert!(!no_placeholder.contains("jwtguard:"), "{no_placeholder}");

    validate(&document);

    // What the document says is what the servers do: a token with the scope passes /scoped,
    // one without it is refused with that scope named.
    let writer = idp
        .token("admin-rs", "admin-rs-secret", IDP_AUDIENCE, "write")
        .await;
    let reader = idp
        .token("reader-rs", "reader-rs-secret", IDP_AUDIENCE, "read")
        .await;
    for base in [axum.clone(), format!("http://{}", actix.addr)] {
        let allowed = client
            .get(format!("{base}/scoped"))
            .bearer_auth(&writer)
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), 200, "{base}");
        let refused = client
            .get(format!("{base}/scoped"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{base}");
        // The server's metadata (RFC 9728) is named, at the default public URL.
        assert_eq!(
            refused.headers()["www-authenticate"],
            r#"Bearer error="insufficient_scope", scope="write", resource_metadata="http://127.0.0.1:8080/.well-known/oauth-protected-resource""#
        );
    }
    actix.handle.stop(true).await;
    idp.stop().await;
}

// Guards stacked, `any(..)`, and a `security` of the user's own.
#[require_scope(any("orders:write", "orders:admin"))]
#[require_role(all("billing", "audit"))]
#[utoipa::path(post, path = "/orders", responses((status = 200, description = "Created")))]
async fn create_order() -> &'static str {
    "created"
}

#[require_scope("orders:read")]
#[utoipa::path(
    get,
    path = "/orders",
    security(("partner_mtls" = [])),
    responses((status = 200, description = "The orders"))
)]
async fn list_orders() -> &'static str {
    "orders"
}

// `security(())` (public) under a guard, and the path inside `cfg_attr`.
#[require_role(any("auditor", "admin"))]
#[cfg_attr(all(), utoipa::path(get, path = "/reports", security(()), responses((status = 200, description = "Reports"))))]
async fn reports() -> &'static str {
    "reports"
}

#[derive(OpenApi)]
#[openapi(paths(create_order, list_orders, reports))]
struct OrdersApi;

#[tokio::test]
async fn stacked_guards_and_the_users_own_security_are_written_out() {
    let kit = jwtguard::testkit::Issuer::start().await;
    let validator = jwtguard::Validator::builder()
        .issuer(kit.url())
        .audience(jwtguard::testkit::DEFAULT_AUDIENCE)
        .jwks_uri(kit.jwks_uri())
        .build()
        .await
        .unwrap();
    let authenticator = jwtguard::Authenticator::new(validator);
    let security =
        OpenApiSecurity::new(&authenticator).client_credentials("https://idp.test/token");
    assert_eq!(
        security.scheme_names().collect::<Vec<_>>(),
        ["oauth2", "bearer"]
    );
    // The guarded handlers are ordinary axum handlers.
    let _routes: axum::Router = axum::Router::new()
        .route(
            "/orders",
            axum::routing::post(create_order).get(list_orders),
        )
        .route("/reports", axum::routing::get(reports));
    // DPoP required: no bearer scheme (a bearer token is refused), the token's source marked.
    let dpop = jwtguard::dpop::DpopVerifier::builder()
        .public_url("https://api.example.test")
        .mode(jwtguard::dpop::DpopMode::Required)
        .build()
        .unwrap();
    let required = OpenApiSecurity::new(&authenticator.clone().dpop(dpop))
        .client_credentials("https://idp.test/token");
    assert_eq!(
        required.scheme_names().collect::<Vec<_>>(),
        ["oauth2", "dpop"]
    );
    let mut bound = OrdersApi::openapi();
    required.apply(&mut bound);
    let bound = serde_json::to_value(&bound).unwrap();
    assert_eq!(
        bound["components"]["securitySchemes"]["oauth2"]["x-dpop-required"],
        true
    );
    assert_eq!(
        bound["paths"]["/orders"]["get"]["security"],
        json!([{"partner_mtls": []}, {"oauth2": ["orders:read"]}, {"dpop": ["orders:read"]}])
    );

    let mut document = OrdersApi::openapi();
    security.apply(&mut document);
    let again = {
        let mut twice = document.clone();
        security.apply(&mut twice);
        twice
    };
    let document = serde_json::to_value(&document).unwrap();
    let again = serde_json::to_value(&again).unwrap();
    assert_eq!(document, again, "applying twice changes nothing");
    // Keys from a JWKS URL: no discovery, so no openid scheme.
    assert!(
        document["components"]["securitySchemes"]
            .get("openid")
            .is_none()
    );
    let create = &document["paths"]["/orders"]["post"];
    assert_eq!(
        create["security"],
        json!([
            {"oauth2": ["orders:admin"]},
            {"bearer": ["orders:admin", "audit", "billing"]},
            {"oauth2": ["orders:write"]},
            {"bearer": ["orders:write", "audit", "billing"]},
        ])
    );
    assert_eq!(
        create["x-jwtguard-requirements"],
        json!([
            "any of scopes orders:write, orders:admin",
            "all of roles billing, audit"
        ])
    );
    let list = &document["paths"]["/orders"]["get"];
    assert_eq!(
        list["security"],
        json!([
            {"partner_mtls": []},
            {"oauth2": ["orders:read"]},
            {"bearer": ["orders:read"]},
        ])
    );
    // The guard's roles make two alternatives; for oauth2, which lists no roles, they are one.
    // The guard needs a credential: `security(())` does not stay.
    let reports = &document["paths"]["/reports"]["get"];
    assert_eq!(
        reports["security"],
        json!([
            {"oauth2": []},
            {"bearer": ["admin"]},
            {"bearer": ["auditor"]},
        ])
    );
    assert_eq!(
        document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"],
        json!({"orders:admin": "orders:admin", "orders:read": "orders:read", "orders:write": "orders:write"})
    );
}
