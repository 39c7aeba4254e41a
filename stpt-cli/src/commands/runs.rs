//! `stpt runs <machine>`: one page of a machine's runs, newest first.

use clap::Args;
use serde::Serialize;
use stpt_core::Closure;
use stpt_server::api::shapes::RunListItem;

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
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  stpt runs lamp-rig\n  stpt runs 3 --limit 50 --page 2 --json")]
pub(crate) struct RunsArgs {
    /// The machine, by name (any case) or id.
    machine: String,
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

/// Resolves the machine, fetches the page and prints it.
pub(crate) fn run(args: RunsArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let client = Client::new(server)?;
    let machine = client.resolve_machine(&args.machine)?;
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
        let dates: Vec<String> = page
            .results
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
        for (run, date) in page.results.iter().zip(&dates) {
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
