//! The messages a client reads when its payload is refused: each names the offending field
//! by its JSON path and says what was expected.

use stpt_core::wire::MAX_PATH_CHARS;
use stpt_core::{Event, EventKind, WireError};

fn message(kind: EventKind, body: &str) -> String {
    match Event::parse(kind, body.as_bytes()) {
        Ok(event) => panic!("expected a refusal, got {event:?}"),
        Err(err) => err.to_string(),
    }
}

fn is_field_error(kind: EventKind, body: &str, expected_field: &str) -> bool {
    matches!(
        Event::parse(kind, body.as_bytes()),
        Err(WireError::InvalidField { field, .. }) if field == expected_field
    )
}

#[test]
fn malformed_json() {
    insta::assert_snapshot!(
        message(EventKind::TestStart, r#"{"machine_name": "rig-1", "file_name": "#),
        @"malformed JSON: EOF while parsing a value at line 1 column 39"
    );
}

#[test]
fn missing_field() {
    let body = r#"{"machine_name": "rig-1", "file_name": "a.py", "timestamp_start": "2018-12-30 13:01:57"}"#;
    assert!(is_field_error(EventKind::TestStart, body, "file_path"));
    insta::assert_snapshot!(message(EventKind::TestStart, body), @"file_path: missing field");
}

#[test]
fn wrong_type() {
    let body = r#"{"machine_name": "rig-1", "file_name": "a.py", "file_path": "/t", "timestamp_start": 1546174917}"#;
    assert!(is_field_error(
        EventKind::TestStart,
        body,
        "timestamp_start"
    ));
    insta::assert_snapshot!(message(EventKind::TestStart, body), @"timestamp_start: invalid type: integer `1546174917`, expected a string");
}

#[test]
fn unknown_status() {
    let body = r#"{"machine_name": "rig-1", "file_name": "a.py", "file_path": "/t", "status": "PASSED", "timestamp_stop": "2018-12-30 13:01:57"}"#;
    assert!(is_field_error(EventKind::TestStop, body, "status"));
    insta::assert_snapshot!(message(EventKind::TestStop, body), @r#"status: unknown status "PASSED": expected one of running, cancelled, failed, error, warning, waiting, unknown, passed, skipped"#);
}

#[test]
fn bad_timestamp() {
    let body = r#"{"machine_name": "rig-1", "file_name": "a.py", "file_path": "/t", "status": "passed", "timestamp_stop": "30/12/2018 13:01"}"#;
    assert!(is_field_error(EventKind::TestStop, body, "timestamp_stop"));
    insta::assert_snapshot!(message(EventKind::TestStop, body), @r#"timestamp_stop: invalid timestamp "30/12/2018 13:01": expected "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC) or RFC 3339"#);
}

#[test]
fn blank_name() {
    let body = r#"{"machine_name": "rig-1", "timestamp": "2018-12-30 13:01:57", "master_scenario": {"file_name": "m.py", "file_path": "/s", "scenarios": [{"file_name": "s.py", "file_path": "/s", "tests": [{"file_name": "a.py", "file_path": "/t"}, {"file_name": "  ", "file_path": "/t"}]}]}}"#;
    let field = "master_scenario.scenarios[0].tests[1].file_name";
    assert!(is_field_error(EventKind::DryRun, body, field));
    insta::assert_snapshot!(message(EventKind::DryRun, body), @"master_scenario.scenarios[0].tests[1].file_name: must not be blank");
}

#[test]
fn too_long_path() {
    let long = format!("/{}", "d".repeat(MAX_PATH_CHARS));
    let body = format!(
        r#"{{"machine_name": "rig-1", "timestamp": "2018-12-30 13:01:57", "master_scenario": {{"file_name": "m.py", "file_path": "/s", "scenarios": [{{"file_name": "s.py", "file_path": "{long}"}}]}}}}"#
    );
    assert!(is_field_error(
        EventKind::DryRun,
        &body,
        "master_scenario.scenarios[0].file_path"
    ));
    insta::assert_snapshot!(message(EventKind::DryRun, &body), @"master_scenario.scenarios[0].file_path: is 1025 characters long; at most 1024 are allowed");
    // The limit itself is allowed.
    let body = body.replace(&long, &long[1..]);
    assert!(Event::parse(EventKind::DryRun, body.as_bytes()).is_ok());
}
