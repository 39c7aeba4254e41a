//! Integration tests of stpt-runner: event streams, the HTTP sink against an in-test server,
//! the spool across a simulated crash, and the executor.

// Test code: an unwrap that fails is a failing test, in helpers as in `#[test]`s.
#![allow(clippy::unwrap_used)]

mod events;
#[cfg(unix)]
mod executor;
mod http;
mod server;
mod spool;
