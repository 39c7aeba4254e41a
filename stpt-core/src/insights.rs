//! What a machine's runs say over time: a run compared with another, flaky tests, duration
//! trends and pass rates. Pure functions over runs already read from a store.
//!
//! The main items here are [`TestKey`] (a test's identity across runs of a machine: file
//! path, file name and occurrence), [`compare`], [`flaky`], [`DurationTrend`] and
//! [`RunPoint`].
//!
//! **Flaky rule:** over a test's last [`FLAKY_WINDOW`] results, count the *flips* (two
//! consecutive pass/fail outcomes that differ; other statuses are skipped) and the *retried
//! passes* (results that passed only after a retry, `attempts ≥ 2`). A test is flaky when it
//! flipped at least [`FLAKY_MIN_FLIPS`] times or passed after a retry; its score is
//! `flips + retried passes`, highest first.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{Node, RunId, RunSummary, RunTree, TestResult};
use crate::status::Status;
use crate::timestamp::Timestamp;

/// Results of each test looked at by the flaky rule.
pub const FLAKY_WINDOW: usize = 10;
/// Flips between pass and fail that make a test flaky.
pub const FLAKY_MIN_FLIPS: u32 = 3;
/// Largest duration changes a comparison lists.
pub const LARGEST_CHANGES: usize = 10;

/// A test's identity across the runs of one machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestKey {
    /// Directory of the script.
    pub file_path: String,
    /// File name of the script.
    pub file_name: String,
    /// How many earlier tests of its run share path and name.
    pub occurrence: u32,
}

impl TestKey {
    /// The identity of a test node.
    pub fn of(node: &Node) -> TestKey {
        TestKey {
            file_path: node.file_path.clone(),
            file_name: node.file_name.clone(),
            occurrence: node.occurrence,
        }
    }
}

/// `path/name`, and `#n` after it for a later occurrence: `/tests/lamp/lamp_on.py#1`.
impl std::fmt::Display for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            self.file_path.trim_end_matches('/'),
            self.file_name
        )?;
        match self.occurrence {
            0 => Ok(()),
            n => write!(f, "#{n}"),
        }
    }
}

/// Pass or fail, as comparisons and the flaky rule see a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Passed or warning.
    Pass,
    /// Failed or error.
    Fail,
}

impl Outcome {
    /// The outcome of a status; `None` for ongoing, unknown and cancelled.
    pub fn of(status: Status) -> Option<Outcome> {
        match status {
            Status::Passed | Status::Warning => Some(Outcome::Pass),
            Status::Failed | Status::Error => Some(Outcome::Fail),
            _ => None,
        }
    }
}

/// One test in a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComparedTest {
    /// Its identity.
    #[serde(flatten)]
    pub key: TestKey,
    /// Its id in the run (none for a removed test).
    pub test_id: Option<i64>,
    /// Its status in the run.
    pub status: Option<Status>,
    /// Its status in the other run.
    pub other_status: Option<Status>,
    /// Its duration in the run, seconds.
    pub duration_seconds: Option<f64>,
    /// Its duration in the other run, seconds.
    pub other_duration_seconds: Option<f64>,
}

/// A run compared with another (usually the machine's previous one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunComparison {
    /// The run.
    pub run_id: RunId,
    /// The run it is compared with.
    pub other_run_id: RunId,
    /// Failing now, passing before.
    pub newly_failing: Vec<ComparedTest>,
    /// Passing now, failing before.
    pub fixed: Vec<ComparedTest>,
    /// Failing in both.
    pub still_failing: Vec<ComparedTest>,
    /// Only in the run.
    pub new_tests: Vec<ComparedTest>,
    /// Only in the other run.
    pub removed_tests: Vec<ComparedTest>,
    /// The largest duration changes (by absolute seconds), largest first.
    pub duration_changes: Vec<ComparedTest>,
}

fn tests_of(tree: &RunTree) -> impl Iterator<Item = &Node> {
    tree.scenarios.iter().flat_map(|s| s.tests.iter())
}

