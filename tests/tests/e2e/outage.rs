//! A server that goes down in the middle of a run and comes back on the same port and database
//! ends up with exactly the run it would have stored without the outage.

use std::time::{Duration, Instant};
use stpt_core::testing::builders::{at, dry_run, start, stop};
use stpt_core::{Event, Sink, SinkError, Status};

use stpt_runner::HttpSink;
use stpt_tests::database::TempDatabase;
use stpt_tests::delivery::quick_config;
use stpt_tests::server::{ReservedPort, RunningServer};

use crate::outcomes;

const MACHINE: &str = "rig A";

/// A run of two scenarios with fixed timestamps, so two stores that applied it are equal.
fn run_events() -> Vec<Event> {
    let with_message = |mut event: Event, text: &str| {
        if let Event::TestStop(stop) = &mut event {
            stop.message = Some(text.to_owned());
        }
        event
    };
    vec![
        dry_run(
            MACHINE,
            0,
            &[
                ("lamp.py", &["l1.py", "l2.py", "l3.py"]),
                ("door.py", &["d1.py", "d2.py"]),
            ],
        ),
        start(MACHINE, "l1.py", 1),
        stop(MACHINE, "l1.py", Status::Passed, 2),
        start(MACHINE, "l2.py", 3),
        with_message(
            stop(MACHINE, "l2.py", Status::Failed, 4),
            "lamp stayed dark",
        ),
        start(MACHINE, "l3.py", 5),
        stop(MACHINE, "l3.py", Status::Warning, 6),
        start(MACHINE, "d1.py", 7),
        stop(MACHINE, "d1.py", Status::Passed, 8),
        start(MACHINE, "d2.py", 9),
        with_message(
            stop(MACHINE, "d2.py", Status::Error, 10),
            "door motor not found",
        ),
    ]
}

/// Each test's status and message as `run_events` reports them.
fn reported_outcomes() -> Vec<(String, &'static str, Option<String>)> {
    vec![
        ("l1.py".to_owned(), "passed", None),
        (
            "l2.py".to_owned(),
            "failed",
            Some("lamp stayed dark".to_owned()),
        ),
        ("l3.py".to_owned(), "warning", None),
        ("d1.py".to_owned(), "passed", None),
        (
            "d2.py".to_owned(),
            "error",
            Some("door motor not found".to_owned()),
        ),
    ]
}

/// Sends `events` through a fresh HTTP sink to a server that stays up the whole time.
fn store_without_outage(events: &[Event]) -> TempDatabase {
    let database = TempDatabase::new();
    let port = ReservedPort::new();
    let server = RunningServer::start(&database, &port);
    let spool = tempfile::tempdir().expect("spool directory");
    let mut sink = HttpSink::open(quick_config(&server.url(), spool.path())).expect("open sink");
    for event in events {
        sink.send(event).expect("delivered to a server that is up");
    }
    server.stop();
    database
}

#[test]
fn a_run_across_a_server_restart_is_stored_as_without_the_outage() {
    let events = run_events();
    let database = TempDatabase::new();
    let port = ReservedPort::new();
    let server = RunningServer::start(&database, &port);
    let url = server.url();
    let spool = tempfile::tempdir().expect("spool directory");
    let mut sink = HttpSink::open(quick_config(&url, spool.path())).expect("open sink");

    // Up to the start of l2 the server is there.
    for event in &events[..4] {
        sink.send(event).expect("delivered while the server is up");
    }
    // It goes down while l2 runs: the stop of l2 and all of l3 wait in the spool.
    server.stop();
    for event in &events[4..7] {
        let result = sink.send(event);
        assert!(
            matches!(result, Err(SinkError::Deferred { .. })),
            "{:?} while the server is down: {result:?}",
            event.kind()
        );
    }
    assert!(sink.is_offline());
    assert_eq!(sink.spool().pending_count().expect("spool"), 3);

    // Back on the same port and database: the next send delivers the backlog, then itself.
    let server = RunningServer::start(&database, &port);
    for event in &events[7..] {
        sink.send(event).expect("delivered after the restart");
    }
    sink.flush().expect("nothing left to deliver");
    assert!(!sink.is_offline());
    assert_eq!(sink.spool().pending_count().expect("spool"), 0);
    assert!(sink.spool().rejected().expect("spool").is_empty());
    server.stop();

    let run = database.last_run(MACHINE);
    assert_eq!(outcomes(&run), reported_outcomes());
    assert_eq!(run.master.timestamp_stop, Some(at(10)));

    // Every id, status, message and timestamp as in a run that saw no outage.
    let reference = store_without_outage(&events);
    assert_eq!(
        database.dump_without_arrival(),
        reference.dump_without_arrival()
    );
}

/// An outage that outlasts the stale limit: the sweep closes the silent run while the rig's
/// events wait in its spool, and the replay afterwards still completes the run, exactly as
/// without the outage.
#[test]
fn a_run_closed_as_stale_during_an_outage_completes_on_replay() {
    let short_stale = |config: &mut stpt_server::Config| {
        config.stale_after = Duration::from_secs(1);
        config.stale_sweep_every = Duration::from_millis(200);
    };
    let events = run_events();
    let database = TempDatabase::new();
    let port = ReservedPort::new();
    let server = RunningServer::start_with(&database, &port, short_stale);
    let url = server.url();
    let spool = tempfile::tempdir().expect("spool directory");
    let mut sink = HttpSink::open(quick_config(&url, spool.path())).expect("open sink");
    for event in &events[..4] {
        sink.send(event).expect("delivered while the server is up");
    }
    server.stop();
    // The rig finishes its run while the server is away.
    for event in &events[4..] {
        assert!(matches!(sink.send(event), Err(SinkError::Deferred { .. })));
    }
    drop(sink);

    // Back, it closes the silent run as stale before the rig's spool is replayed.
    let server = RunningServer::start_with(&database, &port, short_stale);
    let run_id = database.last_run(MACHINE).run.id;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = server.get_json(&format!("/api/v1/runs/{run_id}"));
        if run["run"]["closed_as"] == "stale" {
            break;
        }
        assert!(Instant::now() < deadline, "the run was never closed: {run}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        outcomes(&database.last_run(MACHINE))[1],
        ("l2.py".to_owned(), "unknown", None)
    );

    let delivery = stpt_runner::replay(&url, spool.path()).expect("replay");
    assert_eq!(
        (
            delivery.delivered,
            delivery.rejected.len(),
            delivery.pending
        ),
        (7, 0, 0),
        "{delivery:?}"
    );
    server.stop();

    let run = database.last_run(MACHINE);
    assert_eq!(outcomes(&run), reported_outcomes());
    assert_eq!((run.run.closed_as, run.run.stale), (None, false));
    assert_eq!(run.master.timestamp_stop, Some(at(10)));
    assert_eq!(
        database.dump_without_arrival(),
        store_without_outage(&events).dump_without_arrival()
    );
}
