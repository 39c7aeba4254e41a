//! Embedding the stpt reporter in a harness that runs its own tests.
//!
//! The harness announces its plan once, then reports each test's start and stop. Events go
//! through the HTTP sink, which spools them to disk first: if the server is away, the harness
//! goes on and the events are delivered later (by the next send, a flush or `stpt replay`).
//!
//! ```text
//! STPT_URL=http://127.0.0.1:8000 cargo run --example embed-in-harness
//! ```

// An example program talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use stpt_core::{SinkError, Status};
use stpt_runner::{HttpConfig, HttpSink, Plan, Reporter, default_spool_dir};

fn main() -> anyhow::Result<()> {
    let url = std::env::var("STPT_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".to_owned());
    // A reporting problem is worth a line on stderr, never a failed test run.
    let note = |result: Result<(), SinkError>| {
        if let Err(error) = result {
            eprintln!("stpt: {error}");
        }
    };

    let plan = Plan::builder("suite.py", "/rig")
        .scenario("smoke.py", "/rig")
        .test("test_boot.py", "/rig/smoke")
        .test("test_network.py", "/rig/smoke")
        .build()?;
    let sink = HttpSink::open(HttpConfig::new(url, default_spool_dir()))?;
    let mut reporter = Reporter::new("machine #1", sink);
    note(reporter.dry_run(&plan));
    for test in plan.tests() {
        // Someone ran `stpt abort` on the server: the run is over (said once by `note`).
        if reporter.run_aborted() {
            break;
        }
        note(reporter.start(&test));
        let (status, message) = run_my_test(test.file_name());
        note(reporter.stop(&test, status, message.as_deref()));
    }
    note(reporter.flush());
    Ok(())
}

/// Stands in for the harness's own way of running a test.
fn run_my_test(file_name: &str) -> (Status, Option<String>) {
    if file_name.contains("network") {
        (
            Status::Warning,
            Some("link came up after 3 retries".to_owned()),
        )
    } else {
        (Status::Passed, None)
    }
}
