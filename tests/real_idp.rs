//! The example API (the same routes as `axum-server`) driven with access tokens issued by a
//! real OpenID provider, node `oidc-provider`, running on loopback.

use jwtguard::{ErrorKind, TypeCheck, Validator};
use jwtguard_examples::axum_app;
use jwtguard_tests::{CLIENTS, IDP_AUDIENCE, Idp, peek, serve};

async fn validator_for(idp: &Idp) -> Validator {
    Validator::builder()
        .issuer(idp.issuer())
        .audience(IDP_AUDIENCE)
        .type_check(TypeCheck::AccessToken)
        .build()
        .await
        .expect("validator against the real IdP")
}

async fn status(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
) -> (u16, Option<String>) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), challenge)
}

#[tokio::test]
async fn the_idp_issues_rfc_9068_access_tokens_signed_with_rs256_and_es256() {
    let idp = Idp::start().await;
    for (client, _, roles, scope, alg) in CLIENTS {
        let token = idp.token_for(client).await;
        let (header, payload) = peek(&token);
        assert_eq!(header["alg"], alg, "{client}");
        assert_eq!(header["typ"], "at+jwt", "{client}");
        assert_eq!(payload["iss"], idp.issuer());
        assert_eq!(payload["aud"], IDP_AUDIENCE);
        assert_eq!(payload["scope"], scope);
        assert_eq!(payload["roles"], serde_json::json!(roles));
    }
    idp.stop().await;
}

#[tokio::test]
async fn the_example_routes_answer_as_the_contract_says() {
    let idp = Idp::start().await;
    let base = serve(axum_app(validator_for(&idp).await)).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{base}{path}");

    assert_eq!(status(&client, url("/health"), None).await.0, 200);
    let (code, challenge) = status(&client, url("/me"), None).await;
    assert_eq!((code, challenge.as_deref()), (401, Some("Bearer")));

    for (client_id, _, roles, scope, _) in CLIENTS {
        let token = idp.token_for(client_id).await;
        assert_eq!(
            status(&client, url("/me"), Some(&token)).await.0,
            200,
            "{client_id} /me"
        );
        let admin = if roles.contains(&"admin") { 200 } else { 403 };
        let (code, challenge) = status(&client, url("/admin"), Some(&token)).await;
        assert_eq!(code, admin, "{client_id} /admin");
        if code == 403 {
            assert_eq!(
                challenge.as_deref(),
                Some(r#"Bearer error="insufficient_scope""#)
            );
        }
        let write = if scope.split(' ').any(|s| s == "write") {
            200
        } else {
            403
        };
        assert_eq!(
            status(&client, url("/scoped"), Some(&token)).await.0,
            write,
            "{client_id} /scoped"
        );
    }

    let me: serde_json::Value = client
        .get(url("/me"))
        .bearer_auth(idp.token_for("admin-es").await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["client_id"], "admin-es");
    assert_eq!(me["roles"], serde_json::json!(["admin"]));
    idp.stop().await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_401() {
    let idp = Idp::start().await;
    let base = serve(axum_app(validator_for(&idp).await)).await;
    let client = reqwest::Client::new();
    for (client_id, secret, _, scope, _) in [CLIENTS[0], CLIENTS[2]] {
        let token = idp
            .token(client_id, secret, "https://other.example.test", scope)
            .await;
        assert_eq!(peek(&token).1["aud"], "https://other.example.test");
        let (code, challenge) = status(&client, format!("{base}/me"), Some(&token)).await;
        assert_eq!(code, 401, "{client_id}");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer error="invalid_token""#)
        );
    }
    idp.stop().await;
}

#[tokio::test]
async fn a_tampered_token_is_401() {
    let idp = Idp::start().await;
    let validator = validator_for(&idp).await;
    let token = idp.token_for("reader-rs").await;
    let (header, _) = token.split_once('.').unwrap();
    let forged_payload = jwtguard::testkit::b64(
        serde_json::json!({"iss": idp.issuer(), "aud": IDP_AUDIENCE, "exp": 4_000_000_000u64, "roles": ["admin"]})
            .to_string()
            .as_bytes(),
    );
    let signature = token.rsplit('.').next().unwrap();
    let forged = format!("{header}.{forged_payload}.{signature}");
    let err = validator.validate(&forged).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidSignature);
    assert_eq!(err.status(), 401);
    idp.stop().await;
}

#[tokio::test]
async fn an_unknown_key_while_the_idp_is_down_is_503() {
    let first = Idp::start().await;
    let port = first.port();
    let base = serve(axum_app(validator_for(&first).await)).await;
    let known = first.token_for("admin-rs").await;
    first.stop().await;
    // The same issuer comes back briefly with new keys, mints a token, and goes down again:
    // the API has never seen that kid and can't reach the IdP to learn it.
    let again = Idp::start_with(&[("IDP_PORT", port.to_string())]).await;
    let unknown = again.token_for("admin-rs").await;
    again.stop().await;
    let client = reqwest::Client::new();
    let (code, challenge) = status(&client, format!("{base}/me"), Some(&unknown)).await;
    assert_eq!((code, challenge), (503, None));
    let (code, _) = status(&client, format!("{base}/me"), Some(&known)).await;
    assert_eq!(
        code, 200,
        "tokens with known keys still pass during the outage"
    );
}
