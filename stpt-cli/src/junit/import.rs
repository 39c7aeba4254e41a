//! Reading JUnit XML as the tools in the wild write it, and turning it into a run's events.
//!
//! JUnit XML has no single schema: every tool writes its own dialect. The reader accepts what
//! the common ones write:
//! - the root is `<testsuites>` (with or without `name`: pytest, jest-junit, go-junit-report)
//!   or a single `<testsuite>` (Maven Surefire, Gradle, old pytest);
//! - suites may nest (PHPUnit, some Ant tasks): each suite with testcases of its own becomes a
//!   scenario, named by its path of suite names (`unit › LampTest`); suites without testcases
//!   are left out;
//! - any attribute may be missing: a testcase without `name` takes its `classname`, one
//!   without `classname` its `file` or its suite's name; a missing or unreadable `time` is 0;
//! - `time` may carry thousands separators (`1,234.5`, old Surefire) or a decimal comma;
//! - timestamps are RFC 3339 or naive (`2024-05-01T10:00:00`, Surefire, Gradle, jest-junit,
//!   pytest before 8), which are taken as UTC;
//! - outcomes: `<failure>` (or Surefire's `<rerunFailure>`) → failed, `<error>` (or
//!   `<rerunError>`) → error, `<skipped>` → skipped, only `<flakyFailure>`/`<flakyError>`
//!   (passed when Surefire reran it) → warning, none → passed; a failure and an error on one
//!   testcase (pytest's failing test whose teardown failed too) → failed, with both messages.
//!   A testcase's `stpt.status` property (reports of `stpt export`) wins over all of these.
//!
//! A message is the outcome's text (a stack trace, captured output) and its `message`
//! attribute, whichever says more; names longer than the protocol allows are shortened.

use std::time::Duration;

use serde_json::json;
use stpt_core::wire::{MAX_NAME_CHARS, MAX_PATH_CHARS};
use stpt_core::{
    DryRun, Event, EventKind, MasterScenarioPlan, ScenarioPlan, Status, TestPlan, Timestamp,
    WireError,
};

use super::STATUS_PROPERTY;
use super::xml::{self, Element, XmlError};

/// The file path given to scenarios and tests that name none.
const IMPORTED_PATH: &str = "junit";
/// What joins the names of nested suites.
const SUITE_SEPARATOR: &str = " › ";

/// Why a file is not a report this reader can take.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// It is not XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// It is XML of another kind.
    #[error("its root element is <{root}>, not <testsuites> or <testsuite>")]
    NotJunit {
        /// The root element's name.
        root: String,
    },
}

/// A JUnit report, whatever its dialect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForeignReport {
    /// The report's name: `<testsuites name>`, or the name of a lone root `<testsuite>`.
    pub(crate) name: Option<String>,
    /// When it started, if it says.
    pub(crate) timestamp: Option<Timestamp>,
    /// Its suites with testcases, nested ones flattened, in document order.
    pub(crate) suites: Vec<Suite>,
}

/// A suite: a scenario of the run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Suite {
    /// Its name (the path of names for a nested suite).
    pub(crate) name: String,
    /// Its `stpt.file_path` property (reports of `stpt export`).
    pub(crate) file_path: Option<String>,
    /// When it started, if it says.
    pub(crate) timestamp: Option<Timestamp>,
    /// Its testcases, in order.
    pub(crate) cases: Vec<Case>,
}

/// A testcase: a test of the run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Case {
    /// The test's file name.
    pub(crate) name: String,
    /// The test's file path.
    pub(crate) file_path: String,
    /// When it started, if it says.
    pub(crate) timestamp: Option<Timestamp>,
    /// How long it took.
    pub(crate) duration: Duration,
    /// How it ended.
    pub(crate) status: Status,
    /// Why, when it says.
    pub(crate) message: Option<String>,
}

