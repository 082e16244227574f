//! One behaviour across both frameworks: a table of requests, each with its expected status,
//! `WWW-Authenticate` and body, sent over real HTTP to the axum and the actix-web example
//! servers, which must answer identically. Tokens come from the test kit's issuer and from the
//! real `oidc-provider`, both trusted by one validator.

use std::time::Duration;

use jwtguard::Validator;
use jwtguard::testkit::{DEFAULT_AUDIENCE, Issuer, TestKey, b64};
use jwtguard_examples::{actix_server, axum_app};
use jwtguard_tests::{CLIENTS, Idp, serve};
use serde_json::json;

/// What a case expects: status, challenge (`None`: no header), and body (`None`: any body, as
/// long as both servers send the same).
struct Case {
    name: String,
    path: String,
    authorization: Vec<String>,
    /// Other request headers.
    headers: Vec<(&'static str, String)>,
    status: u16,
    challenge: Option<String>,
    body: Option<&'static str>,
}

const INVALID: Option<&str> = Some(r#"Bearer error="invalid_token""#);
const INVALID_BODY: Option<&str> = Some(r#"{"error":"invalid_token"}"#);
const FORBIDDEN: Option<&str> = Some(r#"Bearer error="insufficient_scope""#);
const FORBIDDEN_BODY: Option<&str> = Some(r#"{"error":"insufficient_scope"}"#);

fn case(name: &str, path: &str, token: Option<String>, status: u16) -> Case {
    let (challenge, body) = match status {
        401 => (INVALID, INVALID_BODY),
        403 => (FORBIDDEN, FORBIDDEN_BODY),
        _ => (None, None),
    };
    Case {
        name: name.to_owned(),
        path: path.to_owned(),
        authorization: token.map(|t| format!("Bearer {t}")).into_iter().collect(),
        headers: Vec::new(),
        status,
        challenge: challenge.map(str::to_owned),
        body,
    }
}

fn raw(
    name: &str,
    path: &str,
    authorization: Vec<String>,
    status: u16,
    challenge: Option<&str>,
    body: Option<&'static str>,
) -> Case {
    Case {
        name: name.to_owned(),
        path: path.to_owned(),
        authorization,
        headers: Vec::new(),
        status,
        challenge: challenge.map(str::to_owned),
        body,
    }
}

/// Status, challenge, body, and the `Cache-Control` and `Content-Type` headers.
type Answer = (u16, Option<String>, String, Option<String>, Option<String>);

async fn answer(client: &reqwest::Client, base: &str, case: &Case) -> Answer {
    let mut request = client.get(format!("{base}{}", case.path));
    for value in &case.authorization {
        request = request.header("authorization", value);
    }
    for (name, value) in &case.headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (challenge, cache_control, content_type) = (
        header("www-authenticate"),
        header("cache-control"),
        header("content-type"),
    );
    (
        status,
        challenge,
        response.text().await.unwrap(),
        cache_control,
        content_type,
    )
}

/// Sends each case to both servers: each must answer as the case expects (status, challenge,
/// and body when the case names one), and both alike.
async fn check_cases(
    client: &reqwest::Client,
    label: &str,
    axum_base: &str,
    actix_base: &str,
    cases: &[Case],
) {
    for case in cases {
        let from_axum = answer(client, axum_base, case).await;
        let from_actix = answer(client, actix_base, case).await;
        assert_eq!(
            from_axum.0, case.status,
            "{label}: {} (axum): {from_axum:?}",
            case.name
        );
        assert_eq!(from_axum.1, case.challenge, "{label}: {}", case.name);
        if let Some(body) = case.body {
            assert_eq!(from_axum.2, body, "{label}: {}", case.name);
        }
        assert_eq!(
            from_axum, from_actix,
            "{label}: {}: the frameworks differ",
            case.name
        );
    }
}

#[tokio::test]
async fn both_frameworks_answer_every_request_identically() {
    let kit = Issuer::start().await;
    let idp = Idp::start().await;
    let validator = Validator::builder()
        .issuer(kit.url())
        .issuer(idp.issuer())
        .audience(DEFAULT_AUDIENCE)
        .http_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let axum_base = serve(axum_app(validator.clone())).await;
    let actix = actix_server(validator, ([127, 0, 0, 1], 0).into(), 1).unwrap();
    let actix_base = format!("http://{}", actix.addr);

    let token = || kit.token();
    let attacker = TestKey::rsa("rsa-1");
    let forged = |builder: jwtguard::testkit::IssuedToken| {
        builder.with_builder(|b| {
            let input = b.signing_input();
            format!("{input}.{}", b64(&attacker.sign(input.as_bytes())))
        })
    };
    // A key set an attacker controls, named by the token's jku: never to be fetched.
    let evil = Issuer::start_with(vec![TestKey::rsa("evil")]).await;
    let via_jku = token()
        .header("jku", evil.jwks_uri())
        .header("kid", "evil")
        .with_builder(|b| {
            let input = b.signing_input();
            format!(
                "{input}.{}",
                b64(&evil.signing_key().sign(input.as_bytes()))
            )
        });
    let good = token().sign();
    let parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut cases = vec![
        raw("health needs nothing", "/health", vec![], 200, None, Some("ok")),
        raw("no token", "/me", vec![], 401, Some("Bearer"), Some(r#"{"error":"missing_token"}"#)),
        raw("another scheme", "/me", vec!["Basic dXNlcjpwYXNz".into()], 401, Some("Bearer"), Some(r#"{"error":"missing_token"}"#)),
        case("a valid token", "/me", Some(good.clone()), 200),
        raw("lower-case scheme", "/me", vec![format!("bearer {good}")], 200, None, None),
        raw("two Authorization headers", "/me", vec![format!("Bearer {good}"), format!("Bearer {good}")], 400, Some(r#"Bearer error="invalid_request""#), Some(r#"{"error":"invalid_request"}"#)),
        raw("an empty bearer", "/me", vec!["Bearer ".into()], 400, Some(r#"Bearer error="invalid_request""#), Some(r#"{"error":"invalid_request"}"#)),
        raw("a token with a space", "/me", vec!["Bearer a b".into()], 400, Some(r#"Bearer error="invalid_request""#), Some(r#"{"error":"invalid_request"}"#)),
        case("expired", "/me", Some(token().claim("exp", 1_600_000_000u64).claim("iat", 1_599_999_000u64).sign()), 401),
        case("not yet valid", "/me", Some(token().claim("nbf", 4_000_000_000u64).sign()), 401),
        case("issued in the future", "/me", Some(token().claim("iat", 4_000_000_000u64).sign()), 401),
        case("exp as a string", "/me", Some(token().claim("exp", "4000000000").sign()), 401),
        case("exp missing", "/me", Some(token().without_claim("exp").sign()), 401),
        case("another audience", "/me", Some(token().claim("aud", "https://other.example.test").sign()), 401),
        case("aud an empty array", "/me", Some(token().claim("aud", json!([])).sign()), 401),
        case("aud a number", "/me", Some(token().claim("aud", 42).sign()), 401),
        case("an untrusted issuer", "/me", Some(token().claim("iss", "https://evil.example.test").sign()), 401),
        case("a forged signature", "/me", Some(forged(token())), 401),
        case("alg none", "/me", Some(token().header("alg", "none").with_builder(|b| b.unsigned())), 401),
        case("alg None", "/me", Some(token().header("alg", "None").with_builder(|b| b.unsigned())), 401),
        case("HS256 with the public key", "/me", Some(token().header("alg", "HS256").with_builder(|b| b.sign_hmac(kit.signing_key().public_jwk().to_string().as_bytes()))), 401),
        case("an unknown crit", "/me", Some(token().header("crit", json!(["x"])).header("x", 1).sign()), 401),
        case("b64 false", "/me", Some(token().header("b64", false).sign()), 401),
        case("typ JOSE", "/me", Some(token().header("typ", "JOSE").sign()), 401),
        case("a jku header naming the attacker's key set", "/me", Some(via_jku), 401),
        case("kid with a path", "/me", Some(token().header("kid", "../../etc/passwd").sign()), 401),
        case("kid with SQL", "/me", Some(token().header("kid", "' OR 1=1 --").sign()), 401),
        case("a payload swapped under a signature", "/me", Some(format!("{}.{}.{}", parts[0], b64(json!({"iss": kit.url(), "aud": DEFAULT_AUDIENCE, "exp": 4_000_000_000u64, "roles": ["admin"]}).to_string().as_bytes()), parts[2])), 401),
        case("padding on the signature", "/me", Some(format!("{good}=")), 401),
        case("five segments", "/me", Some(format!("{good}.a.b")), 401),
        case("not a token at all", "/me", Some("abc.def.ghi".into()), 401),
        case("over the size cap", "/me", Some(token().claim("padding", "x".repeat(9000)).sign()), 401),
        case("sub through a typed Claims<T>", "/sub", Some(token().sign()), 200),
        case("admin with the role", "/admin", Some(token().claim("roles", json!(["admin"])).sign()), 200),
        case("admin with a Keycloak realm role", "/admin", Some(token().claim("realm_access", json!({"roles": ["admin"]})).sign()), 200),
        case("admin without the role", "/admin", Some(token().claim("roles", json!(["user"])).sign()), 403),
        case("admin with roles of the wrong type", "/admin", Some(token().claim("roles", json!({"admin": true})).sign()), 403),
        raw("admin without a token", "/admin", vec![], 401, Some("Bearer"), Some(r#"{"error":"missing_token"}"#)),
        case("admin with an expired token", "/admin", Some(token().claim("roles", json!(["admin"])).claim("exp", 1_600_000_000u64).sign()), 401),
        case("scoped with scope write", "/scoped", Some(token().claim("scope", "read write").sign()), 200),
        case("scoped with scp", "/scoped", Some(token().claim("scp", json!(["write"])).sign()), 200),
        case("scoped with permissions", "/scoped", Some(token().claim("permissions", json!(["write"])).sign()), 200),
        raw("scoped without the scope", "/scoped", vec![format!("Bearer {}", token().claim("scope", "read").sign())], 403, Some(r#"Bearer error="insufficient_scope", scope="write""#), FORBIDDEN_BODY),
    ];
    for (client_id, secret, roles, scope, alg) in CLIENTS {
        let t = idp.token_for(client_id).await;
        cases.push(case(
            &format!("{client_id} ({alg}) /me"),
            "/me",
            Some(t.clone()),
            200,
        ));
        let admin = if roles.contains(&"admin") { 200 } else { 403 };
        cases.push(case(
            &format!("{client_id} ({alg}) /admin"),
            "/admin",
            Some(t.clone()),
            admin,
        ));
        let write = if scope.split(' ').any(|s| s == "write") {
            200
        } else {
            403
        };
        let scoped = if write == 403 {
            raw(
                &format!("{client_id} ({alg}) /scoped"),
                "/scoped",
                vec![format!("Bearer {t}")],
                403,
                Some(r#"Bearer error="insufficient_scope", scope="write""#),
                FORBIDDEN_BODY,
            )
        } else {
            case(
                &format!("{client_id} ({alg}) /scoped"),
                "/scoped",
                Some(t),
                200,
            )
        };
        cases.push(scoped);
        let other = idp
            .token(client_id, secret, "https://other.example.test", scope)
            .await;
        cases.push(case(
            &format!("{client_id} ({alg}) for another audience"),
            "/me",
            Some(other),
            401,
        ));
    }
    assert!(cases.len() >= 40, "{} cases", cases.len());

    let client = reqwest::Client::new();
    let mut mismatches = Vec::new();
    for case in &cases {
        let on_axum = answer(&client, &axum_base, case).await;
        let on_actix = answer(&client, &actix_base, case).await;
        if on_axum != on_actix {
            mismatches.push(format!(
                "{}: axum {on_axum:?} != actix {on_actix:?}",
                case.name
            ));
            continue;
        }
        let (status, challenge, body, cache_control, content_type) = on_axum;
        // Every refusal is kept out of caches (RFC 6750 §5.3 asks no caching of credentials,
        // and an answer about them is no better) and is JSON.
        if status >= 400
            && (cache_control.as_deref() != Some("no-store")
                || content_type.as_deref() != Some("application/json"))
        {
            mismatches.push(format!(
                "{}: {status} with cache-control {cache_control:?} and content-type {content_type:?}",
                case.name
            ));
        }
        if status != case.status
            || challenge != case.challenge
            || case.body.is_some_and(|b| b != body)
        {
            mismatches.push(format!(
                "{}: got ({status}, {challenge:?}, {body}), expected ({}, {:?}, {:?})",
                case.name, case.status, case.challenge, case.body
            ));
        }
    }
    println!(
        "parity: {} requests, each sent to both servers",
        cases.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    actix.handle.stop(true).await;
    assert_eq!(
        evil.hits("/jwks"),
        0,
        "a key set named by jku is never fetched"
    );
    idp.stop().await;
}

#[tokio::test]
async fn both_frameworks_answer_opaque_tokens_identically() {
    use jwtguard::introspection::Introspector;
    use jwtguard::provider::ClientAuth;
    use jwtguard::{Authenticator, TokenRouting};
    use jwtguard_tests::{INTROSPECTION_CLIENT, OPAQUE_RESOURCE};

    let idp = Idp::start().await;
    let validator = Validator::builder()
        .issuer(idp.issuer())
        .audience(DEFAULT_AUDIENCE)
        .http_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let introspector = Introspector::builder()
        .issuer(idp.issuer())
        .audience(OPAQUE_RESOURCE)
        .client(ClientAuth::secret_basic(
            INTROSPECTION_CLIENT.0,
            INTROSPECTION_CLIENT.1,
        ))
        .build()
        .await
        .unwrap();
    let authenticator =
        Authenticator::new(validator).introspection(introspector, TokenRouting::Both);
    let axum_base = serve(axum_app(authenticator.clone())).await;
    let actix = actix_server(authenticator, ([127, 0, 0, 1], 0).into(), 1).unwrap();
    let actix_base = format!("http://{}", actix.addr);

    let (admin, reader) = (CLIENTS[0], CLIENTS[1]);
    let admin_opaque = idp.opaque_token(admin.0, admin.1, "read write").await;
    let reader_opaque = idp.opaque_token(reader.0, reader.1, "read").await;
    let revoked = idp.opaque_token(admin.0, admin.1, "read").await;
    idp.revoke(admin.0, admin.1, &revoked).await;
    let jwt = idp.token_for(admin.0).await;
    let cases = [
        case("opaque admin /me", "/me", Some(admin_opaque.clone()), 200),
        case(
            "opaque admin /admin",
            "/admin",
            Some(admin_opaque.clone()),
            200,
        ),
        case("opaque admin /scoped", "/scoped", Some(admin_opaque), 200),
        case(
            "opaque reader /admin",
            "/admin",
            Some(reader_opaque.clone()),
            403,
        ),
        raw(
            "opaque reader /scoped",
            "/scoped",
            vec![format!("Bearer {reader_opaque}")],
            403,
            Some(r#"Bearer error="insufficient_scope", scope="write""#),
            FORBIDDEN_BODY,
        ),
        case("opaque revoked", "/me", Some(revoked), 401),
        case("opaque unknown", "/me", Some("no-such-token".into()), 401),
        case("JWT beside them", "/admin", Some(jwt), 200),
    ];
    let client = reqwest::Client::new();
    check_cases(&client, "opaque", &axum_base, &actix_base, &cases).await;
    // The /me answer is the introspection answer's claims.
    let me: serde_json::Value = client
        .get(format!("{axum_base}/me"))
        .bearer_auth(idp.opaque_token(admin.0, admin.1, "read").await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], admin.0);
    assert_eq!(me["aud"], OPAQUE_RESOURCE);
    assert_eq!(me["roles"], json!(["admin"]));
}

#[tokio::test]
async fn both_frameworks_publish_the_metadata_and_ask_for_step_up_identically() {
    use jwtguard_examples::{ServerArgs, authenticator_for};

    // The servers as started from their command line, addressed as https://api.example.test.
    let kit = Issuer::start().await;
    let args = ServerArgs::from_args(
        [
            "--issuer",
            kit.url(),
            "--audience",
            DEFAULT_AUDIENCE,
            "--public-url",
            "https://api.example.test",
        ]
        .map(str::to_owned),
    )
    .unwrap();
    let authenticator = authenticator_for(&args).await.unwrap();
    let axum_base = serve(axum_app(authenticator.clone())).await;
    let actix = actix_server(authenticator, ([127, 0, 0, 1], 0).into(), 1).unwrap();
    let actix_base = format!("http://{}", actix.addr);

    const METADATA: &str =
        r#"resource_metadata="https://api.example.test/.well-known/oauth-protected-resource""#;
    let named = |challenge: &str| Some(format!("{challenge}, {METADATA}"));
    let step_up = named(
        r#"Bearer error="insufficient_user_authentication", acr_values="mfa", max_age="300""#,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let login = |acr: Option<&str>, auth_time: Option<u64>| {
        let mut token = kit.token();
        if let Some(acr) = acr {
            token = token.claim("acr", acr);
        }
        if let Some(auth_time) = auth_time {
            token = token.claim("auth_time", auth_time);
        }
        Some(token.sign())
    };
    let expect = |mut case: Case, challenge: Option<String>| {
        case.challenge = challenge;
        case
    };
    let cases = [
        // Every challenge names the metadata: DPoP's too, since the servers accept it.
        expect(
            raw(
                "no token",
                "/me",
                vec![],
                401,
                None,
                Some(r#"{"error":"missing_token"}"#),
            ),
            Some(format!(
                r#"Bearer {METADATA}, DPoP algs="ES256 RS256 PS256 EdDSA", {METADATA}"#
            )),
        ),
        expect(
            case(
                "expired",
                "/me",
                Some(
                    kit.token()
                        .claim("exp", 1_600_000_000u64)
                        .claim("iat", 1_599_999_000u64)
                        .sign(),
                ),
                401,
            ),
            named(r#"Bearer error="invalid_token""#),
        ),
        expect(
            case(
                "scoped without the scope",
                "/scoped",
                login(None, None),
                403,
            ),
            named(r#"Bearer error="insufficient_scope", scope="write""#),
        ),
        case(
            "stepup: mfa just now",
            "/stepup",
            login(Some("mfa"), Some(now)),
            200,
        ),
        case(
            "stepup: mfa 299 s ago",
            "/stepup",
            login(Some("mfa"), Some(now - 299)),
            200,
        ),
        expect(
            case(
                "stepup: a password login",
                "/stepup",
                login(Some("pwd"), Some(now)),
                401,
            ),
            step_up.clone(),
        ),
        expect(
            case(
                "stepup: mfa 10 minutes ago",
                "/stepup",
                login(Some("mfa"), Some(now - 600)),
                401,
            ),
            step_up.clone(),
        ),
        expect(
            case(
                "stepup: no auth_time",
                "/stepup",
                login(Some("mfa"), None),
                401,
            ),
            step_up.clone(),
        ),
        expect(
            case("stepup: no acr", "/stepup", login(None, Some(now)), 401),
            step_up.clone(),
        ),
        expect(
            raw(
                "stepup: no token",
                "/stepup",
                vec![],
                401,
                None,
                Some(r#"{"error":"missing_token"}"#),
            ),
            Some(format!(
                r#"Bearer {METADATA}, DPoP algs="ES256 RS256 PS256 EdDSA", {METADATA}"#
            )),
        ),
    ];
    // A step-up refusal's body names its own code.
    let cases = cases.map(|mut case| {
        if case.challenge.as_ref() == step_up.as_ref() {
            case.body = Some(r#"{"error":"insufficient_user_authentication"}"#);
        }
        case
    });
    let client = reqwest::Client::new();
    check_cases(
        &client,
        "metadata and step-up",
        &axum_base,
        &actix_base,
        &cases,
    )
    .await;

    // The metadata itself: the same bytes from both, with no token.
    let mut documents = Vec::new();
    for base in [&axum_base, &actix_base] {
        let response = client
            .get(format!("{base}/.well-known/oauth-protected-resource"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
        documents.push(response.text().await.unwrap());
    }
    assert_eq!(documents[0], documents[1]);
    let document: serde_json::Value = serde_json::from_str(&documents[0]).unwrap();
    assert_eq!(
        document,
        json!({
            "resource": DEFAULT_AUDIENCE,
            "authorization_servers": [kit.url()],
            "scopes_supported": ["read", "write"],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
        })
    );
    actix.handle.stop(true).await;
}

/// Sends each key to each of `bases` at once, and answers the statuses.
async fn flood(client: &reqwest::Client, bases: [&String; 2], keys: &[String]) -> Vec<u16> {
    let mut requests = tokio::task::JoinSet::new();
    for key in keys {
        for base in bases {
            let (client, url, key) = (client.clone(), format!("{base}/me"), key.clone());
            requests.spawn(async move {
                let response = client.get(url).header("x-api-key", key).send().await;
                response.expect("an answer").status().as_u16()
            });
        }
    }
    requests.join_all().await
}

/// The example servers' API key store, read from their file format, counting the lookups and
/// failing for one key (a store whose database is down for it).
struct CountingStore {
    keys: jwtguard::api_key::FileApiKeyStore,
    lookups: std::sync::atomic::AtomicUsize,
    broken: jwtguard::api_key::KeyDigest,
}

impl jwtguard::api_key::ApiKeyStore for CountingStore {
    fn lookup<'a>(
        &'a self,
        digest: &'a jwtguard::api_key::KeyDigest,
    ) -> jwtguard::BoxFuture<'a, Result<Option<jwtguard::api_key::ApiKeyPrincipal>, jwtguard::Error>>
    {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if *digest == self.broken {
            return Box::pin(async {
                Err(jwtguard::Error::new(
                    jwtguard::ErrorKind::Fetch,
                    "the key database is down",
                ))
            });
        }
        self.keys.lookup(digest)
    }
}

#[tokio::test]
async fn both_frameworks_answer_api_keys_identically() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use jwtguard::api_key::{ApiKeys, FileApiKeyStore, KeyDigest};
    use jwtguard::{ApiKeyLocation, Authenticator};
    use jwtguard_examples::{ServerArgs, authenticator_for};

    const ADMIN_KEY: &str = "jg_admin_4f1c9e7a2b";
    const READER_KEY: &str = "jg_reader_8d2e6b1f0c";
    const BROKEN_KEY: &str = "jg_broken_0000000000";
    let file = format!(
        r#"[{{"sha256": "{}", "sub": "batch-job", "roles": ["admin"], "scopes": ["read", "write"]}},
            {{"sha256": "{}", "sub": "report-job", "roles": ["reader"], "scopes": ["read"]}}]"#,
        KeyDigest::of(ADMIN_KEY).to_hex(),
        KeyDigest::of(READER_KEY).to_hex(),
    );
    let path =
        std::env::temp_dir().join(format!("jwtguard-parity-keys-{}.json", std::process::id()));
    std::fs::write(&path, &file).unwrap();

    let kit = Issuer::start().await;
    // The servers' own set-up from their command line, `--api-keys FILE` included ...
    let from_command_line = authenticator_for(
        &ServerArgs::from_args(
            [
                "--issuer",
                kit.url(),
                "--audience",
                DEFAULT_AUDIENCE,
                "--api-keys",
                path.to_str().unwrap(),
            ]
            .map(str::to_owned),
        )
        .unwrap(),
    )
    .await
    .expect("the servers start with --api-keys");
    // ... and the same file behind a store that counts its lookups.
    let store = Arc::new(CountingStore {
        keys: FileApiKeyStore::open(&path).unwrap(),
        lookups: Default::default(),
        broken: KeyDigest::of(BROKEN_KEY),
    });
    std::fs::remove_file(&path).unwrap();
    // Small caches, so that a flood outgrows them; misses kept for the whole test.
    let counted_keys = ApiKeys::builder(store.clone())
        .miss_ttl(Duration::from_secs(600))
        .max_entries(10)
        .max_misses(1_000)
        .build();
    // As the servers are: DPoP allowed beside bearer tokens, the metadata named (at the
    // default public URL).
    let metadata_url = (from_command_line.options().resource_metadata.clone())
        .expect("the servers name their metadata");
    assert_eq!(
        metadata_url,
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
    );
    let counted = Authenticator::new(from_command_line.validator().clone())
        .api_keys(counted_keys, ApiKeyLocation::default())
        .unwrap()
        .dpop(
            jwtguard::dpop::DpopVerifier::builder()
                .public_url("http://127.0.0.1:8080")
                .build()
                .unwrap(),
        )
        .resource_metadata_url(&metadata_url);
    // The OAuth schemes' challenges name it; the API key's does not.
    let named = format!(r#"resource_metadata="{metadata_url}""#);

    let key = |value: &str| vec![("x-api-key", value.to_owned())];
    let with_key = |mut case: Case, value: &str| {
        case.headers = key(value);
        case
    };
    let token = kit.token().claim("roles", json!(["admin"])).sign();
    let cases = [
        with_key(
            raw("admin key /me", "/me", vec![], 200, None, None),
            ADMIN_KEY,
        ),
        with_key(
            raw("admin key /admin", "/admin", vec![], 200, None, None),
            ADMIN_KEY,
        ),
        with_key(
            raw("admin key /scoped", "/scoped", vec![], 200, None, None),
            ADMIN_KEY,
        ),
        with_key(
            raw(
                "reader key /admin",
                "/admin",
                vec![],
                403,
                Some(r#"ApiKey in="header", name="X-API-Key", error="insufficient_scope""#),
                FORBIDDEN_BODY,
            ),
            READER_KEY,
        ),
        with_key(
            raw(
                "reader key /scoped",
                "/scoped",
                vec![],
                403,
                Some(
                    r#"ApiKey in="header", name="X-API-Key", error="insufficient_scope", scope="write""#,
                ),
                FORBIDDEN_BODY,
            ),
            READER_KEY,
        ),
        with_key(
            raw(
                "a wrong key",
                "/me",
                vec![],
                401,
                Some(r#"ApiKey in="header", name="X-API-Key", error="invalid_token""#),
                INVALID_BODY,
            ),
            "jg_admin_4f1c9e7a2c",
        ),
        with_key(
            raw(
                "a key and a token",
                "/me",
                vec![format!("Bearer {token}")],
                400,
                Some(&format!(
                    r#"Bearer error="invalid_request", {named}, DPoP algs="ES256 RS256 PS256 EdDSA", error="invalid_request", {named}, ApiKey in="header", name="X-API-Key", error="invalid_request""#,
                )),
                Some(r#"{"error":"invalid_request"}"#),
            ),
            ADMIN_KEY,
        ),
        raw(
            "no credential",
            "/me",
            vec![],
            401,
            Some(&format!(
                r#"Bearer {named}, DPoP algs="ES256 RS256 PS256 EdDSA", {named}, ApiKey in="header", name="X-API-Key""#,
            )),
            Some(r#"{"error":"missing_token"}"#),
        ),
        raw(
            "a key in the query string, not read",
            &format!("/me?api_key={ADMIN_KEY}"),
            vec![],
            401,
            Some(&format!(
                r#"Bearer {named}, DPoP algs="ES256 RS256 PS256 EdDSA", {named}, ApiKey in="header", name="X-API-Key""#,
            )),
            Some(r#"{"error":"missing_token"}"#),
        ),
        Case {
            headers: vec![
                ("x-api-key", ADMIN_KEY.into()),
                ("x-api-key", READER_KEY.into()),
            ],
            ..raw(
                "two keys",
                "/me",
                vec![],
                400,
                Some(r#"ApiKey in="header", name="X-API-Key", error="invalid_request""#),
                Some(r#"{"error":"invalid_request"}"#),
            )
        },
        raw(
            "a JWT beside them",
            "/admin",
            vec![format!("Bearer {token}")],
            200,
            None,
            None,
        ),
    ];
    let client = reqwest::Client::new();
    for (label, authenticator) in [
        ("--api-keys", from_command_line),
        ("counted", counted.clone()),
    ] {
        let axum_base = serve(axum_app(authenticator.clone())).await;
        let actix = actix_server(authenticator, ([127, 0, 0, 1], 0).into(), 1).unwrap();
        let actix_base = format!("http://{}", actix.addr);
        check_cases(&client, label, &axum_base, &actix_base, &cases).await;
        // /me answers an API key's principal in the shape of claims.
        let me: serde_json::Value = client
            .get(format!("{actix_base}/me"))
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            me,
            json!({"sub": "batch-job", "roles": ["admin"], "scope": "read write"})
        );
        actix.handle.stop(true).await;
    }

    // A store that fails is a 503 on both, never a 401.
    let axum_base = serve(axum_app(counted.clone())).await;
    let actix = actix_server(counted, ([127, 0, 0, 1], 0).into(), 1).unwrap();
    let actix_base = format!("http://{}", actix.addr);
    let failing = with_key(
        raw(
            "a key whose store fails",
            "/me",
            vec![],
            503,
            None,
            Some(r#"{"error":"temporarily_unavailable"}"#),
        ),
        BROKEN_KEY,
    );
    for base in [&axum_base, &actix_base] {
        let (status, challenge, body, _, _) = answer(&client, base, &failing).await;
        assert_eq!(
            (status, challenge, body.as_str()),
            (503, None, r#"{"error":"temporarily_unavailable"}"#)
        );
    }

    // A flood of 200 random keys, each sent 20 times (10 rounds, each key to both servers at
    // once): the store is asked once per key, the concurrent checks of a key sharing one
    // call and the later ones answered by the miss cache.
    let before = store.lookups.load(Ordering::SeqCst);
    let random = |count: usize, label: &str| -> Vec<String> {
        (0..count)
            .map(|n| KeyDigest::of(&format!("{label}-{n}-{}", std::process::id())).to_hex())
            .collect()
    };
    let repeated = random(200, "repeated");
    let mut statuses = std::collections::BTreeMap::new();
    let mut requests = 0;
    for _round in 0..10 {
        let sent = flood(&client, [&axum_base, &actix_base], &repeated).await;
        requests += sent.len();
        for status in sent {
            *statuses.entry(status).or_insert(0) += 1;
        }
    }
    let repeated_lookups = store.lookups.load(Ordering::SeqCst) - before;
    println!(
        "api-key flood: {requests} requests with {} random keys, statuses {statuses:?}, store lookups {repeated_lookups}",
        repeated.len(),
    );
    assert_eq!(statuses, [(401, requests)].into_iter().collect());
    assert_eq!(
        repeated_lookups,
        repeated.len(),
        "one lookup per random key"
    );

    // 3,000 more random keys, three times what the miss cache holds, each once: one lookup
    // each, and the known keys (a cache of 10) are not evicted by them.
    let before = store.lookups.load(Ordering::SeqCst);
    let once = random(3_000, "once");
    for batch in once.chunks(100) {
        let sent = flood(&client, [&axum_base, &axum_base], batch).await;
        assert!(sent.iter().all(|status| *status == 401));
    }
    let flood_lookups = store.lookups.load(Ordering::SeqCst) - before;
    for key in [ADMIN_KEY, READER_KEY] {
        let me = client
            .get(format!("{actix_base}/me"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
    }
    let known_lookups = store.lookups.load(Ordering::SeqCst) - before - flood_lookups;
    println!(
        "api-key flood: {} more random keys sent twice each (at once): store lookups {flood_lookups}; then the two known keys: {known_lookups} more",
        once.len(),
    );
    assert_eq!(flood_lookups, once.len());
    assert_eq!(known_lookups, 0, "the known keys stayed cached");
    actix.handle.stop(true).await;
}

#[tokio::test]
async fn both_frameworks_answer_dpop_identically() {
    use jwtguard::Authenticator;
    use jwtguard::dpop::DpopVerifier;

    const PUBLIC: &str = "https://api.example.test";
    const ALGS: &str = r#"DPoP algs="ES256 RS256 PS256 EdDSA""#;
    let kit = Issuer::start().await;
    let validator = Validator::builder()
        .issuer(kit.url())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
        .unwrap();
    // One authenticator per server, each with its own replay store: both see the same proofs.
    let authenticator = || {
        let verifier = DpopVerifier::builder().public_url(PUBLIC).build().unwrap();
        Authenticator::new(validator.clone()).dpop(verifier)
    };
    let axum_base = serve(axum_app(authenticator())).await;
    let actix = actix_server(authenticator(), ([127, 0, 0, 1], 0).into(), 1).unwrap();
    let actix_base = format!("http://{}", actix.addr);

    let key = TestKey::ec_p256("client");
    let bound = kit
        .token()
        .claim("cnf", json!({"jkt": key.jwk_thumbprint()}))
        .claim("roles", json!(["admin"]))
        .claim("scope", "read")
        .sign();
    let unbound = kit.token().sign();
    let proof = |path: &str, token: &str| {
        key.dpop_proof("GET", &format!("{PUBLIC}{path}"), token)
            .sign()
    };
    let with = |mut case: Case, proofs: Vec<String>| {
        case.headers = proofs.into_iter().map(|p| ("dpop", p)).collect();
        case
    };
    let dpop = |token: &str| vec![format!("DPoP {token}")];
    let invalid_proof = format!(r#"Bearer, {ALGS}, error="invalid_dpop_proof""#);
    let invalid_token = format!(r#"Bearer, {ALGS}, error="invalid_token""#);
    let invalid_request = format!(r#"Bearer, {ALGS}, error="invalid_request""#);
    let forbidden = format!(r#"Bearer, {ALGS}, error="insufficient_scope", scope="write""#);
    let missing = format!("Bearer, {ALGS}");
    let proof_body = Some(r#"{"error":"invalid_dpop_proof"}"#);
    let cases = [
        with(
            raw(
                "bound, with its proof",
                "/me",
                dpop(&bound),
                200,
                None,
                None,
            ),
            vec![proof("/me", &bound)],
        ),
        with(
            raw("bound, admin", "/admin", dpop(&bound), 200, None, None),
            vec![proof("/admin", &bound)],
        ),
        with(
            raw(
                "bound, without the scope",
                "/scoped",
                dpop(&bound),
                403,
                Some(forbidden.as_str()),
                FORBIDDEN_BODY,
            ),
            vec![proof("/scoped", &bound)],
        ),
        with(
            raw(
                "bound, sent as Bearer",
                "/me",
                vec![format!("Bearer {bound}")],
                401,
                INVALID,
                INVALID_BODY,
            ),
            vec![proof("/me", &bound)],
        ),
        raw(
            "bound, no proof",
            "/me",
            dpop(&bound),
            401,
            Some(invalid_proof.as_str()),
            proof_body,
        ),
        with(
            raw(
                "bound, a proof for another path",
                "/me",
                dpop(&bound),
                401,
                Some(invalid_proof.as_str()),
                proof_body,
            ),
            vec![proof("/admin", &bound)],
        ),
        with(
            raw(
                "bound, a proof for another token",
                "/me",
                dpop(&bound),
                401,
                Some(invalid_proof.as_str()),
                proof_body,
            ),
            vec![proof("/me", &unbound)],
        ),
        with(
            raw(
                "unbound, with the DPoP scheme",
                "/me",
                dpop(&unbound),
                401,
                Some(invalid_token.as_str()),
                INVALID_BODY,
            ),
            vec![proof("/me", &unbound)],
        ),
        with(
            raw(
                "two proofs",
                "/me",
                dpop(&bound),
                400,
                Some(invalid_request.as_str()),
                Some(r#"{"error":"invalid_request"}"#),
            ),
            vec![proof("/me", &bound), proof("/me", &bound)],
        ),
        with(
            raw(
                "a proof without a token",
                "/me",
                vec![],
                400,
                Some(invalid_request.as_str()),
                Some(r#"{"error":"invalid_request"}"#),
            ),
            vec![proof("/me", &bound)],
        ),
        raw(
            "no credential",
            "/me",
            vec![],
            401,
            Some(missing.as_str()),
            Some(r#"{"error":"missing_token"}"#),
        ),
        raw(
            "unbound, as Bearer",
            "/me",
            vec![format!("Bearer {unbound}")],
            200,
            None,
            None,
        ),
    ];
    let client = reqwest::Client::new();
    check_cases(&client, "dpop", &axum_base, &actix_base, &cases).await;
    actix.handle.stop(true).await;
}
