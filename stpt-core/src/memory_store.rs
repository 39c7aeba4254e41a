//! An in-memory [`Store`]: the reference implementation of the event semantics.
//!
//! The main type here is [`MemoryStore`]. It backs the conformance suite's own tests, the
//! runner's dry runs and anything that needs a store without a database. Each scenario and run
//! keeps [`StatusCounts`], each run an index from (file path, file name) to its waiting tests in
//! plan order and a pointer to its running test, so a start or stop does O(1) work.
//!
//! **Invariant:** every check happens before the first change, so a rejected event leaves the
//! state untouched without a rollback.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use crate::model::{
    Attempt, Closure, Machine, MachineId, MachineSummary, Node, NodeId, NodeKind, Page,
    PageRequest, RunFilter, RunId, RunSummary, RunTree, ScenarioTree, TestResult,
};
use crate::output::{
    OutputEnds, OutputLimit, OutputLog, StoredLine, TestOutput, place_batch, retained,
};
use crate::plan_layout::{PlanLayout, PlannedScenario, PlannedTest, lay_out};
use crate::progress::Progress;
use crate::status::Status;
use crate::store::{Applied, Store, StoreError, closing_status, presumed_for};
use crate::timestamp::Timestamp;
use crate::wire::{DryRun, Event, EventKind, Labels, TestStart, TestStop};

/// A [`Store`] held in memory behind a mutex.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state.lock().map_err(|_| StoreError::Backend {
            reason: "memory store poisoned by a panic".to_owned(),
            source: None,
        })
    }
}

#[derive(Debug, Default)]
struct State {
    machines: Vec<MachineRec>,
    by_name: HashMap<String, MachineId>,
    runs: Vec<RunRec>,
    scenarios: Vec<ScenarioRec>,
    tests: Vec<TestRec>,
    applied: HashMap<String, Applied>,
    /// Output kept per test, and the output batches applied (by event id), apart from the
    /// events as the diesel store keeps them.
    outputs: HashMap<NodeId, OutputRec>,
    output_applied: HashMap<String, Applied>,
}

/// What is kept of one test's output.
#[derive(Debug, Default)]
struct OutputRec {
    head: Vec<StoredLine>,
    tail: VecDeque<StoredLine>,
    /// Where the output stands (kept format).
    ends: OutputEnds,
    total_lines: u64,
    total_bytes: u64,
}

#[derive(Debug)]
struct MachineRec {
    machine: Machine,
    runs: Vec<RunId>,
    /// Deleted: its id stays taken (ids are positions), nothing of it is visible.
    deleted: bool,
}

#[derive(Debug)]
struct RunRec {
    machine_id: MachineId,
    timestamp: Timestamp,
    master: Node,
    progress: Progress,
    scenario_ids: Vec<NodeId>,
    first_test: NodeId,
    test_count: u32,
    running: Option<NodeId>,
    waiting: HashMap<(String, String), BTreeSet<NodeId>>,
    /// Every test by (file path, file name) in plan order, for retries of finished tests.
    by_name: HashMap<(String, String), Vec<NodeId>>,
    /// When the store last applied an event to the run (its clock).
    last_event_at: Timestamp,
    /// Why and when the store closed the run, if it did.
    closed: Option<(Closure, Timestamp)>,
    /// The dry run's labels.
    labels: Labels,
}

#[derive(Debug)]
struct ScenarioRec {
    node: Node,
    progress: Progress,
    tests: Vec<NodeId>,
}

#[derive(Debug)]
struct TestRec {
    node: Node,
    scenario: NodeId,
    /// Earlier attempts, oldest first (the current one is `node`).
    history: Vec<Attempt>,
}

/// Ids are 1-based positions in their vectors.
fn slot(id: i64) -> Option<usize> {
    usize::try_from(id).ok()?.checked_sub(1)
}

fn next_id(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX - 1) + 1
}

fn name_key(name: &str) -> String {
    crate::model::machine_key(name)
}

/// Copies a progress's aggregate and timestamps onto its node.
fn sync(node: &mut Node, progress: &Progress) {
    node.status = progress.status;
    node.timestamp_start = progress.timestamp_start;
    node.timestamp_stop = progress.timestamp_stop;
}

impl State {
    fn machine_named(&self, name: &str) -> Result<&MachineRec, StoreError> {
        self.by_name
            .get(&name_key(name))
            .and_then(|id| self.machines.get(slot(*id)?))
            .ok_or_else(|| StoreError::UnknownMachine {
                name: name.to_owned(),
            })
    }

