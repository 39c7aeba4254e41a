//! `stpt bench ingest`: load a server with simulated test machines and measure how it keeps up
//! (`stpt bench live`, in `live`, measures WebSocket delivery instead; `stpt bench output`, in
//! `output`, live test output under load; `stpt bench connections`, in `connections`, whether
//! it stays responsive under idle and slow connections).
//!
//! The simulated machines are removed from the server afterwards (`cleanup`), unless `--keep`.
//!
//! Each simulated machine is a thread with its own HTTP agent. It posts a dry run, then a start
//! and a stop for every planned test, one after another, as a seed runner does. Only the seed's
//! fields are sent (no event ids, run ids or indexes), so the same command measures the original
//! application. Latencies are per request, measured at the client from sending the body to
//! reading the whole answer.
//!
//! With `--batch N` each machine sends its events to the batch endpoint (`POST
//! /api/v1/events`) instead, each with an event id, as a runner delivering a backlog does: the
//! dry run alone (a batch of one, so its latency stays apart), then its starts and stops N to a
//! request. Events/s counts the events the server accepted; latencies stay per request.
//!
//! With `--pid PID` (the server's process, on Linux) the report adds what the server spent
//! during the run: CPU time and resident memory (`server_usage`).

use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use stpt_core::wire::{BATCH_PATH, BatchAnswer, DEFAULT_MAX_BATCH_EVENTS, batch_body};
use stpt_core::{
    DryRun, Event, MasterScenarioPlan, ScenarioPlan, Status, TestPlan, TestStart, TestStop,
    Timestamp,
};

use crate::client::ServerArgs;

mod cleanup;
mod connections;
mod live;
mod output;
mod server_usage;

/// Most simulated machines: each is a thread, and a few hundred already saturate a server.
const MAX_MACHINES: u32 = 1_000;

/// Error messages kept for the report; the rest are only counted.
const KEPT_ERRORS: usize = 5;

/// Characters of an error answer kept in the report.
const ERROR_EXCERPT_CHARS: usize = 200;

/// Measure a server.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    target: BenchTarget,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Subcommand)]
enum BenchTarget {
    Ingest(IngestArgs),
    Live(live::LiveArgs),
    Output(output::OutputArgs),
    Connections(connections::ConnectionsArgs),
}

/// Simulate machines posting a dry run and a start and stop per test; report events/s and
/// latency percentiles.
///
/// Example: `stpt bench ingest --url http://127.0.0.1:8000 --machines 100 --tests 200`
#[derive(Debug, Args)]
struct IngestArgs {
    /// Machines reporting at the same time (one thread each).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_MACHINES)))]
    machines: u32,
    /// Tests in each machine's run.
    #[arg(long, default_value_t = 100)]
    tests: u32,
    /// Scenarios the tests are spread over.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    scenarios: u32,
    /// Seconds to wait for one answer before counting the request as failed.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// WebSocket subscribers of `/ws/machine/status` held open, never read, during the run
    /// (what anyone may open on a public server): their cost shows in the throughput.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(live::MAX_SUBSCRIBERS)))]
    idle_subscribers: u32,
    /// Send starts and stops N to a request through the batch endpoint (`POST
    /// /api/v1/events`), the dry run alone before them, each event with an id; by default
    /// each event goes to its own seed endpoint.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=DEFAULT_MAX_BATCH_EVENTS as i64))]
    batch: Option<u32>,
    /// The server's process id (Linux): report the CPU time it used during the run and its
    /// resident memory, read from /proc/PID.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Keep the simulated machines on the server (by default they are removed afterwards).
    #[arg(long)]
    keep: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the chosen benchmark against the server named by `--url`.
pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let server = &args.server;
    // The load generators measure the server itself, on its plain port: TLS would measure
    // the handshakes and the bridge too, and their raw sockets do not speak it.
    anyhow::ensure!(
        !server.url.to_ascii_lowercase().starts_with("https://"),
        "stpt bench measures a server over http://: run it against a `stpt serve` without \
         --tls-cert"
    );
    match args.target {
        BenchTarget::Ingest(args) => ingest(server, args),
        BenchTarget::Live(args) => live::live(server, args),
        BenchTarget::Output(args) => output::output(server, args),
        BenchTarget::Connections(args) => connections::connections(server, args),
    }
}

