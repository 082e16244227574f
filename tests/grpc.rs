//! A tonic service behind the axum adapter's layer, with a real tonic client over loopback
//! (HTTP/2 without TLS): the example's `example.Account` (`WhoAmI` unary, `Count` server
//! streaming behind a method guard), tokens from the real `oidc-provider` and, for the
//! expired case, from the test kit's issuer. Refusals are trailers-only gRPC responses with
//! `www-authenticate` in the metadata.

use std::time::Duration;

use jwtguard::axum::JwtLayer;
use jwtguard::axum::grpc::MethodRequireLayer;
use jwtguard::client::{BearerLayer, ClientAuth, OAuthClient, TokenManager, TokenParams};
use jwtguard::testkit::Issuer;
use jwtguard::{Authenticator, Requirement, Validator};
use jwtguard_examples::grpc::{
    AccountClient, AccountService, CountRequest, WHO_AM_I, WhoAmIRequest,
};
use jwtguard_examples::grpc_app;
use jwtguard_tests::{CLIENTS, IDP_AUDIENCE, Idp, peek, serve};
use tonic::Code;
use tonic::transport::Channel;

/// The `admin-rs` client of the provider: roles `admin`, scopes `read write`.
const ADMIN: (&str, &str) = (CLIENTS[0].0, CLIENTS[0].1);

async fn channel(base: &str) -> Channel {
    Channel::from_shared(base.to_owned())
        .expect("a URI")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("the gRPC server is up")
}

fn with_token<M>(message: M, token: Option<&str>) -> tonic::Request<M> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ASCII"),
        );
    }
    request
}

/// The status of `WhoAmI` called with `token`.
async fn who_am_i(client: &mut AccountClient<Channel>, token: Option<&str>) -> tonic::Status {
    client
        .who_am_i(with_token(WhoAmIRequest {}, token))
        .await
        .expect_err("refused")
}

fn challenge(status: &tonic::Status) -> Option<&str> {
    status
        .metadata()
        .get("www-authenticate")
        .map(|value| value.to_str().expect("ASCII"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_service_answers_with_grpc_statuses_behind_the_layer() {
    let first = Idp::start().await;
    let port = first.port();
    let kit = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(first.issuer())
        .issuer(kit.url())
        .audience(IDP_AUDIENCE)
        .build()
        .await
        .expect("both issuers are up");
    let closed_validator = validator.clone();
    let base = serve(grpc_app(Authenticator::new(validator))).await;
    let mut plain = AccountClient::new(channel(&base).await);

    // The client side's tower layer on a tonic channel: a managed token from the provider.
    let manager = TokenManager::builder().build().unwrap();
    let token = manager
        .client_credentials(
            &OAuthClient::discover(first.issuer(), ClientAuth::secret_basic(ADMIN.0, ADMIN.1)),
            TokenParams::new()
                .scope("read write")
                .resource(IDP_AUDIENCE),
        )
        .unwrap();
    let authed = tower::ServiceBuilder::new()
        .layer(BearerLayer::for_channel(token, &base).unwrap())
        .service(channel(&base).await);
    let mut account = AccountClient::new(authed);
    let me = account
        .who_am_i(tonic::Request::new(WhoAmIRequest {}))
        .await
        .expect("a valid token")
        .into_inner();
    assert_eq!(me.sub, ADMIN.0);
    assert_eq!(me.scopes, ["read", "write"]);
    // A stream, behind the method guard (scope read).
    let mut numbers = account
        .count(tonic::Request::new(CountRequest { up_to: 5 }))
        .await
        .expect("the scope read")
        .into_inner();
    let mut seen = Vec::new();
    while let Some(reply) = numbers.message().await.expect("a message") {
        seen.push(reply.number);
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);

    // No token: 16 with the schemes to use.
    let missing = who_am_i(&mut plain, None).await;
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");
    assert_eq!(missing.message(), "missing_token");
    assert_eq!(challenge(&missing), Some("Bearer"));

    // Expired (from the test kit's issuer, trusted too): 16, invalid_token.
    let expired = kit
        .token()
        .claim("aud", IDP_AUDIENCE)
        .claim("exp", 1_600_000_000u64)
        .sign();
    let status = who_am_i(&mut plain, Some(&expired)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(challenge(&status), Some(r#"Bearer error="invalid_token""#));

    // Forged: the provider's token with a payload of our own.
    let real = first.token(ADMIN.0, ADMIN.1, IDP_AUDIENCE, "read").await;
    let (header, _) = real.split_once('.').unwrap();
    let forged_payload = jwtguard::testkit::b64(
        serde_json::json!({"iss": first.issuer(), "aud": IDP_AUDIENCE, "exp": 4_000_000_000u64, "sub": "root"})
            .to_string()
            .as_bytes(),
    );
    let forged = format!(
        "{header}.{forged_payload}.{}",
        real.rsplit('.').next().unwrap()
    );
    let status = who_am_i(&mut plain, Some(&forged)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(challenge(&status), Some(r#"Bearer error="invalid_token""#));

    // The wrong scope for the stream: 7, naming the scope; the unary method still answers.
    let writer = first.token(ADMIN.0, ADMIN.1, IDP_AUDIENCE, "write").await;
    let status = plain
        .count(with_token(CountRequest { up_to: 3 }, Some(&writer)))
        .await
        .expect_err("no scope read");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        challenge(&status),
        Some(r#"Bearer error="insufficient_scope", scope="read""#)
    );
    let me = plain
        .who_am_i(with_token(WhoAmIRequest {}, Some(&writer)))
        .await
        .expect("any valid token")
        .into_inner();
    assert_eq!(me.scopes, ["write"]);

    // Closed unless listed: Count has no requirement here, so deny_unlisted refuses it.
    let closed = tonic::service::Routes::new(AccountService)
        .into_axum_router()
        .layer(
            MethodRequireLayer::new()
                .method(WHO_AM_I, Requirement::scope("read"))
                .deny_unlisted(),
        )
        .layer(JwtLayer::new(closed_validator));
    let closed_base = serve(closed).await;
    let mut closed = AccountClient::new(channel(&closed_base).await);
    let reader = first.token(ADMIN.0, ADMIN.1, IDP_AUDIENCE, "read").await;
    assert!(
        closed
            .who_am_i(with_token(WhoAmIRequest {}, Some(&reader)))
            .await
            .is_ok()
    );
    let status = closed
        .count(with_token(CountRequest { up_to: 1 }, Some(&reader)))
        .await
        .expect_err("not listed");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // A plain HTTP/1.1 request that only claims to be gRPC gets the HTTP answer: a 401 that
    // no cache keeps, never a 200.
    let response = reqwest::Client::new()
        .post(format!("{base}{WHO_AM_I}"))
        .header("content-type", "application/grpc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["cache-control"], "no-store");
    first.stop().await;

    // The provider comes back with new keys, mints a token and goes down again: the service
    // can't learn that kid, 14 without a challenge.
    let again = Idp::start_with(&[("IDP_PORT", port.to_string())]).await;
    let unknown = again.token(ADMIN.0, ADMIN.1, IDP_AUDIENCE, "read").await;
    assert_ne!(peek(&unknown).0["kid"], peek(&real).0["kid"]);
    again.stop().await;
    let status = who_am_i(&mut plain, Some(&unknown)).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(challenge(&status), None);
    // The token it knows keeps working meanwhile.
    let me = plain
        .who_am_i(with_token(WhoAmIRequest {}, Some(&real)))
        .await
        .expect("a known key")
        .into_inner();
    assert_eq!(me.sub, ADMIN.0);
}
