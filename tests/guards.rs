//! The attribute guards on both frameworks: any and all, roles and scopes, every IdP's token
//! shape, missing claims and claims of the wrong type. Each request goes to an axum and an
//! actix-web server, which must give the same, expected answer.

use std::time::Duration;

use actix_web::{App, HttpServer, get, web};
use axum::Router;
use axum::routing::get as axum_get;
use jwtguard::Validator;
use jwtguard::testkit::{DEFAULT_AUDIENCE, Issuer};
use jwtguard_tests::serve;
use serde_json::{Value, json};

mod on_axum {
    use jwtguard::axum::{Claims, require_role, require_scope};

    #[require_role("admin")]
    pub(crate) async fn admin() -> &'static str {
        "ok"
    }

    #[require_role(any("admin", "ops"))]
    pub(crate) async fn admin_or_ops(Claims(claims): Claims) -> String {
        claims["sub"].as_str().unwrap_or_default().to_owned()
    }

    #[require_role(all("billing", "audit"))]
    pub(crate) async fn billing_and_audit() -> &'static str {
        "ok"
    }

    #[require_scope("orders:write")]
    pub(crate) async fn write_orders() -> &'static str {
        "ok"
    }

    #[require_scope(any("orders:read", "orders:admin"))]
    pub(crate) async fn read_orders() -> &'static str {
        "ok"
    }

    #[require_scope(all("orders:read", "orders:write"))]
    #[require_role("clerk")]
    pub(crate) async fn clerk_read_write() -> &'static str {
        "ok"
    }
}

mod on_actix {
    use actix_web::get;
    use jwtguard::actix::{Claims, require_role, require_scope};

    #[get("/admin")]
    #[require_role("admin")]
    pub(crate) async fn admin() -> &'static str {
        "ok"
    }

    #[require_role(any("admin", "ops"))]
    #[get("/admin-or-ops")]
    pub(crate) async fn admin_or_ops(Claims(claims): Claims) -> String {
        claims["sub"].as_str().unwrap_or_default().to_owned()
    }

    #[require_role(all("billing", "audit"))]
    pub(crate) async fn billing_and_audit() -> &'static str {
        "ok"
    }

    #[get("/write-orders")]
    #[require_scope("orders:write")]
    pub(crate) async fn write_orders() -> &'static str {
        "ok"
    }

    #[require_scope(any("orders:read", "orders:admin"))]
    pub(crate) async fn read_orders() -> &'static str {
        "ok"
    }

    #[require_scope(all("orders:read", "orders:write"))]
    #[require_role("clerk")]
    pub(crate) async fn clerk_read_write() -> &'static str {
        "ok"
    }
}

#[get("/unguarded")]
async fn unguarded() -> &'static str {
    "ok"
}

async fn start(validator: Validator) -> (String, String, actix_web::dev::ServerHandle) {
    let axum_app = Router::new()
        .route("/admin", axum_get(on_axum::admin))
        .route("/admin-or-ops", axum_get(on_axum::admin_or_ops))
        .route("/billing-and-audit", axum_get(on_axum::billing_and_audit))
        .route("/write-orders", axum_get(on_axum::write_orders))
        .route("/read-orders", axum_get(on_axum::read_orders))
        .route("/clerk", axum_get(on_axum::clerk_read_write))
        .route("/unguarded", axum_get(|| async { "ok" }))
        .layer(jwtguard::axum::JwtLayer::new(validator.clone()));
    let axum_base = serve(axum_app).await;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(jwtguard::actix::JwtAuth::new(validator.clone()))
            .service(on_actix::admin)
            .service(on_actix::admin_or_ops)
            .route(
                "/billing-and-audit",
                web::get().to(on_actix::billing_and_audit),
            )
            .service(on_actix::write_orders)
            .route("/read-orders", web::get().to(on_actix::read_orders))
            .route("/clerk", web::get().to(on_actix::clerk_read_write))
            .service(unguarded)
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let actix_base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (axum_base, actix_base, handle)
}

