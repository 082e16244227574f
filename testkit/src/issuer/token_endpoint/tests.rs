//! The token endpoint over real HTTP on loopback.

use std::time::{Duration, Instant};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, HeaderMap, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::{DEFAULT_AUDIENCE, Issuer};

/// A secret that means something else when not form-urlencoded.
const TRICKY_SECRET: &str = "p@ss:w+rd&=/ü %";

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    fn access_token(&self) -> &str {
        self.body["access_token"].as_str().expect("an access_token")
    }
}

/// `Authorization: Basic` as RFC 6749 §2.3.1 wants it.
fn basic(id: &str, secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

async fn post_with(issuer: &Issuer, authorization: Option<&str>, form: &[(&str, &str)]) -> Answer {
    let mut request = reqwest::Client::new()
        .post(issuer.token_endpoint())
        .form(form);
    if let Some(authorization) = authorization {
        request = request.header(AUTHORIZATION, authorization);
    }
    let response = request.send().await.expect("POST /token");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.expect("a JSON body");
    Answer {
        status,
        headers,
        body,
    }
}

async fn post(issuer: &Issuer, basic_auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> Answer {
    let authorization = basic_auth.map(|(id, secret)| basic(id, secret));
    post_with(issuer, authorization.as_deref(), form).await
}

/// The claims of `token`, after checking it is signed by the issuer's current key.
fn claims(issuer: &Issuer, token: &str) -> Value {
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).expect("base64url");
    let (input, signature) = token.rsplit_once('.').expect("a compact JWS");
    let (header, payload) = input.split_once('.').expect("a compact JWS");
    let header: Value = serde_json::from_slice(&decode(header)).expect("a JSON header");
    let key = issuer.signing_key();
    assert_eq!(header["kid"], key.kid());
    assert_eq!(header["alg"], "RS256");
    let jwk = key.public_jwk();
    let component = |name: &str| decode(jwk[name].as_str().expect("an RSA JWK"));
    RsaPublicKeyComponents {
        n: component("n"),
        e: component("e"),
    }
    .verify(
        &RSA_PKCS1_2048_8192_SHA256,
        input.as_bytes(),
        &decode(signature),
    )
    .expect("signed by the current key");
    serde_json::from_slice(&decode(payload)).expect("JSON claims")
}

fn lifetime(claims: &Value) -> u64 {
    claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat")
}

#[tokio::test]
async fn discovery_names_the_token_endpoint() {
    let issuer = Issuer::start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let document: Value = reqwest::get(format!("{}{path}", issuer.url()))
            .await
            .expect("GET discovery")
            .json()
            .await
            .expect("JSON");
        assert_eq!(document["token_endpoint"], issuer.token_endpoint());
        assert_eq!(
            document["grant_types_supported"],
            serde_json::json!(["client_credentials", "refresh_token"])
        );
        assert_eq!(
            document["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post"])
        );
    }
}

