//! The Store conformance suite: one set of cases that every [`Store`] must pass.
//!
//! Each case takes a fresh, empty store. Run them all for a store with
//! [`store_conformance_tests!`](crate::store_conformance_tests).
#![allow(
    clippy::too_many_lines,
    reason = "a case is one scenario of events and checks, told from start to end"
)]

use super::builders::{
    addressed, at, attempt, dry_run, labelled, output, seed_fixtures, start, stop, with_event_id,
};
use super::dump;
use crate::model::{Closure, NodeKind, PageRequest, RunFilter, RunTree};
use crate::output::OutputLimit;
use crate::status::Status;
use crate::store::{Applied, Store, StoreError};
use crate::timestamp::Timestamp;
use crate::wire::{Event, EventKind, WireError};

const M: &str = "rig-1";

fn apply(store: &dyn Store, event: Event) -> Applied {
    store
        .apply(&event, Timestamp::now())
        .unwrap_or_else(|e| panic!("applying {:?} failed: {e}", event.kind()))
}

fn last(store: &dyn Store, machine: &str) -> RunTree {
    let machine = store
        .machine_by_name(machine)
        .unwrap_or_else(|e| panic!("machine_by_name: {e}"))
        .unwrap_or_else(|| panic!("machine {machine} missing"));
    store
        .last_run(machine.id)
        .unwrap_or_else(|e| panic!("last_run: {e}"))
        .unwrap_or_else(|| panic!("machine has no run"))
}

fn run(store: &dyn Store, id: i64) -> RunTree {
    store
        .run(id)
        .unwrap_or_else(|e| panic!("run: {e}"))
        .unwrap_or_else(|| panic!("run {id} missing"))
}

/// Test statuses of a run in plan order.
fn statuses(tree: &RunTree) -> Vec<Status> {
    tree.scenarios
        .iter()
        .flat_map(|s| s.tests.iter().map(|t| t.status))
        .collect()
}

fn assert_rejected_unchanged(store: &dyn Store, event: Event, check: impl Fn(&StoreError) -> bool) {
    let before = dump(store);
    match store.apply(&event, Timestamp::now()) {
        Ok(applied) => panic!("expected a rejection, got {applied:?}"),
        Err(err) => {
            assert!(check(&err), "unexpected error: {err:?}");
            assert!(
                err.is_client_error(),
                "{err:?} should be the client's error"
            );
        }
    }
    assert_eq!(dump(store), before, "a rejected event changed the store");
}

fn with_message(mut event: Event, message: &str) -> Event {
    if let Event::TestStop(stop) = &mut event {
        stop.message = Some(message.to_owned());
    }
    event
}

/// Declares the cases and lists them in [`CASES`] from the same declarations, so a case cannot
/// exist without being listed; `store_conformance_tests!` checks its own list against it.
macro_rules! conformance_cases {
    ($($(#[$meta:meta])* pub fn $name:ident($store:ident: &dyn Store) $body:block)*) => {
        $($(#[$meta])* pub fn $name($store: &dyn Store) $body)*

        /// Every case of the suite, by name, in declaration order.
        pub const CASES: &[&str] = &[$(stringify!($name)),*];
    };
}

conformance_cases! {
/// A dry run creates the machine and stores the plan with every node waiting.
pub fn dry_run_creates_machine_and_waiting_plan(store: &dyn Store) {
    let applied = apply(
        store,
        dry_run(M, 0, &[("s1.py", &["a.py", "b.py"]), ("s2.py", &["c.py"])]),
    );
    assert_eq!(applied.kind, EventKind::DryRun);
    assert_eq!(applied.run_status, Status::Waiting);
    assert!(!applied.duplicate);
    let machine = store.machine(applied.machine_id).unwrap().unwrap();
    assert_eq!(machine.name, M);
    let tree = run(store, applied.run_id);
    assert_eq!(tree.machine, machine);
    assert_eq!(tree.run.id, applied.run_id);
    assert_eq!(tree.master.id, applied.run_id);
    assert_eq!(tree.master.file_name, "master.py");
    assert_eq!(tree.master.script.as_deref(), Some("run_all()"));
    assert_eq!(tree.master.status, Status::Waiting);
    assert_eq!(tree.run.timestamp, at(0));
    assert_eq!(tree.run.scenarios, 2);
    assert_eq!(tree.run.tests(), 3);
    assert_eq!(tree.run.counts.get(Status::Waiting), 3);
    let names: Vec<_> = tree
        .scenarios
        .iter()
        .map(|s| s.node.file_name.as_str())
        .collect();
    assert_eq!(names, ["s1.py", "s2.py"]);
    let tests: Vec<_> = tree
        .scenarios
        .iter()
        .flat_map(|s| {
            s.tests
                .iter()
                .map(|t| (t.file_name.as_str(), t.position, t.status))
        })
        .collect();
    assert_eq!(
        tests,
        [
            ("a.py", 0, Status::Waiting),
            ("b.py", 1, Status::Waiting),
            ("c.py", 2, Status::Waiting)
        ]
    );
    let a = &tree.scenarios[0].tests[0];
    assert_eq!(a.script.as_deref(), Some("print('a.py')"));
    assert_eq!((a.timestamp_start, a.timestamp_stop), (None, None));
    assert_eq!(store.node(NodeKind::Test, a.id).unwrap().as_ref(), Some(a));
}

/// `Rig-1` and `rig-1` are one machine, keeping the name it first reported.
pub fn machine_names_compare_case_insensitively(store: &dyn Store) {
    let first = apply(store, dry_run("Rig-1", 0, &[("s.py", &["a.py"])]));
    let second = apply(store, dry_run("RIG-1", 10, &[("s.py", &["a.py"])]));
    assert_eq!(first.machine_id, second.machine_id);
    assert_ne!(first.run_id, second.run_id);
    assert_eq!(
        store.machine_by_name("rig-1").unwrap().unwrap().name,
        "Rig-1"
    );
    apply(store, start("rIG-1", "a.py", 11));
    assert_eq!(statuses(&last(store, "rig-1")), [Status::Running]);
    assert_eq!(store.machines(PageRequest::new(1, 10)).unwrap().total, 1);
}

/// A machine's runs come newest first; its summary shows the newest run's status.
pub fn runs_are_listed_newest_first(store: &dyn Store) {
    let ids: Vec<_> = (0..3)
        .map(|i| apply(store, dry_run(M, i * 10, &[("s.py", &["a.py"])])).run_id)
        .collect();
    let machine = store.machine_by_name(M).unwrap().unwrap();
    let page = store.runs(machine.id, PageRequest::new(1, 10)).unwrap();
    assert_eq!(page.total, 3);
    let listed: Vec<_> = page.items.iter().map(|r| r.id).collect();
    assert_eq!(listed, [ids[2], ids[1], ids[0]]);
    let machines = store.machines(PageRequest::new(1, 10)).unwrap();
    assert_eq!(machines.items[0].last_run_id, Some(ids[2]));
    assert_eq!(machines.items[0].last_run_status, Some(Status::Waiting));
    assert_eq!(last(store, M).run.id, ids[2]);
}

/// A new dry run marks the ongoing tests of earlier runs `unknown`; finished ones stay.
pub fn dry_run_marks_earlier_ongoing_tests_unknown(store: &dyn Store) {
    let old = apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py", "c.py"])])).run_id;
    apply(store, start(M, "a.py", 1));
    apply(store, stop(M, "a.py", Status::Passed, 2));
    apply(store, start(M, "b.py", 3));
    let other = apply(store, dry_run("rig-2", 4, &[("s.py", &["a.py"])])).run_id;
    let new = apply(store, dry_run(M, 5, &[("s.py", &["a.py"])]));
    let old_tree = run(store, old);
    assert_eq!(
        statuses(&old_tree),
        [Status::Passed, Status::Unknown, Status::Unknown]
    );
    assert_eq!(old_tree.master.status, Status::Unknown);
    assert_eq!(old_tree.scenarios[0].node.status, Status::Unknown);
    assert_eq!(old_tree.run.counts.ongoing(), 0);
    assert_eq!(old_tree.master.timestamp_stop, Some(at(5)));
    assert_eq!(new.run_status, Status::Waiting);
    assert_eq!(
        statuses(&run(store, other)),
        [Status::Waiting],
        "other machines are untouched"
    );
}

/// A start takes the first waiting test in plan order with that name and path, also when the
/// same test appears several times in the plan.
pub fn start_takes_first_waiting_test_in_plan_order(store: &dyn Store) {
    apply(
        store,
        dry_run(
            M,
            0,
            &[("s1.py", &["a.py", "b.py"]), ("s2.py", &["a.py", "a.py"])],
        ),
    );
    let first = apply(store, start(M, "a.py", 1));
    let tree = last(store, M);
    assert_eq!(first.test_id, Some(tree.scenarios[0].tests[0].id));
    assert_eq!(first.run_status, Status::Running);
    apply(store, stop(M, "a.py", Status::Failed, 2));
    apply(store, start(M, "b.py", 3));
    apply(store, stop(M, "b.py", Status::Passed, 4));
    let second = apply(store, start(M, "a.py", 5));
    let tree = last(store, M);
    assert_eq!(second.test_id, Some(tree.scenarios[1].tests[0].id));
    assert_eq!(
        statuses(&tree),
        [
            Status::Failed,
            Status::Passed,
            Status::Running,
            Status::Waiting
        ]
    );
    apply(store, stop(M, "a.py", Status::Passed, 6));
    apply(store, start(M, "a.py", 7));
    apply(store, stop(M, "a.py", Status::Warning, 8));
    let tree = last(store, M);
    assert_eq!(
        statuses(&tree),
        [
            Status::Failed,
            Status::Passed,
            Status::Passed,
            Status::Warning
        ]
    );
    assert_eq!(tree.scenarios[1].node.status, Status::Warning);
    assert_eq!(tree.master.status, Status::Failed);
}

/// Only one test runs at a time: starting another makes the running one `unknown`.
pub fn start_makes_the_other_running_test_unknown(store: &dyn Store) {
    apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]));
    apply(store, start(M, "a.py", 1));
    apply(store, start(M, "b.py", 2));
    let tree = last(store, M);
    assert_eq!(statuses(&tree), [Status::Unknown, Status::Running]);
    assert_eq!(tree.run.counts.get(Status::Running), 1);
    assert_eq!(tree.run.counts.get(Status::Unknown), 1);
    // The superseded test cannot be stopped any more; the running one can.
    assert!(store.apply(&stop(M, "a.py", Status::Passed, 3), Timestamp::now()).is_err());
    apply(store, stop(M, "b.py", Status::Passed, 3));
    assert_eq!(last(store, M).master.status, Status::Unknown);
}

/// A stop gives the running test its status, stop time and message.
pub fn stop_applies_status_timestamp_and_message(store: &dyn Store) {
    apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]));
    apply(store, start(M, "a.py", 1));
    let mut failing = stop(M, "a.py", Status::Failed, 3);
    if let Event::TestStop(stop) = &mut failing {
        stop.message = Some("expected 1, got 2".to_owned());
    }
    let applied = apply(store, failing);
    assert_eq!(applied.run_status, Status::Waiting);
    let tree = last(store, M);
    let a = &tree.scenarios[0].tests[0];
    assert_eq!(a.status, Status::Failed);
    assert_eq!(a.timestamp_start, Some(at(1)));
    assert_eq!(a.timestamp_stop, Some(at(3)));
    assert_eq!(a.message.as_deref(), Some("expected 1, got 2"));
    assert_eq!(a.duration_seconds(), Some(2.0));
    assert_eq!(tree.run.counts.get(Status::Failed), 1);
}

