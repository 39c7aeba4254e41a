//! A harness killed mid-run while the server is down loses nothing: its spool, replayed once
//! the server is up, stores exactly the events it produced, and replaying the same events
//! again (as if their acknowledgements had been lost) changes nothing.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use stpt_core::{Event, Store};
use stpt_runner::{Spool, replay};
use stpt_tests::database::TempDatabase;
use stpt_tests::plans::OUTCOMES;
use stpt_tests::server::{ReservedPort, RunningServer};

use crate::outcomes;

const MACHINE: &str = "crashing rig";

/// Events the rig sends before it is killed: the dry run, two whole tests and the start of
/// the third.
const PRODUCED: usize = 6;

/// Runs the rig against `url` (where nothing listens) until it has produced `count` events,
/// then kills it with SIGKILL; returns the events it printed.
fn run_rig_and_kill(url: &str, spool: &Path, count: usize) -> Vec<Event> {
    let mut rig = Command::new(env!("CARGO_BIN_EXE_stepwise-rig"))
        .arg(url)
        .arg(spool)
        .arg(MACHINE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // It says, for each event, that the server is away: known, and noise here.
        .stderr(Stdio::null())
        .spawn()
        .expect("start the rig");
    let mut steps = rig.stdin.take().expect("the rig's stdin");
    let mut lines = BufReader::new(rig.stdout.take().expect("the rig's stdout")).lines();
    let mut produced = Vec::new();
    for _ in 0..count {
        writeln!(steps, "next").expect("step the rig");
        steps.flush().expect("step the rig");
        let line = lines
            .next()
            .expect("the rig printed an event")
            .expect("read the rig's output");
        produced.push(Event::parse_detected(line.as_bytes()).expect("the rig printed an event"));
    }
    // The rig now waits for its next step, holding a test started and not stopped.
    rig.kill().expect("kill the rig");
    let status = rig.wait().expect("reap the rig");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "the rig died of SIGKILL: {status}"
        );
    }
    assert!(!status.success(), "the rig was killed: {status}");
    produced
}

/// The pending event files in a spool directory (name and content), in name order.
fn spool_files(dir: &Path) -> Vec<(OsString, Vec<u8>)> {
    let mut files: Vec<(OsString, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read the spool")
        .map(|entry| entry.expect("read the spool").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path.file_name().expect("a file name").to_owned();
            let bytes = std::fs::read(&path).expect("read a spool file");
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_killed_harness_spool_replays_exactly_its_events_once() {
    let port = ReservedPort::new();
    let url = port.url();
    let spool = tempfile::tempdir().expect("spool directory");

    let produced = run_rig_and_kill(&url, spool.path(), PRODUCED);
    assert_eq!(produced.len(), PRODUCED);
    let pending: Vec<Event> = Spool::open(spool.path())
        .and_then(|spool| spool.pending())
        .expect("read the spool")
        .into_iter()
        .map(|entry| entry.event)
        .collect();
    assert_eq!(
        pending, produced,
        "the spool holds the produced events in order"
    );

    // The spool's files as the rig left them, to send every event a second time below.
    let spooled = spool_files(spool.path());
    assert_eq!(spooled.len(), PRODUCED);

    let database = TempDatabase::new();
    let server = RunningServer::start(&database, &port);
    let delivery = replay(&url, spool.path()).expect("replay");
    assert_eq!((delivery.delivered, delivery.pending), (PRODUCED, 0));
    assert!(delivery.rejected.is_empty(), "{:?}", delivery.rejected);
    assert!(delivery.interrupted.is_none(), "{:?}", delivery.interrupted);
    assert!(
        spool_files(spool.path()).is_empty(),
        "the replay emptied the spool"
    );
    let stored = database.dump();

    // As if the acknowledgements had been lost: the same files again, every event resent.
    for (name, bytes) in &spooled {
        std::fs::write(spool.path().join(name), bytes).expect("restore a spool file");
    }
    let again = replay(&url, spool.path()).expect("second replay");
    assert_eq!((again.delivered, again.pending), (PRODUCED, 0));
    assert!(again.rejected.is_empty(), "{:?}", again.rejected);
    assert!(again.interrupted.is_none(), "{:?}", again.interrupted);
    assert_eq!(database.dump(), stored, "a second replay changed the store");
    server.stop();

    // Two tests finished with the rig's statuses, the third still running, the rest waiting.
    let mut expected: Vec<_> = outcomes(&database.last_run(MACHINE))
        .into_iter()
        .map(|(name, _, _)| (name, "waiting", None))
        .collect();
    for (slot, (status, message)) in expected.iter_mut().zip(OUTCOMES).take(2) {
        slot.1 = status.as_str();
        slot.2 = message.map(str::to_owned);
    }
    expected[2].1 = "running";
    assert_eq!(outcomes(&database.last_run(MACHINE)), expected);

    // Exactly the produced events, each once and in order: the store they make directly.
    let reference = TempDatabase::new();
    let store = reference.store();
    for event in &produced {
        let applied = store
            .apply(event, stpt_core::Timestamp::now())
            .expect("the produced events apply in order");
        assert!(!applied.duplicate);
    }
    assert_eq!(
        database.dump_without_arrival(),
        reference.dump_without_arrival()
    );
}
