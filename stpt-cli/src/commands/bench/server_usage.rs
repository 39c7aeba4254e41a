//! What the measured server spent during a benchmark: its CPU time and memory, read from
//! `/proc/<pid>/stat` and `/proc/<pid>/status` (Linux) before and after the run.
//!
//! The main types here are [`Sample`] (one reading) and [`ServerUsage`] (the difference of two
//! readings, as reported). CPU time is the process's user and system time (`utime + stime`,
//! all its threads), in seconds and as a share of one core over the run's wall time; memory is
//! the resident set now (`VmRSS`) and its peak since the process started (`VmHWM`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Sample {
    /// User and system CPU time so far, in seconds.
    cpu_seconds: f64,
    /// Resident set, in KiB.
    rss_kib: u64,
    /// Peak resident set since the process started, in KiB.
    peak_rss_kib: u64,
}

/// What the server spent during the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(super) struct ServerUsage {
    /// The server's process id.
    pid: u32,
    /// CPU time used during the run (user and system), in seconds.
    cpu_seconds: f64,
    /// That time as a share of one core over the run's wall time, in percent (above 100 when
    /// the server kept more than one core busy).
    cpu_percent_of_one_core: f64,
    /// Resident set at the end of the run, in KiB.
    rss_kib: u64,
    /// Peak resident set since the server started (`VmHWM`), in KiB.
    peak_rss_kib: u64,
}

impl Sample {
    /// Reads process `pid` now.
    pub(super) fn read(pid: u32) -> anyhow::Result<Sample> {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let stat = std::fs::read_to_string(dir.join("stat")).with_context(|| {
            format!("cannot read /proc/{pid}/stat: --pid needs Linux and the server's process id")
        })?;
        let status = std::fs::read_to_string(dir.join("status"))
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        let ticks = cpu_ticks(&stat).with_context(|| format!("unexpected /proc/{pid}/stat"))?;
        Ok(Sample {
            cpu_seconds: ticks as f64 / clock_ticks_per_second(),
            rss_kib: status_kib(&status, "VmRSS").unwrap_or(0),
            peak_rss_kib: status_kib(&status, "VmHWM").unwrap_or(0),
        })
    }
}

impl ServerUsage {
    /// The usage between `before` and `after`, over `elapsed` of wall time.
    pub(super) fn between(pid: u32, before: Sample, after: Sample, elapsed: Duration) -> Self {
        let cpu_seconds = (after.cpu_seconds - before.cpu_seconds).max(0.0);
        let wall = elapsed.as_secs_f64();
        ServerUsage {
            pid,
            cpu_seconds,
            cpu_percent_of_one_core: if wall > 0.0 {
                cpu_seconds / wall * 100.0
            } else {
                0.0
            },
            rss_kib: after.rss_kib,
            peak_rss_kib: after.peak_rss_kib,
        }
    }
}

impl std::fmt::Display for ServerUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {}: {:.2} CPU-seconds ({:.0}% of one core), RSS {:.1} MiB (peak {:.1} MiB)",
            self.pid,
            self.cpu_seconds,
            self.cpu_percent_of_one_core,
            self.rss_kib as f64 / 1024.0,
            self.peak_rss_kib as f64 / 1024.0
        )
    }
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in clock ticks. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its closing parenthesis.
fn cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        bail!("no command name");
    };
    // After the name: state (field 3), …, utime (field 14), stime (field 15).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        fields
            .get(n - 3)
            .context("too few fields")?
            .parse()
            .with_context(|| format!("field {n} is not a number"))
    };
    Ok(field(14)? + field(15)?)
}

/// The `Name:   1234 kB` line `name` of `/proc/<pid>/status` now, in KiB (`stpt bench
/// connections` samples the resident set through it too).
pub(super) fn read_status_kib(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kib(&status, name)
}

/// A `Name:   1234 kB` line of `/proc/<pid>/status`, in KiB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

/// The kernel's clock ticks per second for `/proc` times (`getconf CLK_TCK`; 100 on Linux's
/// common architectures when getconf is missing).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8(out.stdout)
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_an_awkward_command_name() {
        let stat = "4242 (stpt (serve) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
                    150 25 0 0 20 0 12 0 100 200000000 3000 18446744073709551615";
        assert_eq!(cpu_ticks(stat).unwrap(), 175);
        assert!(cpu_ticks("4242 (x) S 1").is_err());
    }

    #[test]
    fn memory_lines_are_read_in_kib() {
        let status = "Name:\tstpt\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(40960));
        assert_eq!(status_kib(status, "VmHWM"), Some(51200));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn usage_is_the_difference_over_the_wall_time() {
        let before = Sample {
            cpu_seconds: 1.0,
            rss_kib: 10,
            peak_rss_kib: 20,
        };
        let after = Sample {
            cpu_seconds: 4.0,
            rss_kib: 30,
            peak_rss_kib: 40,
        };
        let usage = ServerUsage::between(7, before, after, Duration::from_secs(2));
        assert_eq!(usage.cpu_seconds, 3.0);
        assert_eq!(usage.cpu_percent_of_one_core, 150.0);
        assert_eq!((usage.rss_kib, usage.peak_rss_kib), (30, 40));
    }

    #[test]
    fn this_process_can_be_read() {
        if cfg!(target_os = "linux") {
            let sample = Sample::read(std::process::id()).unwrap();
            assert!(sample.rss_kib > 0 && sample.peak_rss_kib >= sample.rss_kib);
        }
    }
}