    /// A machine that was not deleted.
    fn machine_rec(&self, id: MachineId) -> Option<&MachineRec> {
        self.machines.get(slot(id)?).filter(|m| !m.deleted)
    }

    /// A run of a machine that was not deleted.
    fn run_rec(&self, id: RunId) -> Option<&RunRec> {
        self.runs
            .get(slot(id)?)
            .filter(|run| self.machine_rec(run.machine_id).is_some())
    }

    fn run_mut(&mut self, id: RunId) -> &mut RunRec {
        let index = slot(id).unwrap_or(usize::MAX);
        &mut self.runs[index]
    }

    fn test_mut(&mut self, id: NodeId) -> &mut TestRec {
        let index = slot(id).unwrap_or(usize::MAX);
        &mut self.tests[index]
    }

    fn scenario_mut(&mut self, id: NodeId) -> &mut ScenarioRec {
        let index = slot(id).unwrap_or(usize::MAX);
        &mut self.scenarios[index]
    }

    /// The run an event addresses: `run_id` if given (it must be the machine's), else the
    /// machine's newest run; never an aborted one.
    fn target_run(
        &self,
        machine: &MachineRec,
        run_id: Option<RunId>,
        no_match: impl FnOnce() -> StoreError,
    ) -> Result<RunId, StoreError> {
        let unknown = |run_id| StoreError::UnknownRun {
            run_id,
            machine: machine.machine.name.clone(),
        };
        let id = match run_id {
            Some(id) => match self.run_rec(id) {
                Some(run) if run.machine_id == machine.machine.id => id,
                _ => return Err(unknown(id)),
            },
            None => machine.runs.last().copied().ok_or_else(no_match)?,
        };
        match self.run_rec(id).and_then(|run| run.closed) {
            Some((Closure::Aborted, _)) => Err(StoreError::RunAborted {
                run_id: id,
                machine: machine.machine.name.clone(),
            }),
            _ => Ok(id),
        }
    }

    /// The test an event names, which must hold `wanted`.
    fn find_test(
        &self,
        run_id: RunId,
        file_path: &str,
        file_name: &str,
        index: Option<u32>,
        wanted: Status,
    ) -> Option<NodeId> {
        let run = self.run_rec(run_id)?;
        let candidate = match (index, wanted) {
            (Some(index), _) if index < run.test_count => Some(run.first_test + i64::from(index)),
            (Some(_), _) => None,
            (None, Status::Running) => run.running,
            (None, _) => run
                .waiting
                .get(&(file_path.to_owned(), file_name.to_owned()))
                .and_then(|ids| ids.first().copied()),
        }?;
        let test = &self.tests.get(slot(candidate)?)?.node;
        (test.status == wanted && test.file_path == file_path && test.file_name == file_name)
            .then_some(candidate)
    }

    /// A test the store presumed `unknown` when it closed or superseded the run, which a late
    /// event of its rig may still move ([`presumed_for`]): the one at `index`, else the first
    /// in plan order with this path and name.
    fn find_presumed(
        &self,
        run_id: RunId,
        file_path: &str,
        file_name: &str,
        index: Option<u32>,
        wanted: Status,
    ) -> Option<NodeId> {
        self.first_fitting(run_id, file_path, file_name, index, |t| {
            presumed_for(t.status, t.timestamp_start, t.timestamp_stop) == Some(wanted)
        })
    }

    /// The test at `index` if it fits, else (without `index`) the first in plan order with this
    /// path and name that fits: the lookup of retries and late events, O(tests sharing the
    /// name).
    fn first_fitting(
        &self,
        run_id: RunId,
        file_path: &str,
        file_name: &str,
        index: Option<u32>,
        fits: impl Fn(&Node) -> bool,
    ) -> Option<NodeId> {
        let run = self.run_rec(run_id)?;
        let fitting = |id: NodeId| {
            slot(id).and_then(|i| self.tests.get(i)).is_some_and(|t| {
                let t = &t.node;
                t.file_path == file_path && t.file_name == file_name && fits(t)
            })
        };
        match index {
            Some(index) if index < run.test_count => {
                let id = run.first_test + i64::from(index);
                fitting(id).then_some(id)
            }
            Some(_) => None,
            None => run
                .by_name
                .get(&(file_path.to_owned(), file_name.to_owned()))?
                .iter()
                .copied()
                .find(|id| fitting(*id)),
        }
    }

