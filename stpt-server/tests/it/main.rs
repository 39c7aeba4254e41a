//! stpt-server's integration tests: the Store conformance suite and the event-sequence
//! property on SQLite and PostgreSQL, the HTTP endpoints through Rocket's local client (hostile
//! bodies included), and real servers (behind the connection guard) for WebSockets, the
//! guard's limits and the browser. PostgreSQL and browser tests are ignored, with the reason,
//! where the build script found no server or browser (see `support`).

// Test code: an unwrap that fails is a failing test, in helpers as in `#[test]`s.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::too_many_lines,
    reason = "a test is one scenario told from start to end, however long"
)]

mod access;
mod base_path;
mod batch;
mod browser;
mod closing;
mod conformance;
mod endpoints;
mod guard;
mod history;
mod hostile;
mod labels;
mod live;
mod metrics;
mod origin;
mod properties;
mod races;
mod support;
mod test_app;
mod webhooks;
