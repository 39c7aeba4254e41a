//! `stpt import junit`: store JUnit reports as a run of a machine.
//!
//! The reports become a dry run (one scenario per test suite) and a start and a stop per
//! testcase, posted in order like a runner would; see `junit` for the dialects read and the
//! status mapping.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use stpt_core::wire::IngestAnswer;
use stpt_core::{StatusCounts, Timestamp};

use crate::client::{Client, ServerArgs};
use crate::junit::ForeignReport;
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

/// Import JUnit XML reports as one run: suites become scenarios, testcases tests.
///
/// Reads the dialects of Maven Surefire, Gradle, pytest (--junitxml), jest-junit,
/// go-junit-report, PHPUnit and `stpt export`: a `<testsuites>` or a single `<testsuite>` root,
/// nested suites (named by their path), missing attributes. Several files, or a directory of
/// `*.xml` files (Surefire and Gradle write one per class), make one run. Statuses: a
/// testcase's `stpt.status` property if it has one, else <failure> → failed, <error> → error,
/// <skipped> → unknown, only Surefire's <flakyFailure> (passed on a rerun) → warning, none →
/// passed; the outcome's text and message become the test's message. Naive timestamps are
/// taken as UTC. With --json, prints `{"run_id", "machine_name", "tests", "counts": {<status>:
/// n}}`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt import junit target/nextest/ci/junit.xml --machine ci-linux --label branch=main\n  stpt import junit target/surefire-reports --machine ci-linux\n  stpt import junit build/test-results/test/*.xml --machine ci-linux"
)]
struct JunitArgs {
    /// JUnit XML files, or directories whose `*.xml` files are read.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The machine the run is stored under (created if new).
    #[arg(long)]
    machine: String,
    /// Label the run, KEY=VALUE (repeatable): branch=main, build=1234…
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = crate::labels::parse)]
    labels: Vec<(String, String)>,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Serialize)]
struct ImportJson<'a> {
    run_id: Option<i64>,
    machine_name: &'a str,
    tests: usize,
    counts: StatusCounts,
}

/// Runs the chosen import.
pub(crate) fn run(args: ImportArgs) -> anyhow::Result<()> {
    match args.format {
        ImportFormat::Junit(args) => import_junit(args),
    }
}

/// The report files named: files as given, directories as their `*.xml` files by name.
fn report_files(given: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in given {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read the directory {}", path.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "xml"))
            .collect();
        anyhow::ensure!(
            !found.is_empty(),
            "{} holds no .xml file to import",
            path.display()
        );
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// The run's name: the report's own, else the file's name (one file) or the directory's.
fn run_name(given: &[PathBuf], files: &[PathBuf], reports: &[ForeignReport]) -> String {
    let base = |path: &Path| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match (reports, given) {
        ([report], _) if report.name.is_some() => report.name.clone().unwrap_or_default(),
        ([_], _) => files.first().map(|f| base(f)).unwrap_or_default(),
        (_, [one]) if one.is_dir() => base(&std::path::absolute(one).unwrap_or(one.clone())),
        _ => format!("{} junit reports", reports.len()),
    }
}

fn import_junit(args: JunitArgs) -> anyhow::Result<()> {
    let files = report_files(&args.files)?;
    let mut reports = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let report = ForeignReport::read(&text)
            .with_context(|| format!("{} is not a JUnit XML report", file.display()))?;
        reports.push(report);
    }
    let cases: usize = reports.iter().map(ForeignReport::case_count).sum();
    let shown = match files.as_slice() {
        [one] => one.display().to_string(),
        _ => format!("{} reports", files.len()),
    };
    anyhow::ensure!(cases > 0, "{shown} holds no testcase: nothing to import");
    let name = run_name(&args.files, &files, &reports);
    let mut run = junit::events(&reports, &name, &args.machine, Timestamp::now());
    if let stpt_core::Event::DryRun(dry) = &mut run.dry_run {
        dry.labels.extend(args.labels.iter().cloned());
    }
    run.dry_run
        .validate()
        .with_context(|| format!("{shown} cannot become a run"))?;
    let client = Client::new(&args.server)?;
    let answer = client
        .post_event(&run.dry_run)
        .context("the server refused the report's dry run")?;
    let run_id = IngestAnswer::read(&answer).run_id;
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
        "imported {shown} as {run_text} of {}: {} ({})\n",
        args.machine,
        palette::counted(run.tests.len() as u64, "test"),
        summary.join(" · ")
    ))?;
    Ok(())
}
