//! The server's own log lines: problems an operator should see, written to standard error.
//!
//! `stpt serve` turns Rocket's logging off (a line per request would cost ingest time and
//! bury everything else), so Rocket's `warn!` would drop these silently; every module reports
//! through [`warn`] instead, which prints whatever Rocket's level is.

use std::fmt;

/// Prints one problem, prefixed so it can be told from other output.
pub(crate) fn warn(message: impl fmt::Display) {
    eprintln!("stpt-server: {message}");
}
