//! The client side's hot path: handing out a managed token that is fresh, against an atomic
//! load of the same `Arc` (the least any shared, swappable token can cost), measured in the same
//! run. The token comes from the test kit's issuer on loopback once; nothing else touches the
//! network. `cargo bench -p jwtguard-benches --bench client`.

use std::hint::black_box;
use std::sync::Arc;

use arc_swap::ArcSwap;
use criterion::{Criterion, criterion_group, criterion_main};
use jwtguard_benches::complete;
use jwtguard_client::{ClientAuth, OAuthClient, TokenManager, TokenParams};
use jwtguard_testkit::Issuer;

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let issuer = runtime.block_on(Issuer::start());
    issuer.register_client("bench", "bench-secret");
    let manager = TokenManager::builder().build().expect("manager");
    let token = manager
        .client_credentials(
            &OAuthClient::discover(
                issuer.url(),
                ClientAuth::secret_basic("bench", "bench-secret"),
            ),
            TokenParams::new(),
        )
        .expect("managed token");
    let first = runtime.block_on(token.get()).expect("a token");
    let reference = ArcSwap::from(Arc::clone(&first));

    let mut group = c.benchmark_group("client");
    group.bench_function("reference: ArcSwap load + Arc clone", |b| {
        b.iter(|| black_box(reference.load_full()))
    });
    group.bench_function("ManagedToken::cached", |b| {
        b.iter(|| black_box(token.cached()))
    });
    // Polled once, as an `.await` inside a task does: a fresh token is ready at once.
    group.bench_function("ManagedToken::get (fresh token)", |b| {
        b.iter(|| black_box(ready(token.get()).expect("a token")))
    });
    group.bench_function(
        "ManagedToken::get (fresh token, runtime entered per call)",
        |b| b.iter(|| black_box(complete(&runtime, token.get()).expect("a token"))),
    );
    group.finish();
    assert_eq!(
        token.token_requests(),
        1,
        "the bench only used the cached token"
    );
}

/// The output of a future that is ready on its first poll.
fn ready<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a fresh token is handed out without waiting"),
    }
}

criterion_group!(client, benches);
criterion_main!(client);
