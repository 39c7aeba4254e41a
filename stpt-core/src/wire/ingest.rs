//! The answer of a single ingest endpoint (`POST /tm_api/dry_run/`, `test_start/`,
//! `test_stop/`): the accepted payload echoed, and for a dry run the run it created.
//!
//! The main types here are [`DryRunAccepted`], the dry run's answer as the server writes it,
//! and [`IngestAnswer`], what a client reads of any of these answers: only the run id, since
//! the rest echoes what it sent. A start's or stop's answer carries no run id, and neither
//! does the original app's dry run answer, so a client reads it as optional.

use serde::{Deserialize, Serialize};

use super::DryRun;
use crate::model::RunId;

/// A dry run's echo: the payload as accepted, and the run it created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DryRunAccepted {
    // The dry run as accepted: a doc comment here would describe the flattened schema.
    #[allow(missing_docs, reason = "the struct's own doc says what it holds")]
    #[serde(flatten)]
    pub dry_run: DryRun,
    /// The run (and master scenario) the dry run created; send it with starts and stops.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub run_id: RunId,
}

/// What a client reads of a single ingest endpoint's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct IngestAnswer {
    /// The run a dry run created ([`DryRunAccepted::run_id`]); `None` in any other answer.
    #[serde(default)]
    pub run_id: Option<RunId>,
}

impl IngestAnswer {
    /// Reads an answer already parsed as JSON; one without a run id (or not an object) reads
    /// as none.
    pub fn read(answer: &serde_json::Value) -> IngestAnswer {
        IngestAnswer::deserialize(answer).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Event, EventKind};

    fn dry_run() -> DryRun {
        let body = br#"{"machine_name": "m", "timestamp": "2018-12-30 13:01:57", "master_scenario": {"file_name": "master.py", "file_path": "/s", "scenarios": []}}"#;
        match Event::parse(EventKind::DryRun, body).unwrap() {
            Event::DryRun(dry) => dry,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_client_reads_the_run_id_the_server_writes() {
        let written = serde_json::to_value(DryRunAccepted {
            dry_run: dry_run(),
            run_id: 7,
        })
        .unwrap();
        assert_eq!(written["machine_name"], "m");
        assert_eq!(IngestAnswer::read(&written).run_id, Some(7));
        let bytes = serde_json::to_vec(&written).unwrap();
        let read: IngestAnswer = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(read.run_id, Some(7));
    }

    #[test]
    fn answers_without_a_run_id_read_as_none() {
        let echo = serde_json::to_value(dry_run()).unwrap();
        assert_eq!(IngestAnswer::read(&echo), IngestAnswer::default());
        for other in [serde_json::json!([]), serde_json::json!({"run_id": "7"})] {
            assert_eq!(IngestAnswer::read(&other).run_id, None);
        }
    }
}
