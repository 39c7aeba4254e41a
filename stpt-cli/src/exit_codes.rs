//! The exit codes of `stpt`, one documented constant each.

/// Everything went as asked (for `tail --exit-status` and `run`: every test passed or warned).
pub(crate) const OK: u8 = 0;
/// The command failed (bad arguments, a refused request, an unreadable file, …).
pub(crate) const FAILURE: u8 = 1;
/// The run finished, but not every test passed or warned (`tail --exit-status`, `run`).
pub(crate) const RUN_NOT_PASSED: u8 = 2;
/// No stpt server could be reached at the URL given by --url or STPT_URL (nothing answered,
/// something that is not stpt, or an https:// server whose certificate is not trusted).
pub(crate) const SERVER_UNREACHABLE: u8 = 3;
/// The machine, run or test named does not exist on the server.
pub(crate) const NOT_FOUND: u8 = 4;
/// `run` was cancelled with Ctrl-C (128 + SIGINT, as shells report it).
pub(crate) const INTERRUPTED: u8 = 130;
