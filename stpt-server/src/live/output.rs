//! The fan-out of tests' output to live listeners, apart from the status changes.
//!
//! The main type here is [`OutputHub`], a bounded `tokio::sync::broadcast` of
//! [`OutputMessage`]s: each batch of output ingest applied, serialised once as the text frame
//! every subscriber of its machine sends (`{"test_output": …}`). It is its own channel so a
//! flood of output never delays a start or stop on its way to the `status`, `runs` and `last`
//! streams.
//!
//! On PostgreSQL the hub publishes through the database instead (see `live::output_relay`): a
//! small notice (machine, run, test, index, line count) goes to every instance, this one
//! included, and each reads the new lines from the database, so every subscriber gets each
//! line once, in order, whichever instance ingested it.
//!
//! **Invariant:** publishing never blocks: a subscriber that falls behind loses old batches
//! and is told so (`{"output_skipped": …}`), so it re-reads the test's stored output; a full
//! relay queue delivers the batch to this instance's subscribers directly.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::mpsc;

use stpt_core::wire::{TestOutputFrame, TestOutputMessage};
use stpt_core::{MachineId, NodeId, OutputLine, RunId, Store};
use tokio::sync::broadcast;

use super::output_relay::{self, OutputNotice};
use super::relay::RelayError;

/// Batches kept per subscriber before a slow one skips ahead.
pub(super) const OUTPUT_BACKLOG: usize = 256;

/// One batch of a test's output, ready to send.
#[derive(Debug)]
pub struct OutputMessage {
    /// The machine whose test printed it.
    pub machine_id: MachineId,
    /// The run.
    pub run_id: RunId,
    /// The test.
    pub test_id: NodeId,
    /// The test's position in plan order.
    pub index: u32,
    /// Lines in the batch.
    pub lines: usize,
    /// The JSON text frame.
    pub text: Arc<str>,
}

impl OutputMessage {
    /// The frame of one batch.
    pub fn new(
        machine_id: MachineId,
        run_id: RunId,
        test_id: NodeId,
        index: u32,
        lines: &[OutputLine],
    ) -> OutputMessage {
        let frame = TestOutputMessage {
            test_output: TestOutputFrame {
                run_id,
                test_id,
                index,
                lines: Cow::Borrowed(lines),
            },
        };
        let text = serde_json::to_string(&frame).unwrap_or_default();
        OutputMessage {
            machine_id,
            run_id,
            test_id,
            index,
            lines: lines.len(),
            text: Arc::from(text),
        }
    }
}

/// Fans output batches out to live listeners.
#[derive(Debug, Clone)]
pub struct OutputHub {
    sender: broadcast::Sender<Arc<OutputMessage>>,
    /// With PostgreSQL: batches go to the relay thread as notices; only its LISTEN side feeds
    /// `sender`.
    relay: Option<mpsc::SyncSender<OutputNotice>>,
}

impl Default for OutputHub {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(OUTPUT_BACKLOG);
        OutputHub {
            sender,
            relay: None,
        }
    }
}

impl OutputHub {
    /// A hub shared by every instance on the PostgreSQL database at `url`: each instance
    /// hears of every batch and reads its lines from `store`. Returns once it listens.
    pub fn postgres(url: &str, store: Arc<dyn Store>) -> Result<Self, RelayError> {
        let (sender, _) = broadcast::channel(OUTPUT_BACKLOG);
        let relay = output_relay::start(url, store, sender.clone())?;
        Ok(OutputHub {
            sender,
            relay: Some(relay),
        })
    }

    /// Announces a batch; without listeners it is dropped (on PostgreSQL: without listeners
    /// on any instance).
    pub fn publish(&self, message: OutputMessage) {
        if let Some(relay) = &self.relay
            && relay.try_send(OutputNotice::of(&message)).is_ok()
        {
            return;
        }
        // Local, or the relay is far behind: this instance's listeners still get the batch
        // (the other instances' re-read the stored output when they reconnect).
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(Arc::new(message));
        }
    }

    /// A new listener, receiving batches published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<OutputMessage>> {
        self.sender.subscribe()
    }
}
