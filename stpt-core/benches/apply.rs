//! Benchmarks of applying events to a [`MemoryStore`].
//!
//! `start_stop` shows that a start plus a stop costs the same whatever the size of the run they
//! land in (10, 1,000 or 100,000 tests): the store indexes waiting tests by name and keeps the
//! running one, so neither event scans the run. `dry_run` measures storing a 10,000-test plan.
//!
//! Run: `cargo bench -p stpt-core --bench apply -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use stpt_core::testing::builders::{dry_run, start, stop};
use stpt_core::{Event, MemoryStore, Status, Store};

const MACHINE: &str = "bench-rig";

/// Tests per scenario, so large runs have many scenarios as real plans do.
const TESTS_PER_SCENARIO: usize = 100;

/// A dry run of `tests` uniquely named tests and, for each test in plan order, its start and
/// its stop.
fn events(tests: usize) -> (Event, Vec<(Event, Event)>) {
    let names: Vec<String> = (0..tests).map(|i| format!("test_{i:06}.py")).collect();
    let scenario_names: Vec<String> = (0..tests.div_ceil(TESTS_PER_SCENARIO))
        .map(|i| format!("scenario_{i:04}.py"))
        .collect();
    let test_names: Vec<&str> = names.iter().map(String::as_str).collect();
    let plan: Vec<(&str, &[&str])> = scenario_names
        .iter()
        .zip(test_names.chunks(TESTS_PER_SCENARIO))
        .map(|(scenario, tests)| (scenario.as_str(), tests))
        .collect();
    let dry = dry_run(MACHINE, 0, &plan);
    let pairs = (0_i64..)
        .zip(&names)
        .map(|(i, name)| {
            (
                start(MACHINE, name, 2 * i + 1),
                stop(MACHINE, name, Status::Passed, 2 * i + 2),
            )
        })
        .collect();
    (dry, pairs)
}

fn fresh_store(dry: &Event) -> MemoryStore {
    let store = MemoryStore::new();
    store
        .apply(dry, stpt_core::Timestamp::now())
        .expect("the bench plan is valid");
    store
}

fn start_stop(c: &mut Criterion) {
    let mut group = c.benchmark_group("start_stop");
    group.throughput(Throughput::Elements(1));
    for tests in [10, 1_000, 100_000] {
        let (dry, pairs) = events(tests);
        // The store and the next test to run outlive each sampling call, so a small call does
        // not pay for (or run on the cold caches of) a freshly built store.
        let mut store = fresh_store(&dry);
        let mut next = 0;
        group.bench_function(BenchmarkId::from_parameter(tests), |b| {
            b.iter_custom(|iters| {
                let mut measured = Duration::ZERO;
                let mut remaining = iters;
                while remaining > 0 {
                    if next == pairs.len() {
                        // Every waiting test has run: replace the store (dropping the spent
                        // one) outside the measured time.
                        store = fresh_store(&dry);
                        next = 0;
                    }
                    let batch = usize::try_from(remaining)
                        .map_or(pairs.len() - next, |r| r.min(pairs.len() - next));
                    let began = Instant::now();
                    for (begin, end) in &pairs[next..next + batch] {
                        black_box(
                            store
                                .apply(begin, stpt_core::Timestamp::now())
                                .expect("a waiting test starts"),
                        );
                        black_box(
                            store
                                .apply(end, stpt_core::Timestamp::now())
                                .expect("the running test stops"),
                        );
                    }
                    measured += began.elapsed();
                    next += batch;
                    remaining -= batch as u64;
                }
                measured
            });
        });
    }
    group.finish();
}

fn dry_run_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("dry_run");
    let tests = 10_000;
    group.throughput(Throughput::Elements(tests));
    let (dry, _) = events(tests as usize);
    group.bench_function(BenchmarkId::from_parameter(tests), |b| {
        b.iter_batched(
            MemoryStore::new,
            |store| {
                black_box(
                    store
                        .apply(&dry, stpt_core::Timestamp::now())
                        .expect("the bench plan is valid"),
                );
                // Returned so that dropping the store is not measured.
                store
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, start_stop, dry_run_apply);
criterion_main!(benches);
