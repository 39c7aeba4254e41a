//! `stpt tail <machine>`: follow a machine's live run until it ends (or forever).
//!
//! Updates come from [`LiveFeed`]; a [`Follower`] turns each snapshot of the newest run into
//! what changed since the previous one and hands it to a view: progress bars on a terminal,
//! one plain line per change otherwise, or the raw snapshots as JSON lines. With
//! `--exit-status` the command ends when the run finishes, with the exit code telling whether
//! every test passed or warned.

use std::collections::HashMap;
use std::time::Instant;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use stpt_core::{Status, StatusCounts};
use stpt_server::api::shapes::{LastMasterScenario, MachineLastData};

use crate::client::{Client, ServerArgs};
use crate::live_feed::{FeedEvent, LiveFeed};
use crate::outcome::RunNotPassed;
use crate::{palette, terminal};

/// Follow a machine's live run, and the runs after it.
///
/// Shows progress per scenario and overall, the running test, counts per status and the time
/// left. With --exit-status, exits when the run finishes: 0 when every test passed or warned, 2
/// otherwise (if the newest run has already finished, at once with its result; add --next to
/// wait for a run that starts later). When stdout is not a terminal, prints one line per
/// change instead of bars. With --json, prints every update as one JSON line, the
/// `/tm_api/machine_last_data/<id>/` shape: `{"machine_name", "last_master_scenario": null |
/// {"pk", "file_name", "timestamp_start", "started_ago", "timestamp_stop", "finished_ago",
/// "duration", "status", "tests_statistics": {<status>: n}, "tests_count", "scenarios_count",
/// "scenarios": [{"file_name", "tests": [{"file_name", "status", "pk"}], "status", "pk"}],
/// "dryrundata"}}`; notices go to stderr.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt tail lamp-rig\n  stpt tail lamp-rig --next --exit-status   # in CI: wait for the rig's next run"
)]
pub(crate) struct TailArgs {
    /// The machine, by name (any case) or id.
    machine: String,
    /// Exit when the run finishes: 0 if every test passed or warned, 2 otherwise.
    #[arg(long)]
    exit_status: bool,
    /// Ignore the run that is newest now; follow the next one to start.
    #[arg(long)]
    next: bool,
    /// Print every update as a JSON line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Follows the machine until interrupted, or until its run ends with --exit-status.
pub(crate) fn run(args: TailArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let client = Client::new(server)?;
    let machine = client.resolve_machine(&args.machine)?;
    let ignored = if args.next {
        crate::selection::newest_run_id(&client, &machine).ok()
    } else {
        None
    };
    let mut view: Box<dyn View> = if args.json {
        Box::new(JsonView)
    } else if terminal::stdout_is_terminal() {
        Box::new(BarsView::new())
    } else {
        Box::new(LinesView)
    };
    view.notice(&format!(
        "following {} (#{}){}",
        machine.name,
        machine.id,
        match ignored {
            Some(id) => format!(", waiting for a run newer than {id}"),
            None => String::new(),
        }
    ))?;
    let mut follower = Follower::new(ignored);
    let mut feed = LiveFeed::new(client, machine);
    loop {
        match feed.next() {
            FeedEvent::Notice(text) => view.notice(&text)?,
            FeedEvent::Data(data) => {
                if let Some(finished) = follower.apply(&data, view.as_mut())?
                    && args.exit_status
                {
                    return finished.into_result();
                }
            }
        }
    }
}

/// How a followed run ended.
struct Finished {
    status: Status,
    counts: StatusCounts,
}

impl Finished {
    fn into_result(self) -> anyhow::Result<()> {
        let good = self.counts.successes();
        if good == self.counts.total() {
            Ok(())
        } else {
            Err(RunNotPassed::failed(self.status).into())
        }
    }
}

/// One test's change between two snapshots.
struct Change<'a> {
    scenario: &'a str,
    test: &'a str,
    status: Status,
    /// Tests finished so far, this one included.
    finished: u64,
    total: u64,
}

/// Turns snapshots of the newest run into changes.
struct Follower {
    ignored: Option<i64>,
    current: Option<i64>,
    seen: HashMap<i64, Status>,
    announced_end: bool,
    said_waiting: bool,
    /// When the current run was first seen and how many of its tests had finished then.
    baseline: Option<(Instant, u64)>,
}

impl Follower {
    fn new(ignored: Option<i64>) -> Self {
        Follower {
            ignored,
            current: None,
            seen: HashMap::new(),
            announced_end: false,
            said_waiting: false,
            baseline: None,
        }
    }