    /// The test an event names: one holding `wanted`, else one presumed to.
    fn find_or_presumed(
        &self,
        run_id: RunId,
        file_path: &str,
        file_name: &str,
        index: Option<u32>,
        wanted: Status,
    ) -> Option<NodeId> {
        self.find_test(run_id, file_path, file_name, index, wanted)
            .or_else(|| self.find_presumed(run_id, file_path, file_name, index, wanted))
    }

    /// A run that hears from its rig again is no longer closed as stale.
    fn reopen_if_stale(&mut self, run_id: RunId) {
        let run = self.run_mut(run_id);
        if matches!(run.closed, Some((Closure::Stale, _))) {
            run.closed = None;
        }
    }

    /// The finished test a start of attempt `attempt` (≥ 2) retries: the one at `index`, else
    /// the first in plan order with this path and name and `attempt − 1` attempts.
    fn find_retry(&self, run_id: RunId, start: &TestStart, attempt: u32) -> Option<NodeId> {
        self.first_fitting(
            run_id,
            &start.file_path,
            &start.file_name,
            start.index,
            |t| t.status.is_finished() && t.attempts == attempt - 1,
        )
    }

    /// Moves one test to `new`, keeping counters, indexes and timestamps right.
    fn set_test_status(&mut self, test_id: NodeId, new: Status, at: Timestamp) {
        let (old, run_id, scenario_id, key) = {
            let test = self.test_mut(test_id);
            let old = test.node.status;
            test.node.status = new;
            match new {
                Status::Running => {
                    test.node.timestamp_start = Some(at);
                    test.node.timestamp_stop = None;
                }
                Status::Waiting => {}
                _ => test.node.timestamp_stop = Some(at),
            }
            let key = (test.node.file_path.clone(), test.node.file_name.clone());
            (old, test.node.run_id, test.scenario, key)
        };

        let scenario = self.scenario_mut(scenario_id);
        scenario.progress.test_moved(old, new, at);
        sync(&mut scenario.node, &scenario.progress);

        let run = self.run_mut(run_id);
        run.progress.test_moved(old, new, at);
        sync(&mut run.master, &run.progress);
        if old == Status::Waiting
            && let Some(ids) = run.waiting.get_mut(&key)
        {
            ids.remove(&test_id);
            if ids.is_empty() {
                run.waiting.remove(&key);
            }
        }
        if new == Status::Waiting {
            run.waiting.entry(key).or_default().insert(test_id);
        }
        if old == Status::Running && run.running == Some(test_id) {
            run.running = None;
        }
        if new == Status::Running {
            run.running = Some(test_id);
        }
    }

    /// Moves every ongoing test of a run to `to` (superseded → unknown, cancelled).
    fn finish_ongoing(&mut self, run_id: RunId, to: Status, at: Timestamp) {
        let Some(run) = self.run_rec(run_id) else {
            return;
        };
        if run.progress.counts.ongoing() == 0 {
            return;
        }
        let scenario_ids = run.scenario_ids.clone();
        for scenario_id in scenario_ids {
            let test_ids = {
                let scenario = self.scenario_mut(scenario_id);
                if scenario.progress.counts.ongoing() == 0 {
                    continue;
                }
                scenario.progress.ongoing_finished(to, at);
                sync(&mut scenario.node, &scenario.progress);
                scenario.tests.clone()
            };
            for test_id in test_ids {
                let test = self.test_mut(test_id);
                if test.node.status.is_ongoing() {
                    test.node.status = to;
                }
            }
        }
        let run = self.run_mut(run_id);
        run.progress.ongoing_finished(to, at);
        sync(&mut run.master, &run.progress);
        run.waiting.clear();
        run.running = None;
    }

    fn applied(
        &self,
        kind: EventKind,
        machine_id: MachineId,
        run_id: RunId,
        test_id: Option<NodeId>,
    ) -> Applied {
        let run_status = self
            .run_rec(run_id)
            .map(|run| run.master.status)
            .unwrap_or(Status::Unknown);
        Applied {
            kind,
            machine_id,
            run_id,
            run_status,
            test_id,
            duplicate: false,
        }
    }