/// Stopping a test as `cancelled` cancels every ongoing test of the run.
pub fn cancelled_cancels_every_ongoing_test(store: &dyn Store) {
    apply(
        store,
        dry_run(M, 0, &[("s1.py", &["a.py", "b.py"]), ("s2.py", &["c.py"])]),
    );
    apply(store, start(M, "a.py", 1));
    apply(store, stop(M, "a.py", Status::Passed, 2));
    apply(store, start(M, "b.py", 3));
    let applied = apply(store, stop(M, "b.py", Status::Cancelled, 4));
    assert_eq!(applied.run_status, Status::Cancelled);
    let tree = last(store, M);
    assert_eq!(
        statuses(&tree),
        [Status::Passed, Status::Cancelled, Status::Cancelled]
    );
    assert_eq!(tree.scenarios[1].node.status, Status::Cancelled);
    assert_eq!(tree.run.counts.get(Status::Cancelled), 2);
    assert_eq!(tree.run.counts.ongoing(), 0);
    assert_eq!(tree.master.timestamp_stop, Some(at(4)));
    assert!(
        store.apply(&start(M, "c.py", 5), Timestamp::now()).is_err(),
        "nothing waits after a cancel"
    );
}

/// Scenarios and the master start with their first test and stop when they finish.
pub fn scenario_and_master_timestamps_follow_their_tests(store: &dyn Store) {
    apply(
        store,
        dry_run(M, 0, &[("s1.py", &["a.py"]), ("s2.py", &["b.py"])]),
    );
    let tree = last(store, M);
    assert_eq!(tree.master.timestamp_start, None);
    apply(store, start(M, "a.py", 10));
    let tree = last(store, M);
    assert_eq!(tree.master.timestamp_start, Some(at(10)));
    assert_eq!(tree.run.timestamp_start, Some(at(10)));
    assert_eq!(tree.scenarios[0].node.timestamp_start, Some(at(10)));
    assert_eq!(tree.scenarios[1].node.timestamp_start, None);
    apply(store, stop(M, "a.py", Status::Passed, 20));
    let tree = last(store, M);
    assert_eq!(tree.scenarios[0].node.timestamp_stop, Some(at(20)));
    assert_eq!(tree.scenarios[0].node.status, Status::Passed);
    assert_eq!(
        tree.master.timestamp_stop, None,
        "the master still has a waiting test"
    );
    apply(store, start(M, "b.py", 30));
    apply(store, stop(M, "b.py", Status::Warning, 40));
    let tree = last(store, M);
    assert_eq!(tree.scenarios[1].node.timestamp_start, Some(at(30)));
    assert_eq!(tree.scenarios[1].node.timestamp_stop, Some(at(40)));
    assert_eq!(tree.master.timestamp_stop, Some(at(40)));
    assert_eq!(tree.run.timestamp_stop, Some(at(40)));
    assert_eq!(tree.master.status, Status::Warning);
    assert_eq!(
        store.node(NodeKind::Master, tree.run.id).unwrap().as_ref(),
        Some(&tree.master)
    );
}

/// Aggregates: `cancelled > running > waiting > unknown > failed > error > warning > passed`.
pub fn aggregates_follow_the_priority_order(store: &dyn Store) {
    apply(
        store,
        dry_run(
            M,
            0,
            &[("s1.py", &["a.py", "b.py", "c.py"]), ("s2.py", &["d.py"])],
        ),
    );
    let finish = |name: &str, status: Status, t: i64| {
        apply(store, start(M, name, t));
        apply(store, stop(M, name, status, t + 1));
    };
    finish("a.py", Status::Passed, 1);
    assert_eq!(last(store, M).scenarios[0].node.status, Status::Waiting);
    finish("b.py", Status::Error, 3);
    finish("c.py", Status::Warning, 5);
    let tree = last(store, M);
    assert_eq!(tree.scenarios[0].node.status, Status::Error);
    assert_eq!(tree.master.status, Status::Waiting);
    finish("d.py", Status::Failed, 7);
    let tree = last(store, M);
    assert_eq!(tree.scenarios[1].node.status, Status::Failed);
    assert_eq!(tree.master.status, Status::Failed);
    assert_eq!(tree.run.status, Status::Failed);
    let counts: Vec<_> = tree.run.counts.iter().filter(|(_, n)| *n > 0).collect();
    assert_eq!(
        counts,
        [
            (Status::Failed, 1),
            (Status::Error, 1),
            (Status::Warning, 1),
            (Status::Passed, 1)
        ]
    );
}

/// A scenario without tests is `unknown`, and so is a master without scenarios.
pub fn empty_scenarios_and_plans_aggregate_to_unknown(store: &dyn Store) {
    let empty = apply(store, dry_run("empty", 0, &[]));
    assert_eq!(empty.run_status, Status::Unknown);
    assert_eq!(run(store, empty.run_id).run.tests(), 0);
    apply(
        store,
        dry_run(M, 0, &[("s1.py", &[]), ("s2.py", &["a.py"])]),
    );
    apply(store, start(M, "a.py", 1));
    assert_eq!(last(store, M).master.status, Status::Running);
    apply(store, stop(M, "a.py", Status::Passed, 2));
    let tree = last(store, M);
    assert_eq!(tree.scenarios[0].node.status, Status::Unknown);
    assert_eq!(tree.scenarios[1].node.status, Status::Passed);
    assert_eq!(tree.master.status, Status::Unknown);
}

/// Events for a machine that never sent a dry run are rejected and change nothing.
pub fn unknown_machine_changes_nothing(store: &dyn Store) {
    apply(store, dry_run(M, 0, &[("s.py", &["a.py"])]));
    assert_rejected_unchanged(
        store,
        start("ghost", "a.py", 1),
        |e| matches!(e, StoreError::UnknownMachine { name } if name == "ghost"),
    );
    assert_rejected_unchanged(store, stop("ghost", "a.py", Status::Passed, 1), |e| {
        matches!(e, StoreError::UnknownMachine { .. })
    });
}

