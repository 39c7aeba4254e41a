//! The HTTP endpoints through Rocket's local client, on SQLite and on PostgreSQL.
//!
//! Every case runs on both backends against one shared set of snapshots, so the two answer
//! the same bytes for the same requests.

use rocket::http::{ContentType, Method, Status};
use serde_json::{Value, json};
use stpt_core::testing::dump;

use crate::test_app::{TestApp, answer, on_both_backends, snapshot};

impl TestApp {
    fn dump(&self) -> Value {
        dump(&*self.db)
    }

    fn post_fixtures(&self) {
        let [dry, start, stop] = stpt_core::testing::builders::seed_fixtures();
        assert_eq!(self.post("/tm_api/dry_run/", dry).0, Status::Created);
        assert_eq!(self.post("/tm_api/test_start/", start).0, Status::Accepted);
        assert_eq!(self.post("/tm_api/test_stop/", stop).0, Status::Accepted);
    }
}

/// The seed's fixtures are accepted and echoed; a dry run answers its run id.
pub(crate) fn fixtures_are_accepted_and_echoed(app: &TestApp) {
    let [dry, start, stop] = stpt_core::testing::builders::seed_fixtures();
    let (status, body) = app.post("/tm_api/dry_run/", dry);
    assert_eq!(status, Status::Created);
    let mut expected: Value = serde_json::from_str(dry).unwrap();
    expected["run_id"] = json!(1);
    assert_eq!(body, expected, "the dry run echoes its payload and run id");
    let (status, body) = app.post("/tm_api/test_start/", start);
    assert_eq!(status, Status::Accepted);
    assert_eq!(body, serde_json::from_str::<Value>(start).unwrap());
    let (status, body) = app.post("/tm_api/test_stop/", stop);
    assert_eq!(status, Status::Accepted);
    assert_eq!(body, serde_json::from_str::<Value>(stop).unwrap());
}

/// Every read endpoint answers the seed's shape.
pub(crate) fn read_endpoints_answer_the_seed_shapes(app: &TestApp) {
    app.post_fixtures();
    for (name, path) in [
        ("machines", "/tm_api/machines/"),
        ("machine_dry_run_datas", "/tm_api/machine_dry_run_datas/1"),
        ("machine_last_data", "/tm_api/machine_last_data/1/"),
        ("test", "/tm_api/test/1"),
        ("scenario", "/tm_api/scenario/1"),
        ("master_scenario", "/tm_api/master_scenario/1"),
        ("v1_run", "/api/v1/runs/1"),
    ] {
        let (status, body) = app.get(path);
        assert_eq!(status, Status::Ok, "{path}: {body}");
        snapshot!(format!("read_{name}"), body);
    }
}

