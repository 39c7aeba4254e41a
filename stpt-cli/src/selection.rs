//! Which run a command is about: a run id, or the newest run of a machine (`--last`).
//!
//! The main type here is [`RunSelection`], flattened into `show` and `export`; it resolves to
//! stpt-core's [`RunTree`] read from `GET /api/v1/runs/<id>`.

use anyhow::Context;
use clap::Args;
use stpt_core::RunTree;
use stpt_core::wire::MachineLastData;

use crate::client::{Client, MachineRef, RequestError};

/// A run id or `--last <machine>`.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct RunSelection {
    /// The run's id (see `stpt runs <machine>`).
    run: Option<i64>,
    /// The newest run of this machine (name or id) instead.
    #[arg(long, value_name = "MACHINE")]
    last: Option<String>,
}

/// A run id that the server does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown run {id}: the server has no run with this id; see `stpt runs <machine>`")]
pub(crate) struct UnknownRun {
    id: i64,
}

impl UnknownRun {
    /// The error for run `id`.
    pub(crate) fn new(id: i64) -> Self {
        UnknownRun { id }
    }
}

/// `error` as [`UnknownRun`] when the server said it has no run `id`.
pub(crate) fn or_unknown_run(error: RequestError, id: i64) -> anyhow::Error {
    match error {
        RequestError::Refused { error, .. } if error == "unknown_run" => UnknownRun { id }.into(),
        other => other.into(),
    }
}

impl RunSelection {
    /// Fetches the selected run in full.
    pub(crate) fn fetch(&self, client: &Client) -> anyhow::Result<RunTree> {
        let id = match (&self.run, &self.last) {
            (Some(id), _) => *id,
            (None, Some(machine)) => {
                let machine = client.resolve_machine(machine)?;
                newest_run_id(client, &machine)?
            }
            (None, None) => anyhow::bail!("name a run id or --last <machine>"),
        };
        fetch_run(client, id)
    }
}

/// The id of `machine`'s newest run.
pub(crate) fn newest_run_id(client: &Client, machine: &MachineRef) -> anyhow::Result<i64> {
    let data: MachineLastData = client
        .get(&format!("/tm_api/machine_last_data/{}/", machine.id))
        .with_context(|| format!("cannot read the newest run of {}", machine.name))?;
    data.last_master_scenario
        .map(|run| run.dryrundata)
        .with_context(|| format!("{} (#{}) has no run yet", machine.name, machine.id))
}

/// The run `id` in full.
pub(crate) fn fetch_run(client: &Client, id: i64) -> anyhow::Result<RunTree> {
    client
        .get::<RunTree>(&format!("/api/v1/runs/{id}"))
        .map_err(|e| or_unknown_run(e, id))
}
