//! JUnit XML, the report format CI systems read: a run to a report and a report to events.
//!
//! A run becomes one `<testsuite>` per scenario and one `<testcase>` per test; each testcase
//! also carries a `stpt.status` property so that a report made here comes back with the very
//! statuses it left with. Reading goes through `import`, which takes the dialects other tools
//! write (see there for the mapping), over the small XML tree of `xml`.

mod import;
mod xml;

pub(crate) use import::{ForeignReport, events};

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use stpt_core::{Node, RunTree, ScenarioTree, Status, TestPosition, Visitor, walk};

/// The testcase property holding the stpt status.
pub(crate) const STATUS_PROPERTY: &str = "stpt.status";

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
            Status::Skipped
            | Status::Cancelled
            | Status::Unknown
            | Status::Running
            | Status::Waiting => TestCaseStatus::skipped(),
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
