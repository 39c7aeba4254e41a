//! The `Store` trait: where events are applied and runs are read back.
//!
//! The main types here are [`Store`], [`Applied`] (what an event changed, handed to the live
//! hub) and [`StoreError`]. The semantics every implementation follows (and the conformance
//! suite checks) are the seed's, made exact:
//!
//! - A dry run creates the machine if new (names compare case-insensitively), marks every
//!   ongoing test of the machine's earlier runs `unknown`, and stores the plan all `waiting`.
//! - A start takes the first `waiting` test in plan order with that file name and path in the
//!   machine's newest run (or the run named by `run_id`, the test named by `index`); any other
//!   running test of that run becomes `unknown`.
//! - A stop gives the running test with that file name and path its status; `cancelled`
//!   cancels every ongoing test of the run.
//! - A start with `attempt = k ≥ 2` retries a finished test: it takes (by `index`, else) the
//!   first finished test in plan order with that file name and path and `k − 1` attempts, keeps
//!   that attempt in the test's history and makes the test `running` again; the last attempt
//!   decides its status. A stop with `attempt` must name the running test's attempt.
//! - A scenario or master gets `timestamp_start` from its first started test and
//!   `timestamp_stop` when it becomes finished.
//! - An event whose `event_id` was applied before changes nothing and is acknowledged again,
//!   with the answer the first one got; the same id from another machine is refused
//!   ([`StoreError::EventIdReused`]). Concurrent deliveries of one event apply it once.
//! - Late events still apply: when no test holds the status a start or stop needs, a test the
//!   store presumed `unknown` (closing a silent run as stale, or superseding a run by a newer
//!   dry run; see [`presumed_for`]) is taken instead, so a rig's events spooled through an
//!   outage complete its run. A run closed as stale that hears from its rig again is no
//!   longer closed. A superseded run is reached through `run_id`.
//!
//! **Invariant:** a rejected event changes nothing. Applying a start or stop touches O(1)
//! rows whatever the run's size (cancelling is the one event that touches every ongoing test).

use crate::model::{
    Attempt, Closure, Machine, MachineId, MachineSummary, Node, NodeId, NodeKind, Page,
    PageRequest, RunFilter, RunId, RunSummary, RunTree, TestResult,
};
use crate::output::{OutputLimit, OutputLog, StoredLine, TestOutput};
use crate::status::Status;
use crate::timestamp::Timestamp;
use crate::wire::{Event, EventKind};

/// What applying an event changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Which event it was.
    pub kind: EventKind,
    /// The reporting machine.
    pub machine_id: MachineId,
    /// The run the event created or changed.
    pub run_id: RunId,
    /// The run's aggregate status afterwards.
    pub run_status: Status,
    /// The test started or stopped (none for a dry run).
    pub test_id: Option<NodeId>,
    /// True when the event id had been applied before and nothing changed now.
    pub duplicate: bool,
}

