//! Snapshots of the wire payloads as stpt serialises them, and of the run they make.
//!
//! The seed's runners read the echoed body, so a parsed payload must serialise back to the same
//! fields and values, timestamps included, in the seed's text format.

use serde_json::{Value, json};
use stpt_core::{EventKind, MemoryStore, Status, Store};

use crate::{parse, seed_events};

#[test]
fn seed_payloads_round_trip_to_the_same_json() {
    for (kind, body) in seed_events() {
        let event = parse(kind, body);
        assert_eq!(event.kind(), kind);
        let echoed = serde_json::to_value(&event).unwrap();
        let sent: Value = serde_json::from_str(body).unwrap();
        assert_eq!(echoed, sent, "{kind:?} does not echo what was sent");
        insta::assert_json_snapshot!(format!("seed_{}", kind.as_str()), event);
    }
}

#[test]
fn stop_with_every_extension_and_an_rfc3339_time() {
    let body = json!({
        "machine_name": "rig-7",
        "file_name": "02_01_test_door.py",
        "file_path": "/virtual_testing_machine/src/test_cases/02_feature_door",
        "status": "failed",
        // An hour east of UTC, so the echo must move the wall-clock time back by one hour.
        "timestamp_stop": "2018-12-30T14:01:59.5+01:00",
        "event_id": "2b1f0c4e-stop-17",
        "run_id": 42,
        "index": 3,
        "message": "door did not close within 2 s",
    });
    let event = parse(EventKind::TestStop, &body.to_string());
    let echoed = serde_json::to_value(&event).unwrap();
    assert_eq!(echoed["timestamp_stop"], "2018-12-30 13:01:59.500000");
    let mut expected = body.clone();
    expected["timestamp_stop"] = echoed["timestamp_stop"].clone();
    assert_eq!(echoed, expected, "every extension is echoed unchanged");
    insta::assert_json_snapshot!("stop_with_extensions", event);
}

#[test]
fn seed_run_tree_after_the_fixtures() {
    let store = MemoryStore::new();
    let mut run_id = None;
    for (kind, body) in seed_events() {
        let applied = store
            .apply(&parse(kind, body), stpt_core::Timestamp::now())
            .unwrap();
        assert_eq!(*run_id.get_or_insert(applied.run_id), applied.run_id);
    }
    let tree = store.run(run_id.unwrap()).unwrap().unwrap();
    assert_eq!(tree.scenarios[0].tests[0].status, Status::Passed);
    assert_eq!(tree.run.status, Status::Waiting);
    // Ids and timestamps come from the fixtures and the store's counters, except when the
    // store heard the last event (its own clock).
    assert!(tree.run.last_event_at.is_some());
    insta::assert_json_snapshot!("seed_run_tree", tree, { ".run.last_event_at" => "[now]" });
}