fn ingest(server: &ServerArgs, args: IngestArgs) -> anyhow::Result<()> {
    let base = server.url.trim_end_matches('/').to_owned();
    let run_tag = run_tag();
    let ws_base = base.replacen("http", "ws", 1);
    // Each idle subscriber is a socket; failing to raise the limit leaves the default.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let idle = (0..args.idle_subscribers)
        .map(|_| live::subscribe(&format!("{ws_base}/ws/machine/status/")))
        .collect::<anyhow::Result<Vec<_>>>()
        .context("cannot open the idle subscribers (raise `ulimit -n`?)")?;
    // Read once before the run too, so a wrong pid fails before any load.
    let usage_before = args.pid.map(server_usage::Sample::read).transpose()?;
    let (outcomes, usage, elapsed) = drive_machines(server, &args, &base, &run_tag, usage_before)?;
    let still_open = idle.len();
    drop(idle);
    let mut report = IngestReport::new(&args, &base, &outcomes, elapsed);
    report.server = usage;
    let prefix = format!("bench-{run_tag}-");
    let cleanup = (!args.keep).then(|| cleanup::remove_named(server, |n| n.starts_with(&prefix)));
    report.machines_removed = cleanup.as_ref().map(|c| c.removed);
    if !args.json && still_open > 0 {
        println!("idle subscribers held open: {still_open}");
    }
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
    if report.errors > 0 {
        bail!(
            "{} of {} requests failed (first: {})",
            report.errors,
            report.requests,
            report.first_errors.first().map_or("?", String::as_str)
        );
    }
    Ok(())
}

/// Starts the machines together and waits for them all; answers their outcomes, the server's
/// usage meanwhile (with `--pid`) and how long they took.
fn drive_machines(
    server: &ServerArgs,
    args: &IngestArgs,
    base: &str,
    run_tag: &str,
    usage_before: Option<server_usage::Sample>,
) -> anyhow::Result<(
    Vec<MachineOutcome>,
    Option<server_usage::ServerUsage>,
    Duration,
)> {
    let barrier = Barrier::new(args.machines as usize + 1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.machines)
            .map(|n| {
                let machine = Machine {
                    name: format!("bench-{run_tag}-{n:03}"),
                    base,
                    token: server.token.as_deref(),
                    tests: args.tests,
                    scenarios: args.scenarios,
                    timeout: Duration::from_secs(args.timeout),
                    batch: args.batch.map(|n| n as usize),
                };
                let barrier = &barrier;
                std::thread::Builder::new()
                    .name(machine.name.clone())
                    .spawn_scoped(scope, move || {
                        barrier.wait();
                        machine.report()
                    })
            })
            .collect::<Result<_, _>>()
            .context("cannot start a machine's thread")?;
        let usage_before = match args.pid {
            Some(pid) => Some(server_usage::Sample::read(pid)?),
            None => usage_before,
        };
        barrier.wait();
        let began = Instant::now();
        let outcomes = workers
            .into_iter()
            .map(|worker| worker.join())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| anyhow::anyhow!("a machine's thread panicked"))?;
        let elapsed = began.elapsed();
        let usage = match (args.pid, usage_before) {
            (Some(pid), Some(before)) => Some(server_usage::ServerUsage::between(
                pid,
                before,
                server_usage::Sample::read(pid)?,
                elapsed,
            )),
            _ => None,
        };
        anyhow::Ok((outcomes, usage, elapsed))
    })
}

