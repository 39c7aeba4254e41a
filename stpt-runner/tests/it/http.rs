//! The HTTP sink against the in-test server: delivery, retries, spooling, rejection.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use stpt_core::{SinkError, Status};
use stpt_runner::{HttpConfig, HttpSink, Plan, Reporter, RetryPolicy, replay};

use crate::server::{Reply, TestServer};

/// Tiny delays so retries never slow the tests; offline sends do not probe unless told to.
pub(crate) fn config(url: &str, spool: &Path) -> HttpConfig {
    HttpConfig {
        retry: RetryPolicy {
            attempts: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            jitter: true,
        },
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        probe_interval: Duration::from_secs(3600),
        ..HttpConfig::new(url, spool)
    }
}

pub(crate) fn plan() -> Plan {
    Plan::builder("scenario_master.py", "/rig/scenarios")
        .scenario("scenario_01_feature_lamp.py", "/rig/scenarios")
        .test("01_01_test_lamp.py", "/rig/01_feature_lamp")
        .test("01_02_test_lamp.py", "/rig/01_feature_lamp")
        .build()
        .unwrap()
}

/// A port nothing listens on (connections are refused).
pub(crate) fn closed_port() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

fn paths(server: &TestServer) -> Vec<String> {
    server
        .received()
        .into_iter()
        .map(|(path, _)| path)
        .collect()
}

#[test]
fn events_arrive_in_order_with_token_ids_and_the_answered_run_id() {
    let server = TestServer::start();
    let spool = tempfile::tempdir().unwrap();
    let sink = HttpSink::open(config(&server.url, spool.path()).with_token("s3cret")).unwrap();
    let mut reporter = Reporter::new("machine #1", sink);
    let plan = plan();
    let test = plan.tests()[0];
    reporter.dry_run(&plan).unwrap();
    reporter.start(&test).unwrap();
    reporter.stop(&test, Status::Passed, None).unwrap();

    let requests = server.requests();
    assert_eq!(
        paths(&server),
        [
            "/tm_api/dry_run/",
            "/tm_api/test_start/",
            "/tm_api/test_stop/"
        ]
    );
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer s3cret"))
    );
    assert!(requests.iter().all(|r| r.body["event_id"].is_string()));
    assert_eq!(requests[0].body.get("run_id"), None);
    assert_eq!(requests[1].body["run_id"], 7);
    assert_eq!(requests[2].body["status"], "passed");
    assert_eq!(reporter.sink().run_id("MACHINE #1"), Some(7));
    assert_eq!(reporter.sink().spool().pending_count().unwrap(), 0);
}

#[test]
fn server_errors_are_retried_then_spooled_and_delivered_later_in_order() {
    let server = TestServer::start();
    // Three tries of the first event fail, then the server recovers.
    server.script([
        Reply::Status(500, "{}"),
        Reply::HangUp,
        Reply::Status(503, "down"),
    ]);
    let spool = tempfile::tempdir().unwrap();
    let mut reporter = Reporter::new(
        "m",
        HttpSink::open(config(&server.url, spool.path())).unwrap(),
    );
    let plan = plan();
    let test = plan.tests()[0];

    let err = reporter.dry_run(&plan).unwrap_err();
    assert!(
        matches!(&err, SinkError::Deferred { reason, .. } if reason.contains("503")),
        "{err}"
    );
    assert_eq!(server.requests().len(), 3);
    assert!(reporter.sink().is_offline());

    // Offline: further events go straight to the spool, without touching the network.
    let err = reporter.start(&test).unwrap_err();
    assert!(matches!(err, SinkError::Deferred { .. }), "{err}");
    assert_eq!(server.requests().len(), 3);
    assert_eq!(reporter.sink().spool().pending_count().unwrap(), 2);

    reporter.flush().unwrap();
    assert!(!reporter.sink().is_offline());
    // The backlog goes as one batch.
    assert_eq!(paths(&server)[3..], ["/api/v1/events"]);
    let received = server.events();
    assert_eq!(
        received[3..]
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
        ["/tm_api/dry_run/", "/tm_api/test_start/"]
    );
    // The retried event is the same event: same id on every try.
    assert!(received[..4].iter().all(|(_, id)| *id == received[0].1));
    assert_eq!(reporter.sink().spool().pending_count().unwrap(), 0);
}

