//! Test statuses and their aggregation.
//!
//! The main types here are [`Status`], the eight statuses of the seed protocol plus stpt's
//! `skipped`, and
//! [`StatusCounts`], a per-status counter from which a scenario's or a run's aggregate status
//! is derived in O(1).
//!
//! **Invariant:** the aggregate of a set of tests is the first status present among them in
//! [`Status::PRIORITY`]; an empty set aggregates to [`Status::Unknown`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The status of a test, a scenario or a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    /// Finished: the run was cancelled while this was ongoing.
    Cancelled,
    /// Ongoing: the test is executing now.
    Running,
    /// Ongoing: planned by the dry run, not started yet.
    Waiting,
    /// Finished without a known result (superseded by a newer run, or never stopped).
    Unknown,
    /// Finished: the test failed.
    Failed,
    /// Finished: the test could not run properly.
    Error,
    /// Finished: passed with a warning.
    Warning,
    /// Finished: passed.
    Passed,
    /// Finished: not run on purpose (stpt's extension; the seed's clients never send it).
    /// Counted as neither a pass nor a failure, and lowest in priority, so a run of passed and
    /// skipped tests is `passed`.
    Skipped,
}

impl Status {
    /// Every status in aggregation priority order: the first one present wins.
    pub const PRIORITY: [Status; 9] = [
        Status::Cancelled,
        Status::Running,
        Status::Waiting,
        Status::Unknown,
        Status::Failed,
        Status::Error,
        Status::Warning,
        Status::Passed,
        Status::Skipped,
    ];

    /// The lowercase wire name of the status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Cancelled => "cancelled",
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Unknown => "unknown",
            Status::Failed => "failed",
            Status::Error => "error",
            Status::Warning => "warning",
            Status::Passed => "passed",
            Status::Skipped => "skipped",
        }
    }

    /// Position in [`Status::PRIORITY`]; also the index used by [`StatusCounts`].
    pub const fn priority(self) -> usize {
        self as usize
    }

    /// Running or waiting: the test (or node) has not finished yet.
    pub const fn is_ongoing(self) -> bool {
        matches!(self, Status::Running | Status::Waiting)
    }

    /// Any status but running and waiting.
    pub const fn is_finished(self) -> bool {
        !self.is_ongoing()
    }

    /// Passed or warning: what a CI job waiting on a run counts as success.
    pub const fn is_success(self) -> bool {
        matches!(self, Status::Passed | Status::Warning)
    }

    /// Finished with a result that is neither a success nor a failure (`skipped`): history
    /// rules and pass counts leave it out.
    pub const fn is_neutral(self) -> bool {
        matches!(self, Status::Skipped)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names none of the statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown status {value:?}: expected one of running, cancelled, failed, error, warning, waiting, unknown, passed, skipped"
)]
pub struct UnknownStatus {
    /// The string that was given.
    pub value: String,
}

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::PRIORITY
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus {
                value: s.to_owned(),
            })
    }
}

impl<'de> Deserialize<'de> for Status {
    /// Goes through [`FromStr`] so an unknown status is reported with the allowed values.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How many tests hold each status.
///
/// Scenarios and runs keep one of these so that a test's transition adjusts two counters and
/// the aggregate is re-derived without looking at any test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StatusCounts([u64; 9]);

impl StatusCounts {
    /// All counters at zero.
    pub const fn new() -> Self {
        StatusCounts([0; 9])
    }

    /// Builds counts from per-status values in [`Status::PRIORITY`] order.
    pub const fn from_array(counts: [u64; 9]) -> Self {
        StatusCounts(counts)
    }

    /// The per-status values in [`Status::PRIORITY`] order.
    pub const fn as_array(&self) -> [u64; 9] {
        self.0
    }

    /// Counts every status in `statuses`; the naive reference the incremental form must equal.
    pub fn tally(statuses: impl IntoIterator<Item = Status>) -> Self {
        let mut counts = StatusCounts::new();
        for status in statuses {
            counts.add(status);
        }
        counts
    }

