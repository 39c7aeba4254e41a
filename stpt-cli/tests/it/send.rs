//! `send`: event files, arrays, JSON lines and stdin, in order; errors name the event.

use insta::assert_snapshot;

use crate::support::{Server, lamp_run, write_file};

#[test]
fn sends_single_events_arrays_json_lines_and_stdin_in_order() {
    let server = Server::start();
    let run = lamp_run(0);
    let events = run.test_events();
    let dir = server.dir.path();
    let dry = write_file(dir, "dry_run.json", &run.dry_run().to_string());
    let (start0, stop0) = &events[0];
    let first = write_file(
        dir,
        "first.json",
        &serde_json::Value::Array(vec![start0.clone(), stop0.clone()]).to_string(),
    );
    let lines = events[1..]
        .iter()
        .flat_map(|(start, stop)| [start.to_string(), stop.to_string()])
        .collect::<Vec<_>>()
        .join("\n");
    let rest = write_file(dir, "rest.jsonl", &format!("{lines}\n"));
    let output = server.stpt(&["send", &dry, &first, &rest]);
    let text = output
        .snapshot()
        .replace(&dir.to_string_lossy().into_owned(), "[dir]");
    assert_snapshot!(text, @r"
    exit code: Some(0)
    --- stdout ---
    sent dry_run for lamp-rig → run 1 ([dir]/dry_run.json)
    sent test_start for lamp-rig ([dir]/first.json[0])
    sent test_stop for lamp-rig ([dir]/first.json[1])
    sent test_start for lamp-rig ([dir]/rest.jsonl:1)
    sent test_stop for lamp-rig ([dir]/rest.jsonl:2)
    sent test_start for lamp-rig ([dir]/rest.jsonl:3)
    sent test_stop for lamp-rig ([dir]/rest.jsonl:4)
    --- stderr ---
    ");
    let shown = server.stpt(&["show", "1", "--json"]).json();
    assert_eq!(shown["master"]["status"], "failed");

    let again = server.stpt_with_stdin(&["send", "-", "--json"], Some(&run.dry_run().to_string()));
    assert_eq!(again.code, Some(0), "{}", again.snapshot());
    let line: serde_json::Value = serde_json::from_str(again.stdout.trim()).expect("a JSON line");
    assert_eq!(line["kind"], "dry_run");
    assert_eq!(line["source"], "stdin");
    assert_eq!(line["answer"]["run_id"], 2);
}

#[test]
fn refused_and_invalid_events_are_named() {
    let server = Server::start();
    let dir = server.dir.path();
    let run = lamp_run(0);
    let (start, _) = &run.test_events()[0];
    let orphan = write_file(dir, "orphan.json", &start.to_string());
    let refused = server.stpt(&["send", &orphan]);
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.starts_with(&format!(
            "error: {orphan}: the test_start for lamp-rig was not accepted: http://"
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("answered HTTP 4"),
        "{}",
        refused.stderr
    );

    let bad = write_file(dir, "bad.jsonl", "{\"machine_name\": \"m\"}\n");
    let invalid = server.stpt(&["send", &bad]);
    assert_snapshot!(invalid.snapshot().replace(&dir.to_string_lossy().into_owned(), "[dir]"), @r#"
    exit code: Some(1)
    --- stdout ---
    --- stderr ---
    error: [dir]/bad.jsonl is not a valid event: cannot tell which event this is: expected master_scenario, timestamp_start or status
    "#);
}
