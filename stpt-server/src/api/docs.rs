//! `GET /docs/`: the API described as OpenAPI 3 (`/docs/openapi.json`) and as a readable page.
//!
//! The document is written here by hand, next to the routes; a test checks that every mounted
//! route is described, so it cannot silently fall behind.

use rocket::response::content::RawHtml;
use rocket::serde::json::{Json, Value, json};
use rocket::{get, routes};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ingest(summary: &str, schema: &str, success: &str) -> Value {
    json!({
        "post": {
            "summary": summary,
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}},
            "responses": {
                success: {"description": "accepted; the body echoes the payload (a dry run adds run_id)"},
                "400": error_response("malformed JSON, a missing or invalid field"),
                "404": error_response("unknown machine or run"),
                "408": error_response("the head or the body arrived too slowly (connection guard)"),
                "409": error_response("no test of the current run matches"),
                "413": error_response("body over the size limit"),
                "431": error_response("request head over the size limit (connection guard)"),
                "503": error_response("the database is busy, or the server is at its connection or request-body limits; retry")
            }
        }
    })
}

fn read(summary: &str, paginated: bool) -> Value {
    let mut parameters = Vec::new();
    if paginated {
        parameters.push(
            json!({"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}),
        );
        parameters.push(json!({"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}));
    }
    json!({
        "get": {
            "summary": summary,
            "parameters": parameters,
            "responses": {"200": {"description": "OK"}, "404": error_response("nothing there")}
        }
    })
}

fn websocket(summary: &str) -> Value {
    json!({
        "get": {
            "summary": summary,
            "parameters": [],
            "responses": {"101": {"description": "switching to the WebSocket protocol; the server sends JSON text frames"}}
        }
    })
}

/// A POST on one resource (named by `id` in the path) without a body.
fn action(summary: &str) -> Value {
    json!({
        "post": {
            "summary": summary,
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
            "responses": {
                "200": {"description": "OK"},
                "401": error_response("a machine token is needed"),
                "403": error_response("the token is another machine's"),
                "404": error_response("nothing there")
            }
        }
    })
}

/// Adds optional integer query parameters.
fn with_query(mut operation: Value, params: &[(&str, &str)]) -> Value {
    if let Some(list) = operation
        .pointer_mut("/get/parameters")
        .and_then(Value::as_array_mut)
    {
        for (name, description) in params {
            list.push(json!({"name": name, "in": "query", "description": description, "schema": {"type": "integer"}}));
        }
    }
    operation
}

fn with_id(mut operation: Value) -> Value {
    if let Some(params) = operation
        .pointer_mut("/get/parameters")
        .and_then(Value::as_array_mut)
    {
        params.insert(
            0,
            json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}),
        );
    }
    operation
}

/// The OpenAPI 3 document of the server.
pub fn openapi() -> Value {
    let script_node = json!({
        "type": "object",
        "required": ["file_name", "file_path"],
        "properties": {
            "file_name": {"type": "string", "maxLength": 256},
            "file_path": {"type": "string", "maxLength": 1024},
            "script": {"type": ["string", "null"]}
        }
    });
    let status = json!({"type": "string", "enum": ["running", "cancelled", "failed", "error", "warning", "waiting", "unknown", "passed"]});
    let timestamp =
        json!({"type": "string", "description": "YYYY-MM-DD HH:MM:SS[.ffffff] (UTC) or RFC 3339"});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "stpt — System Test Progress Tracking",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Test rigs report a dry run, then a start and a stop per test. Every path is accepted with and without its trailing slash."
        },
        "paths": {
            "/tm_api/dry_run/": ingest("Plan a run: master scenario, scenarios, tests", "DryRun", "201"),
            "/tm_api/test_start/": ingest("Start the first waiting test with this name and path", "TestStart", "202"),
            "/tm_api/test_stop/": ingest("Stop the running test with a status", "TestStop", "202"),
            "/tm_api/test/{id}": with_id(read("One test: file, script, timestamps", false)),
            "/tm_api/scenario/{id}": with_id(read("One scenario", false)),
            "/tm_api/master_scenario/{id}": with_id(read("One master scenario (its id is the run id)", false)),
            "/tm_api/machines/": read("Machines with their newest run's status", true),
            "/tm_api/machine_dry_run_datas/{id}": with_id(read("A machine's runs, newest first", true)),
            "/tm_api/machine_last_data/{id}/": with_id(read("A machine's newest run in full", false)),
            "/api/v1/runs/{id}": with_id(read("One run in full: machine, summary, master, scenarios and tests with ids, statuses, timestamps, scripts and messages; `run.stale` and `run.last_event_at` say whether it went silent", false)),
            "/api/v1/tests/{id}/history": with_id(with_query(read("A test's results in its machine's runs, newest first (same path, name and occurrence), its attempts and its duration median and p90", false), &[("limit", "results, 1-500, default 20"), ("window", "results the trend looks at, default limit")])),
            "/api/v1/runs/{id}/compare": with_id(with_query(read("A run compared with another (default: its machine's previous run): newly failing, fixed, still failing, new and removed tests, the 10 largest duration changes", false), &[("other", "the run to compare with")])),
            "/api/v1/machines/{id}/flaky": with_id(read("A machine's flaky tests over its last 10 runs, with the rule and each test's score", false)),
            "/api/v1/machines/{id}/trend": with_id(with_query(read("A machine's newest runs, oldest first: pass rate and duration", false), &[("limit", "runs, 1-100, default 100")])),
            "/api/v1/runs/{id}/abort": action("Close a run by hand: its ongoing tests become cancelled; answers the run's summary with closed_at and closed_as"),
            "/ws/machine/{id}/last/": with_id(websocket("WebSocket: {\"machine_data\": <machine_last_data>} after every change of the machine's newest run")),
            "/ws/machine/{id}/runs/": with_id(websocket("WebSocket: {\"run_data\": {\"id\", \"status\"}} after every change of any run of the machine")),
            "/ws/machine/status/": websocket("WebSocket: {\"machine_id_status\": {\"id\", \"status\"}} after every change of any machine's newest run"),
            "/metrics": read("Counters in the Prometheus text format: events applied and refused by kind and reason, ingest latency histogram, open WebSockets, database pool connections", false),
            "/healthz": read("The server and its database answer", false),
            "/docs/": read("This documentation as a page", false),
            "/docs/openapi.json": read("This documentation as OpenAPI 3", false)
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "detail"], "properties": {
                "error": {"type": "string"}, "detail": {"type": "string"}, "field": {"type": "string"}}},
            "DryRun": {"type": "object", "required": ["machine_name", "timestamp", "master_scenario"], "properties": {
                "machine_name": {"type": "string", "maxLength": 256},
                "timestamp": timestamp,
                "event_id": {"type": "string", "maxLength": 128},
                "master_scenario": {"allOf": [script_node, {"properties": {"scenarios": {"type": ["array", "null"], "items": {"allOf": [script_node, {"properties": {"tests": {"type": ["array", "null"], "items": script_node}}}]}}}}]}
            }},
            "TestStart": {"type": "object", "required": ["machine_name", "file_name", "file_path", "timestamp_start"], "properties": {
                "machine_name": {"type": "string"}, "file_name": {"type": "string"}, "file_path": {"type": "string"},
                "timestamp_start": timestamp, "event_id": {"type": "string"}, "run_id": {"type": "integer"}, "index": {"type": "integer", "minimum": 0}, "attempt": {"type": "integer", "minimum": 1}}},
            "TestStop": {"type": "object", "required": ["machine_name", "file_name", "file_path", "status", "timestamp_stop"], "properties": {
                "machine_name": {"type": "string"}, "file_name": {"type": "string"}, "file_path": {"type": "string"},
                "status": status, "timestamp_stop": timestamp, "event_id": {"type": "string"},
                "run_id": {"type": "integer"}, "index": {"type": "integer", "minimum": 0}, "message": {"type": "string"}, "attempt": {"type": "integer", "minimum": 1}}}
        }}
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[get("/docs/openapi.json")]
fn openapi_json() -> Json<Value> {
    Json(openapi())
}

#[get("/docs")]
fn docs_page() -> RawHtml<String> {
    let document = openapi();
    let mut rows = String::new();
    if let Some(paths) = document.get("paths").and_then(Value::as_object) {
        for (path, operations) in paths {
            if let Some(operations) = operations.as_object() {
                for (method, operation) in operations {
                    let summary = operation
                        .get("summary")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    rows.push_str(&format!(
                        "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>\n",
                        escape(&method.to_uppercase()),
                        escape(path),
                        escape(summary)
                    ));
                }
            }
        }
    }
    RawHtml(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>stpt API</title></head><body style=\"font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem\">\
         <h1>stpt API</h1><p>The machine-readable document: <a href=\"/docs/openapi.json\">/docs/openapi.json</a> (OpenAPI 3).</p>\
         <table cellpadding=\"6\"><thead><tr><th>Method</th><th>Path</th><th>What it does</th></tr></thead><tbody>\n{rows}</tbody></table></body></html>"
    ))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![openapi_json, docs_page]
}