/// A start with no waiting test, or a stop with no running test, changes nothing.
pub fn no_matching_test_changes_nothing(store: &dyn Store) {
    apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]));
    assert_rejected_unchanged(store, start(M, "zzz.py", 1), |e| {
        matches!(
            e,
            StoreError::NoMatchingTest {
                wanted: Status::Waiting,
                ..
            }
        )
    });
    assert_rejected_unchanged(store, stop(M, "a.py", Status::Passed, 1), |e| {
        matches!(
            e,
            StoreError::NoMatchingTest {
                wanted: Status::Running,
                ..
            }
        )
    });
    apply(store, start(M, "a.py", 2));
    assert_rejected_unchanged(
        store,
        stop(M, "b.py", Status::Passed, 3),
        |e| matches!(e, StoreError::NoMatchingTest { file_name, .. } if file_name == "b.py"),
    );
    apply(store, stop(M, "a.py", Status::Passed, 3));
    assert_rejected_unchanged(store, start(M, "a.py", 4), |e| {
        matches!(e, StoreError::NoMatchingTest { .. })
    });
}

/// While a test runs, a refused start or stop (409: nothing waiting or running matches, or
/// another attempt) changes nothing: the running test stays running, nothing is demoted,
/// cancelled or retried, and the running test can still be stopped.
pub fn refusals_while_a_test_runs_change_nothing(store: &dyn Store) {
    let dry = apply(
        store,
        dry_run(
            M,
            0,
            &[("s1.py", &["a.py", "b.py", "c.py"]), ("s2.py", &["d.py"])],
        ),
    );
    apply(store, start(M, "a.py", 1));
    apply(store, stop(M, "a.py", Status::Passed, 2));
    apply(store, start(M, "b.py", 3));
    let no_match = |e: &StoreError| matches!(e, StoreError::NoMatchingTest { .. });
    let refused_starts = [
        // No test of that name.
        start(M, "zzz.py", 4),
        // Finished, and no attempt named.
        start(M, "a.py", 4),
        // Running, not waiting.
        start(M, "b.py", 4),
        // By index: a finished test, and past the plan's end.
        addressed(start(M, "a.py", 4), dry.run_id, 0),
        addressed(start(M, "a.py", 4), dry.run_id, 99),
        // By index, with a name that is not the test's.
        addressed(start(M, "zzz.py", 4), dry.run_id, 2),
        // Attempts that do not follow: a.py has one, c.py none.
        attempt(start(M, "a.py", 4), 3),
        attempt(start(M, "c.py", 4), 2),
        // The running test retried before it finished.
        attempt(start(M, "b.py", 4), 2),
    ];
    for event in refused_starts {
        assert_rejected_unchanged(store, event, no_match);
    }
    let refused_stops = [
        // Waiting, not running; a cancel refused must not cancel anything either.
        stop(M, "c.py", Status::Passed, 4),
        stop(M, "d.py", Status::Cancelled, 4),
        // Finished.
        stop(M, "a.py", Status::Failed, 4),
        // By index: a waiting test, and the running one under another name.
        addressed(stop(M, "c.py", Status::Passed, 4), dry.run_id, 2),
        addressed(stop(M, "zzz.py", Status::Cancelled, 4), dry.run_id, 1),
    ];
    for event in refused_stops {
        assert_rejected_unchanged(store, event, no_match);
    }
    assert_rejected_unchanged(
        store,
        attempt(stop(M, "b.py", Status::Cancelled, 4), 2),
        |e| {
            matches!(
                e,
                StoreError::AttemptMismatch {
                    given: 2,
                    running: 1,
                    ..
                }
            )
        },
    );

    let tree = run(store, dry.run_id);
    assert_eq!(
        statuses(&tree),
        [
            Status::Passed,
            Status::Running,
            Status::Waiting,
            Status::Waiting
        ]
    );
    assert_eq!(tree.run.status, Status::Running);
    let stopped = apply(store, stop(M, "b.py", Status::Failed, 5));
    assert_eq!(stopped.test_id, Some(tree.scenarios[0].tests[1].id));
    let tree = run(store, dry.run_id);
    assert_eq!(
        statuses(&tree),
        [
            Status::Passed,
            Status::Failed,
            Status::Waiting,
            Status::Waiting
        ]
    );
    assert_eq!(tree.scenarios[0].tests[1].timestamp_start, Some(at(3)));
    assert_eq!(tree.run.counts.get(Status::Unknown), 0);
}

/// An unknown status never reaches a store: parsing names the field, and the store is as before.
pub fn bad_status_is_rejected_before_the_store(store: &dyn Store) {
    apply(store, dry_run(M, 0, &[("s.py", &["a.py"])]));
    apply(store, start(M, "a.py", 1));
    let before = dump(store);
    let body = br#"{"machine_name": "rig-1", "file_name": "a.py", "file_path": "/t", "status": "green", "timestamp_stop": "2024-01-01 00:00:02"}"#;
    match Event::parse(EventKind::TestStop, body) {
        Err(WireError::InvalidField { field, reason }) => {
            assert_eq!(field, "status");
            assert!(reason.contains("green"), "{reason}");
        }
        other => panic!("expected an invalid status, got {other:?}"),
    }
    assert_eq!(dump(store), before);
}

/// An event whose id was applied before is acknowledged again and not applied twice.
pub fn replayed_event_id_is_not_applied_twice(store: &dyn Store) {
    let first = apply(
        store,
        with_event_id(dry_run(M, 0, &[("s.py", &["a.py", "a.py"])]), "e-1"),
    );
    let again = apply(
        store,
        with_event_id(dry_run(M, 0, &[("s.py", &["a.py", "a.py"])]), "e-1"),
    );
    assert!(again.duplicate);
    assert_eq!(again.run_id, first.run_id);
    let machine = store.machine_by_name(M).unwrap().unwrap();
    assert_eq!(
        store
            .runs(machine.id, PageRequest::new(1, 10))
            .unwrap()
            .total,
        1
    );

    apply(store, with_event_id(start(M, "a.py", 1), "e-2"));
    let before = dump(store);
    let replay = apply(store, with_event_id(start(M, "a.py", 1), "e-2"));
    assert!(replay.duplicate);
    assert_eq!(
        dump(store),
        before,
        "a replayed start must not start the second a.py"
    );
    apply(
        store,
        with_event_id(stop(M, "a.py", Status::Passed, 2), "e-3"),
    );
    let before = dump(store);
    assert!(
        apply(
            store,
            with_event_id(stop(M, "a.py", Status::Passed, 2), "e-3")
        )
        .duplicate
    );
    assert_eq!(dump(store), before);
    assert_eq!(statuses(&last(store, M)), [Status::Passed, Status::Waiting]);
}

/// `run_id` and `index` address exactly one test, even when names repeat.
pub fn run_id_and_index_address_one_test(store: &dyn Store) {
    let old = apply(store, dry_run(M, 0, &[("s.py", &["a.py"])])).run_id;
    let run_id = apply(store, dry_run(M, 1, &[("s.py", &["a.py", "a.py", "a.py"])])).run_id;
    let started = apply(store, addressed(start(M, "a.py", 2), run_id, 2));
    let tree = run(store, run_id);
    assert_eq!(started.test_id, Some(tree.scenarios[0].tests[2].id));
    assert_eq!(
        statuses(&tree),
        [Status::Waiting, Status::Waiting, Status::Running]
    );
    apply(
        store,
        addressed(stop(M, "a.py", Status::Error, 3), run_id, 2),
    );
    assert_eq!(
        statuses(&run(store, run_id)),
        [Status::Waiting, Status::Waiting, Status::Error]
    );
    assert_rejected_unchanged(store, addressed(start(M, "b.py", 4), run_id, 0), |e| {
        matches!(e, StoreError::NoMatchingTest { index: Some(0), .. })
    });
    assert_rejected_unchanged(store, addressed(start(M, "a.py", 4), run_id, 7), |e| {
        matches!(e, StoreError::NoMatchingTest { index: Some(7), .. })
    });
    assert_rejected_unchanged(store, addressed(start(M, "a.py", 4), run_id, 2), |e| {
        matches!(e, StoreError::NoMatchingTest { index: Some(2), .. })
    });
    assert_rejected_unchanged(
        store,
        addressed(start(M, "a.py", 4), run_id + old + 1000, 0),
        |e| matches!(e, StoreError::UnknownRun { .. }),
    );
}