#[tokio::test]
async fn attribute_guards_agree_on_both_frameworks() {
    let issuer = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .role_path("resource_access.orders-api.roles")
        .http_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let (axum_base, actix_base, handle) = start(validator).await;
    let token = |claims: Value| {
        let mut builder = issuer.token();
        for (name, value) in claims.as_object().unwrap() {
            builder = builder.claim(name, value.clone());
        }
        builder.sign()
    };

    let cases: Vec<(&str, &str, Value, u16)> = vec![
        ("plain roles", "/admin", json!({"roles": ["admin"]}), 200),
        (
            "Keycloak realm role",
            "/admin",
            json!({"realm_access": {"roles": ["admin"]}}),
            200,
        ),
        (
            "Keycloak client role",
            "/admin",
            json!({"resource_access": {"orders-api": {"roles": ["admin"]}}}),
            200,
        ),
        (
            "a client role of another client",
            "/admin",
            json!({"resource_access": {"other": {"roles": ["admin"]}}}),
            403,
        ),
        ("no roles at all", "/admin", json!({}), 403),
        ("roles a number", "/admin", json!({"roles": 5}), 403),
        (
            "roles an object",
            "/admin",
            json!({"roles": {"admin": true}}),
            403,
        ),
        (
            "roles with a non-string",
            "/admin",
            json!({"roles": [1, "user"]}),
            403,
        ),
        (
            "any: the first",
            "/admin-or-ops",
            json!({"roles": ["admin"]}),
            200,
        ),
        (
            "any: the second",
            "/admin-or-ops",
            json!({"roles": ["ops"]}),
            200,
        ),
        (
            "any: neither",
            "/admin-or-ops",
            json!({"roles": ["user"]}),
            403,
        ),
        (
            "all: both",
            "/billing-and-audit",
            json!({"roles": ["audit", "billing"]}),
            200,
        ),
        (
            "all: both, from two places",
            "/billing-and-audit",
            json!({"roles": ["audit"], "realm_access": {"roles": ["billing"]}}),
            200,
        ),
        (
            "all: one missing",
            "/billing-and-audit",
            json!({"roles": ["billing"]}),
            403,
        ),
        (
            "scope string",
            "/write-orders",
            json!({"scope": "orders:read orders:write"}),
            200,
        ),
        (
            "Entra scp string",
            "/write-orders",
            json!({"scp": "orders:write"}),
            200,
        ),
        (
            "Okta scp array",
            "/write-orders",
            json!({"scp": ["orders:write"]}),
            200,
        ),
        (
            "Auth0 permissions",
            "/write-orders",
            json!({"permissions": ["orders:write"]}),
            200,
        ),
        (
            "a scope that only starts the same",
            "/write-orders",
            json!({"scope": "orders:writer"}),
            403,
        ),
        ("scope a number", "/write-orders", json!({"scope": 7}), 403),
        ("no scope", "/write-orders", json!({}), 403),
        (
            "any scope: one",
            "/read-orders",
            json!({"scope": "orders:admin"}),
            200,
        ),
        (
            "any scope: none",
            "/read-orders",
            json!({"scope": "profile"}),
            403,
        ),
        (
            "role and scopes: all there",
            "/clerk",
            json!({"roles": ["clerk"], "scope": "orders:read orders:write"}),
            200,
        ),
        (
            "role and scopes: no role",
            "/clerk",
            json!({"scope": "orders:read orders:write"}),
            403,
        ),
        (
            "role and scopes: one scope",
            "/clerk",
            json!({"roles": ["clerk"], "scope": "orders:read"}),
            403,
        ),
        ("no guard", "/unguarded", json!({}), 200),
    ];

    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    let ask = |base: &str, path: &str, token: Option<&str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, challenge, response.text().await.unwrap())
        }
    };
    for (name, path, claims, expected) in &cases {
        let token = token(claims.clone());
        let on_axum = ask(&axum_base, path, Some(&token)).await;
        let on_actix = ask(&actix_base, path, Some(&token)).await;
        if on_axum != on_actix {
            failures.push(format!("{name}: axum {on_axum:?} != actix {on_actix:?}"));
        } else if on_axum.0 != *expected {
            failures.push(format!("{name}: {on_axum:?}, expected {expected}"));
        } else if *expected == 403
            && !on_axum
                .1
                .as_deref()
                .unwrap_or_default()
                .contains("insufficient_scope")
        {
            failures.push(format!(
                "{name}: 403 without insufficient_scope: {on_axum:?}"
            ));
        }
    }
    // Without a token, the middleware answers first.
    for path in ["/admin", "/write-orders"] {
        let on_axum = ask(&axum_base, path, None).await;
        let on_actix = ask(&actix_base, path, None).await;
        assert_eq!(on_axum, on_actix);
        assert_eq!(on_axum.0, 401);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    handle.stop(true).await;
}
