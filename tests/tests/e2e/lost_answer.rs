//! Lost acknowledgements: the server applied an event but its answer never reached the rig (a
//! proxy that fails after forwarding the request). The runner's HTTP sink sends the event
//! again, within its retries or, once they are used up, from its spool with the next event;
//! the server recognises the event id, and every event is stored exactly once.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use stpt_core::testing::builders::{at, dry_run, start, stop};
use stpt_core::{Event, Sink, SinkError, Status, Store};
use stpt_runner::HttpSink;
use stpt_tests::database::TempDatabase;
use stpt_tests::delivery::quick_config;
use stpt_tests::proxy::AnswerDroppingProxy;
use stpt_tests::server::{ReservedPort, RunningServer};

use crate::outcomes;

const MACHINE: &str = "rig L";

/// A plan in which `a.py` appears twice: a start applied twice would start the second one.
fn run_events() -> Vec<Event> {
    let failing = |mut event: Event| {
        if let Event::TestStop(stop) = &mut event {
            stop.message = Some("door stuck".to_owned());
        }
        event
    };
    vec![
        dry_run(
            MACHINE,
            0,
            &[("s1.py", &["a.py", "b.py", "a.py"]), ("s2.py", &["c.py"])],
        ),
        start(MACHINE, "a.py", 1),
        stop(MACHINE, "a.py", Status::Passed, 2),
        start(MACHINE, "b.py", 3),
        failing(stop(MACHINE, "b.py", Status::Failed, 4)),
        start(MACHINE, "a.py", 5),
        stop(MACHINE, "a.py", Status::Warning, 6),
        start(MACHINE, "c.py", 7),
        stop(MACHINE, "c.py", Status::Passed, 8),
    ]
}

/// The event id of a posted body.
fn event_id(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).expect("a JSON body");
    value["event_id"]
        .as_str()
        .expect("the sink gives every event an id")
        .to_owned()
}

#[test]
fn events_whose_answers_were_lost_are_stored_once() {
    let events = run_events();
    let database = TempDatabase::new();
    let port = ReservedPort::new();
    let server = RunningServer::start(&database, &port);

    // The first answer to every event is lost; so are the first three to the start of b.py
    // (the fourth event), which uses up the sink's three tries: that start stays spooled
    // (applied, unacknowledged) and goes again with the next event.
    const STUBBORN: usize = 3;
    let tries: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
    let proxy = AnswerDroppingProxy::start(upstream, move |_, body| {
        let id = event_id(body);
        let mut tries = tries.lock().expect("the proxy's tally");
        let event = match tries.iter().position(|(seen, _)| *seen == id) {
            Some(event) => event,
            None => {
                tries.push((id, 0));
                tries.len() - 1
            }
        };
        tries[event].1 += 1;
        let this_try = tries[event].1;
        this_try == 1 || (event == 3 && this_try <= STUBBORN)
    });

    let spool = tempfile::tempdir().expect("spool directory");
    let mut sink = HttpSink::open(quick_config(&proxy.url(), spool.path())).expect("open sink");
    for (i, event) in events.iter().enumerate() {
        let result = sink.send(event);
        if i == 3 {
            assert!(
                matches!(result, Err(SinkError::Deferred { .. })),
                "the start of b.py lost every answer: {result:?}"
            );
        } else {
            result.unwrap_or_else(|e| panic!("event {i} ({:?}): {e}", event.kind()));
        }
    }
    sink.flush().expect("nothing left to deliver");
    assert!(!sink.is_offline());
    assert_eq!(sink.spool().pending_count().expect("spool"), 0);
    assert!(sink.spool().rejected().expect("spool").is_empty());

    // Every event reached the server at least twice, and every copy was acknowledged as
    // applied (a duplicate answers like the original): none was refused.
    let forwarded = proxy.forwarded();
    let mut copies: Vec<(String, usize)> = Vec::new();
    for request in &forwarded {
        let id = event_id(&request.body);
        assert!(
            request.status.is_some_and(|s| (200..300).contains(&s)),
            "{} answered {:?}",
            request.request_line,
            request.status
        );
        match copies.iter_mut().find(|(seen, _)| *seen == id) {
            Some((_, n)) => *n += 1,
            None => copies.push((id, 1)),
        }
    }
    assert_eq!(copies.len(), events.len(), "one event id per event");
    let counts: Vec<usize> = copies.iter().map(|(_, n)| *n).collect();
    assert_eq!(counts, [2, 2, 2, STUBBORN + 1, 2, 2, 2, 2, 2]);
    let lost = forwarded.iter().filter(|r| !r.answered).count();
    assert_eq!(lost, events.len() + STUBBORN - 1);

    // Later events carry the run id the dry run's second answer gave.
    let run = database.last_run(MACHINE);
    for request in forwarded
        .iter()
        .filter(|r| !r.request_line.contains("dry_run"))
    {
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("JSON");
        assert_eq!(body["run_id"], run.run.id, "{body}");
    }

    drop(proxy);
    server.stop();

    assert_eq!(
        outcomes(&run),
        [
            ("a.py".to_owned(), "passed", None),
            ("b.py".to_owned(), "failed", Some("door stuck".to_owned())),
            ("a.py".to_owned(), "warning", None),
            ("c.py".to_owned(), "passed", None),
        ]
    );
    assert_eq!(run.master.timestamp_stop, Some(at(8)));
    let machine = database
        .store()
        .machine_by_name(MACHINE)
        .expect("query")
        .expect("the machine");
    assert_eq!(
        database
            .store()
            .runs(machine.id, stpt_core::PageRequest::new(1, 10))
            .expect("query")
            .total,
        1
    );

    // Exactly the events, each applied once: the store they make directly.
    let reference = TempDatabase::new();
    let store = reference.store();
    for event in &events {
        assert!(
            !store
                .apply(event, stpt_core::Timestamp::now())
                .expect("the events apply")
                .duplicate
        );
    }
    assert_eq!(
        database.dump_without_arrival(),
        reference.dump_without_arrival()
    );
}
