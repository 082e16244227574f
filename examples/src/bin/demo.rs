//! The one-command demo: an embedded issuer (the jwtguard test kit) and the protected example
//! API in one process, driven over real HTTP, with a table of what was asked, what came back,
//! and why; then a calling service gets its own token (jwtguard-client) and calls the API
//! through the bearer middleware. `--framework axum` (the default) or `--framework actix` picks
//! the web framework.

use std::process::ExitCode;
use std::time::Duration;

use jwtguard::client::{
    BearerMiddleware, ClientAuth, OAuthClient, RenewalPolicy, TokenManager, TokenParams,
};

use jwtguard::testkit::{DEFAULT_AUDIENCE, Issuer, TestKey};
use jwtguard::{Authenticator, ResponseOptions, Validator};
use jwtguard_examples::{actix_server, axum_app};

struct Case {
    what: &'static str,
    path: &'static str,
    token: Option<String>,
    expected: u16,
}

fn framework() -> Result<&'static str, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["--framework", "axum"] | ["--framework=axum"] => Ok("axum"),
        ["--framework", "actix"] | ["--framework=actix"] => Ok("actix"),
        _ => Err("usage: demo [--framework axum|actix]".to_owned()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let framework = match framework() {
        Ok(framework) => framework,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let issuer = Issuer::start().await;
    let validator = match Validator::builder()
        .issuer(issuer.url())
        .audience(DEFAULT_AUDIENCE)
        .build()
        .await
    {
        // The demo shows why each request was refused; by default answers are terser.
        Ok(validator) => Authenticator::new(validator)
            .response_options(ResponseOptions::default().with_descriptions()),
        Err(err) => {
            eprintln!("demo: could not build the validator: {err}");
            return ExitCode::FAILURE;
        }
    };
    let api = if framework == "actix" {
        match actix_server(validator, ([127, 0, 0, 1], 0).into(), 1) {
            Ok(server) => format!("http://{}", server.addr),
            Err(err) => {
                eprintln!("demo: could not listen on loopback: {err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(err) => {
                eprintln!("demo: could not listen on loopback: {err}");
                return ExitCode::FAILURE;
            }
        };
        let api = format!("http://{}", listener.local_addr().expect("local address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, axum_app(validator)).await;
        });
        api
    };

    println!("jwtguard demo");
    println!("  issuer (embedded test kit): {}", issuer.url());
    let label = format!("protected API ({framework}):");
    println!("  {label:<28} {api}   audience {DEFAULT_AUDIENCE}");
    println!();

    let user = || {
        issuer
            .token()
            .claim("roles", vec!["user"])
            .claim("scope", "read")
    };
    let attacker = TestKey::rsa("rsa-1");
    let cases = vec![
        Case {
            what: "valid token",
            path: "/me",
            token: Some(user().sign()),
            expected: 200,
        },
        Case {
            what: "no token",
            path: "/me",
            token: None,
            expected: 401,
        },
        Case {
            what: "expired token",
            path: "/me",
            token: Some(
                user()
                    .claim("exp", 1_600_000_000u64)
                    .claim("iat", 1_599_999_000u64)
                    .sign(),
            ),
            expected: 401,
        },
        Case {
            what: "wrong audience",
            path: "/me",
            token: Some(user().claim("aud", "https://other-api.example.test").sign()),
            expected: 401,
        },
        Case {
            what: "forged signature",
            path: "/me",
            token: Some(user().with_builder(|b| {
                let input = b.signing_input();
                format!(
                    "{input}.{}",
                    jwtguard::testkit::b64(&attacker.sign(input.as_bytes()))
                )
            })),
            expected: 401,
        },
        Case {
            what: "alg: none",
            path: "/me",
            token: Some(user().header("alg", "none").with_builder(|b| b.unsigned())),
            expected: 401,
        },
        Case {
            what: "missing role admin",
            path: "/admin",
            token: Some(user().sign()),
            expected: 403,
        },
        Case {
            what: "role admin present",
            path: "/admin",
            token: Some(issuer.token().claim("roles", vec!["admin"]).sign()),
            expected: 200,
        },
        Case {
            what: "missing scope write",
            path: "/scoped",
            token: Some(user().sign()),
            expected: 403,
        },
        Case {
            what: "scope write present",
            path: "/scoped",
            token: Some(issuer.token().claim("scope", "read write").sign()),
            expected: 200,
        },
    ];

    let client = reqwest::Client::new();
    let mut failures = 0;
    print_row("#", "request", "status", "expected", "why");
    for (i, case) in cases.iter().enumerate() {
        let (status, why) = call(&client, &api, case.path, case.token.as_deref()).await;
        failures += usize::from(status != case.expected);
        print_row(
            &(i + 1).to_string(),
            &format!("GET {} ({})", case.path, case.what),
            &status.to_string(),
            &case.expected.to_string(),
            &why,
        );
    }

    // The calling service runs while the issuer is up; its report follows the table.
    let (calling, report) = calling_service(&issuer, &api).await;

    // The IdP goes down and a token signed with a key the API has never seen arrives.
    issuer.rotate();
    let unknown_key = issuer.token().sign();
    issuer.take_down().await;
    let (status, why) = call(&client, &api, "/me", Some(&unknown_key)).await;
    failures += usize::from(status != 503);
    print_row(
        &(cases.len() + 1).to_string(),
        "GET /me (new key while the IdP is down)",
        &status.to_string(),
        "503",
        &why,
    );

    failures += calling;
    for line in report {
        println!("{line}");
    }
    println!();
    if failures == 0 {
        println!("every answer was as expected");
        ExitCode::SUCCESS
    } else {
        println!("{failures} answer(s) differed from what was expected");
        ExitCode::FAILURE
    }
}

/// The other half: a calling service gets its own token at the embedded issuer (client
/// credentials) and calls the protected API through the bearer middleware, many times and
/// across a renewal. Returns how many of its checks failed.
async fn calling_service(issuer: &Issuer, api: &str) -> (usize, Vec<String>) {
    let mut lines = Vec::new();
    const CALLS: usize = 50;
    issuer.register_client("billing-service", "billing-secret");
    // A short-lived token, so that the renewal ahead of expiry happens during the demo.
    issuer.set_token_ttl(Duration::from_secs(4));
    lines.push(String::new());
    lines.push(
        "calling service (jwtguard-client, client credentials at the embedded issuer)".to_owned(),
    );
    let manager = match TokenManager::builder()
        .renewal(RenewalPolicy::default().jitter(0.0))
        .build()
    {
        Ok(manager) => manager,
        Err(err) => {
            lines.push(format!("  could not build the token manager: {err}"));
            return (1, lines);
        }
    };
    let client = OAuthClient::discover(
        issuer.url(),
        ClientAuth::secret_basic("billing-service", "billing-secret"),
    );
    let token = manager.client_credentials(
        &client,
        TokenParams::new().scope("read").resource(DEFAULT_AUDIENCE),
    );
    let middleware =
        token.and_then(|token| Ok((BearerMiddleware::new(token.clone(), [api])?, token)));
    let (middleware, token) = match middleware {
        Ok(pair) => pair,
        Err(err) => {
            lines.push(format!("  could not set up the calling service: {err}"));
            return (1, lines);
        }
    };
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build();
    let burst = |round: &'static str| {
        let http = http.clone();
        async move {
            let url = format!("{api}/me");
            let calls = (0..CALLS).map(|_| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    match http.get(url).send().await {
                        Ok(response) => response.status().as_u16(),
                        Err(_) => 0,
                    }
                }
            });
            let statuses = join_all(calls).await;
            let ok = statuses.iter().filter(|s| **s == 200).count();
            let others: Vec<String> = statuses
                .iter()
                .filter(|s| **s != 200)
                .map(u16::to_string)
                .collect();
            let others = if others.is_empty() {
                String::new()
            } else {
                format!(", others: {}", others.join(" "))
            };
            (
                ok,
                format!("  {round}: {CALLS} concurrent calls to GET /me -> {ok} x 200{others}"),
            )
        }
    };
    let mut failures = 0;
    let (ok, line) = burst("first burst").await;
    lines.push(line);
    failures += usize::from(ok != CALLS);
    let requests = token.token_requests();
    lines.push(format!(
        "  token requests so far: {requests} (one for {CALLS} callers)"
    ));
    failures += usize::from(requests != 1);
    let first = token.get().await.ok();
    // A 4 s token is renewed from 2 s on (half its life), while it is still served.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let (ok, line) = burst("after 2.3 s").await;
    lines.push(line);
    failures += usize::from(ok != CALLS);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let renewed = token.get().await.ok();
    let ahead = match (&first, &renewed) {
        (Some(first), Some(renewed)) if !renewed.is(first.expose()) => {
            let left = first
                .expires_at()
                .duration_since(renewed.obtained_at())
                .unwrap_or_default();
            lines.push(format!(
                "  renewed ahead of expiry: the new token came {:.1} s before the old one expired",
                left.as_secs_f64()
            ));
            true
        }
        _ => {
            lines.push("  the token was not renewed ahead of expiry".to_owned());
            false
        }
    };
    failures += usize::from(!ahead);
    let requests = token.token_requests();
    lines.push(format!(
        "  token requests in all: {requests} for {} calls",
        2 * CALLS
    ));
    (failures + usize::from(requests != 2), lines)
}

/// Runs the futures concurrently on this task and collects their outputs in order.
async fn join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(output) = handle.await {
            outputs.push(output);
        }
    }
    outputs
}

async fn call(
    client: &reqwest::Client,
    api: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let mut request = client.get(format!("{api}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let why = match (body["error"].as_str(), body["error_description"].as_str()) {
                _ if status == 200 => "accepted".to_owned(),
                (Some(code), Some(description)) => format!("{code}: {description}"),
                (Some(code), None) => code.to_owned(),
                _ => body.to_string(),
            };
            (status, why)
        }
        Err(err) => (0, format!("request failed: {err}")),
    }
}

fn print_row(n: &str, request: &str, status: &str, expected: &str, why: &str) {
    println!("{n:>3}  {request:<44} {status:>6} {expected:>8}  {why}");
}