/// A run id that belongs to another machine is an unknown run for this one.
pub fn run_id_of_another_machine_is_rejected(store: &dyn Store) {
    apply(store, dry_run(M, 0, &[("s.py", &["a.py"])]));
    let other = apply(store, dry_run("rig-2", 0, &[("s.py", &["a.py"])])).run_id;
    assert_rejected_unchanged(
        store,
        addressed(start(M, "a.py", 1), other, 0),
        |e| matches!(e, StoreError::UnknownRun { run_id, .. } if *run_id == other),
    );
}

/// Pages slice lists with totals; missing ids answer `None`, not errors.
pub fn queries_paginate_and_miss_cleanly(store: &dyn Store) {
    for i in 0..12 {
        apply(
            store,
            dry_run(&format!("rig-{i:02}"), i, &[("s.py", &["a.py"])]),
        );
    }
    for i in 0..3 {
        apply(store, dry_run("rig-00", 100 + i, &[("s.py", &["a.py"])]));
    }
    let first = store.machines(PageRequest::new(1, 5)).unwrap();
    assert_eq!(first.total, 12);
    let names: Vec<_> = first
        .items
        .iter()
        .map(|m| m.machine.name.as_str())
        .collect();
    assert_eq!(names, ["rig-00", "rig-01", "rig-02", "rig-03", "rig-04"]);
    let third = store.machines(PageRequest::new(3, 5)).unwrap();
    assert_eq!(third.items.len(), 2);
    assert_eq!(third.total_pages(PageRequest::new(3, 5)), 3);
    assert!(
        store
            .machines(PageRequest::new(4, 5))
            .unwrap()
            .items
            .is_empty()
    );
    let rig0 = store.machine_by_name("rig-00").unwrap().unwrap();
    let runs = store.runs(rig0.id, PageRequest::new(2, 3)).unwrap();
    assert_eq!(runs.total, 4);
    assert_eq!(runs.items.len(), 1);
    assert_eq!(runs.items[0].timestamp, at(0));
    assert_eq!(store.machine(9999).unwrap(), None);
    assert_eq!(store.machine(-1).unwrap(), None);
    assert_eq!(store.machine_by_name("nobody").unwrap(), None);
    assert_eq!(store.run(9999).unwrap(), None);
    assert_eq!(store.last_run(9999).unwrap(), None);
    assert!(
        store
            .runs(9999, PageRequest::new(1, 10))
            .unwrap()
            .items
            .is_empty()
    );
    for kind in [NodeKind::Master, NodeKind::Scenario, NodeKind::Test] {
        assert_eq!(store.node(kind, 9999).unwrap(), None);
        assert_eq!(store.node(kind, 0).unwrap(), None);
    }
}

/// The seed's own example payloads plan a run, start its first test and pass it.
pub fn seed_fixtures_make_one_run(store: &dyn Store) {
    let [dry, begin, end] = seed_fixtures();
    for (kind, body) in [
        (EventKind::DryRun, dry),
        (EventKind::TestStart, begin),
        (EventKind::TestStop, end),
    ] {
        let event = Event::parse(kind, body.as_bytes())
            .unwrap_or_else(|e| panic!("fixture {kind:?} does not parse: {e}"));
        apply(store, event);
    }
    let tree = last(store, "machine #1");
    assert_eq!(tree.run.scenarios, 2);
    assert_eq!(
        statuses(&tree),
        [
            Status::Passed,
            Status::Waiting,
            Status::Waiting,
            Status::Waiting
        ]
    );
    assert_eq!(tree.master.status, Status::Waiting);
    assert_eq!(tree.scenarios[0].tests[0].file_name, "01_01_test_lamp.py");
}

/// A finished test started again as attempt 2 keeps attempt 1 in its history; the last attempt
/// decides its status and the aggregates follow it back and forth.
pub fn retried_test_keeps_every_attempt_and_the_last_status(store: &dyn Store) {
    let dry = apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]));
    apply(store, start(M, "a.py", 1));
    apply(
        store,
        with_message(stop(M, "a.py", Status::Failed, 2), "flaked"),
    );
    apply(store, start(M, "b.py", 3));
    apply(store, stop(M, "b.py", Status::Passed, 4));
    assert_eq!(run(store, dry.run_id).run.status, Status::Failed);
    // Without `attempt`, a finished test cannot start again (the seed's behaviour).
    assert_rejected_unchanged(store, start(M, "a.py", 5), |e| {
        matches!(e, StoreError::NoMatchingTest { .. })
    });

    let retried = apply(store, attempt(start(M, "a.py", 5), 2));
    assert_eq!(retried.run_status, Status::Running);
    let a = run(store, dry.run_id).scenarios[0].tests[0].clone();
    assert_eq!(
        (a.status, a.attempts, a.message),
        (Status::Running, 2, None)
    );
    assert_eq!(retried.test_id, Some(a.id));
    let stopped = apply(store, attempt(stop(M, "a.py", Status::Passed, 7), 2));
    assert_eq!(stopped.run_status, Status::Passed);

    let tree = run(store, dry.run_id);
    let a = &tree.scenarios[0].tests[0];
    assert_eq!((a.status, a.attempts), (Status::Passed, 2));
    assert_eq!(
        (a.timestamp_start, a.timestamp_stop),
        (Some(at(5)), Some(at(7)))
    );
    assert_eq!(tree.run.counts.get(Status::Passed), 2);
    assert_eq!(tree.run.counts.get(Status::Failed), 0);
    assert_eq!(tree.run.timestamp_stop, Some(at(7)));
    let attempts = store.attempts(a.id).unwrap();
    let summary: Vec<_> = attempts
        .iter()
        .map(|t| {
            (
                t.number,
                t.status,
                t.timestamp_start,
                t.timestamp_stop,
                t.message.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, Status::Failed, Some(at(1)), Some(at(2)), Some("flaked")),
            (2, Status::Passed, Some(at(5)), Some(at(7)), None),
        ]
    );
    let b = &tree.scenarios[0].tests[1];
    assert_eq!(b.attempts, 1);
    assert_eq!(store.attempts(b.id).unwrap().len(), 1);
    assert!(store.attempts(-1).unwrap().is_empty());
}

/// A stop naming another attempt than the running one, or a retry of a test without the
/// previous attempt finished, is rejected and changes nothing.
pub fn attempt_mismatch_changes_nothing(store: &dyn Store) {
    apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]));
    // Attempt 2 of a test that never ran.
    assert_rejected_unchanged(store, attempt(start(M, "a.py", 1), 2), |e| {
        matches!(e, StoreError::NoMatchingTest { .. })
    });
    apply(store, attempt(start(M, "a.py", 1), 1));
    assert_rejected_unchanged(store, attempt(stop(M, "a.py", Status::Passed, 2), 2), |e| {
        matches!(
            e,
            StoreError::AttemptMismatch {
                given: 2,
                running: 1,
                ..
            }
        )
    });
    apply(store, attempt(stop(M, "a.py", Status::Failed, 2), 1));
    // Attempt 3 needs a test with two attempts.
    assert_rejected_unchanged(store, attempt(start(M, "a.py", 3), 3), |e| {
        matches!(e, StoreError::NoMatchingTest { .. })
    });
    apply(store, attempt(start(M, "a.py", 3), 2));
    assert_rejected_unchanged(store, attempt(stop(M, "a.py", Status::Passed, 4), 1), |e| {
        matches!(e, StoreError::AttemptMismatch { .. })
    });
    let tree = last(store, M);
    assert_eq!(statuses(&tree), [Status::Running, Status::Waiting]);
}