/// A suffix that keeps this invocation's machine names apart from earlier runs'.
fn run_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // The low bits change fastest; 40 of them are unique enough and short to read.
    format!("{:x}{:010x}", std::process::id(), nanos & 0xff_ffff_ffff)
}

/// One simulated machine: its name and the shape of the run it reports.
struct Machine<'a> {
    name: String,
    base: &'a str,
    /// Sent as a bearer token when the server asks for one; not part of any payload.
    token: Option<&'a str>,
    tests: u32,
    scenarios: u32,
    timeout: Duration,
    /// Starts and stops per batch request; `None` posts each event to its own endpoint.
    batch: Option<usize>,
}

/// What one machine saw.
#[derive(Debug, Default)]
struct MachineOutcome {
    /// Time of each dry run request.
    dry_run: Vec<Duration>,
    /// Time of each start and stop request (one event each, or a batch of them).
    start_stop: Vec<Duration>,
    /// Requests sent.
    requests: u64,
    /// Events the server accepted.
    events: u64,
    /// Events refused, or lost with their request.
    errors: u64,
    first_errors: Vec<String>,
}

/// What one answered request achieved.
struct Sent {
    took: Duration,
    /// Events accepted (applied or duplicate).
    accepted: u64,
    /// Events refused in the answer, and the first refusal.
    refused: u64,
    first_refusal: Option<String>,
}

impl MachineOutcome {
    fn failed(&mut self, what: &str, events: u64, error: String) {
        self.errors += events;
        if self.first_errors.len() < KEPT_ERRORS {
            self.first_errors.push(format!("{what}: {error}"));
        }
    }

    /// Counts one request of `events` events; answers whether it was answered.
    fn count(
        &mut self,
        what: &str,
        events: u64,
        sent: Result<Sent, String>,
        dry_run: bool,
    ) -> bool {
        self.requests += 1;
        match sent {
            Ok(sent) => {
                let times = if dry_run {
                    &mut self.dry_run
                } else {
                    &mut self.start_stop
                };
                times.push(sent.took);
                self.events += sent.accepted;
                if let Some(refusal) = sent.first_refusal {
                    self.failed(what, sent.refused, refusal);
                }
                sent.refused == 0
            }
            Err(error) => {
                self.failed(what, events, error);
                false
            }
        }
    }
}

