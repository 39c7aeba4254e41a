//! `stpt machines`: every machine with the status of its newest run.

use clap::Args;

use crate::client::{Client, ServerArgs};
use crate::{palette, terminal};

/// List machines and the status of their newest run.
///
/// With --json, prints the seed's machine items as a JSON array: `[{"pk": <machine id>,
/// "machine_name": <name>, "get_last_master_scenario_status": <status of the newest run, or
/// "not-available">, "absolute_url": "/machine/<id>"}]`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  stpt machines --url http://stpt.lab:8000")]
pub(crate) struct MachinesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Fetches every page of machines and prints them.
pub(crate) fn run(args: MachinesArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let client = Client::new(server)?;
    let machines = client.machines()?;
    if args.json {
        return terminal::emit_json(&machines);
    }
    if machines.is_empty() {
        terminal::emit("no machine yet: a machine appears with its first dry run\n")?;
        return Ok(());
    }
    let name_width = machines
        .iter()
        .map(|m| m.machine_name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut text = palette::bold(&format!("{:>5}  {:<name_width$}  LAST RUN", "ID", "NAME"));
    text.push('\n');
    for machine in &machines {
        text.push_str(&format!(
            "{:>5}  {:<name_width$}  {}\n",
            machine.pk,
            machine.machine_name,
            palette::painted_word(&machine.get_last_master_scenario_status, 0)
        ));
    }
    terminal::emit(&text)?;
    Ok(())
}
