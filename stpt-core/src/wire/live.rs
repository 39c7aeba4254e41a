//! The text frames of the seed's three WebSocket routes.
//!
//! `/ws/machine/status` sends [`MachineStatusMessage`], `/ws/machine/<id>/runs` sends
//! [`RunDataMessage`] and `/ws/machine/<id>/last` sends [`MachineDataMessage`] around the
//! server's `machine_last_data` shape. The server serialises them, `stpt tail` reads them.

use serde::{Deserialize, Serialize};

use crate::model::{MachineId, RunId};
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
        let data = MachineDataMessage { machine_data: 1 };
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            r#"{"machine_data":1}"#
        );
    }
}
