//! The stored shape of runs: machines, runs and their master → scenario → test tree.
//!
//! The main types here are [`RunTree`] (one run in full), [`RunSummary`] (one row of a
//! machine's run list) and [`Node`] (a master scenario, scenario or test with its status and
//! timestamps). Stores answer queries with these; the server turns them into response shapes,
//! and answers them as they are under `/api/v1`, so they serialise their timestamps as RFC 3339
//! with the zone (`timestamp::rfc3339`), not in the seed's wire format.
//!
//! Ids are stable integers. A run and its master scenario share one id: each dry run creates
//! exactly one of each, so a second id would only be a second name for the same thing.

use serde::{Deserialize, Serialize};

use crate::status::{Status, StatusCounts};
use crate::timestamp::Timestamp;
use crate::wire::Labels;

/// Id of a machine.
pub type MachineId = i64;
/// Id of a run (one dry run); also the id of its master scenario.
pub type RunId = i64;
/// Id of a scenario or a test.
pub type NodeId = i64;

/// A machine that has reported at least one dry run (or was registered ahead of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Machine {
    /// Its id.
    pub id: MachineId,
    /// Its name as first reported.
    pub name: String,
}

/// The key a machine name is known by: names compare case-insensitively (Unicode lowercase),
/// so `Rig-1` and `rig-1` report to one machine. Every store, the server's machine-token checks,
/// the runner and the CLI compare names through this one function.
pub fn machine_key(name: &str) -> String {
    name.to_lowercase()
}

/// A machine with the status of its newest run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineSummary {
    /// The machine.
    pub machine: Machine,
    /// Aggregate status of its newest run; `None` when it has no run.
    pub last_run_status: Option<Status>,
    /// Id of its newest run.
    pub last_run_id: Option<RunId>,
}

/// What a node of the tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NodeKind {
    /// The master scenario (one per run; its id is the run id).
    Master,
    /// A scenario.
    Scenario,
    /// A test.
    Test,
}

/// A master scenario, scenario or test as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Node {
    /// Its id (for the master: the run id).
    pub id: NodeId,
    /// What it is.
    pub kind: NodeKind,
    /// The run it belongs to.
    pub run_id: RunId,
    /// Position among its siblings for scenarios; position in the run's plan order for tests
    /// (the `index` extension); 0 for the master.
    pub position: u32,
    /// Script file name.
    pub file_name: String,
    /// Script directory.
    pub file_path: String,
    /// Script source text, if sent.
    pub script: Option<String>,
    /// Its status (an aggregate for master and scenarios).
    pub status: Status,
    /// When it started.
    #[serde(default, with = "crate::timestamp::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::timestamp::Rfc3339>))]
    pub timestamp_start: Option<Timestamp>,
    /// When it finished.
    #[serde(default, with = "crate::timestamp::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::timestamp::Rfc3339>))]
    pub timestamp_stop: Option<Timestamp>,
    /// The failure reason sent with the test's stop (tests only).
    pub message: Option<String>,
    /// How many times the test was started (tests only; 0 = never, 2 and more = retried).
    #[serde(default)]
    pub attempts: u32,
    /// How many earlier siblings in plan order (earlier tests of the run, for a test) share its
    /// file path and name: with the machine, path and name it identifies the same test or
    /// scenario across runs.
    #[serde(default)]
    pub occurrence: u32,
}

impl Node {
    /// Seconds between start and stop, when both are known.
    pub fn duration_seconds(&self) -> Option<f64> {
        Some(self.timestamp_start?.seconds_until(self.timestamp_stop?))
    }
}

/// One attempt of a test: the current one, or an earlier one kept when the test was retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    /// Its number, from 1.
    pub number: u32,
    /// How it ended (or `running` while it runs).
    pub status: Status,
    /// When it started.
    #[serde(default, with = "crate::timestamp::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::timestamp::Rfc3339>))]
    pub timestamp_start: Option<Timestamp>,
    /// When it finished.
    #[serde(default, with = "crate::timestamp::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::timestamp::Rfc3339>))]
    pub timestamp_stop: Option<Timestamp>,
    /// The failure reason sent with its stop.
    pub message: Option<String>,
}

