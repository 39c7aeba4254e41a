//! End-to-end tests across stpt-runner and stpt-server: runs reported through the HTTP sink
//! to real servers on temporary SQLite databases, through outages, lost answers, a killed
//! harness and refused events; the API contract, fuzzed from the server's OpenAPI document;
//! and requests refused at the HTTP level.

// Test code: an unwrap that fails is a failing test, in helpers as in `#[test]`s.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::too_many_lines,
    reason = "a test is one scenario told from start to end, however long"
)]

mod contract;
mod crash;
mod lost_answer;
mod outage;
mod protocol;
mod rejection;
mod virtual_machine;

use stpt_core::RunTree;

/// `(file name, status, message)` of every test of `run`, in plan order.
fn outcomes(run: &RunTree) -> Vec<(String, &'static str, Option<String>)> {
    run.scenarios
        .iter()
        .flat_map(|scenario| &scenario.tests)
        .map(|test| {
            (
                test.file_name.clone(),
                test.status.as_str(),
                test.message.clone(),
            )
        })
        .collect()
}
