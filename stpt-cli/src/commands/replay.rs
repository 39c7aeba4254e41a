//! `stpt replay`: deliver the events a runner spooled while the server was away.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use stpt_core::SinkError;
use stpt_runner::spool::REJECTED_DIR;
use stpt_runner::{Delivery, HeldUp, HttpConfig, HttpSink, default_spool_dir};

use crate::client::{RequestError, ServerArgs};
use crate::terminal;

/// Deliver the spooled events of `stpt run` (or any stpt-runner HTTP sink) to the server.
///
/// The events go in order, in batches of up to 1,000 where the server takes them (`POST
/// /api/v1/events`), one by one to older servers and the original application. Delivering
/// twice changes nothing: the server drops events it already has. When delivery
/// stops, the spooled event it stopped at is named with the reason, so an event the server
/// keeps failing on can be acted upon. Events the server refused, now or before, are kept in
/// the spool's `rejected/` folder next to a `.reason` file; move one back into the spool to
/// send it again. Exits 3 when the server cannot be reached (the events stay spooled), 1 when
/// the spool folder given does not exist. Events of a run aborted on the server (`stpt abort`)
/// are dropped. With --json, prints `{"spool_dir", "delivered": n, "rejected": ["<why>"],
/// "pending": n, "aborted": ["<why>"], "dropped": n, "rejected_kept": n, "rejected_dir",
/// "interrupted": null | "<why>", "held_up": null | {"file", "kind", "event_id", "machine",
/// "reason", "server_answered"}}`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  stpt replay --spool-dir /var/lib/stpt/spool --url http://stpt.lab:8000"
)]
pub(crate) struct ReplayArgs {
    /// The spool directory (default: STPT_SPOOL_DIR, else the user's data directory).
    #[arg(long)]
    spool_dir: Option<PathBuf>,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Serialize)]
struct ReplayJson {
    spool_dir: PathBuf,
    delivered: usize,
    rejected: Vec<String>,
    pending: usize,
    aborted: Vec<String>,
    dropped: usize,
    rejected_kept: usize,
    rejected_dir: PathBuf,
    interrupted: Option<String>,
    held_up: Option<HeldUpJson>,
}

/// The spooled event delivery stopped at.
#[derive(Debug, Serialize)]
struct HeldUpJson {
    file: PathBuf,
    kind: &'static str,
    event_id: String,
    machine: String,
    reason: String,
    server_answered: bool,
}

impl ReplayJson {
    /// What became of a delivery from the spool at `spool_dir`, of which `rejected_kept`
    /// refused events are kept.
    fn new(spool_dir: &Path, delivery: &Delivery, rejected_kept: usize) -> ReplayJson {
        ReplayJson {
            spool_dir: spool_dir.to_path_buf(),
            delivered: delivery.delivered,
            rejected: delivery.rejected.iter().map(ToString::to_string).collect(),
            pending: delivery.pending,
            aborted: delivery.aborted.iter().map(ToString::to_string).collect(),
            dropped: delivery.dropped,
            rejected_kept,
            rejected_dir: spool_dir.join(REJECTED_DIR),
            interrupted: delivery
                .interrupted
                .as_ref()
                .map(|error| terminal::with_causes(error)),
            held_up: delivery.held_up.as_ref().map(|held| HeldUpJson {
                file: held.path.clone(),
                kind: held.kind,
                event_id: held.event_id.clone(),
                machine: held.machine.clone(),
                reason: held.reason.clone(),
                server_answered: held.answered,
            }),
        }
    }