impl Machine<'_> {
    /// Posts the dry run, then a start and a stop per test, timing each request.
    fn report(&self) -> MachineOutcome {
        let agent = ureq::AgentBuilder::new().timeout(self.timeout).build();
        let mut outcome = MachineOutcome::default();
        let plan = self.plan();
        let mut ids = 0_u64;
        let mut event_id = || {
            self.batch.map(|_| {
                ids += 1;
                format!("{}-{ids}", self.name)
            })
        };
        let dry = DryRun {
            machine_name: self.name.clone(),
            timestamp: Timestamp::now(),
            master_scenario: plan,
            event_id: event_id(),
            labels: Default::default(),
        };
        let sent = match self.batch {
            None => self.post(&agent, "dry_run", &dry),
            Some(_) => self.post_batch(&agent, &[Event::DryRun(dry.clone())]),
        };
        if !outcome.count("dry run", 1, sent, true) {
            // Every start would be refused for want of a run: stop here.
            return outcome;
        }
        let mut batch = Vec::new();
        for (index, test) in dry
            .master_scenario
            .scenarios
            .iter()
            .flat_map(|s| &s.tests)
            .enumerate()
        {
            let start = TestStart {
                machine_name: self.name.clone(),
                file_name: test.file_name.clone(),
                file_path: test.file_path.clone(),
                timestamp_start: Timestamp::now(),
                event_id: event_id(),
                run_id: None,
                index: None,
                attempt: None,
            };
            self.send_event(&agent, Event::TestStart(start), &mut batch, &mut outcome);
            let stop = TestStop {
                machine_name: self.name.clone(),
                file_name: test.file_name.clone(),
                file_path: test.file_path.clone(),
                status: status_of(index),
                timestamp_stop: Timestamp::now(),
                event_id: event_id(),
                run_id: None,
                index: None,
                message: None,
                attempt: None,
            };
            self.send_event(&agent, Event::TestStop(stop), &mut batch, &mut outcome);
        }
        if !batch.is_empty() {
            let sent = self.post_batch(&agent, &batch);
            outcome.count("batch", batch.len() as u64, sent, false);
        }
        outcome
    }

    /// Sends a start or a stop: posted to its own endpoint, or added to `batch`, which is
    /// posted once it holds a batch's worth.
    fn send_event(
        &self,
        agent: &ureq::Agent,
        event: Event,
        batch: &mut Vec<Event>,
        outcome: &mut MachineOutcome,
    ) {
        if let Some(size) = self.batch {
            batch.push(event);
            if batch.len() >= size {
                let sent = self.post_batch(agent, batch);
                outcome.count("batch", batch.len() as u64, sent, false);
                batch.clear();
            }
            return;
        }
        let (endpoint, what) = match &event {
            Event::TestStart(_) => ("test_start", "test start"),
            _ => ("test_stop", "test stop"),
        };
        let sent = self.post(agent, endpoint, &event);
        outcome.count(what, 1, sent, false);
    }

    /// `tests` uniquely named tests spread evenly over `scenarios` scenarios.
    fn plan(&self) -> MasterScenarioPlan {
        let scenarios = self.scenarios.min(self.tests.max(1));
        let per_scenario = self.tests.div_ceil(scenarios);
        let scenarios = (0..scenarios)
            .map(|s| {
                let first = s * per_scenario;
                let last = (first + per_scenario).min(self.tests);
                ScenarioPlan {
                    file_name: format!("scenario_{s:03}.py"),
                    file_path: "/bench/scenarios".to_owned(),
                    script: Some("run_tests()".to_owned()),
                    tests: (first..last)
                        .map(|t| TestPlan {
                            file_name: format!("test_{t:06}.py"),
                            file_path: format!("/bench/tests/scenario_{s:03}"),
                            script: Some("check()".to_owned()),
                        })
                        .collect(),
                }
            })
            .collect();
        MasterScenarioPlan {
            file_name: "master.py".to_owned(),
            file_path: "/bench".to_owned(),
            script: Some("run_scenarios()".to_owned()),
            scenarios,
        }
    }

    /// Posts `body` to `/tm_api/<endpoint>/` (with the slash, as seed runners do) and reads the
    /// whole answer; a non-2xx answer or a transport failure is an error.
    fn post(
        &self,
        agent: &ureq::Agent,
        endpoint: &str,
        body: &impl Serialize,
    ) -> Result<Sent, String> {
        let url = format!("{}/tm_api/{endpoint}/", self.base);
        let body = serde_json::to_string(body).map_err(|e| e.to_string())?;
        let (took, _) = self.send(agent, &url, &body)?;
        Ok(Sent {
            took,
            accepted: 1,
            refused: 0,
            first_refusal: None,
        })
    }

    /// Posts `events` to the batch endpoint and counts the events its answer accepted and
    /// refused.
    fn post_batch(&self, agent: &ureq::Agent, events: &[Event]) -> Result<Sent, String> {
        let url = format!("{}{BATCH_PATH}", self.base);
        let body = batch_body(events).map_err(|e| e.to_string())?;
        let (took, text) = self.send(agent, &url, &body)?;
        let answer: BatchAnswer = serde_json::from_str(&text)
            .map_err(|e| format!("not a batch answer ({e}): {}", excerpt(&text)))?;
        let first_refusal = answer.events.iter().find_map(|event| {
            let error = event.error.as_ref()?;
            Some(format!(
                "event {}: HTTP {} {}: {}",
                event.index, event.status, error.error, error.detail
            ))
        });
        Ok(Sent {
            took,
            accepted: (answer.applied + answer.duplicates) as u64,
            refused: answer.refused as u64,
            first_refusal,
        })
    }

    /// Posts `body` to `url` and reads the whole answer: its time and text; a non-2xx answer
    /// or a transport failure is an error.
    fn send(
        &self,
        agent: &ureq::Agent,
        url: &str,
        body: &str,
    ) -> Result<(Duration, String), String> {
        let began = Instant::now();
        let mut request = agent.post(url).set("Content-Type", "application/json");
        if let Some(token) = self.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let answer = request.send_string(body);
        match answer {
            Ok(response) => {
                let status = response.status();
                // Read to the end so the connection is reused for the next request.
                let text = response.into_string().map_err(|e| e.to_string())?;
                let took = began.elapsed();
                if (200..300).contains(&status) {
                    Ok((took, text))
                } else {
                    Err(format!("HTTP {status}: {}", excerpt(&text)))
                }
            }
            Err(ureq::Error::Status(status, response)) => {
                let text = response.into_string().unwrap_or_default();
                Err(format!("HTTP {status}: {}", excerpt(&text)))
            }
            Err(ureq::Error::Transport(transport)) => Err(format!("{url}: {transport}")),
        }
    }
}