    /// Shows what changed; answers how the run ended when this snapshot ends it.
    fn apply(
        &mut self,
        data: &MachineLastData,
        view: &mut dyn View,
    ) -> std::io::Result<Option<Finished>> {
        view.snapshot(data)?;
        let run = match &data.last_master_scenario {
            Some(run) if Some(run.pk) != self.ignored => run,
            _ => {
                // With --next the first line already says what the tail waits for.
                if !self.said_waiting && self.current.is_none() && self.ignored.is_none() {
                    self.said_waiting = true;
                    view.notice(&format!(
                        "{}: waiting for a run to start",
                        data.machine_name
                    ))?;
                }
                return Ok(None);
            }
        };
        if self.current != Some(run.pk) {
            self.current = Some(run.pk);
            self.seen.clear();
            self.announced_end = false;
            self.baseline = Some((Instant::now(), run.tests_statistics.finished()));
            view.start(run)?;
        }
        let total = run.tests_count;
        let mut finished = self.seen.values().filter(|s| !is_ongoing(**s)).count() as u64;
        for scenario in &run.scenarios {
            for test in &scenario.tests {
                let before = self.seen.insert(test.pk, test.status);
                if before.unwrap_or(Status::Waiting) == test.status {
                    continue;
                }
                if !is_ongoing(test.status) && before.is_none_or(is_ongoing) {
                    finished += 1;
                }
                view.change(&Change {
                    scenario: &scenario.file_name,
                    test: &test.file_name,
                    status: test.status,
                    finished,
                    total,
                })?;
            }
        }
        view.progress(run, self.eta(run))?;
        if !is_ongoing(run.status) && !self.announced_end {
            self.announced_end = true;
            view.end(run)?;
            return Ok(Some(Finished {
                status: run.status,
                counts: run.tests_statistics,
            }));
        }
        Ok(None)
    }

    /// Seconds left, from the pace since the run was first seen.
    fn eta(&self, run: &LastMasterScenario) -> Option<f64> {
        let (since, finished_then) = self.baseline?;
        let finished = run.tests_statistics.finished();
        let done = finished.checked_sub(finished_then).filter(|d| *d > 0)?;
        let remaining = run.tests_count.saturating_sub(finished);
        if remaining == 0 {
            return None;
        }
        let per_test = since.elapsed().as_secs_f64() / done as f64;
        Some(per_test * remaining as f64)
    }
}

fn is_ongoing(status: Status) -> bool {
    matches!(status, Status::Running | Status::Waiting)
}

fn counts_text(counts: &StatusCounts) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{} {n}", palette::painted(status, 0)))
        .collect();
    if parts.is_empty() {
        "no test".to_owned()
    } else {
        parts.join(" · ")
    }
}

fn running_test(run: &LastMasterScenario) -> Option<String> {
    run.scenarios.iter().find_map(|scenario| {
        scenario
            .tests
            .iter()
            .find(|t| t.status == Status::Running)
            .map(|t| format!("{} / {}", scenario.file_name, t.file_name))
    })
}

/// How a tail shows what happens.
trait View {
    /// Every snapshot as it arrives, before it is compared with the previous one.
    fn snapshot(&mut self, _data: &MachineLastData) -> std::io::Result<()> {
        Ok(())
    }
    fn notice(&mut self, text: &str) -> std::io::Result<()>;
    fn start(&mut self, run: &LastMasterScenario) -> std::io::Result<()>;
    fn change(&mut self, change: &Change<'_>) -> std::io::Result<()>;
    fn progress(&mut self, run: &LastMasterScenario, eta: Option<f64>) -> std::io::Result<()>;
    fn end(&mut self, run: &LastMasterScenario) -> std::io::Result<()>;
}

fn start_text(run: &LastMasterScenario) -> String {
    format!(
        "{} {}: {} ({}, {})\n",
        palette::bold("run"),
        palette::bold(&run.pk.to_string()),
        run.file_name,
        palette::counted(run.scenarios_count, "scenario"),
        palette::counted(run.tests_count, "test")
    )
}

fn end_text(run: &LastMasterScenario) -> String {
    format!(
        "{} {} finished {}: {}\n",
        palette::bold("run"),
        palette::bold(&run.pk.to_string()),
        palette::painted(run.status, 0),
        counts_text(&run.tests_statistics)
    )
}

/// One line per change, for logs and pipes.
struct LinesView;

impl View for LinesView {
    fn notice(&mut self, text: &str) -> std::io::Result<()> {
        terminal::emit(&format!("{}\n", palette::dim(text)))
    }

    fn start(&mut self, run: &LastMasterScenario) -> std::io::Result<()> {
        terminal::emit(&start_text(run))
    }

    fn change(&mut self, change: &Change<'_>) -> std::io::Result<()> {
        if is_ongoing(change.status) {
            return terminal::emit(&format!(
                "      {} {} / {}\n",
                palette::painted(change.status, 9),
                change.scenario,
                change.test
            ));
        }
        terminal::emit(&format!(
            "[{}/{}] {} {} / {}\n",
            change.finished,
            change.total,
            palette::painted(change.status, 9),
            change.scenario,
            change.test
        ))
    }

