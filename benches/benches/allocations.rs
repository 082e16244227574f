//! Heap allocations per validation, counted by dhat's allocator:
//! `cargo bench -p jwtguard-benches --bench allocations`.

use jwtguard_benches::{Setup, setup};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const ROUNDS: u64 = 1000;

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let Setup {
        runtime,
        cases,
        plain,
        cached,
    } = setup();
    println!("{:<28} {:>14} {:>14}", "validation", "allocations", "bytes");
    let measure = |name: &str, run: &mut dyn FnMut()| {
        run();
        let before = dhat::HeapStats::get();
        for _ in 0..ROUNDS {
            run();
        }
        let after = dhat::HeapStats::get();
        let blocks = (after.total_blocks - before.total_blocks) as f64 / ROUNDS as f64;
        let bytes = (after.total_bytes - before.total_bytes) as f64 / ROUNDS as f64;
        println!("{name:<28} {blocks:>14.1} {bytes:>14.0}");
    };
    for case in &cases {
        measure(&format!("{} valid", case.alg), &mut || {
            runtime
                .block_on(plain.validate(&case.valid))
                .expect("valid");
        });
    }
    measure("RS256 invalid signature", &mut || {
        runtime
            .block_on(plain.validate(&cases[0].forged))
            .expect_err("invalid");
    });
    measure("RS256 cache hit", &mut || {
        runtime
            .block_on(cached.validate(&cases[0].valid))
            .expect("valid");
    });
    measure("empty block_on", &mut || {
        runtime.block_on(async {});
    });
}
