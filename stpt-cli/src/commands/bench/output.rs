//! `stpt bench output`: what a rig printing a flood of output costs the live socket that
//! follows it and the other rigs' starts and stops.
//!
//! One *printer* plans a one-test run, starts the test and prints `--lines-per-second` lines
//! for `--seconds`, sending them to `POST /api/v1/runs/<run>/tests/<index>/output` in batches
//! the way the runner's executor does (at most `OUTPUT_BATCH_LINES` lines or
//! `OUTPUT_BATCH_BYTES` bytes, no line waiting longer than `OUTPUT_BATCH_DELAY`; one batch
//! after another on one connection). One WebSocket subscriber of `/ws/machine/<id>/output`
//! records when each line arrives: the latency runs from just before its batch's POST is sent
//! (and, separately, from when the line was printed, which adds the batching wait) to the
//! subscriber reading it. Meanwhile `--rigs` other machines report starts and stops, one
//! event every `--pause-ms` each, and every start and stop is timed.
//!
//! `--no-output` (or `--lines-per-second 0`) runs the rigs alone: the baseline. With
//! `--with-baseline` one invocation runs the baseline first, then the same load with the
//! printer, and reports how much the start/stop p99 rose.

use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use stpt_core::wire::IngestAnswer;
use stpt_core::{
    DryRun, Event, MasterScenarioPlan, OutputBatch, OutputLine, OutputStream, ScenarioPlan, Status,
    TestPlan, TestStart, TestStop, Timestamp,
};
use stpt_runner::executor::{OUTPUT_BATCH_BYTES, OUTPUT_BATCH_DELAY, OUTPUT_BATCH_LINES};
use tungstenite::{Message, WebSocket};

use super::{KEPT_ERRORS, LatencySummary, MAX_MACHINES, excerpt, run_tag};
use crate::client::ServerArgs;

/// Tests in each start/stop rig's plan; a rig that went through them plans again.
const RIG_TESTS: u32 = 500;

/// How long the subscriber waits for a read before checking whether it is done.
const READ_SLICE: Duration = Duration::from_millis(200);

/// Measure live output under load: a rig printing lines, a socket following it, other rigs
/// reporting starts and stops.
///
/// Example: `stpt bench output --url http://127.0.0.1:8000 --with-baseline`
#[derive(Debug, Args)]
pub(super) struct OutputArgs {
    /// Lines the printer prints per second (0: no printer, the baseline).
    #[arg(long, default_value_t = 10_000)]
    lines_per_second: u32,
    /// Seconds each phase lasts.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Other machines reporting starts and stops meanwhile (one thread each).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_MACHINES)))]
    rigs: u32,
    /// Milliseconds each rig waits after each of its events (0: as fast as answered).
    #[arg(long, default_value_t = 100)]
    pause_ms: u64,
    /// Characters in each printed line.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u64).range(16..=4096))]
    line_chars: u64,
    /// Run the rigs without the printer and its subscriber (the baseline).
    #[arg(long)]
    no_output: bool,
    /// Run the baseline first, then the same load with the printer, and report the rise of
    /// the start/stop p99.
    #[arg(long, conflicts_with = "no_output")]
    with_baseline: bool,
    /// Seconds to wait for one answer, and for the last lines to reach the subscriber.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Keep the simulated machines on the server (by default they are removed afterwards).
    #[arg(long)]
    keep: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// The benchmark's result.
#[derive(Debug, Serialize)]
struct OutputReport {
    url: String,
    seconds: u64,
    rigs: u32,
    pause_ms: u64,
    lines_per_second: u32,
    /// The rigs alone; null unless `--no-output` or `--with-baseline`.
    baseline: Option<Phase>,
    /// The rigs with the printer; null with `--no-output`.
    with_output: Option<Phase>,
    /// How much the start/stop p99 rose with the printer, in percent of the baseline's.
    start_stop_p99_rise_percent: Option<f64>,
    /// Simulated machines removed afterwards; null with --keep.
    machines_removed: Option<usize>,
}

/// What one phase measured.
#[derive(Debug, Serialize)]
struct Phase {
    elapsed_seconds: f64,
    /// The rigs' starts and stops.
    start_stop: LatencySummary,
    /// Dry runs the rigs sent (not timed).
    dry_runs: u64,
    /// The printer and its subscriber; null in the baseline.
    output: Option<OutputFigures>,
    /// Requests answered otherwise than 2xx, or not at all.
    errors: u64,
    first_errors: Vec<String>,
}

/// What the printer sent and the subscriber received.
#[derive(Debug, Serialize)]
struct OutputFigures {
    /// Lines in accepted batches.
    lines_sent: u64,
    batches: u64,
    /// Lines per second the printer got accepted, over its `--seconds`.
    lines_per_second_sent: f64,
    /// Lines the subscriber read (each once).
    lines_received: u64,
    /// Lines sent and never read within the timeout.
    lines_missed: u64,
    /// `output_skipped` frames: the subscriber fell behind and the server said so.
    skipped_frames: u64,
    /// Batch POST sent → line read, per line.
    send_to_received: LatencySummary,
    /// Line printed → line read, per line (adds the wait for its batch).
    printed_to_received: LatencySummary,
    /// The output POSTs themselves.
    post: LatencySummary,
}

/// Errors of one thread: counted, the first few kept.
#[derive(Debug, Default)]
struct Errors {
    count: u64,
    first: Vec<String>,
}

impl Errors {
    fn push(&mut self, what: &str, error: String) {
        self.count += 1;
        if self.first.len() < KEPT_ERRORS {
            self.first.push(format!("{what}: {error}"));
        }
    }

