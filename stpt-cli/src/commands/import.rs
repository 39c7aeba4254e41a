//! `stpt import junit`: store a JUnit report as a run of a machine.
//!
//! The report becomes a dry run (one scenario per test suite) and a start and a stop per
//! testcase, posted in order like a runner would; see `junit` for the status mapping.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use stpt_core::{StatusCounts, Timestamp};

use crate::client::{Client, ServerArgs};
use crate::{junit, palette, terminal};

/// Import a test report from another tool as a stored run.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(subcommand)]
    format: ImportFormat,
}

#[derive(Debug, Subcommand)]
enum ImportFormat {
    Junit(JunitArgs),
}

/// Import a JUnit XML report as one run: suites become scenarios, testcases tests.
///
/// Statuses: a testcase's `stpt.status` property if it has one (reports from `stpt export`),
/// else <failure> → failed, <error> → error, <skipped> → unknown, none → passed; the failure's
/// text (or message) becomes the test's message. With --json, prints `{"run_id", "machine_name",
/// "tests", "counts": {<status>: n}}`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  stpt import junit target/nextest/ci/junit.xml --machine ci-linux"
)]
struct JunitArgs {
    /// The JUnit XML file.
    file: PathBuf,
    /// The machine the run is stored under (created if new).
    #[arg(long)]
    machine: String,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct ImportJson<'a> {
    run_id: Option<i64>,
    machine_name: &'a str,
    tests: usize,
    counts: StatusCounts,
}

/// Runs the chosen import.
pub(crate) fn run(server: &ServerArgs, args: ImportArgs) -> anyhow::Result<()> {
    match args.format {
        ImportFormat::Junit(args) => import_junit(server, args),
    }
}

fn import_junit(server: &ServerArgs, args: JunitArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let report = quick_junit::Report::deserialize_from_str(&text)
        .with_context(|| format!("{} is not a JUnit XML report", args.file.display()))?;
    let run = junit::events(&report, &args.machine, Timestamp::now());
    run.dry_run
        .validate()
        .with_context(|| format!("{} cannot become a run", args.file.display()))?;
    let client = Client::new(server);
    let answer = client
        .post_event(&run.dry_run)
        .context("the server refused the report's dry run")?;
    let run_id = answer.get("run_id").and_then(serde_json::Value::as_i64);
    let mut counts = StatusCounts::new();
    for test in &run.tests {
        let name = format!("{}/{}", test.file_path, test.file_name);
        let start = test
            .start_event(&args.machine, run_id)
            .with_context(|| format!("{name} cannot become a test start"))?;
        let stop = test
            .stop_event(&args.machine, run_id)
            .with_context(|| format!("{name} cannot become a test stop"))?;
        client
            .post_event(&start)
            .with_context(|| format!("the server refused the start of {name}"))?;
        counts.add(test.status);
        client
            .post_event(&stop)
            .with_context(|| format!("the server refused the stop of {name}"))?;
    }
    if args.json {
        return terminal::emit_json(&ImportJson {
            run_id,
            machine_name: &args.machine,
            tests: run.tests.len(),
            counts,
        });
    }
    let summary: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{} {n}", palette::painted(status, 0)))
        .collect();
    let run_text = run_id.map_or_else(|| "a run".to_owned(), |id| format!("run {id}"));
    terminal::emit(&format!(
        "imported {} as {run_text} of {}: {} ({})\n",
        args.file.display(),
        args.machine,
        palette::counted(run.tests.len() as u64, "test"),
        summary.join(" · ")
    ))?;
    Ok(())
}