    /// The count for one status.
    pub const fn get(&self, status: Status) -> u64 {
        self.0[status.priority()]
    }

    /// One more test with `status`.
    pub fn add(&mut self, status: Status) {
        self.0[status.priority()] += 1;
    }

    /// `n` more tests with `status`.
    pub fn add_n(&mut self, status: Status, n: u64) {
        self.0[status.priority()] += n;
    }

    /// One test moved from `old` to `new`.
    pub fn transition(&mut self, old: Status, new: Status) {
        let slot = &mut self.0[old.priority()];
        *slot = slot.saturating_sub(1);
        self.0[new.priority()] += 1;
    }

    /// Moves every ongoing test to `to`, as cancelling a run or superseding it does.
    pub fn finish_ongoing(&mut self, to: Status) {
        let ongoing = self.ongoing();
        self.0[Status::Running.priority()] = 0;
        self.0[Status::Waiting.priority()] = 0;
        self.0[to.priority()] += ongoing;
    }

    /// Number of tests counted.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Number of running or waiting tests.
    pub const fn ongoing(&self) -> u64 {
        self.0[Status::Running.priority()] + self.0[Status::Waiting.priority()]
    }

    /// Number of finished tests.
    pub fn finished(&self) -> u64 {
        self.total() - self.ongoing()
    }

    /// Number of tests whose status [`Status::is_success`] (passed or warning).
    pub fn successes(&self) -> u64 {
        Status::PRIORITY
            .into_iter()
            .filter(|status| status.is_success())
            .map(|status| self.get(status))
            .sum()
    }

    /// The aggregate status: the first status with a non-zero count in priority order,
    /// [`Status::Unknown`] when nothing is counted.
    pub fn aggregate(&self) -> Status {
        Status::PRIORITY
            .into_iter()
            .find(|status| self.get(*status) > 0)
            .unwrap_or(Status::Unknown)
    }

    /// `(status, count)` pairs in priority order.
    pub fn iter(&self) -> impl Iterator<Item = (Status, u64)> + '_ {
        Status::PRIORITY.into_iter().map(|s| (s, self.get(s)))
    }
}

impl Serialize for StatusCounts {
    /// A map from each status to its count, in priority order (the seed's `tests_statistics`).
    /// `skipped`, which the seed does not know, is present only when some test has it, so the
    /// seed's clients see the seed's eight keys.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (status, count) in self.iter() {
            if status.is_neutral() && count == 0 {
                continue;
            }
            map.serialize_entry(status.as_str(), &count)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StatusCounts {
    /// Reads the map [`Serialize`] writes; absent statuses count 0.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, u64>::deserialize(deserializer)?;
        let mut counts = StatusCounts::new();
        for (name, n) in map {
            let status: Status = name.parse().map_err(serde::de::Error::custom)?;
            counts.add_n(status, n);
        }
        Ok(counts)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for StatusCounts {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Tests per status in priority order: the seed's eight always, `skipped` when \
                 some test has it",
            ))
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ));
        for status in Status::PRIORITY {
            object = object.property(
                status.as_str(),
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(0)),
            );
            if !status.is_neutral() {
                object = object.required(status.as_str());
            }
        }
        object.into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for StatusCounts {}

