//! How fast the history questions answer on a big database, and whether ingest slows down.
//!
//! Generates `STPT_BENCH_RUNS` (default 10,000) finished runs of `STPT_BENCH_TESTS` (default
//! 100) tests on one machine — a million test rows — with `DieselStore::generate_history`'s
//! multi-row inserts, then times, 30 times each: a test's history (last 20 results), the
//! newest run compared with the previous one, and the flaky list (last 10 runs), exactly as
//! the `/api/v1` handlers compute them. Last it times start+stop pairs of a fresh 100-test run
//! on the big database and on an empty one. Prints median and worst per question.
//!
//! SQLite uses a file in a temporary directory; PostgreSQL a fresh schema on the server named
//! by `STPT_TEST_POSTGRES_URL` (skipped when unset, an error when `CI` is set).
//!
//! Run: `cargo bench -p stpt-server --bench history`.

// Benchmark code: a failed unwrap stops the measurement, as a failing test would.
#![allow(clippy::unwrap_used)]
// A benchmark reports its figures on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use stpt_core::insights;
use stpt_core::testing::builders::{at, dry_run, start, stop};
use stpt_core::{PageRequest, Status, Store};
use stpt_server::db::{DatabaseUrl, DieselStore, PoolOptions};

const MACHINE: &str = "big-rig";
const SAMPLES: usize = 30;

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run_admin_sql(url: &str, sql: &str) {
    let mut conn = diesel::PgConnection::establish(url).expect("connect to PostgreSQL");
    conn.batch_execute(sql).expect("run admin SQL");
}

/// A fresh database of `backend`, with what removes it.
fn open(backend: &str, name: &str) -> Option<(DieselStore, Box<dyn FnOnce()>)> {
    if backend == "sqlite" {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join(format!("{name}.db"));
        let url = DatabaseUrl::Sqlite(path.to_string_lossy().into_owned());
        let store = DieselStore::open(&url, PoolOptions::default()).expect("open SQLite");
        return Some((store, Box::new(move || drop(dir))));
    }
    let base = match std::env::var("STPT_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI must set STPT_TEST_POSTGRES_URL so the PostgreSQL benchmarks run")
        }
        _ => {
            eprintln!("STPT_TEST_POSTGRES_URL is not set: skipping PostgreSQL");
            return None;
        }
    };
    let schema = format!("stpt_history_{name}_{}", std::process::id());
    run_admin_sql(
        &base,
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
    );
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = DatabaseUrl::Postgres(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ));
    let store = DieselStore::open(&url, PoolOptions::default()).expect("open PostgreSQL");
    Some((
        store,
        Box::new(move || run_admin_sql(&base, &format!("DROP SCHEMA {schema} CASCADE"))),
    ))
}

/// Median and worst of `SAMPLES` runs of `f`.
fn time(mut f: impl FnMut()) -> (Duration, Duration) {
    let mut took: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    took.sort();
    (took[SAMPLES / 2], took[SAMPLES - 1])
}

/// Median time of one start+stop pair over a fresh 100-test run of `machine`.
fn ingest(store: &DieselStore, machine: &str) -> Duration {
    let names: Vec<String> = (0..100).map(|i| format!("fresh_{i:03}.py")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    store
        .apply(
            &dry_run(machine, 0, &[("s.py", &refs)]),
            stpt_core::Timestamp::now(),
        )
        .expect("dry run");
    let mut took: Vec<Duration> = names
        .iter()
        .map(|name| {
            let started = Instant::now();
            store
                .apply(&start(machine, name, 1), stpt_core::Timestamp::now())
                .expect("start");
            store
                .apply(
                    &stop(machine, name, Status::Passed, 2),
                    stpt_core::Timestamp::now(),
                )
                .expect("stop");
            started.elapsed()
        })
        .collect();
    took.sort();
    took[took.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects a backend.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runs = env_number("STPT_BENCH_RUNS", 10_000);
    let tests = env_number("STPT_BENCH_TESTS", 100);
    for backend in ["sqlite", "postgres"] {
        if filter.as_deref().is_some_and(|f| !backend.contains(f)) {
            continue;
        }
        let Some((empty, drop_empty)) = open(backend, "empty") else {
            continue;
        };
        let empty_ingest = ingest(&empty, "fresh-rig");
        drop(empty);
        drop_empty();

        let Some((store, drop_big)) = open(backend, "big") else {
            continue;
        };
        let started = Instant::now();
        store
            .generate_history(MACHINE, runs, tests, at(0))
            .expect("generate");
        let generated = started.elapsed();
        let machine = store.machine_by_name(MACHINE).unwrap().unwrap();
        let newest = store.last_run(machine.id).unwrap().unwrap();
        let test_id = newest.scenarios[0].tests[tests as usize / 2].id;

        let history = time(|| {
            let results = store.test_history(test_id, 20).unwrap();
            assert_eq!(results.len(), 20);
            std::hint::black_box(insights::DurationTrend::of(&results, 20));
        });
        let compare = time(|| {
            let run = store.run(newest.run.id).unwrap().unwrap();
            let page = store.runs(machine.id, PageRequest::new(1, 2)).unwrap();
            let other = store.run(page.items[1].id).unwrap().unwrap();
            std::hint::black_box(insights::compare(&run, &other));
        });
        let flaky = time(|| {
            let page = store.runs(machine.id, PageRequest::new(1, 10)).unwrap();
            let trees: Vec<_> = page
                .items
                .iter()
                .map(|r| store.run(r.id).unwrap().unwrap())
                .collect();
            assert!(!insights::flaky(&trees).is_empty());
        });
        let big_ingest = ingest(&store, MACHINE);
        println!(
            "{backend}: generated {runs} runs × {tests} tests in {:.1} s",
            generated.as_secs_f64()
        );
        println!(
            "  test history (20)      median {} worst {}",
            ms(history.0),
            ms(history.1)
        );
        println!(
            "  compare with previous  median {} worst {}",
            ms(compare.0),
            ms(compare.1)
        );
        println!(
            "  flaky list (10 runs)   median {} worst {}",
            ms(flaky.0),
            ms(flaky.1)
        );
        println!(
            "  start+stop pair        empty db {}  big db {}",
            ms(empty_ingest),
            ms(big_ingest)
        );
        drop(store);
        drop_big();
    }
}
