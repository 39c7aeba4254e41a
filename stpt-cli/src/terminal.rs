//! Writing to stdout: human text through `anstream` (styles stripped off a terminal or under
//! `NO_COLOR`), JSON with every timestamp in RFC 3339 (see `dates`).
//!
//! Writes return their `io::Error` so a closed pipe (`stpt runs lamp | head`) ends the command
//! quietly instead of panicking as `println!` would.

use std::io::{IsTerminal, Write};

use serde::Serialize;

/// Writes human text to stdout.
pub(crate) fn emit(text: &str) -> std::io::Result<()> {
    let mut out = anstream::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// `value` as pretty JSON and a newline, timestamps in RFC 3339.
pub(crate) fn json_text<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(value)?;
    crate::dates::rfc3339_json(&mut value);
    let mut text = serde_json::to_string_pretty(&value)?;
    text.push('\n');
    Ok(text)
}

/// Writes `value` as pretty JSON and a newline to stdout, timestamps in RFC 3339.
pub(crate) fn emit_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = json_text(value)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes `value` as one JSON line to stdout (for streams such as `tail --json`), timestamps
/// in RFC 3339.
pub(crate) fn emit_json_line<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut value = serde_json::to_value(value)?;
    crate::dates::rfc3339_json(&mut value);
    let mut text = serde_json::to_string(&value)?;
    text.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// An error with its causes, `: `-separated, as `main` prints one (`{:#}`).
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// Whether stdout is a terminal (bars and redrawn lines only make sense there).
pub(crate) fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}
