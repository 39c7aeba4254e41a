//! `stpt history <machine> <test>`: one test's results across the machine's runs.

use clap::Args;
use serde_json::Value;
use stpt_core::RunTree;
use stpt_core::wire::{RunListItem, TestHistory};

use crate::client::{Client, MachineRef, Paginated, RequestError, ServerArgs};
use crate::outcome::NotFound;
use crate::{dates, palette, terminal};

/// Show one test's results in a machine's runs, newest first, with its duration trend.
///
/// The test is named by file name (`a.py`), path and name (`/t/a.py`), either with `#N` for
/// its N-th occurrence in the plan (from 0), or by test id; names are looked up in the
/// machine's newest run. With --json, prints `GET /api/v1/tests/<id>/history` as is:
/// `{"test", "attempts", "results": [{"run_id", "run_timestamp", "test_id", "status",
/// "timestamp_start", "duration_seconds", "attempts", "message"}], "trend": {"window",
/// "samples", "median_seconds", "p90_seconds"}}`, times in RFC 3339. STARTED is when the test
/// (its last attempt) started in that run.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt history lamp-rig 01_02_test_lamp_off.py\n  stpt history 3 /tests/a.py#1 --limit 50 --json"
)]
pub(crate) struct HistoryArgs {
    /// The machine, by name (any case) or id.
    machine: String,
    /// The test: file name, path/name, with an optional #occurrence, or a test id.
    test: String,
    /// Results to show (1-500).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// The newest run of a machine in full, if it has one.
pub(crate) fn newest_run(client: &Client, machine: i64) -> anyhow::Result<Option<RunTree>> {
    let page: Paginated<RunListItem> = client.get(&format!(
        "/tm_api/machine_dry_run_datas/{machine}/?page=1&page_size=1"
    ))?;
    match page.results.first() {
        Some(run) => Ok(Some(client.get(&format!("/api/v1/runs/{}", run.pk))?)),
        None => Ok(None),
    }
}

/// The id of the test `given` names in `run`.
fn find_test(run: &RunTree, given: &str) -> Option<i64> {
    let (name, occurrence) = match given.rsplit_once('#') {
        Some((name, n)) => (name, n.parse::<u32>().ok()?),
        None => (given, 0),
    };
    run.scenarios
        .iter()
        .flat_map(|s| &s.tests)
        .find(|t| {
            let full = format!("{}/{}", t.file_path.trim_end_matches('/'), t.file_name);
            (t.file_name == name || full == name) && t.occurrence == occurrence
        })
        .map(|t| t.id)
}

/// Resolves the test, fetches its history and prints it.
pub(crate) fn run(args: HistoryArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let client = Client::new(server)?;
    let machine = client.resolve_machine(&args.machine)?;
    let test_id = resolve_test(&client, &machine, &args.test)?;
    let history: Value = client
        .get(&format!(
            "/api/v1/tests/{test_id}/history?limit={}",
            args.limit
        ))
        .map_err(|e| match e {
            RequestError::Refused { error, .. } if error == "unknown_test" => NotFound(format!(
                "unknown test {test_id}: the server has no test with this id; see `stpt show \
                 --last {}`",
                machine.name
            ))
            .into(),
            other => anyhow::Error::from(other),
        })?;
    if args.json {
        return terminal::emit_json(&history);
    }
    let history: TestHistory = serde_json::from_value(history)
        .map_err(|e| anyhow::anyhow!("the server's history is not in the expected shape: {e}"))?;
    terminal::emit(&history_text(&history, &machine.name))?;
    Ok(())
}

/// The test `test` names on `machine`: its id, or its name (or path) in the newest run.
fn resolve_test(client: &Client, machine: &MachineRef, test: &str) -> anyhow::Result<i64> {
    match test.parse::<i64>() {
        Ok(id) => Ok(id),
        Err(_) => {
            let Some(run) = newest_run(client, machine.id)? else {
                anyhow::bail!("{} (#{}) has no run yet", machine.name, machine.id);
            };
            find_test(&run, test).ok_or_else(|| {
                anyhow::anyhow!(
                    "the newest run of {} (#{}) has no test {:?}; see `stpt show {}`",
                    machine.name,
                    run.run.id,
                    test,
                    run.run.id
                )
            })
        }
    }
}

/// A test's history as a table, with its duration trend.
fn history_text(history: &TestHistory, machine_name: &str) -> String {
    let test = &history.test;
    let mut text = format!(
        "{}/{} on {} (occurrence {})\n",
        test.file_path.trim_end_matches('/'),
        test.file_name,
        machine_name,
        test.occurrence
    );
    let rows: Vec<[String; 4]> = history
        .results
        .iter()
        .map(|result| {
            [
                result.run_id.to_string(),
                result
                    .timestamp_start
                    .map_or_else(|| "not started".to_owned(), dates::human),
                result
                    .duration_seconds
                    .map_or_else(|| "-".to_owned(), palette::duration),
                result.attempts.to_string(),
            ]
        })
        .collect();
    let width = |column: usize, header: &str| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .chain([header.len()])
            .max()
            .unwrap_or(0)
    };
    let (run_w, started_w, duration_w) =
        (width(0, "RUN"), width(1, "STARTED"), width(2, "DURATION"));
    let status_w = "cancelled".len();
    text.push_str(&palette::bold(&format!(
        "{:>run_w$}  {:<started_w$}  {:<status_w$}  {:>duration_w$}  ATTEMPTS",
        "RUN", "STARTED", "STATUS", "DURATION"
    )));
    text.push('\n');
    for (result, [run, started, duration, attempts]) in history.results.iter().zip(&rows) {
        text.push_str(&format!(
            "{run:>run_w$}  {started:<started_w$}  {}  {duration:>duration_w$}  {attempts:>8}\n",
            palette::painted(result.status, status_w),
        ));
    }
    let trend = &history.trend;
    let seconds = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), palette::duration);
    text.push_str(&format!(
        "duration over the last {}: median {}, p90 {}\n",
        palette::counted(trend.samples as u64, "result"),
        seconds(trend.median_seconds),
        seconds(trend.p90_seconds)
    ));
    text
}
