//! Benchmarks of the diesel store on SQLite and PostgreSQL.
//!
//! `start_stop` is the cost of one start plus one stop in a run of 10, 1,000 or 100,000 tests:
//! it must not grow with the run, since both events find their rows through indexes.
//! The store is opened as the server opens it (`DieselStore::open`: on SQLite, events go
//! through the single writer thread).
//! `dry_run` is the cost of storing a 10,000-test plan. SQLite uses a file in a temporary
//! directory; PostgreSQL a fresh schema on the server named by `STPT_TEST_POSTGRES_URL`
//! (skipped when unset, an error when `CI` is set).
//!
//! Run: `cargo bench -p stpt-server --bench store` (about two minutes with PostgreSQL).

// A benchmark reports its figures on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use diesel::Connection;
use diesel::connection::SimpleConnection;
use stpt_core::testing::builders::{dry_run, start, stop};
use stpt_core::{Event, Status, Store};
use stpt_server::db::{DatabaseUrl, DieselStore, PoolOptions};

/// Tests per scenario, so large runs have many scenarios as real plans do.
const TESTS_PER_SCENARIO: usize = 100;

/// Run sizes whose start+stop cost is compared.
const RUN_SIZES: [usize; 3] = [10, 1_000, 100_000];

/// Tests in the measured dry run.
const DRY_RUN_TESTS: usize = 10_000;

/// A database for the benchmarks, removed when dropped.
struct BenchDb {
    backend: &'static str,
    store: DieselStore,
    _dir: Option<tempfile::TempDir>,
    postgres_schema: Option<(String, String)>,
}

impl BenchDb {
    fn sqlite() -> BenchDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("stpt.db");
        let url = DatabaseUrl::Sqlite(path.to_string_lossy().into_owned());
        let store = DieselStore::open(&url, PoolOptions::default()).expect("open SQLite");
        BenchDb {
            backend: "sqlite",
            store,
            _dir: Some(dir),
            postgres_schema: None,
        }
    }

    fn postgres() -> Option<BenchDb> {
        let base = match std::env::var("STPT_TEST_POSTGRES_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ if std::env::var_os("CI").is_some() => {
                panic!("CI must set STPT_TEST_POSTGRES_URL so the PostgreSQL benchmarks run")
            }
            _ => {
                eprintln!("STPT_TEST_POSTGRES_URL is not set: skipping the PostgreSQL benchmarks");
                return None;
            }
        };
        let schema = format!("stpt_bench_{}", std::process::id());
        run_admin_sql(
            &base,
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
        );
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = DatabaseUrl::Postgres(format!(
            "{base}{separator}options=-c%20search_path%3D{schema}"
        ));
        let store = DieselStore::open(&url, PoolOptions::default()).expect("open PostgreSQL");
        Some(BenchDb {
            backend: "postgres",
            store,
            _dir: None,
            postgres_schema: Some((base, schema)),
        })
    }

    /// Both backends, PostgreSQL only when configured.
    fn all() -> Vec<BenchDb> {
        let mut dbs = vec![BenchDb::sqlite()];
        dbs.extend(BenchDb::postgres());
        dbs
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.postgres_schema {
            run_admin_sql(base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

fn run_admin_sql(url: &str, sql: &str) {
    let mut conn = diesel::PgConnection::establish(url).expect("connect to PostgreSQL");
    conn.batch_execute(sql).expect("run admin SQL");
}

/// A dry run of `tests` uniquely named tests on `machine` and, for each test in plan order, its
/// start and its stop.
fn events(machine: &str, tests: usize) -> (Event, Vec<(Event, Event)>) {
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
    let dry = dry_run(machine, 0, &plan);
    let pairs = (0_i64..)
        .zip(&names)
        .map(|(i, name)| {
            let status = if i % 20 == 0 {
                Status::Failed
            } else {
                Status::Passed
            };
            (
                start(machine, name, 2 * i + 1),
                stop(machine, name, status, 2 * i + 2),
            )
        })
        .collect();
    (dry, pairs)
}

fn start_stop(c: &mut Criterion) {
    let mut group = c.benchmark_group("start_stop");
    group.throughput(Throughput::Elements(1));
    for db in BenchDb::all() {
        for tests in RUN_SIZES {
            // One machine per size, so a size's runs never supersede another's.
            let (dry, pairs) = events(&format!("rig-{tests}"), tests);
            db.store
                .apply(&dry, stpt_core::Timestamp::now())
                .expect("the bench plan is valid");
            let mut next = 0;
            group.bench_function(BenchmarkId::new(db.backend, tests), |b| {
                b.iter_custom(|iters| {
                    let mut measured = Duration::ZERO;
                    let mut remaining = iters;
                    while remaining > 0 {
                        if next == pairs.len() {
                            // Every test of the run is done: a new dry run of the same
                            // machine starts the next one, outside the measured time.
                            db.store
                                .apply(&dry, stpt_core::Timestamp::now())
                                .expect("the bench plan is valid");
                            next = 0;
                        }
                        let batch = usize::try_from(remaining)
                            .map_or(pairs.len() - next, |r| r.min(pairs.len() - next));
                        let began = Instant::now();
                        for (begin, end) in &pairs[next..next + batch] {
                            black_box(
                                db.store
                                    .apply(begin, stpt_core::Timestamp::now())
                                    .expect("a waiting test starts"),
                            );
                            black_box(
                                db.store
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
    }
    group.finish();
}

fn dry_run_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("dry_run");
    group.sample_size(10);
    group.throughput(Throughput::Elements(DRY_RUN_TESTS as u64));
    let (mut dry, _) = events("plan-rig", DRY_RUN_TESTS);
    for db in BenchDb::all() {
        let mut machines = 0_u64;
        group.bench_function(BenchmarkId::new(db.backend, DRY_RUN_TESTS), |b| {
            b.iter_custom(|iters| {
                let mut measured = Duration::ZERO;
                for _ in 0..iters {
                    // A new machine each time: a second plan for the same machine would also
                    // pay for closing the first one's 10,000 waiting tests.
                    machines += 1;
                    if let Event::DryRun(plan) = &mut dry {
                        plan.machine_name = format!("plan-rig-{machines}");
                    }
                    let began = Instant::now();
                    black_box(
                        db.store
                            .apply(&dry, stpt_core::Timestamp::now())
                            .expect("the bench plan is valid"),
                    );
                    measured += began.elapsed();
                }
                measured
            });
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = start_stop, dry_run_apply
}
criterion_main!(benches);
