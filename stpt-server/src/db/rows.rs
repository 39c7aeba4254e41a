//! Row structs of the tables and their conversions to stpt-core's model.
//!
//! The main types here are [`RunRow`], [`ScenarioRow`] and [`TestRow`] (loaded, changed in
//! Rust and saved back whole) and the `New*` insertables. They never leave the `db` module:
//! queries answer stpt-core types.

use diesel::prelude::*;
use stpt_core::{
    Attempt, Closure, EventKind, Machine, Node, NodeKind, RunSummary, Status, StatusCounts,
    StoreError, Timestamp,
};

use super::schema::{
    applied_events, machines, output_events, runs, scenarios, test_attempts, test_output_lines,
    test_outputs, tests,
};

/// A value read from the database that does not decode: our fault, not the caller's.
fn corrupt(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        reason: format!("database holds an invalid {what}: {value}"),
        source: None,
    }
}

pub(super) fn status(text: &str) -> Result<Status, StoreError> {
    text.parse().map_err(|_| corrupt("status", text))
}

/// An event kind as `applied_events.kind` stores it; any other text is a corrupt row.
pub(super) fn event_kind(text: &str) -> Result<EventKind, StoreError> {
    EventKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == text)
        .ok_or_else(|| corrupt("event kind", text))
}

pub(super) fn timestamp(micros: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_micros(micros).ok_or_else(|| corrupt("timestamp", micros))
}

pub(super) fn optional_timestamp(micros: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    micros.map(timestamp).transpose()
}

pub(super) fn micros(at: Option<Timestamp>) -> Option<i64> {
    at.map(Timestamp::as_micros)
}

pub(super) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(super) fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn position(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A run's or scenario's nine count columns in priority order (`StatusCounts::as_array`'s) as
/// an array: their values (`count_columns!(row,)`), or references to them (`count_columns!(row,
/// &)`, `count_columns!(row, &mut)`). The one place that lists them, to read or to write.
macro_rules! count_columns {
    ($row:expr, $($ref:tt)*) => {
        [
            $($ref)* $row.n_cancelled,
            $($ref)* $row.n_running,
            $($ref)* $row.n_waiting,
            $($ref)* $row.n_unknown,
            $($ref)* $row.n_failed,
            $($ref)* $row.n_error,
            $($ref)* $row.n_warning,
            $($ref)* $row.n_passed,
            $($ref)* $row.n_skipped,
        ]
    };
}
pub(super) use count_columns;

/// Counts as stored (in `count_columns!` order) into the model's.
pub(super) fn counts_of(stored: [i64; 9]) -> StatusCounts {
    StatusCounts::from_array(stored.map(count))
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = machines)]
pub(super) struct MachineRow {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) last_run_id: Option<i64>,
}

impl From<MachineRow> for Machine {
    fn from(row: MachineRow) -> Self {
        Machine {
            id: row.id,
            name: row.name,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = machines)]
pub(super) struct NewMachine<'a> {
    pub(super) name: &'a str,
    pub(super) name_key: &'a str,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, AsChangeset)]
#[diesel(table_name = runs, treat_none_as_null = true)]
pub(super) struct RunRow {
    pub(super) id: i64,
    pub(super) machine_id: i64,
    pub(super) timestamp: i64,
    pub(super) file_name: String,
    pub(super) file_path: String,
    pub(super) script: Option<String>,
    pub(super) status: String,
    pub(super) timestamp_start: Option<i64>,
    pub(super) timestamp_stop: Option<i64>,
    pub(super) scenarios_count: i64,
    pub(super) empty_scenarios: i64,
    pub(super) test_count: i64,
    pub(super) running_test_id: Option<i64>,
    pub(super) last_event_at: i64,
    pub(super) n_cancelled: i64,
    pub(super) n_running: i64,
    pub(super) n_waiting: i64,
    pub(super) n_unknown: i64,
    pub(super) n_failed: i64,
    pub(super) n_error: i64,
    pub(super) n_warning: i64,
    pub(super) n_passed: i64,
    pub(super) closed_at: Option<i64>,
    pub(super) closed_as: Option<String>,
    pub(super) n_skipped: i64,
}

impl RunRow {
    pub(super) fn counts(&self) -> StatusCounts {
        counts_of(count_columns!(self,))
    }

