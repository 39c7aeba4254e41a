//! End-to-end tests of the `stpt` binary: each test starts its own `stpt serve` on a fresh
//! SQLite file and runs the subcommands against it as a user would.

// Test code: an unwrap that fails is a failing test, in helpers as in `#[test]`s.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::too_many_lines,
    reason = "a test is one scenario told from start to end, however long"
)]

mod abort;
mod admin;
mod backup;
mod base_path;
mod dates;
mod help;
mod history;
mod https;
mod junit;
mod labels;
mod messages;
mod operations;
mod queries;
mod runner;
mod send;
mod serve;
mod support;
mod tail;
mod test_ca;
mod webhook;
