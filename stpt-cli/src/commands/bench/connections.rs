//! `stpt bench connections`: whether a server stays responsive while many clients hold
//! connections open without finishing requests.
//!
//! One thread holds `--connections` sockets, spread evenly over up to three kinds: *idle* (one
//! request answered, then silence, as a keep-alive client), *head* (a request head of
//! `--head-bytes` sent at once, then one header line a second, never finished) and *body* (a
//! 15 MB upload announced, then `--body-rate` bytes a second). Whatever the server closes is
//! opened again at once, so the pressure stays constant. Meanwhile a prober opens a fresh
//! connection every `--probe-every-ms` and times `GET /healthz` through to the whole answer, and
//! with `--pid` the server's resident memory is sampled from `/proc` (Linux). The target, as
//! `docs/benchmarks.md` states it: every probe answered 200, p99 within `--target-ms`, peak RSS
//! within `--target-rss-mb`; missing it makes the exit code non-zero.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;

use super::LatencySummary;
use crate::client::ServerArgs;

/// Most connections held: one socket each, in one process.
const MAX_CONNECTIONS: u32 = 20_000;

/// Time between two rounds over the held connections.
const TICK: Duration = Duration::from_millis(100);

/// Connections (re)opened per round at most, so a server that closes everything is not
/// flooded with connects.
const OPENS_PER_TICK: usize = 250;

/// How long one connect or probe may take before it counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest time to open every connection before measuring.
const RAMP_LIMIT: Duration = Duration::from_secs(120);

/// Length announced by the slow uploads.
const BODY_LENGTH: u64 = 15_000_000;

/// Hold idle and slow connections open and measure `/healthz` latency and server memory.
///
/// Example: `stpt bench connections --url http://127.0.0.1:8000 --connections 2000 --seconds 30
/// --pid $(pgrep -n stpt)`
#[derive(Debug, Args)]
pub(super) struct ConnectionsArgs {
    /// Connections held open at once, spread evenly over `--kinds`.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CONNECTIONS)))]
    connections: u32,
    /// Which kinds of connection to hold: `idle`, `head` (a slow request head), `body` (a slow
    /// upload), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "idle,head,body")]
    kinds: Vec<Kind>,
    /// Seconds to measure once every connection has been opened.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Milliseconds between two `/healthz` probes.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    probe_every_ms: u64,
    /// Bytes of request head each slow-head connection sends at once before trickling.
    #[arg(long, default_value_t = 8 * 1024)]
    head_bytes: usize,
    /// Bytes per second each slow upload sends.
    #[arg(long, default_value_t = 20 * 1024)]
    body_rate: u64,
    /// The server's process id, to sample its resident memory (Linux).
    #[arg(long)]
    pid: Option<u32>,
    /// Largest acceptable p99 `/healthz` latency, in milliseconds.
    #[arg(long, default_value_t = 100.0)]
    target_ms: f64,
    /// Largest acceptable peak resident memory of the server, in MB (with `--pid`).
    #[arg(long, default_value_t = 100.0)]
    target_rss_mb: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    Idle,
    Head,
    Body,
}

/// One held connection.
struct Held {
    kind: Kind,
    stream: Option<TcpStream>,
    /// When it next sends.
    due: Instant,
}

#[derive(Debug, Default, Serialize)]
struct KindReport {
    held: u32,
    open_at_end: usize,
    closed_by_server: u64,
}

#[derive(Debug, Serialize)]
struct ConnectionsReport {
    url: String,
    seconds: u64,
    idle: KindReport,
    head: KindReport,
    body: KindReport,
    connect_failures: u64,
    probes: usize,
    probes_failed: usize,
    first_probe_errors: Vec<String>,
    healthz: LatencySummary,
    server_rss_max_mb: Option<f64>,
    server_rss_peak_mb: Option<f64>,
    target_met: bool,
}

