//! A whole request in process, end to end, without the network: the axum router as a tower
//! service, and the actix-web app through `actix_web::test`. For each framework:
//!
//! - `no-auth`: the same route answering a fixed string;
//! - `limit`: that plus the bare RS256 check of the bearer token (aws-lc-rs, key parsed once),
//!   the least a protected server must do;
//! - `jwtguard`: the example server's `GET /sub` (a typed `Claims<T>`), set up from its
//!   command line (`authenticator_for`: DPoP allowed, as the servers run);
//! - `jwtguard cached`: the same with `--token-cache`.
//!
//! The four run in interleaved rounds (21 rounds of 1 000 requests each), so that slow phases
//! of a shared machine hit all of them. Prints the median time per request (µs), the median of
//! the per-round ratios to the limit, and the heap allocations and bytes per request (dhat).
//! Timings are only printed, never asserted: `cargo bench -p jwtguard-benches --bench requests`.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use actix_web::App;
use aws_lc_rs::signature::ParsedPublicKey;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::get;
use jwtguard_benches::{limit_check, limit_key};
use jwtguard_examples::{ServerArgs, actix_routes, authenticator_for, axum_app};
use jwtguard_testkit::{DEFAULT_AUDIENCE, Issuer};
use tower::ServiceExt as _;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// One whole request, to completion.
type Call<'a> = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = ()> + 'a>> + 'a>;

const ROUNDS: usize = 21;
const PER_ROUND: u32 = 1_000;
const COUNTED: u64 = 1_000;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs the calls (the second is the limit) in interleaved rounds and prints a row each: the
/// median µs per request, the median of the per-round ratios to the limit, and the
/// allocations and bytes per request.
async fn measure(calls: Vec<(&str, Call<'_>)>) {
    let mut calls = calls;
    for (_, call) in &mut calls {
        for _ in 0..500 {
            call().await;
        }
    }
    let mut times = vec![Vec::new(); calls.len()];
    for _ in 0..ROUNDS {
        for (index, (_, call)) in calls.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                call().await;
            }
            times[index].push(start.elapsed().as_secs_f64() * 1e6 / f64::from(PER_ROUND));
        }
    }
    for (index, (name, call)) in calls.iter_mut().enumerate() {
        let profiler = dhat::Profiler::builder().testing().build();
        let before = dhat::HeapStats::get();
        for _ in 0..COUNTED {
            call().await;
        }
        let after = dhat::HeapStats::get();
        drop(profiler);
        let per = |n: u64| n as f64 / COUNTED as f64;
        let ratios = times[index]
            .iter()
            .zip(&times[1])
            .map(|(mine, limit)| mine / limit)
            .collect();
        println!(
            "{name:<24} {:>10.2} {:>9.2}× {:>12.1} {:>10.0}",
            median(times[index].clone()),
            median(ratios),
            per(after.total_blocks - before.total_blocks),
            per(after.total_bytes - before.total_bytes),
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (issuer, plain, cached) = runtime.block_on(async {
        let issuer = Issuer::start().await;
        let args = |extra: &[&str]| {
            let mut args = vec!["--issuer", issuer.url(), "--audience", DEFAULT_AUDIENCE];
            args.extend_from_slice(extra);
            ServerArgs::from_args(args.into_iter().map(str::to_owned)).unwrap()
        };
        let plain = authenticator_for(&args(&[])).await.unwrap();
        let cached = authenticator_for(&args(&["--token-cache"])).await.unwrap();
        (issuer, plain, cached)
    });
    let token = issuer.token().claim("exp", 4_000_000_000u64).sign();
    let bearer = format!("Bearer {token}");
    let key = Arc::new(limit_key(&issuer.jwks()).unwrap());
    println!(
        "{:<24} {:>10} {:>10} {:>12} {:>10}",
        "whole request", "µs", "vs limit", "allocations", "bytes"
    );

    // axum: the router as a tower service.
    let request = || {
        Request::get("/sub")
            .header(header::AUTHORIZATION, &bearer)
            .body(Body::empty())
            .unwrap()
    };
    let no_auth = Router::new().route("/sub", get(|| async { "user-1" }));
    let limit = {
        let key = Arc::clone(&key);
        Router::new().route(
            "/sub",
            get(move |headers: HeaderMap| {
                let key = Arc::clone(&key);
                async move {
                    let authorization = headers.get(header::AUTHORIZATION);
                    if limit_check(&key, authorization.map(|value| value.as_bytes())) {
                        Ok("user-1")
                    } else {
                        Err(StatusCode::UNAUTHORIZED)
                    }
                }
            }),
        )
    };
    let call = |app: &Router| -> Call<'_> {
        let app = app.clone();
        Box::new(move || {
            let app = app.clone();
            Box::pin(async move {
                let response = app.oneshot(request()).await.unwrap();
                assert_eq!(response.status(), 200);
                black_box(response);
            })
        })
    };
    let (plain_app, cached_app) = (axum_app(plain.clone()), axum_app(cached.clone()));
    runtime.block_on(measure(vec![
        ("axum no-auth", call(&no_auth)),
        ("axum limit", call(&limit)),
        ("axum jwtguard", call(&plain_app)),
        ("axum jwtguard cached", call(&cached_app)),
    ]));

    // actix-web: the app through actix_web::test, on actix's own runtime.
    actix_web::rt::System::new().block_on(async {
        use actix_web::{HttpRequest, HttpResponse, test, web};
        let no_auth =
            test::init_service(App::new().route("/sub", web::get().to(|| async { "user-1" })))
                .await;
        let limit_key = Arc::clone(&key);
        let limit = test::init_service(App::new().app_data(web::Data::new(limit_key)).route(
            "/sub",
            web::get().to(
                |request: HttpRequest, key: web::Data<Arc<ParsedPublicKey>>| async move {
                    let authorization = request.headers().get("authorization");
                    if limit_check(&key, authorization.map(|value| value.as_bytes())) {
                        HttpResponse::Ok().body("user-1")
                    } else {
                        HttpResponse::Unauthorized().finish()
                    }
                },
            ),
        ))
        .await;
        let plain_app = test::init_service(App::new().configure(actix_routes(plain))).await;
        let cached_app = test::init_service(App::new().configure(actix_routes(cached))).await;
        let request = || {
            test::TestRequest::get()
                .uri("/sub")
                .insert_header(("authorization", bearer.as_str()))
                .to_request()
        };
        fn call<'a, S>(app: &'a S, request: &'a dyn Fn() -> actix_http::Request) -> Call<'a>
        where
            S: actix_web::dev::Service<
                    actix_http::Request,
                    Response = actix_web::dev::ServiceResponse,
                    Error = actix_web::Error,
                >,
        {
            Box::new(move || {
                Box::pin(async move {
                    let response = test::call_service(app, request()).await;
                    assert_eq!(response.status(), 200);
                    black_box(response);
                })
            })
        }
        measure(vec![
            ("actix no-auth", call(&no_auth, &request)),
            ("actix limit", call(&limit, &request)),
            ("actix jwtguard", call(&plain_app, &request)),
            ("actix jwtguard cached", call(&cached_app, &request)),
        ])
        .await;
    });
}