    fn apply_dry_run(&mut self, dry: &DryRun, now: Timestamp) -> Applied {
        let machine_id = self.machine_for(&dry.machine_name);
        self.close_ongoing_runs(machine_id, dry.timestamp, now);

        let run_id = next_id(self.runs.len());
        let mut run = self.new_run(dry, machine_id, run_id, now);
        self.plan(&mut run, &lay_out(&dry.master_scenario));
        run.progress = Progress::planned(run.progress.counts.total(), run.progress.empty_children);
        sync(&mut run.master, &run.progress);
        self.runs.push(run);
        if let Some(machine) = self
            .machines
            .get_mut(slot(machine_id).unwrap_or(usize::MAX))
        {
            machine.runs.push(run_id);
        }
        self.applied(EventKind::DryRun, machine_id, run_id, None)
    }

    /// The machine named `name`, added if it is new.
    fn machine_for(&mut self, name: &str) -> MachineId {
        let key = name_key(name);
        match self.by_name.get(&key) {
            Some(id) => *id,
            None => {
                let id = next_id(self.machines.len());
                self.machines.push(MachineRec {
                    machine: Machine {
                        id,
                        name: name.to_owned(),
                    },
                    runs: Vec::new(),
                    deleted: false,
                });
                self.by_name.insert(key, id);
                id
            }
        }
    }

    /// A dry run's first step: the machine's ongoing runs end, their ongoing tests `unknown`.
    fn close_ongoing_runs(&mut self, machine_id: MachineId, at: Timestamp, now: Timestamp) {
        let earlier: Vec<RunId> = self
            .machines
            .get(slot(machine_id).unwrap_or(usize::MAX))
            .map(|m| m.runs.clone())
            .unwrap_or_default();
        for run_id in earlier {
            let ongoing = self
                .run_rec(run_id)
                .is_some_and(|run| run.progress.counts.ongoing() > 0);
            if ongoing {
                self.finish_ongoing(run_id, Status::Unknown, at);
                // Closing it is this event's doing: the superseded run heard of it now.
                self.run_mut(run_id).last_event_at = now;
            }
        }
    }

    /// The run a dry run starts, before its plan is added.
    fn new_run(
        &self,
        dry: &DryRun,
        machine_id: MachineId,
        run_id: RunId,
        now: Timestamp,
    ) -> RunRec {
        let master = &dry.master_scenario;
        let first_test = next_id(self.tests.len());
        RunRec {
            machine_id,
            timestamp: dry.timestamp,
            master: Node {
                id: run_id,
                kind: NodeKind::Master,
                run_id,
                position: 0,
                file_name: master.file_name.clone(),
                file_path: master.file_path.clone(),
                script: master.script.clone(),
                status: Status::Waiting,
                timestamp_start: None,
                timestamp_stop: None,
                message: None,
                attempts: 0,
                occurrence: 0,
            },
            progress: Progress::planned(0, 0),
            scenario_ids: Vec::with_capacity(master.scenarios.len()),
            first_test,
            test_count: 0,
            running: None,
            waiting: HashMap::new(),
            by_name: HashMap::new(),
            last_event_at: now,
            closed: None,
            labels: dry.labels.clone(),
        }
    }

    /// Adds a dry run's plan to `run`: its scenarios, then their tests.
    fn plan(&mut self, run: &mut RunRec, layout: &PlanLayout<'_>) {
        let first_scenario = self.scenarios.len();
        for scenario in &layout.scenarios {
            let scenario_id = self.plan_scenario(run, scenario);
            run.scenario_ids.push(scenario_id);
        }
        for test in &layout.tests {
            let scenario_id = next_id(first_scenario + test.scenario);
            let test_id = self.plan_test(run, scenario_id, test);
            self.scenario_mut(scenario_id).tests.push(test_id);
        }
    }

    /// Adds one scenario of a dry run's plan to `run`, before its tests; answers its id.
    fn plan_scenario(&mut self, run: &mut RunRec, scenario: &PlannedScenario<'_>) -> NodeId {
        let scenario_id = next_id(self.scenarios.len());
        let test_count = scenario.test_count as u64;
        let progress = Progress::planned(test_count, 0);
        if test_count == 0 {
            run.progress.empty_children += 1;
        }
        run.progress.counts.add_n(Status::Waiting, test_count);
        self.scenarios.push(ScenarioRec {
            node: Node {
                id: scenario_id,
                kind: NodeKind::Scenario,
                run_id: run.master.id,
                position: scenario.position,
                file_name: scenario.file_name.to_owned(),
                file_path: scenario.file_path.to_owned(),
                script: scenario.script.map(str::to_owned),
                status: progress.status,
                timestamp_start: None,
                timestamp_stop: None,
                message: None,
                attempts: 0,
                occurrence: scenario.occurrence,
            },
            progress,
            tests: Vec::with_capacity(scenario.test_count),
        });
        scenario_id
    }

