//! The history API on SQLite and on PostgreSQL, against one shared set of snapshots: a test's
//! history, a run compared with the previous one, the flaky list and a machine's trend.

use rocket::http::{ContentType, Status};
use serde_json::Value;
use stpt_core::testing::builders::{attempt, dry_run, start, stop};
use stpt_core::{Event, Status as TestStatus, Store};

use crate::support::TestDb;
use crate::test_app::{TestApp, TestAppBuilder, on_both_backends, snapshot};

impl TestApp {
    fn send_event(&self, event: &Event) {
        let body = serde_json::to_string(event).expect("events serialise");
        let path = format!("/tm_api/{}", event.kind().as_str());
        let response = self
            .client
            .post(path)
            .header(ContentType::JSON)
            .body(body)
            .dispatch();
        assert!(
            response.status().class().is_success(),
            "{:?} refused: {:?}",
            event.kind(),
            response.into_string()
        );
    }

    /// Four runs of rig-1 (a.py, b.py, c.py): a passes and fails in turn, b mostly fails, c
    /// passes and in run 3 passes only after a retry. Each test of run r starts at 100·r s.
    fn four_runs(&self) {
        use TestStatus::{Failed, Passed};
        let plan = [("s.py", &["a.py", "b.py", "c.py"][..])];
        let runs = [
            [(Passed, 2), (Failed, 1), (Passed, 1)],
            [(Failed, 3), (Passed, 1), (Passed, 5)],
            [(Passed, 2), (Failed, 1), (Failed, 1)],
            [(Failed, 4), (Failed, 1), (Passed, 2)],
        ];
        for (r, results) in (1_i64..).zip(runs) {
            let base = r * 100;
            self.send_event(&dry_run("rig-1", base, &plan));
            for ((name, (status, seconds)), i) in
                ["a.py", "b.py", "c.py"].iter().zip(results).zip(0..)
            {
                let at = base + i * 10;
                self.send_event(&start("rig-1", name, at));
                self.send_event(&stop("rig-1", name, status, at + seconds));
            }
            if r == 3 {
                self.send_event(&attempt(start("rig-1", "c.py", base + 50), 2));
                self.send_event(&attempt(stop("rig-1", "c.py", Passed, base + 53), 2));
            }
        }
    }
}

