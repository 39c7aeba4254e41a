//! `stpt run <dir>`: run a scenario directory's tests and report them to the server.
//!
//! The plan comes from the directory's `stpt.toml` (`stpt_runner::Plan::discover`); the
//! runner's `Executor` runs each test as a subprocess and its `HttpSink` delivers the events
//! through a spool, so a server that is away loses nothing (`stpt replay` sends it later).
//! Ctrl-C sets the executor's cancel flag: the running test is killed and reported
//! `cancelled`, and no further test starts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stpt_core::Status;
use stpt_runner::{
    CancelFlag, Executor, HttpConfig, HttpSink, Plan, Progress, Reporter, default_spool_dir,
};

use crate::client::ServerArgs;
use crate::outcome::RunNotPassed;
use crate::{palette, terminal};

/// Run a scenario directory's tests (from its stpt.toml) and report them to the server.
///
/// Exits 0 when every test passed or warned, 2 when one did not (or the run was aborted on
/// the server with `stpt abort`: no further test starts), 130 when cancelled with Ctrl-C. A
/// server that is away does not stop the run: events wait in the spool for `stpt replay`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt run scenarios/ --machine lamp-rig\n  STPT_URL=http://stpt.lab:8000 stpt run . --machine \"$(hostname)\" --timeout 600"
)]
pub(crate) struct RunArgs {
    /// The scenario directory holding stpt.toml.
    dir: PathBuf,
    /// The machine name reported to the server.
    #[arg(long, env = "STPT_MACHINE")]
    machine: String,
    /// Timeout in seconds of tests whose manifest sets none.
    #[arg(long)]
    timeout: Option<f64>,
    /// Where events wait while the server is away (default: STPT_SPOOL_DIR, else the user's
    /// data directory).
    #[arg(long)]
    spool_dir: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

/// Discovers the plan, runs it and prints each test as it ends.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let plan = Plan::discover(&args.dir)
        .with_context(|| format!("cannot read the plan of {}", args.dir.display()))?;
    let spool_dir = args.spool_dir.unwrap_or_else(default_spool_dir);
    let mut config = HttpConfig::new(server.url.trim_end_matches('/'), &spool_dir);
    if let Some(token) = server.token.as_deref().filter(|t| !t.is_empty()) {
        config = config.with_token(token);
    }
    let sink = HttpSink::open(config)
        .with_context(|| format!("cannot open the spool at {}", spool_dir.display()))?;
    let mut reporter = Reporter::new(args.machine.clone(), sink);
    let cancel = CancelFlag::new();
    let on_interrupt = cancel.clone();
    ctrlc::set_handler(move || on_interrupt.cancel())
        .context("cannot install the Ctrl-C handler")?;
    let mut executor = Executor::new().with_cancel_flag(cancel);
    if let Some(seconds) = args.timeout {
        let timeout = Duration::try_from_secs_f64(seconds)
            .with_context(|| format!("invalid --timeout {seconds}"))?;
        executor = executor.with_timeout(timeout);
    }
    terminal::emit(&format!(
        "running {} tests of {} as {}\n",
        plan.test_count(),
        plan.master().file_name,
        args.machine
    ))?;
    let total = plan.test_count();
    let mut write_error = None;
    let summary = executor.run(&plan, &mut reporter, |progress| {
        let line = match progress {
            Progress::Started { test } => format!(
                "{} {} / {}\n",
                palette::dim("start"),
                test.scenario.file_name,
                test.file_name()
            ),
            Progress::Finished { test, outcome } => {
                let mut line = format!(
                    "[{}/{total}] {} {} / {}  {}\n",
                    outcome.index + 1,
                    palette::painted(outcome.status, 9),
                    test.scenario.file_name,
                    test.file_name(),
                    palette::duration(outcome.duration.as_secs_f64()),
                );
                if let Some(message) = outcome.message.as_deref() {
                    for text in message
                        .trim_end()
                        .lines()
                        .rev()
                        .take(5)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                    {
                        line.push_str(&format!("        {}\n", palette::dim(text)));
                    }
                }
                line
            }
            Progress::SinkFailed { error } => format!("warning: {error}\n"),
            Progress::RunAborted { .. } => format!(
                "{}: no further test starts, and nothing more of it is sent\n",
                palette::bold("the run was aborted on the server (`stpt abort`)")
            ),
            _ => return,
        };
        if write_error.is_none()
            && let Err(e) = terminal::emit(&line)
        {
            write_error = Some(e);
        }
    });
    if let Some(e) = write_error {
        return Err(e.into());
    }
    let counts: Vec<String> = summary
        .counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{} {n}", palette::painted(status, 0)))
        .collect();
    let pending = reporter.sink().spool().pending_count().unwrap_or(0);
    let mut text = format!(
        "ran {} of {total} tests: {}\n",
        summary.outcomes.len(),
        counts.join(" · ")
    );
    if pending > 0 {
        text.push_str(&format!(
            "{pending} events wait in {}: run `stpt replay` once the server is reachable\n",
            spool_dir.display()
        ));
    }
    terminal::emit(&text)?;
    if summary.aborted {
        return Err(RunNotPassed::aborted(summary.not_run).into());
    }
    if summary.cancelled {
        return Err(RunNotPassed::cancelled(summary.not_run).into());
    }
    let passed = summary.counts.get(Status::Passed) + summary.counts.get(Status::Warning);
    if passed != summary.counts.total() {
        return Err(RunNotPassed::failed(summary.counts.aggregate()).into());
    }
    Ok(())
}
