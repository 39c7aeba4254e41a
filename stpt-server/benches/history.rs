//! How fast the history questions answer on a big database, and whether ingest slows down.
//!
//! Generates `STPT_BENCH_RUNS` (default 10,000) finished runs of `STPT_BENCH_TESTS` (default
//! 100) tests on one machine — a million test rows — with `DieselStore::generate_history`'s
//! multi-row inserts, then times, 30 times each: a test's history (last 20 results), the
//! newest run compared with the previous one, and the flaky list (last 10 runs), exactly as
//! the `/api/v1` handlers compute them. The generated runs carry labels (`branch`: `main` on
//! six runs in ten, `release` on two, `feature-a` and `feature-b` on one each; `suite`: `full`
//! or `smoke`, alternating), and `Store::find_runs` — what `GET /api/v1/runs?label=` asks — is
//! timed `LABEL_SAMPLES` times per search, first page of 20: by one label (a common and a rare
//! value), by two, by a label and the machine, by a label and `since` (the newest tenth of the
//! runs). Last it times start+stop pairs of a fresh 100-test run on the big database and on an
//! empty one. Prints median and worst per question, p50 and p99 per label search.
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
use stpt_core::{PageRequest, RunFilter, Status, Store};
use stpt_server::db::{DatabaseUrl, DieselStore, PoolOptions};

const MACHINE: &str = "big-rig";
const SAMPLES: usize = 30;
/// Samples per label search, enough for a p99.
const LABEL_SAMPLES: usize = 300;
/// Runs per page of a label search (the API's default page).
const LABEL_PAGE: u64 = 20;

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

/// p50 and p99 of `LABEL_SAMPLES` runs of `f`.
fn percentiles(mut f: impl FnMut()) -> (Duration, Duration) {
    let mut took: Vec<Duration> = (0..LABEL_SAMPLES)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    took.sort();
    let rank = |p: usize| took[(LABEL_SAMPLES * p).div_ceil(100).max(1) - 1];
    (rank(50), rank(99))
}

/// The label searches timed, each with the runs it must find among `runs` generated ones.
fn label_searches(machine: stpt_core::MachineId, runs: u32) -> Vec<(&'static str, RunFilter, u64)> {
    let label = |key: &str, value: &str| (key.to_owned(), value.to_owned());
    // How many of runs 0..runs have r % 10 in `residues` (and, for `odd`, r odd).
    let count = |residues: &[u32], odd: bool| {
        (0..runs)
            .filter(|r| residues.contains(&(r % 10)) && (!odd || r % 2 == 1))
            .count() as u64
    };
    let newest_tenth = runs - runs / 10;
    // Generated run r is stamped r minutes after `at(0)`.
    let since =
        stpt_core::Timestamp::from_micros(at(0).as_micros() + i64::from(newest_tenth) * 60_000_000)
            .expect("a timestamp in range");
    let release_since = (newest_tenth..runs)
        .filter(|r| [6, 7].contains(&(r % 10)))
        .count() as u64;
    vec![
        (
            "branch=main (6 in 10)",
            RunFilter {
                labels: vec![label("branch", "main")],
                ..RunFilter::default()
            },
            count(&[0, 1, 2, 3, 4, 5], false),
        ),
        (
            "branch=feature-a (1 in 10)",
            RunFilter {
                labels: vec![label("branch", "feature-a")],
                ..RunFilter::default()
            },
            count(&[8], false),
        ),
        (
            "branch=feature-b, suite=smoke",
            RunFilter {
                labels: vec![label("branch", "feature-b"), label("suite", "smoke")],
                ..RunFilter::default()
            },
            count(&[9], true),
        ),
        (
            "branch=release + machine",
            RunFilter {
                machine: Some(machine),
                labels: vec![label("branch", "release")],
                ..RunFilter::default()
            },
            count(&[6, 7], false),
        ),
        (
            "branch=release + since",
            RunFilter {
                since: Some(since),
                labels: vec![label("branch", "release")],
                ..RunFilter::default()
            },
            release_since,
        ),
    ]
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
        bench(backend, runs, tests);
    }
}

/// Times a start and stop on an empty database, then the history queries on one holding
/// `runs` generated runs of `tests` tests, and prints the figures; nothing when `backend` is
/// not available.
fn bench(backend: &str, runs: u32, tests: u32) {
    let Some((empty, drop_empty)) = open(backend, "empty") else {
        return;
    };
    let empty_ingest = ingest(&empty, "fresh-rig");
    drop(empty);
    drop_empty();

    let Some((store, drop_big)) = open(backend, "big") else {
        return;
    };
    let started = Instant::now();
    store
        .generate_history(MACHINE, runs, tests, at(0))
        .expect("generate");
    let generated = started.elapsed();
    let queries = time_queries(&store, runs, tests);
    let big_ingest = ingest(&store, MACHINE);
    println!(
        "{backend}: generated {runs} runs × {tests} tests in {:.1} s",
        generated.as_secs_f64()
    );
    let timed = [
        ("test history (20)     ", queries.history),
        ("compare with previous ", queries.compare),
        ("flaky list (10 runs)  ", queries.flaky),
    ];
    for (name, (median, worst)) in timed {
        println!("  {name} median {} worst {}", ms(median), ms(worst));
    }
    for (name, (p50, p99)) in &queries.searches {
        println!("  runs by {name:<30} p50 {} p99 {}", ms(*p50), ms(*p99));
    }
    println!(
        "  start+stop pair        empty db {}  big db {}",
        ms(empty_ingest),
        ms(big_ingest)
    );
    drop(store);
    drop_big();
}

/// How long the history queries took: (median, worst), or (p50, p99) for the label searches.
struct QueryTimes {
    history: (Duration, Duration),
    compare: (Duration, Duration),
    flaky: (Duration, Duration),
    searches: Vec<(&'static str, (Duration, Duration))>,
}

/// Times the history queries on `store`, which holds the generated history.
fn time_queries(store: &DieselStore, runs: u32, tests: u32) -> QueryTimes {
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
    let searches = label_searches(machine.id, runs)
        .into_iter()
        .map(|(name, filter, expected)| {
            let page = PageRequest::new(1, LABEL_PAGE);
            let found = store.find_runs(&filter, page).unwrap();
            assert_eq!(found.total, expected, "{name}");
            let took = percentiles(|| {
                std::hint::black_box(store.find_runs(&filter, page).unwrap());
            });
            (name, took)
        })
        .collect();
    QueryTimes {
        history,
        compare,
        flaky,
        searches,
    }
}