fn history_answers(app: TestAppBuilder) {
    let app = app.build();
    app.four_runs();
    // Run 4's a.py is test 10 (three tests a run).
    let (status, history) = app.get("/api/v1/tests/10/history?limit=3&window=4");
    assert_eq!(status, Status::Ok, "{history}");
    assert_eq!(history["results"].as_array().map(Vec::len), Some(3));
    snapshot!("history_test", history);

    // Asked from run 1's a.py (test 1), the history is the same: every run, newest first.
    let (status, from_the_oldest) = app.get("/api/v1/tests/1/history?limit=3&window=4");
    assert_eq!(status, Status::Ok, "{from_the_oldest}");
    assert_eq!(from_the_oldest["test"]["id"], 1);
    assert_eq!(from_the_oldest["results"], history["results"]);
    assert_eq!(from_the_oldest["trend"], history["trend"]);
    let runs = |history: &Value| -> Vec<i64> {
        history["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["run_id"].as_i64())
            .collect()
    };
    let (_, all) = app.get("/api/v1/tests/1/history");
    assert_eq!(runs(&all), [4, 3, 2, 1]);

    // Run 3's c.py (test 9) passed after a retry: its attempts, and its result among the
    // newer run's.
    let (status, retried) = app.get("/api/v1/tests/9/history?limit=2");
    assert_eq!(status, Status::Ok);
    assert_eq!(
        retried["attempts"].as_array().map(Vec::len),
        Some(2),
        "{retried}"
    );
    assert_eq!(runs(&retried), [4, 3]);
    assert_eq!(retried["results"][1]["test_id"], 9);
    assert_eq!(retried["results"][1]["attempts"], 2);

    let (status, compared) = app.get("/api/v1/runs/4/compare");
    assert_eq!(status, Status::Ok, "{compared}");
    assert_eq!(compared["other_run_id"], 3);
    snapshot!("history_compare_previous", compared);
    let (_, explicit) = app.get("/api/v1/runs/4/compare?other=1");
    assert_eq!(explicit["other_run_id"], 1);
    assert_eq!(explicit["newly_failing"][0]["file_name"], "a.py");

    let (status, flaky) = app.get("/api/v1/machines/1/flaky");
    assert_eq!(status, Status::Ok);
    snapshot!("history_flaky", flaky);

    let (status, trend) = app.get("/api/v1/machines/1/trend");
    assert_eq!(status, Status::Ok);
    snapshot!("history_trend", trend);

    // The pages: server-drawn, linked, and without inline scripts.
    let page = |path: &str| {
        let (status, body) = app.get(path);
        assert_eq!(status, Status::Ok, "{path}");
        let html = body.as_str().unwrap_or_default().to_owned();
        assert!(!html.contains("<script>"), "{path} has an inline script");
        html
    };
    let history = page("/test/10/history");
    assert_eq!(
        history.matches(r#"<a class="dot s-"#).count(),
        4,
        "{history}"
    );
    assert_eq!(
        history.matches("<circle").count(),
        4,
        "one chart point per finished result"
    );
    assert!(history.contains(r#"href="/machine/run_data/3""#));
    // The page of run 1's a.py lists the newer runs too.
    let oldest = page("/test/1/history");
    assert_eq!(oldest.matches(r#"<a class="dot s-"#).count(), 4, "{oldest}");
    assert!(oldest.contains(r#"href="/machine/run_data/4""#), "{oldest}");
    assert_eq!(oldest.matches(r#"<tr class="current">"#).count(), 1);
    assert!(
        oldest.contains(r#"#1</a> <span class="tag">this run</span>"#),
        "{oldest}"
    );
    let compared = page("/run/4/compare");
    assert!(
        compared.contains("Newly failing <span class=\"muted\">1</span>"),
        "{compared}"
    );
    assert!(compared.contains(r#"href="/test/10/history">a.py</a>"#));
    let trend = page("/machine/1/trend");
    assert_eq!(trend.matches("<svg").count(), 2);
    let machine = page("/machine/1");
    assert!(machine.contains(r#"id="trend""#), "{machine}");
    assert_eq!(
        machine.matches(r#"<svg class="chart""#).count(),
        2,
        "pass rate and duration charts on the machine page"
    );
    assert!(machine.contains("over the last 4 runs"), "{machine}");
    assert!(machine.contains(r#"href="/machine/1/trend""#));
    let run = page("/machine/run_data/4");
    assert!(run.contains(r#"href="/test/10/history""#) && run.contains(r#"href="/run/4/compare""#));
    assert_eq!(app.get("/run/1/compare").0, Status::NotFound);

    for (path, error) in [
        ("/api/v1/tests/99/history", "unknown_test"),
        ("/api/v1/runs/1/compare", "no_previous_run"),
        ("/api/v1/runs/99/compare", "unknown_run"),
        ("/api/v1/runs/4/compare?other=99", "unknown_run"),
        ("/api/v1/machines/9/flaky", "unknown_machine"),
        ("/api/v1/machines/9/trend", "unknown_machine"),
    ] {
        let (status, body) = app.get(path);
        assert_eq!(
            (status, body["error"].as_str()),
            (Status::NotFound, Some(error)),
            "{path}"
        );
    }
}

on_both_backends!(history_answers);

/// The benchmark generator writes finished runs the queries read like any other.
fn generated_history_reads_back(db: TestDb) {
    db.generate_history("gen", 30, 5, stpt_core::testing::builders::at(0))
        .expect("generate");
    let machine = db.machine_by_name("gen").unwrap().unwrap();
    let runs = db
        .runs(machine.id, stpt_core::PageRequest::new(1, 100))
        .unwrap();
    assert_eq!(runs.total, 30);
    let newest = db.last_run(machine.id).unwrap().unwrap();
    assert_eq!(newest.run.id, runs.items[0].id);
    assert_eq!(newest.run.tests(), 5);
    assert_eq!(newest.run.counts.ongoing(), 0);
    let first_test = &newest.scenarios[0].tests[0];
    let history = db.test_history(first_test.id, 10).unwrap();
    assert_eq!(history.len(), 10);
    assert!(history.iter().all(|r| r.duration_seconds.is_some()));
    // Test 0 fails every other run: flaky.
    let trees: Vec<_> = runs.items[..10]
        .iter()
        .map(|r| db.run(r.id).unwrap().unwrap())
        .collect();
    let flaky = stpt_core::insights::flaky(&trees);
    assert_eq!(
        flaky.first().map(|t| t.key.file_name.as_str()),
        Some("test_0000.py")
    );
    // Runs carry labels a search finds: branch main on six runs in ten, suite alternating.
    let label = |key: &str, value: &str| (key.to_owned(), value.to_owned());
    let main = db
        .find_runs(
            &stpt_core::RunFilter {
                labels: vec![label("branch", "main")],
                ..Default::default()
            },
            stpt_core::PageRequest::new(1, 100),
        )
        .unwrap();
    assert_eq!(main.total, 18);
    assert!(main.items.iter().all(|r| r.labels["branch"] == "main"));
    let feature_smoke = db
        .find_runs(
            &stpt_core::RunFilter {
                machine: Some(machine.id),
                labels: vec![label("branch", "feature-b"), label("suite", "smoke")],
                ..Default::default()
            },
            stpt_core::PageRequest::new(1, 100),
        )
        .unwrap();
    assert_eq!(feature_smoke.total, 3);
}

#[test]
fn generated_history_reads_back_on_sqlite() {
    generated_history_reads_back(TestDb::sqlite());
}

#[test]
#[cfg_attr(
    not(stpt_postgres_tests),
    ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests"
)]
fn generated_history_reads_back_on_postgres() {
    generated_history_reads_back(TestDb::postgres());
}
