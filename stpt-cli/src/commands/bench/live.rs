//! `stpt bench live`: how long a change takes to reach WebSocket subscribers.
//!
//! One simulated machine plans a run; N subscribers listen on `/ws/machine/<id>/runs/` (the
//! lightest live route: one small message per applied event). Events are then posted one at a
//! time; for each, the latency is measured from just before the POST is sent to the moment each
//! subscriber has read the resulting message, and the next event waits until every subscriber
//! has it (or the timeout passes). Measuring from before the POST makes the figure an upper
//! bound of "accepted → delivered": it includes the server applying the event.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use stpt_core::wire::IngestAnswer;
use stpt_core::{
    DryRun, Event, MasterScenarioPlan, ScenarioPlan, Status, TestPlan, TestStart, TestStop,
    Timestamp,
};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use super::{LatencySummary, run_tag};
use crate::client::{Client, ServerArgs};

/// Most subscribers: one thread and one socket each.
pub(super) const MAX_SUBSCRIBERS: u32 = 2_000;

/// Measure live latency: event POST → WebSocket message, with many subscribers.
///
/// Example: `stpt bench live --url http://127.0.0.1:8000 --subscribers 100 --events 200`
#[derive(Debug, Args)]
pub(super) struct LiveArgs {
    /// WebSocket subscribers listening at the same time.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SUBSCRIBERS)))]
    subscribers: u32,
    /// Subscribers of `/ws/machine/status` held open and never read while the events flow
    /// (what anyone may open on a public server): the reading subscribers must still get
    /// every message.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_SUBSCRIBERS)))]
    idle_subscribers: u32,
    /// Events to post (starts and stops, alternating).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..))]
    events: u32,
    /// Seconds to wait for every subscriber to receive one event's message.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Keep the simulated machine on the server (by default it is removed afterwards).
    #[arg(long)]
    keep: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct LiveReport {
    url: String,
    subscribers: u32,
    idle_subscribers: usize,
    events: u32,
    deliveries: usize,
    missed: usize,
    latency: LatencySummary,
    /// Simulated machines removed afterwards (0 or 1); null with --keep.
    machines_removed: Option<usize>,
}

/// Runs the benchmark against the server named by `--url`.
pub(super) fn live(server: &ServerArgs, args: LiveArgs) -> anyhow::Result<()> {
    // One socket per subscriber; failing to raise the limit leaves the default.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let base = server.url.trim_end_matches('/').to_owned();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(args.timeout))
        .build();
    let post = |event: &Event| -> anyhow::Result<serde_json::Value> {
        let path = event.kind().path();
        let mut request = agent.post(&format!("{base}{path}"));
        if let Some(token) = &server.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = request
            .send_json(event)
            .with_context(|| format!("POST {base}{path}"))?;
        Ok(response.into_json()?)
    };

    let machine = format!("bench-live-{}", run_tag());
    let tests = args.events.div_ceil(2);
    let answer = post(&plan(&machine, tests))?;
    let run_id = IngestAnswer::read(&answer)
        .run_id
        .context("the dry run answered no run_id")?;
    let run: serde_json::Value = agent
        .get(&format!("{base}/api/v1/runs/{run_id}"))
        .call()
        .with_context(|| format!("GET {base}/api/v1/runs/{run_id}"))?
        .into_json()?;
    let machine_id = run["machine"]["id"]
        .as_i64()
        .context("the run names no machine")?;
    let measured = measure(&args, &base, &machine, machine_id, &post);
    let client = Client::new(server)?;
    let cleanup = (!args.keep).then(|| super::cleanup::remove(&client, [machine_id]));
    let mut report = measured?;
    report.machines_removed = cleanup.as_ref().map(|c| c.removed);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} subscribers x {} events against {} ({} idle subscribers held open)",
            report.subscribers, report.events, report.url, report.idle_subscribers
        );
        println!(
            "deliveries:  {} received, {} missed",
            report.deliveries, report.missed
        );
        println!(
            "latency:     p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            report.latency.p50_ms, report.latency.p99_ms, report.latency.max_ms
        );
    }
    match &cleanup {
        Some(cleanup) if cleanup.kept_because.is_some() => eprintln!("{}", cleanup.describe()),
        Some(cleanup) if !args.json => println!("{}", cleanup.describe()),
        _ => {}
    }
    if report.missed > 0 {
        bail!(
            "{} messages did not reach their subscriber within {} s",
            report.missed,
            args.timeout
        );
    }
    Ok(())
}

