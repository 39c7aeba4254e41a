//! JUnit XML, the report format CI systems read: a run to a report and a report to events.
//!
//! A run becomes one `<testsuite>` per scenario and one `<testcase>` per test; each testcase
//! also carries a `stpt.status` property so that a report made here comes back with the very
//! statuses it left with. Reports from elsewhere map `failure` → failed, `error` → error,
//! `skipped` → unknown and anything else → passed.

use std::time::Duration;

use chrono::Utc;
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite, XmlString,
};
use serde_json::json;
use stpt_core::{
    DryRun, Event, EventKind, MasterScenarioPlan, Node, RunTree, ScenarioPlan, ScenarioTree,
    Status, TestPlan, TestPosition, Timestamp, Visitor, WireError, walk,
};

/// The testcase property holding the stpt status.
pub(crate) const STATUS_PROPERTY: &str = "stpt.status";

/// The file path given to imported scenarios and tests that name none.
const IMPORTED_PATH: &str = "junit";

/// `tree` as a JUnit report.
pub(crate) fn report(tree: &RunTree) -> Report {
    let mut builder = ReportBuilder {
        report: Report::new(format!(
            "{} run {} ({})",
            tree.machine.name, tree.run.id, tree.master.file_name
        )),
        suite: None,
    };
    builder
        .report
        .set_timestamp(tree.run.timestamp.as_datetime());
    if let Some(seconds) = tree.master.duration_seconds() {
        builder.report.set_time(seconds_to_duration(seconds));
    }
    walk(tree, &mut builder);
    builder.report
}

struct ReportBuilder {
    report: Report,
    suite: Option<TestSuite>,
}

impl Visitor<RunTree> for ReportBuilder {
    fn enter_scenario(&mut self, scenario: &ScenarioTree, _index: usize) {
        let node = &scenario.node;
        let mut suite = TestSuite::new(node.file_name.as_str());
        if let Some(start) = node.timestamp_start {
            suite.set_timestamp(start.as_datetime());
        }
        if let Some(seconds) = node.duration_seconds() {
            suite.set_time(seconds_to_duration(seconds));
        }
        suite.add_property(Property::new("stpt.file_path", node.file_path.as_str()));
        self.suite = Some(suite);
    }

    fn leave_scenario(&mut self, _scenario: &ScenarioTree, _index: usize) {
        if let Some(suite) = self.suite.take() {
            self.report.add_test_suite(suite);
        }
    }

    fn visit_test(&mut self, test: &Node, _position: TestPosition) {
        let mut status = match test.status {
            Status::Passed | Status::Warning => TestCaseStatus::success(),
            Status::Failed => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Status::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
            Status::Cancelled | Status::Unknown | Status::Running | Status::Waiting => {
                TestCaseStatus::skipped()
            }
        };
        if let Some(message) = test.message.as_deref() {
            let first = message.lines().next().unwrap_or_default();
            status.set_message(first).set_description(message);
        }
        let success = matches!(status, TestCaseStatus::Success { .. });
        let mut case = TestCase::new(test.file_name.as_str(), status);
        if success && let Some(message) = test.message.as_deref() {
            // A passing testcase has no message element; a warning's reason goes to its
            // output, which the import reads back for reports that carry `stpt.status`.
            case.set_system_out(message);
        }
        case.set_classname(test.file_path.as_str());
        if let Some(start) = test.timestamp_start {
            case.set_timestamp(start.as_datetime());
        }
        if let Some(seconds) = test.duration_seconds() {
            case.set_time(seconds_to_duration(seconds));
        }
        case.add_property(Property::new(STATUS_PROPERTY, test.status.as_str()));
        if let Some(suite) = self.suite.as_mut() {
            suite.add_test_case(case);
        }
    }
}

fn seconds_to_duration(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or_default()
}

