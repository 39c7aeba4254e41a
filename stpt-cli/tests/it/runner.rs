//! `run` executes a scenario directory and reports it; `replay` delivers what was spooled
//! while the server was away; Ctrl-C cancels the running test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use insta::assert_snapshot;

use crate::support::{Server, stdout_lines, write_file};

/// A scenario directory: one scenario `lamp` with a passing and a failing test, plus `extra`
/// tests appended to it.
fn scenario_dir(root: &Path, extra: &[(&str, &str)]) -> String {
    let dir = root.join("rig");
    std::fs::create_dir_all(&dir).expect("scenario directory");
    write_file(&dir, "on.sh", "exit 0\n");
    write_file(&dir, "off.sh", "echo 'lamp still on'\nexit 1\n");
    let mut tests = vec!["\"on.sh\"".to_owned(), "\"off.sh\"".to_owned()];
    for (name, script) in extra {
        write_file(&dir, name, script);
        tests.push(format!("{name:?}"));
    }
    write_file(
        &dir,
        "stpt.toml",
        &format!(
            "command = [\"sh\", \"{{file}}\"]\n\n[[scenarios]]\nname = \"lamp\"\ntests = [{}]\n",
            tests.join(", ")
        ),
    );
    dir.to_string_lossy().into_owned()
}