impl Attempt {
    /// The attempt a test node currently holds.
    pub fn current(node: &Node) -> Attempt {
        Attempt {
            number: node.attempts,
            status: node.status,
            timestamp_start: node.timestamp_start,
            timestamp_stop: node.timestamp_stop,
            message: node.message.clone(),
        }
    }
}

/// One result of a test in one run, as its history lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestResult {
    /// The run.
    pub run_id: RunId,
    /// The run's dry-run timestamp.
    #[serde(with = "crate::timestamp::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::timestamp::Rfc3339))]
    pub run_timestamp: Timestamp,
    /// The test's id in that run.
    pub test_id: NodeId,
    /// Its status there.
    pub status: Status,
    /// When its (last attempt) started there, if it did.
    #[serde(default, with = "crate::timestamp::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::timestamp::Rfc3339>))]
    pub timestamp_start: Option<Timestamp>,
    /// Seconds between its (last attempt's) start and stop, when both are known.
    pub duration_seconds: Option<f64>,
    /// How many times it was started there.
    pub attempts: u32,
    /// The failure reason of its last attempt.
    pub message: Option<String>,
}

impl TestResult {
    /// The result a test node holds.
    pub fn of(node: &Node, run_timestamp: Timestamp) -> TestResult {
        TestResult {
            run_id: node.run_id,
            run_timestamp,
            test_id: node.id,
            status: node.status,
            timestamp_start: node.timestamp_start,
            duration_seconds: node.duration_seconds(),
            attempts: node.attempts,
            message: node.message.clone(),
        }
    }
}

/// One row of a machine's run list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSummary {
    /// Run id (and master scenario id).
    pub id: RunId,
    /// The machine that ran it.
    pub machine_id: MachineId,
    /// The dry run's timestamp.
    #[serde(with = "crate::timestamp::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::timestamp::Rfc3339))]
    pub timestamp: Timestamp,
    /// Aggregate status.
    pub status: Status,
    /// Tests per status.
    pub counts: StatusCounts,
    /// Number of scenarios.
    pub scenarios: u64,
    /// When the first test started.
    #[serde(default, with = "crate::timestamp::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::timestamp::Rfc3339>))]
    pub timestamp_start: Option<Timestamp>,
    /// When it finished.
    #[serde(default, with = "crate::timestamp::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::timestamp::Rfc3339>))]
    pub timestamp_stop: Option<Timestamp>,
    /// When the server last applied an event to it (its clock, not the runner's).
    #[serde(default, with = "crate::timestamp::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::timestamp::Rfc3339>))]
    pub last_event_at: Option<Timestamp>,
    /// Still ongoing but silent for longer than the server's stale limit, or closed as stale.
    #[serde(default)]
    pub stale: bool,
    /// When the server closed it (stale, or aborted by hand).
    #[serde(default, with = "crate::timestamp::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::timestamp::Rfc3339>))]
    pub closed_at: Option<Timestamp>,
    /// Why the server closed it.
    #[serde(default)]
    pub closed_as: Option<Closure>,
    /// The labels its dry run carried (what it tested), in key order.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub labels: Labels,
}

/// Which runs a search across machines answers ([`crate::Store::find_runs`]); every part
/// given must hold (labels are AND-ed). Answers come newest first (by run id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only this machine's runs.
    pub machine: Option<MachineId>,
    /// Only runs whose aggregate status is this.
    pub status: Option<Status>,
    /// Only runs carrying every one of these labels (key, value), compared exactly.
    pub labels: Vec<(String, String)>,
    /// Only runs whose dry-run timestamp is at or after this.
    pub since: Option<Timestamp>,
    /// Only runs whose dry-run timestamp is before this.
    pub until: Option<Timestamp>,
    /// Only runs older than this one (a smaller id): the previous labelled run of a machine.
    pub before: Option<RunId>,
}

