//! The seed's read answers: the JSON the server's `/tm_api/` GET endpoints send and its
//! clients (`stpt`, browsers) read, built from the model with `From`/constructors.
//!
//! The main types here are [`ScriptDetail`] (one node), [`MachineListItem`], [`RunListItem`]
//! and [`MachineLastData`] (a machine's newest run, also pushed over WebSockets), and
//! [`FoundRun`] (one run of `GET /api/v1/runs`), and stpt's history answers ([`TestHistory`],
//! [`FlakyList`], [`MachineTrend`]) and [`MachineDeleted`]. Field names and formats are the seed's: read
//! timestamps as `%d-%m-%Y  %H:%M:%S`, ages as "3 minutes".

use serde::{Deserialize, Serialize};

use crate::insights::{DurationTrend, FlakyTest, RunPoint};
use crate::model::{
    Attempt, Closure, Machine, MachineSummary, Node, RunSummary, RunTree, TestResult,
};
use crate::status::{Status, StatusCounts};
use crate::timestamp::{Timestamp, human_duration};

fn display(at: Option<Timestamp>) -> Option<String> {
    at.map(Timestamp::display)
}

fn seconds_between(from: Timestamp, to: Timestamp) -> i64 {
    (to.as_micros() - from.as_micros()) / 1_000_000
}

/// `/tm_api/test/<id>`, `/tm_api/scenario/<id>`, `/tm_api/master_scenario/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScriptDetail {
    /// Script file name.
    pub file_name: String,
    /// Script directory.
    pub file_path: String,
    /// Script source.
    pub script: Option<String>,
    /// Start, in display format.
    pub timestamp_start: Option<String>,
    /// Stop, in display format.
    pub timestamp_stop: Option<String>,
}

impl From<&Node> for ScriptDetail {
    fn from(node: &Node) -> Self {
        ScriptDetail {
            file_name: node.file_name.clone(),
            file_path: node.file_path.clone(),
            script: node.script.clone(),
            timestamp_start: display(node.timestamp_start),
            timestamp_stop: display(node.timestamp_stop),
        }
    }
}

/// One machine of `/tm_api/machines/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineListItem {
    /// Machine id.
    pub pk: i64,
    /// Machine name.
    pub machine_name: String,
    /// The newest run's status, or `not-available`.
    pub get_last_master_scenario_status: String,
    /// The machine's page.
    pub absolute_url: String,
}

impl From<&MachineSummary> for MachineListItem {
    fn from(summary: &MachineSummary) -> Self {
        MachineListItem {
            pk: summary.machine.id,
            machine_name: summary.machine.name.clone(),
            get_last_master_scenario_status: summary
                .last_run_status
                .map_or_else(|| "not-available".to_owned(), |s| s.as_str().to_owned()),
            absolute_url: format!("/machine/{}", summary.machine.id),
        }
    }
}

/// One run of `/tm_api/machine_dry_run_datas/<id>`: the seed's keys, then stpt's staleness
/// (extra keys the seed's clients ignore).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunListItem {
    /// Run id.
    pub pk: i64,
    /// Machine id.
    pub machine: i64,
    /// The dry run's timestamp, in display format.
    pub timestamp: String,
    /// Number of scenarios.
    pub scenarios: u64,
    /// Number of tests.
    pub tests: u64,
    /// Aggregate status.
    pub tests_status: Status,
    /// The run's page.
    pub absolute_url: String,
    /// stpt's addition: ongoing but silent for longer than the stale limit, or closed as stale.
    #[serde(default)]
    pub stale: bool,
    /// stpt's addition: when the server last applied an event to the run, display format.
    #[serde(default)]
    pub last_event_at: Option<String>,
    /// stpt's addition: when the server closed the run, display format.
    #[serde(default)]
    pub closed_at: Option<String>,
    /// stpt's addition: why the server closed it (`stale` or `aborted`).
    #[serde(default)]
    pub closed_as: Option<Closure>,
}

impl From<&RunSummary> for RunListItem {
    fn from(run: &RunSummary) -> Self {
        RunListItem {
            pk: run.id,
            machine: run.machine_id,
            timestamp: run.timestamp.display(),
            scenarios: run.scenarios,
            tests: run.tests(),
            tests_status: run.status,
            absolute_url: format!("/machine/run_data/{}", run.id),
            stale: run.stale,
            last_event_at: display(run.last_event_at),
            closed_at: display(run.closed_at),
            closed_as: run.closed_as,
        }
    }
}

/// `/tm_api/machine_last_data/<id>/` and the `/ws/machine/<id>/last/` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineLastData {
    /// Machine name.
    pub machine_name: String,
    /// The newest run, if any.
    pub last_master_scenario: Option<LastMasterScenario>,
}

