//! The actix-web adapter over real HTTP on loopback, with a local issuer: route-group guards,
//! optional authentication, token locations, custom error bodies and misconfiguration. (The
//! parity suite in `tests/` checks that it answers exactly as the axum adapter.)

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use jwtguard_actix::{
    AuthError, Authenticated, Claims, JwtAuth, MaybeAuthenticated, MaybeClaims, Require,
};
use jwtguard_core::{Authenticator, ResponseOptions, TokenLocation, Validator};
use jwtguard_testkit::{DEFAULT_AUDIENCE, Issuer};

#[derive(serde::Deserialize)]
struct User {
    sub: String,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct NeedsTenant {
    tenant: String,
}

async fn start(authenticator: impl Into<Authenticator>) -> (String, actix_web::dev::ServerHandle) {
    let authenticator: Authenticator = authenticator.into();
    let server = HttpServer::new(move || {
        App::new()
            .service(
                web::scope("/api")
                    .wrap(JwtAuth::new(authenticator.clone()))
                    .route(
                        "/me",
                        web::get().to(|Claims(user): Claims<User>| async move { user.sub }),
                    )
                    .route(
                        "/tenant",
                        web::get().to(|Claims(t): Claims<NeedsTenant>| async move { t.tenant }),
                    )
                    .route(
                        "/token",
                        web::get().to(|Authenticated(t): Authenticated| async move {
                            t.issuer().to_owned()
                        }),
                    )
                    .service(
                        web::scope("/admin")
                            .wrap(Require::role("admin"))
                            .route("", web::get().to(|| async { "admin" })),
                    )
                    .service(
                        web::scope("/ops")
                            .wrap(Require::any_role(["admin", "ops"]))
                            .route("", web::get().to(|| async { "ops" })),
                    )
                    .service(
                        web::scope("/both")
                            .wrap(Require::all_roles(["admin", "ops"]))
                            .route("", web::get().to(|| async { "both" })),
                    )
                    .service(
                        web::scope("/orders")
                            .wrap(Require::all_scopes(["orders:read", "orders:write"]))
                            .wrap(Require::any_scope(["orders:read", "orders:admin"]))
                            .route("", web::get().to(|| async { "orders" })),
                    ),
            )
            .service(
                web::scope("/open")
                    .wrap(JwtAuth::optional(authenticator.clone()))
                    .route(
                        "/maybe",
                        web::get().to(|MaybeClaims(user): MaybeClaims<User>| async move {
                            user.map_or_else(|| "anonymous".to_owned(), |u| u.sub)
                        }),
                    )
                    .route(
                        "/maybe-token",
                        web::get().to(|MaybeAuthenticated(token): MaybeAuthenticated| async move {
                            token.map_or_else(|| "anonymous".to_owned(), |t| t.issuer().to_owned())
                        }),
                    ),
            )
            .route(
                "/unwired",
                web::get().to(|Claims(c): Claims| async move { HttpResponse::Ok().json(c) }),
            )
            .route(
                "/unwired-maybe",
                web::get().to(|MaybeAuthenticated(t): MaybeAuthenticated| async move {
                    format!("{}", t.is_some())
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (base, handle)
}

async fn builder(issuer: &Issuer) -> jwtguard_core::ValidatorBuilder {
    Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .http_timeout(Duration::from_secs(2))
}

async fn get(
    base: &str,
    path: &str,
    headers: &[(&str, String)],
) -> (u16, Option<String>, Option<String>, String) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, challenge, content_type) = (
        response.status().as_u16(),
        header("www-authenticate"),
        header("content-type"),
    );
    (
        status,
        challenge,
        content_type,
        response.text().await.unwrap(),
    )
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

#[tokio::test]
async fn route_groups_extractors_and_optional_auth() {
    let issuer = Issuer::start().await;
    let (base, handle) = start(builder(&issuer).await.build().await.unwrap()).await;
    let user = issuer.token().sign();
    let admin = issuer.token().claim("roles", vec!["admin"]).sign();

    assert_eq!(get(&base, "/api/me", &[bearer(&user)]).await.3, "user-1");
    assert_eq!(
        get(&base, "/api/token", &[bearer(&user)]).await.3,
        issuer.url()
    );
    assert_eq!(get(&base, "/api/admin", &[bearer(&admin)]).await.0, 200);
    let (status, challenge, _, body) = get(&base, "/api/admin", &[bearer(&user)]).await;
    assert_eq!(
        (status, challenge.as_deref()),
        (403, Some(r#"Bearer error="insufficient_scope""#))
    );
    assert_eq!(body, r#"{"error":"insufficient_scope"}"#);
    let (status, challenge, _, _) = get(&base, "/api/tenant", &[bearer(&user)]).await;
    assert_eq!(
        (status, challenge.as_deref()),
        (401, Some(r#"Bearer error="invalid_token""#))
    );

    assert_eq!(get(&base, "/open/maybe", &[]).await.3, "anonymous");
    assert_eq!(
        get(&base, "/open/maybe", &[bearer(&user)]).await.3,
        "user-1"
    );
    assert_eq!(
        get(&base, "/open/maybe", &[bearer("bad.token.here")])
            .await
            .0,
        401
    );

    assert_eq!(get(&base, "/open/maybe-token", &[]).await.3, "anonymous");
    assert_eq!(
        get(&base, "/open/maybe-token", &[bearer(&user)]).await.3,
        issuer.url()
    );

    let (status, challenge, _, body) = get(&base, "/unwired", &[bearer(&user)]).await;
    assert_eq!(
        (status, challenge, body.as_str()),
        (500, None, r#"{"error":"server_error"}"#)
    );
    // Unlike actix's own `Option<..>`, a missing middleware is not an anonymous request.
    assert_eq!(get(&base, "/unwired-maybe", &[]).await.0, 500);
    handle.stop(true).await;
}

#[tokio::test]
async fn require_has_the_same_constructors_as_the_axum_layer() {
    let issuer = Issuer::start().await;
    let (base, handle) = start(builder(&issuer).await.build().await.unwrap()).await;
    let with =
        |claim: &str, values: &[&str]| bearer(&issuer.token().claim(claim, values.to_vec()).sign());
    let status = |path: &'static str, header: (&'static str, String)| {
        let base = base.clone();
        async move { get(&base, path, &[header]).await.0 }
    };
    assert_eq!(status("/api/ops", with("roles", &["ops"])).await, 200);
    assert_eq!(status("/api/ops", with("roles", &["admin"])).await, 200);
    assert_eq!(status("/api/ops", with("roles", &["dev"])).await, 403);
    assert_eq!(
        status("/api/both", with("roles", &["admin", "ops"])).await,
        200
    );
    assert_eq!(status("/api/both", with("roles", &["admin"])).await, 403);
    let read_write = bearer(
        &issuer
            .token()
            .claim("scope", "orders:read orders:write")
            .sign(),
    );
    assert_eq!(status("/api/orders", read_write).await, 200);
    let read_only = bearer(&issuer.token().claim("scope", "orders:read").sign());
    let (code, challenge, _, _) = get(&base, "/api/orders", &[read_only]).await;
    assert_eq!(
        (code, challenge.as_deref()),
        (
            403,
            Some(r#"Bearer error="insufficient_scope", scope="orders:read orders:write""#)
        )
    );
    handle.stop(true).await;
}

#[test]
fn auth_error_gives_back_the_core_error() {
    use actix_web::ResponseError;
    use jwtguard_core::{Error, ErrorKind, Rejection};

    let error = AuthError::from(Rejection::plain(Error::new(ErrorKind::Expired, "exp")));
    assert_eq!(error.status_code(), 401);
    let source = std::error::Error::source(&error).expect("the core error is the source");
    assert_eq!(source.to_string(), error.error().to_string());
    assert_eq!(error.into_error().kind(), ErrorKind::Expired);
}

#[tokio::test]
async fn tokens_from_a_cookie_or_a_header_and_never_from_two_places() {
    let issuer = Issuer::start().await;
    let validator = builder(&issuer).await.build().await.unwrap();
    let authenticator = Authenticator::new(validator)
        .token_locations([
            TokenLocation::Bearer,
            TokenLocation::Cookie("access_token".into()),
            TokenLocation::Header("X-Access-Token".into()),
        ])
        .unwrap();
    let (base, handle) = start(authenticator).await;
    let token = issuer.token().sign();
    let cookie = ("cookie", format!("theme=dark; access_token={token}"));
    assert_eq!(
        get(&base, "/api/me", std::slice::from_ref(&cookie)).await.3,
        "user-1"
    );
    assert_eq!(
        get(&base, "/api/me", &[("x-access-token", token.clone())])
            .await
            .3,
        "user-1"
    );
    let (status, challenge, _, _) = get(&base, "/api/me", &[cookie, bearer(&token)]).await;
    assert_eq!(
        (status, challenge.as_deref()),
        (400, Some(r#"Bearer error="invalid_request""#))
    );
    handle.stop(true).await;
}

#[tokio::test]
async fn error_bodies_can_be_replaced_while_status_and_challenge_stay() {
    let issuer = Issuer::start().await;
    let validator = builder(&issuer).await.build().await.unwrap();
    let authenticator = Authenticator::new(validator).response_options(
        ResponseOptions::default().with_realm("orders").with_body(|error, default| {
            let problem = serde_json::json!({"status": default.status, "title": error.kind().description()});
            ("application/problem+json".to_owned(), problem.to_string())
        }),
    );
    let (base, handle) = start(authenticator).await;
    let expired = issuer.token().claim("exp", 1_600_000_000u64).sign();
    let (status, challenge, content_type, body) = get(&base, "/api/me", &[bearer(&expired)]).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="orders", error="invalid_token""#)
    );
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(body, r#"{"status":401,"title":"the token has expired"}"#);
    assert!(!body.contains(&expired));
    handle.stop(true).await;
}
