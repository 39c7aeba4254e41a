//! Labels of runs and the search across machines, on SQLite and on PostgreSQL, through the
//! HTTP API and the pages: labels refused by path, `GET /api/v1/runs` (labels AND-ed, status,
//! since/until bounds, machine, pagination, newest first, bad parameters named), the runs
//! page agreeing with it, labels shown (escaped), and compare and flaky restricted to a label.

use rocket::http::Status;
use serde_json::Value;
use stpt_core::testing::builders::{dry_run, labelled, start, stop};
use stpt_core::{Event, Status as TestStatus};

use crate::test_app::{TestApp, on_both_backends};

/// A [`TestApp`] with the posts and reads these tests repeat.
struct App(TestApp);

impl App {
    fn post(&self, event: &Event) -> (Status, Value) {
        let body = serde_json::to_string(event).expect("events serialise");
        self.post_raw(event.kind().as_str(), &body)
    }

    fn post_raw(&self, kind: &str, body: &str) -> (Status, Value) {
        self.0.post(&format!("/tm_api/{kind}"), body)
    }

    fn send(&self, event: &Event) {
        let (status, body) = self.post(event);
        assert!(status.class().is_success(), "refused: {body}");
    }

    fn get(&self, path: &str) -> (Status, Value) {
        self.0.get(path)
    }

    fn page(&self, path: &str) -> (Status, String) {
        let response = self.0.client.get(path).dispatch();
        (
            response.status(),
            response.into_string().unwrap_or_default(),
        )
    }

