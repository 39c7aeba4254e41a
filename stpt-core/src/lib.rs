//! stpt-core: the data model of system test progress tracking, with no I/O and no async.
//!
//! Statuses and their aggregation ([`status`]), timestamps ([`timestamp`]), the seed-compatible
//! wire payloads ([`wire`]), the stored run model ([`model`]), the hierarchy walker
//! ([`walker`]), a plan laid out as the rows stores keep ([`plan_layout`]), the [`Store`] trait
//! with its in-memory implementation ([`memory_store`]) and the [`Sink`] trait. With the
//! `testing` feature, [`testing`] exports the Store conformance suite.
#![warn(missing_docs)]

pub mod insights;
pub mod memory_store;
pub mod model;
pub mod output;
pub mod plan_layout;
pub mod progress;
pub mod sink;
pub mod status;
pub mod store;
pub mod timestamp;
pub mod walker;
pub mod wire;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use memory_store::MemoryStore;
pub use model::{
    Attempt, Closure, Machine, MachineId, MachineSummary, Node, NodeId, NodeKind, Page,
    PageRequest, RunFilter, RunId, RunSummary, RunTree, ScenarioTree, TestResult, machine_key,
};
pub use output::{
    OutputBatch, OutputLimit, OutputLine, OutputLog, OutputStream, TestOutput, dropped_notice,
    strip_ansi,
};
pub use plan_layout::{PlanLayout, PlannedScenario, PlannedTest, lay_out};
pub use progress::Progress;
pub use sink::{MemorySink, Sink, SinkError};
pub use status::{Status, StatusCounts, UnknownStatus};
pub use store::{Applied, Store, StoreError};
pub use timestamp::{InvalidTimestamp, Timestamp};
pub use walker::{Hierarchy, Statistics, TestPosition, Visitor, walk};
pub use wire::{
    DryRun, Event, EventKind, Labels, MasterScenarioPlan, ScenarioPlan, TestPlan, TestStart,
    TestStop, WireError,
};
