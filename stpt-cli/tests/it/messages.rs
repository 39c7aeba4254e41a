//! Errors as a user meets them: what each says, and the documented exit code it ends with.

// A skipped half's reason belongs in the test output.
#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use insta::assert_snapshot;
use stpt_core::{Event, EventKind};
use stpt_runner::Spool;

use crate::support::{Server, foreign_server, lamp_run, passing_run, stpt_in};

#[test]
fn unknown_runs_and_tests_exit_4_with_what_is_missing() {
    let server = Server::start();
    server.post_run(&lamp_run(0));
    assert_snapshot!(server.stpt(&["abort", "99999"]).snapshot(), @r"
    exit code: Some(4)
    --- stdout ---
    --- stderr ---
    error: unknown run 99999: the server has no run with this id; see `stpt runs <machine>`
    ");
    assert_snapshot!(server.stpt(&["diff", "99999"]).snapshot(), @r"
    exit code: Some(4)
    --- stdout ---
    --- stderr ---
    error: unknown run 99999: the server has no run with this id; see `stpt runs <machine>`
    ");
    assert_snapshot!(server.stpt(&["diff", "1", "777"]).snapshot(), @r"
    exit code: Some(4)
    --- stdout ---
    --- stderr ---
    error: unknown run 777: the server has no run with this id; see `stpt runs <machine>`
    ");
    assert_snapshot!(server.stpt(&["history", "lamp-rig", "99999"]).snapshot(), @r"
    exit code: Some(4)
    --- stdout ---
    --- stderr ---
    error: unknown test 99999: the server has no test with this id; see `stpt show --last lamp-rig`
    ");
}

#[test]
fn diff_of_a_machines_first_run_names_the_argument_to_add() {
    let server = Server::start();
    server.post_run(&lamp_run(0));
    let first = server.stpt(&["diff", "1"]);
    assert_eq!(first.code, Some(1), "{}", first.snapshot());
    assert!(!first.stderr.contains("?other="), "{}", first.stderr);
    assert!(
        first.stderr.contains("`stpt diff 1 <other-run>`"),
        "{}",
        first.stderr
    );
}

#[test]
fn a_url_without_scheme_is_named_as_such_not_blamed_on_the_server() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let given = stpt_in(dir.path(), &["machines", "--url", "127.0.0.1:8000"], None);
    assert_snapshot!(given.snapshot(), @r#"
    exit code: Some(1)
    --- stdout ---
    --- stderr ---
    error: invalid value '127.0.0.1:8000' for '--url <URL>': "127.0.0.1:8000" lacks http:// at its start: write http://127.0.0.1:8000

    For more information, try '--help'.
    "#);
    let mut command = std::process::Command::new(crate::support::STPT);
    command
        .args(["runs", "lamp-rig"])
        .env("STPT_URL", "stpt.lab:8000")
        .env("NO_COLOR", "1");
    let output = command.output().expect("run stpt");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lacks http://"), "{stderr}");
    assert!(!stderr.contains("stpt serve"), "{stderr}");
}

#[test]
fn a_server_that_is_not_stpt_is_named_as_such() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = foreign_server();
    let output = stpt_in(dir.path(), &["machines", "--url", &url], None);
    assert_eq!(output.code, Some(3), "{}", output.snapshot());
    assert!(!output.stderr.contains("DOCTYPE"), "{}", output.stderr);
    assert_eq!(
        output.stderr.replace(&url, "http://[foreign]"),
        "error: http://[foreign] is not an stpt server: \
         http://[foreign]/tm_api/machines/?page=1&page_size=100 answered HTTP 404 with an HTML \
         page rather than stpt's JSON; set --url or STPT_URL to the stpt server's address\n"
    );

    // Events sent there are not the server's to refuse: they stay in the spool.
    let spool_dir = dir.path().join("spool");
    spool_events(&spool_dir, 2);
    let replay = stpt_in(
        dir.path(),
        &["replay", "--spool-dir", "spool", "--url", &url, "--json"],
        None,
    );
    assert_eq!(replay.code, Some(1), "{}", replay.snapshot());
    let json = replay.json();
    assert_eq!(
        (json["pending"].as_u64(), json["rejected_kept"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(
        json["interrupted"]
            .as_str()
            .is_some_and(|why| why.contains("not an stpt server's answer")),
        "{json}"
    );
}

/// Spools `count` test starts of an unknown machine, as a runner would have.
fn spool_events(dir: &std::path::Path, count: usize) {
    let mut spool = Spool::open(dir).expect("open a spool");
    for i in 0..count {
        let body = format!(
            r#"{{"machine_name": "ghost-rig", "file_name": "t{i}.py", "file_path": "/rig",
                "timestamp_start": "2018-12-30 13:01:57", "event_id": "spooled-{i}"}}"#
        );
        let event = Event::parse(EventKind::TestStart, body.as_bytes()).expect("an event");
        spool.append(&event).expect("spool an event");
    }
}

#[test]
fn replay_exits_3_when_the_server_cannot_be_reached() {
    let dir = tempfile::tempdir().expect("temporary directory");
    spool_events(&dir.path().join("spool"), 1);
    let replay = stpt_in(
        dir.path(),
        &[
            "replay",
            "--spool-dir",
            "spool",
            "--url",
            "http://127.0.0.1:9",
        ],
        None,
    );
    assert_eq!(replay.code, Some(3), "{}", replay.snapshot());
    assert!(
        replay
            .stderr
            .starts_with("error: delivery stopped with 1 event still pending; run `stpt replay` again once the server is reachable: cannot reach the stpt server at http://127.0.0.1:9/tm_api/test_start/"),
        "{}",
        replay.stderr
    );
    assert!(dir.path().join("spool").read_dir().expect("spool").count() >= 1);
}

#[test]
fn replay_of_a_folder_that_does_not_exist_says_so() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let named = stpt_in(
        dir.path(),
        &["replay", "--spool-dir", "no-such-spool"],
        None,
    );
    assert_snapshot!(named.snapshot(), @r"
    exit code: Some(1)
    --- stdout ---
    --- stderr ---
    error: the spool folder no-such-spool does not exist: nothing was spooled there (check --spool-dir or STPT_SPOOL_DIR)
    ");
    assert!(!dir.path().join("no-such-spool").exists());

    // The default folder appears with the first spooled event: none yet is nothing to do.
    let mut command = std::process::Command::new(crate::support::STPT);
    command
        .arg("replay")
        .current_dir(dir.path())
        .env_remove("STPT_SPOOL_DIR")
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("NO_COLOR", "1");
    let output = command.output().expect("run stpt replay");
    let stdout =
        String::from_utf8_lossy(&output.stdout).replace(&*dir.path().to_string_lossy(), "[home]");
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout,
        "nothing to replay: [home]/data/stpt/spool does not exist (no event was ever spooled there)\n"
    );
}

#[test]
fn replay_names_the_events_kept_in_rejected() {
    let server = Server::start();
    let spool_dir = server.dir.path().join("spool");
    spool_events(&spool_dir, 2);
    let first = server.stpt(&["replay"]);
    let spool = spool_dir.to_string_lossy().into_owned();
    assert_snapshot!(first.snapshot().replace(&spool, "[spool]"), @r#"
    exit code: Some(0)
    --- stdout ---
    delivered 0 events from [spool]; 2 refused, 0 still pending
      refused: event refused by http://[server]/tm_api/test_start/: HTTP 404 unknown_machine: unknown machine "ghost-rig": a machine must send a dry run first (test_start event spooled-0)
      refused: event refused by http://[server]/tm_api/test_start/: HTTP 404 unknown_machine: unknown machine "ghost-rig": a machine must send a dry run first (test_start event spooled-1)
    2 events the server refused are kept in [spool]/rejected, each with its reason in a .reason file; move one back into [spool] to send it again
    --- stderr ---
    "#);
    // Later replays still say so.
    let again = server.stpt(&["replay"]);
    assert!(
        again
            .stdout
            .contains("2 events the server refused are kept in"),
        "{}",
        again.snapshot()
    );
}

#[test]
fn serve_names_the_port_that_is_in_use() {
    let server = Server::start();
    let port = server.url.rsplit(':').next().expect("a port").to_owned();
    let dir = tempfile::tempdir().expect("temporary directory");
    let second = stpt_in(
        dir.path(),
        &["serve", "--port", &port, "--database-url", "second.db"],
        None,
    );
    assert_eq!(second.code, Some(1), "{}", second.snapshot());
    assert_eq!(
        second.stderr.replace(&port, "[port]"),
        "error: cannot listen on 127.0.0.1:[port]: the port is in use (by another stpt serve, \
         or another program); pick another with --port or STPT_PORT (0 picks a free one)\n"
    );
}

#[test]
fn serve_fails_at_once_on_a_missing_folder_or_database() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let started = Instant::now();
    let folder = stpt_in(
        dir.path(),
        &["serve", "--port", "0", "--database-url", "missing/stpt.db"],
        None,
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_snapshot!(folder.snapshot(), @r"
    exit code: Some(1)
    --- stdout ---
    --- stderr ---
    error: cannot open SQLite file missing/stpt.db: the folder missing does not exist; create it, or name another file with --database-url
    ");
    assert!(!dir.path().join("missing").exists());

    let Some(base) = std::env::var("STPT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "STPT_TEST_POSTGRES_URL is needed under CI"
        );
        eprintln!("skipped the PostgreSQL half: STPT_TEST_POSTGRES_URL is not set");
        return;
    };
    let (server, _) = base.rsplit_once('/').expect("a database name in the URL");
    let missing = format!("{server}/stpt_no_such_database");
    let started = Instant::now();
    let database = stpt_in(
        dir.path(),
        &["serve", "--port", "0", "--database-url", &missing],
        None,
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(database.code, Some(1), "{}", database.snapshot());
    assert!(
        database
            .stderr
            .contains("database \"stpt_no_such_database\" does not exist"),
        "{}",
        database.stderr
    );
    assert!(
        !database.stderr.contains("timed out"),
        "{}",
        database.stderr
    );
}

#[test]
fn unknown_machines_are_listed_a_few_at_a_time_closest_first() {
    let server = Server::start();
    for name in [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "lamp-rig", "golf", "lamp-2",
    ] {
        server.post_run(&passing_run(name, 0));
    }
    assert_snapshot!(server.stpt(&["runs", "lamp"]).snapshot(), @r#"
    exit code: Some(4)
    --- stdout ---
    --- stderr ---
    error: unknown machine "lamp": known machines are lamp-rig (#7), lamp-2 (#9), alpha (#1), bravo (#2), charlie (#3) and 4 more; see `stpt machines`
    "#);
}