    fn ids(&self, path: &str) -> Vec<i64> {
        let (status, body) = self.get(path);
        assert_eq!(status, Status::Ok, "{path}: {body}");
        body["results"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: no results in {body}"))
            .iter()
            .map(|r| r["id"].as_i64().unwrap_or(-1))
            .collect()
    }

    /// One run: a dry run of `machine` at `at` seconds with `labels`, its one test ending
    /// with `status`. Answers the run id.
    fn run(&self, machine: &str, at: i64, labels: &[(&str, &str)], status: TestStatus) -> i64 {
        let plan = [("s.py", &["a.py"][..])];
        let (code, body) = self.post(&labelled(dry_run(machine, at, &plan), labels));
        assert_eq!(code, Status::Created, "{body}");
        self.send(&start(machine, "a.py", at + 1));
        self.send(&stop(machine, "a.py", status, at + 2));
        body["run_id"]
            .as_i64()
            .expect("the dry run answers its run id")
    }
}

/// Ids the runs page lists, in order.
fn page_ids(html: &str) -> Vec<i64> {
    html.split("data-run-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

fn labels_and_search(app: App) {
    use TestStatus::{Failed, Passed};
    // Refused labels name their field and change nothing.
    let base = r#"{"machine_name": "rig-1", "timestamp": "2024-01-01 00:00:00", "master_scenario": {"file_name": "m.py", "file_path": "/"}, "labels": LABELS}"#;
    for (labels, field) in [
        (r#"{"branch": 7}"#, "labels.branch"),
        (r#"{"branch": "a\u0000b"}"#, "labels.branch"),
        (r#"{"no spaces": "x"}"#, "labels"),
    ] {
        let (status, body) = app.post_raw("dry_run", &base.replace("LABELS", labels));
        assert_eq!(status, Status::BadRequest, "{labels}: {body}");
        assert_eq!(body["field"], field, "{labels}: {body}");
    }
    assert_eq!(app.get("/api/v1/runs").1["count"], 0);

    // 2024-01-01 + n seconds.
    let r1 = app.run("rig-1", 0, &[("branch", "main"), ("hw", "C")], Failed);
    let r2 = app.run("rig-2", 86_400, &[("branch", "main"), ("hw", "C")], Passed);
    let r3 = app.run(
        "rig-1",
        2 * 86_400,
        &[("branch", "dev"), ("hw", "C")],
        Passed,
    );
    let r4 = app.run("rig-2", 3 * 86_400, &[("branch", "main")], Failed);
    let r5 = app.run(
        "rig-1",
        4 * 86_400,
        &[("branch", "main"), ("hw", "C")],
        Passed,
    );
    let r6 = app.run("rig-1", 5 * 86_400, &[], Passed);

    assert_eq!(app.ids("/api/v1/runs"), [r6, r5, r4, r3, r2, r1]);
    assert_eq!(app.ids("/api/v1/runs?label=branch:main"), [r5, r4, r2, r1]);
    assert_eq!(
        app.ids("/api/v1/runs?label=branch:main&label=hw:C"),
        [r5, r2, r1]
    );
    assert_eq!(
        app.ids("/api/v1/runs?label=branch%3Amain&status=failed"),
        [r4, r1]
    );
    assert_eq!(
        app.ids("/api/v1/runs?machine=RIG-1&label=hw:C"),
        [r5, r3, r1]
    );
    let (_, body) = app.get("/api/v1/runs?machine=rig-2");
    let rig2 = body["results"][0]["machine_id"].as_i64().unwrap();
    assert_eq!(app.ids(&format!("/api/v1/runs?machine={rig2}")), [r4, r2]);
    assert!(app.ids("/api/v1/runs?machine=nobody").is_empty());
    // since inclusive, until exclusive; dates, the seed's format and RFC 3339.
    assert_eq!(
        app.ids("/api/v1/runs?since=2024-01-02&until=2024-01-04"),
        [r3, r2]
    );
    assert_eq!(
        app.ids("/api/v1/runs?since=2024-01-02%2000:00:01&until=2024-01-04T00:00:00.000001Z"),
        [r4, r3]
    );
    // Pages of two, newest first, with the count of all.
    let (_, first) = app.get("/api/v1/runs?label=branch:main&page_size=2");
    assert_eq!(
        (first["count"].clone(), first["total_pages"].clone()),
        (4.into(), 2.into())
    );
    assert_eq!(
        app.ids("/api/v1/runs?label=branch:main&page_size=2&page=2"),
        [r2, r1]
    );
    assert_eq!(
        app.get("/api/v1/runs?label=branch:main&page_size=2&page=3")
            .0,
        Status::NotFound
    );
    // Each result carries its labels and machine name.
    assert_eq!(first["results"][0]["labels"]["hw"], "C");
    assert_eq!(first["results"][0]["machine_name"], "rig-1");
    assert_eq!(
        first["results"][1]["labels"],
        serde_json::json!({"branch": "main"})
    );

    // Bad parameters name themselves.
    for (query, field) in [
        ("label=branch", "label"),
        ("label=bad%20key:x", "label"),
        ("status=green", "status"),
        ("since=yesterday", "since"),
        ("until=2024-13-01", "until"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/runs?{query}"));
        assert_eq!(status, Status::BadRequest, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }

    // The page lists what the API answers, keeps the filters in its links, and shows labels.
    for query in [
        "",
        "label=branch:main&label=hw:C",
        "status=failed",
        "machine=rig-1&since=2024-01-02",
    ] {
        let (status, html) = app.page(&format!("/runs?{query}"));
        assert_eq!(status, Status::Ok, "{query}");
        assert_eq!(
            page_ids(&html),
            app.ids(&format!("/api/v1/runs?{query}")),
            "/runs?{query}"
        );
    }
    let (_, html) = app.page("/runs?label=branch:main&size=10&page=1");
    assert!(html.contains("<code class=\"label\">hw=C</code>"), "{html}");
    let (_, html) = app.page("/runs?label=branch:main");
    assert!(
        html.contains("value=\"branch:main\""),
        "the form keeps the filter"
    );
    let (status, html) = app.page("/runs?label=branch");
    assert_eq!(status, Status::Ok);
    assert!(html.contains("KEY:VALUE"), "the page says what is wrong");
    let (_, html) = app.page(&format!("/machine/run_data/{r1}"));
    assert!(html.contains("branch=main") && html.contains("hw=C"));

    // Labels from a rig never render as HTML.
    let hostile = app.run(
        "rig-3",
        6 * 86_400,
        &[("note", "<script>alert(1)</script>")],
        Passed,
    );
    for path in [format!("/machine/run_data/{hostile}"), "/runs".to_owned()] {
        let (_, html) = app.page(&path);
        assert!(
            !html.contains("<script>alert(1)"),
            "{path} renders a label as HTML"
        );
        assert!(
            html.contains("note=&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path} shows the label as text"
        );
    }

    // Compare with the previous run carrying a label; flaky over labelled runs only.
    let (status, diff) = app.get(&format!("/api/v1/runs/{r5}/compare?label=branch:main"));
    assert_eq!(status, Status::Ok, "{diff}");
    assert_eq!(diff["other_run_id"], r1);
    let (_, diff) = app.get(&format!("/api/v1/runs/{r5}/compare"));
    assert_eq!(diff["other_run_id"], r3);
    let (status, body) = app.get(&format!("/api/v1/runs/{r1}/compare?label=branch:main"));
    assert_eq!(
        (status, body["error"].clone()),
        (Status::NotFound, "no_previous_run".into())
    );
    let (status, body) = app.get(&format!("/api/v1/runs/{r5}/compare?label=oops"));
    assert_eq!(
        (status, body["field"].clone()),
        (Status::BadRequest, "label".into())
    );
    let (_, html) = app.page(&format!("/run/{r5}/compare?label=branch:main"));
    assert!(html.contains(&format!("#{r1}</a></h1>")), "{html}");
    let rig1 = app.get(&format!("/api/v1/runs/{r1}")).1["machine"]["id"]
        .as_i64()
        .unwrap();
    let (_, flaky) = app.get(&format!("/api/v1/machines/{rig1}/flaky?label=branch:main"));
    assert_eq!(flaky["runs"], 2, "{flaky}");
    assert_eq!(flaky["labels"], serde_json::json!(["branch:main"]));
    let (_, flaky) = app.get(&format!("/api/v1/machines/{rig1}/flaky"));
    assert_eq!(flaky["runs"], 4, "{flaky}");
}

on_both_backends!(|app| super::App(app.build()); labels_and_search);
