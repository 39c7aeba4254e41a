//! The narrow rows an event reads and writes: a run's, a scenario's and a test's state.
//!
//! The main types here are [`RunState`], [`ScenarioState`] and [`TestState`]. They select only
//! what applying an event needs (no script text, no file names of runs and scenarios), and
//! `db::saves` writes back only the columns an event can change. That keeps a start or stop
//! from copying scripts back and forth, and lets SQLite skip maintaining every index whose
//! columns the `UPDATE` does not name (`tests_by_run`, `tests_by_scenario`, `runs_by_machine`).

use diesel::prelude::*;
use stpt_core::{Progress, StatusCounts, StoreError};

use super::rows::{
    AttemptRow, count, count_columns, counts_of, micros, optional_timestamp, signed, status,
};
use super::schema::{runs, scenarios, tests};

/// Nine count columns in priority order, shared by runs and scenarios.
macro_rules! state_counts {
    ($row:ty) => {
        impl $row {
            pub(super) fn counts(&self) -> StatusCounts {
                counts_of(count_columns!(self,))
            }

            fn set_counts(&mut self, counts: StatusCounts) {
                for (column, n) in count_columns!(self, &mut).into_iter().zip(counts.as_array()) {
                    *column = signed(n);
                }
            }

            pub(super) fn progress(&self) -> Result<Progress, StoreError> {
                Ok(Progress {
                    counts: self.counts(),
                    empty_children: self.empty_children(),
                    status: status(&self.status)?,
                    timestamp_start: optional_timestamp(self.timestamp_start)?,
                    timestamp_stop: optional_timestamp(self.timestamp_stop)?,
                })
            }

            pub(super) fn set_progress(&mut self, progress: &Progress) {
                self.set_counts(progress.counts);
                if self.status != progress.status.as_str() {
                    self.status = progress.status.as_str().to_owned();
                }
                self.timestamp_start = micros(progress.timestamp_start);
                self.timestamp_stop = micros(progress.timestamp_stop);
            }
        }
    };
}

/// A run as events change it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = runs)]
pub(super) struct RunState {
    pub(super) id: i64,
    pub(super) empty_scenarios: i64,
    pub(super) status: String,
    pub(super) timestamp_start: Option<i64>,
    pub(super) timestamp_stop: Option<i64>,
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
    pub(super) n_skipped: i64,
    pub(super) closed_at: Option<i64>,
    pub(super) closed_as: Option<String>,
}

state_counts!(RunState);

impl RunState {
    fn empty_children(&self) -> u64 {
        count(self.empty_scenarios)
    }
}

/// A scenario as events change it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scenarios)]
pub(super) struct ScenarioState {
    pub(super) id: i64,
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
    pub(super) n_skipped: i64,
}

state_counts!(ScenarioState);

impl ScenarioState {
    fn empty_children(&self) -> u64 {
        0
    }
}

/// A test as events change it: no script; its place and name are read, never written.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tests)]
pub(super) struct TestState {
    pub(super) id: i64,
    pub(super) file_name: String,
    pub(super) file_path: String,
    pub(super) status: String,
    pub(super) timestamp_start: Option<i64>,
    pub(super) timestamp_stop: Option<i64>,
    pub(super) message: Option<String>,
    pub(super) attempts: i64,
}

impl TestState {
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
