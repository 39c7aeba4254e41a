//! `stpt flaky <machine>`: the machine's flaky tests.

use clap::Args;
use serde_json::Value;
use stpt_core::wire::FlakyList;

use crate::client::{Client, ServerArgs};
use crate::terminal;

/// List a machine's flaky tests, highest score first.
///
/// Over each test's last 10 results: flaky with at least 3 changes between pass and fail, or
/// a pass only after a retry; score = changes + passes after a retry. With --json, prints
/// `GET /api/v1/machines/<id>/flaky` as is: `{"machine", "runs", "labels", "rule", "tests":
/// [{"file_path", "file_name", "occurrence", "test_id", "score", "flips", "retried_passes",
/// "statuses"}]}`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt flaky lamp-rig\n  stpt flaky 3 --json\n  stpt flaky lamp-rig --label branch=main"
)]
pub(crate) struct FlakyArgs {
    /// The machine, by name (any case) or id.
    machine: String,
    /// Only the machine's runs with this label, KEY=VALUE (repeatable: all must match).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = crate::labels::parse)]
    labels: Vec<(String, String)>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Fetches the flaky list and prints it.
pub(crate) fn run(args: FlakyArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let client = Client::new(server)?;
    let machine = client.resolve_machine(&args.machine)?;
    let labels = crate::labels::query(&args.labels);
    let query = if labels.is_empty() {
        String::new()
    } else {
        format!("?{labels}")
    };
    let flaky: Value = client.get(&format!("/api/v1/machines/{}/flaky{query}", machine.id))?;
    if args.json {
        return terminal::emit_json(&flaky);
    }
    let flaky: FlakyList = serde_json::from_value(flaky).map_err(|e| {
        anyhow::anyhow!("the server's flaky list is not in the expected shape: {e}")
    })?;
    let tests = &flaky.tests;
    let mut text = format!(
        "{} (#{}): {} flaky over the last {} runs{}\n",
        machine.name,
        machine.id,
        tests.len(),
        flaky.runs,
        if args.labels.is_empty() {
            String::new()
        } else {
            let shown: Vec<String> = args
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!(" with {}", shown.join(" "))
        }
    );
    if !tests.is_empty() {
        text.push_str("SCORE  FLIPS  RETRIED  TEST\n");
    }
    for test in tests {
        text.push_str(&format!(
            "{:>5}  {:>5}  {:>7}  {}\n",
            test.score, test.flips, test.retried_passes, test.key
        ));
    }
    terminal::emit(&text)?;
    Ok(())
}