impl RunFilter {
    /// True when `run` passes every part of the filter.
    pub fn matches(&self, run: &RunSummary) -> bool {
        self.machine.is_none_or(|m| run.machine_id == m)
            && self.status.is_none_or(|s| run.status == s)
            && self
                .since
                .is_none_or(|at| run.timestamp.as_micros() >= at.as_micros())
            && self
                .until
                .is_none_or(|at| run.timestamp.as_micros() < at.as_micros())
            && self.before.is_none_or(|id| run.id < id)
            && self
                .labels
                .iter()
                .all(|(key, value)| run.labels.get(key) == Some(value))
    }
}

/// Why a run was closed by the server rather than by its runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Closure {
    /// Nothing was heard from it for longer than the stale limit; its ongoing tests became
    /// `unknown`.
    Stale,
    /// Someone aborted it; its ongoing tests became `cancelled`.
    Aborted,
}

impl Closure {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Closure::Stale => "stale",
            Closure::Aborted => "aborted",
        }
    }

    /// The closure named `name`, if any.
    pub fn parse(name: &str) -> Option<Closure> {
        [Closure::Stale, Closure::Aborted]
            .into_iter()
            .find(|c| c.as_str() == name)
    }
}

impl RunSummary {
    /// Number of tests.
    pub fn tests(&self) -> u64 {
        self.counts.total()
    }

    /// Sets `stale` when the run is still ongoing and nothing was heard from it since before
    /// `idle_since` (a run closed as stale stays stale).
    pub fn mark_stale(&mut self, idle_since: Timestamp) {
        let silent = self
            .last_event_at
            .is_some_and(|last| last.as_micros() < idle_since.as_micros());
        self.stale = self.closed_as == Some(Closure::Stale)
            || (self.closed_as.is_none() && self.status.is_ongoing() && silent);
    }
}

/// A scenario with its tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScenarioTree {
    /// The scenario itself.
    pub node: Node,
    /// Its tests in plan order.
    pub tests: Vec<Node>,
}

/// One run in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunTree {
    /// The run's summary.
    pub run: RunSummary,
    /// The machine that ran it.
    pub machine: Machine,
    /// The master scenario.
    pub master: Node,
    /// Scenarios in plan order.
    pub scenarios: Vec<ScenarioTree>,
}

/// Which page of a list to answer: 1-based page number and page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based page number.
    pub page: u64,
    /// Items per page (at least 1).
    pub size: u64,
}

impl PageRequest {
    /// Default page size of the seed's API.
    pub const DEFAULT_SIZE: u64 = 10;
    /// Largest page size the seed's API allows.
    pub const MAX_SIZE: u64 = 100;

    /// Page `page` of `size` items; both are raised to at least 1.
    pub fn new(page: u64, size: u64) -> Self {
        PageRequest {
            page: page.max(1),
            size: size.max(1),
        }
    }

    /// How many items come before this page.
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.size)
    }
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Number of items in the whole list.
    pub total: u64,
}

impl<T> Page<T> {
    /// Slices a full list into the requested page.
    pub fn of(all: impl ExactSizeIterator<Item = T>, request: PageRequest) -> Self {
        let total = all.len() as u64;
        let items = all
            .skip(usize::try_from(request.offset()).unwrap_or(usize::MAX))
            .take(usize::try_from(request.size).unwrap_or(usize::MAX))
            .collect();
        Page { items, total }
    }

    /// Number of pages at this page size (at least 1, as the seed's paginator counts).
    pub fn total_pages(&self, request: PageRequest) -> u64 {
        self.total.div_ceil(request.size).max(1)
    }

    /// Converts every item.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
        }
    }
}
