//! Small builders for events, so tests read as the run they describe.
//!
//! Tests live in the path `/t`, scenarios in `/s`; `at` is seconds after
//! 2024-01-01 00:00:00 UTC.

use crate::output::{OutputBatch, OutputLine, OutputStream, TestOutput};
use crate::status::Status;
use crate::timestamp::Timestamp;
use crate::wire::{DryRun, Event, MasterScenarioPlan, ScenarioPlan, TestPlan, TestStart, TestStop};

/// Directory every built test lives in.
pub const TEST_PATH: &str = "/t";

/// `at` seconds after 2024-01-01 00:00:00 UTC.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(1_704_067_200_000_000 + seconds * 1_000_000)
        .unwrap_or_else(|| panic!("timestamp out of range"))
}

/// A dry run of `machine` with scenarios named by their file names and their tests'.
pub fn dry_run(machine: &str, seconds: i64, scenarios: &[(&str, &[&str])]) -> Event {
    Event::DryRun(DryRun {
        machine_name: machine.to_owned(),
        timestamp: at(seconds),
        master_scenario: MasterScenarioPlan {
            file_name: "master.py".to_owned(),
            file_path: "/s".to_owned(),
            script: Some("run_all()".to_owned()),
            scenarios: scenarios
                .iter()
                .map(|(name, tests)| ScenarioPlan {
                    file_name: (*name).to_owned(),
                    file_path: "/s".to_owned(),
                    script: Some(format!("# {name}")),
                    tests: tests
                        .iter()
                        .map(|test| TestPlan {
                            file_name: (*test).to_owned(),
                            file_path: TEST_PATH.to_owned(),
                            script: Some(format!("print('{test}')")),
                        })
                        .collect(),
                })
                .collect(),
        },
        event_id: None,
        labels: Default::default(),
    })
}

/// `event` (a dry run) carrying `labels`; other events are answered unchanged.
pub fn labelled(mut event: Event, labels: &[(&str, &str)]) -> Event {
    if let Event::DryRun(dry) = &mut event {
        dry.labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    }
    event
}

/// A start of test `name` on `machine`.
pub fn start(machine: &str, name: &str, seconds: i64) -> Event {
    Event::TestStart(TestStart {
        machine_name: machine.to_owned(),
        file_name: name.to_owned(),
        file_path: TEST_PATH.to_owned(),
        timestamp_start: at(seconds),
        event_id: None,
        run_id: None,
        index: None,
        attempt: None,
    })
}

/// A stop of test `name` on `machine` with `status`.
pub fn stop(machine: &str, name: &str, status: Status, seconds: i64) -> Event {
    Event::TestStop(TestStop {
        machine_name: machine.to_owned(),
        file_name: name.to_owned(),
        file_path: TEST_PATH.to_owned(),
        status,
        timestamp_stop: at(seconds),
        event_id: None,
        run_id: None,
        index: None,
        message: None,
        attempt: None,
    })
}

/// `event` with a client event id.
pub fn with_event_id(mut event: Event, id: &str) -> Event {
    event.set_event_id(id);
    event
}

/// `event` (a start or stop) addressed by run id and plan index.
pub fn addressed(mut event: Event, run_id: i64, index: u32) -> Event {
    match &mut event {
        Event::TestStart(e) => {
            e.run_id = Some(run_id);
            e.index = Some(index);
        }
        Event::TestStop(e) => {
            e.run_id = Some(run_id);
            e.index = Some(index);
        }
        Event::DryRun(_) | Event::TestOutput(_) => {}
    }
    event
}

/// A batch of output of the test at `index` of `run_id` (the machine's newest run when
/// `None`), one stdout line per text.
pub fn output(
    machine: &str,
    run_id: Option<i64>,
    index: u32,
    event_id: &str,
    texts: &[&str],
) -> Event {
    Event::TestOutput(TestOutput {
        run_id,
        index,
        batch: OutputBatch {
            machine_name: machine.to_owned(),
            event_id: event_id.to_owned(),
            lines: texts
                .iter()
                .map(|text| OutputLine {
                    text: (*text).to_owned(),
                    stream: Some(OutputStream::Stdout),
                    timestamp: None,
                })
                .collect(),
        },
    })
}

/// The seed's own example run: its dry run, first start and first stop.
pub fn seed_fixtures() -> [&'static str; 3] {
    [
        include_str!("../../tests/fixtures/seed_dry_run.json"),
        include_str!("../../tests/fixtures/seed_test_start.json"),
        include_str!("../../tests/fixtures/seed_test_stop.json"),
    ]
}

/// `event` (a start or stop) marked as attempt `attempt` of its test.
pub fn attempt(mut event: Event, attempt: u32) -> Event {
    match &mut event {
        Event::TestStart(start) => start.attempt = Some(attempt),
        Event::TestStop(stop) => stop.attempt = Some(attempt),
        Event::DryRun(_) | Event::TestOutput(_) => {}
    }
    event
}
