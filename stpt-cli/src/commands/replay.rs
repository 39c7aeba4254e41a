//! `stpt replay`: deliver the events a runner spooled while the server was away.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use stpt_runner::{HttpConfig, HttpSink, default_spool_dir};

use crate::client::ServerArgs;
use crate::terminal;

/// Deliver the spooled events of `stpt run` (or any stpt-runner HTTP sink) to the server.
///
/// Delivering twice changes nothing: the server drops events it already has. When delivery
/// stops, the spooled event it stopped at is named with the reason, so an event the server
/// keeps failing on can be acted upon. With --json, prints `{"delivered": n, "rejected":
/// ["<why>"], "pending": n, "interrupted": null | "<why>", "held_up": null | {"file",
/// "kind", "event_id", "machine", "reason", "server_answered"}}`.
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
    delivered: usize,
    rejected: Vec<String>,
    pending: usize,
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

/// Opens the spool and delivers what it holds.
pub(crate) fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let spool_dir = args.spool_dir.unwrap_or_else(default_spool_dir);
    let mut config = HttpConfig::new(server.url.trim_end_matches('/'), &spool_dir);
    if let Some(token) = server.token.as_deref().filter(|t| !t.is_empty()) {
        config = config.with_token(token);
    }
    let mut sink = HttpSink::open(config)
        .with_context(|| format!("cannot open the spool at {}", spool_dir.display()))?;
    let delivery = sink
        .deliver_pending()
        .with_context(|| format!("cannot deliver the spool at {}", spool_dir.display()))?;
    let report = ReplayJson {
        delivered: delivery.delivered,
        rejected: delivery.rejected.iter().map(ToString::to_string).collect(),
        pending: delivery.pending,
        interrupted: delivery.interrupted.as_ref().map(ToString::to_string),
        held_up: delivery.held_up.as_ref().map(|held| HeldUpJson {
            file: held.path.clone(),
            kind: held.kind,
            event_id: held.event_id.clone(),
            machine: held.machine.clone(),
            reason: held.reason.clone(),
            server_answered: held.answered,
        }),
    };
    if args.json {
        terminal::emit_json(&report)?;
    } else {
        let mut text = format!(
            "delivered {} events from {}; {} refused, {} still pending\n",
            report.delivered,
            spool_dir.display(),
            report.rejected.len(),
            report.pending
        );
        for reason in &report.rejected {
            text.push_str(&format!("  refused: {reason}\n"));
        }
        if let Some(held) = &delivery.held_up {
            text.push_str(&format!("  held up by {held}\n"));
        }
        terminal::emit(&text)?;
    }
    if let Some(reason) = report.interrupted {
        anyhow::bail!(
            "delivery stopped with {} events still pending: {reason}; run `stpt replay` again \
             once the server is reachable",
            report.pending
        );
    }
    Ok(())
}