/// The aggregate of statuses given one by one (scenario statuses into a master, for instance).
pub fn aggregate(statuses: impl IntoIterator<Item = Status>) -> Status {
    StatusCounts::tally(statuses).aggregate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_wire_name_and_rejects_others() {
        for status in Status::PRIORITY {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
        let err = "PASSED".parse::<Status>().unwrap_err();
        assert_eq!(err.value, "PASSED");
        assert!(err.to_string().contains("expected one of running"));
    }

    #[test]
    fn serde_uses_lowercase_names() {
        assert_eq!(
            serde_json::to_string(&Status::Cancelled).unwrap(),
            "\"cancelled\""
        );
        assert_eq!(
            serde_json::from_str::<Status>("\"warning\"").unwrap(),
            Status::Warning
        );
    }

    #[test]
    fn counts_show_skipped_only_when_present() {
        let seed = serde_json::to_value(StatusCounts::tally([Status::Passed])).unwrap();
        assert_eq!(seed.as_object().map(|m| m.len()), Some(8));
        let counts = StatusCounts::tally([Status::Passed, Status::Skipped]);
        let json = serde_json::to_value(counts).unwrap();
        assert_eq!(json["skipped"], 1);
        assert_eq!(
            serde_json::from_value::<StatusCounts>(json).unwrap(),
            counts
        );
    }

    #[test]
    fn skipped_is_lowest_and_hides_nothing() {
        assert_eq!(aggregate([Status::Passed, Status::Skipped]), Status::Passed);
        assert_eq!(aggregate([Status::Skipped, Status::Failed]), Status::Failed);
        assert_eq!(
            aggregate([Status::Skipped, Status::Skipped]),
            Status::Skipped
        );
        assert_eq!("skipped".parse::<Status>(), Ok(Status::Skipped));
        assert!(!Status::Skipped.is_success() && Status::Skipped.is_neutral());
        assert!(Status::Skipped.is_finished());
    }

    #[test]
    fn aggregate_follows_priority() {
        assert_eq!(aggregate([]), Status::Unknown);
        assert_eq!(
            aggregate([Status::Passed, Status::Warning]),
            Status::Warning
        );
        assert_eq!(
            aggregate([Status::Passed, Status::Failed, Status::Error]),
            Status::Failed
        );
        assert_eq!(
            aggregate([Status::Failed, Status::Waiting]),
            Status::Waiting
        );
        assert_eq!(
            aggregate([Status::Waiting, Status::Running]),
            Status::Running
        );
        assert_eq!(
            aggregate([Status::Running, Status::Cancelled]),
            Status::Cancelled
        );
    }

    /// Every pair of statuses, against the order written out by hand (not read from
    /// `Status::PRIORITY`, so reordering the constant cannot move the expectation with it).
    #[test]
    fn every_pair_aggregates_to_the_higher_status_of_the_documented_order() {
        use Status::*;
        let order = [
            Cancelled, Running, Waiting, Unknown, Failed, Error, Warning, Passed,
        ];
        let names: Vec<&str> = order.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "cancelled",
                "running",
                "waiting",
                "unknown",
                "failed",
                "error",
                "warning",
                "passed"
            ],
            "the hand-written order names each status once"
        );
        for (i, &a) in order.iter().enumerate() {
            for (j, &b) in order.iter().enumerate() {
                let winner = order[i.min(j)];
                assert_eq!(aggregate([a, b]), winner, "{a} with {b}");
                assert_eq!(
                    StatusCounts::tally([a, b]).aggregate(),
                    winner,
                    "{a} with {b} counted"
                );
                // Any number of the loser does not outweigh one of the winner.
                let mut counts = StatusCounts::new();
                counts.add_n(a, 3);
                counts.add(b);
                let expected = if i <= j { a } else { b };
                assert_eq!(counts.aggregate(), expected, "3 × {a} with {b}");
            }
        }
    }

    #[test]
    fn transitions_keep_totals() {
        let mut counts = StatusCounts::tally([Status::Waiting; 3]);
        counts.transition(Status::Waiting, Status::Running);
        assert_eq!(counts.get(Status::Running), 1);
        assert_eq!(counts.aggregate(), Status::Running);
        counts.transition(Status::Running, Status::Passed);
        counts.finish_ongoing(Status::Cancelled);
        assert_eq!(counts.total(), 3);
        assert_eq!(counts.get(Status::Cancelled), 2);
        assert_eq!(counts.ongoing(), 0);
        assert_eq!(counts.aggregate(), Status::Cancelled);
    }

    #[test]
    fn ongoing_and_finished_partition_the_statuses() {
        let ongoing: Vec<_> = Status::PRIORITY
            .into_iter()
            .filter(|s| s.is_ongoing())
            .collect();
        assert_eq!(ongoing, [Status::Running, Status::Waiting]);
        assert_eq!(
            Status::PRIORITY
                .into_iter()
                .filter(|s| s.is_finished())
                .count(),
            7
        );
    }
}