impl ForeignReport {
    /// Reads a report from its XML text.
    pub(crate) fn read(text: &str) -> Result<ForeignReport, ReadError> {
        let root = xml::parse(text)?;
        let mut report = ForeignReport {
            name: None,
            timestamp: timestamp(&root),
            suites: Vec::new(),
        };
        match root.name.as_str() {
            "testsuites" => {
                report.name = root.non_blank("name").map(str::to_owned);
                for suite in root.elements_named("testsuite") {
                    collect(suite, &[], &mut report.suites);
                }
                // Testcases outside any suite (rare) form one scenario of their own.
                let loose = cases(&root, report.name.as_deref().unwrap_or("tests"));
                if !loose.is_empty() {
                    report.suites.push(Suite {
                        name: report.name.clone().unwrap_or_else(|| "tests".to_owned()),
                        file_path: None,
                        timestamp: None,
                        cases: loose,
                    });
                }
            }
            "testsuite" => {
                report.name = root.non_blank("name").map(str::to_owned);
                collect(&root, &[], &mut report.suites);
            }
            other => {
                return Err(ReadError::NotJunit {
                    root: other.to_owned(),
                });
            }
        }
        Ok(report)
    }

    /// How many testcases it holds.
    pub(crate) fn case_count(&self) -> usize {
        self.suites.iter().map(|s| s.cases.len()).sum()
    }
}

/// Adds `suite` (if it has testcases) and the suites nested in it, under the names `path`.
fn collect(suite: &Element, path: &[String], out: &mut Vec<Suite>) {
    let mut names = path.to_vec();
    // A nameless suite adds nothing to its children's names (PHPUnit's outermost one).
    if let Some(own) = suite.non_blank("name") {
        match names.last_mut() {
            // PHPUnit names a data provider's suite `Class::method` inside the suite `Class`.
            Some(parent) if own.starts_with(parent.as_str()) => *parent = own.to_owned(),
            _ => names.push(own.to_owned()),
        }
    }
    let name = match names.is_empty() {
        true => format!("suite {}", out.len() + 1),
        false => names.join(SUITE_SEPARATOR),
    };
    let found = cases(suite, &name);
    if !found.is_empty() {
        out.push(Suite {
            name: shorten(&name, MAX_NAME_CHARS),
            file_path: properties(suite)
                .find(|(key, _)| *key == "stpt.file_path")
                .map(|(_, value)| value.to_owned())
                .filter(|value| !value.trim().is_empty()),
            timestamp: timestamp(suite),
            cases: found,
        });
    }
    for nested in suite.elements_named("testsuite") {
        collect(nested, &names, out);
    }
}

/// The testcases directly in `parent`, whose name is `suite_name`.
fn cases(parent: &Element, suite_name: &str) -> Vec<Case> {
    parent
        .elements_named("testcase")
        .enumerate()
        .map(|(i, case)| {
            let name = case
                .non_blank("name")
                .or_else(|| case.non_blank("classname"))
                .map_or_else(|| format!("testcase {}", i + 1), str::to_owned);
            let file_path = case
                .non_blank("classname")
                .or_else(|| case.non_blank("file"))
                .unwrap_or(suite_name);
            let (status, message) = outcome(case);
            Case {
                name: shorten(&name, MAX_NAME_CHARS),
                file_path: shorten(file_path, MAX_PATH_CHARS),
                timestamp: timestamp(case),
                duration: case.attr("time").and_then(seconds).unwrap_or_default(),
                status,
                message,
            }
        })
        .collect()
}

/// A testcase's status and message.
fn outcome(case: &Element) -> (Status, Option<String>) {
    let declared = properties(case)
        .find(|(key, _)| *key == STATUS_PROPERTY)
        .and_then(|(_, value)| value.trim().parse::<Status>().ok());
    let of = |names: &[&str]| -> Vec<&Element> {
        case.elements()
            .filter(|e| names.contains(&e.name.as_str()))
            .collect()
    };
    let failures = of(&["failure", "rerunFailure"]);
    let errors = of(&["error", "rerunError"]);
    let skipped = of(&["skipped"]);
    let flaky = of(&["flakyFailure", "flakyError"]);
    if let Some(status) = declared {
        // `stpt export` writes a message as the outcome's text, or as the output of a test
        // that passed or warned.
        let message = messages(&[failures, errors, skipped].concat()).or_else(|| {
            case.first("system-out")
                .map(Element::text)
                .filter(|text| !text.trim().is_empty())
        });
        return (status, message);
    }
    if !failures.is_empty() {
        return (Status::Failed, messages(&[failures, errors].concat()));
    }
    if !errors.is_empty() {
        return (Status::Error, messages(&errors));
    }
    if !skipped.is_empty() {
        return (Status::Skipped, messages(&skipped));
    }
    if !flaky.is_empty() {
        let earlier = messages(&flaky).map_or_else(String::new, |m| format!(":\n{m}"));
        let message = format!(
            "passed when rerun after {}{earlier}",
            count_failures(flaky.len())
        );
        return (Status::Warning, Some(message));
    }
    (Status::Passed, None)
}

