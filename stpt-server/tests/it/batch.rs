//! `POST /api/v1/events`: a batch of events applied in order and answered one by one, on
//! SQLite and on PostgreSQL; a live socket hearing batched events on a real server.

use rocket::http::{ContentType, Header, Status};
use serde_json::{Value, json};
use stpt_core::Event;
use stpt_core::Status as TestStatus;
use stpt_core::testing::builders::{dry_run, output, start, stop, with_event_id};
use stpt_core::testing::dump;
use stpt_core::wire::batch_body;
use stpt_server::config::{IngestAuth, ReadAccess};

use crate::test_app::{TestApp, TestAppBuilder, answer, on_both_backends, snapshot};

const LAMP: &[&str] = &["lamp_on.py", "lamp_off.py"];

/// A whole run of `machine`: its dry run, a start and stop per test, output of the first.
fn whole_run(machine: &str) -> Vec<Event> {
    let id = |n: &str| format!("{machine}-{n}");
    vec![
        with_event_id(dry_run(machine, 0, &[("lamp.py", LAMP)]), &id("dry")),
        with_event_id(start(machine, "lamp_on.py", 1), &id("s0")),
        output(machine, None, 0, &id("o0"), &["on", "still on"]),
        with_event_id(
            stop(machine, "lamp_on.py", TestStatus::Passed, 2),
            &id("p0"),
        ),
        with_event_id(start(machine, "lamp_off.py", 3), &id("s1")),
        with_event_id(
            stop(machine, "lamp_off.py", TestStatus::Failed, 4),
            &id("p1"),
        ),
    ]
}

fn body(events: &[Event]) -> String {
    batch_body(events).expect("a batch body")
}

impl TestApp {
    fn post_batch(&self, body: &str) -> (Status, Value) {
        self.post_with("/api/v1/events", body, None)
    }

    fn post_ndjson(&self, body: &str, token: Option<&str>) -> (Status, Value) {
        let mut request = self
            .client
            .post("/api/v1/events")
            .header(ContentType::new("application", "x-ndjson"))
            .body(body);
        if let Some(token) = token {
            request = request.header(Header::new("Authorization", format!("Bearer {token}")));
        }
        answer(request.dispatch())
    }

    fn store_dump(&self) -> Value {
        dump(&*self.db)
    }
}

fn outcomes(answer: &Value) -> Vec<String> {
    answer["events"]
        .as_array()
        .expect("answers")
        .iter()
        .map(|e| e["outcome"].as_str().expect("an outcome").to_owned())
        .collect()
}

/// A whole run in one batch is applied in order, each event answered as its own endpoint
/// would (201 and the run for the dry run, 202 for the others), and ends as the run does.
fn a_whole_run_in_one_batch_is_applied(app: &TestApp) {
    let (status, answer) = app.post_batch(&body(&whole_run("rig-a")));
    assert_eq!(status, Status::Ok, "{answer}");
    assert_eq!(outcomes(&answer), vec!["applied"; 6]);
    assert_eq!(answer["applied"], 6);
    let run_id = answer["events"][0]["run_id"].as_i64().expect("the run");
    for (index, event) in answer["events"].as_array().unwrap().iter().enumerate() {
        assert_eq!(event["index"], index);
        assert_eq!(event["run_id"], run_id);
        assert_eq!(event["status"], if index == 0 { 201 } else { 202 });
    }
    let (_, run) = app.get(&format!("/api/v1/runs/{run_id}"));
    assert_eq!(run["run"]["status"], "failed", "{run}");
    let test = answer["events"][2]["test_id"].as_i64().expect("a test");
    let (_, kept) = app.get(&format!("/api/v1/tests/{test}/output"));
    assert_eq!(kept["head"][1]["text"], "still on", "{kept}");
    snapshot!("batch_whole_run_answer", answer);
}

/// An event id repeated inside a batch, or a batch sent again, is answered duplicate and
/// changes nothing; the duplicate dry run still answers its run.
fn duplicates_inside_and_across_batches_change_nothing(app: &TestApp) {
    let mut events = whole_run("rig-a");
    events.insert(2, events[1].clone());
    let (status, first) = app.post_batch(&body(&events));
    assert_eq!(status, Status::Ok, "{first}");
    assert_eq!(first["events"][2]["outcome"], "duplicate");
    assert_eq!(first["events"][2]["run_id"], first["events"][1]["run_id"]);
    assert_eq!(
        (first["applied"].as_u64(), first["duplicates"].as_u64()),
        (Some(6), Some(1))
    );
    let before = app.store_dump();
    let (status, again) = app.post_batch(&body(&events));
    assert_eq!(status, Status::Ok);
    assert_eq!(outcomes(&again), vec!["duplicate"; 7]);
    assert_eq!(again["events"][0]["run_id"], first["events"][0]["run_id"]);
    assert_eq!(
        app.store_dump(),
        before,
        "a replayed batch changed the store"
    );
}