/// Runs the benchmark against the server named by `--url`.
pub(super) fn connections(server: &ServerArgs, args: ConnectionsArgs) -> anyhow::Result<()> {
    let base = server.url.trim_end_matches('/').to_owned();
    let host = base
        .strip_prefix("http://")
        .context("--url must be an http:// URL")?
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;

    if args.kinds.is_empty() {
        bail!("--kinds names no kind of connection");
    }
    let mut held: Vec<Held> = (0..args.connections)
        .map(|i| Held {
            kind: args.kinds[i as usize % args.kinds.len()],
            stream: None,
            due: Instant::now(),
        })
        .collect();
    let mut reports = [
        KindReport::default(),
        KindReport::default(),
        KindReport::default(),
    ];
    for h in &held {
        reports[kind_index(h.kind)].held += 1;
    }
    let mut connect_failures = 0;
    // Ramp up: everything open before measuring.
    let ramp_deadline = Instant::now() + RAMP_LIMIT;
    while held.iter().any(|h| h.stream.is_none()) {
        if Instant::now() >= ramp_deadline {
            bail!(
                "could not open {} connections within 120 s",
                args.connections
            );
        }
        connect_failures += open_some(&mut held, addr, &host, &args, usize::MAX, ramp_deadline);
    }

    let (report_samples, rss) = hold(
        &mut held,
        addr,
        &host,
        &args,
        &mut reports,
        &mut connect_failures,
    );
    for h in &held {
        if h.stream.is_some() {
            reports[kind_index(h.kind)].open_at_end += 1;
        }
    }

    let report =
        ConnectionsReport::new(base, &args, reports, connect_failures, report_samples, rss);
    let target_met = report.target_met;
    drop(held);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    if !target_met {
        bail!(
            "target missed: every probe 200, p99 within {} ms, RSS within {} MB",
            args.target_ms,
            args.target_rss_mb
        );
    }
    Ok(())
}

fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::Idle => 0,
        Kind::Head => 1,
        Kind::Body => 2,
    }
}

fn print(report: &ConnectionsReport) {
    println!(
        "{} s against {}: held {} idle, {} slow-head, {} slow-body connections",
        report.seconds, report.url, report.idle.held, report.head.held, report.body.held
    );
    for (name, kind) in [
        ("idle", &report.idle),
        ("slow head", &report.head),
        ("slow body", &report.body),
    ] {
        println!(
            "{name:>10}: {} open at the end, {} closed by the server (and reopened)",
            kind.open_at_end, kind.closed_by_server
        );
    }
    println!(
        "   healthz: {} probes, {} failed; {}",
        report.probes, report.probes_failed, report.healthz
    );
    for error in &report.first_probe_errors {
        println!("            {error}");
    }
    if let (Some(max), Some(peak)) = (report.server_rss_max_mb, report.server_rss_peak_mb) {
        println!("server RSS: max {max:.1} MB while measured, peak {peak:.1} MB (VmHWM)");
    }
    println!(
        "    target: {}",
        if report.target_met { "met" } else { "missed" }
    );
}

/// One `/healthz` probe: how long it took, or why it failed.
type Probe = Result<Duration, String>;

/// The server's resident memory, MB: the most sampled and the peak the kernel saw.
type Rss = (Option<f64>, Option<f64>);

/// Holds the connections open for `--seconds`, tending them and reopening those the server
/// closed (counted in `reports`), while a thread probes `/healthz` and another samples the
/// server's memory; answers the probes' results and the memory figures (with `--pid`).
fn hold(
    held: &mut [Held],
    addr: SocketAddr,
    host: &str,
    args: &ConnectionsArgs,
    reports: &mut [KindReport; 3],
    connect_failures: &mut u64,
) -> (Vec<Probe>, Option<Rss>) {
    let stop = AtomicBool::new(false);
    let (samples_tx, samples_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let stop = &stop;
        let prober = scope.spawn({
            let host = host.to_owned();
            let every = Duration::from_millis(args.probe_every_ms);
            move || probe_until(stop, addr, &host, every, &samples_tx)
        });
        let sampler = scope.spawn(move || args.pid.map(|pid| sample_rss(stop, pid)));
        let until = Instant::now() + Duration::from_secs(args.seconds);
        while Instant::now() < until {
            let round = Instant::now();
            for h in held.iter_mut() {
                if let Some(closed) = tend(h, args)
                    && closed
                {
                    reports[kind_index(h.kind)].closed_by_server += 1;
                }
            }
            *connect_failures += open_some(held, addr, host, args, OPENS_PER_TICK, until);
            std::thread::sleep(TICK.saturating_sub(round.elapsed()));
        }
        stop.store(true, Ordering::Relaxed);
        let _ = prober.join();
        let rss = sampler.join().ok().flatten();
        (samples_rx.iter().collect::<Vec<_>>(), rss)
    })
}

impl ConnectionsReport {
    /// The report of a run against `base`, from the probes' results and the memory figures.
    fn new(
        base: String,
        args: &ConnectionsArgs,
        reports: [KindReport; 3],
        connect_failures: u64,
        report_samples: Vec<Probe>,
        rss: Option<Rss>,
    ) -> ConnectionsReport {
        let mut latencies = Vec::new();
        let mut failed = Vec::new();
        for sample in report_samples {
            match sample {
                Ok(took) => latencies.push(took),
                Err(error) => failed.push(error),
            }
        }
        let probes = latencies.len() + failed.len();
        let healthz = LatencySummary::of(&mut latencies);
        let (rss_max, rss_peak) = rss.unwrap_or((None, None));
        let target_met = failed.is_empty()
            && probes > 0
            && healthz.p99_ms <= args.target_ms
            && rss_max.is_none_or(|mb| mb <= args.target_rss_mb);
        let [idle, head, body] = reports;
        ConnectionsReport {
            url: base,
            seconds: args.seconds,
            idle,
            head,
            body,
            connect_failures,
            probes,
            probes_failed: failed.len(),
            first_probe_errors: failed.iter().take(5).cloned().collect(),
            healthz,
            server_rss_max_mb: rss_max,
            server_rss_peak_mb: rss_peak,
            target_met,
        }
    }
}

