//! The axum adapter over real HTTP on loopback, with a local issuer.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use jwtguard_axum::{Authenticated, Claims, JwtLayer, RequireLayer};
use jwtguard_core::Validator;
use jwtguard_testkit::{DEFAULT_AUDIENCE, Issuer};
use serde::Deserialize;

#[derive(Deserialize)]
struct User {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct NeedsTenant {
    tenant: String,
}

async fn me(Claims(user): Claims<User>) -> String {
    format!("{} {:?}", user.sub, user.roles)
}

async fn maybe(user: Option<Claims<User>>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |Claims(u)| u.sub)
}

struct Server {
    issuer: Issuer,
    base: String,
    client: reqwest::Client,
}

impl Server {
    async fn start() -> Self {
        let issuer = Issuer::start().await;
        let validator = Validator::builder()
            .issuer(issuer.url())
            .audience(DEFAULT_AUDIENCE)
            .http_timeout(Duration::from_secs(2))
            .build()
            .await
            .unwrap();
        let required = Router::new()
            .route("/me", get(me))
            .route(
                "/tenant",
                get(|Claims(t): Claims<NeedsTenant>| async move { t.tenant }),
            )
            .route(
                "/token",
                get(|Authenticated(t): Authenticated| async move { t.issuer().to_owned() }),
            )
            .merge(
                Router::new()
                    .route("/admin", get(|| async { "admin" }))
                    .route_layer(RequireLayer::any_role(["admin", "ops"])),
            )
            .merge(
                Router::new()
                    .route("/write", get(|| async { "write" }))
                    .route_layer(RequireLayer::all_scopes(["read", "write"])),
            )
            .layer(JwtLayer::new(validator.clone()));
        let optional = Router::new()
            .route("/maybe", get(maybe))
            .layer(JwtLayer::optional(validator));
        let unprotected = Router::new()
            .route(
                "/unwired",
                get(|Claims(c): Claims| async move { c.to_string() }),
            )
            .route(
                "/unguarded",
                get(|| async { "x" }).route_layer(RequireLayer::role("admin")),
            );
        let app = Router::new()
            .merge(required)
            .merge(optional)
            .merge(unprotected);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            issuer,
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, authorization: &[&str]) -> (u16, Option<String>, String) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        for value in authorization {
            request = request.header("authorization", *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, challenge, response.text().await.unwrap())
    }

    async fn bearer(&self, path: &str, token: &str) -> (u16, Option<String>, String) {
        self.get(path, &[&format!("Bearer {token}")]).await
    }
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_as_a_typed_value() {
    let server = Server::start().await;
    let token = server.issuer.token().claim("roles", vec!["ops"]).sign();
    let (status, _, body) = server.bearer("/me", &token).await;
    assert_eq!((status, body.as_str()), (200, "user-1 [\"ops\"]"));
    let (status, _, body) = server.get("/me", &[&format!("bEaReR {token}")]).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "user-1 [\"ops\"]"),
        "scheme is case-insensitive"
    );
    let (status, _, body) = server.bearer("/token", &token).await;
    assert_eq!((status, body), (200, server.issuer.url().to_owned()));
}

#[tokio::test]
async fn no_token_is_401_with_a_bare_challenge() {
    let server = Server::start().await;
    for authorization in [&[][..], &["Basic dXNlcjpwYXNz"][..]] {
        let (status, challenge, body) = server.get("/me", authorization).await;
        assert_eq!(status, 401);
        assert_eq!(challenge.as_deref(), Some("Bearer"));
        assert_eq!(body, r#"{"error":"missing_token"}"#);
    }
}

#[tokio::test]
async fn a_bad_token_is_401_invalid_token_and_never_echoed() {
    let server = Server::start().await;
    let expired = server.issuer.token().claim("exp", 1_600_000_000u64).sign();
    let other_audience = server
        .issuer
        .token()
        .claim("aud", "https://other.test")
        .sign();
    for token in [expired.as_str(), other_audience.as_str(), "not.a.token"] {
        let (status, challenge, body) = server.bearer("/me", token).await;
        assert_eq!(status, 401);
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer error="invalid_token""#)
        );
        assert_eq!(body, r#"{"error":"invalid_token"}"#);
        assert!(!body.contains(token));
    }
}

#[tokio::test]
async fn malformed_requests_are_400() {
    let server = Server::start().await;
    let token = server.issuer.token().sign();
    let bearer = format!("Bearer {token}");
    for authorization in [
        vec![bearer.as_str(), bearer.as_str()],
        vec!["Bearer a b"],
        vec!["Bearer"],
    ] {
        let (status, challenge, _) = server.get("/me", &authorization).await;
        assert_eq!(status, 400, "{authorization:?}");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer error="invalid_request""#)
        );
    }
}