    pub(super) fn summary(&self) -> Result<RunSummary, StoreError> {
        let closed_as = self
            .closed_as
            .as_deref()
            .map(|name| Closure::parse(name).ok_or_else(|| corrupt("closure", name)))
            .transpose()?;
        Ok(RunSummary {
            id: self.id,
            machine_id: self.machine_id,
            timestamp: timestamp(self.timestamp)?,
            status: status(&self.status)?,
            counts: self.counts(),
            scenarios: count(self.scenarios_count),
            timestamp_start: optional_timestamp(self.timestamp_start)?,
            timestamp_stop: optional_timestamp(self.timestamp_stop)?,
            last_event_at: Some(timestamp(self.last_event_at)?),
            stale: closed_as == Some(Closure::Stale),
            closed_at: optional_timestamp(self.closed_at)?,
            closed_as,
            labels: Default::default(),
        })
    }

    pub(super) fn master(&self) -> Result<Node, StoreError> {
        Ok(Node {
            id: self.id,
            kind: NodeKind::Master,
            run_id: self.id,
            position: 0,
            file_name: self.file_name.clone(),
            file_path: self.file_path.clone(),
            script: self.script.clone(),
            status: status(&self.status)?,
            timestamp_start: optional_timestamp(self.timestamp_start)?,
            timestamp_stop: optional_timestamp(self.timestamp_stop)?,
            message: None,
            attempts: 0,
            occurrence: 0,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = runs, treat_none_as_default_value = false)]
pub(super) struct NewRun<'a> {
    pub(super) machine_id: i64,
    pub(super) timestamp: i64,
    pub(super) file_name: &'a str,
    pub(super) file_path: &'a str,
    pub(super) script: Option<&'a str>,
    pub(super) status: &'a str,
    pub(super) scenarios_count: i64,
    pub(super) empty_scenarios: i64,
    pub(super) test_count: i64,
    pub(super) last_event_at: i64,
    pub(super) n_waiting: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, AsChangeset)]
#[diesel(table_name = scenarios, treat_none_as_null = true)]
pub(super) struct ScenarioRow {
    pub(super) id: i64,
    pub(super) run_id: i64,
    pub(super) position: i64,
    pub(super) file_name: String,
    pub(super) file_path: String,
    pub(super) script: Option<String>,
    pub(super) status: String,
    pub(super) timestamp_start: Option<i64>,
    pub(super) timestamp_stop: Option<i64>,
    pub(super) n_cancelled: i64,
    pub(super) n_running: i64,
    pub(super) n_waiting: i64,
    pub(super) n_unknown: i64,
    pub(super) n_failed: i64,
    pub(super) n_error: i64,
    pub(super) n_warning: i64,
    pub(super) n_passed: i64,
    pub(super) occurrence: i64,
    pub(super) n_skipped: i64,
}

impl ScenarioRow {
    pub(super) fn node(&self) -> Result<Node, StoreError> {
        Ok(Node {
            id: self.id,
            kind: NodeKind::Scenario,
            run_id: self.run_id,
            position: position(self.position),
            file_name: self.file_name.clone(),
            file_path: self.file_path.clone(),
            script: self.script.clone(),
            status: status(&self.status)?,
            timestamp_start: optional_timestamp(self.timestamp_start)?,
            timestamp_stop: optional_timestamp(self.timestamp_stop)?,
            message: None,
            attempts: 0,
            occurrence: position(self.occurrence),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = scenarios, treat_none_as_default_value = false)]
pub(super) struct NewScenario<'a> {
    pub(super) run_id: i64,
    pub(super) position: i64,
    pub(super) file_name: &'a str,
    pub(super) file_path: &'a str,
    pub(super) script: Option<&'a str>,
    pub(super) status: &'a str,
    pub(super) n_waiting: i64,
    pub(super) occurrence: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, AsChangeset)]
#[diesel(table_name = tests, treat_none_as_null = true)]
pub(super) struct TestRow {
    pub(super) id: i64,
    pub(super) run_id: i64,
    pub(super) scenario_id: i64,
    pub(super) position: i64,
    pub(super) file_name: String,
    pub(super) file_path: String,
    pub(super) script: Option<String>,
    pub(super) status: String,
    pub(super) timestamp_start: Option<i64>,
    pub(super) timestamp_stop: Option<i64>,
    pub(super) message: Option<String>,
    pub(super) attempts: i64,
    pub(super) machine_id: i64,
    pub(super) occurrence: i64,
}

impl TestRow {
    pub(super) fn node(&self) -> Result<Node, StoreError> {
        Ok(Node {
            id: self.id,
            kind: NodeKind::Test,
            run_id: self.run_id,
            position: position(self.position),
            file_name: self.file_name.clone(),
            file_path: self.file_path.clone(),
            script: self.script.clone(),
            status: status(&self.status)?,
            timestamp_start: optional_timestamp(self.timestamp_start)?,
            timestamp_stop: optional_timestamp(self.timestamp_stop)?,
            message: self.message.clone(),
            attempts: position(self.attempts),
            occurrence: position(self.occurrence),
        })
    }