/// Every string under a key that names a time (`timestamp…`, `…_at`), with its path.
fn times(value: &Value, path: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let here = format!("{path}.{key}");
                let named = key.starts_with("timestamp") || key.ends_with("_at");
                match item {
                    Value::String(text) if named => found.push((here, text.clone())),
                    _ => times(item, &here, found),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                times(item, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// The seed's endpoints keep the seed's formats (its display form in reads, the payload's form
/// in echoes); `/api/v1` answers RFC 3339 with the zone.
pub(crate) fn timestamps_keep_the_seed_formats_and_v1_answers_rfc3339(app: &TestApp) {
    let [dry, start, stop] = stpt_core::testing::builders::seed_fixtures();
    for (path, body) in [
        ("/tm_api/dry_run/", dry),
        ("/tm_api/test_start/", start),
        ("/tm_api/test_stop/", stop),
    ] {
        let (_, echo) = app.post(path, body);
        let sent: Value = serde_json::from_str(body).unwrap();
        for key in ["timestamp", "timestamp_start", "timestamp_stop"] {
            assert_eq!(echo[key], sent[key], "{path} echoes {key} as sent");
        }
    }
    let (_, aborted) = app.post("/api/v1/runs/1/abort", "{}");
    let seed_display = |text: &str| {
        chrono::NaiveDateTime::parse_from_str(text, "%d-%m-%Y  %H:%M:%S")
            .is_ok_and(|at| at.format("%d-%m-%Y  %H:%M:%S").to_string() == text)
    };
    let rfc3339 = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .is_ok_and(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true) == text)
    };
    for path in [
        "/tm_api/machine_dry_run_datas/1",
        "/tm_api/machine_last_data/1/",
        "/tm_api/test/1",
        "/tm_api/scenario/1",
        "/tm_api/master_scenario/1",
    ] {
        let (_, body) = app.get(path);
        let mut found = Vec::new();
        times(&body, "", &mut found);
        assert!(!found.is_empty(), "{path} names no time: {body}");
        for (at, text) in found {
            assert!(seed_display(&text), "{path} {at} = {text:?}");
        }
    }
    for (path, body) in [
        ("/api/v1/runs/1", app.get("/api/v1/runs/1").1),
        ("/api/v1/runs/1/abort", aborted),
        (
            "/api/v1/tests/1/history",
            app.get("/api/v1/tests/1/history").1,
        ),
        (
            "/api/v1/machines/1/trend",
            app.get("/api/v1/machines/1/trend").1,
        ),
    ] {
        let mut found = Vec::new();
        times(&body, "", &mut found);
        assert!(!found.is_empty(), "{path} names no time: {body}");
        for (at, text) in found {
            assert!(rfc3339(&text), "{path} {at} = {text:?}");
        }
    }
}

/// Paths work with and without their trailing slash.
pub(crate) fn paths_work_with_and_without_trailing_slash(app: &TestApp) {
    let [dry, ..] = stpt_core::testing::builders::seed_fixtures();
    assert_eq!(app.post("/tm_api/dry_run", dry).0, Status::Created);
    for path in [
        "/tm_api/machines",
        "/tm_api/machines/",
        "/tm_api/machine_last_data/1",
        "/tm_api/machine_last_data/1/",
        "/tm_api/machine_dry_run_datas/1/",
        "/tm_api/test/1/",
        "/healthz",
        "/docs/",
        "/docs/openapi.json",
    ] {
        assert_eq!(app.get(path).0, Status::Ok, "{path}");
    }
}

/// Pages of 5 out of 12 machines; past the end is a 404; sizes are capped at 100.
pub(crate) fn machines_paginate_like_the_seed(app: &TestApp) {
    for i in 0..12 {
        let body = json!({
            "machine_name": format!("rig-{i:02}"),
            "timestamp": "2024-01-01 00:00:00",
            "master_scenario": {"file_name": "m.py", "file_path": "/s", "scenarios": null}
        });
        assert_eq!(
            app.post("/tm_api/dry_run/", &body.to_string()).0,
            Status::Created
        );
    }
    let (status, page) = app.get("/tm_api/machines/?page=3&page_size=5");
    assert_eq!(status, Status::Ok);
    snapshot!("machines_page_3_of_5", page);
    let (_, page) = app.get("/tm_api/machines/?page_size=1000");
    assert_eq!(page["page_size"], 100);
    assert_eq!(page["results"].as_array().map(Vec::len), Some(12));
    let (_, page) = app.get("/tm_api/machines/?page_size=abc");
    assert_eq!(page["page_size"], 10);
    assert_eq!(page["has_next"], true);
    for past in [
        "/tm_api/machines/?page=4&page_size=5",
        "/tm_api/machines/?page=0",
        "/tm_api/machines/?page=abc",
    ] {
        let (status, body) = app.get(past);
        assert_eq!(status, Status::NotFound, "{past}");
        assert_eq!(body["error"], "invalid_page");
    }
    let (status, body) = app.get("/tm_api/machine_dry_run_datas/999");
    assert_eq!(status, Status::Ok);
    assert_eq!(body["count"], 0);
}

/// Each kind of bad input gets a 4xx `{"error", "detail"}` and changes nothing.
pub(crate) fn bad_input_is_refused_and_changes_nothing(app: &TestApp) {
    app.post_fixtures();
    let before = app.dump();
    let start = |extra: &str| {
        format!(
            r#"{{"machine_name": "machine #1", "file_path": "/virtual_testing_machine/src/test_cases/01_feature_lamp", "file_name": "01_02_test_lamp.py"{extra}}}"#
        )
    };
    let cases = [
        ("malformed_json", "/tm_api/test_start/", "{\"machine_name\": ".to_owned()),
        ("not_an_object", "/tm_api/test_start/", "[1, 2]".to_owned()),
        ("empty_body", "/tm_api/test_stop/", String::new()),
        ("missing_field", "/tm_api/test_start/", start("")),
        ("wrong_type", "/tm_api/test_start/", start(r#", "timestamp_start": 17"#)),
        ("bad_timestamp", "/tm_api/test_start/", start(r#", "timestamp_start": "yesterday""#)),
        ("unknown_status", "/tm_api/test_stop/", start(r#", "status": "green", "timestamp_stop": "2018-12-30 13:02:00""#)),
        ("blank_machine", "/tm_api/dry_run/", r#"{"machine_name": "  ", "timestamp": "2018-12-30 13:02:00", "master_scenario": {"file_name": "m.py", "file_path": "/"}}"#.to_owned()),
        ("unknown_machine", "/tm_api/test_start/", r#"{"machine_name": "ghost", "file_path": "/", "file_name": "a.py", "timestamp_start": "2018-12-30 13:02:00"}"#.to_owned()),
        ("no_matching_test", "/tm_api/test_start/", start(r#", "file_name": "nope.py", "timestamp_start": "2018-12-30 13:02:00""#).replace(r#""file_name": "01_02_test_lamp.py", "#, "")),
        ("nothing_running", "/tm_api/test_stop/", start(r#", "status": "passed", "timestamp_stop": "2018-12-30 13:02:00""#)),
        ("unknown_run", "/tm_api/test_start/", start(r#", "timestamp_start": "2018-12-30 13:02:00", "run_id": 99"#)),
        ("oversized", "/tm_api/dry_run/", format!(r#"{{"machine_name": "{}"}}"#, "x".repeat(5000))),
    ];
    let mut answers = serde_json::Map::new();
    for (name, path, body) in cases {
        let (status, answer) = app.post(path, &body);
        assert!(
            status.code >= 400 && status.code < 500,
            "{name}: {status} {answer}"
        );
        assert!(
            answer["error"].is_string() && answer["detail"].is_string(),
            "{name}: {answer}"
        );
        answers.insert(
            name.to_owned(),
            json!({"status": status.code, "body": answer}),
        );
        assert_eq!(app.dump(), before, "{name} changed the store");
    }
    snapshot!("bad_input_answers", answers);
}

/// A replayed event id is acknowledged again and applied once.
pub(crate) fn replayed_event_ids_apply_once(app: &TestApp) {
    let [dry, ..] = stpt_core::testing::builders::seed_fixtures();
    let mut dry: Value = serde_json::from_str(dry).unwrap();
    dry["event_id"] = json!("b1f0a0c2-0000-4000-8000-000000000001");
    let (first, body1) = app.post("/tm_api/dry_run/", &dry.to_string());
    let (second, body2) = app.post("/tm_api/dry_run/", &dry.to_string());
    assert_eq!((first, second), (Status::Created, Status::Created));
    assert_eq!(body1["run_id"], body2["run_id"]);
    let start = json!({
        "machine_name": "machine #1",
        "file_path": "/virtual_testing_machine/src/test_cases/02_feature_door",
        "file_name": "01_01_test_door.py",
        "timestamp_start": "2018-12-30 13:02:00",
        "event_id": "b1f0a0c2-0000-4000-8000-000000000002"
    });
    assert_eq!(
        app.post("/tm_api/test_start/", &start.to_string()).0,
        Status::Accepted
    );
    let before = app.dump();
    assert_eq!(
        app.post("/tm_api/test_start/", &start.to_string()).0,
        Status::Accepted
    );
    assert_eq!(app.dump(), before, "the replay was applied again");
    assert_eq!(app.get("/tm_api/machine_dry_run_datas/1").1["count"], 1);
}

/// Ids that name nothing get a JSON 404; ids that are not numbers a JSON 4xx.
pub(crate) fn unknown_ids_are_json_errors(app: &TestApp) {
    for path in [
        "/tm_api/test/42",
        "/tm_api/scenario/42",
        "/tm_api/master_scenario/42",
        "/tm_api/machine_last_data/42/",
        "/api/v1/runs/42",
        "/tm_api/nothing-here",
    ] {
        let (status, body) = app.get(path);
        assert_eq!(status, Status::NotFound, "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let (status, body) = app.get("/tm_api/test/abc");
    assert!(status.code >= 400 && status.code < 500);
    assert!(body["detail"].is_string());
}

/// A method no route takes on a path that exists is a 405 naming the methods it takes, with
/// the JSON error body; a path that does not exist stays a 404.
pub(crate) fn unsupported_methods_are_405_with_allow(app: &TestApp) {
    for (method, path, allow) in [
        (Method::Put, "/tm_api/machines/", "GET, HEAD"),
        (Method::Delete, "/api/v1/runs/1", "GET, HEAD"),
        (Method::Get, "/tm_api/dry_run/", "POST"),
        (Method::Patch, "/tm_api/test_stop", "POST"),
        (Method::Options, "/healthz", "GET, HEAD"),
        (Method::Post, "/ws/machine/1/last/", "GET, HEAD"),
        (Method::Put, "/tm_api/test/abc", "GET, HEAD"),
        (Method::Delete, "/page_api/live/1", "GET, HEAD"),
        (Method::Put, "/docs/openapi.json", "GET, HEAD"),
    ] {
        let response = app.client.req(method, path).dispatch();
        assert_eq!(
            response.status(),
            Status::MethodNotAllowed,
            "{method} {path}"
        );
        assert_eq!(
            response.headers().get_one("Allow"),
            Some(allow),
            "{method} {path}"
        );
        assert_eq!(
            response.content_type(),
            Some(ContentType::JSON),
            "{method} {path}"
        );
        let (_, body) = answer(response);
        assert_eq!(
            body["error"], "method_not_allowed",
            "{method} {path}: {body}"
        );
        assert!(body["detail"].is_string(), "{method} {path}: {body}");
    }
    let response = app
        .client
        .req(Method::Put, "/tm_api/nothing-here")
        .dispatch();
    assert_eq!(response.status(), Status::NotFound);
    assert_eq!(response.headers().get_one("Allow"), None);
}

/// The JSON endpoints behind the pages answer their errors as JSON, like the API.
pub(crate) fn page_api_errors_are_json(app: &TestApp) {
    for (path, status) in [
        ("/page_api/live/42", Status::NotFound),
        ("/page_api/node/test/42", Status::NotFound),
        ("/page_api/node/master/42", Status::NotFound),
        ("/page_api/node/bogus/1", Status::NotFound),
        ("/page_api/live/abc", Status::UnprocessableEntity),
    ] {
        let response = app.client.get(path).dispatch();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.content_type(), Some(ContentType::JSON), "{path}");
        let (_, body) = answer(response);
        assert!(
            body["error"].is_string() && body["detail"].is_string(),
            "{path}: {body}"
        );
    }
}

/// A plain GET (no upgrade) on a WebSocket route is a JSON 400, and the document says so.
pub(crate) fn websocket_routes_refuse_plain_requests_as_documented(app: &TestApp) {
    let (_, document) = app.get("/docs/openapi.json");
    for (path, documented) in [
        ("/ws/machine/1/last/", "/ws/machine/{id}/last"),
        ("/ws/machine/1/runs/", "/ws/machine/{id}/runs"),
        ("/ws/machine/status/", "/ws/machine/status"),
        ("/ws/machine/1/output/", "/ws/machine/{id}/output"),
    ] {
        let (status, body) = app.get(path);
        assert_eq!(status, Status::BadRequest, "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
        let operation = &document["paths"][documented]["get"];
        assert_eq!(
            operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error",
            "{documented}: {operation}"
        );
        assert!(operation["responses"]["101"].is_object(), "{documented}");
    }
}

/// Every operation of the document declares each of its answers with a body (the JSON error
/// body for every 4xx and 5xx; none only for a protocol switch or a redirect), and every
/// parameter with a type.
pub(crate) fn openapi_declares_every_answer_and_typed_parameters(app: &TestApp) {
    let (_, document) = app.get("/docs/openapi.json");
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let name = format!("{method} {path}");
            operations += 1;
            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{name}");
            for (code, response) in responses {
                let code: u16 = code.parse().expect("numeric status");
                if code >= 400 {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{name} {code}"
                    );
                } else if (200..300).contains(&code) {
                    assert!(
                        response["content"]
                            .as_object()
                            .is_some_and(|c| !c.is_empty()),
                        "{name} {code} declares no body"
                    );
                }
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let schema = &parameter["schema"];
                assert!(
                    schema["type"].is_string() || schema["$ref"].is_string(),
                    "{name}: {parameter}"
                );
                if parameter["in"] == "path" && parameter["name"] == "id" {
                    assert_eq!(schema["type"], "integer", "{name}");
                    assert_eq!(schema["format"], "int64", "{name}");
                }
            }
            // Paths with an id can answer 404 for an unknown one and 422 for a non-number.
            if path.contains("{id}") && !path.starts_with("/ws/") {
                for code in ["404", "422"] {
                    assert!(responses.contains_key(code), "{name} lacks {code}");
                }
            }
        }
    }
    assert!(operations >= 20, "only {operations} operations");
    for (kind, code) in [("DryRun", "201"), ("TestStart", "202"), ("TestStop", "202")] {
        let path = format!("/tm_api/{}", snake(kind));
        let responses = &paths[&path]["post"]["responses"];
        for code in [code, "400", "404", "413", "503"] {
            assert!(responses[code].is_object(), "{path} lacks {code}");
        }
    }
    let timestamp = &document["components"]["schemas"]["Timestamp"];
    assert!(timestamp["pattern"].is_string(), "{timestamp}");
    // The whole document, so a change of the contract shows in review (no redactions: it has
    // no clock or host in it).
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("openapi_document", document);
    });
}

fn snake(kind: &str) -> String {
    match kind {
        "DryRun" => "dry_run",
        "TestStart" => "test_start",
        _ => "test_stop",
    }
    .to_owned()
}

/// The OpenAPI document describes every API, WebSocket, health and metrics route that is
/// mounted, with its method.
pub(crate) fn openapi_describes_every_route(app: &TestApp) {
    let (status, document) = app.get("/docs/openapi.json");
    assert_eq!(status, Status::Ok);
    let described: Vec<(String, String)> = document["paths"]
        .as_object()
        .map(|paths| {
            paths
                .iter()
                .flat_map(|(path, item)| {
                    let path = path.trim_end_matches('/').to_owned();
                    item.as_object()
                        .into_iter()
                        .flat_map(|item| item.keys())
                        .map(move |method| (path.clone(), method.to_uppercase()))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut checked = 0;
    for route in app.client.rocket().routes() {
        let path = route.uri.path().to_string();
        if ![
            "/tm_api",
            "/api/",
            "/ws/",
            "/page_api/",
            "/healthz",
            "/metrics",
            "/docs",
        ]
        .iter()
        .any(|p| path.starts_with(p))
        {
            continue;
        }
        let openapi_path = path
            .split('/')
            .map(
                |segment| match segment.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
                    Some(name) => format!("{{{}}}", name.trim_end_matches("..")),
                    None => segment.to_owned(),
                },
            )
            .collect::<Vec<_>>()
            .join("/");
        let openapi_path = if openapi_path.is_empty() {
            "/".to_owned()
        } else {
            openapi_path
        };
        assert!(
            described.contains(&(openapi_path, route.method.as_str().to_owned())),
            "{} {path} is not in /docs/openapi.json",
            route.method
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} routes were checked");
}

/// A batch of output is kept with its test and read back; its replay is acknowledged without
/// a second copy; a bad batch is refused naming the field and changes nothing.
pub(crate) fn test_output_is_kept_once_and_bad_batches_change_nothing(app: &TestApp) {
    app.post_fixtures();
    let batch = json!({
        "machine_name": "machine #1",
        "event_id": "out-1",
        "lines": [
            {"text": "booting", "stream": "stdout", "timestamp": "2018-12-30T13:01:58Z"},
            {"text": "<script>alert(1)</script>", "stream": "stderr"},
            {"text": "plain"}
        ]
    })
    .to_string();
    let path = "/api/v1/runs/1/tests/0/output";
    let (status, body) = app.post(path, &batch);
    assert_eq!(status, Status::Accepted, "{body}");
    assert_eq!(body["duplicate"], json!(false));
    assert_eq!(body["lines"], json!(3));
    let test_id = body["test_id"].as_i64().unwrap();
    let (status, again) = app.post(path, &batch);
    assert_eq!(
        (status, &again["duplicate"]),
        (Status::Accepted, &json!(true))
    );
    let (status, log) = app.get(&format!("/api/v1/tests/{test_id}/output"));
    assert_eq!(status, Status::Ok);
    assert_eq!(
        log["head"],
        json!([
            {"text": "booting", "stream": "stdout", "timestamp": "2018-12-30T13:01:58.000000Z"},
            {"text": "<script>alert(1)</script>", "stream": "stderr"},
            {"text": "plain"}
        ])
    );
    assert_eq!(
        (log["total_lines"].clone(), log["dropped_bytes"].clone()),
        (json!(3), json!(0))
    );

    let before = app.dump();
    for (path, body, status, field) in [
        (
            path,
            json!({"machine_name": "machine #1", "event_id": "o2", "lines": []}),
            Status::BadRequest,
            Some("lines"),
        ),
        (
            path,
            json!({"machine_name": "machine #1", "event_id": "o2", "lines": [{"text": "a\u{0}b"}]}),
            Status::BadRequest,
            Some("lines[0].text"),
        ),
        (
            path,
            json!({"machine_name": "machine #1", "lines": [{"text": "a"}]}),
            Status::BadRequest,
            Some("event_id"),
        ),
        (
            path,
            json!({"machine_name": "machine #1", "event_id": "o2", "lines": [{"text": "a", "stream": "stdin"}]}),
            Status::BadRequest,
            Some("lines[0].stream"),
        ),
        (
            "/api/v1/runs/1/tests/99/output",
            json!({"machine_name": "machine #1", "event_id": "o3", "lines": [{"text": "a"}]}),
            Status::NotFound,
            None,
        ),
        (
            "/api/v1/runs/7/tests/0/output",
            json!({"machine_name": "machine #1", "event_id": "o4", "lines": [{"text": "a"}]}),
            Status::NotFound,
            None,
        ),
        (
            path,
            json!({"machine_name": "nobody", "event_id": "o5", "lines": [{"text": "a"}]}),
            Status::NotFound,
            None,
        ),
    ] {
        let (got, answer) = app.post(path, &body.to_string());
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
        if let Some(field) = field {
            assert_eq!(answer["field"], json!(field), "{answer}");
        }
    }
    let (status, _) = app.post("/api/v1/runs/1/tests/x/output", &batch);
    assert_eq!(status, Status::UnprocessableEntity);
    let big = json!({"machine_name": "machine #1", "event_id": "o6", "lines": [{"text": "x".repeat(5000)}]});
    assert_eq!(app.post(path, &big.to_string()).0, Status::PayloadTooLarge);
    assert_eq!(app.dump(), before, "a refused batch changed the store");
    assert_eq!(app.get("/api/v1/tests/999/output").0, Status::NotFound);
}

/// The run page shows each test's kept output as text: markup from the rig escaped, ANSI
/// codes stripped, and the dropped part as one notice between head and tail.
pub(crate) fn the_run_page_shows_each_tests_output_escaped(app: &TestApp) {
    app.post_fixtures();
    let mut lines = vec![
        json!({"text": "<script>alert(1)</script>", "stream": "stdout"}),
        json!({"text": "\u{1b}[1;31mvoltage low\u{1b}[0m", "stream": "stderr"}),
    ];
    lines.extend((0..100).map(|i| json!({"text": format!("reading {i:03} {}", "x".repeat(30))})));
    let batch = json!({"machine_name": "machine #1", "event_id": "page-1", "lines": lines});
    let (status, body) = app.post("/api/v1/runs/1/tests/0/output", &batch.to_string());
    assert_eq!(status, Status::Accepted, "{body}");
    let test_id = body["test_id"].as_i64().unwrap();
    let (_, log) = app.get(&format!("/api/v1/tests/{test_id}/output"));
    let dropped = log["dropped_lines"].as_u64().unwrap();
    assert!(dropped > 0, "the limit dropped nothing: {log}");

    let (status, page) = app.get("/machine/run_data/1");
    assert_eq!(status, Status::Ok);
    let page = page.as_str().expect("HTML");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            || page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the rig's markup is not escaped: {page}"
    );
    assert!(
        !page.contains("<script>alert(1)"),
        "the rig's markup renders"
    );
    assert!(
        page.contains(">voltage low</div>"),
        "the ANSI line is not plain"
    );
    assert!(!page.contains('\u{1b}'), "an ESC reached the page");
    assert!(page.contains("reading 099"), "the tail is missing");
    let notice = format!("… {dropped} lines (");
    assert!(page.contains(&notice), "no dropped notice {notice:?}");
    assert_eq!(
        page.matches("<details class=\"output-of\">").count(),
        1,
        "one test printed"
    );
}

/// The run page's output under a small output limit, so some is dropped.
mod small_output_limit {
    use super::*;

    on_both_backends!(|app| &app.config(|c| c.output_limit = stpt_core::OutputLimit::new(2048).expect("a limit")).build();
        the_run_page_shows_each_tests_output_escaped,
    );
}

on_both_backends!(|app| &app.body_limit(4096).build();
    fixtures_are_accepted_and_echoed,
    read_endpoints_answer_the_seed_shapes,
    timestamps_keep_the_seed_formats_and_v1_answers_rfc3339,
    paths_work_with_and_without_trailing_slash,
    machines_paginate_like_the_seed,
    bad_input_is_refused_and_changes_nothing,
    replayed_event_ids_apply_once,
    unknown_ids_are_json_errors,
    openapi_describes_every_route,
    unsupported_methods_are_405_with_allow,
    page_api_errors_are_json,
    websocket_routes_refuse_plain_requests_as_documented,
    openapi_declares_every_answer_and_typed_parameters,
    test_output_is_kept_once_and_bad_batches_change_nothing,
);
