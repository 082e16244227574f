//! The actix-web adapter over real HTTP on loopback, with a local issuer: route-group guards,
//! optional authentication, token sources, custom error bodies and misconfiguration. (The
//! parity suite in `tests/` checks that it answers exactly as the axum adapter.)

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use jwtguard_actix::{Authenticated, Claims, JwtAuth, MaybeClaims, Require};
use jwtguard_core::{ResponseOptions, TokenSource, Validator};
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

async fn start(validator: Validator) -> (String, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(move || {
        App::new()
            .service(
                web::scope("/api")
                    .wrap(JwtAuth::new(validator.clone()))
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
                    ),
            )
            .service(
                web::scope("/open")
                    .wrap(JwtAuth::optional(validator.clone()))
                    .route(
                        "/maybe",
                        web::get().to(|MaybeClaims(user): MaybeClaims<User>| async move {
                            user.map_or_else(|| "anonymous".to_owned(), |u| u.sub)
                        }),
                    ),
            )
            .route(
                "/unwired",
                web::get().to(|Claims(c): Claims| async move { HttpResponse::Ok().json(c) }),
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

    let (status, challenge, _, body) = get(&base, "/unwired", &[bearer(&user)]).await;
    assert_eq!(
        (status, challenge, body.as_str()),
        (500, None, r#"{"error":"server_error"}"#)
    );
    handle.stop(true).await;
}

#[tokio::test]
async fn tokens_from_a_cookie_or_a_header_and_never_from_two_places() {
    let issuer = Issuer::start().await;
    let validator = builder(&issuer)
        .await
        .token_sources([
            TokenSource::Bearer,
            TokenSource::Cookie("access_token".into()),
            TokenSource::Header("X-Access-Token".into()),
        ])
        .build()
        .await
        .unwrap();
    let (base, handle) = start(validator).await;
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
    let validator = builder(&issuer)
        .await
        .response_options(ResponseOptions::default().with_realm("orders").with_body(|error, default| {
            let problem = serde_json::json!({"status": default.status, "title": error.kind().description()});
            ("application/problem+json".to_owned(), problem.to_string())
        }))
        .build()
        .await
        .unwrap();
    let (base, handle) = start(validator).await;
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