/// Compares `run` with `other`, test by test (matched by [`TestKey`]), in plan order.
pub fn compare(run: &RunTree, other: &RunTree) -> RunComparison {
    let before: HashMap<TestKey, &Node> = tests_of(other).map(|t| (TestKey::of(t), t)).collect();
    let mut comparison = RunComparison {
        run_id: run.run.id,
        other_run_id: other.run.id,
        newly_failing: Vec::new(),
        fixed: Vec::new(),
        still_failing: Vec::new(),
        new_tests: Vec::new(),
        removed_tests: Vec::new(),
        duration_changes: Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for test in tests_of(run) {
        let key = TestKey::of(test);
        let was = before.get(&key).copied();
        let entry = ComparedTest {
            key: key.clone(),
            test_id: Some(test.id),
            status: Some(test.status),
            other_status: was.map(|t| t.status),
            duration_seconds: test.duration_seconds(),
            other_duration_seconds: was.and_then(Node::duration_seconds),
        };
        seen.insert(key);
        let Some(was) = was else {
            comparison.new_tests.push(entry);
            continue;
        };
        match (Outcome::of(test.status), Outcome::of(was.status)) {
            (Some(Outcome::Fail), Some(Outcome::Fail)) => {
                comparison.still_failing.push(entry.clone());
            }
            (Some(Outcome::Fail), _) => comparison.newly_failing.push(entry.clone()),
            (Some(Outcome::Pass), Some(Outcome::Fail)) => comparison.fixed.push(entry.clone()),
            _ => {}
        }
        if entry.duration_seconds.is_some() && entry.other_duration_seconds.is_some() {
            comparison.duration_changes.push(entry);
        }
    }
    for test in tests_of(other) {
        let key = TestKey::of(test);
        if !seen.contains(&key) {
            comparison.removed_tests.push(ComparedTest {
                key,
                test_id: None,
                status: None,
                other_status: Some(test.status),
                duration_seconds: None,
                other_duration_seconds: test.duration_seconds(),
            });
        }
    }
    let change = |t: &ComparedTest| {
        (t.duration_seconds.unwrap_or(0.0) - t.other_duration_seconds.unwrap_or(0.0)).abs()
    };
    comparison
        .duration_changes
        .sort_by(|a, b| change(b).total_cmp(&change(a)));
    comparison.duration_changes.truncate(LARGEST_CHANGES);
    comparison
}

/// A test the flaky rule picked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlakyTest {
    /// Its identity.
    #[serde(flatten)]
    pub key: TestKey,
    /// Its id in the newest run looked at.
    pub test_id: i64,
    /// `flips + retried_passes`.
    pub score: u32,
    /// Changes between pass and fail.
    pub flips: u32,
    /// Results that passed only after a retry.
    pub retried_passes: u32,
    /// Its statuses, newest first.
    pub statuses: Vec<Status>,
}

/// The flaky tests among `runs` (a machine's runs, newest first; the first
/// [`FLAKY_WINDOW`] are looked at), highest score first.
pub fn flaky(runs: &[RunTree]) -> Vec<FlakyTest> {
    let mut results: HashMap<TestKey, (i64, Vec<&Node>)> = HashMap::new();
    let mut order = Vec::new();
    for run in runs.iter().take(FLAKY_WINDOW) {
        for test in tests_of(run) {
            let key = TestKey::of(test);
            let entry = results.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                (test.id, Vec::new())
            });
            entry.1.push(test);
        }
    }
    let mut flaky: Vec<FlakyTest> = order
        .into_iter()
        .filter_map(|key| {
            let (test_id, nodes) = results.remove(&key)?;
            let outcomes: Vec<Outcome> =
                nodes.iter().filter_map(|t| Outcome::of(t.status)).collect();
            let flips = outcomes.windows(2).filter(|w| w[0] != w[1]).count();
            let retried_passes = nodes
                .iter()
                .filter(|t| t.attempts >= 2 && Outcome::of(t.status) == Some(Outcome::Pass))
                .count();
            let flips = u32::try_from(flips).unwrap_or(u32::MAX);
            let retried_passes = u32::try_from(retried_passes).unwrap_or(u32::MAX);
            (flips >= FLAKY_MIN_FLIPS || retried_passes > 0).then(|| FlakyTest {
                key,
                test_id,
                score: flips.saturating_add(retried_passes),
                flips,
                retried_passes,
                statuses: nodes.iter().map(|t| t.status).collect(),
            })
        })
        .collect();
    flaky.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
    flaky
}

