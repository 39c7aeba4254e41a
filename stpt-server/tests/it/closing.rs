//! Runs the server closes: `POST /api/v1/runs/<id>/abort` by hand, and the stale sweep for
//! runs that went silent, on SQLite and on PostgreSQL; and how the pages and the seed's run
//! list show a stale run.

use std::time::{Duration, Instant};

use rocket::http::Status;
use serde_json::Value;

use crate::test_app::{TestApp, TestAppBuilder, TestClock, on_both_backends};

impl TestApp {
    fn send(&self, post: bool, path: &str, body: Option<&str>) -> (Status, Value) {
        let mut request = if post {
            self.client.post(path)
        } else {
            self.client.get(path)
        };
        if let Some(body) = body {
            request = request.header(rocket::http::ContentType::JSON).body(body);
        }
        let response = request.dispatch();
        let status = response.status();
        let text = response.into_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The seed's dry run and first start: a run with one test running and three waiting.
    fn start_a_run(&self) {
        let [dry, start, _] = stpt_core::testing::builders::seed_fixtures();
        assert_eq!(
            self.send(true, "/tm_api/dry_run", Some(dry)).0,
            Status::Created
        );
        assert_eq!(
            self.send(true, "/tm_api/test_start", Some(start)).0,
            Status::Accepted
        );
    }

    /// A page's HTML.
    fn page(&self, path: &str) -> String {
        let (status, body) = self.send(false, path, None);
        assert_eq!(status, Status::Ok, "{path}");
        body.as_str().unwrap_or_default().to_owned()
    }

    fn test_statuses(&self, run: &Value) -> Vec<String> {
        run["scenarios"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["tests"].as_array().into_iter().flatten())
            .map(|t| t["status"].as_str().unwrap_or("?").to_owned())
            .collect()
    }
}

const HOUR: Duration = Duration::from_secs(3600);

fn abort_cancels_the_ongoing_tests(app: TestAppBuilder) {
    let app = app.stale(HOUR, HOUR).build();
    app.start_a_run();
    let (status, run) = app.send(false, "/api/v1/runs/1", None);
    assert_eq!(status, Status::Ok);
    assert_eq!(run["run"]["stale"], false);
    assert!(run["run"]["last_event_at"].is_string(), "{run}");

    let (status, summary) = app.send(true, "/api/v1/runs/1/abort", Some("{}"));
    assert_eq!(status, Status::Ok, "{summary}");
    assert_eq!(summary["closed_as"], "aborted");
    assert!(summary["closed_at"].is_string());
    assert_eq!(summary["status"], "cancelled");
    let (_, run) = app.send(false, "/api/v1/runs/1", None);
    assert_eq!(app.test_statuses(&run), ["cancelled"; 4]);
    for path in ["/machine/run_data/1", "/machine/1", "/"] {
        let html = app.page(path);
        assert!(
            !html.contains("s-stale"),
            "{path} calls an aborted run stale"
        );
    }

    // The rig's later events are refused as aborted, so the runner stops reporting.
    let [_, _, stop] = stpt_core::testing::builders::seed_fixtures();
    let (status, body) = app.send(true, "/tm_api/test_stop", Some(stop));
    assert_eq!(
        (status, body["error"].as_str()),
        (Status::Conflict, Some("run_aborted")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("run 1") && d.contains("was aborted")),
        "{body}"
    );
    let (_, metrics) = app.send(false, "/metrics", None);
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("reason=\"run_aborted\"} 1")),
        "{metrics}"
    );

    let (status, body) = app.send(true, "/api/v1/runs/99/abort", Some("{}"));
    assert_eq!(
        (status, body["error"].as_str()),
        (Status::NotFound, Some("unknown_run"))
    );
}

fn delete_machine_removes_it_with_its_runs(app: TestAppBuilder) {
    let app = app.stale(HOUR, HOUR).build();
    app.start_a_run();
    let (status, body) = app.send(false, "/api/v1/machines/1", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (Status::MethodNotAllowed, Some("method_not_allowed")),
        "{body}"
    );
    let delete = |path: &str| {
        let response = app
            .client
            .delete(path)
            .header(rocket::http::ContentType::JSON)
            .dispatch();
        let status = response.status();
        let body: Value = response.into_json().unwrap_or_default();
        (status, body)
    };
    let (status, body) = delete("/api/v1/machines/1");
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"id": 1, "name": "machine #1", "runs": 1})
    );
    let (_, machines) = app.send(false, "/tm_api/machines/", None);
    assert_eq!(machines["count"], 0, "{machines}");
    let (status, _) = app.send(false, "/api/v1/runs/1", None);
    assert_eq!(status, Status::NotFound);
    let (status, body) = delete("/api/v1/machines/1");
    assert_eq!(
        (status, body["error"].as_str()),
        (Status::NotFound, Some("unknown_machine")),
        "{body}"
    );
    // A write like any other: a plain form post from another page is refused.
    let refused = app.client.delete("/api/v1/machines/1").dispatch();
    assert_eq!(refused.status(), Status::UnsupportedMediaType);
    // The name is free again.
    app.start_a_run();
    let (_, machines) = app.send(false, "/tm_api/machines/", None);
    assert_eq!(machines["results"][0]["pk"], 2, "{machines}");
}

