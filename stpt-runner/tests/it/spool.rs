//! The spool across a simulated crash of the harness.

use std::fs;

use stpt_core::Status;
use stpt_runner::{HttpSink, Reporter, Spool};

use crate::http::{closed_port, config, plan};
use crate::server::TestServer;

#[test]
fn events_pending_at_a_crash_are_delivered_in_order_before_new_ones() {
    let dead = closed_port();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let spool = tempfile::tempdir().unwrap();
    let plan = plan();
    let tests = plan.tests();

    // The first harness reports while the server is away, then dies without a flush.
    let mut reporter = Reporter::new(
        "m",
        HttpSink::open(config(&dead_url, spool.path())).unwrap(),
    );
    assert!(reporter.dry_run(&plan).is_err());
    assert!(reporter.start(&tests[0]).is_err());
    assert!(reporter.stop(&tests[0], Status::Passed, None).is_err());
    std::mem::forget(reporter);
    // It was killed while writing a fourth event: a cut-off temp file is all that is left.
    fs::write(
        spool.path().join(".tmp-00000000000000000003-0badf00d"),
        b"{\"machine_na",
    )
    .unwrap();
    let pending: Vec<String> = Spool::open(spool.path())
        .unwrap()
        .pending()
        .unwrap()
        .into_iter()
        .map(|p| p.event.event_id().unwrap().to_owned())
        .collect();
    assert_eq!(pending.len(), 3);

    // The next harness's first event goes out after the backlog.
    let server = TestServer::start();
    let mut next = Reporter::new(
        "m",
        HttpSink::open(config(&server.url, spool.path())).unwrap(),
    );
    next.start(&tests[1]).unwrap();
    // The backlog and the new event go as one batch.
    assert_eq!(server.requests().len(), 1);
    let received = server.events();
    let ids: Vec<&str> = received.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        ids[..3],
        pending.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    let paths: Vec<&str> = received.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/tm_api/dry_run/",
            "/tm_api/test_start/",
            "/tm_api/test_stop/",
            "/tm_api/test_start/"
        ]
    );
    assert_eq!(next.sink().spool().pending_count().unwrap(), 0);
    assert!(next.flush().is_ok());
}
