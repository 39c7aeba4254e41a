//! stpt-runner: report a system test run from any harness, without ever losing an event.
//!
//! A [`Plan`] (built in code with [`Plan::builder`] or discovered from a scenario directory's
//! `stpt.toml` with [`Plan::discover`]) becomes stpt-core's [`DryRun`](stpt_core::DryRun). A
//! [`Reporter`] sends the dry run and then a start and a stop per test through any
//! [`Sink`](stpt_core::Sink); an [`Executor`] runs the plan's tests as subprocesses itself. The
//! sinks ([`sink`]) carry events over HTTP (spooled to disk first, see [`spool`]), into JSON-lines
//! files or writers, into memory, or to several of these at once.
//!
//! **Invariant:** the runner never prints and never fails a harness because the server is away:
//! every outcome is data, handed back as a value, a callback or an event in a sink.
//!
//! ```
//! use stpt_core::{MemorySink, Status};
//! use stpt_runner::{Plan, Reporter};
//!
//! let plan = Plan::builder("scenario_master.py", "/rig/scenarios")
//!     .scenario("scenario_01_feature_lamp.py", "/rig/scenarios")
//!     .test("01_01_test_lamp.py", "/rig/01_feature_lamp")
//!     .build()?;
//! let sink = MemorySink::new();
//! let mut reporter = Reporter::new("machine #1", sink.clone());
//! reporter.dry_run(&plan)?;
//! for test in plan.tests() {
//!     reporter.start(&test)?;
//!     reporter.stop(&test, Status::Passed, None)?;
//! }
//! assert_eq!(sink.events().len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod executor;
pub mod manifest;
pub mod plan;
pub mod reporter;
pub mod sink;
pub mod snapshot;
pub mod spool;
pub mod tls;

pub use executor::{CancelFlag, ExecutionSummary, Executor, Progress, TestOutcome};
pub use manifest::{DiscoverError, Manifest};
pub use plan::{Plan, PlanBuilder, PlanError, PlannedTest, TestCommand};
pub use reporter::Reporter;
pub use sink::http::{
    Delivery, HeldUp, HttpConfig, HttpSink, RetryPolicy, default_spool_dir, replay,
};
pub use sink::json_lines::{JsonLinesSink, StdoutSink, read_json_lines};
pub use sink::tee::TeeSink;
pub use spool::{Spool, SpoolError};
pub use stpt_core::MemorySink;