/// A bad event in the middle is refused with its index, status and field; the events before
/// and after it apply.
fn a_bad_event_is_refused_alone_with_its_index_and_path(app: &TestApp) {
    let mut events: Vec<Value> = whole_run("rig-a")
        .iter()
        .map(|e| serde_json::to_value(e).expect("JSON"))
        .collect();
    // A blank file name (400, the field named) and a stop of a test that is not running (409).
    events[1]["file_name"] = json!(" ");
    events.insert(
        3,
        serde_json::to_value(with_event_id(
            stop("rig-a", "lamp_off.py", TestStatus::Passed, 2),
            "early-stop",
        ))
        .unwrap(),
    );
    events.insert(4, json!({"what": "nothing"}));
    // An event without its id.
    events.push(serde_json::to_value(start("rig-a", "lamp_on.py", 5)).unwrap());
    let (status, answer) = app.post_batch(&Value::Array(events).to_string());
    assert_eq!(status, Status::Ok, "{answer}");
    assert_eq!(
        outcomes(&answer),
        [
            "applied", "refused", "applied", "refused", "refused", "refused", "applied", "applied",
            "refused"
        ]
    );
    let refused = &answer["events"][1];
    assert_eq!(refused["index"], 1);
    assert_eq!(refused["status"], 400);
    assert_eq!(refused["error"]["error"], "invalid_field");
    assert_eq!(refused["error"]["field"], "file_name");
    assert_eq!(answer["events"][3]["status"], 409);
    assert_eq!(answer["events"][3]["kind"], "test_stop");
    assert_eq!(answer["events"][3]["event_id"], "early-stop");
    assert_eq!(answer["events"][4]["error"]["error"], "unknown_event");
    assert_eq!(answer["events"][8]["error"]["field"], "event_id");
    assert_eq!(answer["events"][8]["kind"], "test_start");
    // Output is taken whatever its test's status; the stop of the test that never started
    // is refused by the store.
    assert_eq!(answer["events"][5]["status"], 409, "{answer}");
    let (_, run) = app.get(&format!(
        "/api/v1/runs/{}",
        answer["events"][0]["run_id"].as_i64().unwrap()
    ));
    assert_eq!(run["run"]["status"], "waiting", "{run}");
    snapshot!("batch_refusals_answer", answer);
}