/// "1 failure", "2 failures".
fn count_failures(n: usize) -> String {
    if n == 1 {
        "1 failure".to_owned()
    } else {
        format!("{n} failures")
    }
}

/// The messages of outcome elements, each once, joined by a blank line; `None` when none says
/// anything.
fn messages(elements: &[&Element]) -> Option<String> {
    let mut texts: Vec<String> = Vec::new();
    for text in elements.iter().filter_map(|e| message(e)) {
        // Surefire repeats a rerun's failure as the final one.
        if !texts.contains(&text) {
            texts.push(text);
        }
    }
    (!texts.is_empty()).then(|| texts.join("\n\n"))
}

/// One outcome element's message: its text (or Surefire's `<stackTrace>` in it) and its
/// `message` attribute, whichever says more, or both when neither holds the other.
fn message(element: &Element) -> Option<String> {
    let attribute = element.non_blank("message");
    let text = element.text();
    let body = match text.trim() {
        "" => element
            .first("stackTrace")
            .map(Element::text)
            .unwrap_or_default(),
        _ => text,
    };
    let body = body.trim_end().trim_start_matches(['\n', '\r']);
    let body = (!body.trim().is_empty()).then_some(body);
    match (attribute, body) {
        (None, None) => None,
        (Some(attribute), None) => Some(attribute.to_owned()),
        (None, Some(body)) => Some(body.to_owned()),
        (Some(attribute), Some(body)) if body.contains(attribute) => Some(body.to_owned()),
        (Some(attribute), Some(body)) => Some(format!("{attribute}\n{body}")),
    }
}

/// The `<property name value>` pairs of an element's `<properties>`.
fn properties(element: &Element) -> impl Iterator<Item = (&str, &str)> {
    element
        .elements_named("properties")
        .flat_map(|properties| properties.elements_named("property"))
        .filter_map(|property| {
            let value = property
                .attr("value")
                .map_or_else(|| property.children.is_empty().then_some(""), Some)?;
            Some((property.attr("name")?, value))
        })
}

fn timestamp(element: &Element) -> Option<Timestamp> {
    element.non_blank("timestamp")?.parse().ok()
}

/// A `time` attribute: seconds, with thousands separators (`1,234.5`) or a decimal comma
/// (`0,25`), and an optional `s`.
pub(crate) fn seconds(text: &str) -> Option<Duration> {
    let text = text.trim().trim_end_matches('s').trim();
    let normal = if text.contains('.') {
        text.replace(',', "")
    } else {
        text.replacen(',', ".", 1)
    };
    let value: f64 = normal.parse().ok()?;
    Duration::try_from_secs_f64(value).ok()
}

