//! `stpt serve`'s log: the `tracing` subscriber, in text or JSON lines on standard error.
//!
//! The main function here is [`install`]. It also installs `tracing-log`'s `LogTracer`
//! (tracing-subscriber's `tracing-log` feature does it in `try_init`), so the messages
//! Rocket writes through the `log` crate reach the same subscriber; being first,
//! it keeps Rocket from installing its own logger (which would print a banner and colours to
//! stdout). Rocket's per-request chatter and its launch banner (which names the internal
//! loopback port, not the public one) are filtered out below `debug`; its warnings and errors
//! stay.

use std::io::IsTerminal;

use anyhow::Context;
use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How much the server logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogLevel {
    /// Only failures.
    Error,
    /// Failures and what looks wrong.
    Warn,
    /// Also one line per request.
    Info,
    /// Also the details (Rocket's own routing messages included).
    Debug,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per message.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `message` and the
    /// message's fields), for log shippers.
    Json,
}

impl LogLevel {
    /// The filter: stpt's crates at the level, Rocket at most at `warn` (its launch banner
    /// off) unless debugging, everything else (hyper, …) at `warn`. r2d2 is off: it logs each
    /// failed connection attempt, and the pool's caller reports the failure once, with
    /// context.
    fn directives(self) -> String {
        let (ours, rocket, others) = match self {
            LogLevel::Error => ("error", "error", "error"),
            LogLevel::Warn => ("warn", "warn,rocket::launch=off", "warn"),
            LogLevel::Info => ("info", "warn,rocket::launch=off", "warn"),
            LogLevel::Debug => ("debug", "info", "warn"),
        };
        format!(
            "{others},stpt_server={ours},stpt_cli={ours},stpt_core={ours},stpt_runner={ours},\
             rocket={rocket},r2d2=off"
        )
    }
}

/// Installs the subscriber for the rest of the process.
pub(crate) fn install(level: LogLevel, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level.directives()).context("cannot build the log filter")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the log: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_makes_a_valid_filter() {
        for level in LogLevel::value_variants() {
            assert!(EnvFilter::try_new(level.directives()).is_ok(), "{level:?}");
        }
        assert!(LogLevel::Info.directives().contains("rocket::launch=off"));
    }
}