/// The newest run of a machine, in the seed's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LastMasterScenario {
    /// Master scenario id (the run id).
    pub pk: i64,
    /// Master scenario file name.
    pub file_name: String,
    /// First test's start, display format.
    pub timestamp_start: Option<String>,
    /// Time since the start, e.g. "3 minutes".
    pub started_ago: Option<String>,
    /// When it finished, display format.
    pub timestamp_stop: Option<String>,
    /// Time since it finished.
    pub finished_ago: Option<String>,
    /// Start to stop.
    pub duration: Option<String>,
    /// Aggregate status.
    pub status: Status,
    /// Tests per status: the seed's eight always, `skipped` when some test has it.
    pub tests_statistics: StatusCounts,
    /// Number of tests.
    pub tests_count: u64,
    /// Number of scenarios.
    pub scenarios_count: u64,
    /// Scenarios in plan order.
    pub scenarios: Vec<ScenarioBrief>,
    /// The run id.
    pub dryrundata: i64,
}

/// A scenario inside [`LastMasterScenario`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScenarioBrief {
    /// File name.
    pub file_name: String,
    /// Its tests in plan order.
    pub tests: Vec<TestBrief>,
    /// Aggregate status.
    pub status: Status,
    /// Scenario id.
    pub pk: i64,
}

/// A test inside [`ScenarioBrief`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestBrief {
    /// File name.
    pub file_name: String,
    /// Status.
    pub status: Status,
    /// Test id.
    pub pk: i64,
}

impl MachineLastData {
    /// The shape for `machine` and its newest run, with ages measured at `now`.
    pub fn new(machine: &Machine, run: Option<&RunTree>, now: Timestamp) -> Self {
        MachineLastData {
            machine_name: machine.name.clone(),
            last_master_scenario: run.map(|run| LastMasterScenario::new(run, now)),
        }
    }
}

impl LastMasterScenario {
    fn new(tree: &RunTree, now: Timestamp) -> Self {
        let start = tree.master.timestamp_start;
        let stop = tree.master.timestamp_stop;
        LastMasterScenario {
            pk: tree.run.id,
            file_name: tree.master.file_name.clone(),
            timestamp_start: display(start),
            started_ago: start.map(|s| human_duration(seconds_between(s, now))),
            timestamp_stop: display(stop),
            finished_ago: stop.map(|s| human_duration(seconds_between(s, now))),
            duration: start
                .zip(stop)
                .map(|(a, b)| human_duration(seconds_between(a, b))),
            status: tree.master.status,
            tests_statistics: tree.run.counts,
            tests_count: tree.run.tests(),
            scenarios_count: tree.run.scenarios,
            scenarios: tree
                .scenarios
                .iter()
                .map(|scenario| ScenarioBrief {
                    file_name: scenario.node.file_name.clone(),
                    tests: scenario
                        .tests
                        .iter()
                        .map(|test| TestBrief {
                            file_name: test.file_name.clone(),
                            status: test.status,
                            pk: test.id,
                        })
                        .collect(),
                    status: scenario.node.status,
                    pk: scenario.node.id,
                })
                .collect(),
            dryrundata: tree.run.id,
        }
    }
}

/// One run found by the search: its summary and its machine's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FoundRun {
    /// The run's summary (with its labels).
    #[serde(flatten)]
    pub run: RunSummary,
    /// The name of the machine that ran it.
    pub machine_name: String,
}

/// A test's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestHistory {
    /// The test asked about.
    pub test: Node,
    /// Its attempts in its own run, oldest first.
    pub attempts: Vec<Attempt>,
    /// Its results in the machine's runs, newest first (newer runs than its own included).
    pub results: Vec<TestResult>,
    /// Median and p90 of its durations.
    pub trend: DurationTrend,
}

/// A machine's flaky tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlakyList {
    /// The machine.
    pub machine: Machine,
    /// Runs looked at.
    pub runs: usize,
    /// The labels every run looked at carries (`KEY:VALUE`), when restricted.
    pub labels: Vec<String>,
    /// The rule.
    pub rule: String,
    /// Flaky tests, highest score first.
    pub tests: Vec<FlakyTest>,
}

/// A machine's runs over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineTrend {
    /// The machine.
    pub machine: Machine,
    /// Its newest runs, oldest first.
    pub points: Vec<RunPoint>,
}

/// What a deletion removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineDeleted {
    /// The machine's id.
    #[cfg_attr(feature = "openapi", schema(example = 3))]
    pub id: i64,
    /// Its name.
    pub name: String,
    /// How many of its runs went with it.
    pub runs: u64,
}