/// Aborting a run cancels its ongoing tests and records when; finished runs and unknown ids
/// are left alone.
pub fn abort_cancels_ongoing_tests_and_records_when(store: &dyn Store) {
    let done = apply(store, dry_run("rig-2", 0, &[("s.py", &["a.py"])]));
    apply(store, start("rig-2", "a.py", 1));
    apply(store, stop("rig-2", "a.py", Status::Passed, 2));
    let dry = apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py", "c.py"])]));
    apply(store, start(M, "a.py", 1));
    apply(store, stop(M, "a.py", Status::Passed, 2));
    apply(store, start(M, "b.py", 3));
    let before = run(store, dry.run_id);
    assert_eq!(
        (before.run.closed_as, before.run.closed_at, before.run.stale),
        (None, None, false)
    );
    assert!(before.run.last_event_at.is_some());

    let aborted = store
        .abort(dry.run_id, at(100))
        .unwrap()
        .unwrap_or_else(|| panic!("run {} missing", dry.run_id));
    assert_eq!(aborted.closed_as, Some(Closure::Aborted));
    assert_eq!(aborted.closed_at, Some(at(100)));
    assert_eq!(aborted.status, Status::Cancelled);
    assert!(!aborted.stale);
    let tree = run(store, dry.run_id);
    assert_eq!(tree.run, aborted);
    assert_eq!(
        statuses(&tree),
        [Status::Passed, Status::Cancelled, Status::Cancelled]
    );
    assert_eq!(tree.run.counts.ongoing(), 0);
    // Rejected from now on, as aborted, with or without the run's id: a person ended it.
    let aborted = |e: &StoreError| matches!(e, StoreError::RunAborted { run_id, machine } if *run_id == dry.run_id && machine == M);
    assert_rejected_unchanged(store, start(M, "c.py", 101), aborted);
    assert_rejected_unchanged(store, stop(M, "b.py", Status::Passed, 101), aborted);
    assert_rejected_unchanged(
        store,
        addressed(start(M, "c.py", 101), dry.run_id, 2),
        aborted,
    );
    // A retry of a finished test is refused too.
    assert_rejected_unchanged(store, attempt(start(M, "a.py", 102), 2), aborted);
    // The machine's next dry run starts a run that takes events again; the aborted one
    // still refuses its late events.
    let next = apply(store, dry_run(M, 200, &[("s.py", &["a.py"])]));
    apply(store, start(M, "a.py", 201));
    assert_eq!(run(store, next.run_id).run.status, Status::Running);
    assert_rejected_unchanged(
        store,
        addressed(stop(M, "b.py", Status::Passed, 202), dry.run_id, 1),
        aborted,
    );

    let before = dump(store);
    let finished = store.abort(done.run_id, at(100)).unwrap().unwrap();
    assert_eq!(
        (finished.closed_as, finished.status),
        (None, Status::Passed)
    );
    assert!(
        store
            .abort(dry.run_id + done.run_id + 100, at(100))
            .unwrap()
            .is_none()
    );
    assert_eq!(
        dump(store),
        before,
        "aborting a finished run changed the store"
    );
}

/// The stale sweep closes only ongoing runs silent since before the limit: their ongoing
/// tests become unknown, and they say when and why.
pub fn close_stale_closes_only_silent_ongoing_runs(store: &dyn Store) {
    let done = apply(store, dry_run("rig-2", 0, &[("s.py", &["a.py"])]));
    apply(store, start("rig-2", "a.py", 1));
    apply(store, stop("rig-2", "a.py", Status::Failed, 2));
    let open = apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]));
    apply(store, start(M, "a.py", 1));

    // Every event was applied after 2024-01-01, so nothing is silent since then.
    let before = dump(store);
    assert!(store.close_stale(at(0), at(50)).unwrap().is_empty());
    assert_eq!(dump(store), before);

    let later = Timestamp::from_micros(Timestamp::now().as_micros() + 3_600_000_000)
        .unwrap_or_else(|| panic!("timestamp out of range"));
    let closed = store.close_stale(later, at(60)).unwrap();
    let ids: Vec<_> = closed.iter().map(|r| r.id).collect();
    assert_eq!(ids, [open.run_id]);
    let tree = run(store, open.run_id);
    assert_eq!(tree.run, closed[0]);
    assert_eq!(statuses(&tree), [Status::Unknown, Status::Unknown]);
    assert_eq!(tree.run.status, Status::Unknown);
    assert_eq!(
        (tree.run.closed_as, tree.run.closed_at, tree.run.stale),
        (Some(Closure::Stale), Some(at(60)), true)
    );
    assert_eq!(run(store, done.run_id).run.closed_as, None);
    assert!(store.close_stale(later, at(70)).unwrap().is_empty());
}

/// A test is the same across a machine's runs when its path, name and occurrence (how many
/// earlier tests of its run share them) match; its history lists it in all the machine's runs,
/// newest first, whichever of its runs it is asked from, at most `limit` of them.
pub fn test_history_follows_the_same_test_across_runs(store: &dyn Store) {
    let first = apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py", "a.py"])]));
    for (name, status, t) in [
        ("a.py", Status::Passed, 1),
        ("b.py", Status::Failed, 3),
        ("a.py", Status::Failed, 5),
    ] {
        apply(store, start(M, name, t));
        apply(store, with_message(stop(M, name, status, t + 1), "why"));
    }
    let tree = run(store, first.run_id);
    let occurrences: Vec<u32> = tree.scenarios[0]
        .tests
        .iter()
        .map(|t| t.occurrence)
        .collect();
    assert_eq!(occurrences, [0, 0, 1]);
    apply(store, dry_run("rig-2", 10, &[("s.py", &["a.py"])]));
    let second = apply(
        store,
        dry_run(M, 20, &[("s.py", &["a.py"]), ("t.py", &["a.py"])]),
    );
    apply(store, start(M, "a.py", 21));
    apply(store, stop(M, "a.py", Status::Passed, 24));
    apply(store, start(M, "a.py", 25));
    apply(store, stop(M, "a.py", Status::Passed, 26));
    let third = apply(store, dry_run(M, 30, &[("s.py", &["b.py", "a.py"])]));
    apply(store, start(M, "a.py", 31));

    let newest_a = run(store, third.run_id).scenarios[0].tests[1].clone();
    let history = store.test_history(newest_a.id, 10).unwrap();
    let summary: Vec<_> = history
        .iter()
        .map(|r| (r.run_id, r.status, r.duration_seconds, r.attempts))
        .collect();
    assert_eq!(
        summary,
        [
            (third.run_id, Status::Running, None, 1),
            (second.run_id, Status::Passed, Some(3.0), 1),
            (first.run_id, Status::Passed, Some(1.0), 1),
        ]
    );
    assert_eq!(history[0].test_id, newest_a.id);
    assert_eq!(history[1].run_timestamp, at(20));
    // The test's own start, not its run's.
    let starts: Vec<_> = history.iter().map(|r| r.timestamp_start).collect();
    assert_eq!(starts[..2], [Some(at(31)), Some(at(21))]);
    assert_eq!(history[2].message.as_deref(), Some("why"));
    assert_eq!(store.test_history(newest_a.id, 1).unwrap().len(), 1);

    let second_a = run(store, second.run_id).scenarios[1].tests[0].clone();
    assert_eq!(second_a.occurrence, 1);
    let history: Vec<_> = store
        .test_history(second_a.id, 10)
        .unwrap()
        .iter()
        .map(|r| (r.run_id, r.status))
        .collect();
    assert_eq!(
        history,
        [
            (second.run_id, Status::Passed),
            (first.run_id, Status::Failed)
        ]
    );

    // Asked from its oldest run, the test's history still shows the newer runs, newest first;
    // the limit keeps the newest results.
    let first_a = run(store, first.run_id).scenarios[0].tests[0].clone();
    let second_first_a = run(store, second.run_id).scenarios[0].tests[0].clone();
    let from_the_oldest = |limit| -> Vec<_> {
        store
            .test_history(first_a.id, limit)
            .unwrap()
            .iter()
            .map(|r| (r.run_id, r.test_id, r.status))
            .collect()
    };
    assert_eq!(
        from_the_oldest(10),
        [
            (third.run_id, newest_a.id, Status::Running),
            (second.run_id, second_first_a.id, Status::Passed),
            (first.run_id, first_a.id, Status::Passed),
        ]
    );
    assert_eq!(from_the_oldest(2), from_the_oldest(10)[..2]);
    assert_eq!(
        store.test_history(newest_a.id, 10).unwrap(),
        store.test_history(first_a.id, 10).unwrap(),
        "the same test answers the same history from any of its runs"
    );
    assert!(store.test_history(-1, 10).unwrap().is_empty());
}

/// Closing a silent run does not destroy what is still on its way: the rig's late starts and
/// stops (spooled through an outage) apply to the run closed as stale, and the run follows
/// them to completion, no longer marked stale.
pub fn late_events_complete_a_run_closed_as_stale(store: &dyn Store) {
    let open = apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py", "c.py"])]));
    apply(store, start(M, "a.py", 1));
    let later = Timestamp::from_micros(Timestamp::now().as_micros() + 3_600_000_000)
        .unwrap_or_else(|| panic!("timestamp out of range"));
    let closed = store.close_stale(later, at(60)).unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(
        statuses(&run(store, open.run_id)),
        [Status::Unknown, Status::Unknown, Status::Unknown]
    );

    // The stop of the test that ran when the run was closed, then the rest of the run.
    let applied = apply(store, stop(M, "a.py", Status::Passed, 2));
    assert_eq!(applied.run_id, open.run_id);
    let revived = run(store, open.run_id);
    assert_eq!(
        (
            revived.run.closed_as,
            revived.run.closed_at,
            revived.run.stale
        ),
        (None, None, false),
        "a run that hears from its rig again is no longer closed"
    );
    apply(store, start(M, "b.py", 3));
    apply(store, stop(M, "b.py", Status::Failed, 4));
    apply(store, start(M, "c.py", 5));
    let last_stop = apply(store, stop(M, "c.py", Status::Passed, 6));
    assert_eq!(last_stop.run_status, Status::Failed);

    let tree = run(store, open.run_id);
    assert_eq!(
        statuses(&tree),
        [Status::Passed, Status::Failed, Status::Passed]
    );
    assert_eq!(tree.run.counts.ongoing(), 0);
    assert_eq!(tree.run.counts.get(Status::Unknown), 0);
    assert_eq!(tree.master.status, Status::Failed);
    assert_eq!(tree.master.timestamp_start, Some(at(1)));
    assert_eq!(tree.master.timestamp_stop, Some(at(6)));
    assert_eq!(tree.scenarios[0].node.timestamp_stop, Some(at(6)));
    let first = &tree.scenarios[0].tests[0];
    assert_eq!(
        (first.timestamp_start, first.timestamp_stop),
        (Some(at(1)), Some(at(2)))
    );
    assert!(store.close_stale(later, at(70)).unwrap().is_empty());
}