    fn merge(&mut self, other: Errors) {
        self.count += other.count;
        for error in other.first {
            if self.first.len() < KEPT_ERRORS {
                self.first.push(error);
            }
        }
    }
}

/// Runs the benchmark against the server named by `--url`.
pub(super) fn output(server: &ServerArgs, args: OutputArgs) -> anyhow::Result<()> {
    let base = server.url.trim_end_matches('/').to_owned();
    let prefix = format!("bench-out-{}-", run_tag());
    let printing = !args.no_output && args.lines_per_second > 0;
    let bench = Bench {
        base: &base,
        token: server.token.as_deref(),
        args: &args,
        prefix: &prefix,
    };
    let baseline = (!printing || args.with_baseline)
        .then(|| bench.phase("base", false))
        .transpose();
    let with_output = match &baseline {
        Ok(_) if printing => bench.phase("out", true).map(Some),
        _ => Ok(None),
    };
    let cleanup =
        (!args.keep).then(|| super::cleanup::remove_named(server, |n| n.starts_with(&prefix)));
    let (baseline, with_output) = (baseline?, with_output?);
    let rise = match (&baseline, &with_output) {
        (Some(b), Some(o)) if b.start_stop.p99_ms > 0.0 => {
            Some((o.start_stop.p99_ms / b.start_stop.p99_ms - 1.0) * 100.0)
        }
        _ => None,
    };
    let report = OutputReport {
        url: base.clone(),
        seconds: args.seconds,
        rigs: args.rigs,
        pause_ms: args.pause_ms,
        lines_per_second: if printing { args.lines_per_second } else { 0 },
        baseline,
        with_output,
        start_stop_p99_rise_percent: rise,
        machines_removed: cleanup.as_ref().map(|c| c.removed),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    match &cleanup {
        Some(cleanup) if cleanup.kept_because.is_some() => eprintln!("{}", cleanup.describe()),
        Some(cleanup) if !args.json => println!("{}", cleanup.describe()),
        _ => {}
    }
    let phases = [&report.baseline, &report.with_output];
    let errors: u64 = phases.iter().flat_map(|p| p.iter()).map(|p| p.errors).sum();
    if errors > 0 {
        let first = phases
            .iter()
            .flat_map(|p| p.iter())
            .flat_map(|p| p.first_errors.first())
            .next()
            .map_or("?", String::as_str);
        bail!("{errors} requests failed (first: {first})");
    }
    if let Some(figures) = report.with_output.as_ref().and_then(|p| p.output.as_ref())
        && figures.lines_missed > 0
    {
        bail!(
            "{} lines did not reach the subscriber within {} s",
            figures.lines_missed,
            args.timeout
        );
    }
    Ok(())
}

impl OutputReport {
    fn print(&self) {
        println!(
            "{} rigs (one event every {} ms each), {} s per phase, against {}",
            self.rigs, self.pause_ms, self.seconds, self.url
        );
        for (name, phase) in [
            ("without output", &self.baseline),
            ("with output", &self.with_output),
        ] {
            let Some(phase) = phase else { continue };
            println!("{name}:");
            println!("  start/stop:          {}", phase.start_stop);
            if let Some(out) = &phase.output {
                println!(
                    "  lines:               {} sent in {} batches ({:.0}/s), {} received, {} missed, {} skip notices",
                    out.lines_sent,
                    out.batches,
                    out.lines_per_second_sent,
                    out.lines_received,
                    out.lines_missed,
                    out.skipped_frames
                );
                let line = |s: &LatencySummary| {
                    format!(
                        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                        s.p50_ms, s.p99_ms, s.max_ms
                    )
                };
                println!("  send → socket:       {}", line(&out.send_to_received));
                println!("  printed → socket:    {}", line(&out.printed_to_received));
                println!("  output POST:         {}", out.post);
            }
            for error in &phase.first_errors {
                println!("  error:               {error}");
            }
        }
        if let Some(rise) = self.start_stop_p99_rise_percent {
            println!("start/stop p99 rise with output: {rise:+.1}%");
        }
    }
}

/// What every thread of the benchmark shares.
struct Bench<'a> {
    base: &'a str,
    token: Option<&'a str>,
    args: &'a OutputArgs,
    prefix: &'a str,
}

/// What a start/stop rig saw.
#[derive(Default)]
struct RigOutcome {
    start_stop: Vec<Duration>,
    dry_runs: u64,
    errors: Errors,
}

/// What the printer saw.
struct Printed {
    /// Per line: when it was printed, and when its batch was sent (`None`: refused).
    printed: Vec<Instant>,
    sent: Vec<Option<Instant>>,
    batches: u64,
    post: Vec<Duration>,
    errors: Errors,
}

/// What the subscriber read: per line number, when.
struct Received {
    lines: Vec<(u64, Instant)>,
    skipped_frames: u64,
}

impl Bench<'_> {
    fn agent(&self) -> ureq::Agent {
        ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(self.args.timeout))
            .build()
    }

    /// Posts `body` to `path`, reads the whole answer, and gives it with the time it took.
    fn post(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(serde_json::Value, Duration), String> {
        let url = format!("{}{path}", self.base);
        let body = serde_json::to_string(body).map_err(|e| e.to_string())?;
        let began = Instant::now();
        let mut request = agent.post(&url).set("Content-Type", "application/json");
        if let Some(token) = self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        match request.send_string(&body) {
            Ok(response) => {
                let text = response.into_string().map_err(|e| e.to_string())?;
                let took = began.elapsed();
                Ok((serde_json::from_str(&text).unwrap_or_default(), took))
            }
            Err(ureq::Error::Status(status, response)) => {
                let text = response.into_string().unwrap_or_default();
                Err(format!("HTTP {status}: {}", excerpt(&text)))
            }
            Err(ureq::Error::Transport(transport)) => Err(format!("{url}: {transport}")),
        }
    }

    /// Posts an event to its endpoint.
    fn event(
        &self,
        agent: &ureq::Agent,
        event: &Event,
    ) -> Result<(serde_json::Value, Duration), String> {
        let path = event
            .endpoint()
            .ok_or_else(|| "an event without its run".to_owned())?;
        self.post(agent, &path, event)
    }

    /// One phase: the rigs, and the printer with its subscriber when `printing`.
    fn phase(&self, tag: &str, printing: bool) -> anyhow::Result<Phase> {
        let began = Instant::now();
        let deadline = began + Duration::from_secs(self.args.seconds);
        let printer = if printing {
            Some(self.prepare_printer(tag)?)
        } else {
            None
        };
        let accepted_lines = Mutex::new(0u64);
        let printing_done = AtomicBool::new(false);
        let (rigs, printed, received) = std::thread::scope(|scope| {
            let rigs: Vec<_> = (0..self.args.rigs)
                .map(|n| {
                    let name = format!("{}{tag}-rig-{n:03}", self.prefix);
                    std::thread::Builder::new()
                        .name(name.clone())
                        .stack_size(256 * 1024)
                        .spawn_scoped(scope, move || self.rig(&name, deadline))
                })
                .collect::<Result<_, _>>()
                .context("cannot start a rig's thread")?;
            let (printed, received) = match printer {
                Some(printer) => {
                    let subscriber = {
                        let (done, count) = (&printing_done, &accepted_lines);
                        let socket = printer.socket;
                        std::thread::Builder::new()
                            .name("subscriber".to_owned())
                            .spawn_scoped(scope, move || self.subscribe(socket, done, count))
                            .context("cannot start the subscriber's thread")?
                    };
                    let printed = self.print(&printer.target, deadline, &accepted_lines);
                    printing_done.store(true, Ordering::SeqCst);
                    let received = subscriber
                        .join()
                        .map_err(|_| anyhow::anyhow!("the subscriber's thread panicked"))?;
                    (Some(printed), Some(received))
                }
                None => (None, None),
            };
            let rigs = rigs
                .into_iter()
                .map(|rig| rig.join())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| anyhow::anyhow!("a rig's thread panicked"))?;
            anyhow::Ok((rigs, printed, received))
        })?;
        let elapsed = began.elapsed();
        let mut errors = Errors::default();
        let mut start_stop = Vec::new();
        let mut dry_runs = 0;
        for rig in rigs {
            start_stop.extend(rig.start_stop);
            dry_runs += rig.dry_runs;
            errors.merge(rig.errors);
        }
        let output = match (printed, received) {
            (Some(mut printed), Some(received)) => {
                let printing = Duration::from_secs(self.args.seconds);
                let figures = figures(&mut printed, &received, printing);
                errors.merge(printed.errors);
                Some(figures)
            }
            _ => None,
        };
        Ok(Phase {
            elapsed_seconds: elapsed.as_secs_f64(),
            start_stop: LatencySummary::of(&mut start_stop),
            dry_runs,
            output,
            errors: errors.count,
            first_errors: errors.first,
        })
    }

    /// One rig: dry runs, then a start and a stop per test, until `deadline`.
    fn rig(&self, name: &str, deadline: Instant) -> RigOutcome {
        let agent = self.agent();
        let pause = Duration::from_millis(self.args.pause_ms);
        let mut outcome = RigOutcome::default();
        let over = || Instant::now() >= deadline;
        while !over() {
            if let Err(error) = self.event(&agent, &plan(name, RIG_TESTS)) {
                outcome.errors.push("dry run", error);
                std::thread::sleep(pause.max(Duration::from_millis(100)));
                continue;
            }
            outcome.dry_runs += 1;
            for test in 0..RIG_TESTS {
                for starting in [true, false] {
                    if over() {
                        return outcome;
                    }
                    let file = format!("t{test:05}.py");
                    let (what, event) = if starting {
                        ("test start", start(name, file))
                    } else {
                        ("test stop", stop_event(name, file))
                    };
                    match self.event(&agent, &event) {
                        Ok((_, took)) => outcome.start_stop.push(took),
                        Err(error) => outcome.errors.push(what, error),
                    }
                    std::thread::sleep(pause);
                }
            }
        }
        outcome
    }

    /// The printer's machine: a one-test run, its test started, and a subscriber of its
    /// output socket.
    fn prepare_printer(&self, tag: &str) -> anyhow::Result<Printer> {
        let agent = self.agent();
        let name = format!("{}{tag}-printer", self.prefix);
        let (answer, _) = self
            .event(&agent, &plan(&name, 1))
            .map_err(|e| anyhow::anyhow!("the printer's dry run: {e}"))?;
        let run_id = IngestAnswer::read(&answer)
            .run_id
            .context("the dry run answered no run_id")?;
        self.event(&agent, &start(&name, "t00000.py".to_owned()))
            .map_err(|e| anyhow::anyhow!("the printer's test start: {e}"))?;
        let mut request = agent.get(&format!("{}/api/v1/runs/{run_id}", self.base));
        if let Some(token) = self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let run: serde_json::Value = request
            .call()
            .with_context(|| format!("GET /api/v1/runs/{run_id}"))?
            .into_json()?;
        let machine_id = run["machine"]["id"]
            .as_i64()
            .context("the run names no machine")?;
        let url = format!(
            "{}/ws/machine/{machine_id}/output",
            self.base.replacen("http", "ws", 1)
        );
        let socket =
            super::live::subscribe(&url).with_context(|| format!("cannot subscribe to {url}"))?;
        socket
            .get_ref()
            .set_read_timeout(Some(READ_SLICE))
            .context("cannot set the socket's read timeout")?;
        Ok(Printer {
            target: PrinterTarget { name, run_id },
            socket,
        })
    }

    /// Prints lines at the asked rate until `deadline`, sending them in the executor's
    /// batches; `count` follows the lines the server accepted so far. Stops the test at the
    /// end.
    fn print(&self, target: &PrinterTarget, deadline: Instant, count: &Mutex<u64>) -> Printed {
        let agent = self.agent();
        let began = Instant::now();
        let rate = f64::from(self.args.lines_per_second);
        let padding = "x".repeat(usize::try_from(self.args.line_chars).unwrap_or(80) - 14);
        let mut printed = Printed {
            printed: Vec::new(),
            sent: Vec::new(),
            batches: 0,
            post: Vec::new(),
            errors: Errors::default(),
        };
        let path = format!("/api/v1/runs/{}/tests/0/output", target.run_id);
        // Lines printed, not yet sent: from `first_pending` on.
        let mut first_pending = 0usize;
        let mut pending_bytes = 0u64;
        let mut finished = false;
        while !finished {
            let now = Instant::now();
            finished = now >= deadline;
            let due = if finished {
                (rate * deadline.duration_since(began).as_secs_f64()) as usize
            } else {
                (rate * now.duration_since(began).as_secs_f64()) as usize
            };
            while printed.printed.len() < due {
                printed.printed.push(now);
                printed.sent.push(None);
                pending_bytes += self.args.line_chars + 1;
            }
            let pending = printed.printed.len() - first_pending;
            let old = printed
                .printed
                .get(first_pending)
                .is_some_and(|at| now.duration_since(*at) >= OUTPUT_BATCH_DELAY);
            let full = pending >= OUTPUT_BATCH_LINES || pending_bytes >= OUTPUT_BATCH_BYTES;
            if pending > 0 && (full || old || finished) {
                let per_line = self.args.line_chars + 1;
                let fit = usize::try_from(OUTPUT_BATCH_BYTES / per_line)
                    .unwrap_or(1)
                    .max(1);
                let take = pending.min(OUTPUT_BATCH_LINES).min(fit);
                let seqs = first_pending..first_pending + take;
                let batch = OutputBatch {
                    machine_name: target.name.clone(),
                    event_id: format!("{}-{}", target.name, seqs.start),
                    lines: seqs
                        .clone()
                        .map(|seq| OutputLine {
                            text: format!("line {seq:08} {padding}"),
                            stream: Some(OutputStream::Stdout),
                            timestamp: None,
                        })
                        .collect(),
                };
                let sent = Instant::now();
                match self.post(&agent, &path, &batch) {
                    Ok((_, took)) => {
                        printed.post.push(took);
                        printed.batches += 1;
                        if let Ok(mut count) = count.lock() {
                            *count += seqs.len() as u64;
                        }
                        for seq in seqs {
                            printed.sent[seq] = Some(sent);
                        }
                    }
                    Err(error) => printed.errors.push("output", error),
                }
                first_pending += take;
                pending_bytes = pending_bytes.saturating_sub(take as u64 * per_line);
                // Whatever is left goes out in the next batches, before the end.
                finished = finished && first_pending >= printed.printed.len();
                continue;
            }
            if !finished {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        if let Err(error) = self.event(&agent, &stop_event(&target.name, "t00000.py".to_owned())) {
            printed.errors.push("test stop", error);
        }
        printed
    }

    /// Reads the output socket until printing is over and every accepted line came, or the
    /// timeout passed since printing ended.
    fn subscribe(
        &self,
        mut socket: WebSocket<TcpStream>,
        done: &AtomicBool,
        accepted: &Mutex<u64>,
    ) -> Received {
        let mut received = Received {
            lines: Vec::new(),
            skipped_frames: 0,
        };
        let mut ended: Option<Instant> = None;
        loop {
            if done.load(Ordering::SeqCst) {
                let ended = *ended.get_or_insert_with(Instant::now);
                let all = accepted.lock().map_or(0, |count| *count);
                if received.lines.len() as u64 >= all
                    || ended.elapsed() >= Duration::from_secs(self.args.timeout)
                {
                    break;
                }
            }
            match socket.read() {
                Ok(Message::Text(text)) => {
                    let at = Instant::now();
                    let Ok(frame) = serde_json::from_str::<serde_json::Value>(&text) else {
                        continue;
                    };
                    if frame.get("output_skipped").is_some() {
                        received.skipped_frames += 1;
                    }
                    let lines = frame["test_output"]["lines"].as_array();
                    for line in lines.into_iter().flatten() {
                        if let Some(seq) = line["text"]
                            .as_str()
                            .and_then(|t| t.get(5..13))
                            .and_then(|n| n.parse().ok())
                        {
                            received.lines.push((seq, at));
                        }
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        received
    }
}

/// The printer's run.
struct PrinterTarget {
    name: String,
    run_id: i64,
}

/// The printer, ready: its run and its subscriber's socket.
struct Printer {
    target: PrinterTarget,
    socket: WebSocket<TcpStream>,
}

/// The output figures from what was printed (for `printing`) and read.
fn figures(printed: &mut Printed, received: &Received, printing: Duration) -> OutputFigures {
    let mut seen = vec![false; printed.printed.len()];
    let mut send_to_received = Vec::with_capacity(received.lines.len());
    let mut printed_to_received = Vec::with_capacity(received.lines.len());
    for (seq, at) in &received.lines {
        let Ok(seq) = usize::try_from(*seq) else {
            continue;
        };
        let (Some(slot), Some(Some(sent))) = (seen.get_mut(seq), printed.sent.get(seq)) else {
            continue;
        };
        if std::mem::replace(slot, true) {
            continue;
        }
        send_to_received.push(at.saturating_duration_since(*sent));
        printed_to_received.push(at.saturating_duration_since(printed.printed[seq]));
    }
    let lines_sent = printed.sent.iter().filter(|s| s.is_some()).count() as u64;
    let lines_received = send_to_received.len() as u64;
    OutputFigures {
        lines_sent,
        batches: printed.batches,
        lines_per_second_sent: lines_sent as f64 / printing.as_secs_f64().max(f64::EPSILON),
        lines_received,
        lines_missed: lines_sent.saturating_sub(lines_received),
        skipped_frames: received.skipped_frames,
        send_to_received: LatencySummary::of(&mut send_to_received),
        printed_to_received: LatencySummary::of(&mut printed_to_received),
        post: LatencySummary::of(&mut printed.post),
    }
}

/// A rig's plan: one scenario of `tests` tests.
fn plan(machine: &str, tests: u32) -> Event {
    let script = || Some(String::new());
    Event::DryRun(DryRun {
        machine_name: machine.to_owned(),
        timestamp: Timestamp::now(),
        master_scenario: MasterScenarioPlan {
            file_name: "master.py".to_owned(),
            file_path: "/bench".to_owned(),
            script: script(),
            scenarios: vec![ScenarioPlan {
                file_name: "s.py".to_owned(),
                file_path: "/bench".to_owned(),
                script: script(),
                tests: (0..tests)
                    .map(|i| TestPlan {
                        file_name: format!("t{i:05}.py"),
                        file_path: "/bench".to_owned(),
                        script: script(),
                    })
                    .collect(),
            }],
        },
        labels: Default::default(),
        event_id: None,
    })
}

/// The start of one of the plan's tests.
fn start(machine: &str, file_name: String) -> Event {
    Event::TestStart(TestStart {
        machine_name: machine.to_owned(),
        file_name,
        file_path: "/bench".to_owned(),
        timestamp_start: Timestamp::now(),
        event_id: None,
        run_id: None,
        index: None,
        attempt: None,
    })
}

/// The stop (passed) of one of the plan's tests.
fn stop_event(machine: &str, file_name: String) -> Event {
    Event::TestStop(TestStop {
        machine_name: machine.to_owned(),
        file_name,
        file_path: "/bench".to_owned(),
        status: Status::Passed,
        timestamp_stop: Timestamp::now(),
        event_id: None,
        run_id: None,
        index: None,
        message: None,
        attempt: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_count_each_line_once_and_misses() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut printed = Printed {
            printed: vec![t0, t0, t0 + ms(1)],
            sent: vec![Some(t0 + ms(10)), Some(t0 + ms(10)), None],
            batches: 1,
            post: vec![ms(3)],
            errors: Errors::default(),
        };
        let received = Received {
            lines: vec![(0, t0 + ms(12)), (1, t0 + ms(14)), (0, t0 + ms(20))],
            skipped_frames: 0,
        };
        let f = figures(&mut printed, &received, Duration::from_secs(1));
        assert_eq!((f.lines_sent, f.lines_received, f.lines_missed), (2, 2, 0));
        assert_eq!(f.send_to_received.max_ms, 4.0);
        assert_eq!(f.printed_to_received.p50_ms, 12.0);
    }
}
