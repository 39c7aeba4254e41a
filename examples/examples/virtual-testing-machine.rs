//! A virtual testing machine: three feature scenarios (lamp, door, trunk) whose tests "run"
//! for a random while and end with a random status, reported to an stpt server.
//!
//! ```text
//! cargo run --release --example virtual-testing-machine -- --url http://127.0.0.1:8000
//! cargo run --release --example virtual-testing-machine -- --fast --seed 7 --machine-name "rig B"
//! cargo run --release --example virtual-testing-machine -- --stdout --fast   # JSON lines, no server
//! ```
//!
//! Progress goes to stderr. With the server away the machine keeps running: events wait in the
//! spool (`--spool-dir`, `STPT_SPOOL_DIR`, or the user's data directory) and are delivered when
//! it is back, or by `stpt replay`.

// An example program talks to its user on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use stpt_core::{Sink, SinkError, Status};
use stpt_runner::{HttpConfig, HttpSink, Plan, PlanError, Reporter, StdoutSink, default_spool_dir};

#[derive(Debug, Parser)]
#[command(about = "A virtual testing machine reporting random results to an stpt server")]
struct Args {
    /// The stpt server's base URL.
    #[arg(long, env = "STPT_URL", default_value = "http://127.0.0.1:8000")]
    url: String,
    /// The machine's name, as the server shows it.
    #[arg(long, default_value = "machine #1")]
    machine_name: String,
    /// Do not sleep: every test finishes at once.
    #[arg(long)]
    fast: bool,
    /// Seed for statuses and durations, to reproduce a run (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Machine token, sent as `Authorization: Bearer <token>`.
    #[arg(long, env = "STPT_TOKEN")]
    token: Option<String>,
    /// Where events wait while the server is unreachable.
    #[arg(long, env = "STPT_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,
    /// Write the events to stdout as JSON lines instead of sending them.
    #[arg(long)]
    stdout: bool,
}

const ROOT: &str = "/virtual_testing_machine/src/test_cases";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(clock_seed);
    let plan = plan().context("building the plan")?;
    eprintln!(
        "{}: {} tests, seed {seed}",
        args.machine_name,
        plan.test_count()
    );
    if args.stdout {
        let mut reporter = Reporter::new(&args.machine_name, StdoutSink::stdout());
        run(&plan, &mut reporter, &args, seed);
        return Ok(());
    }
    let mut config = HttpConfig::new(
        &args.url,
        args.spool_dir.clone().unwrap_or_else(default_spool_dir),
    );
    config.token = args.token.clone();
    let sink = HttpSink::open(config).context("opening the spool")?;
    let mut reporter = Reporter::new(&args.machine_name, sink);
    run(&plan, &mut reporter, &args, seed);
    let spool = reporter.sink().spool();
    match spool.pending_count() {
        Ok(0) => eprintln!("all events delivered to {}", args.url),
        Ok(n) => eprintln!(
            "{n} events wait in {} (run `stpt replay --url {}`)",
            spool.dir().display(),
            args.url
        ),
        Err(e) => eprintln!("cannot read the spool: {e}"),
    }
    Ok(())
}

/// The plan of the original app's virtual testing machine.
fn plan() -> Result<Plan, PlanError> {
    let scenarios = format!("{ROOT}/scenarios");
    let mut builder = Plan::builder("scenario_master.py", &scenarios)
        .script("import os\nfrom run import SCENARIOS_DIR, run_scenario\n\nfor scenario in sorted(os.listdir(SCENARIOS_DIR)):\n    run_scenario(scenario)\n");
    for (number, feature, tests) in [(1, "lamp", 5), (2, "door", 2), (3, "trunk", 3)] {
        let dir = format!("{ROOT}/{number:02}_feature_{feature}");
        builder = builder
            .scenario(format!("scenario_{number:02}_feature_{feature}.py"), &scenarios)
            .script(format!(
                "import os\nfrom run import TEST_CASES_DIR, run_test_case\n\nfor test in sorted(os.listdir(os.path.join(TEST_CASES_DIR, '{number:02}_feature_{feature}'))):\n    run_test_case(test)\n"
            ));
        for test in 1..=tests {
            let name = format!("01_{test:02}_test_{feature}.py");
            let script = format!("from time import sleep\n\nprint('Start {name}')\nsleep(2)\n");
            builder = builder.test(name, &dir).script(script);
        }
    }
    builder.build()
}

fn run<S: Sink>(plan: &Plan, reporter: &mut Reporter<S>, args: &Args, seed: u64) {
    let mut random = SplitMix64(seed);
    note(reporter.dry_run(plan));
    for test in plan.tests() {
        // Someone ran `stpt abort`: the run is over (the sink said why once).
        if reporter.run_aborted() {
            break;
        }
        note(reporter.start(&test));
        let millis = 500 + random.below(2500);
        if !args.fast {
            std::thread::sleep(Duration::from_millis(millis));
        }
        let (status, message) = match random.below(100) {
            0..60 => (Status::Passed, None),
            60..75 => (Status::Warning, Some("took longer than expected")),
            75..90 => (
                Status::Failed,
                Some("assertion failed: the feature did not respond"),
            ),
            _ => (Status::Error, Some("device not found")),
        };
        note(reporter.stop(&test, status, message));
        eprintln!(
            "  {:<24} {:<8} ({:.1} s)",
            test.file_name(),
            status.as_str(),
            millis as f64 / 1000.0
        );
    }
    note(reporter.flush());
}

/// Sink problems are shown, never fatal: the events wait in the spool.
fn note(result: Result<(), SinkError>) {
    if let Err(error) = result {
        eprintln!("  stpt: {error}");
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A tiny PRNG (SplitMix64): the same seed gives the same statuses on every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}