/// Late events addressed by `run_id` apply to a run superseded by a newer dry run; the newer
/// run is untouched, and events without `run_id` still go to the newest run.
pub fn late_events_by_run_id_apply_to_a_superseded_run(store: &dyn Store) {
    let old = apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]));
    apply(store, addressed(start(M, "a.py", 1), old.run_id, 0));
    let new = apply(store, dry_run(M, 10, &[("s.py", &["a.py"])]));
    assert_eq!(
        statuses(&run(store, old.run_id)),
        [Status::Unknown, Status::Unknown]
    );
    let before_new = run(store, new.run_id);

    apply(
        store,
        addressed(stop(M, "a.py", Status::Passed, 2), old.run_id, 0),
    );
    apply(store, addressed(start(M, "b.py", 3), old.run_id, 1));
    let applied = apply(
        store,
        addressed(stop(M, "b.py", Status::Warning, 4), old.run_id, 1),
    );
    assert_eq!(
        (applied.run_id, applied.run_status),
        (old.run_id, Status::Warning)
    );
    assert_eq!(
        statuses(&run(store, old.run_id)),
        [Status::Passed, Status::Warning]
    );
    assert_eq!(run(store, new.run_id), before_new, "the newer run changed");

    // Without run_id a start names the newest run, whose plan has no b.py.
    assert_rejected_unchanged(store, start(M, "b.py", 11), |e| {
        matches!(e, StoreError::NoMatchingTest { .. })
    });
    // The same by name, with run_id only: the old run's a.py is finished, b.py too.
    assert_rejected_unchanged(
        store,
        {
            let mut event = start(M, "a.py", 12);
            if let Event::TestStart(e) = &mut event {
                e.run_id = Some(old.run_id);
            }
            event
        },
        |e| matches!(e, StoreError::NoMatchingTest { .. }),
    );
}

/// Only what the store presumed is revived by late events: a test its rig stopped as
/// `unknown` stays finished, and an aborted run's cancelled tests stay cancelled.
pub fn reported_unknown_and_aborted_tests_are_not_revived(store: &dyn Store) {
    let first = apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]));
    apply(store, start(M, "a.py", 1));
    apply(store, stop(M, "a.py", Status::Unknown, 2));
    assert_rejected_unchanged(store, start(M, "a.py", 3), |e| {
        matches!(e, StoreError::NoMatchingTest { .. })
    });
    assert_rejected_unchanged(store, stop(M, "a.py", Status::Passed, 3), |e| {
        matches!(e, StoreError::NoMatchingTest { .. })
    });
    apply(store, start(M, "b.py", 4));
    store.abort(first.run_id, at(5)).unwrap();
    assert_rejected_unchanged(store, stop(M, "b.py", Status::Passed, 6), |e| {
        matches!(e, StoreError::RunAborted { .. })
    });
    assert_rejected_unchanged(store, start(M, "b.py", 6), |e| {
        matches!(e, StoreError::RunAborted { .. })
    });
}

/// A run's previous run is the newest older run of the same machine.
pub fn previous_run_is_the_machines_newest_older_run(store: &dyn Store) {
    let a1 = apply(store, dry_run(M, 0, &[("s.py", &["a.py"])])).run_id;
    let b1 = apply(store, dry_run("rig-2", 1, &[("s.py", &["a.py"])])).run_id;
    let a2 = apply(store, dry_run(M, 2, &[("s.py", &["a.py"])])).run_id;
    let b2 = apply(store, dry_run("rig-2", 3, &[("s.py", &["a.py"])])).run_id;
    let a3 = apply(store, dry_run(M, 4, &[("s.py", &["a.py"])])).run_id;
    let previous = |run| store.previous_run(run).unwrap();
    assert_eq!(previous(a3), Some(a2));
    assert_eq!(previous(a2), Some(a1));
    assert_eq!(previous(a1), None);
    assert_eq!(previous(b2), Some(b1));
    assert_eq!(previous(b1), None);
    assert_eq!(previous(a3 + b2 + 100), None);
}

/// Deleting a machine removes it with its runs, tests and applied event ids, leaves every other
/// machine as it was, and frees its name.
pub fn delete_machine_removes_it_with_its_runs(store: &dyn Store) {
    let other = apply(store, dry_run("rig-2", 0, &[("s.py", &["a.py"])]));
    apply(store, start("rig-2", "a.py", 1));
    let first = apply(
        store,
        with_event_id(dry_run(M, 2, &[("s.py", &["a.py", "b.py"])]), "dry-1"),
    );
    apply(store, with_event_id(start(M, "a.py", 3), "start-1"));
    apply(store, stop(M, "a.py", Status::Failed, 4));
    apply(store, attempt(start(M, "a.py", 5), 2));
    let second = apply(store, dry_run(M, 6, &[("s.py", &["a.py"])]));
    apply(store, start(M, "a.py", 7));
    let machine = first.machine_id;
    let test = run(store, first.run_id).scenarios[0].tests[0].id;
    let others_before = run(store, other.run_id);

    assert_eq!(store.delete_machine(machine).unwrap(), Some(2));
    assert_eq!(store.machine(machine).unwrap(), None);
    assert_eq!(store.machine_by_name(M).unwrap(), None);
    let listed: Vec<String> = store
        .machines(PageRequest::new(1, 100))
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.machine.name)
        .collect();
    assert_eq!(listed, ["rig-2"]);
    assert_eq!(
        store.runs(machine, PageRequest::new(1, 10)).unwrap().total,
        0
    );
    assert_eq!(store.last_run(machine).unwrap(), None);
    for id in [first.run_id, second.run_id] {
        assert_eq!(store.run(id).unwrap(), None);
        assert_eq!(store.node(NodeKind::Master, id).unwrap(), None);
        assert_eq!(store.previous_run(id).unwrap(), None);
        assert_eq!(store.abort(id, at(10)).unwrap(), None);
    }
    assert_eq!(store.node(NodeKind::Test, test).unwrap(), None);
    assert!(store.attempts(test).unwrap().is_empty());
    assert!(store.test_history(test, 10).unwrap().is_empty());
    assert!(
        store
            .close_stale(at(1_000), at(1_000))
            .unwrap()
            .iter()
            .all(|r| r.machine_id != machine)
    );
    assert_rejected_unchanged(store, start(M, "a.py", 8), |e| {
        matches!(e, StoreError::UnknownMachine { .. })
    });
    assert_eq!(store.delete_machine(machine).unwrap(), None);

    // The other machine is untouched (but for what the stale sweep did to it).
    let others_after = run(store, other.run_id);
    assert_eq!(others_after.scenarios.len(), others_before.scenarios.len());
    assert_eq!(others_after.machine, others_before.machine);

    // The name is free, and the old event ids apply anew.
    let again = apply(
        store,
        with_event_id(dry_run(M, 20, &[("s.py", &["a.py"])]), "dry-1"),
    );
    assert!(!again.duplicate);
    assert_ne!(again.machine_id, machine);
    assert!(!apply(store, with_event_id(start(M, "a.py", 21), "start-1")).duplicate);
    assert_eq!(last(store, M).run.id, again.run_id);
}

/// A dry run's labels are stored with its run and answered with it everywhere a run is.
pub fn labels_are_kept_with_their_run(store: &dyn Store) {
    let labels = [("branch", "main"), ("firmware", "2.4.1"), ("hw/rev", "C")];
    let first = apply(
        store,
        labelled(dry_run(M, 0, &[("s.py", &["a.py"])]), &labels),
    );
    let second = apply(store, dry_run(M, 1, &[("s.py", &["a.py"])]));
    let wanted: crate::wire::Labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(run(store, first.run_id).run.labels, wanted);
    assert!(run(store, second.run_id).run.labels.is_empty());
    let listed = store
        .runs(first.machine_id, PageRequest::new(1, 10))
        .unwrap()
        .items;
    assert_eq!(listed[1].labels, wanted);
    assert!(listed[0].labels.is_empty());
    let aborted = store.abort(first.run_id, at(5)).unwrap().unwrap();
    assert_eq!(aborted.labels, wanted);
    // A replayed labelled dry run changes nothing.
    let again = with_event_id(
        labelled(dry_run(M, 2, &[("s.py", &["a.py"])]), &[("branch", "dev")]),
        "labelled-1",
    );
    let made = apply(store, again.clone());
    let before = dump(store);
    assert!(apply(store, again).duplicate);
    assert_eq!(dump(store), before);
    assert_eq!(run(store, made.run_id).run.labels["branch"], "dev");
}

