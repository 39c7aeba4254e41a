//! The API contract, checked by a schema-driven fuzzer: schemathesis reads the server's own
//! OpenAPI document (`/docs/openapi.json`) and sends what it describes, valid and invalid,
//! and methods it does not describe, to a real server (the app `stpt serve` runs) on SQLite
//! and on PostgreSQL. Every answer must be declared by the document (status code, content
//! type, body schema), none may be a 5xx, and a method a path does not take must be a 405.
//!
//! schemathesis lives in a virtual environment under the target directory, set up on first
//! use. Without Python (or `venv`, or the package index) the test is skipped with a message,
//! except in CI (`CI` set), where it fails.

// The fuzzer's report and a skipped test's reason belong in the test output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;

use stpt_tests::database::TempDatabase;
use stpt_tests::fuzzer::{Schemathesis, Unavailable};
use stpt_tests::server::{ReservedPort, RunningServer};

/// Test cases per operation and phase: enough to reach every status an operation declares,
/// few enough that both backends take about a minute together. `STPT_FUZZ_EXAMPLES` raises it
/// for a deeper run by hand.
const MAX_EXAMPLES: &str = "25";
/// Fixed, so a failure reproduces (`STPT_FUZZ_SEED` tries another).
const SEED: &str = "20240101";

/// The checks: declared status codes, content types and body schemas, no server error, 405
/// with `Allow` for an undeclared method.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,unsupported_method,allow_header_conformance";

fn fuzzer() -> Option<Schemathesis> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../py/venv");
    match Schemathesis::ensure(&venv) {
        Ok(fuzzer) => Some(fuzzer),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI runs the API contract test, but schemathesis is unavailable: {e}")
        }
        Err(e @ (Unavailable::NotRunnable { .. } | Unavailable::Step { .. })) => {
            eprintln!("skipping the API contract test: schemathesis is unavailable: {e}");
            None
        }
    }
}

/// Posts the seed's fixtures twice, so ids 1 and 2 name a machine, runs, scenarios and tests,
/// and a run has a previous one to be compared with.
fn seed(server: &RunningServer) {
    let [dry, start, stop] = stpt_core::testing::builders::seed_fixtures();
    for _ in 0..2 {
        for (path, body) in [
            ("/tm_api/dry_run/", dry),
            ("/tm_api/test_start/", start),
            ("/tm_api/test_stop/", stop),
        ] {
            let url = format!("{}{path}", server.url());
            let answer = ureq::post(&url)
                .set("Content-Type", "application/json")
                .send_string(body);
            assert!(answer.is_ok(), "POST {path}: {answer:?}");
        }
    }
}

fn fuzz(database: Option<TempDatabase>) {
    let Some(database) = database else { return };
    let Some(fuzzer) = fuzzer() else { return };
    let port = ReservedPort::new();
    let server = RunningServer::start(&database, &port);
    seed(&server);
    let schema = format!("{}/docs/openapi.json", server.url());
    let examples = std::env::var("STPT_FUZZ_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_owned());
    let seed = std::env::var("STPT_FUZZ_SEED").unwrap_or_else(|_| SEED.to_owned());
    let outcome = fuzzer.run(
        &schema,
        &[
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            &examples,
            "--seed",
            &seed,
            "--generation-database",
            "none",
            "--suppress-health-check",
            "all",
        ],
        Path::new(env!("CARGO_TARGET_TMPDIR")),
    );
    server.stop();
    println!("{}", outcome.output);
    assert!(
        outcome.passed,
        "schemathesis found answers the document does not declare:\n{}",
        outcome.output
    );
}

#[test]
fn the_server_answers_what_its_document_declares_on_sqlite() {
    fuzz(Some(TempDatabase::new()));
}

#[test]
fn the_server_answers_what_its_document_declares_on_postgres() {
    fuzz(TempDatabase::postgres());
}