    /// The report as sentences; `held_up` is the event delivery stopped at, if any.
    fn text(&self, held_up: Option<&HeldUp>) -> String {
        let mut text = format!(
            "delivered {} from {}; {} refused, {} still pending\n",
            crate::palette::counted(self.delivered as u64, "event"),
            self.spool_dir.display(),
            self.rejected.len(),
            self.pending
        );
        for reason in &self.rejected {
            text.push_str(&format!("  refused: {reason}\n"));
        }
        if let Some(held) = held_up {
            text.push_str(&format!("  held up by {held}\n"));
        }
        if self.dropped > 0 {
            text.push_str(&format!(
                "dropped {} of runs aborted on the server (`stpt abort`)\n",
                crate::palette::counted(self.dropped as u64, "event")
            ));
            for reason in &self.aborted {
                text.push_str(&format!("  {reason}\n"));
            }
        }
        if self.rejected_kept > 0 {
            text.push_str(&format!(
                "{} the server refused {} kept in {}, each with its reason in a .reason file; \
                 move one back into {} to send it again\n",
                crate::palette::counted(self.rejected_kept as u64, "event"),
                if self.rejected_kept == 1 { "is" } else { "are" },
                self.rejected_dir.display(),
                self.spool_dir.display()
            ));
        }
        text
    }
}

/// Opens the spool and delivers what it holds.
pub(crate) fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let named = args.spool_dir.is_some()
        || std::env::var_os("STPT_SPOOL_DIR").is_some_and(|dir| !dir.is_empty());
    let spool_dir = args.spool_dir.clone().unwrap_or_else(default_spool_dir);
    if !spool_dir.is_dir() {
        anyhow::ensure!(
            !spool_dir.exists(),
            "the spool {} is not a folder",
            spool_dir.display()
        );
        // The default folder appears with the first event spooled: none yet is no error.
        anyhow::ensure!(
            !named,
            "the spool folder {} does not exist: nothing was spooled there (check --spool-dir \
             or STPT_SPOOL_DIR)",
            spool_dir.display()
        );
        return nothing_spooled(&spool_dir, args.json);
    }
    let mut config = HttpConfig::new(server.url.trim_end_matches('/'), &spool_dir);
    if let Some(token) = server.token.as_deref().filter(|t| !t.is_empty()) {
        config = config.with_token(token);
    }
    config.ca_cert.clone_from(&server.ca_cert);
    let mut sink = HttpSink::open(config)
        .with_context(|| format!("cannot open the spool at {}", spool_dir.display()))?;
    let delivery = sink
        .deliver_pending()
        .with_context(|| format!("cannot deliver the spool at {}", spool_dir.display()))?;
    let rejected_kept = sink
        .spool()
        .rejected()
        .with_context(|| format!("cannot list {}", spool_dir.join(REJECTED_DIR).display()))?
        .len();
    let report = ReplayJson::new(&spool_dir, &delivery, rejected_kept);
    if args.json {
        terminal::emit_json(&report)?;
    } else {
        terminal::emit(&report.text(delivery.held_up.as_ref()))?;
    }
    let Some(interrupted) = delivery.interrupted else {
        return Ok(());
    };
    let stopped = format!(
        "delivery stopped with {} still pending; run `stpt replay` again once the server is \
         reachable",
        crate::palette::counted(report.pending as u64, "event")
    );
    match (&interrupted, &delivery.held_up) {
        // Nothing answered: the documented exit code of an unreachable server.
        (SinkError::Deferred { destination, .. }, Some(held)) if !held.answered => {
            Err(anyhow::Error::new(RequestError::Unreachable {
                url: destination.clone(),
                reason: held.reason.clone(),
            })
            .context(stopped))
        }
        _ => Err(anyhow::Error::new(interrupted).context(stopped)),
    }
}

/// Says there is nothing to replay: the default spool folder does not exist yet.
fn nothing_spooled(spool_dir: &Path, json: bool) -> anyhow::Result<()> {
    if json {
        return terminal::emit_json(&ReplayJson {
            spool_dir: spool_dir.to_path_buf(),
            delivered: 0,
            rejected: Vec::new(),
            pending: 0,
            aborted: Vec::new(),
            dropped: 0,
            rejected_kept: 0,
            rejected_dir: spool_dir.join(REJECTED_DIR),
            interrupted: None,
            held_up: None,
        });
    }
    terminal::emit(&format!(
        "nothing to replay: {} does not exist (no event was ever spooled there)\n",
        spool_dir.display()
    ))?;
    Ok(())
}
