//! The text frames of the WebSocket routes: the seed's three and stpt's output socket.
//!
//! `/ws/machine/status` sends [`MachineStatusMessage`], `/ws/machine/<id>/runs` sends
//! [`RunDataMessage`] and `/ws/machine/<id>/last` sends [`MachineDataMessage`] around the
//! server's `machine_last_data` shape; `/ws/machine/<id>/output` sends [`TestOutputMessage`]
//! per batch and [`OutputSkippedMessage`] to a subscriber that fell behind. The server
//! serialises them, `stpt tail` reads them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::model::{MachineId, NodeId, RunId};
use crate::output::OutputLine;
use crate::status::Status;

/// An id with a status: what the `status` and `runs` frames carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdStatus<Id> {
    /// The machine's or the run's id.
    pub id: Id,
    /// Its (newest run's) aggregate status.
    pub status: Status,
}

/// `{"machine_id_status": {"id", "status"}}`: a machine's newest run changed status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineStatusMessage {
    /// The machine and its newest run's status.
    pub machine_id_status: IdStatus<MachineId>,
}

/// `{"run_data": {"id", "status"}}`: one of a machine's runs changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDataMessage {
    /// The run and its aggregate status.
    pub run_data: IdStatus<RunId>,
}

/// `{"machine_data": <machine_last_data>}`: a machine's newest run as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineDataMessage<T> {
    /// The machine's newest run, in the server's `machine_last_data` shape.
    pub machine_data: T,
}

/// One batch of a test's output as the output socket pushes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutputFrame<'a> {
    /// The run.
    pub run_id: RunId,
    /// The test's id.
    pub test_id: NodeId,
    /// The test's position in plan order.
    pub index: u32,
    /// The lines, as printed (borrowed when the server serialises, owned when read).
    pub lines: Cow<'a, [OutputLine]>,
}

/// `{"test_output": {"run_id", "test_id", "index", "lines"}}`: a batch of a test's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutputMessage<'a> {
    /// The batch.
    pub test_output: TestOutputFrame<'a>,
}

/// The machine whose output a subscriber missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputSkipped {
    /// The machine.
    pub machine_id: MachineId,
}

/// `{"output_skipped": {"machine_id"}}`: the subscriber fell behind and lost batches; it
/// re-reads the stored output (`GET /api/v1/tests/<id>/output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputSkippedMessage {
    /// The machine whose batches were lost.
    pub output_skipped: OutputSkipped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_the_seed_shapes() {
        let status = MachineStatusMessage {
            machine_id_status: IdStatus {
                id: 3,
                status: Status::Running,
            },
        };
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            r#"{"machine_id_status":{"id":3,"status":"running"}}"#
        );
        let run = RunDataMessage {
            run_data: IdStatus {
                id: 7,
                status: Status::Passed,
            },
        };
        assert_eq!(
            serde_json::to_string(&run).unwrap(),
            r#"{"run_data":{"id":7,"status":"passed"}}"#
        );
        let skipped = OutputSkippedMessage {
            output_skipped: OutputSkipped { machine_id: 4 },
        };
        assert_eq!(
            serde_json::to_string(&skipped).unwrap(),
            r#"{"output_skipped":{"machine_id":4}}"#
        );
        let lines = [OutputLine {
            text: "ok".to_owned(),
            stream: None,
            timestamp: None,
        }];
        let output = TestOutputMessage {
            test_output: TestOutputFrame {
                run_id: 7,
                test_id: 9,
                index: 0,
                lines: Cow::Borrowed(&lines),
            },
        };
        let text = serde_json::to_string(&output).unwrap();
        assert_eq!(
            text,
            r#"{"test_output":{"run_id":7,"test_id":9,"index":0,"lines":[{"text":"ok"}]}}"#
        );
        assert_eq!(
            serde_json::from_str::<TestOutputMessage<'_>>(&text).unwrap(),
            output
        );
        let data = MachineDataMessage { machine_data: 1 };
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            r#"{"machine_data":1}"#
        );
    }
}
