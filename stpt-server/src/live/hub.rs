//! The in-process fan-out of changes to WebSocket listeners.
//!
//! The main type here is [`LiveHub`], a `tokio::sync::broadcast` channel of [`RunChanged`].
//! Ingest publishes after every applied event; each listener reads at its own pace and a
//! listener that falls behind skips ahead (it re-reads state, so nothing is lost for it).
//! On PostgreSQL the hub publishes through the database instead (see `live::relay`), so every
//! instance on the same database hears every change exactly once.
//!
//! **Invariant:** publishing never blocks and never grows memory: the channel is bounded and
//! a slow receiver loses old messages, not the sender's time.

use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use stpt_core::{Applied, MachineId, RunId, Status};
use tokio::sync::broadcast;

use super::relay::{self, RelayError};

/// Changes kept per listener before a slow one starts skipping, unless configured.
pub const DEFAULT_BACKLOG: usize = 1024;

/// One run of one machine changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunChanged {
    /// The machine.
    pub machine_id: MachineId,
    /// The run.
    pub run_id: RunId,
    /// The run's aggregate status afterwards.
    pub run_status: Status,
}

impl From<&Applied> for RunChanged {
    fn from(applied: &Applied) -> Self {
        RunChanged {
            machine_id: applied.machine_id,
            run_id: applied.run_id,
            run_status: applied.run_status,
        }
    }
}

/// Fans changes out to listeners.
#[derive(Debug, Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<RunChanged>,
    /// With PostgreSQL: changes go to the relay thread, which NOTIFYs; only its LISTEN side
    /// feeds `sender`, so the posting instance does not deliver a change twice.
    relay: Option<mpsc::SyncSender<RunChanged>>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub::new()
    }
}

impl LiveHub {
    /// A hub with no listeners, local to this process.
    pub fn new() -> Self {
        LiveHub::with_backlog(DEFAULT_BACKLOG)
    }

    /// A local hub keeping `backlog` changes per listener (at least 1).
    pub fn with_backlog(backlog: usize) -> Self {
        let (sender, _) = broadcast::channel(backlog.max(1));
        LiveHub {
            sender,
            relay: None,
        }
    }

    /// A hub shared by every instance on the PostgreSQL database at `url`, through
    /// `NOTIFY`/`LISTEN` on a dedicated connection; returns once it listens.
    pub fn postgres(url: &str, backlog: usize) -> Result<Self, RelayError> {
        let (sender, _) = broadcast::channel(backlog.max(1));
        let relay = relay::start(url, sender.clone())?;
        Ok(LiveHub {
            sender,
            relay: Some(relay),
        })
    }

    /// Announces a change; without listeners it is dropped.
    pub fn publish(&self, change: RunChanged) {
        match &self.relay {
            Some(relay) => {
                // A full queue means the database is far behind; delivering locally keeps
                // this instance's listeners current rather than blocking ingest.
                if relay.try_send(change).is_err() {
                    let _ = self.sender.send(change);
                }
            }
            None => {
                let _ = self.sender.send(change);
            }
        }
    }

    /// A new listener, receiving changes published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RunChanged> {
        self.sender.subscribe()
    }

    /// Number of current listeners.
    pub fn listeners(&self) -> usize {
        self.sender.receiver_count()
    }
}
