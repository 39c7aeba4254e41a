//! Random event sequences for property tests of any [`Store`]: proptest strategies for the
//! steps a machine takes, and [`check_sequence`], which applies them one by one and checks the
//! store after every event.
//!
//! After each event the store under test must:
//! - answer as the reference, a [`MemoryStore`] fed the same events (the same `Applied`, or a
//!   refusal with the same error), and hold what it holds ([`dump`] equal);
//! - touch the test the rules pick (the first in plan order with that name and status), or
//!   refuse with a client error and change nothing when none fits;
//! - keep every aggregate equal to a naive recount from the tests' own statuses, with at most
//!   one test running per run.
//!
//! Stores keep counters and adjust them per transition; the recount after every event shows a
//! counter that drifts on some rare path (repeated names, a start that supersedes a running
//! test, a cancel, a new dry run, a refusal) as a shrunk event sequence.

use proptest::prelude::*;

use super::builders::{attempt, dry_run, start, stop};
use super::dump;
use crate::memory_store::MemoryStore;
use crate::model::{Node, NodeId, NodeKind, PageRequest, RunId, RunTree};
use crate::status::{Status, StatusCounts, aggregate};
use crate::store::{Applied, Store, StoreError};
use crate::wire::Event;

/// The one machine the sequences report for.
pub const MACHINE: &str = "rig-1";

/// Few names, so plans repeat them and starts must pick the first waiting one in plan order.
pub const NAMES: [&str; 4] = ["a.py", "b.py", "c.py", "d.py"];

/// One thing the machine does.
#[derive(Debug, Clone)]
pub enum Step {
    /// A new plan: scenarios, each a list of indexes into [`NAMES`].
    DryRun(Vec<Vec<usize>>),
    /// Start a test by name; `None` picks a name that has a waiting test, if any.
    Start(Option<usize>),
    /// Stop a test by name; `None` names the running test, if any.
    Stop(Option<usize>, Status),
    /// Start a finished test again as its next attempt; `None` picks a finished test, if any.
    Retry(Option<usize>),
}

/// A plan of one to four scenarios of up to six tests, names drawn from [`NAMES`].
pub fn plan() -> impl Strategy<Value = Vec<Vec<usize>>> {
    prop::collection::vec(prop::collection::vec(0..NAMES.len(), 0..=6), 1..=4)
}

fn stop_status() -> impl Strategy<Value = Status> {
    // Every status a stop may carry (`Event::parse` refuses the ongoing two), mostly those
    // runners send.
    prop_oneof![
        4 => Just(Status::Passed),
        2 => Just(Status::Failed),
        1 => Just(Status::Error),
        2 => Just(Status::Warning),
        1 => Just(Status::Unknown),
        1 => Just(Status::Cancelled),
        1 => Just(Status::Skipped),
    ]
}

fn name() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![1 => (0..NAMES.len()).prop_map(Some), 1 => Just(None)]
}

/// One step: mostly starts and stops (about half of them refused), some retries, few re-plans.
pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => plan().prop_map(Step::DryRun),
        8 => name().prop_map(Step::Start),
        8 => (name(), stop_status()).prop_map(|(name, status)| Step::Stop(name, status)),
        3 => name().prop_map(Step::Retry),
    ]
}

fn tests_of(tree: &RunTree) -> impl Iterator<Item = &Node> {
    tree.scenarios.iter().flat_map(|s| s.tests.iter())
}

/// Every run of the machine, oldest first.
fn runs(store: &dyn Store) -> Vec<RunTree> {
    let Some(machine) = store.machine_by_name(MACHINE).unwrap() else {
        return Vec::new();
    };
    let page = store.runs(machine.id, PageRequest::new(1, 100)).unwrap();
    let mut ids: Vec<RunId> = page.items.iter().map(|r| r.id).collect();
    ids.reverse();
    ids.into_iter()
        .map(|id| store.run(id).unwrap().unwrap())
        .collect()
}

fn check_aggregates(tree: &RunTree) -> Result<(), TestCaseError> {
    let statuses: Vec<Status> = tests_of(tree).map(|t| t.status).collect();
    prop_assert_eq!(
        tree.run.counts,
        StatusCounts::tally(statuses.iter().copied())
    );
    let mut scenario_statuses = Vec::new();
    for scenario in &tree.scenarios {
        let expected = if scenario.tests.is_empty() {
            Status::Unknown
        } else {
            aggregate(scenario.tests.iter().map(|t| t.status))
        };
        prop_assert_eq!(
            scenario.node.status,
            expected,
            "scenario {}",
            scenario.node.id
        );
        scenario_statuses.push(expected);
    }
    let master = aggregate(scenario_statuses);
    prop_assert_eq!(tree.master.status, master);
    prop_assert_eq!(tree.run.status, master);
    let running = statuses.iter().filter(|s| **s == Status::Running).count();
    prop_assert!(
        running <= 1,
        "{} tests running in run {}",
        running,
        tree.run.id
    );
    Ok(())
}

