//! No body posted to an ingest endpoint makes the server fail (5xx), on SQLite and on
//! PostgreSQL.
//!
//! Most bodies are well-formed events (dry runs, starts, stops) carrying hostile values, so
//! they get past the JSON parser and reach validation and the store: NUL characters, escaped
//! lone surrogates, unicode, long and blank strings, huge, negative and fractional numbers,
//! impossible timestamps, unknown statuses, unknown run ids and other machines' run ids,
//! indexes and attempts out of range, and event ids that repeat (across kinds and machines).
//! The rest are arbitrary bytes and valid payloads cut short or with bytes changed.
//!
//! Every answer must be below 500, and every refusal the JSON error shape
//! (`{"error", "detail"[, "field"]}`); a text holding NUL is refused with 400 on both backends
//! (PostgreSQL cannot store one). Afterwards the read endpoints and pages still answer every
//! machine stored.

use std::cell::Cell;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use rocket::http::{ContentType, Status};
use serde_json::Value;
use stpt_core::{PageRequest, Store};

use crate::test_app::{TestApp, on_both_backends};

/// Machines the events name: few, so starts and stops find the plans dry runs made.
const MACHINES: [&str; 3] = ["rig-h", "RIG-H", "rig-other"];

/// Test names of the plans, and of most starts and stops.
const NAMES: [&str; 2] = ["a.py", "b.py"];

/// A JSON string literal (quotes and escapes included, as it appears in a body).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|e| panic!("cannot quote {text:?}: {e}"))
}

/// A hostile string, as raw JSON: escapes serde would never write (NUL, lone surrogates),
/// unicode, lengths around the limits, blanks, markup and SQL.
fn hostile_text() -> impl Strategy<Value = String> {
    let escaped = [
        r#""\u0000""#,
        r#""a\u0000.py""#,
        r#""\ud800""#,
        r#""\udfff""#,
        r#""a\ud800b""#,
        r#""\udc00\ud800""#,
        r#""\ud83e\udd80 crab""#,
        r#""\ufeff\u200b\u202eyp.a""#,
        r#""e\u0301\uffff""#,
        r#""\n\t""#,
    ];
    let literal = [
        "",
        "   ",
        "тест 日本語 🦀",
        "<script>alert(1)</script>",
        "'; DROP TABLE runs; --",
        "%_\\",
        "a.py ",
        "A.PY",
    ];
    prop_oneof![
        select(escaped.to_vec()).prop_map(str::to_owned),
        select(literal.to_vec()).prop_map(quoted),
        // Around the name limit (256), the path limit (1024) and beyond.
        (
            select(vec!["x", "é", "🦀"]),
            select(vec![255usize, 256, 257, 1024, 1025, 20_000])
        )
            .prop_map(|(unit, n)| quoted(&unit.repeat(n))),
        "\\PC{0,24}".prop_map(|text| quoted(&text)),
    ]
}

/// A string field: mostly `usual` (so events reach the store), one time in `odds + 1`
/// hostile.
fn text(usual: &'static [&'static str], odds: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        odds => select(usual).prop_map(quoted),
        1 => hostile_text(),
    ]
}

/// A number field, as raw JSON: small ids that may name other machines' runs, unknown ones,
/// the edges of i64, u32 and u64, negative, fractional and overflowing values.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (1u32..8).prop_map(|n| n.to_string()),
        1 => select(vec![
            "0",
            "-1",
            "-0",
            "999999",
            "4294967295",
            "4294967296",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "18446744073709551616",
            "1.5",
            "1e308",
            "1e400",
            "\"1\"",
            "true",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A timestamp field, as raw JSON: both wire formats, the edges of the calendar and of
/// microseconds in an i64, impossible dates and hostile strings.
fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0u32..60).prop_map(|s| format!("\"2024-01-01 00:00:{s:02}\"")),
        1 => select(vec![
            "\"2024-01-01T00:00:00Z\"",
            "\"2024-01-01T00:00:00+14:00\"",
            "\"2024-01-01T00:00:00.999999999-12:00\"",
            "\"0001-01-01 00:00:00\"",
            "\"9999-12-31 23:59:59\"",
            "\"1677-09-21 00:12:43\"",
            "\"2262-04-11 23:47:16\"",
            "\"+262143-12-31T23:59:59Z\"",
            "\"2024-02-30 00:00:00\"",
            "\"2024-01-01 24:00:00\"",
            "0",
            "null",
        ])
        .prop_map(str::to_owned),
        1 => hostile_text(),
    ]
}