    /// Adds one test of a dry run's plan to `run`; answers its id.
    fn plan_test(
        &mut self,
        run: &mut RunRec,
        scenario_id: NodeId,
        test: &PlannedTest<'_>,
    ) -> NodeId {
        let test_id = next_id(self.tests.len());
        self.tests.push(TestRec {
            node: Node {
                id: test_id,
                kind: NodeKind::Test,
                run_id: run.master.id,
                position: test.position,
                file_name: test.file_name.to_owned(),
                file_path: test.file_path.to_owned(),
                script: test.script.map(str::to_owned),
                status: Status::Waiting,
                timestamp_start: None,
                timestamp_stop: None,
                message: None,
                attempts: 0,
                occurrence: test.occurrence,
            },
            scenario: scenario_id,
            history: Vec::new(),
        });
        let key = (test.file_path.to_owned(), test.file_name.to_owned());
        run.by_name.entry(key.clone()).or_default().push(test_id);
        run.waiting.entry(key).or_default().insert(test_id);
        run.test_count += 1;
        test_id
    }

    fn apply_start(&mut self, start: &TestStart) -> Result<Applied, StoreError> {
        let machine = self.machine_named(&start.machine_name)?;
        let machine_id = machine.machine.id;
        let no_match = || StoreError::NoMatchingTest {
            machine: start.machine_name.clone(),
            file_path: start.file_path.clone(),
            file_name: start.file_name.clone(),
            wanted: Status::Waiting,
            index: start.index,
        };
        let run_id = self.target_run(machine, start.run_id, no_match)?;
        let attempt = start.attempt.unwrap_or(1);
        let test_id = if attempt >= 2 {
            self.find_retry(run_id, start, attempt)
        } else {
            self.find_or_presumed(
                run_id,
                &start.file_path,
                &start.file_name,
                start.index,
                Status::Waiting,
            )
        }
        .ok_or_else(no_match)?;
        if let Some(other) = self.run_rec(run_id).and_then(|run| run.running) {
            self.set_test_status(other, Status::Unknown, start.timestamp_start);
        }
        self.reopen_if_stale(run_id);
        let test = self.test_mut(test_id);
        if test.node.attempts > 0 {
            let previous = Attempt::current(&test.node);
            test.history.push(previous);
            test.node.message = None;
        }
        test.node.attempts = attempt;
        self.set_test_status(test_id, Status::Running, start.timestamp_start);
        Ok(self.applied(EventKind::TestStart, machine_id, run_id, Some(test_id)))
    }

    fn apply_stop(&mut self, stop: &TestStop) -> Result<Applied, StoreError> {
        let machine = self.machine_named(&stop.machine_name)?;
        let machine_id = machine.machine.id;
        let no_match = || StoreError::NoMatchingTest {
            machine: stop.machine_name.clone(),
            file_path: stop.file_path.clone(),
            file_name: stop.file_name.clone(),
            wanted: Status::Running,
            index: stop.index,
        };
        let run_id = self.target_run(machine, stop.run_id, no_match)?;
        let test_id = self
            .find_or_presumed(
                run_id,
                &stop.file_path,
                &stop.file_name,
                stop.index,
                Status::Running,
            )
            .ok_or_else(no_match)?;
        if let Some(given) = stop.attempt {
            let running = self
                .tests
                .get(slot(test_id).unwrap_or(usize::MAX))
                .map_or(0, |t| t.node.attempts);
            if given != running {
                return Err(StoreError::AttemptMismatch {
                    machine: stop.machine_name.clone(),
                    file_path: stop.file_path.clone(),
                    file_name: stop.file_name.clone(),
                    given,
                    running,
                });
            }
        }
        self.reopen_if_stale(run_id);
        self.set_test_status(test_id, stop.status, stop.timestamp_stop);
        self.test_mut(test_id).node.message = stop.message.clone();
        if stop.status == Status::Cancelled {
            self.finish_ongoing(run_id, Status::Cancelled, stop.timestamp_stop);
        }
        Ok(self.applied(EventKind::TestStop, machine_id, run_id, Some(test_id)))
    }