#[tokio::test]
async fn client_credentials_with_basic_auth() {
    let issuer = Issuer::start().await;
    issuer.register_client("svc one", TRICKY_SECRET);
    let answer = post(
        &issuer,
        Some(("svc one", TRICKY_SECRET)),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read write"),
        ],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers[CACHE_CONTROL], "no-store");
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["expires_in"], 300);
    assert_eq!(answer.body["scope"], "read write");
    assert!(answer.body.get("refresh_token").is_none());

    let claims = claims(&issuer, answer.access_token());
    assert_eq!(claims["iss"], issuer.url());
    assert_eq!(claims["sub"], "svc one");
    assert_eq!(claims["client_id"], "svc one");
    assert_eq!(claims["aud"], DEFAULT_AUDIENCE);
    assert_eq!(claims["scope"], "read write");
    assert_eq!(lifetime(&claims), 300);
    let jti = claims["jti"].as_str().expect("a jti");
    assert_eq!(jti.len(), 43);

    // Each token has its own jti.
    let again = post(
        &issuer,
        Some(("svc one", TRICKY_SECRET)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(again.status, 200);
    assert_ne!(self::claims(&issuer, again.access_token())["jti"], jti);
    assert!(again.body.get("scope").is_none());

    assert_eq!(issuer.hits("/token"), 2);
    assert_eq!(issuer.token_requests_by_grant("client_credentials"), 2);
    assert_eq!(issuer.token_requests_by_grant("refresh_token"), 0);
}

#[tokio::test]
async fn client_credentials_with_post_auth_resource_and_audience() {
    let issuer = Issuer::start().await;
    issuer.register_client("svc", "s3cret");
    let credentials = [
        ("grant_type", "client_credentials"),
        ("client_id", "svc"),
        ("client_secret", "s3cret"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut form = credentials.to_vec();
        form.extend_from_slice(extra);
        form
    };

    let answer = post(&issuer, None, &credentials).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let claims_of = |answer: &Answer| claims(&issuer, answer.access_token());
    assert_eq!(claims_of(&answer)["aud"], DEFAULT_AUDIENCE);
    assert_eq!(claims_of(&answer)["sub"], "svc");
    assert!(claims_of(&answer).get("scope").is_none());

    let answer = post(
        &issuer,
        None,
        &with(&[("resource", "https://api.other.test")]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(claims_of(&answer)["aud"], "https://api.other.test");

    let answer = post(&issuer, None, &with(&[("audience", "orders")])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(claims_of(&answer)["aud"], "orders");

    let answer = post(
        &issuer,
        None,
        &with(&[
            ("resource", "https://a.test"),
            ("resource", "https://b.test"),
            ("audience", "https://a.test"),
        ]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        claims_of(&answer)["aud"],
        serde_json::json!(["https://a.test", "https://b.test"])
    );

    let answer = post(&issuer, None, &with(&[("resource", "relative/path")])).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_target"));

    // Basic and post with the same client work alike; a matching client_id may come along.
    let answer = post(
        &issuer,
        Some(("svc", "s3cret")),
        &[("grant_type", "client_credentials"), ("client_id", "svc")],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn client_authentication_failures() {
    let issuer = Issuer::start().await;
    issuer.register_client("svc", "s3cret");
    issuer.register_client("tricky", TRICKY_SECRET);
    let grant = ("grant_type", "client_credentials");

    let refused = |answer: &Answer, challenged: bool| {
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert_eq!(answer.error(), "invalid_client");
        assert_eq!(answer.headers[CACHE_CONTROL], "no-store");
        let challenge = answer.headers.get(WWW_AUTHENTICATE);
        if challenged {
            let challenge = challenge.expect("a challenge").to_str().expect("ASCII");
            assert!(challenge.starts_with("Basic "), "{challenge}");
        } else {
            assert!(challenge.is_none());
        }
    };

    // Wrong secret, unknown client: Basic, then post.
    refused(&post(&issuer, Some(("svc", "wrong")), &[grant]).await, true);
    refused(
        &post(&issuer, Some(("nobody", "s3cret")), &[grant]).await,
        true,
    );
    let form = [grant, ("client_id", "svc"), ("client_secret", "wrong")];
    refused(&post(&issuer, None, &form).await, false);
    let form = [grant, ("client_id", "nobody"), ("client_secret", "s3cret")];
    refused(&post(&issuer, None, &form).await, false);

    // No authentication, or only a client_id.
    refused(&post(&issuer, None, &[grant]).await, false);
    refused(
        &post(&issuer, None, &[grant, ("client_id", "svc")]).await,
        false,
    );

    // Both methods at once, even with the right secret.
    let form = [grant, ("client_id", "svc"), ("client_secret", "s3cret")];
    refused(&post(&issuer, Some(("svc", "s3cret")), &form).await, true);
    // Basic with another client_id in the form.
    let form = [grant, ("client_id", "other")];
    refused(&post(&issuer, Some(("svc", "s3cret")), &form).await, true);

    // Basic credentials that are not form-urlencoded mean another secret.
    let raw = format!(
        "Basic {}",
        STANDARD.encode(format!("tricky:{TRICKY_SECRET}"))
    );
    refused(&post_with(&issuer, Some(&raw), &[grant]).await, true);

    // Malformed Basic credentials are refused, never a crash.
    let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', 0x80]));
    let no_colon = format!("Basic {}", STANDARD.encode("svc"));
    for authorization in [
        "Basic",
        "Basic ",
        "Basic !!!not base64!!!",
        "basic %%%",
        not_utf8.as_str(),
        no_colon.as_str(),
    ] {
        refused(
            &post_with(&issuer, Some(authorization), &[grant]).await,
            true,
        );
    }

    // Unpadded base64 and a lower-case scheme are fine.
    let unpadded = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode("svc:s3cret")
    );
    let answer = post_with(&issuer, Some(&unpadded), &[grant]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // Every attempt was counted.
    assert_eq!(issuer.hits("/token"), 16);
    assert_eq!(issuer.token_requests_by_grant("client_credentials"), 16);
}

#[tokio::test]
async fn refresh_tokens_rotate() {
    let issuer = Issuer::start().await;
    issuer.register_client("svc", "s3cret");
    issuer.register_client("other", "0ther");
    let first = issuer.issue_refresh_token("svc", "read write");
    let refresh = |token: &str, scope: Option<&str>| {
        let mut form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", token.to_owned()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope.to_owned()));
        }
        form
    };
    let send = |client: (&'static str, &'static str), form: Vec<(&'static str, String)>| {
        let issuer = &issuer;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(issuer, Some(client), &form).await
        }
    };
    let svc = ("svc", "s3cret");

    let answer = send(svc, refresh(&first, None)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers[CACHE_CONTROL], "no-store");
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["expires_in"], 300);
    assert_eq!(answer.body["scope"], "read write");
    let second = answer.body["refresh_token"]
        .as_str()
        .expect("a new refresh token")
        .to_owned();
    assert_ne!(second, first);
    let claims = claims(&issuer, answer.access_token());
    assert_eq!(claims["sub"], "svc");
    assert_eq!(claims["client_id"], "svc");
    assert_eq!(claims["aud"], DEFAULT_AUDIENCE);
    assert_eq!(claims["scope"], "read write");
    assert_eq!(lifetime(&claims), 300);

    // The old one is spent.
    let answer = send(svc, refresh(&first, None)).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_grant"));

    // Another client can't use it, and trying does not spend it.
    let answer = send(("other", "0ther"), refresh(&second, None)).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_grant"));

    // A wider scope is refused without spending it; a narrower one is granted.
    let answer = send(svc, refresh(&second, Some("read admin"))).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_scope"));
    let answer = send(svc, refresh(&second, Some("read"))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["scope"], "read");
    assert_eq!(
        self::claims(&issuer, answer.access_token())["scope"],
        "read"
    );
    let third = answer.body["refresh_token"].as_str().expect("a new one");

    // The rotated token keeps the whole original scope.
    let answer = send(svc, refresh(third, None)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["scope"], "read write");

    // Unknown refresh token; missing refresh token.
    let answer = send(svc, refresh("made-up", None)).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_grant"));
    let answer = post(&issuer, Some(svc), &[("grant_type", "refresh_token")]).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_request"));

    assert_eq!(issuer.token_requests_by_grant("refresh_token"), 8);
    assert_eq!(issuer.hits("/token"), 8);
}

#[tokio::test]
async fn refresh_without_rotation() {
    let issuer = Issuer::start().await;
    issuer.register_client("svc", "s3cret");
    issuer.set_refresh_rotation(false);
    let token = issuer.issue_refresh_token("svc", "");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token.as_str()),
        ("client_id", "svc"),
        ("client_secret", "s3cret"),
    ];
    for _ in 0..2 {
        let answer = post(&issuer, None, &form).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.body.get("refresh_token").is_none());
        assert!(answer.body.get("scope").is_none());
        assert!(
            claims(&issuer, answer.access_token())
                .get("scope")
                .is_none()
        );
    }
}

#[tokio::test]
async fn failure_switch() {
    let issuer = Issuer::start().await;
    issuer.register_client("svc", "s3cret");
    let svc = Some(("svc", "s3cret"));
    let grant = [("grant_type", "client_credentials")];

    issuer.set_token_failure(Some(503));
    for _ in 0..2 {
        let answer = post(&issuer, svc, &grant).await;
        assert_eq!(
            (answer.status, answer.error()),
            (503, "temporarily_unavailable")
        );
    }
    issuer.set_token_failure(Some(400));
    let answer = post(&issuer, svc, &grant).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_grant"));
    issuer.set_token_failure(Some(1_000));
    let answer = post(&issuer, svc, &grant).await;
    assert_eq!((answer.status, answer.error()), (500, "server_error"));

    // A refresh token is not spent by a forced failure.
    let refresh = issuer.issue_refresh_token("svc", "read");
    let form = [("grant_type", "refresh_token"), ("refresh_token", &refresh)];
    let answer = post(&issuer, svc, &form).await;
    assert_eq!(answer.status, 500);

    issuer.set_token_failure(None);
    let answer = post(&issuer, svc, &grant).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = post(&issuer, svc, &form).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    assert_eq!(issuer.hits("/token"), 7);
    assert_eq!(issuer.token_requests_by_grant("client_credentials"), 5);
    assert_eq!(issuer.token_requests_by_grant("refresh_token"), 2);
    issuer.reset_hits();
    assert_eq!(issuer.hits("/token"), 0);
    assert_eq!(issuer.token_requests_by_grant("client_credentials"), 0);
}

#[tokio::test]
async fn token_lifetime() {
    let issuer = Issuer::start().await;
    issuer.register_client("svc", "s3cret");
    let svc = Some(("svc", "s3cret"));
    let grant = [("grant_type", "client_credentials")];

    issuer.set_token_ttl(Duration::from_millis(60_900));
    let answer = post(&issuer, svc, &grant).await;
    assert_eq!(answer.body["expires_in"], 60);
    assert_eq!(lifetime(&claims(&issuer, answer.access_token())), 60);

    issuer.omit_expires_in(true);
    let answer = post(&issuer, svc, &grant).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.get("expires_in").is_none());
    assert_eq!(lifetime(&claims(&issuer, answer.access_token())), 60);

    // Tokens follow the signing key.
    issuer.rotate();
    let answer = post(&issuer, svc, &grant).await;
    claims(&issuer, answer.access_token());
}

#[tokio::test]
async fn malformed_requests() {
    let issuer = Issuer::start().await;
    issuer.register_client("svc", "s3cret");
    let svc = Some(("svc", "s3cret"));

    let answer = post(&issuer, svc, &[("grant_type", "password")]).await;
    assert_eq!(
        (answer.status, answer.error()),
        (400, "unsupported_grant_type")
    );
    assert_eq!(issuer.token_requests_by_grant("password"), 1);

    let answer = post(&issuer, svc, &[("scope", "read")]).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_request"));
    let answer = post(&issuer, svc, &[("grant_type", "")]).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_request"));

    let repeated = [
        ("grant_type", "client_credentials"),
        ("scope", "read"),
        ("scope", "write"),
    ];
    let answer = post(&issuer, svc, &repeated).await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_request"));

    let answer = post(
        &issuer,
        svc,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "bad\"scope"),
        ],
    )
    .await;
    assert_eq!((answer.status, answer.error()), (400, "invalid_scope"));

    let response = reqwest::Client::new()
        .post(issuer.token_endpoint())
        .header(AUTHORIZATION, basic("svc", "s3cret"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("POST /token");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");

    assert_eq!(issuer.hits("/token"), 6);
}

#[tokio::test]
async fn delay_and_outage_apply() {
    let issuer = Issuer::start().await;
    issuer.register_client("svc", "s3cret");
    let svc = Some(("svc", "s3cret"));
    let grant = [("grant_type", "client_credentials")];

    issuer.set_delay(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(post(&issuer, svc, &grant).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    issuer.set_delay(Duration::ZERO);

    issuer.take_down().await;
    let refused = reqwest::Client::new()
        .post(issuer.token_endpoint())
        .form(&grant)
        .send()
        .await;
    assert!(refused.is_err());
    issuer.bring_up().await;
    assert_eq!(post(&issuer, svc, &grant).await.status, 200);
}