/// `find_runs` answers the runs of every machine that pass every part of the filter (labels
/// AND-ed, `since` inclusive, `until` exclusive), newest first, paginated.
pub fn find_runs_filters_by_machine_status_labels_and_dates(store: &dyn Store) {
    let plan: &[(&str, &[&str])] = &[("s.py", &["a.py"])];
    let main_c = [("branch", "main"), ("hw", "C")];
    // r1: rig-1 main/C failed; r2: rig-2 main/C passed; r3: rig-1 dev/C passed;
    // r4: rig-2 main (no hw) failed; r5: rig-1 main/C waiting.
    let r1 = apply(store, labelled(dry_run(M, 0, plan), &main_c));
    apply(store, start(M, "a.py", 1));
    apply(store, stop(M, "a.py", Status::Failed, 2));
    let r2 = apply(store, labelled(dry_run("rig-2", 100, plan), &main_c));
    apply(store, start("rig-2", "a.py", 101));
    apply(store, stop("rig-2", "a.py", Status::Passed, 102));
    let r3 = apply(
        store,
        labelled(dry_run(M, 200, plan), &[("branch", "dev"), ("hw", "C")]),
    );
    apply(store, start(M, "a.py", 201));
    apply(store, stop(M, "a.py", Status::Passed, 202));
    let r4 = apply(
        store,
        labelled(dry_run("rig-2", 300, plan), &[("branch", "main")]),
    );
    apply(store, start("rig-2", "a.py", 301));
    apply(store, stop("rig-2", "a.py", Status::Failed, 302));
    let r5 = apply(store, labelled(dry_run(M, 400, plan), &main_c));
    let ids = |filter: RunFilter| -> Vec<i64> {
        store
            .find_runs(&filter, PageRequest::new(1, 100))
            .unwrap()
            .items
            .iter()
            .map(|r| r.id)
            .collect()
    };
    let label = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let [r1, r2, r3, r4, r5] = [r1, r2, r3, r4, r5].map(|a| a.run_id);

    assert_eq!(ids(RunFilter::default()), [r5, r4, r3, r2, r1]);
    assert_eq!(
        ids(RunFilter {
            labels: vec![label("branch", "main")],
            ..RunFilter::default()
        }),
        [r5, r4, r2, r1]
    );
    assert_eq!(
        ids(RunFilter {
            labels: vec![label("branch", "main"), label("hw", "C")],
            ..RunFilter::default()
        }),
        [r5, r2, r1]
    );
    assert_eq!(
        ids(RunFilter {
            labels: vec![label("branch", "main"), label("hw", "D")],
            ..RunFilter::default()
        }),
        Vec::<i64>::new()
    );
    // Values compare exactly (no prefix, no case folding).
    assert!(
        ids(RunFilter {
            labels: vec![label("branch", "Main")],
            ..RunFilter::default()
        })
        .is_empty()
    );
    assert_eq!(
        ids(RunFilter {
            status: Some(Status::Failed),
            labels: vec![label("branch", "main")],
            ..RunFilter::default()
        }),
        [r4, r1]
    );
    let machine = store.machine_by_name(M).unwrap().unwrap().id;
    assert_eq!(
        ids(RunFilter {
            machine: Some(machine),
            labels: vec![label("hw", "C")],
            ..RunFilter::default()
        }),
        [r5, r3, r1]
    );
    // since is inclusive, until exclusive.
    assert_eq!(
        ids(RunFilter {
            since: Some(at(100)),
            until: Some(at(300)),
            ..RunFilter::default()
        }),
        [r3, r2]
    );
    assert_eq!(
        ids(RunFilter {
            machine: Some(machine),
            labels: vec![label("branch", "main")],
            before: Some(r5),
            ..RunFilter::default()
        }),
        [r1]
    );
    // Pages of two, newest first, with the count of all.
    let filter = RunFilter {
        labels: vec![label("branch", "main")],
        ..RunFilter::default()
    };
    let first = store.find_runs(&filter, PageRequest::new(1, 2)).unwrap();
    let second = store.find_runs(&filter, PageRequest::new(2, 2)).unwrap();
    let third = store.find_runs(&filter, PageRequest::new(3, 2)).unwrap();
    assert_eq!((first.total, second.total, third.total), (4, 4, 4));
    let paged: Vec<i64> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|r| r.id)
        .collect();
    assert_eq!(paged, [r5, r4, r2, r1]);
    assert!(third.items.is_empty());
    assert_eq!(first.items[0].labels["hw"], "C");
    // A deleted machine's runs are gone from the search.
    store.delete_machine(machine).unwrap();
    assert_eq!(ids(filter), [r4, r2]);
}

/// A test's output is kept per test, in order, up to the limit: then the head and the tail,
/// with what was dropped counted; a replayed batch is not appended twice; output changes no
/// status, only the run's `last_event_at`; a follower reads the lines after its last one.
pub fn output_keeps_head_and_tail_of_each_test(store: &dyn Store) {
    let dry = apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]));
    apply(store, start(M, "a.py", 1));
    let tree_before = run(store, dry.run_id);
    let limit = OutputLimit::new(1024).unwrap();
    let first = store
        .append_output(
            &output_of(output(
                M,
                Some(dry.run_id),
                0,
                "out-1",
                &["hello", "\u{1b}[31mred"],
            )),
            limit,
            at(50),
        )
        .unwrap();
    assert_eq!(first.kind, EventKind::TestOutput);
    assert_eq!((first.run_id, first.duplicate), (dry.run_id, false));
    let test_a = tree_before.scenarios[0].tests[0].id;
    let test_b = tree_before.scenarios[0].tests[1].id;
    assert_eq!(first.test_id, Some(test_a));
    // Without a run id: the machine's newest run; by index, whatever the test's status.
    store
        .append_output(
            &output_of(output(M, None, 1, "out-b", &["waiting test"])),
            limit,
            at(50),
        )
        .unwrap();
    let again = store
        .append_output(
            &output_of(output(M, Some(dry.run_id), 0, "out-1", &["hello", "x"])),
            limit,
            at(50),
        )
        .unwrap();
    assert!(again.duplicate);
    let log = store.output(test_a).unwrap().unwrap();
    let texts: Vec<&str> = log.head.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["hello", "\u{1b}[31mred"]);
    assert_eq!(
        (log.total_lines, log.dropped_lines, log.dropped_bytes),
        (2, 0, 0)
    );
    assert_eq!(log.head[0].stream, Some(crate::OutputStream::Stdout));
    let other = store.output(test_b).unwrap().unwrap();
    assert_eq!(other.head.len(), 1);
    // Output moves no status, only when the run last heard from its rig.
    let mut after = run(store, dry.run_id);
    assert_eq!(after.run.last_event_at, Some(at(50)), "output is the rig's sign of life");
    after.run.last_event_at = tree_before.run.last_event_at;
    assert_eq!(after, tree_before, "output moved a status");

    // What a follower misses: the lines after the last one it has, with their offsets.
    let all = store.output_after(test_a, None).unwrap().unwrap();
    let texts: Vec<&str> = all.iter().map(|l| l.line.text.as_str()).collect();
    assert_eq!(texts, ["hello", "\u{1b}[31mred"]);
    let rest = store.output_after(test_a, Some(all[0].offset)).unwrap().unwrap();
    assert_eq!(rest, all[1..]);
    assert!(store.output_after(test_a, Some(all[1].offset)).unwrap().unwrap().is_empty());
    assert_eq!(store.output_after(9_999_999, None).unwrap(), None);

    // 200 lines of 10 bytes (and the 2 above, 16 bytes) through a 1 KiB limit.
    for batch in 0..4 {
        let texts: Vec<String> = (0..50).map(|i| format!("{:09}", batch * 50 + i)).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        store
            .append_output(
                &output_of(output(
                    M,
                    Some(dry.run_id),
                    0,
                    &format!("bulk-{batch}"),
                    &texts,
                )),
                limit,
                at(60),
            )
            .unwrap();
    }
    let log = store.output(test_a).unwrap().unwrap();
    assert_eq!(log.total_lines, 202);
    assert_eq!(log.total_bytes, 15 + 2000);
    assert_eq!(log.head.first().map(|l| l.text.as_str()), Some("hello"));
    assert_eq!(log.tail.last().map(|l| l.text.as_str()), Some("000000199"));
    let kept: u64 = log.head.iter().chain(&log.tail).map(|l| l.bytes()).sum();
    assert!(kept <= 1024, "{kept} bytes kept");
    assert_eq!(log.dropped_bytes, log.total_bytes - kept);
    assert_eq!(
        log.dropped_lines,
        202 - (log.head.len() + log.tail.len()) as u64
    );
    assert!(log.dropped_lines > 0);
    // The tail is the newest lines, contiguous.
    let tail: Vec<&str> = log.tail.iter().map(|l| l.text.as_str()).collect();
    let first_tail: usize = tail[0].parse().unwrap();
    let expected: Vec<String> = (first_tail..200).map(|i| format!("{i:09}")).collect();
    assert_eq!(tail, expected);
    assert_eq!(store.output(9_999_999).unwrap(), None);
    // After the limit dropped lines, a follower gets what is kept after its line: the tail.
    let newest = store.output_after(test_a, Some(all[1].offset)).unwrap().unwrap();
    let newest: Vec<&str> = newest.iter().map(|l| l.line.text.as_str()).collect();
    let kept: Vec<&str> = log.head[2..]
        .iter()
        .chain(&log.tail)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(newest, kept);
}