/// A realistic mix of results: mostly passed, some warnings and failures.
fn status_of(index: usize) -> Status {
    match index % 20 {
        0 => Status::Failed,
        7 | 14 => Status::Warning,
        _ => Status::Passed,
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(ERROR_EXCERPT_CHARS).collect()
}

/// The benchmark's result, printed for people or as JSON.
#[derive(Debug, Serialize)]
struct IngestReport {
    url: String,
    machines: u32,
    /// Status subscribers held open, never read, during the run.
    idle_subscribers: u32,
    tests_per_machine: u32,
    scenarios_per_machine: u32,
    /// Starts and stops per batch request; null when each event went to its own endpoint.
    batch: Option<u32>,
    /// Requests sent (dry runs, starts and stops, or batches of them).
    requests: u64,
    /// Events the server accepted.
    events: u64,
    /// Events refused, or lost with a request answered otherwise or not at all.
    errors: u64,
    elapsed_seconds: f64,
    /// Accepted events per second of wall time, over all machines.
    events_per_second: f64,
    start_stop: LatencySummary,
    dry_run: LatencySummary,
    first_errors: Vec<String>,
    /// Simulated machines removed afterwards; null with --keep.
    machines_removed: Option<usize>,
    /// What the server spent during the run; null without --pid.
    server: Option<server_usage::ServerUsage>,
}

impl IngestReport {
    fn new(args: &IngestArgs, base: &str, outcomes: &[MachineOutcome], elapsed: Duration) -> Self {
        let mut start_stop: Vec<Duration> = outcomes
            .iter()
            .flat_map(|o| o.start_stop.iter().copied())
            .collect();
        let mut dry_run: Vec<Duration> = outcomes
            .iter()
            .flat_map(|o| o.dry_run.iter().copied())
            .collect();
        let events = outcomes.iter().map(|o| o.events).sum();
        let errors = outcomes.iter().map(|o| o.errors).sum();
        let requests = outcomes.iter().map(|o| o.requests).sum();
        let seconds = elapsed.as_secs_f64();
        IngestReport {
            url: base.to_owned(),
            idle_subscribers: args.idle_subscribers,
            machines: args.machines,
            tests_per_machine: args.tests,
            scenarios_per_machine: args.scenarios.min(args.tests.max(1)),
            batch: args.batch,
            requests,
            events,
            errors,
            elapsed_seconds: seconds,
            events_per_second: if seconds > 0.0 {
                events as f64 / seconds
            } else {
                0.0
            },
            start_stop: LatencySummary::of(&mut start_stop),
            dry_run: LatencySummary::of(&mut dry_run),
            first_errors: outcomes
                .iter()
                .flat_map(|o| o.first_errors.iter().cloned())
                .take(KEPT_ERRORS)
                .collect(),
            machines_removed: None,
            server: None,
        }
    }

    fn print(&self) {
        println!(
            "{} machines x {} tests ({} scenarios each) against {}",
            self.machines, self.tests_per_machine, self.scenarios_per_machine, self.url
        );
        println!(
            "events:      {} accepted, {} failed, in {:.2} s",
            self.events, self.errors, self.elapsed_seconds
        );
        println!("throughput:  {:.0} events/s", self.events_per_second);
        if let Some(batch) = self.batch {
            println!(
                "batches:     up to {batch} starts and stops per request to {BATCH_PATH}, {} requests",
                self.requests
            );
        }
        println!("start/stop:  {}", self.start_stop);
        println!("dry run:     {}", self.dry_run);
        if let Some(server) = &self.server {
            println!("server:      {server}");
        }
        for error in &self.first_errors {
            println!("error:       {error}");
        }
    }
}

/// Latency percentiles of one kind of request, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct LatencySummary {
    count: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl LatencySummary {
    /// Sorts `samples` and takes nearest-rank percentiles.
    fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1_000.0);
        LatencySummary {
            count: samples.len(),
            p50_ms: ms(percentile(samples, 50)),
            p99_ms: ms(percentile(samples, 99)),
            max_ms: ms(samples.last()),
        }
    }
}

