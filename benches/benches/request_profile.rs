//! One protected request in a loop, for profilers: the axum example app's `GET /sub`, set up
//! from the servers' command line (with `--token-cache` when `CACHED` is set), 2 000 times in
//! `hot_loop`. Nothing is measured here; the profilers do:
//!
//! ```sh
//! cargo bench -p jwtguard-benches --bench request_profile --no-run   # prints the executable
//! # instructions per function, the set-up left out:
//! valgrind --tool=callgrind --toggle-collect='*hot_loop*' target/release/deps/request_profile-…
//! # where the heap goes: every allocation site of 1 000 requests (DHAT_FILE), or of the
//! # set-up and the requests (STARTUP_FILE), as dhat JSON
//! DHAT_FILE=requests.json target/release/deps/request_profile-…
//! ```

use axum::body::Body;
use axum::http::{Request, header};
use jwtguard_examples::{ServerArgs, authenticator_for, axum_app};
use jwtguard_testkit::{DEFAULT_AUDIENCE, Issuer};
use tower::ServiceExt as _;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn main() {
    let _startup = std::env::var("STARTUP_FILE")
        .ok()
        .map(|file| dhat::Profiler::builder().file_name(file).build());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cached = std::env::var("CACHED").is_ok();
    let (app, bearer, _issuer) = runtime.block_on(async {
        let issuer = Issuer::start().await;
        let mut args = vec!["--issuer", issuer.url(), "--audience", DEFAULT_AUDIENCE];
        if cached {
            args.push("--token-cache");
        }
        let args = ServerArgs::from_args(args.into_iter().map(str::to_owned)).unwrap();
        let authenticator = authenticator_for(&args).await.unwrap();
        let token = issuer.token().claim("exp", 4_000_000_000u64).sign();
        (axum_app(authenticator), format!("Bearer {token}"), issuer)
    });
    let request = || {
        Request::get("/sub")
            .header(header::AUTHORIZATION, &bearer)
            .body(Body::empty())
            .unwrap()
    };
    let run = |count: usize| {
        runtime.block_on(async {
            for _ in 0..count {
                let response = app.clone().oneshot(request()).await.unwrap();
                assert_eq!(response.status(), 200);
                std::hint::black_box(response);
            }
        });
    };
    run(100);
    match std::env::var("DHAT_FILE") {
        Ok(file) if _startup.is_none() => {
            let _profiler = dhat::Profiler::builder().file_name(file).build();
            run(1_000);
        }
        _ => hot_loop(&run),
    }
}

/// The requests a profiler looks at.
#[inline(never)]
fn hot_loop(run: &dyn Fn(usize)) {
    run(2_000);
}
