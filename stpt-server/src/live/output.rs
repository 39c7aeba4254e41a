//! The fan-out of tests' output to live listeners, apart from the status changes.
//!
//! The main type here is [`OutputHub`], a bounded `tokio::sync::broadcast` of
//! [`OutputMessage`]s: each batch of output ingest applied, serialised once as the text frame
//! every subscriber of its machine sends (`{"test_output": …}`). It is its own channel so a
//! flood of output never delays a start or stop on its way to the `status`, `runs` and `last`
//! streams, and it is local to the instance (PostgreSQL's relay carries only status changes).
//!
//! **Invariant:** publishing never blocks: a subscriber that falls behind loses old batches
//! and is told so (`{"output_skipped": …}`), so it re-reads the test's stored output.

use std::borrow::Cow;
use std::sync::Arc;

use stpt_core::wire::{TestOutputFrame, TestOutputMessage};
use stpt_core::{MachineId, NodeId, OutputLine, RunId};
use tokio::sync::broadcast;

/// Batches kept per subscriber before a slow one skips ahead.
pub(super) const OUTPUT_BACKLOG: usize = 256;

/// One batch of a test's output, ready to send.
#[derive(Debug)]
pub struct OutputMessage {
    /// The machine whose test printed it.
    pub machine_id: MachineId,
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
            text: Arc::from(text),
        }
    }
}

/// Fans output batches out to live listeners.
#[derive(Debug, Clone)]
pub struct OutputHub {
    sender: broadcast::Sender<Arc<OutputMessage>>,
}

impl Default for OutputHub {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(OUTPUT_BACKLOG);
        OutputHub { sender }
    }
}

impl OutputHub {
    /// Announces a batch; without listeners it is dropped.
    pub fn publish(&self, message: OutputMessage) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(Arc::new(message));
        }
    }

    /// A new listener, receiving batches published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<OutputMessage>> {
        self.sender.subscribe()
    }
}
