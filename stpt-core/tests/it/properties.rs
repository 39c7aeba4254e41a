//! Property: whatever sequence of events a machine sends, every stored aggregate equals a
//! naive recomputation from the tests' own statuses, at most one test runs per run, and a
//! refused event changes nothing.
//!
//! The store keeps counters and adjusts them per transition; this recomputes from scratch after
//! every event, so a counter that drifts on some rare path (repeated names, a start that
//! supersedes a running test, a cancel, a new dry run) shows up as a shrunk event sequence.

use proptest::prelude::*;
use proptest::sample::select;
use stpt_core::status::aggregate;
use stpt_core::testing::builders::{attempt, dry_run, start, stop};
use stpt_core::testing::dump;
use stpt_core::{Event, MemoryStore, RunId, RunTree, Status, StatusCounts, Store};

const MACHINE: &str = "rig-1";

/// Few names, so plans repeat them and starts must pick the first waiting one in plan order.
const NAMES: [&str; 4] = ["a.py", "b.py", "c.py", "d.py"];

#[derive(Debug, Clone)]
enum Step {
    /// A new plan: scenarios, each a list of indexes into `NAMES`.
    DryRun(Vec<Vec<usize>>),
    /// Start a test by name; `None` picks a name that has a waiting test, if any.
    Start(Option<usize>),
    /// Stop a test by name; `None` names the running test, if any.
    Stop(Option<usize>, Status),
    /// Start a finished test again as its next attempt; `None` picks a finished test, if any.
    Retry(Option<usize>),
}

fn plan() -> impl Strategy<Value = Vec<Vec<usize>>> {
    prop::collection::vec(prop::collection::vec(0..NAMES.len(), 0..=6), 1..=4)
}

fn stop_status() -> impl Strategy<Value = Status> {
    // Mostly the statuses runners send; the ongoing two are legal on the wire, so they appear too.
    prop_oneof![
        4 => Just(Status::Passed),
        2 => Just(Status::Failed),
        1 => Just(Status::Error),
        2 => Just(Status::Warning),
        1 => Just(Status::Unknown),
        1 => Just(Status::Cancelled),
        1 => select(vec![Status::Running, Status::Waiting]),
    ]
}

fn name() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![1 => (0..NAMES.len()).prop_map(Some), 1 => Just(None)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => plan().prop_map(Step::DryRun),
        8 => name().prop_map(Step::Start),
        8 => (name(), stop_status()).prop_map(|(name, status)| Step::Stop(name, status)),
        3 => name().prop_map(Step::Retry),
    ]
}

fn tests_of(tree: &RunTree) -> impl Iterator<Item = &stpt_core::Node> {
    tree.scenarios.iter().flat_map(|s| s.tests.iter())
}

/// Every run of the machine, oldest first.
fn runs(store: &MemoryStore) -> Vec<RunTree> {
    let Some(machine) = store.machine_by_name(MACHINE).unwrap() else {
        return Vec::new();
    };
    let page = store
        .runs(machine.id, stpt_core::PageRequest::new(1, 100))
        .unwrap();
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
/// whether the store must accept it and which test (id) it must touch.
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
            let finished = |t: &&stpt_core::Node| {
                t.status.is_finished() && index.is_none_or(|i| t.file_name == NAMES[i])
            };
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

fn run_steps(first: Vec<Vec<usize>>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let store = MemoryStore::new();
    let all = std::iter::once(Step::DryRun(first)).chain(steps);
    for (at, step) in (0_i64..).zip(all) {
        let before = runs(&store);
        let (event, target) = event_for(&step, before.last(), at);
        let dumped = dump(&store);
        let result = store.apply(&event);
        match (&step, target, result) {
            (Step::DryRun(_), _, Ok(applied)) => {
                let after = runs(&store);
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
                let test = store
                    .node(stpt_core::NodeKind::Test, test_id)
                    .unwrap()
                    .unwrap();
                let expected = match &step {
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
                prop_assert_eq!(dump(&store), dumped, "refused {:?} changed the store", step);
            }
        }
        for tree in runs(&store) {
            check_aggregates(&tree)?;
        }
    }
    Ok(())
}

proptest! {
    // Enough cases to reach cancels, supersessions and re-plans often, yet a few seconds long.
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn aggregates_equal_a_recount_after_every_event(
        first in plan(),
        steps in prop::collection::vec(step(), 0..40),
    ) {
        run_steps(first, steps)?;
    }
}