/// `text`, cut to at most `limit` characters (ending in `…` when cut).
fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(limit.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// The events that store some reports as one run of a machine: a dry run, then a start and a
/// stop per testcase.
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

/// Turns reports into the events of one run named `name` (the master scenario): one scenario
/// per suite, in order. Timestamps come from the reports, else from `now`, each test starting
/// when the previous one stopped.
pub(crate) fn events(
    reports: &[ForeignReport],
    name: &str,
    machine_name: &str,
    now: Timestamp,
) -> ImportedRun {
    let first_time = reports
        .iter()
        .find_map(|r| {
            r.timestamp
                .or_else(|| r.suites.iter().find_map(|s| s.timestamp))
        })
        .unwrap_or(now);
    let mut cursor = first_time;
    let mut scenarios = Vec::new();
    let mut tests = Vec::new();
    for suite in reports.iter().flat_map(|r| &r.suites) {
        if let Some(at) = suite.timestamp {
            cursor = at;
        }
        let mut planned = Vec::new();
        for case in &suite.cases {
            planned.push(TestPlan {
                file_name: case.name.clone(),
                file_path: case.file_path.clone(),
                script: None,
            });
            let start = case.timestamp.unwrap_or(cursor);
            let stop = chrono::Duration::from_std(case.duration)
                .ok()
                .and_then(|d| start.as_datetime().checked_add_signed(d))
                .map_or(start, Timestamp::from_datetime);
            cursor = stop;
            tests.push(ImportedTest {
                file_name: case.name.clone(),
                file_path: case.file_path.clone(),
                start,
                stop,
                status: case.status,
                message: case.message.clone(),
                index: u32::try_from(tests.len()).ok(),
            });
        }
        scenarios.push(ScenarioPlan {
            file_name: suite.name.clone(),
            file_path: suite
                .file_path
                .as_deref()
                .map_or_else(|| IMPORTED_PATH.to_owned(), |p| shorten(p, MAX_PATH_CHARS)),
            script: None,
            tests: planned,
        });
    }
    let name = match name.trim() {
        "" => "junit report".to_owned(),
        name => shorten(name, MAX_NAME_CHARS),
    };
    let dry_run = Event::DryRun(DryRun {
        machine_name: machine_name.to_owned(),
        timestamp: first_time,
        master_scenario: MasterScenarioPlan {
            file_name: name,
            file_path: IMPORTED_PATH.to_owned(),
            script: None,
            scenarios,
        },
        event_id: None,
        labels: Default::default(),
    });
    ImportedRun { dry_run, tests }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(xml: &str) -> ForeignReport {
        ForeignReport::read(xml).unwrap_or_else(|e| panic!("{e}: {xml}"))
    }

    fn outcomes(report: &ForeignReport) -> Vec<(&str, &str, Status, Option<&str>)> {
        report
            .suites
            .iter()
            .flat_map(|s| &s.cases)
            .map(|c| {
                (
                    c.file_path.as_str(),
                    c.name.as_str(),
                    c.status,
                    c.message.as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn outcomes_map_to_statuses_with_their_messages() {
        let report = read(
            r#"<testsuites name="nightly">
  <testsuite name="lamp">
    <testcase name="on" classname="rig.lamp" time="1.5"/>
    <testcase name="off" classname="rig.lamp"><failure message="still on">lamp still on after 5 s</failure></testcase>
    <testcase name="dim" classname="rig.lamp"><error message="no dimmer"/></testcase>
    <testcase name="blink" classname="rig.lamp"><skipped/></testcase>
    <testcase name="both" classname="rig.lamp"><failure message="boom"/><error message="teardown failed"/></testcase>
    <testcase name="warm" classname="rig.lamp"><flakyFailure message="cold"><stackTrace>at Lamp.warm</stackTrace></flakyFailure></testcase>
    <testcase name="said" classname="rig.lamp"><failure message="expected 1">AssertionError: expected 1
  at x</failure></testcase>
  </testsuite>
</testsuites>"#,
        );
        assert_eq!(report.name.as_deref(), Some("nightly"));
        assert_eq!(
            outcomes(&report),
            [
                ("rig.lamp", "on", Status::Passed, None),
                (
                    "rig.lamp",
                    "off",
                    Status::Failed,
                    Some("lamp still on after 5 s")
                ),
                ("rig.lamp", "dim", Status::Error, Some("no dimmer")),
                ("rig.lamp", "blink", Status::Skipped, None),
                (
                    "rig.lamp",
                    "both",
                    Status::Failed,
                    Some("boom\n\nteardown failed")
                ),
                (
                    "rig.lamp",
                    "warm",
                    Status::Warning,
                    Some("passed when rerun after 1 failure:\ncold\nat Lamp.warm")
                ),
                (
                    "rig.lamp",
                    "said",
                    Status::Failed,
                    Some("AssertionError: expected 1\n  at x")
                ),
            ]
        );
    }

    #[test]
    fn a_lone_testsuite_root_and_missing_attributes_are_accepted() {
        let report = read(
            r#"<?xml version="1.0"?>
<testsuite tests="3">
  <testcase classname="only.Classname" time=""/>
  <testcase name="no class" file="tests/a.py" time="abc"/>
  <testcase/>
</testsuite>"#,
        );
        assert_eq!(report.name, None);
        assert_eq!(report.suites.len(), 1);
        assert_eq!(report.suites[0].name, "suite 1");
        let cases: Vec<(&str, &str, Duration)> = report.suites[0]
            .cases
            .iter()
            .map(|c| (c.file_path.as_str(), c.name.as_str(), c.duration))
            .collect();
        assert_eq!(
            cases,
            [
                ("only.Classname", "only.Classname", Duration::ZERO),
                ("tests/a.py", "no class", Duration::ZERO),
                ("suite 1", "testcase 3", Duration::ZERO),
            ]
        );
    }

    #[test]
    fn nested_suites_become_scenarios_named_by_their_path() {
        let report = read(
            r#"<testsuites><testsuite name="unit">
  <testsuite name="LampTest"><testcase name="on"/>
    <testsuite name="LampTest::dim"><testcase name="dim with data set #0"/></testsuite>
  </testsuite>
  <testsuite name="DoorTest"/>
  <testcase name="direct"/>
</testsuite></testsuites>"#,
        );
        let names: Vec<(&str, usize)> = report
            .suites
            .iter()
            .map(|s| (s.name.as_str(), s.cases.len()))
            .collect();
        assert_eq!(
            names,
            [
                ("unit", 1),
                ("unit › LampTest", 1),
                ("unit › LampTest::dim", 1)
            ]
        );
    }

    #[test]
    fn other_documents_are_refused_with_what_they_are() {
        assert_eq!(
            ForeignReport::read("<html><body/></html>")
                .unwrap_err()
                .to_string(),
            "its root element is <html>, not <testsuites> or <testsuite>"
        );
        assert!(matches!(
            ForeignReport::read("{\"tests\": 1}"),
            Err(ReadError::Xml(_))
        ));
    }

    #[test]
    fn times_with_separators_and_timestamps_without_zone() {
        let ms = |s: &str| seconds(s).map(|d| d.as_millis());
        assert_eq!(ms("1.5"), Some(1500));
        assert_eq!(ms("1,234.5"), Some(1_234_500));
        assert_eq!(ms("0,25"), Some(250));
        assert_eq!(ms(" 2s "), Some(2000));
        assert_eq!(ms("-1"), None);
        assert_eq!(ms("NaN"), None);
        let report = read(
            r#"<testsuites>
<testsuite name="a" timestamp="2024-05-01T10:00:00"><testcase name="x" time="2"/></testsuite>
<testsuite name="b" timestamp="2024-05-01T12:00:05.5+02:00"><testcase name="y"/></testsuite>
<testsuite name="c" timestamp="yesterday"><testcase name="z"/></testsuite>
</testsuites>"#,
        );
        let at: Vec<Option<String>> = report
            .suites
            .iter()
            .map(|s| s.timestamp.map(|t| t.to_string()))
            .collect();
        assert_eq!(
            at,
            [
                Some("2024-05-01 10:00:00".to_owned()),
                Some("2024-05-01 10:00:05.500000".to_owned()),
                None
            ]
        );
    }

    #[test]
    fn long_names_are_shortened_to_what_the_protocol_takes() {
        let long = "x".repeat(300);
        let report = read(&format!(
            r#"<testsuite name="{long}"><testcase name="{long}" classname="c"/></testsuite>"#
        ));
        let case = &report.suites[0].cases[0];
        assert_eq!(case.name.chars().count(), MAX_NAME_CHARS);
        assert!(case.name.ends_with('…'));
        let run = events(&[report], &long, "rig", Timestamp::now());
        run.dry_run.validate().unwrap();
    }

    #[test]
    fn events_follow_the_report_times_and_the_plan_order() {
        let report = read(
            r#"<testsuites name="nightly" timestamp="2024-05-01T10:00:00Z">
  <testsuite name="lamp">
    <testcase name="on" classname="rig.lamp" time="1.5"/>
    <testcase name="off" classname="rig.lamp" time="2"><failure message="still on">lamp still on after 5 s</failure></testcase>
  </testsuite>
  <testsuite name="door" timestamp="2024-05-01T11:00:00Z"><testcase name="open" classname="rig.door"/></testsuite>
</testsuites>"#,
        );
        let now: Timestamp = "2030-01-01 00:00:00".parse().unwrap();
        let run = events(&[report], "nightly", "rig", now);
        run.dry_run.validate().unwrap();
        let times: Vec<(String, String)> = run
            .tests
            .iter()
            .map(|t| (t.start.to_string(), t.stop.to_string()))
            .collect();
        assert_eq!(
            times,
            [
                (
                    "2024-05-01 10:00:00".to_owned(),
                    "2024-05-01 10:00:01.500000".to_owned()
                ),
                (
                    "2024-05-01 10:00:01.500000".to_owned(),
                    "2024-05-01 10:00:03.500000".to_owned()
                ),
                (
                    "2024-05-01 11:00:00".to_owned(),
                    "2024-05-01 11:00:00".to_owned()
                ),
            ]
        );
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
    }
}