/// Subscribes, posts the events one by one and times each one's delivery.
fn measure(
    args: &LiveArgs,
    base: &str,
    machine: &str,
    machine_id: i64,
    post: &dyn Fn(&Event) -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<LiveReport> {
    let (receipts, heard) = mpsc::channel::<(u32, Instant)>();
    let ws_url = format!(
        "{}/ws/machine/{machine_id}/runs/",
        base.replacen("http", "ws", 1)
    );
    let status_url = format!("{}/ws/machine/status/", base.replacen("http", "ws", 1));
    let idle = (0..args.idle_subscribers)
        .map(|_| subscribe(&status_url))
        .collect::<anyhow::Result<Vec<_>>>()
        .context("cannot open the idle subscribers (raise `ulimit -n`?)")?;
    let mut sockets = Vec::with_capacity(args.subscribers as usize);
    for _ in 0..args.subscribers {
        sockets.push(subscribe(&ws_url).with_context(|| format!("cannot subscribe to {ws_url}"))?);
    }
    let listeners = listen(sockets, receipts)?;

    let mut samples = Vec::with_capacity((args.subscribers * args.events) as usize);
    let mut missed = 0;
    for event in 0..args.events {
        let test = format!("t{:05}.py", event / 2);
        let body = if event % 2 == 0 {
            start(machine, test)
        } else {
            stop(machine, test)
        };
        let sent = Instant::now();
        post(&body)?;
        let deadline = sent + Duration::from_secs(args.timeout);
        let mut got = 0;
        while got < args.subscribers {
            let left = deadline.saturating_duration_since(Instant::now());
            match heard.recv_timeout(left) {
                Ok((seq, at)) if seq == event => {
                    samples.push(at.duration_since(sent));
                    got += 1;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        missed += (args.subscribers - got) as usize;
    }
    drop(listeners);

    Ok(LiveReport {
        url: base.to_owned(),
        subscribers: args.subscribers,
        idle_subscribers: idle.len(),
        events: args.events,
        deliveries: samples.len(),
        missed,
        latency: LatencySummary::of(&mut samples),
        machines_removed: None,
    })
}

/// Opens a WebSocket to `url` (`ws://host:port/path`).
pub(super) fn subscribe(url: &str) -> anyhow::Result<WebSocket<TcpStream>> {
    let request = url.into_client_request()?;
    let uri = request.uri();
    let host = uri.host().unwrap_or_default().to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let address = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let stream = TcpStream::connect(address)?;
    let (socket, _) = tungstenite::client::client(request, stream)
        .map_err(|e| anyhow::anyhow!("WebSocket handshake failed: {e}"))?;
    Ok(socket)
}

/// One thread per subscriber, reporting (message number, arrival) for every text message.
fn listen(
    sockets: Vec<WebSocket<TcpStream>>,
    receipts: mpsc::Sender<(u32, Instant)>,
) -> anyhow::Result<Vec<std::thread::JoinHandle<()>>> {
    sockets
        .into_iter()
        .map(|mut socket| {
            let receipts = receipts.clone();
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let mut seen = 0;
                    while let Ok(message) = socket.read() {
                        if let Message::Text(_) = message {
                            if receipts.send((seen, Instant::now())).is_err() {
                                break;
                            }
                            seen += 1;
                        }
                    }
                })
        })
        .collect::<Result<_, _>>()
        .context("cannot start a subscriber's thread")
}

/// The simulated machine's plan: one scenario of `tests` tests.
fn plan(machine: &str, tests: u32) -> Event {
    let script = || Some(String::new());
    let tests = (0..tests)
        .map(|i| TestPlan {
            file_name: format!("t{i:05}.py"),
            file_path: "/bench".to_owned(),
            script: script(),
        })
        .collect();
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
                tests,
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
fn stop(machine: &str, file_name: String) -> Event {
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
