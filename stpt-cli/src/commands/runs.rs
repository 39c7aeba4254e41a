//! `stpt runs [<machine>] [--label K=V] [--status S] [--since T] [--until T]`: one page of
//! runs, newest first: a machine's (the seed's list), or runs of every machine found by
//! `GET /api/v1/runs` when a filter is given.

use clap::Args;
use serde::Serialize;
use stpt_core::wire::{FoundRun, RunListItem};
use stpt_core::{Closure, Status, Timestamp};

use crate::client::{Client, Paginated, ServerArgs};
use crate::{dates, palette, terminal};

/// The header of the dry run time column.
const DRY_RUN_AT: &str = "DRY RUN AT";

/// List a machine's runs, newest first, one page at a time.
///
/// With --json, prints `{"machine": {"id", "name"}, "page": <n>, "total_pages": <n>,
/// "count": <runs in all>, "runs": [{"pk": <run id>, "machine": <machine id>, "timestamp":
/// <dry run time>, "scenarios": <n>, "tests": <n>, "tests_status":
/// <status>, "absolute_url": "/machine/run_data/<id>", "stale": <bool>, "last_event_at": <time
/// or null>, "closed_at": <time or null>, "closed_as": <"stale", "aborted" or null>}]}`, times
/// in RFC 3339 (`2018-12-30T13:01:57Z`). A run is
/// stale when it is still ongoing but the server heard nothing from it for longer than its
/// stale limit, or when the server closed it as stale; the table marks both.
///
/// With --label, --status, --since, --until or --machine (or no machine at all), finds runs
/// of every machine through `GET /api/v1/runs`: labels are AND-ed, --since is inclusive and
/// --until exclusive (a duration such as `7d` means that long ago; else a date or time, UTC).
/// Its --json prints `{"page", "total_pages", "count", "runs": [<run summary with "labels"
/// and "machine_name">]}`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt runs lamp-rig\n  stpt runs 3 --limit 50 --page 2 --json\n  stpt runs --label branch=main --status failed --since 7d\n  stpt runs --machine lamp-rig --label firmware=2.4.1 --since 2024-06-01 --until 2024-07-01"
)]
pub(crate) struct RunsArgs {
    /// The machine, by name (any case) or id.
    machine: Option<String>,
    /// Only this machine's runs (like the positional machine), found with the filters.
    #[arg(long = "machine", value_name = "MACHINE", conflicts_with = "machine")]
    machine_flag: Option<String>,
    /// Only runs with this label, KEY=VALUE (repeatable: all must match).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = crate::labels::parse)]
    labels: Vec<(String, String)>,
    /// Only runs with this aggregate status (passed, failed, running…).
    #[arg(long, value_parser = parse_status)]
    status: Option<Status>,
    /// Only runs planned at or after this: a duration ago (`7d`, `12h`) or a date or time
    /// (`2024-06-01`, RFC 3339), UTC.
    #[arg(long, value_parser = parse_bound)]
    since: Option<String>,
    /// Only runs planned before this (same forms as --since).
    #[arg(long, value_parser = parse_bound)]
    until: Option<String>,
    /// Runs per page (at most 100).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100))]
    limit: u64,
    /// Which page, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    page: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Serialize)]
struct RunsJson<'a> {
    machine: MachineJson<'a>,
    page: u64,
    total_pages: u64,
    count: u64,
    runs: &'a [RunListItem],
}

#[derive(Debug, Serialize)]
struct MachineJson<'a> {
    id: i64,
    name: &'a str,
}

fn parse_status(text: &str) -> Result<Status, String> {
    text.parse::<Status>().map_err(|e| e.to_string())
}

