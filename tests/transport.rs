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

/// A CA made for the test, and a certificate it signed for `localhost` and `127.0.0.1`.
struct TestCa {
    ca_pem: String,
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

fn test_ca() -> TestCa {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    TestCa {
        ca_pem: ca.pem(),
        cert: cert.der().clone(),
        key: rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    }
}

/// An https IdP on `localhost`: discovery and the keys of `key`. Returns its issuer URL.
async fn https_idp(ca: &TestCa, key: &jwtguard::testkit::TestKey) -> String {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![ca.cert.clone()], ca.key.clone_key())
        .expect("TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let discovery = serde_json::json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
    let jwks = jwtguard::testkit::jwks([key]).to_string();
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let body = discovery.to_string();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .route(
            "/jwks",
            get(move || {
                let body = jwks.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    issuer
}

/// Runs `tls_child` in a child process of this test binary, with `SSL_CERT_FILE` set to
/// `ca_file` or unset: the environment of this process stays as it is.
fn run_child(issuer: &str, token: &str, ca_file: Option<&std::path::Path>) -> (bool, String) {
    let mut command = std::process::Command::new(std::env::current_exe().expect("test binary"));
    command
        .args([
            "--exact",
            "tls_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("JWTGUARD_TLS_ISSUER", issuer)
        .env("JWTGUARD_TLS_TOKEN", token)
        .env_remove("SSL_CERT_DIR");
    match ca_file {
        Some(file) => command.env("SSL_CERT_FILE", file),
        None => command.env_remove("SSL_CERT_FILE"),
    };
    let output = command.output().expect("the child runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// The default HTTP client trusts the CA in the PEM file named by `SSL_CERT_FILE`: an https
/// IdP whose certificate comes from a private CA works with it, and is refused without it.
#[tokio::test]
async fn an_https_idp_is_trusted_through_ssl_cert_file() {
    let ca = test_ca();
    let key = jwtguard::testkit::TestKey::ec_p256("tls-1");
    let issuer = https_idp(&ca, &key).await;
    let token = key
        .token()
        .claims(
            serde_json::json!({"iss": issuer, "aud": DEFAULT_AUDIENCE, "exp": 4_000_000_000u64}),
        )
        .sign();
    let dir = std::env::temp_dir().join(format!("jwtguard-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("CA file");

    let issuer_for_child = issuer.clone();
    let token_for_child = token.clone();
    let file = ca_file.clone();
    let trusted = tokio::task::spawn_blocking(move || {
        run_child(&issuer_for_child, &token_for_child, Some(&file))
    })
    .await
    .unwrap();
    assert!(trusted.0, "with SSL_CERT_FILE:\n{}", trusted.1);
    let untrusted = tokio::task::spawn_blocking(move || run_child(&issuer, &token, None))
        .await
        .unwrap();
    assert!(
        !untrusted.0,
        "without SSL_CERT_FILE the private CA is not trusted"
    );
    assert!(untrusted.1.contains("child refused"), "{}", untrusted.1);
    let _ = std::fs::remove_dir_all(dir);
}

/// The child side of [`an_https_idp_is_trusted_through_ssl_cert_file`]: run only from there.
#[tokio::test]
#[ignore = "run by an_https_idp_is_trusted_through_ssl_cert_file in a child process"]
async fn tls_child() {
    let issuer = std::env::var("JWTGUARD_TLS_ISSUER").expect("run from the parent test");
    let token = std::env::var("JWTGUARD_TLS_TOKEN").expect("run from the parent test");
    let built = Validator::builder()
        .issuer(&issuer)
        .audience(DEFAULT_AUDIENCE)
        .http_timeout(Duration::from_secs(2))
        .refresh_policy({
            let mut policy = jwtguard::RefreshPolicy::default();
            policy.retries = 0;
            policy
        })
        .build()
        .await;
    let validator = match built {
        Ok(validator) => validator,
        Err(err) => panic!("child refused: {err}"),
    };
    validator
        .validate(&token)
        .await
        .expect("the token checks out");
}
