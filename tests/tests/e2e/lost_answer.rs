//! Lost acknowledgements: the server applied an event but its answer never reached the rig (a
//! proxy that fails after forwarding the request). The runner's HTTP sink sends the event
//! again, within its retries or, once they are used up, from its spool with the next event;
//! the server recognises the event id, and every event is stored exactly once. A batch whose
//! answer is lost (the backlog after an outage) is sent again and answered duplicate, event by
//! event.

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

/// The events of a posted body: the event itself, or each of a batch's.
fn posted_events(body: &[u8]) -> Vec<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_slice(body).expect("a JSON body");
    match value {
        serde_json::Value::Array(events) => events,
        event => vec![event],
    }
}

/// The event ids of a posted body.
fn event_ids(body: &[u8]) -> Vec<String> {
    posted_events(body)
        .iter()
        .map(|event| {
            event["event_id"]
                .as_str()
                .expect("the sink gives every event an id")
                .to_owned()
        })
        .collect()
}

#[test]
fn events_whose_answers_were_lost_are_stored_once() {
    let events = run_events();
    let database = TempDatabase::new();
    let port = ReservedPort::new();
    let server = RunningServer::start(&database, &port);

    // The first answer to every event is lost; so are the first three to the start of b.py
    // (the fourth event), which uses up the sink's three tries: that start stays spooled
    // (applied, unacknowledged) and goes again with the next event, the two in one batch,
    // which is answered (a batch whose answer is lost is the next test's).
    const STUBBORN: usize = 3;
    let tries: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
    let proxy = AnswerDroppingProxy::start(upstream, move |_, body| {
        let mut tries = tries.lock().expect("the proxy's tally");
        let ids = event_ids(body);
        let batch = ids.len() > 1;
        let mut lose = false;
        for id in ids {
            let event = match tries.iter().position(|(seen, _)| *seen == id) {
                Some(event) => event,
                None => {
                    tries.push((id, 0));
                    tries.len() - 1
                }
            };
            tries[event].1 += 1;
            let this_try = tries[event].1;
            lose |= this_try == 1 || (event == 3 && this_try <= STUBBORN);
        }
        lose && !batch
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

    // Every event sent alone reached the server twice (the one sent in the batch with the
    // start of b.py, once), and every copy was acknowledged as applied (a duplicate answers
    // like the original): none was refused.
    let forwarded = proxy.forwarded();
    let mut copies: Vec<(String, usize)> = Vec::new();
    for request in &forwarded {
        assert!(
            request.status.is_some_and(|s| (200..300).contains(&s)),
            "{} answered {:?}",
            request.request_line,
            request.status
        );
        for id in event_ids(&request.body) {
            match copies.iter_mut().find(|(seen, _)| *seen == id) {
                Some((_, n)) => *n += 1,
                None => copies.push((id, 1)),
            }
        }
    }
    assert_eq!(copies.len(), events.len(), "one event id per event");
    let counts: Vec<usize> = copies.iter().map(|(_, n)| *n).collect();
    // The start of b.py: three tries alone, then in the batch with the stop.
    assert_eq!(counts, [2, 2, 2, STUBBORN + 1, 1, 2, 2, 2, 2]);
    assert_eq!(
        forwarded
            .iter()
            .filter(|r| r.request_line.contains("/api/v1/events"))
            .count(),
        1
    );
    let lost = forwarded.iter().filter(|r| !r.answered).count();
    assert_eq!(lost, events.len() + STUBBORN - 2);

    // Later events carry the run id the dry run's second answer gave.
    let run = database.last_run(MACHINE);
    for body in forwarded
        .iter()
        .filter(|r| !r.request_line.contains("dry_run"))
        .flat_map(|r| posted_events(&r.body))
    {
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

/// A backlog spooled while the server was away goes as one batch; the server applies it but
/// its answer is lost (the connection dies mid-batch). The sink sends the batch again, the
/// server answers every event duplicate, and each is stored once: nothing lost, nothing
/// twice.
#[test]
fn a_batch_whose_answer_was_lost_is_sent_again_and_stored_once() {
    let events = run_events();
    let database = TempDatabase::new();
    let port = ReservedPort::new();
    let spool = tempfile::tempdir().expect("spool directory");

    // The server is away: everything is spooled.
    let mut sink = HttpSink::open(quick_config(&port.url(), spool.path())).expect("open sink");
    for event in &events {
        assert!(matches!(sink.send(event), Err(SinkError::Deferred { .. })));
    }
    assert_eq!(sink.spool().pending_count().expect("spool"), events.len());
    drop(sink);

    let server = RunningServer::start(&database, &port);
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
    let proxy = AnswerDroppingProxy::start(upstream, |n, _| n == 0);
    let mut sink = HttpSink::open(quick_config(&proxy.url(), spool.path())).expect("open sink");
    let delivery = sink.deliver_pending().expect("delivery");
    assert_eq!((delivery.delivered, delivery.pending), (events.len(), 0));
    assert!(delivery.rejected.is_empty() && delivery.interrupted.is_none());

    let forwarded = proxy.forwarded();
    assert_eq!(forwarded.len(), 2, "one batch, sent twice");
    assert!(!forwarded[0].answered && forwarded[1].answered);
    assert!(
        forwarded
            .iter()
            .all(|r| r.request_line.contains("/api/v1/events")
                && event_ids(&r.body).len() == events.len())
    );
    // The second copy changed nothing: every event of it was a duplicate.
    let metrics = ureq::get(&format!("{}/metrics", server.url()))
        .call()
        .expect("metrics")
        .into_string()
        .expect("text");
    for (kind, n) in [("dry_run", 1), ("test_start", 4), ("test_stop", 4)] {
        assert!(
            metrics.contains(&format!(
                "stpt_events_duplicate_total{{kind=\"{kind}\"}} {n}\n"
            )),
            "{kind}: {metrics}"
        );
    }
    drop(proxy);
    server.stop();

    let reference = TempDatabase::new();
    for event in &events {
        reference
            .store()
            .apply(event, stpt_core::Timestamp::now())
            .expect("the events apply");
    }
    assert_eq!(
        database.dump_without_arrival(),
        reference.dump_without_arrival()
    );
}