    fn summary(&self, run_id: RunId) -> Option<RunSummary> {
        let run = self.run_rec(run_id)?;
        Some(RunSummary {
            id: run_id,
            machine_id: run.machine_id,
            timestamp: run.timestamp,
            status: run.master.status,
            counts: run.progress.counts,
            scenarios: run.scenario_ids.len() as u64,
            timestamp_start: run.master.timestamp_start,
            timestamp_stop: run.master.timestamp_stop,
            last_event_at: Some(run.last_event_at),
            stale: run.closed.map(|(why, _)| why) == Some(Closure::Stale),
            closed_at: run.closed.map(|(_, at)| at),
            closed_as: run.closed.map(|(why, _)| why),
            labels: run.labels.clone(),
        })
    }

    /// Closes one ongoing run; a finished one is left as it is.
    fn close(&mut self, run_id: RunId, why: Closure, at: Timestamp) {
        let ongoing = self
            .run_rec(run_id)
            .is_some_and(|run| run.progress.counts.ongoing() > 0);
        if ongoing {
            self.finish_ongoing(run_id, closing_status(why), at);
            self.run_mut(run_id).closed = Some((why, at));
        }
    }

    fn tree(&self, run_id: RunId) -> Option<RunTree> {
        let run = self.run_rec(run_id)?;
        let machine = self.machine_rec(run.machine_id)?.machine.clone();
        let scenarios = run
            .scenario_ids
            .iter()
            .filter_map(|id| self.scenarios.get(slot(*id)?))
            .map(|scenario| ScenarioTree {
                node: scenario.node.clone(),
                tests: scenario
                    .tests
                    .iter()
                    .filter_map(|id| Some(self.tests.get(slot(*id)?)?.node.clone()))
                    .collect(),
            })
            .collect();
        Some(RunTree {
            run: self.summary(run_id)?,
            machine,
            master: run.master.clone(),
            scenarios,
        })
    }
}

impl Store for MemoryStore {
    fn apply(&self, event: &Event, now: Timestamp) -> Result<Applied, StoreError> {
        if let Event::TestOutput(output) = event {
            return self.append_output(output, OutputLimit::default(), now);
        }
        let mut state = self.lock()?;
        if let Some(id) = event.event_id()
            && let Some(applied) = state.applied.get(id).or(state.output_applied.get(id))
        {
            let machine = state.by_name.get(&name_key(event.machine_name()));
            if machine != Some(&applied.machine_id) {
                return Err(StoreError::EventIdReused {
                    event_id: id.to_owned(),
                    machine: event.machine_name().to_owned(),
                });
            }
            return Ok(Applied {
                duplicate: true,
                ..applied.clone()
            });
        }
        let applied = match event {
            Event::DryRun(dry) => state.apply_dry_run(dry, now),
            Event::TestStart(start) => state.apply_start(start)?,
            Event::TestStop(stop) => state.apply_stop(stop)?,
            Event::TestOutput(_) => unreachable!("output is appended above"),
        };
        if let Some(id) = event.event_id() {
            state.applied.insert(id.to_owned(), applied.clone());
        }
        state.run_mut(applied.run_id).last_event_at = now;
        Ok(applied)
    }

    fn append_output(
        &self,
        output: &TestOutput,
        limit: OutputLimit,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let mut state = self.lock()?;
        let batch = &output.batch;
        let machine = state.machine_named(&batch.machine_name)?;
        let machine_id = machine.machine.id;
        if let Some(applied) = state
            .output_applied
            .get(&batch.event_id)
            .or(state.applied.get(&batch.event_id))
        {
            if applied.machine_id != machine_id {
                return Err(StoreError::EventIdReused {
                    event_id: batch.event_id.clone(),
                    machine: batch.machine_name.clone(),
                });
            }
            return Ok(Applied {
                duplicate: true,
                ..applied.clone()
            });
        }
        let run_id = state.target_run(machine, output.run_id, || StoreError::UnknownRun {
            run_id: 0,
            machine: batch.machine_name.clone(),
        })?;
        let test_id = match state.run_rec(run_id) {
            Some(run) if output.index < run.test_count => run.first_test + i64::from(output.index),
            _ => {
                return Err(StoreError::UnknownTest {
                    run_id,
                    index: output.index,
                });
            }
        };
        let rec = state.outputs.entry(test_id).or_default();
        let placement = place_batch(limit, rec.ends, &batch.lines);
        let ends = placement.ends;
        for line in placement.lines {
            if line.offset < ends.head_end {
                rec.head.push(line);
            } else {
                rec.tail.push_back(line);
            }
        }
        while rec.tail.front().is_some_and(|l| !retained(limit, ends, l)) {
            rec.tail.pop_front();
        }
        rec.ends = ends;
        rec.total_bytes += placement.received;
        rec.total_lines += batch.lines.len() as u64;
        let applied = state.applied(EventKind::TestOutput, machine_id, run_id, Some(test_id));
        state
            .output_applied
            .insert(batch.event_id.clone(), applied.clone());
        state.run_mut(run_id).last_event_at = now;
        Ok(applied)
    }

