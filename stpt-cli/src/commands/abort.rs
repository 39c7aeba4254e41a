//! `stpt abort <run>`: closes a run by hand; its running and waiting tests become cancelled.

use clap::Args;
use stpt_core::{Closure, RunSummary};

use crate::client::{Client, ServerArgs};
use crate::selection::or_unknown_run;
use crate::{dates, terminal};

/// Close a run by hand: its running and waiting tests become cancelled.
///
/// For a run whose harness died and will not report again. A run that already finished is
/// left as it is. With --json, prints the run's summary as `POST /api/v1/runs/<id>/abort`
/// answers it (`closed_as` is "aborted" and `closed_at` set when this closed it).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  stpt abort 42\n  stpt abort 42 --json")]
pub(crate) struct AbortArgs {
    /// The run's id (as `stpt runs` lists it).
    run: i64,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Posts the abort and says what it did.
pub(crate) fn run(args: AbortArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let client = Client::new(server)?;
    let answer = client
        .post(
            &format!("/api/v1/runs/{}/abort", args.run),
            &serde_json::Value::Null,
        )
        .map_err(|e| or_unknown_run(e, args.run))?;
    if args.json {
        return terminal::emit_json(&answer);
    }
    let summary: RunSummary = serde_json::from_value(answer)?;
    let text = match (summary.closed_as, summary.closed_at) {
        (Some(Closure::Aborted), Some(at)) => format!(
            "run {} aborted at {}: status {}\n",
            summary.id,
            dates::human(at),
            summary.status
        ),
        (Some(Closure::Stale), Some(at)) => format!(
            "run {} was already closed as stale at {}: status {}\n",
            summary.id,
            dates::human(at),
            summary.status
        ),
        _ => format!(
            "run {} had already finished: status {}\n",
            summary.id, summary.status
        ),
    };
    terminal::emit(&text)?;
    Ok(())
}
