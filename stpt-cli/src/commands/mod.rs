//! One module per subcommand.

pub(crate) mod abort;
pub(crate) mod backup;
pub(crate) mod bench;
pub(crate) mod completions;
pub(crate) mod diff;
pub(crate) mod export;
pub(crate) mod flaky;
pub(crate) mod history;
pub(crate) mod import;
pub(crate) mod machines;
pub(crate) mod prune;
pub(crate) mod replay;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod send;
pub(crate) mod serve;
pub(crate) mod show;
pub(crate) mod tail;
pub(crate) mod token;
pub(crate) mod user;
pub(crate) mod webhook;