fn a_silent_run_is_shown_stale_before_the_sweep(app: TestAppBuilder) {
    let clock = TestClock::default();
    let app = app
        .stale(Duration::from_secs(60), HOUR)
        .clock(&clock)
        .build();
    app.start_a_run();
    clock.advance(Duration::from_secs(61));
    let (_, run) = app.send(false, "/api/v1/runs/1", None);
    assert_eq!(run["run"]["stale"], true, "{run}");
    assert_eq!(run["run"]["closed_as"], Value::Null);
    assert_eq!(
        app.test_statuses(&run),
        ["running", "waiting", "waiting", "waiting"]
    );
    let (_, live) = app.send(false, "/page_api/live/1", None);
    assert_eq!(live["timing"]["stale"], true, "{live}");
    assert!(live["timing"]["last_event_at"].is_string(), "{live}");
    let note = live["timing"]["stale_note"].as_str().unwrap_or_default();
    assert!(note.starts_with("last event 20"), "{live}");
    let shell = app.page("/machine/1/last");
    assert!(
        shell.contains(r#"id="run-stale""#) && shell.contains(r#"id="run-stale-note""#),
        "the live page has no place for the stale badge: {shell}"
    );

    let (_, runs) = app.send(false, "/tm_api/machine_dry_run_datas/1", None);
    let listed = &runs["results"][0];
    assert_eq!(listed["stale"], true, "{runs}");
    assert!(listed["last_event_at"].is_string(), "{runs}");
    assert_eq!(listed["closed_as"], Value::Null);

    for path in ["/machine/run_data/1", "/machine/1", "/"] {
        let html = app.page(path);
        assert!(
            html.contains(r#"<span class="badge s-stale">stale</span>"#),
            "{path} has no stale badge: {html}"
        );
        assert!(html.contains(">last event 20"), "{path}: {html}");
        assert!(!html.contains("closed as stale"), "{path}: {html}");
    }
}

fn the_sweep_closes_a_silent_run(app: TestAppBuilder) {
    let fast = Duration::from_millis(20);
    let app = app.stale(fast, fast).build();
    // Only the dry run: a start could find the run already closed by the fast sweep.
    let [dry, ..] = stpt_core::testing::builders::seed_fixtures();
    assert_eq!(
        app.send(true, "/tm_api/dry_run", Some(dry)).0,
        Status::Created
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let run = loop {
        let (_, run) = app.send(false, "/api/v1/runs/1", None);
        if run["run"]["closed_as"] == "stale" || Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        run["run"]["closed_as"], "stale",
        "the sweep never closed the run: {run}"
    );
    assert_eq!(run["run"]["stale"], true);
    assert_eq!(run["run"]["status"], "unknown");
    assert_eq!(app.test_statuses(&run), ["unknown"; 4]);

    for path in ["/machine/run_data/1", "/machine/1", "/"] {
        let html = app.page(path);
        assert!(
            html.contains(r#"<span class="badge s-stale">stale</span>"#),
            "{path} has no stale badge: {html}"
        );
        assert!(
            html.contains(">closed as stale at 20") && html.contains(" · last event 20"),
            "{path}: {html}"
        );
    }
    let (_, live) = app.send(false, "/page_api/live/1", None);
    assert_eq!(live["timing"]["closed_as"], "stale", "{live}");
    let (_, runs) = app.send(false, "/tm_api/machine_dry_run_datas/1", None);
    assert_eq!(runs["results"][0]["closed_as"], "stale", "{runs}");
    assert!(runs["results"][0]["closed_at"].is_string(), "{runs}");
}

on_both_backends!(
    abort_cancels_the_ongoing_tests,
    delete_machine_removes_it_with_its_runs,
    a_silent_run_is_shown_stale_before_the_sweep,
    the_sweep_closes_a_silent_run,
);