/// Median and 90th percentile of a test's finished durations over a window of its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DurationTrend {
    /// Results looked at.
    pub window: usize,
    /// Durations among them (finished results with both timestamps).
    pub samples: usize,
    /// Median duration, seconds.
    pub median_seconds: Option<f64>,
    /// 90th percentile (nearest rank), seconds.
    pub p90_seconds: Option<f64>,
}

impl DurationTrend {
    /// The trend of the first `window` of `results` (newest first).
    pub fn of(results: &[TestResult], window: usize) -> DurationTrend {
        let mut durations: Vec<f64> = results
            .iter()
            .take(window)
            .filter(|r| r.status.is_finished())
            .filter_map(|r| r.duration_seconds)
            .collect();
        durations.sort_by(f64::total_cmp);
        DurationTrend {
            window,
            samples: durations.len(),
            median_seconds: median(&durations),
            p90_seconds: percentile(&durations, 90),
        }
    }
}

/// The median of sorted values.
pub fn median(sorted: &[f64]) -> Option<f64> {
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => sorted.get(mid).copied(),
        _ => Some((sorted.get(mid - 1)? + sorted.get(mid)?) / 2.0),
    }
}

/// The nearest-rank `p`th percentile of sorted values.
pub fn percentile(sorted: &[f64], p: usize) -> Option<f64> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// One run of a machine over time: its pass rate and duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunPoint {
    /// The run.
    pub run_id: RunId,
    /// Its dry run's timestamp.
    #[serde(with = "crate::timestamp::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::timestamp::Rfc3339))]
    pub timestamp: Timestamp,
    /// Its aggregate status.
    pub status: Status,
    /// Passed (and warning) tests over tests with a pass/fail outcome; none without any.
    pub pass_rate: Option<f64>,
    /// Seconds from its first start to its stop, when finished.
    pub duration_seconds: Option<f64>,
}

