//! Support for stpt's cross-crate end-to-end tests (`tests/e2e/`): real servers on temporary
//! SQLite databases that can be stopped and started again on the same port, a proxy that loses
//! the server's answers, the plan the tests report, and the sink configuration they report
//! with.
//!
//! [`fuzzer`] sets up schemathesis for the API contract test.
//!
//! The rig binary (`src/bin/stepwise-rig.rs`) is the harness a test kills mid-run.

pub mod database;
pub mod delivery;
pub mod fuzzer;
pub mod plans;
pub mod proxy;
pub mod server;