/// Output for a test that does not exist, a run of another machine, an unknown machine, an
/// aborted run, or an id another machine used is refused and changes nothing.
pub fn output_refusals_change_nothing(store: &dyn Store) {
    let other = apply(store, dry_run("rig-2", 0, &[("s.py", &["a.py"])]));
    let dry = apply(store, dry_run(M, 1, &[("s.py", &["a.py"])]));
    store
        .append_output(
            &output_of(output("rig-2", Some(other.run_id), 0, "used", &["x"])),
            OutputLimit::default(),
            Timestamp::now(),
        )
        .unwrap();
    let refused = |event: Event, check: &dyn Fn(&StoreError) -> bool| {
        let before = dump(store);
        let err = store
            .append_output(&output_of(event), OutputLimit::default(), Timestamp::now())
            .unwrap_err();
        assert!(check(&err), "unexpected error: {err:?}");
        assert!(err.is_client_error(), "{err:?}");
        assert_eq!(dump(store), before, "a refused batch changed the store");
    };
    refused(output(M, Some(dry.run_id), 1, "o1", &["x"]), &|e| {
        matches!(e, StoreError::UnknownTest { index: 1, .. })
    });
    refused(output(M, Some(other.run_id), 0, "o2", &["x"]), &|e| {
        matches!(e, StoreError::UnknownRun { .. })
    });
    refused(output("nobody", None, 0, "o3", &["x"]), &|e| {
        matches!(e, StoreError::UnknownMachine { .. })
    });
    refused(output(M, Some(dry.run_id), 0, "used", &["x"]), &|e| {
        matches!(e, StoreError::EventIdReused { .. })
    });
    store.abort(dry.run_id, at(5)).unwrap();
    refused(output(M, Some(dry.run_id), 0, "o4", &["x"]), &|e| {
        matches!(e, StoreError::RunAborted { .. })
    });
    // Deleting the machine takes its output with it.
    let test = run(store, other.run_id).scenarios[0].tests[0].id;
    assert!(store.output(test).unwrap().is_some());
    store.delete_machine(other.machine_id).unwrap();
    assert_eq!(store.output(test).unwrap(), None);
}

/// Event ids are one namespace across every kind: an id an output batch used is a duplicate
/// for a start, stop or dry run of the same machine (and refused for another machine's), and
/// the other way round.
pub fn event_ids_are_shared_by_output_and_other_events(store: &dyn Store) {
    let limit = OutputLimit::default();
    let dry = apply(store, dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]));
    apply(store, dry_run("rig-2", 0, &[("s.py", &["a.py"])]));
    let out = store
        .append_output(&output_of(output(M, None, 0, "shared-1", &["x"])), limit, at(1))
        .unwrap();
    assert!(!out.duplicate);
    let before = dump(store);
    let again = store
        .apply(&with_event_id(start(M, "a.py", 2), "shared-1"), at(2))
        .unwrap();
    assert!(again.duplicate, "a start reusing an output's id was applied");
    assert_eq!(again.run_id, dry.run_id);
    assert_eq!(dump(store), before, "a start reusing an output's id changed the store");
    assert_rejected_unchanged(store, with_event_id(start("rig-2", "a.py", 3), "shared-1"), |e| {
        matches!(e, StoreError::EventIdReused { .. })
    });

    let started = apply(store, with_event_id(start(M, "a.py", 4), "shared-2"));
    let before = dump(store);
    let again = store
        .append_output(&output_of(output(M, None, 1, "shared-2", &["y"])), limit, at(5))
        .unwrap();
    assert!(again.duplicate, "output reusing a start's id was applied");
    assert_eq!(again.run_id, started.run_id);
    assert_eq!(dump(store), before, "output reusing a start's id changed the store");
    let err = store
        .append_output(&output_of(output("rig-2", None, 0, "shared-2", &["z"])), limit, at(6))
        .unwrap_err();
    assert!(matches!(err, StoreError::EventIdReused { .. }), "{err:?}");
}

/// A batch answers each event in order, as `apply` would one by one: a refused event changes
/// nothing and the events after it still apply; a duplicate (also of an event earlier in the
/// same batch) changes nothing; output in a batch goes to its test.
pub fn batch_answers_each_event_in_order(store: &dyn Store) {
    let limit = OutputLimit::default();
    let now = Timestamp::now();
    let batch = [
        with_event_id(dry_run(M, 0, &[("s.py", &["a.py", "b.py"])]), "b-dry"),
        with_event_id(start(M, "a.py", 1), "b-start-a"),
        // Not planned: refused, the rest goes on.
        with_event_id(start(M, "zzz.py", 2), "b-start-z"),
        output(M, None, 0, "b-out", &["hello"]),
        with_event_id(stop(M, "a.py", Status::Passed, 3), "b-stop-a"),
        // The same start again, inside the batch: a duplicate, not a second start.
        with_event_id(start(M, "a.py", 1), "b-start-a"),
        with_event_id(start(M, "b.py", 4), "b-start-b"),
        // An event of a machine with no dry run: refused alone.
        start("nobody", "a.py", 5),
    ];
    let answers = store.apply_batch(&batch, limit, now).unwrap();
    assert_eq!(answers.len(), batch.len());
    let dry = answers[0].as_ref().unwrap();
    assert_eq!((dry.kind, dry.duplicate), (EventKind::DryRun, false));
    let tree = run(store, dry.run_id);
    let (a, b) = (tree.scenarios[0].tests[0].id, tree.scenarios[0].tests[1].id);
    let applied = |i: usize| answers[i].as_ref().unwrap_or_else(|e| panic!("event {i}: {e}"));
    assert_eq!((applied(1).test_id, applied(1).duplicate), (Some(a), false));
    assert!(matches!(
        answers[2],
        Err(StoreError::NoMatchingTest { ref file_name, .. }) if file_name == "zzz.py"
    ));
    assert_eq!(applied(3).test_id, Some(a));
    assert_eq!(applied(4).test_id, Some(a));
    assert_eq!((applied(5).test_id, applied(5).duplicate), (Some(a), true));
    assert_eq!((applied(6).test_id, applied(6).run_status), (Some(b), Status::Running));
    assert!(matches!(answers[7], Err(StoreError::UnknownMachine { .. })));
    assert_eq!(
        statuses(&run(store, dry.run_id)),
        [Status::Passed, Status::Running]
    );
    let log = store.output(a).unwrap().unwrap();
    assert_eq!(log.head.len(), 1);
    assert_eq!(log.head[0].text, "hello");

    // The whole batch again: every event a duplicate or refused as before; nothing changes.
    let before = dump(store);
    let again = store.apply_batch(&batch, limit, now).unwrap();
    for (i, answer) in again.iter().enumerate() {
        match (answer, &answers[i]) {
            (Ok(now), Ok(first)) => {
                assert!(now.duplicate, "event {i} applied twice");
                assert_eq!((now.run_id, now.test_id), (first.run_id, first.test_id));
            }
            (Err(_), Err(_)) => {}
            (now, first) => panic!("event {i}: {now:?} now, {first:?} first"),
        }
    }
    assert_eq!(dump(store), before, "a repeated batch changed the store");
    assert!(store.apply_batch(&[], limit, now).unwrap().is_empty());
}
}

fn output_of(event: Event) -> crate::output::TestOutput {
    match event {
        Event::TestOutput(output) => output,
        other => panic!("not output: {other:?}"),
    }
}
