//! Step-up (RFC 9470), audiences per route group (RFC 8707) and the metadata of several
//! resources on one server (RFC 9728), on both frameworks: each request goes to an axum and an
//! actix-web server, which must give the same, expected answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpServer, web};
use axum::Router;
use axum::routing::get as axum_get;
use jwtguard::resource_metadata::ResourceMetadata;
use jwtguard::testkit::Issuer;
use jwtguard::{Authenticator, Requirement, Validator};
use jwtguard_tests::serve;
use serde_json::{Value, json};

/// Two resources on one server, told apart by the audience.
const ORDERS: &str = "https://api.example.test/orders";
const BILLING: &str = "https://api.example.test/billing";
const ORDERS_METADATA: &str =
    "https://api.example.test/.well-known/oauth-protected-resource/orders";
const BILLING_METADATA: &str =
    "https://api.example.test/.well-known/oauth-protected-resource/billing";

mod on_axum {
    use jwtguard::axum::{require_acr, require_auth_age, require_role};

    #[require_acr(any("mfa", "hwk"))]
    #[require_auth_age(60)]
    pub(crate) async fn transfer() -> &'static str {
        "ok"
    }

    #[require_auth_age(120)]
    pub(crate) async fn recent() -> &'static str {
        "ok"
    }

    #[require_auth_age(30)]
    #[require_role("clerk")]
    #[require_acr("mfa")]
    pub(crate) async fn strong() -> &'static str {
        "ok"
    }
}

mod on_actix {
    use jwtguard::actix::{require_acr, require_auth_age, require_role};

    #[require_acr(any("mfa", "hwk"))]
    #[require_auth_age(60)]
    pub(crate) async fn transfer() -> &'static str {
        "ok"
    }

    #[require_auth_age(120)]
    pub(crate) async fn recent() -> &'static str {
        "ok"
    }

    #[require_auth_age(30)]
    #[require_role("clerk")]
    #[require_acr("mfa")]
    pub(crate) async fn strong() -> &'static str {
        "ok"
    }
}

fn metadata(resource: &str, authenticator: &Authenticator) -> ResourceMetadata {
    ResourceMetadata::for_authenticator(resource, authenticator)
        .unwrap()
        .scopes_supported(["orders:read"])
}

