//! How a scenario's or a run's aggregate moves when one of its tests changes status.
//!
//! The main type here is [`Progress`]: the per-status counts of a node's tests, the aggregate
//! derived from them and the node's start/stop timestamps. Every store keeps one per scenario
//! and one per run and moves it with [`Progress::test_moved`], so the rules live in one place:
//!
//! - the node starts (`timestamp_start`) when its first test starts;
//! - it stops (`timestamp_stop`) when its aggregate becomes finished, if it ever started, and
//!   the stop is cleared if it becomes ongoing again.
//!
//! **Invariant:** each call is O(1): two counters change and the aggregate is re-derived.

use crate::status::{Status, StatusCounts};
use crate::timestamp::Timestamp;
use crate::walker::master_status;

/// The aggregate state of a scenario or run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Tests per status.
    pub counts: StatusCounts,
    /// Children without tests, each counting as `unknown` (empty scenarios of a run; 0 for a
    /// scenario).
    pub empty_children: u64,
    /// The aggregate status, derived from `counts` and `empty_children`.
    pub status: Status,
    /// When the first test started.
    pub timestamp_start: Option<Timestamp>,
    /// When the aggregate became finished.
    pub timestamp_stop: Option<Timestamp>,
}

impl Progress {
    /// A freshly planned node: `tests` tests all waiting.
    pub fn planned(tests: u64, empty_children: u64) -> Self {
        let mut counts = StatusCounts::new();
        counts.add_n(Status::Waiting, tests);
        Progress {
            counts,
            empty_children,
            status: master_status(&counts, empty_children),
            timestamp_start: None,
            timestamp_stop: None,
        }
    }

    /// One test moved from `old` to `new` at `at`.
    pub fn test_moved(&mut self, old: Status, new: Status, at: Timestamp) {
        self.counts.transition(old, new);
        if new == Status::Running && self.timestamp_start.is_none() {
            self.timestamp_start = Some(at);
        }
        self.rederive(at);
    }

    /// Every ongoing test moved to `to` at `at` (a cancel, or a newer dry run).
    pub fn ongoing_finished(&mut self, to: Status, at: Timestamp) {
        self.counts.finish_ongoing(to);
        self.rederive(at);
    }

    fn rederive(&mut self, at: Timestamp) {
        let was_ongoing = self.status.is_ongoing();
        self.status = master_status(&self.counts, self.empty_children);
        if self.status.is_ongoing() {
            self.timestamp_stop = None;
        } else if was_ongoing && self.timestamp_start.is_some() {
            self.timestamp_stop = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::builders::at;

    #[test]
    fn starts_with_the_first_test_and_stops_when_finished() {
        let mut progress = Progress::planned(2, 0);
        assert_eq!(progress.status, Status::Waiting);
        progress.test_moved(Status::Waiting, Status::Running, at(1));
        assert_eq!(
            (progress.status, progress.timestamp_start),
            (Status::Running, Some(at(1)))
        );
        progress.test_moved(Status::Running, Status::Passed, at(2));
        progress.test_moved(Status::Waiting, Status::Running, at(3));
        assert_eq!(progress.timestamp_start, Some(at(1)));
        progress.test_moved(Status::Running, Status::Failed, at(4));
        assert_eq!(progress.status, Status::Failed);
        assert_eq!(progress.timestamp_stop, Some(at(4)));
        progress.test_moved(Status::Failed, Status::Waiting, at(5));
        assert_eq!(progress.timestamp_stop, None);
    }

    #[test]
    fn a_never_started_node_gets_no_stop() {
        let mut progress = Progress::planned(3, 1);
        progress.ongoing_finished(Status::Unknown, at(9));
        assert_eq!(progress.status, Status::Unknown);
        assert_eq!(progress.timestamp_stop, None);
        assert_eq!(progress.counts.get(Status::Unknown), 3);
    }
}
