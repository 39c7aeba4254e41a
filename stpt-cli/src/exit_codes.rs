//! The exit codes of `stpt`, one documented constant each.

/// Everything went as asked (for `tail --exit-status`: every test passed or warned).
pub(crate) const OK: u8 = 0;
/// The command failed (bad arguments, unreachable server, refused request, …).
pub(crate) const FAILURE: u8 = 1;
