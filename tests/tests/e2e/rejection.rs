//! Events the server refuses (4xx) come back as `SinkError::Rejected` with the server's
//! detail, are moved to the spool's `rejected/` folder, never sent again, and change nothing.

use stpt_core::{SinkError, Status};
use stpt_runner::{HttpSink, Reporter};
use stpt_tests::database::TempDatabase;
use stpt_tests::delivery::quick_config;
use stpt_tests::plans;
use stpt_tests::server::{ReservedPort, RunningServer};

use crate::outcomes;

fn rejection(result: Result<(), SinkError>) -> (String, String) {
    match result {
        Err(SinkError::Rejected {
            destination,
            reason,
        }) => (destination, reason),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn refused_events_are_reported_with_the_detail_and_set_aside() {
    let database = TempDatabase::new();
    let port = ReservedPort::new();
    let server = RunningServer::start(&database, &port);
    let spool = tempfile::tempdir().expect("spool directory");
    let plan = plans::virtual_testing_machine();
    let tests = plan.tests();

    // A machine that never sent a dry run is unknown: 404.
    let mut ghost = Reporter::new(
        "ghost",
        HttpSink::open(quick_config(&server.url(), spool.path())).expect("open sink"),
    );
    let (destination, reason) = rejection(ghost.start(&tests[0]));
    assert_eq!(destination, format!("{}/tm_api/test_start/", server.url()));
    assert!(
        reason.starts_with(
            r#"HTTP 404 unknown_machine: unknown machine "ghost": a machine must send a dry run first (test_start event "#
        ),
        "{reason}"
    );
    let sink = ghost.into_sink();

    // A known machine stopping a test that never started: 409.
    let mut rig = Reporter::new("rig", sink);
    rig.dry_run(&plan).expect("dry run accepted");
    let (_, conflict) = rejection(rig.stop(&tests[1], Status::Passed, None));
    assert!(
        conflict.starts_with("HTTP 409 no_matching_test: no running test \"01_02_test_lamp.py\""),
        "{conflict}"
    );

    // The sink stays online and the refused events are neither pending nor resent.
    rig.start(&tests[0]).expect("start accepted");
    rig.stop(&tests[0], Status::Passed, None)
        .expect("stop accepted");
    rig.flush().expect("nothing left to deliver");
    let sink = rig.into_sink();
    assert!(!sink.is_offline());
    assert_eq!(sink.spool().pending_count().expect("spool"), 0);
    let rejected = sink.spool().rejected().expect("spool");
    let reasons: Vec<&str> = rejected.iter().map(|(_, reason)| reason.as_str()).collect();
    assert_eq!(reasons, [reason.as_str(), conflict.as_str()]);
    let mut sink = sink;
    let delivery = sink.deliver_pending().expect("deliver");
    assert_eq!((delivery.delivered, delivery.rejected.len()), (0, 0));

    // The store holds no ghost and only the accepted events.
    let machines = server.get_json("/tm_api/machines/");
    let names: Vec<&str> = machines["results"]
        .as_array()
        .expect("machine list")
        .iter()
        .filter_map(|m| m["machine_name"].as_str())
        .collect();
    assert_eq!(names, ["rig"]);
    server.stop();
    let stored = outcomes(&database.last_run("rig"));
    assert_eq!(stored[0].1, "passed");
    assert!(
        stored[1..]
            .iter()
            .all(|(_, status, _)| *status == "waiting"),
        "{stored:?}"
    );
}