/// Drops the duration at the end of each test line, the one thing that varies.
fn without_durations(text: &str) -> String {
    text.lines()
        .map(|line| match line.rfind("  ") {
            Some(cut) if line.starts_with('[') => &line[..cut],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn statuses(server: &Server, machine: &str) -> Vec<(String, String, Option<String>)> {
    let json = server.stpt(&["show", "--last", machine, "--json"]).json();
    json["scenarios"][0]["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .map(|t| {
            (
                t["file_name"].as_str().unwrap_or_default().to_owned(),
                t["status"].as_str().unwrap_or_default().to_owned(),
                t["message"].as_str().map(|m| m.trim().to_owned()),
            )
        })
        .collect()
}

#[test]
fn run_executes_the_plan_and_reports_each_test() {
    let server = Server::start();
    let dir = scenario_dir(server.dir.path(), &[]);
    let output = server.stpt(&["run", &dir, "--machine", "lamp-rig"]);
    assert_snapshot!(without_durations(&output.snapshot()), @r"
    exit code: Some(2)
    --- stdout ---
    running 2 tests of stpt.toml as lamp-rig
    start lamp / on.sh
    [1/2] passed    lamp / on.sh
    start lamp / off.sh
    [2/2] failed    lamp / off.sh
            exit code 1
            lamp still on
    ran 2 of 2 tests: failed 1 · passed 1
    --- stderr ---
    error: the run finished failed: not every test passed or warned
    ");
    assert_eq!(
        statuses(&server, "lamp-rig"),
        [
            ("on.sh".to_owned(), "passed".to_owned(), None),
            (
                "off.sh".to_owned(),
                "failed".to_owned(),
                Some("exit code 1\nlamp still on".to_owned())
            ),
        ]
    );
}

#[test]
fn events_spooled_while_the_server_is_away_are_replayed() {
    let server = Server::start();
    let dir = scenario_dir(server.dir.path(), &[]);
    let away = server.stpt(&[
        "run",
        &dir,
        "--machine",
        "lamp-rig",
        "--url",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(away.code, Some(2), "{}", away.snapshot());
    assert!(
        away.stdout.contains("events wait in") && away.stdout.contains("stpt replay"),
        "{}",
        away.snapshot()
    );
    let machines = server.stpt(&["machines", "--json"]).json();
    assert_eq!(machines, serde_json::json!([]));

    // Still away: the replay names the event it stopped at.
    let stuck = server.stpt(&["replay", "--json", "--url", "http://127.0.0.1:9"]);
    assert_ne!(stuck.code, Some(0), "{}", stuck.snapshot());
    let held = &stuck.json()["held_up"];
    assert_eq!(held["kind"], "dry_run", "{}", stuck.snapshot());
    assert_eq!(held["machine"], "lamp-rig");
    assert_eq!(held["server_answered"], false);
    assert!(held["event_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(
        std::path::Path::new(held["file"].as_str().unwrap_or_default()).exists(),
        "{held}"
    );

    let replay = server.stpt(&["replay", "--json"]);
    assert_eq!(replay.code, Some(0), "{}", replay.snapshot());
    let delivery = replay.json();
    // The dry run, two starts, two stops and off.sh's output, which goes to the run the
    // replayed dry run created.
    assert_eq!(delivery["delivered"], 6, "{delivery}");
    assert_eq!(delivery["rejected"], serde_json::json!([]), "{delivery}");
    assert_eq!(delivery["pending"], 0);
    assert_eq!(
        statuses(&server, "lamp-rig")
            .into_iter()
            .map(|(name, status, _)| (name, status))
            .collect::<Vec<_>>(),
        [
            ("on.sh".to_owned(), "passed".to_owned()),
            ("off.sh".to_owned(), "failed".to_owned()),
        ]
    );
}

#[test]
fn ctrl_c_cancels_the_running_test_and_skips_the_rest() {
    let server = Server::start();
    let dir = scenario_dir(
        server.dir.path(),
        &[("slow.sh", "sleep 30\n"), ("never.sh", "exit 0\n")],
    );
    let mut child = server
        .command(&["run", &dir, "--machine", "lamp-rig"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stpt run");
    let rx = stdout_lines(&mut child);
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the slow test starts");
        if line.contains("slow.sh") {
            break;
        }
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("send SIGINT");
    assert!(interrupted.success());
    let status = child.wait().expect("stpt run exits");
    assert_eq!(status.code(), Some(130));
    let tests = statuses(&server, "lamp-rig");
    let slow = tests.iter().find(|t| t.0 == "slow.sh").expect("slow.sh");
    assert_eq!(slow.1, "cancelled");
    let never = tests.iter().find(|t| t.0 == "never.sh").expect("never.sh");
    assert_ne!(never.1, "passed");
}

#[test]
fn abort_stops_the_run_which_says_so_once() {
    let server = Server::start();
    let dir = server.dir.path().join("rig");
    std::fs::create_dir_all(&dir).expect("scenario directory");
    let go = server.dir.path().join("go");
    write_file(
        &dir,
        "wait.sh",
        &format!(
            "i=0\nwhile [ ! -e '{}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n",
            go.display()
        ),
    );
    write_file(&dir, "never.sh", "exit 0\n");
    write_file(&dir, "nor.sh", "exit 0\n");
    write_file(
        &dir,
        "stpt.toml",
        "command = [\"sh\", \"{file}\"]\n\n[[scenarios]]\nname = \"lamp\"\ntests = [\"wait.sh\", \"never.sh\", \"nor.sh\"]\n",
    );
    let mut child = server
        .command(&["run", &dir.to_string_lossy(), "--machine", "lamp-rig"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stpt run");
    let rx = stdout_lines(&mut child);
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the first test starts");
        let started = line.contains("wait.sh");
        lines.push(line);
        if started {
            break;
        }
    }
    let aborted = server.stpt(&["abort", "1"]);
    assert_eq!(aborted.code, Some(0), "{}", aborted.snapshot());
    std::fs::write(&go, "").expect("let the test end");
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        lines.push(line);
    }
    let output = child.wait_with_output().expect("stpt run exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_snapshot!(format!("exit code: {:?}\n{}\n--- stderr ---\n{stderr}", output.status.code(), without_durations(&lines.join("\n"))), @r#"
    exit code: Some(2)
    running 3 tests of stpt.toml as lamp-rig
    start lamp / wait.sh
    the run was aborted on the server (`stpt abort`): no further test starts, and nothing more of it is sent
    [1/3] passed    lamp / wait.sh
    ran 1 of 3 tests: passed 1
    --- stderr ---
    error: the run was aborted on the server; 2 tests did not run
    "#);
    assert_eq!(
        statuses(&server, "lamp-rig")
            .into_iter()
            .map(|(name, status, _)| (name, status))
            .collect::<Vec<_>>(),
        [
            ("wait.sh".to_owned(), "cancelled".to_owned()),
            ("never.sh".to_owned(), "cancelled".to_owned()),
            ("nor.sh".to_owned(), "cancelled".to_owned()),
        ]
    );
}

/// The files of docs/runner.md's example (code blocks whose first line is `# rig/<path>`),
/// written under `root`; answers the console block that shows the run.
fn docs_example(root: &Path) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/runner.md"))
        .expect("docs/runner.md");
    let mut console = String::new();
    for block in doc.split("```").skip(1).step_by(2) {
        let (language, body) = block.split_once('\n').expect("a fenced block");
        match (language, body.split_once('\n')) {
            ("console", _) => console = body.to_owned(),
            (_, Some((first, text))) if first.starts_with("# rig/") => {
                let path = root.join(&first[2..]);
                std::fs::create_dir_all(path.parent().expect("a folder")).expect("folders");
                std::fs::write(&path, text).expect("an example file");
            }
            _ => {}
        }
    }
    console
}

/// `text` without what changes from run to run: durations and the dry run's date.
fn steady(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = match line.find("dry run 2") {
                Some(at) => format!("{}dry run [date]{}", &line[..at], &line[at + 31..]),
                None => line.to_owned(),
            };
            line.split_whitespace()
                .filter(|word| {
                    !(word.ends_with("ms") || word.ends_with('s'))
                        || !word.starts_with(|c: char| c.is_ascii_digit())
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_of_docs_runner_md_runs_as_written() {
    let server = Server::start();
    let console = docs_example(server.dir.path());
    let commands: Vec<(&str, Vec<&str>)> = console
        .split("$ ")
        .skip(1)
        .map(|part| {
            let (command, output) = part.split_once('\n').unwrap_or((part, ""));
            (command, output.lines().collect())
        })
        .collect();
    assert_eq!(commands[0].0, "stpt run rig --machine lamp-rig");
    let mut command = server.command(&["run", "rig", "--machine", "lamp-rig"]);
    let run = command
        .current_dir(server.dir.path())
        .output()
        .expect("stpt run");
    assert_eq!(run.status.code(), Some(2));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(steady(&printed), steady(&commands[0].1.join("\n")));
    assert_eq!(commands[1], ("echo $?", vec!["2"]));
    assert_eq!(commands[2].0, "stpt show --last lamp-rig");
    let shown = server.stpt(&["show", "--last", "lamp-rig"]);
    assert_eq!(steady(&shown.stdout), steady(&commands[2].1.join("\n")));
}
