//! `stpt prune --older-than <duration> [--machine <name>]`: delete old runs from the server's
//! database.
//!
//! Whole runs go (their scenarios, tests and applied-event records with them) when their last
//! event is older than the duration. Each machine's newest run is always kept, whatever its
//! age: it is what the live views and `machine_last_data` show, and the only run that can
//! still be ongoing. Machines, users and tokens are never touched.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stpt_core::Timestamp;

use super::user::DatabaseArgs;

/// Delete runs whose last event is older than a duration.
///
/// Example: `stpt prune --older-than 30d --machine rig-07`
#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Age beyond which runs go: a number and a unit, `s`, `m`, `h`, `d` or `w` (`30d`,
    /// `12h`).
    #[arg(long, value_parser = parse_duration)]
    older_than: Duration,
    /// Only this machine's runs.
    #[arg(long)]
    machine: Option<String>,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Parses `30d`, `12h`, `90m`, `45s`, `2w`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: use s, m, h, d or w (e.g. 30d)"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        "w" => 7 * 24 * 60 * 60,
        other => return Err(format!("unknown unit {other:?}: use s, m, h, d or w")),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Deletes the old runs and says how many.
pub(crate) fn run(args: PruneArgs) -> anyhow::Result<()> {
    let access = args.database.open()?;
    let age = i64::try_from(args.older_than.as_micros()).unwrap_or(i64::MAX);
    let cutoff = Timestamp::from_micros(Timestamp::now().as_micros().saturating_sub(age))
        .context("the duration reaches before the epoch")?;
    let deleted = access
        .prune(cutoff, args.machine.as_deref())
        .context("cannot prune")?;
    let scope = args.machine.unwrap_or_else(|| "all machines".to_owned());
    println!(
        "deleted {deleted} run{} of {scope} with no event since {}",
        if deleted == 1 { "" } else { "s" },
        crate::dates::human(cutoff)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("99999999999999999999w").is_err());
    }
}
