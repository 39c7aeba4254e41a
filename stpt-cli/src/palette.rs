//! How human output looks: colours and marks of statuses, durations, counted nouns.
//!
//! Styles are always written; `anstream`'s stdout and stderr strip them when the stream is not
//! a terminal or `NO_COLOR` is set, so the commands never decide about colour themselves.

use anstyle::{AnsiColor, Style};
use stpt_core::Status;

/// The style of a status: green for passed, red for failed and error, yellow for warning, …
pub(crate) fn style(status: Status) -> Style {
    let color = match status {
        Status::Passed => AnsiColor::Green,
        Status::Failed | Status::Error => AnsiColor::Red,
        Status::Warning => AnsiColor::Yellow,
        Status::Running => AnsiColor::Cyan,
        Status::Waiting | Status::Skipped => AnsiColor::BrightBlack,
        Status::Cancelled | Status::Unknown => AnsiColor::Magenta,
    };
    let style = Style::new().fg_color(Some(color.into()));
    match status {
        Status::Failed | Status::Error => style.bold(),
        _ => style,
    }
}

/// A one-character mark for a status, readable without colour.
pub(crate) fn mark(status: Status) -> char {
    match status {
        Status::Passed => '✔',
        Status::Failed | Status::Error => '✘',
        Status::Warning => '!',
        Status::Running => '▶',
        Status::Waiting => '·',
        Status::Cancelled => '⊘',
        Status::Unknown => '?',
        Status::Skipped => '-',
    }
}

/// `status` in its colour, padded to `width` characters.
pub(crate) fn painted(status: Status, width: usize) -> String {
    let style = style(status);
    format!("{style}{:<width$}{style:#}", status.as_str())
}

/// A status word as the seed's machine list sends it (a status or `not-available`), coloured
/// when it is a status.
pub(crate) fn painted_word(word: &str, width: usize) -> String {
    match word.parse::<Status>() {
        Ok(status) => painted(status, width),
        Err(_) => {
            let dim = Style::new().dimmed();
            format!("{dim}{word:<width$}{dim:#}")
        }
    }
}

/// Bold text, for headers.
pub(crate) fn bold(text: &str) -> String {
    let bold = Style::new().bold();
    format!("{bold}{text}{bold:#}")
}

/// Dimmed text, for secondary details.
pub(crate) fn dim(text: &str) -> String {
    let dim = Style::new().dimmed();
    format!("{dim}{text}{dim:#}")
}

/// How long something took, for people: `850ms`, `12.3s`, `4m 05s`, `2h 03m`.
pub(crate) fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".to_owned();
    }
    if seconds < 1.0 {
        return format!("{}ms", (seconds * 1000.0).round() as u64);
    }
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{}m {:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h {:02}m", whole / 3600, (whole % 3600) / 60)
    }
}

/// `1 test`, `3 tests`.
pub(crate) fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0.25), "250ms");
        assert_eq!(duration(12.34), "12.3s");
        assert_eq!(duration(245.0), "4m 05s");
        assert_eq!(duration(7380.0), "2h 03m");
        assert_eq!(duration(-1.0), "?");
    }

    #[test]
    fn every_status_word_is_painted() {
        for status in Status::PRIORITY {
            assert!(painted_word(status.as_str(), 0).contains(status.as_str()));
        }
        assert!(painted_word("not-available", 0).contains("not-available"));
    }
}
