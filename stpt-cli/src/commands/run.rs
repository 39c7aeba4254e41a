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
    after_help = "Examples:\n  stpt run scenarios/ --machine lamp-rig --label branch=main\n  STPT_URL=http://stpt.lab:8000 stpt run . --machine \"$(hostname)\" --timeout 600\n\nThe stpt.toml format: stpt run --help (the full text), docs/runner.md (with an example).",
    after_long_help = RUN_LONG_HELP
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
    /// Label the run, KEY=VALUE (repeatable; over stpt.toml's [labels]): branch=main…
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = crate::labels::parse)]
    labels: Vec<(String, String)>,
    /// Where events wait while the server is away (default: STPT_SPOOL_DIR, else the user's
    /// data directory).
    #[arg(long)]
    spool_dir: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

/// The `stpt.toml` format and the status rules, shown by `stpt run --help`.
const RUN_LONG_HELP: &str = "\
The scenario directory's stpt.toml (paths relative to it; every file named must exist; unknown
keys are refused):

  master = \"scenario_master.sh\"           # optional: the master's script (default: stpt.toml)
  command = \"sh {file}\"                   # how to run a test: a string split on whitespace, or an
                                          # array of arguments; {file} is the test's absolute path,
                                          # {name} its file name, {dir} its directory
  timeout_secs = 600                      # optional: seconds before a test is killed as error

  [labels]                                # optional: what the run tests, sent with its dry run
  branch = \"main\"                         # (--label KEY=VALUE adds or replaces one)

  [[scenarios]]                           # run in the order written
  file = \"scenarios/lamp.sh\"              # the scenario's script (or name = \"lamp\" without one)
  tests_dir = \"tests/lamp\"                # optional, default: the directory of stpt.toml
  tests = [\"lamp_on.sh\", \"lamp_off.sh\"]   # run in the order written
  command = [\"sh\", \"-c\", \"sh {name} 2>&1\"]  # optional, replaces the top command
  timeout_secs = 60                       # optional, replaces the top timeout

Scripts of the master and the scenarios are not run: their text goes with the dry run. Each
test runs in its own directory. Its status: the first line of the file STPT_STATUS_FILE names
if it writes one (passed, failed, error, warning, cancelled or unknown; the next lines are the
message), else its exit code (0 passed, 1 failed, anything else error); error when it runs past
its timeout. For any status but passed, the end of its output becomes the message.

Examples:
  stpt run scenarios/ --machine lamp-rig --label branch=main --label firmware=2.4.1
  STPT_URL=http://stpt.lab:8000 stpt run . --machine \"$(hostname)\" --timeout 600

More, with a complete example: docs/runner.md.";

/// Discovers the plan, runs it and prints each test as it ends.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let plan = Plan::discover(&args.dir)
        .with_context(|| format!("cannot read the plan of {}", args.dir.display()))?
        .with_labels(args.labels.iter().cloned())
        .context("the --label options do not fit the server's limits")?;
    let spool_dir = args.spool_dir.unwrap_or_else(default_spool_dir);
    let mut config = HttpConfig::new(server.url.trim_end_matches('/'), &spool_dir);
    if let Some(token) = server.token.as_deref().filter(|t| !t.is_empty()) {
        config = config.with_token(token);
    }
    config.ca_cert.clone_from(&server.ca_cert);
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
        let Some(line) = progress_line(progress, total) else {
            return;
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
    let passed = summary.counts.successes();
    if passed != summary.counts.total() {
        return Err(RunNotPassed::failed(summary.counts.aggregate()).into());
    }
    Ok(())
}

/// The line printed for one step of the run, if any.
fn progress_line(progress: Progress<'_>, total: usize) -> Option<String> {
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
        Progress::SinkFailed { error } => {
            format!("warning: {}\n", crate::terminal::with_causes(error))
        }
        Progress::RunAborted { .. } => format!(
            "{}: no further test starts, and nothing more of it is sent\n",
            palette::bold("the run was aborted on the server (`stpt abort`)")
        ),
        _ => return None,
    };
    Some(line)
}
