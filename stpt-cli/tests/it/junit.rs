//! `export --format junit` and `import junit`: a run survives the round trip with its
//! statuses and messages.

use insta::assert_snapshot;

use crate::support::{RunSpec, Server, TestSpec};

fn statuses(server: &Server, args: &[&str]) -> Vec<(String, String, Option<String>)> {
    let json = server.stpt(args).json();
    json["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .flat_map(|s| s["tests"].as_array().expect("tests").clone())
        .map(|t| {
            (
                t["file_name"].as_str().unwrap_or_default().to_owned(),
                t["status"].as_str().unwrap_or_default().to_owned(),
                t["message"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn junit_export_then_import_keeps_every_status() {
    let server = Server::start();
    let run = RunSpec {
        machine: "lamp-rig",
        minute: 0,
        scenarios: &["scenario_01_lamp.py", "scenario_02_door.py"],
        tests: &[
            TestSpec {
                scenario: 0,
                name: "a_passed.py",
                status: "passed",
                message: None,
            },
            TestSpec {
                scenario: 0,
                name: "b_failed.py",
                status: "failed",
                message: Some("lamp still on"),
            },
            TestSpec {
                scenario: 0,
                name: "c_error.py",
                status: "error",
                message: Some("no lamp"),
            },
            TestSpec {
                scenario: 1,
                name: "d_warning.py",
                status: "warning",
                message: Some("slow"),
            },
            TestSpec {
                scenario: 1,
                name: "e_unknown.py",
                status: "unknown",
                message: None,
            },
        ],
    };
    let id = server.post_run(&run).to_string();
    let xml = server.stpt(&["export", &id, "--format", "junit"]);
    assert_eq!(xml.code, Some(0), "{}", xml.snapshot());
    assert_snapshot!(xml.stdout);

    let file = server.dir.path().join("report.xml");
    let written = server.stpt(&[
        "export",
        "--last",
        "lamp-rig",
        "-o",
        &file.to_string_lossy(),
    ]);
    assert_eq!(written.code, Some(0), "{}", written.snapshot());
    let imported = server.stpt(&[
        "import",
        "junit",
        &file.to_string_lossy(),
        "--machine",
        "ci-copy",
    ]);
    assert_snapshot!(imported.snapshot().replace(&file.to_string_lossy().into_owned(), "[report.xml]"), @r"
    exit code: Some(0)
    --- stdout ---
    imported [report.xml] as run 2 of ci-copy: 5 tests (unknown 1 · failed 1 · error 1 · warning 1 · passed 1)
    --- stderr ---
    ");

    let original = statuses(&server, &["show", &id, "--json"]);
    let copy = statuses(&server, &["show", "--last", "ci-copy", "--json"]);
    assert_eq!(copy, original);
    let exported_json = server.stpt(&["export", &id, "--format", "json"]).json();
    assert_eq!(exported_json, server.stpt(&["show", &id, "--json"]).json());
}

#[test]
fn foreign_junit_reports_map_failure_error_and_skipped() {
    let server = Server::start();
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nightly" tests="4" failures="1" errors="1">
  <testsuite name="lamp" tests="4" failures="1" errors="1" disabled="0" timestamp="2024-05-01T10:00:00Z">
    <testcase name="on" classname="rig.lamp" time="1.5"/>
    <testcase name="off" classname="rig.lamp" time="2"><failure message="still on">lamp still on after 5 s</failure></testcase>
    <testcase name="dim" classname="rig.lamp"><error message="no dimmer"/></testcase>
    <testcase name="blink" classname="rig.lamp"><skipped/></testcase>
  </testsuite>
</testsuites>"#;
    let file = crate::support::write_file(server.dir.path(), "nightly.xml", xml);
    let imported = server.stpt(&["import", "junit", &file, "--machine", "nightly", "--json"]);
    assert_eq!(imported.code, Some(0), "{}", imported.snapshot());
    let shown = server.stpt(&["show", "--last", "nightly"]);
    assert_snapshot!(shown.snapshot());
}
