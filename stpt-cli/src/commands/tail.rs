//! `stpt tail <machine>`: follow a machine's live run until it ends (or forever).
//!
//! Updates come from [`LiveFeed`]; a [`Follower`] turns each snapshot of the newest run into
//! what changed since the previous one and hands it to a view: progress bars on a terminal,
//! one plain line per change otherwise, or the raw snapshots as JSON lines. With
//! `--exit-status` the command ends when the run finishes, with the exit code telling whether
//! every test passed or warned.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Instant;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use stpt_core::wire::{LastMasterScenario, MachineLastData, TestOutputFrame, TestOutputMessage};
use stpt_core::{Status, StatusCounts, strip_ansi};

use crate::client::{Client, ServerArgs};
use crate::live_feed::{FeedEvent, LiveFeed, OutputBatchFrame, OutputEvent, OutputFeed};
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
///
/// With --output, also prints the output the run's tests print, as they print it, under the
/// progress (`│ ` before each line; ANSI colours kept on a terminal, every escape sequence
/// stripped otherwise); with --json, the output's frames (`{"test_output": {"run_id",
/// "test_id", "index", "lines"}}`) are JSON lines among the updates.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt tail lamp-rig\n  stpt tail lamp-rig --output                # the running test's output too\n  stpt tail lamp-rig --next --exit-status   # in CI: wait for the rig's next run"
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
    /// Also print the output of the run's tests as they print it.
    #[arg(long)]
    output: bool,
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
    // The status feed and the output feed each block on their socket in a thread of their
    // own; their events meet here, in arrival order.
    let (sender, events) = mpsc::channel();
    if args.output {
        let mut output = OutputFeed::new(client.clone(), &machine);
        let sender = sender.clone();
        std::thread::spawn(
            move || {
                while sender.send(Event::Output(output.next())).is_ok() {}
            },
        );
    }
    let mut feed = LiveFeed::new(client, machine);
    std::thread::spawn(
        move || {
            while sender.send(Event::Feed(feed.next())).is_ok() {}
        },
    );
    let mut printer = OutputPrinter::default();
    for event in events {
        match event {
            Event::Feed(FeedEvent::Notice(text)) => view.notice(&text)?,
            Event::Feed(FeedEvent::Data(data)) => {
                let finished = follower.apply(&data, view.as_mut())?;
                printer.run = data.last_master_scenario.clone();
                if let Some(finished) = finished
                    && args.exit_status
                {
                    return finished.into_result();
                }
            }
            Event::Output(OutputEvent::Notice(text)) => view.notice(&text)?,
            Event::Output(OutputEvent::Skipped) => {
                view.notice("some output was not heard here; `stpt show --output` has it")?
            }
            Event::Output(OutputEvent::Batch(batch)) => {
                if follower.current != Some(batch.run_id) {
                    continue;
                }
                if printer.shown != Some(batch.test_id) {
                    printer.shown = Some(batch.test_id);
                    let name = printer.name(batch.test_id);
                    view.notice(&format!("output of {name}"))?;
                }
                view.output(&batch)?;
            }
        }
    }
    anyhow::bail!("the live feed ended")
}

/// What the feeds' threads hand the tail.
enum Event {
    Feed(FeedEvent),
    Output(OutputEvent),
}

/// Which test's output is being printed, and the run to name it from.
#[derive(Default)]
struct OutputPrinter {
    run: Option<LastMasterScenario>,
    shown: Option<i64>,
}

impl OutputPrinter {
    /// "scenario / test" for a test of the newest run.
    fn name(&self, test_id: i64) -> String {
        self.run
            .iter()
            .flat_map(|run| &run.scenarios)
            .find_map(|scenario| {
                scenario
                    .tests
                    .iter()
                    .find(|t| t.pk == test_id)
                    .map(|t| format!("{} / {}", scenario.file_name, t.file_name))
            })
            .unwrap_or_else(|| format!("test {test_id}"))
    }
}

/// A line of a rig's output for a terminal: its colours (SGR sequences) kept, every other
/// escape sequence and control character but tabs dropped.
fn keep_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            let mut sequence = String::from(c);
            if let Some(next) = chars.next() {
                sequence.push(next);
                if next == '[' {
                    for c in chars.by_ref() {
                        sequence.push(c);
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                    let parameters = &sequence[2..sequence.len() - 1];
                    if sequence.ends_with('m')
                        && parameters.chars().all(|c| c.is_ascii_digit() || c == ';')
                    {
                        out.push_str(&sequence);
                    }
                }
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out
}

/// Output lines as the tail prints them: `│ ` and the line; on a terminal with colours the
/// line's own colours, reset after it.
fn output_text(batch: &OutputBatchFrame, colour: bool) -> String {
    let mut text = String::new();
    for line in batch.lines.iter() {
        if colour {
            text.push_str(&format!(
                "{} {}\u{1b}[0m\n",
                palette::dim("│"),
                keep_colours(&line.text)
            ));
        } else {
            text.push_str(&format!("│ {}\n", strip_ansi(&line.text)));
        }
    }
    text
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
    /// A batch of the running test's output (`stpt tail --output`).
    fn output(&mut self, batch: &OutputBatchFrame) -> std::io::Result<()>;
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

    fn output(&mut self, batch: &OutputBatchFrame) -> std::io::Result<()> {
        terminal::emit(&output_text(batch, false))
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

    fn output(&mut self, batch: &OutputBatchFrame) -> std::io::Result<()> {
        terminal::emit_json_line(&TestOutputMessage {
            test_output: TestOutputFrame {
                run_id: batch.run_id,
                test_id: batch.test_id,
                index: batch.index,
                lines: std::borrow::Cow::Borrowed(&batch.lines),
            },
        })
        .map_err(std::io::Error::other)
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

    fn output(&mut self, batch: &OutputBatchFrame) -> std::io::Result<()> {
        let text = output_text(batch, self.colour);
        self.multi.println(text.trim_end_matches('\n'))
    }
}
