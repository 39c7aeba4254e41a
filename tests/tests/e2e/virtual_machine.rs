//! The virtual testing machine's run (lamp 5, door 2, trunk 3) reported through the runner's
//! reporter and HTTP sink shows up complete in the seed's REST API.

use stpt_core::status::aggregate;
use stpt_core::{Status, StatusCounts};
use stpt_runner::{HttpSink, Reporter};
use stpt_tests::database::TempDatabase;
use stpt_tests::delivery::quick_config;
use stpt_tests::plans::{self, OUTCOMES};
use stpt_tests::server::{ReservedPort, RunningServer};

const MACHINE: &str = "machine #1";

#[test]
fn the_virtual_testing_machine_completes_a_run_visible_in_the_rest_api() {
    let database = TempDatabase::new();
    let port = ReservedPort::new();
    let server = RunningServer::start(&database, &port);
    let spool = tempfile::tempdir().expect("spool directory");
    let plan = plans::virtual_testing_machine();
    assert_eq!(plan.test_count(), OUTCOMES.len());
    let mut reporter = Reporter::new(
        MACHINE,
        HttpSink::open(quick_config(&server.url(), spool.path())).expect("open sink"),
    );
    reporter.dry_run(&plan).expect("dry run delivered");
    for (test, (status, message)) in plan.tests().iter().zip(OUTCOMES) {
        reporter.start(test).expect("start delivered");
        reporter
            .stop(test, status, message)
            .expect("stop delivered");
    }
    reporter.flush().expect("nothing left to deliver");
    assert_eq!(reporter.sink().spool().pending_count().expect("spool"), 0);

    let machines = server.get_json("/tm_api/machines/");
    let results = machines["results"].as_array().expect("machine list");
    assert_eq!(results.len(), 1, "{machines}");
    assert_eq!(results[0]["machine_name"], MACHINE);
    let machine_id = results[0]["pk"].as_i64().expect("machine pk");

    let last = server.get_json(&format!("/tm_api/machine_last_data/{machine_id}/"));
    assert_eq!(last["machine_name"], MACHINE);
    let run = &last["last_master_scenario"];
    assert_eq!(run["file_name"], "scenario_master.py");
    assert_eq!(
        (run["tests_count"].as_u64(), run["scenarios_count"].as_u64()),
        (Some(10), Some(3))
    );
    assert!(
        run["timestamp_stop"].is_string(),
        "the run is finished: {run}"
    );
    let sent: Vec<Status> = OUTCOMES.iter().map(|(status, _)| *status).collect();
    assert_eq!(run["status"], aggregate(sent.iter().copied()).as_str());
    let counts: StatusCounts =
        serde_json::from_value(run["tests_statistics"].clone()).expect("tests_statistics");
    assert_eq!(counts, StatusCounts::tally(sent.iter().copied()));

    let scenarios = run["scenarios"].as_array().expect("scenarios");
    let shape: Vec<(&str, usize)> = scenarios
        .iter()
        .map(|s| {
            let tests = s["tests"].as_array().map_or(0, Vec::len);
            (s["file_name"].as_str().unwrap_or_default(), tests)
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("scenario_01_feature_lamp.py", 5),
            ("scenario_02_feature_door.py", 2),
            ("scenario_03_feature_trunk.py", 3)
        ]
    );
    let shown: Vec<(String, String)> = scenarios
        .iter()
        .flat_map(|s| s["tests"].as_array().into_iter().flatten())
        .map(|t| (t["file_name"].to_string(), t["status"].to_string()))
        .collect();
    let expected: Vec<(String, String)> = plan
        .tests()
        .iter()
        .zip(&sent)
        .map(|(test, status)| {
            (
                format!("{:?}", test.file_name()),
                format!("{:?}", status.as_str()),
            )
        })
        .collect();
    assert_eq!(shown, expected);

    // The failure messages reach the stored run too.
    let run_id = run["pk"].as_i64().expect("run pk");
    let tree = server.get_json(&format!("/api/v1/runs/{run_id}"));
    let messages: Vec<Option<&str>> = tree["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .flat_map(|s| s["tests"].as_array().into_iter().flatten())
        .map(|t| t["message"].as_str())
        .collect();
    let sent_messages: Vec<Option<&str>> = OUTCOMES.iter().map(|(_, message)| *message).collect();
    assert_eq!(messages, sent_messages);
    server.stop();
}