/// The two servers: per resource a route group with its own authenticator (naming its own
/// metadata in challenges) and a guard on its audience.
async fn start(validator: Validator) -> (String, String, actix_web::dev::ServerHandle) {
    let plain = Authenticator::new(validator);
    let orders = plain.clone().resource_metadata_url(ORDERS_METADATA);
    let billing = plain.clone().resource_metadata_url(BILLING_METADATA);
    let (orders_metadata, billing_metadata) =
        (metadata(ORDERS, &orders), metadata(BILLING, &billing));
    assert_eq!(orders_metadata.url(), ORDERS_METADATA);
    let pay = Requirement::step_up(["mfa"], Some(Duration::from_secs(300)));

    let orders_routes = Router::new()
        .route("/orders/list", axum_get(|| async { "ok" }))
        .route("/orders/transfer", axum_get(on_axum::transfer))
        .route("/orders/recent", axum_get(on_axum::recent))
        .route("/orders/strong", axum_get(on_axum::strong))
        .route_layer(jwtguard::axum::RequireLayer::new(Requirement::audience(
            ORDERS,
        )))
        .layer(jwtguard::axum::JwtLayer::new(orders.clone()));
    let billing_routes = Router::new()
        .route("/billing/list", axum_get(|| async { "ok" }))
        .route_layer(jwtguard::axum::RequireLayer::new(Requirement::audience(
            BILLING,
        )))
        .merge(
            Router::new()
                .route("/billing/pay", axum_get(|| async { "ok" }))
                .route_layer(jwtguard::axum::RequireLayer::new(pay.clone()))
                .route_layer(jwtguard::axum::RequireLayer::new(Requirement::audience(
                    BILLING,
                ))),
        )
        .layer(jwtguard::axum::JwtLayer::new(billing.clone()));
    let axum_app = Router::new()
        .merge(jwtguard::axum::resource_metadata_router(&orders_metadata))
        .merge(jwtguard::axum::resource_metadata_router(&billing_metadata))
        .merge(orders_routes)
        .merge(billing_routes);
    let axum_base = serve(axum_app).await;

    let server = HttpServer::new(move || {
        App::new()
            .service(jwtguard::actix::resource_metadata_service(&orders_metadata))
            .service(jwtguard::actix::resource_metadata_service(
                &billing_metadata,
            ))
            .service(
                web::scope("/orders")
                    .wrap(jwtguard::actix::Require::new(Requirement::audience(ORDERS)))
                    .wrap(jwtguard::actix::JwtAuth::new(orders.clone()))
                    .route("/list", web::get().to(|| async { "ok" }))
                    .route("/transfer", web::get().to(on_actix::transfer))
                    .route("/recent", web::get().to(on_actix::recent))
                    .route("/strong", web::get().to(on_actix::strong)),
            )
            .service(
                web::scope("/billing")
                    .wrap(jwtguard::actix::Require::new(Requirement::audience(
                        BILLING,
                    )))
                    .wrap(jwtguard::actix::JwtAuth::new(billing.clone()))
                    .route("/list", web::get().to(|| async { "ok" }))
                    .service(
                        web::resource("/pay")
                            .wrap(jwtguard::actix::Require::new(pay.clone()))
                            .route(web::get().to(|| async { "ok" })),
                    ),
            )
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

/// Status and `WWW-Authenticate`, the same from both servers.
async fn answer(
    client: &reqwest::Client,
    bases: [&str; 2],
    path: &str,
    token: Option<&str>,
) -> (u16, Option<String>) {
    let mut answers = Vec::new();
    for base in bases {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let challenge = (response.headers().get("www-authenticate"))
            .map(|value| value.to_str().unwrap().to_owned());
        answers.push((response.status().as_u16(), challenge));
    }
    assert_eq!(answers[0], answers[1], "{path}: the frameworks differ");
    answers.remove(0)
}

/// A request (name, path, token) and the answer expected (status, challenge).
type Case = (
    &'static str,
    &'static str,
    Option<String>,
    u16,
    Option<String>,
);

fn step_up(acr_values: Option<&str>, max_age: u64, metadata: &str) -> Option<String> {
    let acr = acr_values.map_or(String::new(), |values| {
        format!(r#"acr_values="{values}", "#)
    });
    Some(format!(
        r#"Bearer error="insufficient_user_authentication", {acr}max_age="{max_age}", resource_metadata="{metadata}""#
    ))
}

#[tokio::test]
async fn step_up_and_audiences_per_route_group_on_both_frameworks() {
    let issuer = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(issuer.url())
        .audiences([ORDERS, BILLING])
        .http_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let (axum_base, actix_base, handle) = start(validator).await;
    let bases = [axum_base.as_str(), actix_base.as_str()];
    let client = reqwest::Client::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |aud: Value, claims: Value| {
        let mut builder = issuer.token().claim("aud", aud);
        for (name, value) in claims.as_object().unwrap() {
            builder = builder.claim(name, value.clone());
        }
        builder.sign()
    };
    let orders = |claims: Value| token(json!(ORDERS), claims);
    let invalid = |metadata: &str| {
        Some(format!(
            r#"Bearer error="invalid_token", resource_metadata="{metadata}""#
        ))
    };

    let cases: Vec<Case> = vec![
        // RFC 8707: a token for the other resource of the same issuer is refused.
        (
            "orders token on orders",
            "/orders/list",
            Some(orders(json!({}))),
            200,
            None,
        ),
        (
            "billing token on orders",
            "/orders/list",
            Some(token(json!(BILLING), json!({}))),
            401,
            invalid(ORDERS_METADATA),
        ),
        (
            "orders token on billing",
            "/billing/list",
            Some(orders(json!({}))),
            401,
            invalid(BILLING_METADATA),
        ),
        (
            "a token for both",
            "/billing/list",
            Some(token(json!([ORDERS, BILLING]), json!({}))),
            200,
            None,
        ),
        (
            "no token names its resource",
            "/billing/pay",
            None,
            401,
            Some(format!(r#"Bearer resource_metadata="{BILLING_METADATA}""#)),
        ),
        // acr any of two, and an age: one challenge names both.
        (
            "mfa, fresh",
            "/orders/transfer",
            Some(orders(json!({"acr": "mfa", "auth_time": now - 5}))),
            200,
            None,
        ),
        (
            "hwk, fresh",
            "/orders/transfer",
            Some(orders(json!({"acr": "hwk", "auth_time": now}))),
            200,
            None,
        ),
        (
            "a password login",
            "/orders/transfer",
            Some(orders(json!({"acr": "pwd", "auth_time": now}))),
            401,
            step_up(Some("mfa hwk"), 60, ORDERS_METADATA),
        ),
        (
            "mfa, too long ago",
            "/orders/transfer",
            Some(orders(json!({"acr": "mfa", "auth_time": now - 600}))),
            401,
            step_up(Some("mfa hwk"), 60, ORDERS_METADATA),
        ),
        (
            "no acr",
            "/orders/transfer",
            Some(orders(json!({"auth_time": now}))),
            401,
            step_up(Some("mfa hwk"), 60, ORDERS_METADATA),
        ),
        (
            "acr an array",
            "/orders/transfer",
            Some(orders(json!({"acr": ["mfa"], "auth_time": now}))),
            401,
            step_up(Some("mfa hwk"), 60, ORDERS_METADATA),
        ),
        // An age alone: a missing auth_time is too old.
        (
            "recent enough",
            "/orders/recent",
            Some(orders(json!({"auth_time": now - 100}))),
            200,
            None,
        ),
        (
            "no auth_time",
            "/orders/recent",
            Some(orders(json!({}))),
            401,
            step_up(None, 120, ORDERS_METADATA),
        ),
        (
            "auth_time a string",
            "/orders/recent",
            Some(orders(json!({"auth_time": now.to_string()}))),
            401,
            step_up(None, 120, ORDERS_METADATA),
        ),
        // A role between the two step-up guards: they still make one requirement.
        (
            "clerk with mfa",
            "/orders/strong",
            Some(orders(
                json!({"roles": ["clerk"], "acr": "mfa", "auth_time": now}),
            )),
            200,
            None,
        ),
        (
            "mfa without the role",
            "/orders/strong",
            Some(orders(json!({"acr": "mfa", "auth_time": now}))),
            403,
            Some(format!(
                r#"Bearer error="insufficient_scope", resource_metadata="{ORDERS_METADATA}""#
            )),
        ),
        (
            "clerk with a password",
            "/orders/strong",
            Some(orders(
                json!({"roles": ["clerk"], "acr": "pwd", "auth_time": now}),
            )),
            401,
            step_up(Some("mfa"), 30, ORDERS_METADATA),
        ),
        // The route guard of a group.
        (
            "pay with mfa",
            "/billing/pay",
            Some(token(
                json!(BILLING),
                json!({"acr": "mfa", "auth_time": now - 299}),
            )),
            200,
            None,
        ),
        (
            "pay with a password",
            "/billing/pay",
            Some(token(
                json!(BILLING),
                json!({"acr": "pwd", "auth_time": now}),
            )),
            401,
            step_up(Some("mfa"), 300, BILLING_METADATA),
        ),
        (
            "pay with an orders token",
            "/billing/pay",
            Some(orders(json!({"acr": "mfa", "auth_time": now}))),
            401,
            invalid(BILLING_METADATA),
        ),
        (
            "pay with an expired token",
            "/billing/pay",
            Some(token(
                json!(BILLING),
                json!({"acr": "mfa", "auth_time": now, "exp": 1_600_000_000u64, "iat": 1_599_999_000u64}),
            )),
            401,
            invalid(BILLING_METADATA),
        ),
    ];
    for (name, path, token, status, challenge) in &cases {
        let got = answer(&client, bases, path, token.as_deref()).await;
        assert_eq!(got, (*status, challenge.clone()), "{name}");
    }

    // Each resource's metadata at its own path-suffixed URL (RFC 9728 §3.1), without a token.
    for (resource, path) in [
        (ORDERS, "/.well-known/oauth-protected-resource/orders"),
        (BILLING, "/.well-known/oauth-protected-resource/billing"),
    ] {
        let mut documents = Vec::new();
        for base in bases {
            let response = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(response.status(), 200, "{base}{path}");
            assert_eq!(
                response.headers()["content-type"],
                "application/json",
                "{base}{path}"
            );
            documents.push(response.json::<Value>().await.unwrap());
        }
        assert_eq!(documents[0], documents[1], "{path}");
        assert_eq!(
            documents[0],
            json!({
                "resource": resource,
                "authorization_servers": [issuer.url()],
                "scopes_supported": ["orders:read"],
                "bearer_methods_supported": ["header"],
            })
        );
    }
    handle.stop(true).await;
}