impl std::fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.count, self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}

/// The nearest-rank `p`th percentile of sorted `samples`.
fn percentile(samples: &[Duration], p: usize) -> Option<&Duration> {
    let rank = (samples.len() * p).div_ceil(100).max(1);
    samples.get(rank - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(tests: u32, scenarios: u32) -> Machine<'static> {
        Machine {
            name: "bench-x-000".to_owned(),
            base: "http://127.0.0.1:1",
            token: None,
            tests,
            scenarios,
            timeout: Duration::from_secs(1),
            batch: None,
        }
    }

    #[test]
    fn plan_spreads_uniquely_named_tests_over_the_scenarios() {
        let plan = machine(11, 3).plan();
        let sizes: Vec<usize> = plan.scenarios.iter().map(|s| s.tests.len()).collect();
        assert_eq!(sizes, [4, 4, 3]);
        let mut names: Vec<(&str, &str)> = plan
            .scenarios
            .iter()
            .flat_map(|s| &s.tests)
            .map(|t| (t.file_path.as_str(), t.file_name.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 11);
    }

    #[test]
    fn plan_never_has_more_scenarios_than_tests() {
        assert_eq!(machine(2, 5).plan().scenarios.len(), 2);
        assert_eq!(machine(0, 5).plan().scenarios.len(), 1);
        assert!(machine(0, 5).plan().scenarios[0].tests.is_empty());
    }

    #[test]
    fn payloads_carry_only_the_seeds_fields() {
        let start = TestStart {
            machine_name: "m".to_owned(),
            file_name: "t.py".to_owned(),
            file_path: "/p".to_owned(),
            timestamp_start: Timestamp::now(),
            event_id: None,
            run_id: None,
            index: None,
            attempt: None,
        };
        let value = serde_json::to_value(&start).unwrap();
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["file_name", "file_path", "machine_name", "timestamp_start"]
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let summary = LatencySummary::of(&mut samples);
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
        assert_eq!(
            LatencySummary::of(&mut []),
            LatencySummary {
                count: 0,
                p50_ms: 0.0,
                p99_ms: 0.0,
                max_ms: 0.0
            }
        );
        assert_eq!(
            percentile(&[Duration::from_millis(7)], 99),
            Some(&Duration::from_millis(7))
        );
    }

    #[test]
    fn run_tags_differ_between_invocations() {
        let first = run_tag();
        std::thread::sleep(Duration::from_millis(1));
        assert_ne!(first, run_tag());
    }
}
