//! Test support shared by every crate: event builders, a store dump, the Store
//! conformance suite and random event sequences (feature `testing`).
//!
//! The main items here are [`conformance`], one generic set of cases every [`Store`]
//! implementation must pass, the [`store_conformance_tests!`](crate::store_conformance_tests)
//! macro that turns them into `#[test]` functions for one store, and [`sequences`], the
//! property test every store runs on random event sequences.

// Test code compiled as a library for the other crates' tests: an unwrap that fails is a
// failing test, as in any `#[test]`.
#![allow(clippy::unwrap_used)]

pub mod builders;
pub mod conformance;
pub mod sequences;

use crate::model::PageRequest;
use crate::store::Store;

/// Everything a store holds, read back through its queries, as JSON: machines, and each
/// machine's runs in full, with each test's kept output (by plan index). Two equal dumps mean
/// the store did not change; two stores fed the same events at the same times
/// (`Store::apply`'s `now`) dump equal.
pub fn dump(store: &dyn Store) -> serde_json::Value {
    let mut machines = Vec::new();
    let mut page = 1;
    loop {
        let batch = store
            .machines(PageRequest::new(page, PageRequest::MAX_SIZE))
            .unwrap_or_else(|e| panic!("machines query failed: {e}"));
        let done = batch.items.len() < PageRequest::MAX_SIZE as usize;
        for summary in batch.items {
            let mut runs = Vec::new();
            let mut run_page = 1;
            loop {
                let batch = store
                    .runs(
                        summary.machine.id,
                        PageRequest::new(run_page, PageRequest::MAX_SIZE),
                    )
                    .unwrap_or_else(|e| panic!("runs query failed: {e}"));
                let done = batch.items.len() < PageRequest::MAX_SIZE as usize;
                for run in batch.items {
                    let tree = store
                        .run(run.id)
                        .unwrap_or_else(|e| panic!("run query failed: {e}"));
                    let mut outputs = serde_json::Map::new();
                    if let Some(tree) = &tree {
                        for test in tree.scenarios.iter().flat_map(|s| &s.tests) {
                            let log = store
                                .output(test.id)
                                .unwrap_or_else(|e| panic!("output query failed: {e}"));
                            if let Some(log) = log.filter(|log| log.total_lines > 0) {
                                outputs.insert(test.position.to_string(), serde_json::json!(log));
                            }
                        }
                    }
                    runs.push(
                        serde_json::json!({ "summary": run, "tree": tree, "outputs": outputs }),
                    );
                }
                if done {
                    break;
                }
                run_page += 1;
            }
            machines.push(serde_json::json!({ "summary": summary, "runs": runs }));
        }
        if done {
            break;
        }
        page += 1;
    }
    serde_json::Value::Array(machines)
}

/// Generates one `#[test]` per conformance case for a store, and one test that fails when
/// this macro's list of cases differs from [`conformance::CASES`] (the cases as declared).
///
/// `$make` is evaluated afresh for every case and must yield something that dereferences to a
/// [`Store`] (a `Box<MemoryStore>`, or a guard owning a temporary database), so no two cases
/// share state. Attributes after it go on every generated test: a backend that is not
/// available everywhere marks its cases ignored rather than letting them pass unrun.
///
/// ```ignore
/// stpt_core::store_conformance_tests!(Box::new(stpt_core::MemoryStore::new()));
/// stpt_core::store_conformance_tests!(
///     TestDb::postgres(),
///     #[cfg_attr(not(postgres_available), ignore = "no PostgreSQL server")]
/// );
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::store_conformance_tests!(@cases [$(#[$attr])*] $make;
            dry_run_creates_machine_and_waiting_plan,
            machine_names_compare_case_insensitively,
            runs_are_listed_newest_first,
            dry_run_marks_earlier_ongoing_tests_unknown,
            start_takes_first_waiting_test_in_plan_order,
            start_makes_the_other_running_test_unknown,
            stop_applies_status_timestamp_and_message,
            cancelled_cancels_every_ongoing_test,
            scenario_and_master_timestamps_follow_their_tests,
            aggregates_follow_the_priority_order,
            empty_scenarios_and_plans_aggregate_to_unknown,
            unknown_machine_changes_nothing,
            no_matching_test_changes_nothing,
            refusals_while_a_test_runs_change_nothing,
            bad_status_is_rejected_before_the_store,
            replayed_event_id_is_not_applied_twice,
            run_id_and_index_address_one_test,
            run_id_of_another_machine_is_rejected,
            queries_paginate_and_miss_cleanly,
            seed_fixtures_make_one_run,
            retried_test_keeps_every_attempt_and_the_last_status,
            attempt_mismatch_changes_nothing,
            abort_cancels_ongoing_tests_and_records_when,
            close_stale_closes_only_silent_ongoing_runs,
            test_history_follows_the_same_test_across_runs,
            late_events_complete_a_run_closed_as_stale,
            late_events_by_run_id_apply_to_a_superseded_run,
            reported_unknown_and_aborted_tests_are_not_revived,
            previous_run_is_the_machines_newest_older_run,
            delete_machine_removes_it_with_its_runs,
            labels_are_kept_with_their_run,
            find_runs_filters_by_machine_status_labels_and_dates,
            output_keeps_head_and_tail_of_each_test,
            output_refusals_change_nothing,
            event_ids_are_shared_by_output_and_other_events,
            batch_answers_each_event_in_order,
        );
    };
    (@cases $attrs:tt $make:expr; $($case:ident),* $(,)?) => {
        $(
            $crate::store_conformance_tests!(@case $attrs $make; $case);
        )*

        /// The list above names every case `conformance.rs` declares, so none silently
        /// never runs.
        #[test]
        fn conformance_list_names_every_case() {
            let listed: &[&str] = &[$(stringify!($case)),*];
            assert_eq!(listed, $crate::testing::conformance::CASES);
        }
    };
    (@case [$(#[$attr:meta])*] $make:expr; $case:ident) => {
        $(#[$attr])*
        #[test]
        fn $case() {
            let store = $make;
            $crate::testing::conformance::$case(&*store);
        }
    };
}