/// An event the server fails on again and again holds up the spool: the error and the
/// delivery name it (kind, id, machine, spool file) and say the server answered, so a person
/// can act; the event stays spooled.
#[test]
fn an_event_the_server_keeps_failing_on_is_named() {
    let server = TestServer::start();
    server.script([
        Reply::Status(500, r#"{"error": "internal", "detail": "boom"}"#),
        Reply::Status(500, r#"{"error": "internal", "detail": "boom"}"#),
        Reply::Status(500, r#"{"error": "internal", "detail": "boom"}"#),
    ]);
    let spool = tempfile::tempdir().unwrap();
    let plan = plan();
    let mut reporter = Reporter::new(
        "rig-7",
        HttpSink::open(config(&server.url, spool.path())).unwrap(),
    );
    let err = reporter.dry_run(&plan).unwrap_err();
    let id = server.requests()[0].body["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = err.to_string();
    for part in [
        "held up by dry_run event",
        &id,
        "rig-7",
        "HTTP 500 internal: boom",
        "3 tries",
        "server is up",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    let mut sink = reporter.into_sink();

    server.script([
        Reply::Status(503, "busy"),
        Reply::Status(503, "busy"),
        Reply::Status(503, "busy"),
    ]);
    let delivery = sink.deliver_pending().unwrap();
    let held = delivery.held_up.expect("held up");
    assert_eq!(
        (held.kind, held.event_id.as_str(), held.machine.as_str()),
        ("dry_run", id.as_str(), "rig-7")
    );
    assert!(held.answered);
    assert!(held.path.exists(), "{:?}", held.path);
    assert!(held.path.starts_with(spool.path()));
    assert_eq!(delivery.pending, 1);

    // Out of reach is told apart from failing.
    let closed = closed_port();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let delivery = HttpSink::open(config(&url, spool.path()))
        .unwrap()
        .deliver_pending()
        .unwrap();
    let held = delivery.held_up.expect("held up");
    assert!(!held.answered);
    assert_eq!(held.event_id, id);
}

#[test]
fn an_offline_sink_probes_and_delivers_the_backlog_once_the_server_is_back() {
    let server = TestServer::start();
    server.script([
        Reply::Status(502, ""),
        Reply::Status(502, ""),
        Reply::Status(502, ""),
    ]);
    let spool = tempfile::tempdir().unwrap();
    let config = HttpConfig {
        probe_interval: Duration::ZERO,
        ..config(&server.url, spool.path())
    };
    let mut reporter = Reporter::new("m", HttpSink::open(config).unwrap());
    let plan = plan();
    let test = plan.tests()[0];
    assert!(reporter.dry_run(&plan).is_err());
    reporter.start(&test).unwrap();
    assert_eq!(paths(&server)[3..], ["/api/v1/events"]);
    let events: Vec<String> = server.events().into_iter().map(|(p, _)| p).collect();
    assert_eq!(events[3..], ["/tm_api/dry_run/", "/tm_api/test_start/"]);
    assert!(!reporter.sink().is_offline());
}

#[test]
fn refused_connections_are_spooled_and_replayed_when_the_server_is_up() {
    let port = closed_port();
    let addr = port.local_addr().unwrap();
    drop(port);
    let url = format!("http://{addr}");
    let spool = tempfile::tempdir().unwrap();
    let mut reporter = Reporter::new("m", HttpSink::open(config(&url, spool.path())).unwrap());
    let plan = plan();
    let test = plan.tests()[1];
    assert!(matches!(
        reporter.dry_run(&plan),
        Err(SinkError::Deferred { .. })
    ));
    assert!(matches!(
        reporter.start(&test),
        Err(SinkError::Deferred { .. })
    ));
    // Output spooled before its run was known goes to the run the replayed dry run created.
    assert!(matches!(
        reporter.output(&test, vec![stpt_core::OutputLine::stdout("lamp on")]),
        Err(SinkError::Deferred { .. })
    ));
    assert!(matches!(
        reporter.stop(&test, Status::Failed, Some("lamp stayed dark")),
        Err(SinkError::Deferred { .. })
    ));

    let server = TestServer::on(TcpListener::bind(addr).unwrap());
    let delivery = replay(&url, spool.path()).unwrap();
    assert!(delivery.rejected.is_empty(), "{:?}", delivery.rejected);
    assert_eq!((delivery.delivered, delivery.pending), (4, 0));
    assert!(delivery.interrupted.is_none());
    // The spool goes in two batches: the output waits for its run, which the dry run's answer
    // in the first one tells.
    let requests = server.requests();
    assert_eq!(paths(&server), ["/api/v1/events", "/api/v1/events"]);
    let events: Vec<String> = server.events().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        events,
        [
            "/tm_api/dry_run/",
            "/tm_api/test_start/",
            "/api/v1/runs/<run>/tests/<index>/output",
            "/tm_api/test_stop/"
        ]
    );
    assert_eq!(requests[1].body[0]["lines"][0]["text"], "lamp on");
    assert_eq!(requests[1].body[0]["run_id"], 7);
    assert_eq!(requests[1].body[1]["message"], "lamp stayed dark");
    assert_eq!(requests[1].body[1]["index"], 1);
    // Nothing is left, so a second replay sends nothing.
    assert_eq!(replay(&url, spool.path()).unwrap().delivered, 0);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_replay_sends_each_runs_output_to_the_run_its_own_dry_run_created() {
    let port = closed_port();
    let addr = port.local_addr().unwrap();
    drop(port);
    let url = format!("http://{addr}");
    let spool = tempfile::tempdir().unwrap();
    let mut reporter = Reporter::new("m", HttpSink::open(config(&url, spool.path())).unwrap());
    let plan = plan();
    let test = plan.tests()[0];
    for text in ["first run", "second run"] {
        let _ = reporter.dry_run(&plan);
        let _ = reporter.output(&test, vec![stpt_core::OutputLine::stdout(text)]);
    }
    // The two dry runs create runs 7 and 8.
    let server = TestServer::on(TcpListener::bind(addr).unwrap());
    server.run_ids(&[7, 8]);
    let delivery = replay(&url, spool.path()).unwrap();
    assert!(delivery.rejected.is_empty(), "{:?}", delivery.rejected);
    assert_eq!((delivery.delivered, delivery.pending), (4, 0));
    // Each output waits for the answer to the dry run before it, which names its run: in the
    // batch, or in the path of a lone last event's own endpoint.
    let mut sent: Vec<(serde_json::Value, Option<i64>)> = Vec::new();
    for request in server.requests() {
        match request.body.as_array() {
            Some(events) => sent.extend(
                events
                    .iter()
                    .map(|event| (event.clone(), event["run_id"].as_i64())),
            ),
            None => {
                let run = request
                    .path
                    .strip_prefix("/api/v1/runs/")
                    .and_then(|rest| rest.split('/').next()?.parse().ok());
                sent.push((request.body, run));
            }
        }
    }
    assert_eq!(sent.len(), 4);
    assert!(sent[0].0.get("master_scenario").is_some());
    assert_eq!(
        (&sent[1].0["lines"][0]["text"], sent[1].1),
        (&"first run".into(), Some(7))
    );
    assert!(sent[2].0.get("master_scenario").is_some());
    assert_eq!(
        (&sent[3].0["lines"][0]["text"], sent[3].1),
        (&"second run".into(), Some(8))
    );
}

#[test]
fn a_refused_event_is_reported_moved_aside_and_not_retried() {
    let server = TestServer::start();
    server.script([Reply::Status(
        404,
        r#"{"error": "no_matching_test", "detail": "no waiting test 01_01_test_lamp.py in /rig/01_feature_lamp"}"#,
    )]);
    let spool = tempfile::tempdir().unwrap();
    let mut reporter = Reporter::new(
        "m",
        HttpSink::open(config(&server.url, spool.path())).unwrap(),
    );
    let plan = plan();
    let test = plan.tests()[0];
    let err = reporter.start(&test).unwrap_err();
    let SinkError::Rejected {
        destination,
        reason,
    } = &err
    else {
        panic!("expected a rejection, got {err:?}")
    };
    assert_eq!(destination, &format!("{}/tm_api/test_start/", server.url));
    assert!(
        reason.starts_with(
            "HTTP 404 no_matching_test: no waiting test 01_01_test_lamp.py in /rig/01_feature_lamp (test_start event "
        ),
        "{reason}"
    );
    assert_eq!(server.requests().len(), 1);
    let sink = reporter.sink();
    assert_eq!(sink.spool().pending_count().unwrap(), 0);
    let rejected = sink.spool().rejected().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(&rejected[0].1, reason);

    // The sink is not offline: the next event goes through, and the refused one is not resent.
    reporter.stop(&test, Status::Passed, None).unwrap();
    assert_eq!(
        paths(&server),
        ["/tm_api/test_start/", "/tm_api/test_stop/"]
    );
    reporter.flush().unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_refused_token_keeps_the_events_for_later() {
    let server = TestServer::start();
    server.script([Reply::Status(
        401,
        r#"{"error": "unauthorized", "detail": "bad token"}"#,
    )]);
    let spool = tempfile::tempdir().unwrap();
    let mut reporter = Reporter::new(
        "m",
        HttpSink::open(config(&server.url, spool.path())).unwrap(),
    );
    let err = reporter.dry_run(&plan()).unwrap_err();
    assert!(
        matches!(&err, SinkError::Rejected { reason, .. } if reason.starts_with("HTTP 401 unauthorized: bad token")),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(reporter.sink().spool().pending_count().unwrap(), 1);
    assert_eq!(reporter.sink().spool().rejected().unwrap().len(), 0);
    let delivery = reporter.sink_mut().deliver_pending().unwrap();
    assert_eq!((delivery.delivered, delivery.pending), (1, 0));
}

#[test]
fn a_page_that_is_not_stpts_answer_keeps_the_events_for_later() {
    let server = TestServer::start();
    server.script([Reply::Status(
        404,
        "<!DOCTYPE HTML><html><body><h1>Error response</h1><p>Error code: 404</p></body></html>",
    )]);
    let spool = tempfile::tempdir().unwrap();
    let mut reporter = Reporter::new(
        "m",
        HttpSink::open(config(&server.url, spool.path())).unwrap(),
    );
    let err = reporter.dry_run(&plan()).unwrap_err();
    assert!(
        matches!(&err, SinkError::Rejected { reason, .. }
            if reason.contains("that is not an stpt server's answer: check the URL")),
        "{err}"
    );
    // Not the event's fault: it stays pending, nothing moves to rejected/.
    assert_eq!(reporter.sink().spool().pending_count().unwrap(), 1);
    assert_eq!(reporter.sink().spool().rejected().unwrap().len(), 0);
    let delivery = reporter.sink_mut().deliver_pending().unwrap();
    assert_eq!((delivery.delivered, delivery.pending), (1, 0));
}

#[test]
fn a_run_aborted_on_the_server_is_said_once_and_no_more_of_it_is_sent() {
    let server = TestServer::start();
    let spool = tempfile::tempdir().unwrap();
    let mut reporter = Reporter::new(
        "m",
        HttpSink::open(config(&server.url, spool.path())).unwrap(),
    );
    let plan = plan();
    let tests = plan.tests();
    reporter.dry_run(&plan).unwrap();
    reporter.start(&tests[0]).unwrap();
    // A person runs `stpt abort 7`: the server refuses the run's next event.
    server.script([Reply::Status(
        409,
        r#"{"error": "run_aborted", "detail": "run 7 of machine \"m\" was aborted: it takes no more events"}"#,
    )]);
    let err = reporter.stop(&tests[0], Status::Passed, None).unwrap_err();
    let SinkError::RunAborted {
        destination,
        reason,
    } = &err
    else {
        panic!("expected an abort, got {err:?}")
    };
    assert_eq!(destination, &format!("{}/tm_api/test_stop/", server.url));
    assert!(
        reason.starts_with("HTTP 409 run_aborted: run 7"),
        "{reason}"
    );
    assert!(reporter.run_aborted());
    assert!(reporter.sink().run_aborted("M"));
    // Said once: later events of the run answer Ok and reach nobody.
    reporter.start(&tests[1]).unwrap();
    reporter.stop(&tests[1], Status::Passed, None).unwrap();
    reporter.flush().unwrap();
    assert_eq!(server.requests().len(), 3);
    // Nothing waits and nothing is kept as refused: the run is over.
    assert_eq!(reporter.sink().spool().pending_count().unwrap(), 0);
    assert_eq!(reporter.sink().spool().rejected().unwrap().len(), 0);

    // The sink alone (without the reporter) drops the run's events quietly too.
    let event = stpt_core::Event::parse(
        stpt_core::EventKind::TestStart,
        br#"{"machine_name": "m", "file_name": "01_02_test_lamp.py", "file_path": "/rig/01_feature_lamp", "timestamp_start": "2018-12-30 13:01:57"}"#,
    )
    .unwrap();
    stpt_core::Sink::send(reporter.sink_mut(), &event).unwrap();
    assert_eq!(server.requests().len(), 3);

    // The next dry run starts a run nobody aborted.
    server.script([Reply::Status(201, r#"{"run_id": 8}"#)]);
    reporter.dry_run(&plan).unwrap();
    assert!(!reporter.run_aborted());
    reporter.start(&tests[0]).unwrap();
    assert_eq!(
        paths(&server)[3..],
        ["/tm_api/dry_run/", "/tm_api/test_start/"]
    );
    assert_eq!(server.requests()[4].body["run_id"], 8);
}

#[test]
fn a_replay_drops_the_spooled_events_of_an_aborted_run() {
    let spool = tempfile::tempdir().unwrap();
    let refused = closed_port();
    let url = format!("http://{}", refused.local_addr().unwrap());
    drop(refused);
    // Spooled while the server was away: a dry run, a start and a stop.
    let mut reporter = Reporter::new("m", HttpSink::open(config(&url, spool.path())).unwrap());
    let plan = plan();
    let test = plan.tests()[0];
    let _ = reporter.dry_run(&plan);
    let _ = reporter.start(&test);
    let _ = reporter.stop(&test, Status::Passed, None);
    assert_eq!(reporter.sink().spool().pending_count().unwrap(), 3);

    // The run was aborted meanwhile: its start and stop are refused as aborted, the abort
    // said once.
    let server = TestServer::start();
    server.script([Reply::Status(
        200,
        r#"{"applied": 1, "duplicates": 0, "refused": 2, "events": [
            {"index": 0, "outcome": "applied", "status": 201, "run_id": 7},
            {"index": 1, "outcome": "refused", "status": 409, "error": {"error": "run_aborted", "detail": "run 7 of machine \"m\" was aborted"}},
            {"index": 2, "outcome": "refused", "status": 409, "error": {"error": "run_aborted", "detail": "run 7 of machine \"m\" was aborted"}}
        ]}"#,
    )]);
    let mut sink = HttpSink::open(config(&server.url, spool.path())).unwrap();
    let delivery = sink.deliver_pending().unwrap();
    assert_eq!(
        (delivery.delivered, delivery.dropped, delivery.pending),
        (1, 2, 0)
    );
    assert_eq!(delivery.aborted.len(), 1, "{:?}", delivery.aborted);
    assert!(delivery.rejected.is_empty());
    assert_eq!(paths(&server), ["/api/v1/events"]);
}

/// A start of test `i` of machine `m`, with its event id.
fn numbered_start(i: usize) -> stpt_core::Event {
    let body = format!(
        r#"{{"machine_name": "m", "file_name": "t{i}.py", "file_path": "/t", "timestamp_start": "2018-12-30 13:01:57", "event_id": "e{i}"}}"#
    );
    stpt_core::Event::parse(stpt_core::EventKind::TestStart, body.as_bytes()).unwrap()
}

/// Spools `count` numbered starts, as a sink does while the server is away.
fn spool_backlog(spool: &Path, count: usize) {
    let events: Vec<_> = (0..count).map(numbered_start).collect();
    let mut spooled = stpt_runner::Spool::open(spool).unwrap();
    assert!(spooled.append_all(&events).iter().all(Result::is_ok));
}

#[test]
fn a_backlog_is_flushed_in_few_requests_in_order() {
    let spool = tempfile::tempdir().unwrap();
    spool_backlog(spool.path(), 1_200);
    let server = TestServer::start();
    let mut sink = HttpSink::open(config(&server.url, spool.path())).unwrap();
    let delivery = sink.deliver_pending().unwrap();
    assert_eq!((delivery.delivered, delivery.pending), (1_200, 0));
    // At most 1,000 events a batch.
    assert_eq!(paths(&server), ["/api/v1/events", "/api/v1/events"]);
    let ids: Vec<String> = server.events().into_iter().map(|(_, id)| id).collect();
    let expected: Vec<String> = (0..1_200).map(|i| format!("e{i}")).collect();
    assert_eq!(ids, expected);
}

#[test]
fn a_server_without_batches_takes_single_posts_for_the_sinks_life() {
    let spool = tempfile::tempdir().unwrap();
    spool_backlog(spool.path(), 3);
    let server = TestServer::without_batches();
    let mut sink = HttpSink::open(config(&server.url, spool.path())).unwrap();
    let delivery = sink.deliver_pending().unwrap();
    assert_eq!((delivery.delivered, delivery.pending), (3, 0));
    assert_eq!(
        paths(&server),
        [
            "/api/v1/events",
            "/tm_api/test_start/",
            "/tm_api/test_start/",
            "/tm_api/test_start/"
        ]
    );
    // Remembered: the next backlog is not offered as a batch again.
    let mut spooled = stpt_runner::Spool::open(spool.path()).unwrap();
    assert!(
        spooled
            .append_all(&[numbered_start(3), numbered_start(4)])
            .iter()
            .all(Result::is_ok)
    );
    assert_eq!(sink.deliver_pending().unwrap().delivered, 2);
    assert_eq!(server.requests().len(), 6);
    assert_eq!(
        server
            .events()
            .into_iter()
            .map(|(_, id)| id)
            .collect::<Vec<_>>(),
        ["e0", "e1", "e2", "e3", "e4"]
    );
}

#[test]
fn a_batch_over_the_servers_bounds_is_cut_smaller() {
    let spool = tempfile::tempdir().unwrap();
    spool_backlog(spool.path(), 4);
    let server = TestServer::start();
    server.script([Reply::Status(
        413,
        r#"{"error": "too_many_events", "detail": "at most 2"}"#,
    )]);
    let mut sink = HttpSink::open(config(&server.url, spool.path())).unwrap();
    let delivery = sink.deliver_pending().unwrap();
    assert_eq!((delivery.delivered, delivery.pending), (4, 0));
    let sizes: Vec<usize> = server
        .requests()
        .iter()
        .map(|r| r.body.as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [4, 2, 2]);
}

#[test]
fn each_answer_of_a_batch_is_settled_as_a_single_posts() {
    let spool = tempfile::tempdir().unwrap();
    spool_backlog(spool.path(), 4);
    let server = TestServer::start();
    server.script([Reply::Status(
        200,
        r#"{"applied": 2, "duplicates": 0, "refused": 2, "events": [
            {"index": 0, "outcome": "duplicate", "status": 202, "event_id": "e0"},
            {"index": 1, "outcome": "refused", "status": 409, "error": {"error": "no_matching_test", "detail": "no waiting test"}},
            {"index": 2, "outcome": "refused", "status": 503, "error": {"error": "unavailable", "detail": "busy"}},
            {"index": 3, "outcome": "applied", "status": 202, "event_id": "e3"}
        ]}"#,
    )]);
    let mut sink = HttpSink::open(config(&server.url, spool.path())).unwrap();
    let delivery = sink.deliver_pending().unwrap();
    // The duplicate and the applied event leave the spool, the refused one is moved aside,
    // the one the server failed on stays and holds delivery up.
    assert_eq!(delivery.delivered, 2);
    assert_eq!(delivery.rejected.len(), 1, "{:?}", delivery.rejected);
    assert!(
        delivery.rejected[0]
            .to_string()
            .contains("no_matching_test")
    );
    assert_eq!(delivery.pending, 1);
    let held = delivery.held_up.expect("held up");
    assert_eq!(held.event_id, "e2");
    assert!(held.answered);
    assert_eq!(sink.spool().rejected().unwrap().len(), 1);
    // The next delivery sends only what is left, alone to its own endpoint.
    assert_eq!(sink.deliver_pending().unwrap().delivered, 1);
    assert_eq!(paths(&server)[1..], ["/tm_api/test_start/"]);
}

#[test]
fn events_spooled_while_a_request_was_in_flight_go_in_one_request() {
    // A harness delivering from a thread of its own spools what it was handed meanwhile as
    // one group; the next delivery takes the whole group in one request.
    let spool = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    let mut sink = HttpSink::open(config(&server.url, spool.path())).unwrap();
    assert!(sink.spool_all(&[numbered_start(0)]).is_empty());
    assert_eq!(sink.deliver_due().unwrap().unwrap().delivered, 1);
    let piled_up: Vec<_> = (1..6).map(numbered_start).collect();
    assert!(sink.spool_all(&piled_up).is_empty());
    assert_eq!(sink.deliver_due().unwrap().unwrap().delivered, 5);
    assert_eq!(paths(&server), ["/tm_api/test_start/", "/api/v1/events"]);
    assert_eq!(
        server
            .events()
            .into_iter()
            .map(|(_, id)| id)
            .collect::<Vec<_>>(),
        ["e0", "e1", "e2", "e3", "e4", "e5"]
    );
}