/// Turns a step into an event, resolving `None` names against the newest run, and says
/// which test (id) the store must touch, `None` when it must refuse (dry runs are never
/// refused).
fn event_for(step: &Step, newest: Option<&RunTree>, at: i64) -> (Event, Option<i64>) {
    let named = |index: Option<usize>, wanted: Status| {
        index.map(|i| NAMES[i]).or_else(|| {
            newest
                .and_then(|tree| tests_of(tree).find(|t| t.status == wanted))
                .map(|t| t.file_name.as_str())
        })
    };
    // The test the store must pick: the first one in plan order with that name and status.
    let target = |name: &str, wanted: Status| {
        newest.and_then(|tree| {
            tests_of(tree)
                .find(|t| t.file_name == name && t.status == wanted)
                .map(|t| t.id)
        })
    };
    match step {
        Step::DryRun(scenarios) => {
            let names: Vec<(String, Vec<&str>)> = scenarios
                .iter()
                .enumerate()
                .map(|(i, tests)| {
                    (
                        format!("s{i}.py"),
                        tests.iter().map(|t| NAMES[*t]).collect(),
                    )
                })
                .collect();
            let plan: Vec<(&str, &[&str])> = names
                .iter()
                .map(|(s, t)| (s.as_str(), t.as_slice()))
                .collect();
            (dry_run(MACHINE, at, &plan), None)
        }
        Step::Start(index) => {
            let name = named(*index, Status::Waiting).unwrap_or(NAMES[0]);
            (start(MACHINE, name, at), target(name, Status::Waiting))
        }
        Step::Stop(index, status) => {
            let name = named(*index, Status::Running).unwrap_or(NAMES[0]);
            (
                stop(MACHINE, name, *status, at),
                target(name, Status::Running),
            )
        }
        Step::Retry(index) => {
            let finished =
                |t: &&Node| t.status.is_finished() && index.is_none_or(|i| t.file_name == NAMES[i]);
            let first = newest.and_then(|tree| tests_of(tree).find(finished));
            let name = first.map_or(NAMES[index.unwrap_or(0)], |t| t.file_name.as_str());
            // Attempt 2 at least: a test finished without ever starting has no attempt to retry.
            let next = first.map_or(2, |t| (t.attempts + 1).max(2));
            // The store must pick the first finished test with that name and one attempt less.
            let target = newest.and_then(|tree| {
                tests_of(tree)
                    .find(|t| {
                        t.file_name == name && t.status.is_finished() && t.attempts + 1 == next
                    })
                    .map(|t| t.id)
            });
            (attempt(start(MACHINE, name, at), next), target)
        }
    }
}

/// Applies a dry run of `first`, then `steps`, to `store` (which must be empty), checking it
/// after every event as the module describes.
pub fn check_sequence(
    store: &dyn Store,
    first: Vec<Vec<usize>>,
    steps: Vec<Step>,
) -> Result<(), TestCaseError> {
    let reference = MemoryStore::new();
    // What the store held before each event: what the previous one left.
    let mut held = dump(store);
    let all = std::iter::once(Step::DryRun(first)).chain(steps);
    for (at, step) in (0_i64..).zip(all) {
        let before = runs(store);
        let (event, target) = event_for(&step, before.last(), at);
        // Both stores see the same clock, so their dumps compare `last_event_at` too.
        let now = super::builders::at(at);
        let result = store.apply(&event, now);
        let expected = reference.apply(&event, now);
        check_answer(&step, &result, &expected)?;
        let holds = dump(store);
        check_effect(store, &step, target, result, &holds, &held)?;
        prop_assert_eq!(
            &holds,
            &dump(&reference),
            "after {:?} the store holds what the reference does not",
            step
        );
        held = holds;
        for tree in runs(store) {
            check_aggregates(&tree)?;
        }
    }
    Ok(())
}

/// The store answered `step` as the reference did: the same `Applied`, or the same refusal.
fn check_answer(
    step: &Step,
    result: &Result<Applied, StoreError>,
    expected: &Result<Applied, StoreError>,
) -> Result<(), TestCaseError> {
    match (result, expected) {
        (Ok(applied), Ok(wanted)) => {
            prop_assert_eq!(applied, wanted, "{:?} answered unlike the reference", step);
        }
        (Err(err), Err(wanted)) => {
            prop_assert_eq!(
                err.to_string(),
                wanted.to_string(),
                "{:?} refused unlike the reference",
                step
            );
        }
        _ => prop_assert!(
            false,
            "{:?}: the store answered {:?}, the reference {:?}",
            step,
            result,
            expected
        ),
    }
    Ok(())
}

/// `step` did what the rules say: a dry run ended the earlier runs, a start or stop touched
/// `target` (the test the rules pick), and one that fits no test was refused, changing nothing
/// (`holds` is the store after it, `held` before).
fn check_effect(
    store: &dyn Store,
    step: &Step,
    target: Option<NodeId>,
    result: Result<Applied, StoreError>,
    holds: &serde_json::Value,
    held: &serde_json::Value,
) -> Result<(), TestCaseError> {
    match (step, target, result) {
        (Step::DryRun(_), _, Ok(applied)) => {
            let after = runs(store);
            prop_assert_eq!(after.last().map(|t| t.run.id), Some(applied.run_id));
            for earlier in &after[..after.len() - 1] {
                prop_assert_eq!(
                    earlier.run.counts.ongoing(),
                    0,
                    "run {} still ongoing",
                    earlier.run.id
                );
            }
        }
        (_, Some(test_id), Ok(applied)) => {
            prop_assert_eq!(
                applied.test_id,
                Some(test_id),
                "{:?} touched the wrong test",
                step
            );
            let test = store.node(NodeKind::Test, test_id).unwrap().unwrap();
            let expected = match step {
                Step::Stop(_, status) => *status,
                _ => Status::Running,
            };
            prop_assert_eq!(test.status, expected);
        }
        (_, None, Ok(applied)) => {
            prop_assert!(
                false,
                "{:?} matched no test but was applied: {:?}",
                step,
                applied
            );
        }
        (_, Some(test_id), Err(err)) => {
            prop_assert!(
                false,
                "{:?} should have reached test {}: {}",
                step,
                test_id,
                err
            );
        }
        (_, None, Err(err)) => {
            prop_assert!(err.is_client_error(), "{}", err);
            prop_assert_eq!(holds, held, "refused {:?} changed the store", step);
        }
    }
    Ok(())
}