/// The events that store `report` as one run of `machine_name`: a dry run, then a start and
/// a stop per testcase.
#[derive(Debug, Clone)]
pub(crate) struct ImportedRun {
    /// The dry run.
    pub(crate) dry_run: Event,
    /// Each testcase, in order.
    pub(crate) tests: Vec<ImportedTest>,
}

/// One testcase as a test of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImportedTest {
    /// The test's file name (the testcase's name).
    pub(crate) file_name: String,
    /// The test's file path (the testcase's classname).
    pub(crate) file_path: String,
    /// When it started.
    pub(crate) start: Timestamp,
    /// When it stopped.
    pub(crate) stop: Timestamp,
    /// How it ended.
    pub(crate) status: Status,
    /// Why, when it did not pass.
    pub(crate) message: Option<String>,
    /// Its position in plan order.
    pub(crate) index: Option<u32>,
}

impl ImportedTest {
    /// Its start event for `machine_name`'s run `run_id`, checked as the server would.
    pub(crate) fn start_event(
        &self,
        machine_name: &str,
        run_id: Option<i64>,
    ) -> Result<Event, WireError> {
        // Built as JSON so that extensions added to the wire types later keep their defaults.
        let body = json!({
            "machine_name": machine_name,
            "file_name": self.file_name,
            "file_path": self.file_path,
            "timestamp_start": self.start,
            "run_id": run_id,
            "index": self.index,
        });
        Event::parse(EventKind::TestStart, body.to_string().as_bytes())
    }

    /// Its stop event for `machine_name`'s run `run_id`, checked as the server would.
    pub(crate) fn stop_event(
        &self,
        machine_name: &str,
        run_id: Option<i64>,
    ) -> Result<Event, WireError> {
        let body = json!({
            "machine_name": machine_name,
            "file_name": self.file_name,
            "file_path": self.file_path,
            "status": self.status,
            "timestamp_stop": self.stop,
            "run_id": run_id,
            "index": self.index,
            "message": self.message,
        });
        Event::parse(EventKind::TestStop, body.to_string().as_bytes())
    }
}

/// Turns a JUnit report into the events of one run; timestamps come from the report, else
/// from `now`, each test starting when the previous one stopped.
pub(crate) fn events(report: &Report, machine_name: &str, now: Timestamp) -> ImportedRun {
    let first_time = report
        .timestamp
        .or_else(|| report.test_suites.iter().find_map(|s| s.timestamp))
        .map(|at| Timestamp::from_datetime(at.with_timezone(&Utc)))
        .unwrap_or(now);
    let mut cursor = first_time;
    let mut scenarios = Vec::new();
    let mut tests = Vec::new();
    for suite in &report.test_suites {
        let suite_path = suite
            .properties
            .iter()
            .find(|p| p.name.as_str() == "stpt.file_path")
            .map_or(IMPORTED_PATH, |p| p.value.as_str());
        let mut planned = Vec::new();
        for case in &suite.test_cases {
            let file_path = case
                .classname
                .as_ref()
                .map(XmlString::as_str)
                .filter(|c| !c.trim().is_empty())
                .unwrap_or(IMPORTED_PATH)
                .to_owned();
            let file_name = case.name.as_str().to_owned();
            planned.push(TestPlan {
                file_name: file_name.clone(),
                file_path: file_path.clone(),
                script: None,
            });
            let start = case
                .timestamp
                .map(|at| Timestamp::from_datetime(at.with_timezone(&Utc)))
                .unwrap_or(cursor);
            let took = case.time.unwrap_or_default();
            let stop = chrono::Duration::from_std(took)
                .ok()
                .and_then(|d| start.as_datetime().checked_add_signed(d))
                .map_or(start, Timestamp::from_datetime);
            cursor = stop;
            tests.push(ImportedTest {
                file_name,
                file_path,
                start,
                stop,
                status: case_status(case),
                message: case_message(case),
                index: u32::try_from(tests.len()).ok(),
            });
        }
        scenarios.push(ScenarioPlan {
            file_name: suite.name.as_str().to_owned(),
            file_path: suite_path.to_owned(),
            script: None,
            tests: planned,
        });
    }
    let master_name = if report.name.as_str().trim().is_empty() {
        "junit report"
    } else {
        report.name.as_str()
    };
    let dry_run = Event::DryRun(DryRun {
        machine_name: machine_name.to_owned(),
        timestamp: first_time,
        master_scenario: MasterScenarioPlan {
            file_name: master_name.to_owned(),
            file_path: IMPORTED_PATH.to_owned(),
            script: None,
            scenarios,
        },
        event_id: None,
    });
    ImportedRun { dry_run, tests }
}

