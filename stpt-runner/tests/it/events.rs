//! The event streams of example plans, snapshotted with timestamps and ids redacted.

use stpt_core::{DryRun, MemorySink, Status};
use stpt_runner::snapshot::redacted_events;
use stpt_runner::{Plan, Reporter};

const SEED_DRY_RUN: &str = include_str!("../../../stpt-core/tests/fixtures/seed_dry_run.json");

#[test]
fn the_seed_plan_reported_test_by_test() {
    let dry: DryRun = serde_json::from_str(SEED_DRY_RUN).unwrap();
    let plan = Plan::from_master(dry.master_scenario).unwrap();
    let sink = MemorySink::new();
    let mut reporter = Reporter::new(dry.machine_name, sink.clone());
    reporter.dry_run(&plan).unwrap();
    let outcomes = [
        (Status::Passed, None),
        (Status::Warning, Some("lamp dimmer than expected")),
        (Status::Failed, Some("door did not open")),
        (Status::Error, None),
    ];
    for (test, (status, message)) in plan.tests().iter().zip(outcomes) {
        reporter.start(test).unwrap();
        reporter.stop(test, status, message).unwrap();
    }
    let events = sink.events();
    assert_eq!(events.len(), 1 + 2 * plan.test_count());
    assert!(events.iter().all(|e| e.validate().is_ok()));
    insta::assert_json_snapshot!(redacted_events(&events));
}

#[test]
fn a_plan_built_in_code() {
    let plan = Plan::builder("scenario_master.py", "/rig/scenarios")
        .script("run all features")
        .scenario("scenario_02_feature_door.py", "/rig/scenarios")
        .test("01_01_test_door.py", "/rig/02_feature_door")
        .script("open()\nclose()\n")
        .scenario("scenario_03_feature_trunk.py", "/rig/scenarios")
        .build()
        .unwrap();
    let sink = MemorySink::new();
    let mut reporter = Reporter::new("rig", sink.clone());
    reporter.dry_run(&plan).unwrap();
    let test = plan.tests()[0];
    reporter.start(&test).unwrap();
    reporter
        .stop(&test, Status::Cancelled, Some("interrupted"))
        .unwrap();
    insta::assert_json_snapshot!(redacted_events(&sink.events()));
}