/// A `--since`/`--until` bound as the server takes it: a duration becomes that long ago.
fn parse_bound(text: &str) -> Result<String, String> {
    if let Ok(ago) = super::prune::parse_duration(text) {
        let micros = i64::try_from(ago.as_micros()).unwrap_or(i64::MAX);
        let at = Timestamp::from_micros(Timestamp::now().as_micros().saturating_sub(micros))
            .ok_or_else(|| format!("{text:?} reaches too far back"))?;
        return Ok(dates::rfc3339(at));
    }
    let trimmed = text.trim();
    let valid = trimmed.parse::<Timestamp>().is_ok()
        || format!("{trimmed} 00:00:00").parse::<Timestamp>().is_ok();
    if valid {
        Ok(trimmed.to_owned())
    } else {
        Err(format!(
            "{text:?} is neither a duration (7d, 12h) nor a date or time (2024-06-01, 2024-06-01T12:00:00Z)"
        ))
    }
}

#[derive(Debug, Serialize)]
struct FoundJson<'a> {
    page: u64,
    total_pages: u64,
    count: u64,
    runs: &'a [serde_json::Value],
}

/// The search's query string (without paging).
fn search_query(args: &RunsArgs) -> String {
    let mut parts = Vec::new();
    if let Some(machine) = args.machine_flag.as_deref().or(args.machine.as_deref()) {
        parts.push(format!("machine={}", crate::labels::encode(machine)));
    }
    if let Some(status) = args.status {
        parts.push(format!("status={status}"));
    }
    if !args.labels.is_empty() {
        parts.push(crate::labels::query(&args.labels));
    }
    if let Some(since) = &args.since {
        parts.push(format!("since={}", crate::labels::encode(since)));
    }
    if let Some(until) = &args.until {
        parts.push(format!("until={}", crate::labels::encode(until)));
    }
    parts.join("&")
}

