//! `tail`: following a live run while a rig reports it, and `--exit-status` for CI.

use std::process::Stdio;
use std::time::Duration;

use insta::assert_snapshot;

use crate::support::{RunSpec, Server, lamp_run, passing_run, stdout_lines};

/// Runs `stpt tail args…`; once it has printed its first line, posts `run` event by event,
/// then waits for it to exit. Answers the exit code and stdout without connection notices.
pub(crate) fn tail_while_posting(
    server: &Server,
    args: &[&str],
    run: &RunSpec<'_>,
) -> (Option<i32>, String) {
    let mut child = server
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stpt tail");
    let rx = stdout_lines(&mut child);
    let mut lines = Vec::new();
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("tail prints a first line");
    lines.push(first);
    server.post("dry_run", &run.dry_run());
    for (start, stop) in run.test_events() {
        std::thread::sleep(Duration::from_millis(150));
        server.post("test_start", &start);
        std::thread::sleep(Duration::from_millis(150));
        server.post("test_stop", &stop);
    }
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        lines.push(line);
    }
    let status = child.wait().expect("tail exits");
    // The server has the live route: falling back to polling would hide a broken socket.
    assert!(
        !lines.iter().any(|l| l.contains("live route")),
        "{}",
        lines.join("\n")
    );
    // Whether a start shows depends on whether its stop arrives in the same update.
    let shown: Vec<String> = lines
        .into_iter()
        .filter(|l| !l.contains("running ") && !l.contains("reconnect"))
        .collect();
    (status.code(), shown.join("\n"))
}

