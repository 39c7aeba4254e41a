//! Integration tests of stpt-core's public API: wire payload snapshots and round trips, the
//! error messages clients see, and a property test of the store's aggregates.
//!
//! One test binary for the whole crate, so the crate is linked once; each concern is a module.

// Test code: an unwrap that fails is a failing test, in helpers as in `#[test]`s.
#![allow(clippy::unwrap_used)]

mod errors;
mod payloads;
mod properties;

use stpt_core::{Event, EventKind};

/// The seed fixtures with the endpoint each one is posted to.
fn seed_events() -> [(EventKind, &'static str); 3] {
    let [dry, start, stop] = stpt_core::testing::builders::seed_fixtures();
    [
        (EventKind::DryRun, dry),
        (EventKind::TestStart, start),
        (EventKind::TestStop, stop),
    ]
}

/// Parses a body that the test expects to be accepted.
fn parse(kind: EventKind, body: &str) -> Event {
    Event::parse(kind, body.as_bytes()).unwrap_or_else(|e| panic!("{kind:?} does not parse: {e}"))
}
