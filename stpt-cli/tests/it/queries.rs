//! `machines`, `runs`, `show` and their errors, in human and JSON form.

use std::time::Duration;

use insta::{assert_json_snapshot, assert_snapshot};
use stpt_core::{Store, Timestamp};
use stpt_server::db::{DatabaseUrl, DieselStore, PoolOptions};

use crate::support::{Server, lamp_run, passing_run};

fn two_machines() -> Server {
    let server = Server::start();
    server.post_run(&passing_run("lamp-rig", 0));
    server.post_run(&lamp_run(10));
    server.post_run(&passing_run("trunk-rig", 20));
    server
}

#[test]
fn machines_list_their_newest_run_status() {
    let server = two_machines();
    assert_snapshot!(server.stpt(&["machines"]).snapshot(), @r"
    exit code: Some(0)
    --- stdout ---
       ID  NAME       LAST RUN
        1  lamp-rig   failed
        2  trunk-rig  passed
    --- stderr ---
    ");
    assert_json_snapshot!(server.stpt(&["machines", "--json"]).json(), @r#"
    [
      {
        "absolute_url": "/machine/1",
        "get_last_master_scenario_status": "failed",
        "machine_name": "lamp-rig",
        "pk": 1
      },
      {
        "absolute_url": "/machine/2",
        "get_last_master_scenario_status": "passed",
        "machine_name": "trunk-rig",
        "pk": 2
      }
    ]
    "#);
}

#[test]
fn runs_are_paginated_and_machines_named_in_any_case_or_by_id() {
    let server = two_machines();
    assert_snapshot!(server.stpt(&["runs", "LAMP-rig"]).snapshot());
    assert_snapshot!(server.stpt(&["runs", "1", "--limit", "1"]).snapshot());
    let page_two = server.stpt(&["runs", "lamp-rig", "--limit", "1", "--page", "2", "--json"]);
    assert_json_snapshot!(page_two.json(), {".runs[].last_event_at" => "[server clock]"});
    let past_the_end = server.stpt(&["runs", "lamp-rig", "--limit", "1", "--page", "3"]);
    assert_snapshot!(past_the_end.snapshot());
}

#[test]
fn show_draws_the_tree_with_statuses_durations_and_messages() {
    let server = two_machines();
    let by_id = server.stpt(&["show", "2"]);
    assert_snapshot!(by_id.snapshot());
    let last = server.stpt(&["show", "--last", "lamp-rig"]);
    assert_eq!(last.stdout, by_id.stdout);
    let json = server.stpt(&["show", "2", "--json"]).json();
    let statuses: Vec<(&str, &str)> = json["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .flat_map(|s| s["tests"].as_array().expect("tests"))
        .map(|t| {
            (
                t["file_name"].as_str().unwrap_or_default(),
                t["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("01_01_test_lamp_on.py", "passed"),
            ("01_02_test_lamp_off.py", "failed"),
            ("02_01_test_door_open.py", "warning"),
        ]
    );
    assert_eq!(json["master"]["status"], "failed");
    assert_eq!(json["machine"]["name"], "lamp-rig");
}

#[test]
fn unknown_names_and_ids_say_what_exists() {
    let server = two_machines();
    assert_snapshot!(server.stpt(&["runs", "door-rig"]).snapshot(), @r#"
    exit code: Some(4)
    --- stdout ---
    --- stderr ---
    error: unknown machine "door-rig": known machines are lamp-rig (#1), trunk-rig (#2); see `stpt machines`
    "#);
    assert_snapshot!(server.stpt(&["show", "99"]).snapshot(), @r"
    exit code: Some(4)
    --- stdout ---
    --- stderr ---
    error: unknown run 99: the server has no run with this id; see `stpt runs <machine>`
    ");
}

#[test]
fn an_unreachable_server_is_named_with_its_url() {
    let server = Server::start();
    let output = server.stpt(&["machines", "--url", "http://127.0.0.1:9"]);
    assert_eq!(output.code, Some(3), "{}", output.snapshot());
    assert!(
        output
            .stderr
            .starts_with("error: cannot reach the stpt server at http://127.0.0.1:9/tm_api/machines/?page=1&page_size=100: "),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("is `stpt serve` running there?"));
}

#[test]
fn every_subcommand_has_an_example_in_its_help() {
    let server = Server::start();
    for command in [
        "machines",
        "runs",
        "show",
        "tail",
        "send",
        "run",
        "replay",
        "export",
        "completions",
    ] {
        let help = server.stpt(&[command, "--help"]);
        assert_eq!(help.code, Some(0), "{}", help.snapshot());
        assert!(
            help.stdout.contains("Example"),
            "{command}: {}",
            help.stdout
        );
    }
    let help = server.stpt(&["import", "junit", "--help"]);
    assert!(help.stdout.contains("Example"), "{}", help.stdout);
    let bash = server.stpt(&["completions", "bash"]);
    assert_eq!(bash.code, Some(0));
    assert!(bash.stdout.contains("stpt"));
}

#[test]
fn colour_only_when_asked_for_and_never_under_no_color() {
    let server = two_machines();
    let run = |envs: &[(&str, &str)], no_color: bool| {
        let mut command = server.command(&["machines"]);
        if !no_color {
            command.env_remove("NO_COLOR");
        }
        for (key, value) in envs {
            command.env(key, value);
        }
        let output = command.output().expect("run stpt machines");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // Not a terminal: plain text.
    assert!(!run(&[], false).contains('\u{1b}'));
    // Forced colour: the statuses are painted.
    let forced = run(&[("CLICOLOR_FORCE", "1")], false);
    assert!(forced.contains("\u{1b}[32mpassed"), "{forced:?}");
    // NO_COLOR wins over everything.
    assert!(!run(&[("CLICOLOR_FORCE", "1")], true).contains('\u{1b}'));
}

#[test]
fn runs_and_show_mark_stale_runs_with_their_last_event() {
    let server = Server::start_with(&["--stale-after", "1s"]);
    let finished = server.post_run(&passing_run("lamp-rig", 0));
    let silent = server.post("dry_run", &passing_run("lamp-rig", 5).dry_run())["run_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("the dry run answered no run id"));
    std::thread::sleep(Duration::from_millis(1500));

    let out = server.stpt(&["runs", "lamp-rig"]);
    assert_eq!(out.code, Some(0), "{}", out.snapshot());
    let row = |id: i64| {
        out.stdout
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no row for run {id}: {}", out.stdout))
            .to_owned()
    };
    assert!(
        row(silent).contains("waiting  stale, last event "),
        "{}",
        out.stdout
    );
    assert!(!row(finished).contains("stale"), "{}", out.stdout);

    let json = server.stpt(&["runs", "lamp-rig", "--json"]).json();
    assert_eq!(json["runs"][0]["pk"], silent);
    assert_eq!(json["runs"][0]["stale"], true, "{json}");
    assert!(json["runs"][0]["last_event_at"].is_string(), "{json}");
    assert_eq!(json["runs"][0]["closed_as"], serde_json::Value::Null);
    assert_eq!(json["runs"][1]["stale"], false, "{json}");

    let shown = server.stpt(&["show", &silent.to_string()]);
    assert!(
        shown
            .stdout
            .contains("stale: no event for longer than the server's limit · last event "),
        "{}",
        shown.snapshot()
    );
    let tree = server.stpt(&["show", &silent.to_string(), "--json"]).json();
    assert_eq!(tree["run"]["stale"], true, "{tree}");
    assert!(tree["run"]["last_event_at"].is_string(), "{tree}");
    let healthy = server.stpt(&["show", &finished.to_string()]);
    assert!(!healthy.stdout.contains("stale"), "{}", healthy.stdout);

    // What the server's sweep does once it comes round.
    let url = DatabaseUrl::Sqlite(server.database().to_string_lossy().into_owned());
    let store = DieselStore::open(&url, PoolOptions::default())
        .unwrap_or_else(|e| panic!("open the server's database: {e}"));
    let now = Timestamp::now();
    let closed = store
        .close_stale(now, now)
        .unwrap_or_else(|e| panic!("close stale runs: {e}"));
    assert_eq!(closed.len(), 1);

    let out = server.stpt(&["runs", "lamp-rig"]);
    let line = out
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("{silent} ")))
        .unwrap_or_default();
    assert!(
        line.contains("unknown  closed as stale at "),
        "{}",
        out.stdout
    );
    let json = server.stpt(&["runs", "lamp-rig", "--json"]).json();
    assert_eq!(json["runs"][0]["closed_as"], "stale", "{json}");
    assert!(json["runs"][0]["closed_at"].is_string(), "{json}");
    let shown = server.stpt(&["show", &silent.to_string()]);
    assert!(
        shown.stdout.contains("closed as stale at ") && shown.stdout.contains(" · last event "),
        "{}",
        shown.snapshot()
    );
    let tree = server.stpt(&["show", &silent.to_string(), "--json"]).json();
    assert_eq!(tree["run"]["closed_as"], "stale", "{tree}");
}

#[test]
fn bench_removes_its_machines_unless_kept() {
    let server = Server::start();
    server.post_run(&passing_run("lamp-rig", 0));
    let names = |server: &Server| -> Vec<String> {
        server
            .stpt(&["machines", "--json"])
            .json()
            .as_array()
            .expect("machines")
            .iter()
            .map(|m| m["machine_name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let ingest = server.stpt(&["bench", "ingest", "--machines", "3", "--tests", "4"]);
    assert_eq!(ingest.code, Some(0), "{}", ingest.snapshot());
    assert!(
        ingest
            .stdout
            .ends_with("removed the 3 machines simulated by this bench (--keep keeps them)\n"),
        "{}",
        ingest.snapshot()
    );
    let live = server.stpt(&[
        "bench",
        "live",
        "--subscribers",
        "2",
        "--events",
        "4",
        "--json",
    ]);
    assert_eq!(live.code, Some(0), "{}", live.snapshot());
    assert_eq!(live.json()["machines_removed"], 1);
    assert_eq!(names(&server), ["lamp-rig"]);
    let output = server.stpt(&[
        "bench",
        "output",
        "--seconds",
        "1",
        "--rigs",
        "2",
        "--pause-ms",
        "20",
        "--lines-per-second",
        "300",
        "--with-baseline",
        "--json",
    ]);
    assert_eq!(output.code, Some(0), "{}", output.snapshot());
    let report = output.json();
    // Two rigs in each phase, and the printer.
    assert_eq!(report["machines_removed"], 5, "{report}");
    assert!(
        report["baseline"]["start_stop"]["count"].as_u64() > Some(0),
        "{report}"
    );
    let lines = &report["with_output"]["output"];
    assert!(lines["lines_sent"].as_u64() > Some(100), "{report}");
    assert_eq!(lines["lines_received"], lines["lines_sent"], "{report}");
    assert_eq!(lines["lines_missed"], 0, "{report}");
    assert!(
        report["start_stop_p99_rise_percent"].is_number(),
        "{report}"
    );
    assert_eq!(names(&server), ["lamp-rig"]);

    let kept = server.stpt(&[
        "bench",
        "ingest",
        "--machines",
        "2",
        "--tests",
        "2",
        "--keep",
        "--json",
    ]);
    assert_eq!(kept.code, Some(0), "{}", kept.snapshot());
    assert_eq!(kept.json()["machines_removed"], serde_json::Value::Null);
    let after = names(&server);
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        after[1..].iter().all(|n| n.starts_with("bench-")),
        "{after:?}"
    );
}

#[test]
fn bench_ingest_sends_batches_and_reports_the_servers_usage() {
    let server = Server::start();
    let pid = server.pid().to_string();
    let ingest = server.stpt(&[
        "bench",
        "ingest",
        "--machines",
        "2",
        "--tests",
        "5",
        "--batch",
        "4",
        "--pid",
        &pid,
        "--json",
    ]);
    assert_eq!(ingest.code, Some(0), "{}", ingest.snapshot());
    let report = ingest.json();
    // Per machine: the dry run alone, then 10 starts and stops 4 to a request.
    assert_eq!(report["batch"], 4);
    assert_eq!(report["events"], 22, "{report}");
    assert_eq!(report["requests"], 8, "{report}");
    assert_eq!(report["errors"], 0);
    assert_eq!(report["start_stop"]["count"], 6);
    assert_eq!(report["dry_run"]["count"], 2);
    let usage = &report["server"];
    assert_eq!(usage["pid"], server.pid());
    assert!(
        usage["cpu_seconds"].as_f64().is_some_and(|s| s >= 0.0),
        "{usage}"
    );
    assert!(usage["cpu_percent_of_one_core"].is_number(), "{usage}");
    assert!(
        usage["rss_kib"].as_u64().is_some_and(|kib| kib > 0),
        "{usage}"
    );
    assert!(
        usage["peak_rss_kib"].as_u64() >= usage["rss_kib"].as_u64(),
        "{usage}"
    );

    let human = server.stpt(&[
        "bench",
        "ingest",
        "--machines",
        "1",
        "--tests",
        "2",
        "--batch",
        "3",
        "--pid",
        &pid,
    ]);
    assert_eq!(human.code, Some(0), "{}", human.snapshot());
    assert!(
        human
            .stdout
            .contains("batches:     up to 3 starts and stops per request"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains(&format!("server:      pid {pid}: ")),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("% of one core), RSS "),
        "{}",
        human.stdout
    );
}