/// A stop's status, as raw JSON: the finished statuses and a few that are not.
fn status() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => select(vec!["passed", "failed", "error", "warning", "unknown", "cancelled", "skipped"])
            .prop_map(quoted),
        1 => select(vec![
            "\"running\"",
            "\"waiting\"",
            "\"PASSED\"",
            "\"\"",
            "\"\\u0000\"",
            "3",
            "null",
        ])
        .prop_map(str::to_owned),
    ]
}

/// An optional field: absent, `null`, or a value.
fn optional(value: impl Strategy<Value = String>) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some("null".to_owned())),
        2 => value.prop_map(Some),
    ]
}

/// A field events mostly leave out: absent, `null`, or a value.
fn rarely(value: impl Strategy<Value = String>) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        5 => Just(None),
        1 => Just(Some("null".to_owned())),
        2 => value.prop_map(Some),
    ]
}

/// An event id: absent, one of a few that repeat across events, kinds and machines, or hostile.
fn event_id() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        3 => select(vec!["e-1", "e-2", "e-3", "e-4"]).prop_map(|id| Some(quoted(id))),
        1 => hostile_text().prop_map(Some),
    ]
}

/// A JSON object from raw field values; absent ones are left out.
fn object(fields: Vec<(&str, Option<String>)>) -> String {
    let body: Vec<String> = fields
        .into_iter()
        .filter_map(|(name, value)| Some(format!("{}: {}", quoted(name), value?)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// A script node (test or scenario) of a plan.
fn node(tests: Option<Vec<String>>) -> impl Strategy<Value = String> {
    // A plan has many nodes: each is hostile more rarely, or few plans would be accepted.
    let script = optional(text(&["print(1)"], 30));
    (text(&NAMES, 30), text(&["/t"], 30), script).prop_map(move |(name, path, script)| {
        let mut fields = vec![
            ("file_name", Some(name)),
            ("file_path", Some(path)),
            ("script", script),
        ];
        if let Some(tests) = &tests {
            fields.push(("tests", Some(format!("[{}]", tests.join(", ")))));
        }
        object(fields)
    })
}

fn dry_run() -> impl Strategy<Value = (usize, String)> {
    let scenario = prop::collection::vec(node(None), 0..4).prop_flat_map(|tests| node(Some(tests)));
    let scenarios = prop_oneof![
        6 => prop::collection::vec(scenario, 0..3).prop_map(|s| Some(format!("[{}]", s.join(", ")))),
        1 => Just(Some("null".to_owned())),
        1 => Just(None),
    ];
    (
        text(&MACHINES, 8),
        timestamp(),
        text(&["master.py"], 8),
        optional(text(&["run_all()"], 3)),
        scenarios,
        event_id(),
    )
        .prop_map(|(machine, at, master, script, scenarios, id)| {
            let master = object(vec![
                ("file_name", Some(master)),
                ("file_path", Some(quoted("/s"))),
                ("script", script),
                ("scenarios", scenarios),
            ]);
            let body = object(vec![
                ("machine_name", Some(machine)),
                ("timestamp", Some(at)),
                ("master_scenario", Some(master)),
                ("event_id", id),
            ]);
            (0, body)
        })
}

/// A start (`stop` false) or a stop.
fn start_or_stop(stop: bool) -> impl Strategy<Value = (usize, String)> {
    let addressing = (rarely(number()), rarely(number()), rarely(number()));
    let ending = (status(), optional(text(&["boom"], 3)));
    (
        (
            text(&MACHINES, 8),
            text(&NAMES, 8),
            text(&["/t"], 8),
            timestamp(),
        ),
        addressing,
        ending,
        event_id(),
    )
        .prop_map(
            move |((machine, name, path, at), (run_id, index, attempt), (status, message), id)| {
                let mut fields = vec![
                    ("machine_name", Some(machine)),
                    ("file_name", Some(name)),
                    ("file_path", Some(path)),
                    ("event_id", id),
                    ("run_id", run_id),
                    ("index", index),
                    ("attempt", attempt),
                ];
                if stop {
                    fields.push(("timestamp_stop", Some(at)));
                    fields.push(("status", Some(status)));
                    fields.push(("message", message));
                } else {
                    fields.push(("timestamp_start", Some(at)));
                }
                (usize::from(stop) + 1, object(fields))
            },
        )
}

/// Valid payloads cut short or with bytes changed, and arbitrary bytes.
fn garbled() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let payloads = [
        r#"{"machine_name": "rig-h", "timestamp": "2024-01-01 00:00:00", "master_scenario": {"file_name": "m.py", "file_path": "/s", "scenarios": [{"file_name": "s.py", "file_path": "/s", "tests": [{"file_name": "a.py", "file_path": "/t"}]}]}}"#,
        r#"{"machine_name": "rig-h", "file_name": "a.py", "file_path": "/t", "timestamp_start": "2024-01-01 00:00:01"}"#,
        r#"{"machine_name": "rig-h", "file_name": "a.py", "file_path": "/t", "status": "passed", "timestamp_stop": "2024-01-01 00:00:02"}"#,
    ];
    prop_oneof![
        (0..3usize, prop::collection::vec(any::<u8>(), 0..600)),
        (
            0..3usize,
            any::<prop::sample::Index>(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6)
        )
            .prop_map(move |(which, cut, changes)| {
                let mut bytes = payloads[which].as_bytes().to_vec();
                for (at, byte) in changes {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                bytes.truncate(cut.index(bytes.len() + 1));
                (which, bytes)
            }),
    ]
}

/// One request: the endpoint (0 dry run, 1 start, 2 stop) and its body.
fn request() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let text = |(endpoint, body): (usize, String)| (endpoint, body.into_bytes());
    prop_oneof![
        2 => dry_run().prop_map(text),
        4 => start_or_stop(false).prop_map(text),
        4 => start_or_stop(true).prop_map(text),
        1 => garbled(),
    ]
}

const PATHS: [&str; 3] = ["/tm_api/dry_run", "/tm_api/test_start", "/tm_api/test_stop"];

/// Posts random sequences to `app`; checks every answer and the reads afterwards.
fn no_ingest_body_yields_a_server_error(app: TestApp) {
    let (client, db) = (&app.client, &app.db);
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 64,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    // Answers from the store (2xx, or a 404/409 refusal), against the parser's 400s: over half
    // the bodies reach the store, so at least two in five must.
    let reached_the_store = Cell::new(0usize);
    let answered = Cell::new(0usize);
    runner
        .run(&prop::collection::vec(request(), 1..10), |requests| {
            for (endpoint, body) in requests {
                let path = PATHS[endpoint];
                let shown = String::from_utf8_lossy(&body)
                    .chars()
                    .take(600)
                    .collect::<String>();
                let response = client
                    .post(path)
                    .header(ContentType::JSON)
                    .body(&body)
                    .dispatch();
                let status = response.status();
                let text = response.into_string().unwrap_or_default();
                prop_assert!(
                    status.code < 500,
                    "{} answered {}: {}\nbody: {}",
                    path,
                    status,
                    text,
                    shown
                );
                let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                answered.set(answered.get() + 1);
                if status.code >= 400 {
                    prop_assert!(
                        answer["error"].is_string() && answer["detail"].is_string(),
                        "{} answered {} without the JSON error shape: {}\nbody: {}",
                        path,
                        status,
                        text,
                        shown
                    );
                    prop_assert!(
                        answer.get("field").is_none_or(Value::is_string),
                        "{} answered a field that is not a string: {}",
                        path,
                        text
                    );
                } else {
                    prop_assert!(
                        answer.is_object(),
                        "{} answered {} with {}",
                        path,
                        status,
                        text
                    );
                }
                if matches!(
                    status,
                    Status::Created | Status::Accepted | Status::NotFound | Status::Conflict
                ) {
                    reached_the_store.set(reached_the_store.get() + 1);
                }
                if String::from_utf8_lossy(&body).contains("\\u0000") {
                    prop_assert_eq!(
                        status,
                        Status::BadRequest,
                        "{} took a NUL: {}\nbody: {}",
                        path,
                        text,
                        shown
                    );
                }
            }
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    let (reached, answered) = (reached_the_store.get(), answered.get());
    assert!(
        reached * 5 >= answered * 2,
        "only {reached} of {answered} bodies reached the store"
    );

    let machines = db.machines(PageRequest::new(1, 100)).expect("machines");
    assert!(!machines.items.is_empty(), "no event was stored");
    for summary in machines.items {
        let id = summary.machine.id;
        let mut paths = vec![
            "/tm_api/machines/".to_owned(),
            format!("/tm_api/machine_dry_run_datas/{id}"),
            format!("/tm_api/machine_last_data/{id}/"),
            format!("/machine/{id}"),
            format!("/machine/{id}/last"),
            "/".to_owned(),
        ];
        if let Some(run) = summary.last_run_id {
            paths.push(format!("/api/v1/runs/{run}"));
            paths.push(format!("/machine/run_data/{run}"));
        }
        for path in paths {
            let status = client.get(path.as_str()).dispatch().status();
            assert!(status.code < 400, "GET {path} answered {status}");
        }
    }
}

on_both_backends!(|app| app.build(); no_ingest_body_yields_a_server_error);