/// The status of a testcase: its `stpt.status` property when it has a valid one, else from
/// its outcome element.
pub(crate) fn case_status(case: &TestCase) -> Status {
    let declared = case
        .properties
        .iter()
        .find(|p| p.name.as_str() == STATUS_PROPERTY)
        .and_then(|p| p.value.as_str().parse::<Status>().ok());
    if let Some(status) = declared {
        return status;
    }
    match &case.status {
        TestCaseStatus::Success { .. } => Status::Passed,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            ..
        } => Status::Failed,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Error,
            ..
        } => Status::Error,
        TestCaseStatus::Skipped { .. } => Status::Unknown,
    }
}

fn case_message(case: &TestCase) -> Option<String> {
    let (message, description) = match &case.status {
        TestCaseStatus::Success { .. } => {
            let ours = case
                .properties
                .iter()
                .any(|p| p.name.as_str() == STATUS_PROPERTY);
            return case
                .system_out
                .as_ref()
                .filter(|_| ours)
                .map(|text| text.as_str().to_owned());
        }
        TestCaseStatus::NonSuccess {
            message,
            description,
            ..
        }
        | TestCaseStatus::Skipped {
            message,
            description,
            ..
        } => (message, description),
    };
    description
        .as_ref()
        .or(message.as_ref())
        .map(|text| text.as_str().to_owned())
        .filter(|text| !text.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_reports_map_outcomes_to_statuses() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nightly" tests="4" failures="1" errors="1">
  <testsuite name="lamp" tests="4" failures="1" errors="1" disabled="0">
    <testcase name="on" classname="rig.lamp" time="1.5"/>
    <testcase name="off" classname="rig.lamp"><failure message="still on">lamp still on after 5 s</failure></testcase>
    <testcase name="dim" classname="rig.lamp"><error message="no dimmer"/></testcase>
    <testcase name="blink" classname="rig.lamp"><skipped/></testcase>
  </testsuite>
</testsuites>"#;
        let report = Report::deserialize_from_str(xml).unwrap();
        let now: Timestamp = "2024-01-02 03:04:05".parse().unwrap();
        let run = events(&report, "rig", now);
        let statuses: Vec<(String, Status, Option<String>)> = run
            .tests
            .iter()
            .map(|t| (t.file_name.clone(), t.status, t.message.clone()))
            .collect();
        assert_eq!(
            statuses,
            [
                ("on".to_owned(), Status::Passed, None),
                (
                    "off".to_owned(),
                    Status::Failed,
                    Some("lamp still on after 5 s".to_owned())
                ),
                (
                    "dim".to_owned(),
                    Status::Error,
                    Some("no dimmer".to_owned())
                ),
                ("blink".to_owned(), Status::Unknown, None),
            ]
        );
        let first = &run.tests[0];
        assert_eq!(first.start, now);
        assert_eq!(first.start.seconds_until(first.stop), 1.5);
        assert_eq!(run.tests[1].start, first.stop);
        let Event::TestStop(stop) = run.tests[1].stop_event("rig", Some(7)).unwrap() else {
            panic!("not a stop");
        };
        assert_eq!(
            (
                stop.status,
                stop.run_id,
                stop.index,
                stop.message.as_deref()
            ),
            (
                Status::Failed,
                Some(7),
                Some(1),
                Some("lamp still on after 5 s")
            )
        );
        run.dry_run.validate().unwrap();
    }
}