    fn output_after(
        &self,
        test: NodeId,
        after: Option<u64>,
    ) -> Result<Option<Vec<StoredLine>>, StoreError> {
        let state = self.lock()?;
        let visible = slot(test)
            .and_then(|i| state.tests.get(i))
            .is_some_and(|t| state.run_rec(t.node.run_id).is_some());
        if !visible {
            return Ok(None);
        }
        let Some(rec) = state.outputs.get(&test) else {
            return Ok(Some(Vec::new()));
        };
        Ok(Some(
            rec.head
                .iter()
                .chain(&rec.tail)
                .filter(|line| after.is_none_or(|after| line.offset > after))
                .cloned()
                .collect(),
        ))
    }

    fn output(&self, test: NodeId) -> Result<Option<OutputLog>, StoreError> {
        let state = self.lock()?;
        let visible = slot(test)
            .and_then(|i| state.tests.get(i))
            .is_some_and(|t| state.run_rec(t.node.run_id).is_some());
        if !visible {
            return Ok(None);
        }
        let Some(rec) = state.outputs.get(&test) else {
            return Ok(Some(OutputLog {
                test_id: test,
                ..OutputLog::default()
            }));
        };
        Ok(Some(OutputLog::from_stored(
            test,
            rec.head.iter().chain(&rec.tail).cloned(),
            rec.total_lines,
            rec.total_bytes,
        )))
    }

    fn machines(&self, page: PageRequest) -> Result<Page<MachineSummary>, StoreError> {
        let state = self.lock()?;
        let all: Vec<MachineSummary> = state
            .machines
            .iter()
            .filter(|m| !m.deleted)
            .map(|m| {
                let last = m.runs.last().and_then(|id| state.run_rec(*id));
                MachineSummary {
                    machine: m.machine.clone(),
                    last_run_status: last.map(|run| run.master.status),
                    last_run_id: m.runs.last().copied(),
                }
            })
            .collect();
        Ok(Page::of(all.into_iter(), page))
    }

    fn machine(&self, id: MachineId) -> Result<Option<Machine>, StoreError> {
        let state = self.lock()?;
        Ok(state.machine_rec(id).map(|m| m.machine.clone()))
    }

    fn machine_by_name(&self, name: &str) -> Result<Option<Machine>, StoreError> {
        let state = self.lock()?;
        Ok(state.machine_named(name).ok().map(|m| m.machine.clone()))
    }

    fn runs(&self, machine: MachineId, page: PageRequest) -> Result<Page<RunSummary>, StoreError> {
        let state = self.lock()?;
        let Some(rec) = state.machine_rec(machine) else {
            return Ok(Page {
                items: Vec::new(),
                total: 0,
            });
        };
        let summaries: Vec<RunSummary> = rec
            .runs
            .iter()
            .rev()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(usize::try_from(page.size).unwrap_or(usize::MAX))
            .filter_map(|id| state.summary(*id))
            .collect();
        Ok(Page {
            items: summaries,
            total: rec.runs.len() as u64,
        })
    }

