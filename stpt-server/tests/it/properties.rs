//! The event-sequence property test from stpt-core (`stpt_core::testing::sequences`) on the
//! diesel store: random starts, stops, retries and re-plans, refusals included, each answered
//! like the `MemoryStore` reference and leaving the same content, on SQLite (through its
//! writer thread) and on PostgreSQL. Fewer cases than on the `MemoryStore`: every case opens
//! a database of its own.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stpt_core::testing::sequences::{check_sequence, plan, step};

use crate::support::TestDb;

/// Runs `cases` random sequences, each on a fresh database from `open`.
fn check_sequences(cases: u32, open: impl Fn() -> TestDb) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let sequences = (plan(), prop::collection::vec(step(), 0..30));
    runner
        .run(&sequences, |(first, steps)| {
            let db = open();
            check_sequence(&*db, first, steps)
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
}

#[test]
fn event_sequences_on_sqlite_match_the_reference() {
    check_sequences(24, TestDb::sqlite_from_template);
}

#[test]
#[cfg_attr(
    not(stpt_postgres_tests),
    ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests"
)]
fn event_sequences_on_postgres_match_the_reference() {
    check_sequences(12, TestDb::postgres);
}
