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

/// A sample report of another tool, under `tests/data/junit`.
fn sample(path: &str) -> String {
    format!("{}/tests/data/junit/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Imports `paths` as a run of `machine` and shows it; the snapshot holds both outputs.
fn import_and_show(server: &Server, machine: &str, paths: &[&str]) -> String {
    let files: Vec<String> = paths.iter().map(|p| sample(p)).collect();
    let mut args = vec!["import", "junit"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--machine", machine]);
    let imported = server.stpt(&args);
    assert_eq!(imported.code, Some(0), "{}", imported.snapshot());
    let shown = server.stpt(&["show", "--last", machine]);
    assert_eq!(shown.code, Some(0), "{}", shown.snapshot());
    let text = format!("{}{}", imported.stdout, shown.stdout).replace(&sample(""), "[samples]/");
    // A report that gives no time is dated when it is imported.
    text.lines()
        .map(|line| match line.strip_prefix("dry run ") {
            Some(rest) if !rest.contains("2024") => {
                let after = rest.split_once(" · ").map_or("", |(_, after)| after);
                format!("dry run [imported] · {after}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

#[test]
fn the_dialects_of_common_tools_import_with_statuses_and_messages() {
    let server = Server::start();
    for (name, paths) in [
        ("surefire", &["surefire-reports"][..]),
        ("gradle", &["gradle/TEST-com.example.rig.TrunkTest.xml"][..]),
        ("pytest", &["pytest.xml"][..]),
        ("jest_junit", &["jest-junit.xml"][..]),
        ("go_junit_report", &["go-junit-report.xml"][..]),
        ("phpunit", &["phpunit.xml"][..]),
        ("bare", &["bare.xml"][..]),
    ] {
        let text = import_and_show(&server, name, paths);
        insta::with_settings!({snapshot_suffix => name}, {
            assert_snapshot!(text);
        });
    }
}

#[test]
fn several_reports_make_one_run_and_other_files_are_refused_by_name() {
    let server = Server::start();
    let run = server.stpt(&[
        "import",
        "junit",
        &sample("surefire-reports/TEST-com.example.rig.DoorTest.xml"),
        &sample("gradle/TEST-com.example.rig.TrunkTest.xml"),
        "--machine",
        "ci",
        "--json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    let json = run.json();
    assert_eq!(json["tests"], 6);
    assert_eq!(json["counts"]["failed"], 2);
    let tree = server.stpt(&["show", "--last", "ci", "--json"]).json();
    let scenarios: Vec<&str> = tree["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| s["node"]["file_name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        scenarios,
        ["com.example.rig.DoorTest", "com.example.rig.TrunkTest"]
    );
    assert_eq!(tree["master"]["file_name"], "2 junit reports");

    let dir = server.dir.path();
    let html = crate::support::write_file(dir, "index.html", "<html><body>hi</body></html>");
    let json_file = crate::support::write_file(dir, "report.json", "{\"tests\": []}");
    let empty = crate::support::write_file(dir, "empty.xml", "<testsuites name=\"none\"/>");
    let mut refused = String::new();
    for file in [&html, &json_file, &empty] {
        refused.push_str(
            &server
                .stpt(&["import", "junit", file, "--machine", "ci"])
                .snapshot()
                .replace(&dir.to_string_lossy().into_owned(), "[dir]"),
        );
    }
    assert_snapshot!(refused, @r"
    exit code: Some(1)
    --- stdout ---
    --- stderr ---
    error: [dir]/index.html is not a JUnit XML report: its root element is <html>, not <testsuites> or <testsuite>
    exit code: Some(1)
    --- stdout ---
    --- stderr ---
    error: [dir]/report.json is not a JUnit XML report: not well-formed XML near byte 13: the document has no element
    exit code: Some(1)
    --- stdout ---
    --- stderr ---
    error: [dir]/empty.xml holds no testcase: nothing to import
    ");
}