    /// The attempt the row holds now, as a history row.
    pub(super) fn current_attempt(&self) -> AttemptRow {
        AttemptRow {
            test_id: self.id,
            number: self.attempts,
            status: self.status.clone(),
            timestamp_start: self.timestamp_start,
            timestamp_stop: self.timestamp_stop,
            message: self.message.clone(),
        }
    }
}

/// An earlier attempt of a retried test.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = test_attempts, treat_none_as_default_value = false)]
pub(super) struct AttemptRow {
    pub(super) test_id: i64,
    pub(super) number: i64,
    pub(super) status: String,
    pub(super) timestamp_start: Option<i64>,
    pub(super) timestamp_stop: Option<i64>,
    pub(super) message: Option<String>,
}

impl AttemptRow {
    pub(super) fn attempt(&self) -> Result<Attempt, StoreError> {
        Ok(Attempt {
            number: position(self.number),
            status: status(&self.status)?,
            timestamp_start: optional_timestamp(self.timestamp_start)?,
            timestamp_stop: optional_timestamp(self.timestamp_stop)?,
            message: self.message.clone(),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = tests, treat_none_as_default_value = false)]
pub(super) struct NewTest<'a> {
    pub(super) run_id: i64,
    pub(super) scenario_id: i64,
    pub(super) position: i64,
    pub(super) file_name: &'a str,
    pub(super) file_path: &'a str,
    pub(super) script: Option<&'a str>,
    pub(super) status: &'a str,
    pub(super) machine_id: i64,
    pub(super) occurrence: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = applied_events, treat_none_as_default_value = false)]
pub(super) struct AppliedEventRow {
    pub(super) event_id: String,
    pub(super) kind: String,
    pub(super) machine_id: i64,
    pub(super) run_id: i64,
    pub(super) test_id: Option<i64>,
    pub(super) applied_at: i64,
}

/// One kept line of a test's output.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = test_output_lines, treat_none_as_default_value = false)]
pub(super) struct OutputLineRow {
    pub(super) test_id: i64,
    pub(super) start_byte: i64,
    pub(super) stream: Option<String>,
    pub(super) timestamp: Option<i64>,
    pub(super) text: String,
}

impl OutputLineRow {
    pub(super) fn stored(self) -> Result<stpt_core::output::StoredLine, StoreError> {
        let stream = match self.stream.as_deref() {
            None => None,
            Some(name) => {
                Some(stpt_core::OutputStream::parse(name).ok_or_else(|| corrupt("stream", name))?)
            }
        };
        Ok(stpt_core::output::StoredLine {
            offset: u64::try_from(self.start_byte)
                .map_err(|_| corrupt("output offset", self.start_byte))?,
            line: stpt_core::OutputLine {
                text: self.text,
                stream,
                timestamp: self.timestamp.map(timestamp).transpose()?,
            },
        })
    }
}

/// Where a test's output ends and how much was received.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = test_outputs, treat_none_as_default_value = false)]
pub(super) struct OutputRow {
    pub(super) test_id: i64,
    pub(super) head_end: i64,
    pub(super) end_byte: i64,
    pub(super) total_lines: i64,
    pub(super) total_bytes: i64,
}

/// An output batch applied.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = output_events, treat_none_as_default_value = false)]
pub(super) struct OutputEventRow {
    pub(super) event_id: String,
    pub(super) machine_id: i64,
    pub(super) run_id: i64,
    pub(super) test_id: i64,
    pub(super) applied_at: i64,
}

#[cfg(test)]
mod decoding_tests {
    //! Reading stored text back into the model.

    use super::*;

    #[test]
    fn an_unknown_stored_event_kind_is_a_corrupt_row() {
        for kind in EventKind::ALL {
            assert_eq!(event_kind(kind.as_str()).ok(), Some(kind));
        }
        let err = event_kind("teleport").expect_err("not a kind");
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        assert!(err.to_string().contains("teleport"), "{err}");
    }
}