#[tokio::test]
async fn guards_answer_403_insufficient_scope() {
    let server = Server::start().await;
    let plain = server
        .issuer
        .token()
        .claim("roles", vec!["user"])
        .claim("scope", "read")
        .sign();
    let (status, challenge, body) = server.bearer("/admin", &plain).await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer error="insufficient_scope""#)
    );
    assert_eq!(body, r#"{"error":"insufficient_scope"}"#);
    let (status, challenge, _) = server.bearer("/write", &plain).await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="read write""#)
    );
    let ops = server
        .issuer
        .token()
        .claim("roles", vec!["ops"])
        .claim("scope", "write read")
        .sign();
    assert_eq!(server.bearer("/admin", &ops).await.0, 200);
    assert_eq!(server.bearer("/write", &ops).await.0, 200);
    let keycloak = server
        .issuer
        .token()
        .claim("realm_access", serde_json::json!({"roles": ["admin"]}))
        .sign();
    assert_eq!(server.bearer("/admin", &keycloak).await.0, 200);
    // A string of roles is one role, compared whole: never split on white space (so
    // "Global Admin" is not the role "Admin"). Only scope strings are lists.
    let spaced = server.issuer.token().claim("roles", "ops admin").sign();
    assert_eq!(server.bearer("/admin", &spaced).await.0, 403);
    let single = server.issuer.token().claim("roles", "admin").sign();
    assert_eq!(server.bearer("/admin", &single).await.0, 200);
    let prefixed = server
        .issuer
        .token()
        .claim("roles", "admin-not-an-array-but-ok")
        .sign();
    assert_eq!(server.bearer("/admin", &prefixed).await.0, 403);
    let object = server
        .issuer
        .token()
        .claim("roles", serde_json::json!({"admin": true}))
        .sign();
    assert_eq!(server.bearer("/admin", &object).await.0, 403);
}

#[tokio::test]
async fn claims_that_do_not_fit_the_type_are_401() {
    let server = Server::start().await;
    let token = server.issuer.token().sign();
    let (status, challenge, _) = server.bearer("/tenant", &token).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer error="invalid_token""#)
    );
    let with_tenant = server.issuer.token().claim("tenant", "acme").sign();
    assert_eq!(
        server.bearer("/tenant", &with_tenant).await,
        (200, None, "acme".to_owned())
    );
}

#[tokio::test]
async fn optional_authentication() {
    let server = Server::start().await;
    assert_eq!(server.get("/maybe", &[]).await.2, "anonymous");
    let token = server.issuer.token().sign();
    assert_eq!(server.bearer("/maybe", &token).await.2, "user-1");
    assert_eq!(
        server.bearer("/maybe", "bad.token.here").await.0,
        401,
        "a bad token is still refused"
    );
}

#[tokio::test]
async fn extractors_and_guards_without_the_layer_are_500() {
    let server = Server::start().await;
    let token = server.issuer.token().sign();
    for path in ["/unwired", "/unguarded"] {
        let (status, challenge, body) = server.bearer(path, &token).await;
        assert_eq!(status, 500, "{path}");
        assert_eq!(challenge, None);
        assert_eq!(body, r#"{"error":"server_error"}"#);
    }
}

#[tokio::test]
async fn keys_unavailable_is_503() {
    let server = Server::start().await;
    server.issuer.rotate();
    let unknown = server.issuer.token().sign();
    server.issuer.take_down().await;
    let (status, challenge, body) = server.bearer("/me", &unknown).await;
    assert_eq!(status, 503);
    assert_eq!(challenge, None);
    assert_eq!(body, r#"{"error":"temporarily_unavailable"}"#);
}

#[tokio::test]
async fn token_locations_and_custom_bodies() {
    let issuer = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
        .unwrap();
    let authenticator = jwtguard_core::Authenticator::new(validator)
        .token_locations([
            jwtguard_core::TokenLocation::Bearer,
            jwtguard_core::TokenLocation::Cookie("access_token".into()),
        ])
        .unwrap()
        .response_options(jwtguard_core::ResponseOptions::default().with_body(|error, default| {
            let problem = serde_json::json!({"status": default.status, "title": error.kind().description()});
            ("application/problem+json".to_owned(), problem.to_string())
        }));
    let app = Router::new()
        .route("/me", get(me))
        .layer(JwtLayer::new(authenticator));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let token = issuer.token().sign();

    let by_cookie = client
        .get(format!("{base}/me"))
        .header("cookie", format!("access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);
    let twice = client
        .get(format!("{base}/me"))
        .header("cookie", format!("access_token={token}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
    assert_eq!(
        twice.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    assert_eq!(
        twice.headers()["www-authenticate"].to_str().unwrap(),
        r#"Bearer error="invalid_request""#
    );
    assert_eq!(
        twice.text().await.unwrap(),
        r#"{"status":400,"title":"the request carries a malformed or duplicated credential"}"#
    );
}