/// Opens up to `most` of the connections that are closed, until `until`; returns how many
/// failed.
fn open_some(
    held: &mut [Held],
    addr: SocketAddr,
    host: &str,
    args: &ConnectionsArgs,
    most: usize,
    until: Instant,
) -> u64 {
    let mut failures = 0;
    for h in held.iter_mut().filter(|h| h.stream.is_none()).take(most) {
        if Instant::now() >= until {
            break;
        }
        match open(h.kind, addr, host, args) {
            Ok(stream) => {
                h.stream = Some(stream);
                h.due = Instant::now() + Duration::from_secs(1);
            }
            Err(_) => failures += 1,
        }
    }
    failures
}

/// Connects and sends what a connection of `kind` sends first.
fn open(
    kind: Kind,
    addr: SocketAddr,
    host: &str,
    args: &ConnectionsArgs,
) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let opening = match kind {
        Kind::Idle => format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        Kind::Head => {
            let mut head = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n");
            let mut n = 0;
            while head.len() < args.head_bytes {
                head.push_str(&format!("X-Pad-{n}: {}\r\n", "a".repeat(64)));
                n += 1;
            }
            head
        }
        Kind::Body => format!(
            "POST /tm_api/dry_run/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {BODY_LENGTH}\r\n\r\n"
        ),
    };
    stream.write_all(opening.as_bytes())?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// Reads what the server sent, sends what is due; `Some(true)` if the server closed it.
fn tend(h: &mut Held, args: &ConnectionsArgs) -> Option<bool> {
    let stream = h.stream.as_mut()?;
    let mut scratch = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut scratch) {
            Ok(0) => break true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break true,
        }
    };
    if closed {
        h.stream = None;
        return Some(true);
    }
    let now = Instant::now();
    let outgoing: Vec<u8> = match h.kind {
        Kind::Idle => Vec::new(),
        Kind::Head if now >= h.due => {
            h.due = now + Duration::from_secs(1);
            b"X-Slow: 1\r\n".to_vec()
        }
        Kind::Head => Vec::new(),
        Kind::Body => {
            let per_tick = usize::try_from(args.body_rate / 10).unwrap_or(usize::MAX);
            vec![b' '; per_tick]
        }
    };
    if !outgoing.is_empty() {
        match stream.write(&outgoing) {
            Ok(_) => {}
            // The server is not reading: that is its right.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                h.stream = None;
                return Some(true);
            }
        }
    }
    Some(false)
}

/// Times `GET /healthz` on a fresh connection every `every` until `stop`.
fn probe_until(
    stop: &AtomicBool,
    addr: SocketAddr,
    host: &str,
    every: Duration,
    samples: &mpsc::Sender<Result<Duration, String>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        let outcome = probe(addr, host).map(|()| began.elapsed());
        if samples.send(outcome).is_err() {
            return;
        }
        std::thread::sleep(every.saturating_sub(began.elapsed()));
    }
}

fn probe(addr: SocketAddr, host: &str) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).unwrap_or("none");
    if status == "200" {
        Ok(())
    } else {
        Err(format!(
            "answered {status}: {}",
            text.lines().last().unwrap_or_default()
        ))
    }
}

/// The server's largest resident memory seen while running, and its kernel-kept peak, in MB.
fn sample_rss(stop: &AtomicBool, pid: u32) -> (Option<f64>, Option<f64>) {
    let mut max: Option<f64> = None;
    while !stop.load(Ordering::Relaxed) {
        if let Some(now) = status_mb(pid, "VmRSS") {
            max = Some(max.map_or(now, |m| m.max(now)));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (max, status_mb(pid, "VmHWM"))
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in MB.
fn status_mb(pid: u32, field: &str) -> Option<f64> {
    super::server_usage::read_status_kib(pid, field).map(|kib| kib as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_read_as_megabytes() {
        let own = std::process::id();
        let rss = status_mb(own, "VmRSS").expect("this process's RSS");
        assert!(rss > 0.1 && rss < 10_000.0, "{rss}");
        assert_eq!(status_mb(own, "NoSuchField"), None);
    }
}
