//! Talking to the IdP over real HTTP on loopback: redirects are followed only within the same
//! origin, so a JWKS URL can't send jwtguard to another server for its keys.

use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use jwtguard::testkit::{DEFAULT_AUDIENCE, Issuer};
use jwtguard::{ErrorKind, Validator};
use jwtguard_tests::serve;

/// A server whose `/moved` redirects (302) to `target`, and whose `/keys` serves `jwks`.
async fn redirecting(target: String, jwks: String) -> String {
    let app = Router::new()
        .route(
            "/moved",
            get(move || {
                let target = target.clone();
                async move { (StatusCode::FOUND, [(header::LOCATION, target)]).into_response() }
            }),
        )
        .route(
            "/keys",
            get(move || {
                let jwks = jwks.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], jwks).into_response() }
            }),
        );
    serve(app).await
}

async fn validator(issuer: &Issuer, jwks_uri: &str) -> Result<Validator, jwtguard::Error> {
    Validator::builder()
        .issuer(issuer.url())
        .jwks_uri(jwks_uri)
        .audience(DEFAULT_AUDIENCE)
        .http_timeout(Duration::from_secs(2))
        .build()
        .await
}

#[tokio::test]
async fn a_redirect_is_followed_within_the_same_origin_only() {
    let issuer = Issuer::start().await;
    let jwks = issuer.jwks().to_string();

    // Same origin: /moved -> /keys on the same server.
    let same = redirecting("/keys".to_owned(), jwks.clone()).await;
    let followed = validator(&issuer, &format!("{same}/moved"))
        .await
        .expect("a same-origin redirect is followed");
    assert!(followed.validate(&issuer.token().sign()).await.is_ok());

    // Another origin (another port on loopback, where an attacker's keys could be): the
    // redirect is not followed, and the 302 itself is no key set.
    let elsewhere = redirecting(issuer.jwks_uri(), jwks).await;
    let err = validator(&issuer, &format!("{elsewhere}/moved"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fetch, "{err}");
    assert!(err.to_string().contains("302"), "{err}");
    assert_eq!(issuer.hits("/jwks"), 0, "the other origin was never asked");
}