/// Why a store did not apply an event or answer a query.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No machine has this name.
    #[error("unknown machine {name:?}: a machine must send a dry run first")]
    UnknownMachine {
        /// The name given.
        name: String,
    },
    /// No run has this id, or it belongs to another machine.
    #[error("run {run_id} does not exist for machine {machine:?}")]
    UnknownRun {
        /// The run id given.
        run_id: RunId,
        /// The machine named by the event.
        machine: String,
    },
    /// The run was aborted by hand (`stpt abort`): a person ended it, so it takes no more
    /// events and its rig should stop reporting it.
    #[error(
        "run {run_id} of machine {machine:?} was aborted: it takes no more events; a new dry \
         run starts the next run"
    )]
    RunAborted {
        /// The run the event addressed.
        run_id: RunId,
        /// The machine named by the event.
        machine: String,
    },
    /// The run has no test at this index (output names its test by position).
    #[error("run {run_id} has no test at index {index}")]
    UnknownTest {
        /// The run.
        run_id: RunId,
        /// The index given.
        index: u32,
    },
    /// No test of the run matches the event.
    #[error("{}", no_match_message(.machine, .file_path, .file_name, *.wanted, *.index))]
    NoMatchingTest {
        /// The machine named by the event.
        machine: String,
        /// The test's path.
        file_path: String,
        /// The test's file name.
        file_name: String,
        /// The status the test had to have (`waiting` to start, `running` to stop).
        wanted: Status,
        /// The `index` given, if any.
        index: Option<u32>,
    },
    /// A stop names another attempt than the running test's.
    #[error(
        "test {file_name:?} in {file_path:?} of machine {machine:?} is running attempt {running}, not {given}"
    )]
    AttemptMismatch {
        /// The machine named by the event.
        machine: String,
        /// The test's path.
        file_path: String,
        /// The test's file name.
        file_name: String,
        /// The attempt the event named.
        given: u32,
        /// The attempt that is running.
        running: u32,
    },
    /// The event id was applied before for another machine: ids are not scoped to a machine,
    /// so the event is refused rather than answered as a duplicate it is not.
    #[error(
        "event_id {event_id:?} was already used by another machine than {machine:?}: use a fresh id per event (a UUID)"
    )]
    EventIdReused {
        /// The id given.
        event_id: String,
        /// The machine named by the event.
        machine: String,
    },
    /// The database is busy or out of reach for now; the client may retry.
    #[error("the store is busy: {reason}")]
    Busy {
        /// What was exhausted.
        reason: String,
        /// The backend's error, when one said so.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The storage backend failed.
    #[error("storage backend failed: {reason}")]
    Backend {
        /// What failed.
        reason: String,
        /// The backend's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

fn no_match_message(
    machine: &str,
    file_path: &str,
    file_name: &str,
    wanted: Status,
    index: Option<u32>,
) -> String {
    let position = index.map(|i| format!(" at index {i}")).unwrap_or_default();
    format!(
        "no {wanted} test {file_name:?} in {file_path:?}{position} in the current run of machine {machine:?}"
    )
}

impl StoreError {
    /// A backend failure with its cause.
    pub fn backend(
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend {
            reason: reason.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The store is busy for now, as `source` said.
    pub fn busy(
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Busy {
            reason: reason.into(),
            source: Some(Box::new(source)),
        }
    }

    /// True for errors caused by the event (a 4xx); false for the store's own faults.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::UnknownMachine { .. }
                | StoreError::UnknownRun { .. }
                | StoreError::UnknownTest { .. }
                | StoreError::RunAborted { .. }
                | StoreError::NoMatchingTest { .. }
                | StoreError::AttemptMismatch { .. }
                | StoreError::EventIdReused { .. }
        )
    }
}

/// Persistence for runs: semantic operations, not CRUD.
///
/// `apply` takes every event; a [`Event::TestOutput`] it applies with the default
/// [`OutputLimit`] (the server calls [`Store::append_output`] with its configured one).
///
/// Methods take `&self` so one store serves many threads; implementations synchronise inside.
pub trait Store: Send + Sync {
    /// Applies one validated event atomically; `now` is when it arrived (the run's
    /// `last_event_at`, which `close_stale` compares), given by the caller like `abort`'s and
    /// `close_stale`'s time so tests need no clock.
    fn apply(&self, event: &Event, now: Timestamp) -> Result<Applied, StoreError>;

    /// Appends a batch of a test's output, keeping at most `limit` of it per test (the head
    /// and the tail, see [`crate::output`]). The test is the one at `output.index` in the run
    /// `output.run_id` (the machine's newest run when none is given), which must be the
    /// machine's; an aborted run takes none. Idempotent by `event_id` like every event; the
    /// run's status and timestamps do not change, but its `last_event_at` moves to `now` (a rig
    /// that prints is not silent, so `close_stale` leaves its run alone), and output is
    /// accepted whatever the test's status (a rig's last lines may arrive after its stop).
    fn append_output(
        &self,
        output: &TestOutput,
        limit: OutputLimit,
        now: Timestamp,
    ) -> Result<Applied, StoreError>;

    /// The kept lines of a test's output after the one at byte offset `after` (all of them
    /// when `None`), in order, each with its offset: what a follower that already has the
    /// lines up to `after` is missing. `None` when no test has this id. Its cost grows with the
    /// lines returned, not with the output kept.
    fn output_after(
        &self,
        test: NodeId,
        after: Option<u64>,
    ) -> Result<Option<Vec<StoredLine>>, StoreError>;

    /// Applies `events` in order, each as [`Store::apply`] would (output kept within `limit`),
    /// and answers each one: applied, duplicate, or its own refusal. A refused event changes
    /// nothing and does not stop the ones after it. Stores that can commit the whole batch at
    /// once do (one transaction per batch); every answer is given only once its event is
    /// durable. The outer error means none of the batch was applied (the database is away).
    ///
    /// The default applies them one by one.
    fn apply_batch(
        &self,
        events: &[Event],
        limit: OutputLimit,
        now: Timestamp,
    ) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
        Ok(events
            .iter()
            .map(|event| match event {
                Event::TestOutput(output) => self.append_output(output, limit, now),
                event => self.apply(event, now),
            })
            .collect())
    }

    /// What is kept of a test's output (empty when it printed nothing); `None` when no test
    /// has this id.
    fn output(&self, test: NodeId) -> Result<Option<OutputLog>, StoreError>;

    /// Machines in id order, each with its newest run's status.
    fn machines(&self, page: PageRequest) -> Result<Page<MachineSummary>, StoreError>;

    /// One machine by id.
    fn machine(&self, id: MachineId) -> Result<Option<Machine>, StoreError>;

    /// One machine by name, compared case-insensitively.
    fn machine_by_name(&self, name: &str) -> Result<Option<Machine>, StoreError>;

    /// A machine's runs, newest first.
    fn runs(&self, machine: MachineId, page: PageRequest) -> Result<Page<RunSummary>, StoreError>;

    /// Runs of every machine that pass `filter`, newest first (by id), one page of them with
    /// the number of all that pass.
    fn find_runs(
        &self,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Page<RunSummary>, StoreError>;

    /// One run in full.
    fn run(&self, id: RunId) -> Result<Option<RunTree>, StoreError>;

    /// The newest run of a machine in full.
    fn last_run(&self, machine: MachineId) -> Result<Option<RunTree>, StoreError>;

    /// One master scenario (by run id), scenario or test.
    fn node(&self, kind: NodeKind, id: NodeId) -> Result<Option<Node>, StoreError>;

    /// Every attempt of a test, oldest first (empty if it never started or does not exist).
    fn attempts(&self, test: NodeId) -> Result<Vec<Attempt>, StoreError>;

    /// The same test (machine, file path, file name, occurrence) in all of the machine's runs,
    /// newest first, whichever of them `test` belongs to: the newest `limit` results (so the
    /// run of `test` itself is among them only when it is recent enough). Empty when `test` is
    /// not a test.
    fn test_history(&self, test: NodeId, limit: u32) -> Result<Vec<TestResult>, StoreError>;

    /// The run before `run` on its machine (the newest of the machine's older runs), if any;
    /// `None` too when `run` does not exist. One indexed lookup, whatever the history's length.
    fn previous_run(&self, run: RunId) -> Result<Option<RunId>, StoreError>;

    /// Closes a run by hand: its ongoing tests become `cancelled` and it records `at` as
    /// closed ([`Closure::Aborted`]). `None` when no run has this id; a finished run is
    /// answered unchanged.
    fn abort(&self, run: RunId, at: Timestamp) -> Result<Option<RunSummary>, StoreError>;

    /// Closes every ongoing run that heard no event since before `idle_since`: its ongoing
    /// tests become `unknown` and it records `at` as closed ([`Closure::Stale`]). Answers the
    /// closed runs.
    fn close_stale(
        &self,
        idle_since: Timestamp,
        at: Timestamp,
    ) -> Result<Vec<RunSummary>, StoreError>;

    /// Deletes a machine with all its runs (their scenarios, tests and attempts) and the
    /// records of its applied events; answers how many runs went, `None` when no machine has
    /// this id. Its name is free again: a later dry run under it creates a new machine, and
    /// its old event ids apply anew.
    fn delete_machine(&self, machine: MachineId) -> Result<Option<u64>, StoreError>;
}

/// What a late event may still do to a test the store presumed `unknown`, if anything.
///
/// Closing a run (the stale sweep) or superseding it (a newer dry run) turns its ongoing tests
/// `unknown` without a stop of their own (no `timestamp_stop`), unlike a test its rig stopped
/// as `unknown`. Such a presumed test still answers its rig's late events, which carry their
/// own timestamps: one that never started may be started (it counts as `waiting`), one that
/// was running may be stopped (it counts as `running`). A test cancelled by an abort is not
/// presumed: a person ended it.
pub fn presumed_for(
    status: Status,
    timestamp_start: Option<Timestamp>,
    timestamp_stop: Option<Timestamp>,
) -> Option<Status> {
    match (status, timestamp_start, timestamp_stop) {
        (Status::Unknown, None, None) => Some(Status::Waiting),
        (Status::Unknown, Some(_), None) => Some(Status::Running),
        _ => None,
    }
}

/// What closing a run does to its ongoing tests.
pub fn closing_status(closure: Closure) -> Status {
    match closure {
        Closure::Stale => Status::Unknown,
        Closure::Aborted => Status::Cancelled,
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn apply(&self, event: &Event, now: Timestamp) -> Result<Applied, StoreError> {
        (**self).apply(event, now)
    }
    fn append_output(
        &self,
        output: &TestOutput,
        limit: OutputLimit,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        (**self).append_output(output, limit, now)
    }
    fn output_after(
        &self,
        test: NodeId,
        after: Option<u64>,
    ) -> Result<Option<Vec<StoredLine>>, StoreError> {
        (**self).output_after(test, after)
    }
    fn apply_batch(
        &self,
        events: &[Event],
        limit: OutputLimit,
        now: Timestamp,
    ) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
        (**self).apply_batch(events, limit, now)
    }
    fn output(&self, test: NodeId) -> Result<Option<OutputLog>, StoreError> {
        (**self).output(test)
    }
    fn machines(&self, page: PageRequest) -> Result<Page<MachineSummary>, StoreError> {
        (**self).machines(page)
    }
    fn machine(&self, id: MachineId) -> Result<Option<Machine>, StoreError> {
        (**self).machine(id)
    }
    fn machine_by_name(&self, name: &str) -> Result<Option<Machine>, StoreError> {
        (**self).machine_by_name(name)
    }
    fn runs(&self, machine: MachineId, page: PageRequest) -> Result<Page<RunSummary>, StoreError> {
        (**self).runs(machine, page)
    }
    fn find_runs(
        &self,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Page<RunSummary>, StoreError> {
        (**self).find_runs(filter, page)
    }
    fn run(&self, id: RunId) -> Result<Option<RunTree>, StoreError> {
        (**self).run(id)
    }
    fn last_run(&self, machine: MachineId) -> Result<Option<RunTree>, StoreError> {
        (**self).last_run(machine)
    }
    fn node(&self, kind: NodeKind, id: NodeId) -> Result<Option<Node>, StoreError> {
        (**self).node(kind, id)
    }
    fn attempts(&self, test: NodeId) -> Result<Vec<Attempt>, StoreError> {
        (**self).attempts(test)
    }
    fn test_history(&self, test: NodeId, limit: u32) -> Result<Vec<TestResult>, StoreError> {
        (**self).test_history(test, limit)
    }
    fn previous_run(&self, run: RunId) -> Result<Option<RunId>, StoreError> {
        (**self).previous_run(run)
    }
    fn abort(&self, run: RunId, at: Timestamp) -> Result<Option<RunSummary>, StoreError> {
        (**self).abort(run, at)
    }
    fn close_stale(
        &self,
        idle_since: Timestamp,
        at: Timestamp,
    ) -> Result<Vec<RunSummary>, StoreError> {
        (**self).close_stale(idle_since, at)
    }
    fn delete_machine(&self, machine: MachineId) -> Result<Option<u64>, StoreError> {
        (**self).delete_machine(machine)
    }
}
