//! The executor running real subprocesses (`sh`).

use std::time::Duration;

use stpt_core::{Event, MemorySink, OutputStream, Status};
use stpt_runner::snapshot::redacted_events;
use stpt_runner::{Executor, Plan, PlanBuilder, Progress, Reporter, TestCommand};

fn sh(script: &str) -> TestCommand {
    TestCommand::new("sh", ["-c", script])
}

fn scenario() -> PlanBuilder {
    Plan::builder("master.sh", "/rig").scenario("scenario.sh", "/rig")
}

fn statuses(summary: &stpt_runner::ExecutionSummary) -> Vec<Status> {
    summary.outcomes.iter().map(|o| o.status).collect()
}

#[test]
fn exit_codes_and_the_status_file_decide_the_status() {
    let plan = scenario()
        .test("exit_0.sh", "/rig")
        .command(sh("echo fine"))
        .test("exit_1.sh", "/rig")
        .command(sh("echo 'lamp stayed dark' >&2; exit 1"))
        .test("exit_3.sh", "/rig")
        .command(sh("exit 3"))
        .test("status_warning.sh", "/rig")
        .command(sh(
            r#"printf 'warning\nlamp is dim\n' > "$STPT_STATUS_FILE"; exit 0"#,
        ))
        .test("status_passed_despite_exit.sh", "/rig")
        .command(sh(r#"echo passed > "$STPT_STATUS_FILE"; exit 1"#))
        .test("status_nonsense.sh", "/rig")
        .command(sh(r#"echo green > "$STPT_STATUS_FILE""#))
        .test("no_command.sh", "/rig")
        .test("missing_program.sh", "/rig")
        .command(TestCommand::new(
            "./stpt-no-such-program",
            Vec::<String>::new(),
        ))
        .build()
        .unwrap();
    let sink = MemorySink::new();
    let mut reporter = Reporter::new("rig", sink.clone());
    let mut seen = Vec::new();
    let summary = Executor::new().run(&plan, &mut reporter, |progress| match progress {
        Progress::Started { test } => seen.push(format!("start {}", test.index)),
        Progress::Finished { test, outcome } => {
            seen.push(format!("stop {} {}", test.index, outcome.status))
        }
        Progress::SinkFailed { error } => panic!("memory sink failed: {error}"),
        _ => {}
    });
    use Status::*;
    assert_eq!(
        statuses(&summary),
        [Passed, Failed, Error, Warning, Passed, Error, Error, Error]
    );
    assert_eq!(seen.len(), 16);
    assert_eq!(seen[..2], ["start 0", "stop 0 passed"]);
    let exit_codes: Vec<_> = summary.outcomes.iter().map(|o| o.exit_code).collect();
    assert_eq!(exit_codes[..3], [Some(0), Some(1), Some(3)]);
    assert_eq!(summary.outcomes[0].output, "fine\n");
    assert_eq!(summary.counts.get(Error), 4);
    assert!(!summary.cancelled);
    let missing = summary.outcomes[7].message.as_deref().unwrap();
    assert!(
        missing.starts_with("cannot start \"./stpt-no-such-program\": "),
        "{missing}"
    );
    // The OS's wording for a missing program varies; the rest of the stream is exact.
    let mut events = redacted_events(&sink.events());
    events[16]["event"]["message"] = "[cannot start]".into();
    insta::assert_json_snapshot!(events);
}

#[test]
fn a_test_running_past_its_timeout_is_killed_as_error() {
    let plan = scenario()
        .test("hangs.sh", "/rig")
        .command(sh("echo waiting; sleep 30").with_timeout(Duration::from_millis(100)))
        .test("after.sh", "/rig")
        .command(sh("sleep 30"))
        .build()
        .unwrap();
    let mut reporter = Reporter::new("rig", MemorySink::new());
    let executor = Executor::new().with_timeout(Duration::from_millis(50));
    let summary = executor.run(&plan, &mut reporter, |_| {});
    assert_eq!(statuses(&summary), [Status::Error, Status::Error]);
    assert_eq!(
        summary.outcomes[0].message.as_deref(),
        Some("timed out after 0.1 s\nwaiting")
    );
    assert_eq!(summary.outcomes[0].exit_code, None);
    assert_eq!(
        summary.outcomes[1].message.as_deref(),
        Some("timed out after 0.05 s")
    );
}

#[test]
fn cancelling_kills_the_running_test_and_starts_no_other() {
    let plan = scenario()
        .test("long.sh", "/rig")
        .command(sh("sleep 30"))
        .test("never.sh", "/rig")
        .command(sh("exit 0"))
        .build()
        .unwrap();
    let sink = MemorySink::new();
    let mut reporter = Reporter::new("rig", sink.clone());
    let executor = Executor::new();
    let flag = executor.cancel_flag();
    let summary = executor.run(&plan, &mut reporter, |progress| {
        if let Progress::Started { .. } = progress {
            // What a Ctrl-C handler does.
            flag.cancel();
        }
    });
    assert_eq!(statuses(&summary), [Status::Cancelled]);
    assert!(summary.cancelled);
    assert_eq!(summary.not_run, 1);
    let events = redacted_events(&sink.events());
    let kinds: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["dry_run", "test_start", "test_stop"]);
    assert_eq!(events[2]["event"]["status"], "cancelled");
}

#[test]
fn a_discovered_scenario_directory_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir(root.join("lamp")).unwrap();
    std::fs::write(root.join("lamp/01_test_lamp.sh"), "echo on\n").unwrap();
    std::fs::write(
        root.join("lamp/02_test_lamp.sh"),
        "echo warning > \"$STPT_STATUS_FILE\"\n",
    )
    .unwrap();
    std::fs::write(root.join("scenario_lamp.sh"), "# the lamp\n").unwrap();
    std::fs::write(
        root.join("stpt.toml"),
        "command = \"sh {name}\"\n\n[[scenarios]]\nfile = \"scenario_lamp.sh\"\ntests_dir = \"lamp\"\ntests = [\"01_test_lamp.sh\", \"02_test_lamp.sh\"]\n",
    )
    .unwrap();
    let plan = Plan::discover(&root).unwrap();
    let sink = MemorySink::new();
    let mut reporter = Reporter::new("rig", sink.clone());
    let summary = Executor::new().run(&plan, &mut reporter, |_| {});
    assert_eq!(statuses(&summary), [Status::Passed, Status::Warning]);
    let text = serde_json::to_string_pretty(&redacted_events(&sink.events()))
        .unwrap()
        .replace(root.to_str().unwrap(), "[dir]");
    insta::assert_snapshot!(text);
}

/// A sink that takes `accepted` events, then says the run was aborted (as the HTTP sink does on
/// the server's 409 `run_aborted`).
struct AbortingAfter {
    accepted: usize,
    seen: Vec<stpt_core::Event>,
}

impl stpt_core::Sink for AbortingAfter {
    fn send(&mut self, event: &stpt_core::Event) -> Result<(), stpt_core::SinkError> {
        self.seen.push(event.clone());
        if self.seen.len() > self.accepted {
            return Err(stpt_core::SinkError::RunAborted {
                destination: "server".to_owned(),
                reason: "run 1 was aborted".to_owned(),
            });
        }
        Ok(())
    }
}

#[test]
fn a_run_aborted_on_the_server_starts_no_further_test_and_is_said_once() {
    let plan = scenario()
        .test("first.sh", "/rig")
        .command(sh("exit 0"))
        .test("second.sh", "/rig")
        .command(sh("exit 0"))
        .test("third.sh", "/rig")
        .command(sh("exit 0"))
        .build()
        .unwrap();
    // The dry run and the first start go through; the first stop finds the run aborted.
    let sink = AbortingAfter {
        accepted: 2,
        seen: Vec::new(),
    };
    let mut reporter = Reporter::new("rig", sink);
    let mut said = Vec::new();
    let summary = Executor::new().run(&plan, &mut reporter, |progress| match progress {
        Progress::RunAborted { error } => said.push(format!("aborted: {error}")),
        Progress::SinkFailed { error } => said.push(format!("failed: {error}")),
        _ => {}
    });
    assert_eq!(said, ["aborted: run aborted at server: run 1 was aborted"]);
    assert_eq!(statuses(&summary), [Status::Passed]);
    assert!(summary.aborted && summary.cancelled);
    assert_eq!(summary.not_run, 2);
    // Nothing after the refused stop reached the sink.
    let kinds: Vec<_> = reporter
        .sink()
        .seen
        .iter()
        .map(|e| e.kind().as_str())
        .collect();
    assert_eq!(kinds, ["dry_run", "test_start", "test_stop"]);
}

#[test]
fn a_tests_output_is_reported_while_it_runs_in_batches_before_its_stop() {
    let plan = scenario()
        .test("printer.sh", "/rig")
        .command(sh(
            "echo one; sleep 0.3; echo 'two <b>' >&2; printf 'no newline'; exit 0",
        ))
        .build()
        .unwrap();
    let sink = MemorySink::new();
    let mut reporter = Reporter::new("rig", sink.clone());
    Executor::new().run(&plan, &mut reporter, |_| {});
    let events = sink.events();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind().as_str()).collect();
    // "one" is sent on its own (0.3 s before the next line), the rest (one batch, or two if
    // the two pipes were read apart) before the stop.
    assert_eq!(kinds[..2], ["dry_run", "test_start"], "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"test_stop"), "{kinds:?}");
    let outputs = &kinds[2..kinds.len() - 1];
    assert!((2..=3).contains(&outputs.len()), "{kinds:?}");
    assert!(outputs.iter().all(|k| *k == "test_output"), "{kinds:?}");
    match &events[2] {
        Event::TestOutput(first) => assert_eq!(first.batch.lines.len(), 1, "{first:?}"),
        other => panic!("not output: {other:?}"),
    }
    let lines: Vec<(String, Option<OutputStream>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::TestOutput(output) => Some(output),
            _ => None,
        })
        .flat_map(|output| {
            assert_eq!(output.index, 0);
            assert!(!output.batch.event_id.is_empty());
            output.batch.lines.clone()
        })
        .map(|line| {
            assert!(line.timestamp.is_some());
            (line.text, line.stream)
        })
        .collect();
    // Each stream's lines keep their order; lines of the two pipes printed in the same instant
    // may be read in either order ("one" comes 0.3 s before the others).
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], ("one".to_owned(), Some(OutputStream::Stdout)));
    let of = |stream: OutputStream| -> Vec<&str> {
        lines
            .iter()
            .filter(|(_, s)| *s == Some(stream))
            .map(|(text, _)| text.as_str())
            .collect()
    };
    assert_eq!(of(OutputStream::Stdout), ["one", "no newline"]);
    assert_eq!(of(OutputStream::Stderr), ["two <b>"]);
}
