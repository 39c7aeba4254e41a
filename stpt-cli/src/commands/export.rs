//! `stpt export`: one run as JUnit XML (for CI systems) or as JSON.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::client::{Client, ServerArgs};
use crate::selection::RunSelection;
use crate::{junit, terminal};

/// Export one run as JUnit XML or JSON.
///
/// JUnit: one <testsuite> per scenario, one <testcase> per test (name: the test's file name,
/// classname: its file path); failed → <failure>, error → <error>, cancelled, unknown, waiting
/// and running → <skipped>, with the failure message; every testcase has a `stpt.status`
/// property so `stpt import junit` restores the exact statuses. JSON: the run as `stpt show
/// --json` prints it.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt export 42 --format junit -o report.xml\n  stpt export --last lamp-rig --format json"
)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    selection: RunSelection,
    /// What to write.
    #[arg(long, value_enum, default_value_t = ExportFormat::Junit)]
    format: ExportFormat,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    /// JUnit XML.
    Junit,
    /// stpt's run JSON.
    Json,
}

/// Fetches the run and writes it in the chosen format.
pub(crate) fn run(args: ExportArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let client = Client::new(server)?;
    let tree = args.selection.fetch(&client)?;
    let text = match args.format {
        ExportFormat::Junit => junit::report(&tree)
            .to_string()
            .context("cannot write the JUnit report")?,
        ExportFormat::Json => terminal::json_text(&tree)?,
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => Ok(terminal::emit(&text)?),
    }
}