/// More events than allowed, more bytes than the limit, a body that is not JSON or not an
/// array: the whole batch is refused and nothing of it applies.
fn bounds_refuse_the_whole_batch(app: &TestApp) {
    let events = whole_run("rig-a");
    let cases = [
        (Status::PayloadTooLarge, "too_many_events", body(&events)),
        (
            Status::PayloadTooLarge,
            "payload_too_large",
            body(&[with_event_id(
                dry_run("rig-a", 0, &[("big.py", &["x.py"; 200])]),
                "big",
            )]),
        ),
        (
            Status::BadRequest,
            "malformed_json",
            "[{\"machine".to_owned(),
        ),
        (
            Status::BadRequest,
            "not_a_batch",
            serde_json::to_string(&events[0]).unwrap(),
        ),
    ];
    for (expected, error, body) in cases {
        let (status, answer) = app.post_batch(&body);
        assert_eq!(status, expected, "{answer}");
        assert_eq!(answer["error"], error);
        assert!(
            app.get("/tm_api/machines/").1["results"]
                .as_array()
                .is_some_and(Vec::is_empty)
        );
    }
    let (status, answer) = app.post_batch(&body(&events[..5]));
    assert_eq!((status, answer["applied"].as_u64()), (Status::Ok, Some(5)));
    let (_, metrics) = app.get("/metrics");
    let metrics = metrics.as_str().unwrap_or_default();
    assert!(
        metrics.contains("stpt_events_refused_total{kind=\"batch\",reason=\"too_many_events\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("stpt_events_applied_total{kind=\"test_start\"} 2"));
}

/// One event per line, blank lines skipped; a line that is not JSON is that event's refusal.
fn ndjson_batches_apply_like_arrays(app: &TestApp) {
    let lines: Vec<String> = whole_run("rig-a")
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let body = format!(
        "{}\n\n{{not json\n{}\n",
        lines[..2].join("\n"),
        lines[2..].join("\n")
    );
    let (status, answer) = app.post_ndjson(&body, None);
    assert_eq!(status, Status::Ok, "{answer}");
    assert_eq!(
        outcomes(&answer),
        [
            "applied", "applied", "refused", "applied", "applied", "applied", "applied"
        ]
    );
    assert_eq!(answer["events"][2]["error"]["error"], "malformed_json");
}

/// Under token ingest each event must be its token's machine's: another machine's is
/// refused (403) in its answer, the rest apply; no token refuses the whole request (401).
fn each_event_needs_its_machines_token(app: TestAppBuilder) {
    let app = app
        .with_access(ReadAccess::Public, IngestAuth::Token)
        .build();
    let token = app.access().create_token("rig-a").expect("token");
    let mut events = whole_run("rig-a");
    events.insert(
        1,
        with_event_id(dry_run("rig-b", 0, &[("door.py", &["d.py"])]), "b"),
    );
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let (status, answer) = app.post_ndjson(&lines.join("\n"), None);
    assert_eq!(status, Status::Unauthorized, "{answer}");
    let (status, answer) = app.post_ndjson(&lines.join("\n"), Some(&token));
    assert_eq!(status, Status::Ok, "{answer}");
    assert_eq!(answer["events"][1]["status"], 403);
    assert_eq!(answer["events"][1]["error"]["error"], "forbidden");
    assert_eq!(answer["refused"], 1);
    assert_eq!(answer["applied"], 6);
    let (_, machines) = app.get("/tm_api/machines/");
    assert_eq!(machines["count"], 1, "{machines}");
}

on_both_backends!(|app| &app.body_limit(4096).config(|c| c.batch_max_events = 9).build();
    a_whole_run_in_one_batch_is_applied,
    duplicates_inside_and_across_batches_change_nothing,
    a_bad_event_is_refused_alone_with_its_index_and_path,
    ndjson_batches_apply_like_arrays,
);

mod bounds {
    use super::*;

    on_both_backends!(|app| &app.body_limit(4096).config(|c| c.batch_max_events = 5).build();
        bounds_refuse_the_whole_batch,
    );
}

mod auth {
    use super::*;

    on_both_backends!(each_event_needs_its_machines_token);
}

mod served {
    use std::time::Duration;

    use super::*;

    fn post(base: &str, events: &[Event]) -> Value {
        ureq::post(&format!("{base}/api/v1/events"))
            .set("Content-Type", "application/json")
            .send_string(&body(events))
            .expect("the batch")
            .into_json()
            .expect("a JSON answer")
    }

    /// The same batch sent twice at once applies once: every event is applied by one of the
    /// two requests and answered duplicate by the other, and the store holds one run.
    fn racing_the_same_batch_applies_it_once(app: TestAppBuilder) {
        let server = app.serve();
        let events = whole_run("rig-a");
        let answers: Vec<Value> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..2)
                .map(|_| scope.spawn(|| post(&server.base, &events)))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        for index in 0..events.len() {
            let mut seen: Vec<&str> = answers
                .iter()
                .map(|a| a["events"][index]["outcome"].as_str().unwrap())
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, ["applied", "duplicate"], "event {index}: {answers:?}");
        }
        let once = dump(&**app.db());
        post(&server.base, &events);
        assert_eq!(dump(&**app.db()), once);
        assert_eq!(server.get("/tm_api/machine_dry_run_datas/1")["count"], 1);
    }

    on_both_backends!(racing_the_same_batch_applies_it_once);

    /// Batched events reach the live sockets as single ones do: the run's status changes
    /// and the output.
    #[test]
    fn batched_events_are_announced_live() {
        let app = TestApp::sqlite();
        let server = app.serve();
        let mut events = whole_run("rig-a");
        let rest = events.split_off(1);
        let dry = post(&server.base, &events);
        let run_id = dry["events"][0]["run_id"].as_i64().expect("the run");
        let a = server.machine_id("rig-a");
        std::thread::sleep(Duration::from_millis(600));
        let mut runs = server.socket(&format!("/ws/machine/{a}/runs"));
        let mut output = server.socket(&format!("/ws/machine/{a}/output"));
        let answer = post(&server.base, &rest);
        assert_eq!(answer["applied"], 5, "{answer}");
        let frame = output.next_json();
        assert_eq!(frame["test_output"]["run_id"], run_id);
        assert_eq!(frame["test_output"]["lines"][0]["text"], "on");
        // Changes may be coalesced per tick; the stream ends on the run's final status.
        let mut last = runs.next_json();
        for _ in 0..4 {
            if last["run_data"]["status"] == "failed" {
                break;
            }
            last = runs.next_json();
        }
        assert_eq!(
            last,
            json!({"run_data": {"id": run_id, "status": "failed"}})
        );
    }
}
