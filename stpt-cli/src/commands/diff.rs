//! `stpt diff <run> [<other-run>]`: a run compared with another.

use clap::Args;
use serde_json::Value;
use stpt_core::Status;
use stpt_core::insights::RunComparison;

use crate::client::{Client, RequestError, ServerArgs};
use crate::selection::UnknownRun;
use crate::{palette, terminal};

/// Compare a run with another (by default its machine's previous run).
///
/// Lists the tests that newly fail, were fixed, still fail, are new or were removed, and the
/// largest duration changes. Tests match across runs by path, name and occurrence. With
/// --json, prints `GET /api/v1/runs/<run>/compare` as is: `{"run_id", "other_run_id",
/// "newly_failing", "fixed", "still_failing", "new_tests", "removed_tests",
/// "duration_changes"}`, each a list of `{"file_path", "file_name", "occurrence", "test_id",
/// "status", "other_status", "duration_seconds", "other_duration_seconds"}`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt diff 42\n  stpt diff 42 17 --json\n  stpt diff 42 --label branch=main"
)]
pub(crate) struct DiffArgs {
    /// The run.
    run: i64,
    /// The run to compare with; the machine's previous run when left out.
    other: Option<i64>,
    /// Without <other-run>: compare with the machine's previous run carrying this label,
    /// KEY=VALUE (repeatable: all must match), e.g. the last run of branch=main.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = crate::labels::parse)]
    labels: Vec<(String, String)>,
    /// Print JSON instead of lists.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Fetches the comparison and prints it.
pub(crate) fn run(args: DiffArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let client = Client::new(server)?;
    let labels = crate::labels::query(&args.labels);
    let path = match args.other {
        Some(other) => format!("/api/v1/runs/{}/compare?other={other}", args.run),
        None if !labels.is_empty() => format!("/api/v1/runs/{}/compare?{labels}", args.run),
        None => format!("/api/v1/runs/{}/compare", args.run),
    };
    let diff: Value = client.get(&path).map_err(|e| match e {
        RequestError::Refused { error, detail, .. }
            if error == "no_previous_run" && !args.labels.is_empty() =>
        {
            anyhow::anyhow!(
                "{detail}: name a run to compare it with, as in `stpt diff {} <other-run>`",
                args.run
            )
        }
        RequestError::Refused { error, .. } if error == "no_previous_run" => anyhow::anyhow!(
            "run {} is its machine's first run: name a run to compare it with, as in \
             `stpt diff {} <other-run>` (see `stpt runs <machine>`)",
            args.run,
            args.run
        ),
        RequestError::Refused {
            ref error,
            ref detail,
            ..
        } if error == "unknown_run" => {
            let id = match args.other {
                Some(other) if detail.ends_with(&format!(" {other}")) => other,
                _ => args.run,
            };
            UnknownRun::new(id).into()
        }
        other => other.into(),
    })?;
    if args.json {
        return terminal::emit_json(&diff);
    }
    let diff: RunComparison = serde_json::from_value(diff).map_err(|e| {
        anyhow::anyhow!("the server's comparison is not in the expected shape: {e}")
    })?;
    let mut text = format!("run {} against run {}\n", diff.run_id, diff.other_run_id);
    let said = |status: Option<Status>| status.map_or("-", Status::as_str);
    for (tests, title) in [
        (&diff.newly_failing, "newly failing"),
        (&diff.fixed, "fixed"),
        (&diff.still_failing, "still failing"),
        (&diff.new_tests, "new tests"),
        (&diff.removed_tests, "removed tests"),
    ] {
        text.push_str(&format!("{title}: {}\n", tests.len()));
        for test in tests {
            text.push_str(&format!(
                "  {}  {} -> {}\n",
                test.key,
                said(test.other_status),
                said(test.status)
            ));
        }
    }
    text.push_str("largest duration changes:\n");
    for test in &diff.duration_changes {
        let before = test.other_duration_seconds.unwrap_or(0.0);
        let after = test.duration_seconds.unwrap_or(0.0);
        let sign = if after < before { "-" } else { "+" };
        text.push_str(&format!(
            "  {}  {} -> {} ({sign}{})\n",
            test.key,
            palette::duration(before),
            palette::duration(after),
            palette::duration((after - before).abs())
        ));
    }
    terminal::emit(&text)?;
    Ok(())
}