    fn progress(&mut self, _run: &LastMasterScenario, _eta: Option<f64>) -> std::io::Result<()> {
        Ok(())
    }

    fn end(&mut self, run: &LastMasterScenario) -> std::io::Result<()> {
        terminal::emit(&end_text(run))
    }
}

/// Every snapshot as a JSON line; notices on stderr.
struct JsonView;

impl View for JsonView {
    fn notice(&mut self, text: &str) -> std::io::Result<()> {
        use std::io::Write;
        writeln!(anstream::stderr(), "{text}")
    }

    fn start(&mut self, _run: &LastMasterScenario) -> std::io::Result<()> {
        Ok(())
    }

    fn change(&mut self, _change: &Change<'_>) -> std::io::Result<()> {
        Ok(())
    }

    fn snapshot(&mut self, data: &MachineLastData) -> std::io::Result<()> {
        terminal::emit_json_line(data).map_err(std::io::Error::other)
    }

    fn progress(&mut self, _run: &LastMasterScenario, _eta: Option<f64>) -> std::io::Result<()> {
        Ok(())
    }

    fn end(&mut self, _run: &LastMasterScenario) -> std::io::Result<()> {
        Ok(())
    }
}

/// Progress bars: one per scenario and one overall, redrawn in place.
struct BarsView {
    multi: MultiProgress,
    overall: Option<ProgressBar>,
    scenarios: Vec<ProgressBar>,
    colour: bool,
}

impl BarsView {
    fn new() -> Self {
        let colour =
            anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
        BarsView {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            overall: None,
            scenarios: Vec::new(),
            colour,
        }
    }

    fn text(&self, styled: &str) -> String {
        if self.colour {
            styled.to_owned()
        } else {
            anstream::adapter::strip_str(styled).to_string()
        }
    }

    fn line(&self, styled: &str) -> std::io::Result<()> {
        let text = self.text(styled.trim_end_matches('\n'));
        self.multi.println(text)
    }

    fn clear(&mut self) {
        for bar in self.scenarios.drain(..).chain(self.overall.take()) {
            bar.finish();
            self.multi.remove(&bar);
        }
    }
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("█▉▊▋▌▍▎▏ ")
}

impl View for BarsView {
    fn notice(&mut self, text: &str) -> std::io::Result<()> {
        self.line(&palette::dim(text))
    }

    fn start(&mut self, run: &LastMasterScenario) -> std::io::Result<()> {
        self.clear();
        self.line(&start_text(run))?;
        let width = run
            .scenarios
            .iter()
            .map(|s| s.file_name.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(7, 40);
        for scenario in &run.scenarios {
            let bar = self
                .multi
                .add(ProgressBar::new(scenario.tests.len() as u64));
            bar.set_style(bar_style(&format!(
                "  {{prefix:<{width}}} [{{bar:30}}] {{pos:>3}}/{{len:<3}} {{msg}}"
            )));
            bar.set_prefix(scenario.file_name.chars().take(width).collect::<String>());
            self.scenarios.push(bar);
        }
        let overall = self.multi.add(ProgressBar::new(run.tests_count));
        overall.set_style(bar_style(&format!(
            "  {{prefix:<{width}}} [{{bar:30}}] {{pos:>3}}/{{len:<3}} {{msg}}"
        )));
        overall.set_prefix(format!("{:<width$}", "overall"));
        self.overall = Some(overall);
        Ok(())
    }

    fn change(&mut self, change: &Change<'_>) -> std::io::Result<()> {
        if matches!(
            change.status,
            Status::Failed | Status::Error | Status::Cancelled
        ) {
            let style = palette::style(change.status);
            self.line(&format!(
                "{style}{}{style:#} {} / {} {}",
                palette::mark(change.status),
                change.scenario,
                change.test,
                palette::painted(change.status, 0)
            ))?;
        }
        Ok(())
    }

    fn progress(&mut self, run: &LastMasterScenario, eta: Option<f64>) -> std::io::Result<()> {
        for (bar, scenario) in self.scenarios.iter().zip(&run.scenarios) {
            let finished = scenario
                .tests
                .iter()
                .filter(|t| !is_ongoing(t.status))
                .count();
            bar.set_position(finished as u64);
            bar.set_message(self.text(&palette::painted(scenario.status, 0)));
        }
        if let Some(overall) = &self.overall {
            overall.set_position(run.tests_statistics.finished());
            let mut message = counts_text(&run.tests_statistics);
            if let Some(test) = running_test(run) {
                message = format!("{} {test} · {message}", palette::mark(Status::Running));
            }
            if let Some(seconds) = eta {
                message.push_str(&format!(" · {} left", palette::duration(seconds)));
            }
            overall.set_message(self.text(&message));
        }
        Ok(())
    }

    fn end(&mut self, run: &LastMasterScenario) -> std::io::Result<()> {
        self.clear();
        self.line(&end_text(run))
    }
}