    fn find_runs(
        &self,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Page<RunSummary>, StoreError> {
        let state = self.lock()?;
        let found: Vec<RunSummary> = state
            .machines
            .iter()
            .filter(|m| !m.deleted)
            .flat_map(|m| m.runs.iter())
            .filter_map(|id| state.summary(*id))
            .filter(|run| filter.matches(run))
            .collect();
        let mut found = found;
        found.sort_by_key(|run| std::cmp::Reverse(run.id));
        Ok(Page::of(found.into_iter(), page))
    }

    fn run(&self, id: RunId) -> Result<Option<RunTree>, StoreError> {
        Ok(self.lock()?.tree(id))
    }

    fn last_run(&self, machine: MachineId) -> Result<Option<RunTree>, StoreError> {
        let state = self.lock()?;
        let last = state
            .machine_rec(machine)
            .and_then(|m| m.runs.last().copied());
        Ok(last.and_then(|id| state.tree(id)))
    }

    fn node(&self, kind: NodeKind, id: NodeId) -> Result<Option<Node>, StoreError> {
        let state = self.lock()?;
        let index = slot(id);
        let node = match kind {
            NodeKind::Master => state.run_rec(id).map(|r| r.master.clone()),
            NodeKind::Scenario => index
                .and_then(|i| state.scenarios.get(i))
                .map(|s| s.node.clone()),
            NodeKind::Test => index
                .and_then(|i| state.tests.get(i))
                .map(|t| t.node.clone()),
        };
        Ok(node.filter(|node| state.run_rec(node.run_id).is_some()))
    }

    fn attempts(&self, test: NodeId) -> Result<Vec<Attempt>, StoreError> {
        let state = self.lock()?;
        let Some(test) = slot(test)
            .and_then(|i| state.tests.get(i))
            .filter(|t| state.run_rec(t.node.run_id).is_some())
        else {
            return Ok(Vec::new());
        };
        let mut attempts = test.history.clone();
        if test.node.attempts > 0 {
            attempts.push(Attempt::current(&test.node));
        }
        Ok(attempts)
    }

    fn test_history(&self, test: NodeId, limit: u32) -> Result<Vec<TestResult>, StoreError> {
        let state = self.lock()?;
        let Some(node) = slot(test).and_then(|i| state.tests.get(i)).map(|t| &t.node) else {
            return Ok(Vec::new());
        };
        let Some(machine) = state
            .run_rec(node.run_id)
            .and_then(|run| state.machine_rec(run.machine_id))
        else {
            return Ok(Vec::new());
        };
        let key = (node.file_path.clone(), node.file_name.clone());
        let occurrence = usize::try_from(node.occurrence).unwrap_or(usize::MAX);
        let results = machine
            .runs
            .iter()
            .rev()
            .filter_map(|id| {
                let run = state.run_rec(*id)?;
                let test_id = *run.by_name.get(&key)?.get(occurrence)?;
                let test = &state.tests.get(slot(test_id)?)?.node;
                Some(TestResult::of(test, run.timestamp))
            })
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        Ok(results)
    }

    fn previous_run(&self, run: RunId) -> Result<Option<RunId>, StoreError> {
        let state = self.lock()?;
        let Some(machine) = state
            .run_rec(run)
            .and_then(|rec| state.machine_rec(rec.machine_id))
        else {
            return Ok(None);
        };
        let at = machine.runs.partition_point(|id| *id < run);
        Ok(at.checked_sub(1).and_then(|i| machine.runs.get(i).copied()))
    }

    fn delete_machine(&self, machine: MachineId) -> Result<Option<u64>, StoreError> {
        let mut state = self.lock()?;
        let Some(rec) = slot(machine)
            .and_then(|i| state.machines.get_mut(i))
            .filter(|m| !m.deleted)
        else {
            return Ok(None);
        };
        rec.deleted = true;
        let runs = std::mem::take(&mut rec.runs).len() as u64;
        let key = name_key(&rec.machine.name);
        state.by_name.remove(&key);
        state
            .applied
            .retain(|_, applied| applied.machine_id != machine);
        state
            .output_applied
            .retain(|_, applied| applied.machine_id != machine);
        Ok(Some(runs))
    }

    fn abort(&self, run: RunId, at: Timestamp) -> Result<Option<RunSummary>, StoreError> {
        let mut state = self.lock()?;
        if state.run_rec(run).is_none() {
            return Ok(None);
        }
        state.close(run, Closure::Aborted, at);
        Ok(state.summary(run))
    }

    fn close_stale(
        &self,
        idle_since: Timestamp,
        at: Timestamp,
    ) -> Result<Vec<RunSummary>, StoreError> {
        let mut state = self.lock()?;
        let silent: Vec<RunId> = (1..)
            .zip(&state.runs)
            .filter(|(_, run)| {
                state.machine_rec(run.machine_id).is_some()
                    && run.progress.counts.ongoing() > 0
                    && run.last_event_at.as_micros() < idle_since.as_micros()
            })
            .map(|(id, _)| id)
            .collect();
        Ok(silent
            .into_iter()
            .filter_map(|id| {
                state.close(id, Closure::Stale, at);
                state.summary(id)
            })
            .collect())
    }
}

#[cfg(test)]
mod conformance {
    crate::store_conformance_tests!(Box::new(crate::MemoryStore::new()));
}
