//! Validation against the floor, interleaved: each round times a batch of bare signature
//! checks and then a batch of whole validations of the same token, so both see the same
//! machine state, and the ratio of each round is kept. On a shared VM this is far steadier than
//! two benchmarks measured one after the other.
//! `cargo bench -p jwtguard-benches --bench ratio`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use jwtguard_benches::{Setup, complete, floor_verifier, setup, split};

/// Rounds per algorithm; the medians are taken over them.
const ROUNDS: usize = 201;
/// The time one batch should take.
const BATCH_TIME: Duration = Duration::from_millis(2);

fn main() {
    let Setup {
        runtime,
        cases,
        plain,
        ..
    } = setup();
    println!(
        "{:<8} {:>12} {:>14} {:>8} {:>16}",
        "alg", "floor", "jwtguard", "ratio", "ratio p10..p90"
    );
    for case in &cases {
        let (input, signature) = split(&case.valid);
        let verify = floor_verifier(case);
        let mut floor = || assert!(verify(black_box(input.as_bytes()), black_box(&signature)));
        let mut whole = || {
            complete(&runtime, plain.validate(black_box(&case.valid))).expect("valid");
        };
        let batch = batch_size(&mut floor);
        let (mut floors, mut wholes, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let f = time(batch, &mut floor);
            let w = time(batch, &mut whole);
            floors.push(f);
            wholes.push(w);
            ratios.push(w / f);
        }
        println!(
            "{:<8} {:>9.2} µs {:>11.2} µs {:>7.3}× {:>7.3}..{:.3}",
            case.alg,
            quantile(&mut floors, 0.5),
            quantile(&mut wholes, 0.5),
            quantile(&mut ratios, 0.5),
            quantile(&mut ratios, 0.1),
            quantile(&mut ratios, 0.9),
        );
    }
}

/// How many calls of `run` take about [`BATCH_TIME`].
fn batch_size(run: &mut dyn FnMut()) -> usize {
    let start = Instant::now();
    let mut calls = 0;
    while start.elapsed() < BATCH_TIME {
        run();
        calls += 1;
    }
    calls.max(1)
}

/// Microseconds per call of `run`, over `calls` calls.
fn time(calls: usize, run: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        run();
    }
    start.elapsed().as_secs_f64() * 1e6 / calls as f64
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}