#[test]
fn tail_exit_status_fails_when_a_test_failed() {
    let server = Server::start();
    server.post_run(&passing_run("lamp-rig", 0));
    let (code, output) = tail_while_posting(
        &server,
        &["tail", "lamp-rig", "--next", "--exit-status"],
        &lamp_run(10),
    );
    assert_eq!(code, Some(2), "{output}");
    assert_snapshot!(output, @r"
    following lamp-rig (#1), waiting for a run newer than 1
    run 2: scenario_master.py (2 scenarios, 3 tests)
    [1/3] passed    scenario_01_lamp.py / 01_01_test_lamp_on.py
    [2/3] failed    scenario_01_lamp.py / 01_02_test_lamp_off.py
    [3/3] warning   scenario_02_door.py / 02_01_test_door_open.py
    run 2 finished failed: failed 1 · warning 1 · passed 1
    ");
}

#[test]
fn tail_exit_status_succeeds_when_every_test_passed() {
    let server = Server::start();
    server.post_run(&lamp_run(0));
    let (code, output) = tail_while_posting(
        &server,
        &["tail", "1", "--next", "--exit-status"],
        &passing_run("lamp-rig", 10),
    );
    assert_eq!(code, Some(0), "{output}");
    assert_snapshot!(output, @r"
    following lamp-rig (#1), waiting for a run newer than 1
    run 2: scenario_master.py (1 scenario, 2 tests)
    [1/2] passed    scenario_01_trunk.py / 01_01_test_trunk_open.py
    [2/2] passed    scenario_01_trunk.py / 01_02_test_trunk_close.py
    run 2 finished passed: passed 2
    ");
}

#[test]
fn tail_exit_status_on_a_finished_run_answers_at_once() {
    let server = Server::start();
    server.post_run(&lamp_run(0));
    let output = server.stpt(&["tail", "lamp-rig", "--exit-status"]);
    let shown: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(output.code, Some(2), "{}", output.snapshot());
    assert_snapshot!(shown.join("\n"), @r"
    following lamp-rig (#1)
    run 1: scenario_master.py (2 scenarios, 3 tests)
    [1/3] passed    scenario_01_lamp.py / 01_01_test_lamp_on.py
    [2/3] failed    scenario_01_lamp.py / 01_02_test_lamp_off.py
    [3/3] warning   scenario_02_door.py / 02_01_test_door_open.py
    run 1 finished failed: failed 1 · warning 1 · passed 1
    ");
    assert!(
        output.stderr.contains("error: the run finished failed"),
        "{}",
        output.stderr
    );
}

#[test]
fn tail_json_prints_every_update_as_machine_last_data() {
    let server = Server::start();
    server.post_run(&lamp_run(0));
    let output = server.stpt(&["tail", "lamp-rig", "--exit-status", "--json"]);
    assert_eq!(output.code, Some(2), "{}", output.snapshot());
    let first = output.stdout.lines().next().expect("one JSON line");
    let data: serde_json::Value = serde_json::from_str(first).expect("JSON");
    assert_eq!(data["machine_name"], "lamp-rig");
    assert_eq!(data["last_master_scenario"]["status"], "failed");
    assert_eq!(data["last_master_scenario"]["tests_count"], 3);
    assert!(
        output.stderr.contains("following lamp-rig (#1)"),
        "{}",
        output.stderr
    );
}

#[test]
fn tail_follows_into_the_next_run() {
    let server = Server::start();
    server.post_run(&passing_run("lamp-rig", 0));
    let mut child = server
        .command(&["tail", "lamp-rig"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start stpt tail");
    let rx = stdout_lines(&mut child);
    let mut lines = Vec::new();
    let wait_for = |needle: &str, lines: &mut Vec<String>| {
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
            let found = line.contains(needle);
            lines.push(line);
            if found {
                return;
            }
        }
        panic!("tail never printed {needle:?}:\n{}", lines.join("\n"));
    };
    wait_for("run 1 finished", &mut lines);
    server.post_run(&lamp_run(10));
    wait_for("run 2 finished", &mut lines);
    let _ = child.kill();
    let _ = child.wait();
    let finished: Vec<&String> = lines.iter().filter(|l| l.contains("finished")).collect();
    assert_eq!(
        finished,
        [
            "run 1 finished passed: passed 2",
            "run 2 finished failed: failed 1 · warning 1 · passed 1"
        ]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("run 2: scenario_master.py"))
    );
}

#[test]
fn tail_output_prints_the_running_tests_lines_under_the_progress() {
    let server = Server::start();
    server.post_run(&passing_run("lamp-rig", 0));
    let run = lamp_run(10);
    let mut child = server
        .command(&["tail", "lamp-rig", "--output", "--next", "--exit-status"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stpt tail");
    let rx = stdout_lines(&mut child);
    let mut lines: Vec<String> = Vec::new();
    let wait_for = |lines: &mut Vec<String>, wanted: &str| {
        while !lines.iter().any(|l| l.contains(wanted)) {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no {wanted:?} in:\n{}", lines.join("\n")));
            lines.push(line);
        }
    };
    wait_for(&mut lines, "following lamp-rig");
    let run_id = server.post("dry_run", &run.dry_run())["run_id"]
        .as_i64()
        .expect("run id");
    let events = run.test_events();
    server.post("test_start", &events[0].0);
    wait_for(&mut lines, "run 2:");
    // The output socket connects beside the status socket; give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    let batch = serde_json::json!({"machine_name": "lamp-rig", "event_id": "tail-1", "lines": [
        {"text": "lamp current 0.42 A"},
        {"text": "\u{1b}[31mvoltage low\u{1b}[0m", "stream": "stderr"},
    ]});
    let url = format!("{}/api/v1/runs/{run_id}/tests/0/output", server.url);
    ureq::post(&url).send_json(&batch).expect("POST output");
    wait_for(&mut lines, "voltage low");
    for (i, (start, stop)) in events.iter().enumerate() {
        if i > 0 {
            server.post("test_start", start);
        }
        server.post("test_stop", stop);
    }
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        lines.push(line);
    }
    let status = child.wait().expect("tail exits");
    let text = lines.join("\n");
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(
        text.contains("output of scenario_01_lamp.py / 01_01_test_lamp_on.py"),
        "{text}"
    );
    assert!(
        text.contains("│ lamp current 0.42 A\n│ voltage low"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "ANSI codes on a pipe: {text}");
    assert!(text.contains("run 2 finished failed"), "{text}");
}