/// Finds runs of every machine with the filters and prints them.
fn search(args: &RunsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let query = search_query(args);
    let path = format!(
        "/api/v1/runs?{query}{}page={}&page_size={}",
        if query.is_empty() { "" } else { "&" },
        args.page,
        args.limit
    );
    let page: Paginated<serde_json::Value> = match client.get(&path) {
        Ok(page) => page,
        Err(e) if e.is_not_found() && args.page > 1 => {
            anyhow::bail!(
                "no page {} of these runs at {} a page; try a smaller --page",
                args.page,
                args.limit
            )
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        return terminal::emit_json(&FoundJson {
            page: page.page_number,
            total_pages: page.total_pages,
            count: page.count,
            runs: &page.results,
        });
    }
    let runs: Vec<FoundRun> = page
        .results
        .iter()
        .map(|v| serde_json::from_value(v.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("the server's runs are not in the expected shape: {e}"))?;
    let mut text = format!(
        "{}, page {} of {}\n",
        palette::counted(page.count, "run"),
        page.page_number,
        page.total_pages
    );
    if runs.is_empty() {
        text.push_str("no run matches\n");
    } else {
        text.push_str(&found_table(&runs));
    }
    if page.has_next {
        text.push_str(&palette::dim(&format!(
            "more: the same with --page {}\n",
            page.page_number + 1
        )));
    }
    terminal::emit(&text)?;
    Ok(())
}

/// Resolves the machine, fetches the page and prints it.
pub(crate) fn run(args: RunsArgs) -> anyhow::Result<()> {
    let filtered = args.machine_flag.is_some()
        || !args.labels.is_empty()
        || args.status.is_some()
        || args.since.is_some()
        || args.until.is_some();
    let Some(given) = args.machine.as_deref().filter(|_| !filtered) else {
        return search(&args);
    };
    let server = &args.server;
    let client = Client::new(server)?;
    let machine = client.resolve_machine(given)?;
    let path = format!(
        "/tm_api/machine_dry_run_datas/{}/?page={}&page_size={}",
        machine.id, args.page, args.limit
    );
    let page: Paginated<RunListItem> = match client.get(&path) {
        Ok(page) => page,
        Err(e) if e.is_not_found() && args.page > 1 => {
            anyhow::bail!(
                "{} (#{}) has no page {} of runs at {} a page; try a smaller --page",
                machine.name,
                machine.id,
                args.page,
                args.limit
            )
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        return terminal::emit_json(&RunsJson {
            machine: MachineJson {
                id: machine.id,
                name: &machine.name,
            },
            page: page.page_number,
            total_pages: page.total_pages,
            count: page.count,
            runs: &page.results,
        });
    }
    let mut text = format!(
        "{} (#{}): {}, page {} of {}\n",
        palette::bold(&machine.name),
        machine.id,
        palette::counted(page.count, "run"),
        page.page_number,
        page.total_pages
    );
    if page.results.is_empty() {
        text.push_str("no run yet\n");
    } else {
        text.push_str(&runs_table(&page.results));
    }
    if page.has_next {
        text.push_str(&palette::dim(&format!(
            "more: stpt runs {} --limit {} --page {}\n",
            machine.id,
            args.limit,
            page.page_number + 1
        )));
    }
    terminal::emit(&text)?;
    Ok(())
}

/// Found runs as a table: id, machine, date, tests, status and labels.
fn found_table(runs: &[FoundRun]) -> String {
    let mut text = String::new();
    let dates: Vec<String> = runs.iter().map(|r| dates::human(r.run.timestamp)).collect();
    let width = dates
        .iter()
        .map(|d| d.chars().count())
        .chain([DRY_RUN_AT.len()])
        .max()
        .unwrap_or(0);
    let machine_width = runs
        .iter()
        .map(|r| r.machine_name.chars().count())
        .chain(["MACHINE".len()])
        .max()
        .unwrap_or(0);
    text.push_str(&palette::bold(&format!(
        "{:>6}  {:<machine_width$}  {DRY_RUN_AT:<width$}  {:>5}  {:<9}  LABELS",
        "RUN", "MACHINE", "TESTS", "STATUS"
    )));
    text.push('\n');
    for (run, date) in runs.iter().zip(&dates) {
        let FoundRun { run, machine_name } = run;
        let labels: Vec<String> = run.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let status = palette::painted(run.status, 9);
        let stale = if run.stale { " (stale)" } else { "" };
        text.push_str(&format!(
            "{:>6}  {:<machine_width$}  {date:<width$}  {:>5}  {status}  {}{stale}\n",
            run.id,
            machine_name,
            run.counts.total(),
            labels.join(" ")
        ));
    }
    text
}

/// A machine's runs as a table: id, date, scenarios, tests and status.
fn runs_table(runs: &[RunListItem]) -> String {
    let mut text = String::new();
    let dates: Vec<String> = runs
        .iter()
        .map(|run| dates::human_text(&run.timestamp))
        .collect();
    let width = dates
        .iter()
        .map(|d| d.chars().count())
        .chain([DRY_RUN_AT.len()])
        .max()
        .unwrap_or(0);
    text.push_str(&palette::bold(&format!(
        "{:>6}  {DRY_RUN_AT:<width$}  {:>9}  {:>5}  STATUS",
        "RUN", "SCENARIOS", "TESTS"
    )));
    text.push('\n');
    for (run, date) in runs.iter().zip(&dates) {
        let note = stale_note(run)
            .map(|note| format!("  {}", palette::dim(&note)))
            .unwrap_or_default();
        text.push_str(&format!(
            "{:>6}  {date:<width$}  {:>9}  {:>5}  {}{note}\n",
            run.pk,
            run.scenarios,
            run.tests,
            palette::painted(run.tests_status, 0)
        ));
    }
    text
}

/// What the table says after a stale run's status: "closed as stale at …" once the server
/// closed it, "stale, last event …" while it is only silent.
fn stale_note(run: &RunListItem) -> Option<String> {
    let when = |at: &Option<String>| {
        at.as_deref()
            .map_or_else(|| "–".to_owned(), dates::human_text)
    };
    match run.closed_as {
        Some(Closure::Stale) => Some(format!("closed as stale at {}", when(&run.closed_at))),
        _ if run.stale => Some(format!("stale, last event {}", when(&run.last_event_at))),
        _ => None,
    }
}