impl RunPoint {
    /// The point of one run.
    pub fn of(run: &RunSummary) -> RunPoint {
        let passed = run.counts.successes();
        let failed = run.counts.get(Status::Failed) + run.counts.get(Status::Error);
        let decided = passed + failed;
        RunPoint {
            run_id: run.id,
            timestamp: run.timestamp,
            status: run.status,
            pass_rate: (decided > 0).then(|| passed as f64 / decided as f64),
            duration_seconds: run
                .timestamp_start
                .zip(run.timestamp_stop)
                .map(|(start, stop)| start.seconds_until(stop)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::builders::{at, attempt, dry_run, start, stop};
    use crate::{MemoryStore, Store};

    #[test]
    fn a_test_key_reads_as_its_path_and_later_occurrences_with_their_number() {
        let key = |occurrence| TestKey {
            file_path: "/tests/lamp/".to_owned(),
            file_name: "lamp_on.py".to_owned(),
            occurrence,
        };
        assert_eq!(key(0).to_string(), "/tests/lamp/lamp_on.py");
        assert_eq!(key(2).to_string(), "/tests/lamp/lamp_on.py#2");
    }

    fn finish(store: &MemoryStore, outcomes: &[(&str, Status, i64)]) {
        for (name, status, seconds) in outcomes {
            store
                .apply(&start("m", name, 0), crate::Timestamp::now())
                .unwrap();
            store
                .apply(&stop("m", name, *status, *seconds), crate::Timestamp::now())
                .unwrap();
        }
    }

    fn tree(store: &MemoryStore, id: i64) -> RunTree {
        store.run(id).unwrap().unwrap()
    }

    #[test]
    fn compare_sorts_tests_into_changes() {
        let store = MemoryStore::new();
        let plan = [("s.py", &["a.py", "b.py", "c.py", "d.py"][..])];
        let old = store
            .apply(&dry_run("m", 0, &plan), crate::Timestamp::now())
            .unwrap()
            .run_id;
        use Status::{Failed, Passed};
        finish(
            &store,
            &[
                ("a.py", Passed, 1),
                ("b.py", Failed, 2),
                ("c.py", Failed, 3),
                ("d.py", Passed, 4),
            ],
        );
        let plan = [("s.py", &["a.py", "b.py", "c.py", "e.py"][..])];
        let new = store
            .apply(&dry_run("m", 10, &plan), crate::Timestamp::now())
            .unwrap()
            .run_id;
        finish(
            &store,
            &[
                ("a.py", Failed, 1),
                ("b.py", Passed, 20),
                ("c.py", Failed, 3),
                ("e.py", Passed, 1),
            ],
        );
        let diff = compare(&tree(&store, new), &tree(&store, old));
        let names = |tests: &[ComparedTest]| -> Vec<String> {
            tests.iter().map(|t| t.key.file_name.clone()).collect()
        };
        assert_eq!(names(&diff.newly_failing), ["a.py"]);
        assert_eq!(names(&diff.fixed), ["b.py"]);
        assert_eq!(names(&diff.still_failing), ["c.py"]);
        assert_eq!(names(&diff.new_tests), ["e.py"]);
        assert_eq!(names(&diff.removed_tests), ["d.py"]);
        // b went from 2 s to 20 s: the largest change comes first.
        assert_eq!(names(&diff.duration_changes)[0], "b.py");
        assert_eq!(diff.duration_changes.len(), 3);
    }

    #[test]
    fn flaky_counts_flips_and_retried_passes() {
        let store = MemoryStore::new();
        let plan = [("s.py", &["flip.py", "steady.py", "retry.py"][..])];
        let mut runs = Vec::new();
        for i in 0..6 {
            let id = store
                .apply(&dry_run("m", i * 10, &plan), crate::Timestamp::now())
                .unwrap()
                .run_id;
            let flip = if i % 2 == 0 {
                Status::Passed
            } else {
                Status::Failed
            };
            finish(
                &store,
                &[("flip.py", flip, 1), ("steady.py", Status::Passed, 1)],
            );
            store
                .apply(&start("m", "retry.py", 2), crate::Timestamp::now())
                .unwrap();
            store
                .apply(
                    &stop("m", "retry.py", Status::Failed, 3),
                    crate::Timestamp::now(),
                )
                .unwrap();
            if i == 5 {
                store
                    .apply(
                        &attempt(start("m", "retry.py", 4), 2),
                        crate::Timestamp::now(),
                    )
                    .unwrap();
                store
                    .apply(
                        &attempt(stop("m", "retry.py", Status::Passed, 5), 2),
                        crate::Timestamp::now(),
                    )
                    .unwrap();
            }
            runs.push(id);
        }
        let trees: Vec<RunTree> = runs.iter().rev().map(|id| tree(&store, *id)).collect();
        let found = flaky(&trees);
        let summary: Vec<_> = found
            .iter()
            .map(|t| (t.key.file_name.as_str(), t.flips, t.retried_passes, t.score))
            .collect();
        assert_eq!(summary, [("flip.py", 5, 0, 5), ("retry.py", 1, 1, 2)]);
        assert_eq!(found[0].statuses.len(), 6);
    }

    #[test]
    fn trend_takes_median_and_p90_of_finished_durations() {
        let result = |seconds: Option<f64>, status| TestResult {
            run_id: 1,
            run_timestamp: at(0),
            test_id: 1,
            status,
            timestamp_start: None,
            duration_seconds: seconds,
            attempts: 1,
            message: None,
        };
        let results: Vec<TestResult> = (1..=10)
            .map(|s| result(Some(f64::from(s)), Status::Passed))
            .chain([
                result(None, Status::Running),
                result(Some(99.0), Status::Passed),
            ])
            .collect();
        let trend = DurationTrend::of(&results, 11);
        assert_eq!(
            (trend.samples, trend.median_seconds, trend.p90_seconds),
            (10, Some(5.5), Some(9.0))
        );
        assert_eq!(DurationTrend::of(&[], 5).median_seconds, None);
    }
}
